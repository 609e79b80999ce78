"""Reproduce one failed element of a run locally, from its error snapshot.

A failed element of a run with ``error_handling="continue"`` holds an `ErrorSnapshot`:
the function and the very inputs it was called with. `rerun_element` reads that
snapshot back from the run folder and calls the function again in this process, so the
exception (or a fix) can be examined here, with a debugger if wanted, long after the
run and from any directory. The run folder is only read, never written: the stored
output keeps its snapshot whatever the rerun gives (``hpcflow resume DIR
--retry-failed`` recomputes failed elements in the run itself).

The command line is ``hpcflow rerun DIR --output NAME [--index I] [--pdb]``.
"""

from __future__ import annotations

import datetime
import itertools
import json
import pdb
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from hpcflow._atomic import read_pickle
from hpcflow.element.snapshots import ErrorSnapshot, PropagatedErrorSnapshot
from hpcflow.errors import CorruptDataError, InputError, NothingToRerunError, RunFolderError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.markers import read_marked_errors
from hpcflow.runfolder.results import open_storage
from hpcflow.spec.mapspec import ArraySpec, MapSpec
from hpcflow.storage.base import MISSING

__all__ = [
    "FailedElement",
    "NothingToRerunError",
    "load_failed_element",
    "parse_index",
    "rerun_element",
]

_REPR_WIDTH = 70  # characters of each input's repr in the header
_SHOWN = 5  # upstream failures (or failed elements in a hint) listed in a message


@dataclass(frozen=True)
class FailedElement:
    """One failed element of a run, read back from its run folder.

    Get one with `load_failed_element`; `call` reruns it.
    """

    run_folder: Path
    output_name: str
    index: tuple[int, ...]
    snapshot: ErrorSnapshot
    location: str  # where the snapshot is stored, for the header

    @property
    def label(self) -> str:
        """``y[3]``, ``y[2, 5]``, or ``total`` for a single-value output."""
        return _label(self.output_name, self.index)

    def describe(self) -> str:
        """A short header: function, inputs, the original exception, where and when."""
        s = self.snapshot
        lines = [f"rerunning {self.label} of run {self.run_folder}"]
        lines.append(f"  function: {_function_name(s.function)}")
        if s.kwargs:
            width = max(len(k) for k in s.kwargs)
            lines.append("  inputs:")
            lines += [f"    {k:<{width}} = {_short_repr(v)}" for k, v in s.kwargs.items()]
        else:
            lines.append("  inputs:   (none)")
        lines.append(f"  failed:   {s.exception_type}: {_first_line(s.message)}")
        who = f"{s.user}@{s.host}" if s.user else s.host
        lines.append(f"  where:    {who} (pid {s.pid}) at {_when(s.timestamp)}")
        if s.directory and Path(s.directory) != Path.cwd():
            # relative paths among the inputs meant something else there
            lines.append(f"  its working directory was {s.directory}")
        lines.append(f"  snapshot: {self.location}")
        return "\n".join(lines)

    def call(self, *, debug: bool = False) -> Any:
        """Call the function again with the recorded inputs, in this process.

        The function's exception propagates unchanged. With ``debug``, its traceback is
        printed and `pdb` opens a post-mortem session at the frame that raised; the
        exception is raised again once the session ends.
        """
        function = self.snapshot.function
        if not debug:
            return function(**self.snapshot.kwargs)
        try:
            return function(**self.snapshot.kwargs)
        except Exception as e:
            print(user_traceback(e), end="", file=sys.stderr)
            print(
                f"\n{self.label} failed again; post-mortem debugger at the frame that raised "
                "(p NAME prints a variable, u/d move between frames, q quits)",
                file=sys.stderr,
                flush=True,
            )
            pdb.post_mortem(e.__traceback__)
            raise

    def now_succeeds(self, value: Any) -> str:
        """What to tell the user when the rerun returned ``value``."""
        return (
            f"element now succeeds: {_short_repr(value, 200)}\n"
            f"The run folder is unchanged: {self.label} still holds its ErrorSnapshot. To "
            "store the new value in the run, recompute its failed elements with:\n"
            f"  hpcflow resume {_quote(self.run_folder)} --retry-failed\n"
            "adding --pipeline FILE.py:NAME if the fix is in the function's code (the run "
            "keeps the functions it was submitted with)"
        )


_PACKAGE = str(Path(__file__).resolve().parents[1])


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without hpcflow's own frames: the user's code, from the call of
    their function to the line that raised (all frames if every one is hpcflow's)."""
    te = traceback.TracebackException.from_exception(exc)
    mine = [f for f in te.stack if not str(Path(f.filename).resolve()).startswith(_PACKAGE)]
    if mine:
        te.stack = traceback.StackSummary.from_list(mine)
    return "".join(te.format())


def parse_index(text: str | None) -> tuple[int, ...] | None:
    """An element index from the command line: ``"3"`` or ``"2,5"`` (``None`` stays).

    Examples
    --------
    >>> parse_index("3"), parse_index("2, 5"), parse_index("[1,0]"), parse_index(None)
    ((3,), (2, 5), (1, 0), None)
    >>> parse_index("2;5")
    Traceback (most recent call last):
    ...
    hpcflow.errors.InputError: --index '2;5' must be integers separated by commas, ...
    """
    if text is None:
        return None
    parts = text.strip().strip("()[]").split(",")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(
            f"--index {text!r} must be integers separated by commas, e.g. --index 3 or "
            "--index 2,5 for an output with two axes"
        ) from None


def load_failed_element(
    run_folder: str | Path, output_name: str, index: tuple[int, ...] | int | None = None
) -> FailedElement:
    """The failed element ``output_name[index]`` of the run in ``run_folder``.

    Only reads the run folder. ``index`` is the element's position over the output's
    mapped axes (as in ``Run.failures``); leave it out for a function without a mapspec.

    Raises
    ------
    InputError
        Unknown output name, or an index of the wrong length or out of range; the
        message lists the valid choices.
    NothingToRerunError
        The element succeeded, was never computed, or only received a failed input
        (then the message names the upstream failures to rerun instead).
    RunFolderError
        No run in ``run_folder``, or the stored value cannot be loaded here (e.g. its
        function's module cannot be imported in this process).
    """
    folder = RunFolder(run_folder)
    stored = _Stored(folder, folder.read_meta())
    outputs = list(stored.meta.get("outputs", []))
    if output_name not in outputs:
        raise InputError(
            f"output {output_name!r} is not in the run {folder.path}; its outputs are "
            f"{', '.join(map(repr, outputs)) or '(none)'}"
        )
    key = stored.check_index(output_name, index)
    value, location = stored.read(output_name, key)
    label = _label(output_name, key)
    if isinstance(value, ErrorSnapshot):
        if not callable(value.function):
            raise RunFolderError(
                f"the snapshot of {label} in {location} holds {_short_repr(value.function)} "
                "as its function, which cannot be called"
            )
        return FailedElement(folder.path, output_name, key, value, location)
    if isinstance(value, PropagatedErrorSnapshot):
        raise stored.propagated_error(output_name, key, value)
    hint = stored.failed_hint(output_name)
    if value is MISSING:
        raise NothingToRerunError(
            f"{label} has not been computed: nothing is stored for it in {folder.path} "
            f"(hpcflow status {_quote(folder.path)} tells where it is).{hint}"
        )
    raise NothingToRerunError(
        f"{label} did not fail: it holds {type(value).__name__} {_short_repr(value)}; "
        f"nothing to rerun.{hint}"
    )


def rerun_element(
    run_folder: str | Path,
    output_name: str,
    index: tuple[int, ...] | int | None = None,
    *,
    debug: bool = False,
    file: TextIO | None = None,
) -> Any:
    """Call a failed element's function again, locally, with the inputs it failed with.

    Prints a short header (function, inputs, the original exception, host and time,
    where the snapshot is stored) to ``file`` (default: standard output), then calls
    the function in this process. If it raises again, the exception propagates with
    its full traceback; if it now succeeds (the function was fixed, or the failure
    depended on where it ran), a note saying so is printed and the value returned.
    The run folder is only read: its stored output keeps the snapshot either way.

    Parameters
    ----------
    run_folder
        The run's folder (from ``submit`` or ``map``), from any working directory.
    output_name
        The output whose element failed.
    index
        The element's index over the output's mapped axes, e.g. ``(3,)`` or ``(2, 5)``;
        ``None`` for a function without a mapspec.
    debug
        On an exception, open a `pdb` post-mortem session at the frame that raised
        (the exception is raised again when the session ends).
    file
        Where the header and the success note go.

    Returns
    -------
    Any
        The function's value, when it no longer raises.

    Raises
    ------
    InputError
        Unknown output, or a bad index; the message lists the valid choices.
    NothingToRerunError
        The element did not fail itself (see `load_failed_element`).
    RunFolderError
        No run in ``run_folder``, or the snapshot cannot be loaded or called here.

    Examples
    --------
    >>> import tempfile
    >>> from hpcflow import Pipeline, func
    >>> @func("y", mapspec="x[i] -> y[i]")
    ... def inverse(x):
    ...     return 1 / x
    >>> folder = tempfile.mkdtemp()
    >>> _ = Pipeline([inverse]).map(
    ...     {"x": [1, 0, 2]}, folder, parallel=False, error_handling="continue"
    ... )
    >>> rerun_element(folder, "y", (1,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ZeroDivisionError: division by zero
    >>> rerun_element(folder, "y", (2,))
    Traceback (most recent call last):
    ...
    hpcflow.errors.NothingToRerunError: y[2] did not fail: it holds float 0.5; ...
    >>> import shutil
    >>> shutil.rmtree(folder)
    """
    element = load_failed_element(run_folder, output_name, index)
    out = sys.stdout if file is None else file
    print(element.describe(), file=out, flush=True)
    value = element.call(debug=debug)
    print(element.now_succeeds(value), file=out, flush=True)
    return value


# ------------------------------------------------------------------- reading
# a failure a propagated error comes from: output, index, its snapshot, and the
# propagated elements in between
_Root = tuple[str, tuple[int, ...], ErrorSnapshot, tuple[str, ...]]


@dataclass(frozen=True)
class _Stored:
    """Read-only access to the elements of one run folder."""

    folder: RunFolder
    meta: dict[str, Any]

    def mapped_shape(self, name: str) -> tuple[tuple[int, ...], list[str]] | None:
        """Shape and names of the mapped axes of ``name``; None for a single value."""
        info = self.meta.get("arrays", {}).get(name)
        if info is None:
            return None
        mask = [bool(m) for m in info["shape_mask"]]
        shape = tuple(int(n) for n, m in zip(info["shape"], mask, strict=True) if m)
        axes = [str(a) for a, m in zip(info.get("axes", []), mask, strict=False) if m]
        return shape, axes

    def check_index(self, name: str, index: tuple[int, ...] | int | None) -> tuple[int, ...]:
        """``index`` as a tuple checked against the output's mapped axes."""
        key = (index,) if isinstance(index, int) else index
        mapped = self.mapped_shape(name)
        if mapped is None:
            if _mapspec_of(self.meta, name) is not None:
                # mapped, but its shape is decided later (a follow-up job)
                raise NothingToRerunError(
                    f"output {name!r} has no elements yet: its shape is not known until the "
                    f"functions before it have run (hpcflow status {_quote(self.folder.path)})"
                )
            if key:
                raise InputError(
                    f"output {name!r} is a single value (its function has no mapspec): leave "
                    f"out --index (got {list(key)})"
                )
            return ()
        shape, axes = mapped
        what = (
            f"output {name!r} has {len(shape)} mapped {'axis' if len(shape) == 1 else 'axes'} "
            f"({', '.join(axes)}) of shape {shape}"
        )
        example = ",".join("0" * len(shape))
        if key is None:
            if not shape:
                return ()
            raise InputError(
                f"{what}: give the element's index, e.g. --index {example}.{self.failed_hint(name)}"
            )
        key = tuple(key)
        if len(key) != len(shape):
            raise InputError(
                f"index {list(key)} has {len(key)} {'value' if len(key) == 1 else 'values'}, "
                f"but {what}: give one index per axis, e.g. --index {example}"
            )
        for k, n, a in zip(key, shape, axes, strict=False):
            if not 0 <= k < n:
                raise InputError(
                    f"index {list(key)} is out of range: axis {a!r} of output {name!r} has "
                    f"{n} elements, valid {a} are 0 to {n - 1}"
                )
        return key

    def read(self, name: str, key: tuple[int, ...]) -> tuple[Any, str]:
        """The stored value of one element (`MISSING` if none) and where it is stored."""
        if self.mapped_shape(name) is None:
            path = self.folder.single_output_path(name)
            if not path.exists():
                return MISSING, str(path)
            return self._load(lambda: read_pickle(path), _label(name, key), str(path)), str(path)
        location = f"{self.folder.output_folder(name)}, element {list(key)}"
        # Opening the storage of an output without a folder could create one, and the
        # run folder must not be written: such an output has nothing stored anyway.
        if not self.folder.output_folder(name).exists():
            return MISSING, location
        store = open_storage(self.folder, name, self.meta)
        li = store.linear(key)
        if not store.done_linear([li])[0]:
            return MISSING, location
        return self._load(lambda: store.get_linear(li), _label(name, key), location), location

    def _load(self, read: Callable[[], Any], label: str, location: str) -> Any:
        try:
            return read()
        except CorruptDataError:
            raise  # names the damaged file and the way out; no module is missing
        except Exception as e:
            # Unpickling a snapshot imports its function's module (and those of its
            # inputs) when they were pickled by reference; here that import can fail.
            raise RunFolderError(
                f"cannot load {label} from {location}: {type(e).__name__}: {e}. A function "
                "or input pickled by reference needs its module importable in this "
                f"process: run from the directory the run was submitted from{self._workdir()}"
                " or add the module's directory to PYTHONPATH (functions defined in a "
                "script are pickled by value and need nothing)"
            ) from e

    def _workdir(self) -> str:
        try:
            workdir = json.loads(self.folder.settings_path.read_text()).get("workdir")
        except (OSError, ValueError, AttributeError):
            return ""
        return f" ({workdir})" if workdir else ""

    # -------------------------------------------------- failed elements
    def marker_dir(self, name: str) -> Path | None:
        """The chunk markers of the func computing ``name``."""
        root = self.folder.markers_root
        if not root.is_dir():
            return None
        # one folder per func, its outputs joined by '-' (names are identifiers)
        return next((p for p in root.iterdir() if name in p.name.split("-")), None)

    def failed_hint(self, name: str) -> str:
        """Which elements of ``name`` failed, from its chunk markers (no values read)."""
        mapped = self.mapped_shape(name)
        markers = self.marker_dir(name)
        if mapped is None or markers is None:
            return ""
        own = read_marked_errors(markers).failed
        if not len(own):
            return f" No element of {name!r} failed itself."
        shape = mapped[0]
        keys = [_unravel(li, shape) for li in own[:_SHOWN].tolist()]
        more = f" (and {len(own) - _SHOWN} more)" if len(own) > _SHOWN else ""
        listed = ", ".join(",".join(map(str, k)) for k in keys)
        return f" Failed elements of {name!r}: --index {listed}{more}."

    def upstream_keys(
        self, upstream: str, spec: MapSpec | None, key: tuple[int, ...]
    ) -> Iterator[tuple[int, ...]]:
        """Elements of ``upstream`` that the element ``key`` of a func with mapspec
        ``spec`` received and that may hold errors."""
        mapped = self.mapped_shape(upstream)
        if mapped is None:
            yield ()
            return
        shape = mapped[0]
        mask = [bool(m) for m in self.meta["arrays"][upstream]["shape_mask"]]
        inp = _input_spec(spec, upstream)
        # the index of each mapped axis of the upstream that this element read (None: all)
        wanted: list[int | None] = [None] * len(shape)
        if spec is not None and inp is not None and len(inp.axes) == len(mask):
            pos = dict(zip(spec.external_indices, key, strict=True))
            full = [None if a is None else pos.get(a) for a in inp.axes]
            wanted = [w for w, m in zip(full, mask, strict=True) if m]
        markers = self.marker_dir(upstream)
        if markers is not None:
            # the chunk markers list every failed and propagated element: no values read
            for li in read_marked_errors(markers).any.tolist():
                ukey = _unravel(li, shape)
                if all(w is None or w == u for w, u in zip(wanted, ukey, strict=True)):
                    yield ukey
            return
        ranges = [range(n) if w is None else (w,) for w, n in zip(wanted, shape, strict=True)]
        yield from itertools.product(*ranges)

    def propagated_error(
        self, name: str, key: tuple[int, ...], snap: PropagatedErrorSnapshot
    ) -> NothingToRerunError:
        """The error for an element that only received failed inputs: where they failed."""
        # "full": the input was one value, an error itself; else "3 of 50 elements"
        inputs = ", ".join(k if v == "full" else f"{k} ({v})" for k, v in snap.errors.items())
        lines = [
            f"{_label(name, key)} did not fail itself: {_function_name(snap.function)} was "
            f"not called because {'its input' if len(snap.errors) == 1 else 'its inputs'} "
            f"{inputs} had failed. It holds a PropagatedErrorSnapshot; there is nothing to "
            "rerun here."
        ]
        roots: list[_Root] = []
        notes: list[str] = []
        self._follow(name, key, snap, roots=roots, notes=notes, via=(), seen=set())
        if roots:
            lines.append("The failures it comes from:")
            for n, k, s, via in roots[:_SHOWN]:
                through = f" (reached through {', '.join(via)})" if via else ""
                lines.append(
                    f"  {_label(n, k)} raised {s.exception_type}: {_first_line(s.message)}{through}"
                )
            if len(roots) > _SHOWN:
                lines.append("  ... and more (Run.failures(name) lists every failed element)")
            n, k, _, _ = roots[0]
            lines.append("Rerun that one instead:")
            lines.append(f"  hpcflow rerun {_quote(self.folder.path)} --output {n}{_index_arg(k)}")
        lines += notes
        return NothingToRerunError("\n".join(lines), tuple((n, k) for n, k, _, _ in roots))

    def _follow(
        self,
        name: str,
        key: tuple[int, ...],
        snap: PropagatedErrorSnapshot,
        *,
        roots: list[_Root],
        notes: list[str],
        via: tuple[str, ...],
        seen: set[tuple[str, tuple[int, ...]]],
    ) -> None:
        """Collect the `ErrorSnapshot` elements upstream of a propagated error."""
        spec = _mapspec_of(self.meta, name)
        for inp in snap.errors:
            if inp not in self.meta.get("outputs", []):
                notes.append(f"Input {inp!r} is a pipeline input that holds error snapshots.")
                continue
            for ukey in self.upstream_keys(inp, spec, key):
                # a few roots are enough to point somewhere; seen stops cycles and repeats
                if (inp, ukey) in seen or len(roots) > _SHOWN:
                    continue
                seen.add((inp, ukey))
                try:
                    value, _ = self.read(inp, ukey)
                except RunFolderError as e:
                    notes.append(str(e))
                    continue
                if isinstance(value, ErrorSnapshot):
                    roots.append((inp, ukey, value, via))
                elif isinstance(value, PropagatedErrorSnapshot):
                    self._follow(
                        inp, ukey, value, roots=roots, notes=notes,
                        via=(*via, _label(inp, ukey)), seen=seen,
                    )  # fmt: skip


def _unravel(li: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(li, shape)) if shape else ()


def _mapspec_of(meta: dict[str, Any], name: str) -> MapSpec | None:
    for text in meta.get("mapspecs", {}).values():
        if text:
            spec = MapSpec.from_string(text)
            if name in spec.output_names:
                return spec
    return None


def _input_spec(spec: MapSpec | None, name: str) -> ArraySpec | None:
    if spec is None:
        return None
    return next((a for a in spec.inputs if a.name == name), None)


# ------------------------------------------------------------- formatting
def _label(name: str, key: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, key))}]" if key else name


def _index_arg(key: tuple[int, ...]) -> str:
    return f" --index {','.join(map(str, key))}" if key else ""


def _quote(path: Path | str) -> str:
    return shlex.quote(str(path))


def _function_name(function: Any) -> str:
    name = getattr(function, "name", None)  # an hpcflow Func names its callable
    if not isinstance(name, str):
        name = getattr(function, "__qualname__", None) or repr(function)
    inner = getattr(function, "function", function)
    module = getattr(inner, "__module__", None)
    return f"{name} (module {module})" if module and module != "__main__" else str(name)


def _short_repr(value: Any, width: int = _REPR_WIDTH) -> str:
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if isinstance(shape, tuple) and dtype is not None and int(np.prod(shape)) > 10:
        # a big array's repr says little in one line; its shape and type say more
        return f"{type(value).__name__}(shape={shape}, dtype={dtype})"
    try:
        text = " ".join(repr(value).split())
    except Exception as e:  # a broken __repr__ must not hide the failure being examined
        text = f"<{type(value).__name__}: repr failed with {type(e).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_line(message: str) -> str:
    lines = message.strip().splitlines() or [""]
    first = lines[0] if len(lines[0]) <= 200 else lines[0][:197] + "..."
    return first + (" ..." if len(lines) > 1 else "")


def _when(timestamp: str) -> str:
    """The snapshot's UTC time, with how long ago it was."""
    try:
        t = datetime.datetime.fromisoformat(timestamp)
        hours = (datetime.datetime.now(datetime.UTC) - t).total_seconds() / 3600
    except (TypeError, ValueError):  # written by a version without a timestamp
        return timestamp or "an unknown time"
    if hours < 1:
        return timestamp
    return (
        f"{timestamp} ({hours:.0f} hours ago)"
        if hours < 48
        else f"{timestamp} ({hours / 24:.0f} days ago)"
    )
