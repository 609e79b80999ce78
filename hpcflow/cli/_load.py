"""What the shell names: a pipeline as ``FILE.py:NAME`` or ``module:NAME``, an inputs file."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import cloudpickle

from hpcflow.errors import InputError
from hpcflow.spec.pipeline import Pipeline

__all__ = ["load_inputs", "load_pipeline"]


def load_pipeline(target: str) -> Pipeline:
    """The pipeline named by ``FILE.py:NAME`` or ``module:NAME``.

    ``NAME`` may be a `Pipeline` or a function returning one. Functions of a file
    loaded this way are pickled by value, so compute nodes need not import the file.
    """
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise InputError(f"{target!r} must be FILE.py:NAME or module:NAME")
    if path.endswith(".py"):
        file = Path(path).resolve()  # tracebacks on compute nodes name the file in full
        if not file.is_file():
            raise InputError(f"pipeline file {file} does not exist")
        mod_name = f"hpcflow_user_{abs(hash(str(file.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, file)
        if spec is None or spec.loader is None:
            raise InputError(f"cannot load {file} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        cloudpickle.register_pickle_by_value(module)
    else:
        module = importlib.import_module(path)
    try:
        obj = getattr(module, name)
    except AttributeError:
        raise InputError(f"{path} has no attribute {name!r}") from None
    if not isinstance(obj, Pipeline) and callable(obj):
        obj = obj()
    if not isinstance(obj, Pipeline):
        raise InputError(f"{target} is a {type(obj).__name__}, not a hpcflow.Pipeline")
    return obj


def load_inputs(path: str | Path) -> dict[str, Any]:
    """Inputs from a ``.json``, ``.yaml``/``.yml``, ``.npz`` or ``.pkl``/``.pickle`` file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"inputs file {p} does not exist")
    suffix = p.suffix.lower()
    data: Any
    if suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"inputs file {p} is not valid JSON: {e}") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise InputError(
                f"reading {p} needs PyYAML (pip install pyyaml), or use .json/.npz/.pkl"
            ) from None
        try:
            data = yaml.safe_load(p.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InputError(f"inputs file {p} is not valid YAML: {e}") from None
    elif suffix == ".npz":
        import numpy as np

        try:
            with np.load(p, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as e:
            raise InputError(f"inputs file {p} is not a readable .npz: {e}") from None
    elif suffix in (".pkl", ".pickle"):
        try:
            with open(p, "rb") as fh:
                data = pickle.load(fh)
        except Exception as e:  # unpickling runs arbitrary code: any error is possible
            raise InputError(f"inputs file {p} cannot be unpickled: {e!r}") from None
    else:
        raise InputError(f"inputs file {p}: use .json, .yaml, .npz or .pkl, not {suffix!r}")
    if not isinstance(data, dict):
        raise InputError(f"inputs file {p} must hold a mapping of name -> value")
    return data
