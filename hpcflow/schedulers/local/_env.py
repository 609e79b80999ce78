"""The environment a local task gets: what it needs to run, not the submitter's secrets.

Job files keep the environment their tasks get, so it is stored on disk: only the
variables below go there (and so to the tasks), plus any the user names with
``LocalScheduler(export=[...])``. Tokens, passwords and keys in the submitter's
environment stay out of the state directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["KEPT_NAMES", "KEPT_PREFIXES", "task_environment"]

KEPT_NAMES = frozenset(
    {
        # the shell, the user, the locale and temporary files
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
        "TMPDIR", "TMP", "TEMP",
        # finding the Python, hpcflow and the user's modules (workers import both)
        "VIRTUAL_ENV", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
        # environment modules, for `module load` in the setup lines
        "MODULEPATH", "MODULESHOME", "LOADEDMODULES", "_LMFILES_",
        # tasks see every GPU unless the user chose some
        "CUDA_VISIBLE_DEVICES",
        # read by hpcflow itself (a task that submits uses the same queue)
        "HPCFLOW_LOCAL_DIR",
    }
)  # fmt: skip
"""Variables a task gets from the submitter's environment (when set)."""

KEPT_PREFIXES = ("LC_", "PYTHON", "CONDA_", "MAMBA_", "LMOD_", "BASH_FUNC_module", "BASH_FUNC_ml")
"""Prefixes of further such variables: the locale, Python's own settings (``PYTHONPATH``,
``PYTHONHOME``, ...), conda/mamba environments, and the ``module`` shell function."""


def task_environment(environ: Mapping[str, str], export: Iterable[str] = ()) -> dict[str, str]:
    """The variables of ``environ`` a task gets: `KEPT_NAMES`, `KEPT_PREFIXES`, ``export``.

    Examples
    --------
    >>> env = {"PATH": "/bin", "LC_ALL": "C", "API_TOKEN": "s3cret", "MY_SETTING": "1"}
    >>> task_environment(env)
    {'LC_ALL': 'C', 'PATH': '/bin'}
    >>> task_environment(env, export=["MY_SETTING", "UNSET"])
    {'LC_ALL': 'C', 'MY_SETTING': '1', 'PATH': '/bin'}
    """
    wanted = KEPT_NAMES | set(export)
    return {k: v for k, v in sorted(environ.items()) if k in wanted or k.startswith(KEPT_PREFIXES)}
