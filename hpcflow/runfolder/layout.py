"""Every path of a run folder, its format version, and ``run.json``.

Layout (``docs/architecture.md`` says who writes and reads each entry)::

    RUN_FOLDER/
      run.json                      shapes, mapspecs, storage per output, error handling
      inputs/<name>.cloudpickle     every input and default, pickled once
      outputs/<name>/               one storage array per mapped output
      outputs/<name>.cloudpickle    the value of a single-value output
      markers/<outputs>/<start>-<stop>.json   one per finished chunk
      lock                          held by the submit, resume or map writing the folder
      pipeline.cloudpickle          submitted runs: the pipeline and chunk sizes
      submit.json                   submitted runs: run id, scheduler, settings
      stages/<k>.json               submission k's stages, arrays and job ids
      stages/<k>/<stage>.npy        a stage's elements, when not simply 0..n-1
      logs/<stage>/<job>_<task>.log one log per array task
      superseded/<k>/               errors set aside by resume(retry_failed=True)
      superseded/damaged-<time>-<id>/  damaged files a resume set aside (recomputed)
      cancelled                     written by Run.cancel: follow-up jobs stop
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpcflow._atomic import atomic_write_json, atomic_write_pickle, read_pickle
from hpcflow.errors import RunFolderError, RunReplacedError
from hpcflow.spec.scopes import disk_name, is_name

__all__ = [
    "ASIDE_PREFIX",
    "CANCELLED",
    "FORMAT_VERSION",
    "INPUTS",
    "LOCK",
    "LOGS",
    "MARKERS",
    "OUTPUTS",
    "OWNED",
    "PIPELINE",
    "RUN_JSON",
    "SETTINGS",
    "STAGES",
    "SUPERSEDED",
    "RunFolder",
]

#: Version of the on-disk format, in ``run.json``; a folder of a newer one is refused.
FORMAT_VERSION = 2
RUN_JSON = "run.json"
INPUTS = "inputs"
OUTPUTS = "outputs"
MARKERS = "markers"
LOCK = "lock"
PIPELINE = "pipeline.cloudpickle"
SETTINGS = "submit.json"
STAGES = "stages"
LOGS = "logs"
SUPERSEDED = "superseded"
CANCELLED = "cancelled"
#: Prefix of the folder an earlier run is set aside in while ``submit(overwrite=True)``
#: replaces it: restored if the new submission fails, deleted once it succeeded.
ASIDE_PREFIX = ".hpcflow-replaced-"
#: Every entry hpcflow writes at the top of a run folder (the lock excepted).
OWNED = (
    RUN_JSON,
    INPUTS,
    OUTPUTS,
    MARKERS,
    PIPELINE,
    SETTINGS,
    STAGES,
    SUPERSEDED,
    LOGS,
    CANCELLED,
)


def _check_folder_path(path: Path) -> None:
    """Refuse a run folder path that is a file, or lies inside one.

    Reading, locking or creating such a folder would otherwise fail deep inside with a
    bare ``NotADirectoryError`` or ``FileExistsError``.
    """
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir():
        return
    if probe == path:
        raise RunFolderError(
            f"run folder {path} is a file, not a folder; pass the folder that holds the "
            "run (or, for a new run, a path that does not exist yet)"
        )
    raise RunFolderError(
        f"run folder {path} cannot exist: {probe} is a file, not a folder; pass a path "
        "whose parents are folders"
    )


class RunFolder:
    """Paths and metadata of one run folder.

    Raises
    ------
    RunFolderError
        ``path`` is a file, or lies inside one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()
        _check_folder_path(self.path)

    # ------------------------------------------------------------------ paths
    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    def output_folder(self, name: str) -> Path:
        return self.path / OUTPUTS / _name(name, "output")

    def single_output_path(self, name: str) -> Path:
        return self.path / OUTPUTS / f"{_name(name, 'output')}.cloudpickle"

    @property
    def markers_root(self) -> Path:
        return self.path / MARKERS

    def marker_folder(self, key: tuple[str, ...] | list[str]) -> Path:
        return self.path / MARKERS / "-".join(_name(k, "output") for k in key)

    def input_path(self, name: str) -> Path:
        return self.path / INPUTS / f"{_name(name, 'input')}.cloudpickle"

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    @property
    def pipeline_path(self) -> Path:
        return self.path / PIPELINE

    @property
    def settings_path(self) -> Path:
        return self.path / SETTINGS

    @property
    def stages_folder(self) -> Path:
        return self.path / STAGES

    def submission_path(self, index: int) -> Path:
        return self.path / STAGES / f"{index}.json"

    def stage_elements_path(self, index: int, stage: str) -> str:
        """Where submission ``index`` keeps ``stage``'s elements, relative to the folder."""
        return f"{STAGES}/{index}/{stage}.npy"

    def log_folder(self, stage: str) -> Path:
        return self.path / LOGS / stage

    @property
    def logs_root(self) -> Path:
        return self.path / LOGS

    def superseded_folder(self, index: int) -> Path:
        return self.path / SUPERSEDED / str(index)

    def damaged_folder(self) -> Path:
        """A new folder for damaged files a resume sets aside (each resume its own)."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return self.path / SUPERSEDED / f"damaged-{stamp}-{uuid.uuid4().hex[:6]}"

    @property
    def cancelled_path(self) -> Path:
        return self.path / CANCELLED

    # ---------------------------------------------------------------- content

    def exists(self) -> bool:
        return self.run_json.exists()

    def read_meta(self) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(self.run_json.read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{self.path} holds no hpcflow run (no run.json)") from None
        except json.JSONDecodeError as e:
            raise RunFolderError(
                f"{self.run_json} is corrupt ({e}); the run's results cannot be read: use a "
                "new run folder"
            ) from None
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if version != FORMAT_VERSION:
            raise RunFolderError(
                f"{self.run_json} has format version {version!r}, but this hpcflow reads "
                f"version {FORMAT_VERSION}; open it with the hpcflow that wrote it"
            )
        return meta

    def check_run_id(self, run_id: str) -> None:
        """Raise `RunReplacedError` unless ``run.json`` still names run ``run_id``.

        A task of a submitted run calls this before it writes anything: a new ``map``
        or ``submit(overwrite=True)`` into the same folder gives it another run id (a
        ``map`` run none), and the old run's tasks must not write into the new run.
        One small JSON read, cheap enough before every store.
        """
        try:
            meta = json.loads(self.run_json.read_text())
            current = meta.get("run_id") if isinstance(meta, dict) else None
            holds = f"run {current}" if current else "a run made by map (no run id)"
        except FileNotFoundError:
            holds = "no run (run.json is gone: it is being replaced or was deleted)"
            current = None
        except (OSError, json.JSONDecodeError) as e:
            holds = f"an unreadable run.json ({e})"
            current = None
        if current != run_id:
            raise RunReplacedError(
                f"run folder {self.path} now holds {holds}; this task belongs to run "
                f"{run_id}; nothing written (the folder was reused while this run was "
                "still running: cancel a run before replacing it)"
            )

    def run_id_guard(self, run_id: str) -> Callable[[], None]:
        """`check_run_id` for a task's every store, reading ``run.json`` again only when
        it changed: a replacement is a new file (atomic rename: a new inode), so a
        ``stat`` tells, and an element-by-element store costs no read and parse."""
        verified: tuple[int, int, int] | None = None

        def guard() -> None:
            nonlocal verified
            try:
                st = self.run_json.stat()
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                key = None
            if key is None or key != verified:
                self.check_run_id(run_id)  # raises unless it still names this run
                verified = key

        return guard

    def set_aside(self) -> Path:
        """Move what hpcflow wrote of the run in this folder into a new aside folder (the
        same relative paths); its path.

        ``submit(overwrite=True)`` does this first, so that a replacement that fails (bad
        input, a resource no node has, a scheduler that refuses) loses nothing. Only
        what `written_by_hpcflow` names moves: a user's ``logs/mylog.txt`` stays where
        it is, whether the replacement succeeds (the aside folder is then deleted) or not.
        """
        aside = self.path / f"{ASIDE_PREFIX}{uuid.uuid4().hex[:8]}"
        aside.mkdir()
        files, trees = self.written_by_hpcflow()
        # run.json last: until it moves, the folder still says it holds that run
        for p in [*trees, *sorted(files, key=lambda f: f == self.run_json)]:
            target = aside / p.relative_to(self.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
        self._remove_empty_made_dirs()
        return aside

    def restore(self, aside: Path) -> None:
        """Put back a run `set_aside` moved (after removing what replaced it)."""
        _merge_back(aside, self.path)
        shutil.rmtree(aside)

    def update_meta(self, **fields: Any) -> None:
        """Replace ``fields`` of ``run.json`` (by one process at a time: map, submit or a
        follow-up job)."""
        atomic_write_json(self.run_json, {**self.read_meta(), **fields})

    def holds_submission(self) -> list[str]:
        """The records of a submitted run in this folder (empty for a ``map`` run).

        ``submit`` writes ``pipeline.cloudpickle`` and ``submit.json`` before any job is
        submitted, and each submission's ``stages/<k>.json`` before its jobs; any one of
        them means jobs may exist.
        """
        found = [n for n in (PIPELINE, SETTINGS) if (self.path / n).exists()]
        if self.stages_folder.is_dir():
            found += sorted(
                f"{STAGES}/{p.name}"
                for p in self.stages_folder.iterdir()
                if _SUBMISSION_RECORD.fullmatch(p.name)
            )
        return found

    def written_by_hpcflow(self) -> tuple[list[Path], list[Path]]:
        """What hpcflow wrote here: ``(files, trees)``, by the layout's own names.

        ``files`` are entries whose names only hpcflow makes, in the places it makes them
        (`_WRITTEN`), with the ``.partial`` files a killed writer left of them. ``trees``
        are folders that are hpcflow's whole: each recorded output's storage folder
        (``outputs/<name>/``, the backend's own) and ``superseded/<k>/``. Anything else
        (``logs/mylog.txt``, ``stages/plan.md``, ``outputs/plots/``) is the user's.
        """
        files: list[Path] = []
        for parts in _WRITTEN:
            files += [p for p in _matching(self.path, parts) if not _is_real_dir(p)]
        trees = [
            self.output_folder(name)
            for name in self._recorded_outputs()
            if _is_real_dir(self.output_folder(name))
        ]
        trees += [p for p in _matching(self.path, (SUPERSEDED, r"\d+")) if _is_real_dir(p)]
        return files, trees

    def _recorded_outputs(self) -> list[str]:
        """The output names ``run.json`` records (none if it is absent or unreadable).

        A storage folder exists only after ``run.json`` named its output, so a folder
        without a readable ``run.json`` has none of hpcflow's.
        """
        try:
            meta = json.loads(self.run_json.read_text())
        except (OSError, json.JSONDecodeError):
            return []
        names = meta.get("outputs", []) if isinstance(meta, dict) else []
        return [n for n in names if is_name(n)]

    def prepare_fresh(self) -> None:
        """Empty the folder of an earlier run; refuse to touch a folder that is not one.

        Only what hpcflow wrote (`written_by_hpcflow`) is removed, and then the folders
        it made if they are left empty: a user's file anywhere (``logs/mylog.txt``,
        ``stages/plan.md``, ``notes.txt``) survives, and so do the folders holding one.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run_folder {self.path} exists and is not a directory")
        # the lock (hpcflow.runfolder.lock) is held by the submit or map preparing this
        # folder; an earlier run set aside by that submit means the folder held a run
        if (
            self.path.exists()
            and not self.exists()
            and any(p.name != LOCK for p in self.path.iterdir())
            and not any(p.name.startswith(ASIDE_PREFIX) for p in self.path.iterdir())
        ):
            raise RunFolderError(
                f"run_folder {self.path} is not empty and holds no hpcflow run; refusing to "
                "write into it (choose a new or empty folder)"
            )
        if self.path.exists():
            files, trees = self.written_by_hpcflow()
            for tree in trees:
                shutil.rmtree(tree)
            # run.json last: until every other file is gone, the folder still says it is
            # a run, so an interrupted clearing can be cleared again
            for f in sorted(files, key=lambda f: f == self.run_json):
                f.unlink(missing_ok=True)
            self._remove_empty_made_dirs()
        self.path.mkdir(parents=True, exist_ok=True)

    def _remove_empty_made_dirs(self) -> None:
        for parts in _MADE_DIRS:  # deepest first: a folder is removed only when empty
            for d in _matching(self.path, parts):
                with contextlib.suppress(OSError):
                    d.rmdir()

    def write(self, meta: dict[str, Any], inputs: Mapping[str, Any]) -> None:
        """Write every input once, then ``run.json`` last (its presence means complete)."""
        (self.path / INPUTS).mkdir(parents=True, exist_ok=True)
        for name, value in inputs.items():
            atomic_write_pickle(self.input_path(name), value)
        atomic_write_json(self.run_json, {"format_version": FORMAT_VERSION, **meta})

    def load_input(self, name: str) -> Any:
        return read_pickle(self.input_path(name))

    def read_single(self, path: Path) -> Any:
        """The stored value of a single-value output."""
        return read_pickle(path)


def _name(name: str, what: str) -> str:
    """The run-folder form of ``name``: an identifier as it is, a scoped name ``foo.x``
    as ``foo__x`` (`hpcflow.spec.scopes.disk_name`, the one form every path uses).

    Names also come from ``run.json`` and from callers (``load_outputs("...")``); one
    such as ``"../../elsewhere"`` must never become a path outside the run folder.
    """
    if not is_name(name):
        raise RunFolderError(
            f"{what} name {name!r} is not a Python identifier or a scoped name such as "
            "'foo.x', so it names nothing in a run folder (inputs and outputs are named "
            "like function parameters)"
        )
    return disk_name(name)


# ------------------------------------------------------------- hpcflow's names
_PARTIAL = r"(?:\.[0-9a-f]{32}\.partial)?"  # left by a writer killed mid-write (_atomic)
_IDENT = r"[^\W\d]\w*"
_SUBMISSION_RECORD = re.compile(rf"\d+\.json{_PARTIAL}")
_TOP_FILES = "|".join(re.escape(n) for n in (RUN_JSON, PIPELINE, SETTINGS, CANCELLED))
_STAGE = rf"(?:{_IDENT}(?:\.\d+)?(?:@\d+)?|follow-up-\d+)"
#: Every file hpcflow writes (the lock excepted), as a regular expression per path part;
#: all but the last part are folders. Logs are written by the batch system, named by
#: ``Scheduler.task_log`` (``<job id>_<task>.log``).
_WRITTEN: tuple[tuple[str, ...], ...] = (
    (rf"(?:{_TOP_FILES}){_PARTIAL}",),
    (INPUTS, rf"{_IDENT}\.cloudpickle{_PARTIAL}"),
    (OUTPUTS, rf"{_IDENT}\.cloudpickle{_PARTIAL}"),
    (MARKERS, rf"{_IDENT}(?:-{_IDENT})*", rf"\d+-\d+\.json{_PARTIAL}"),
    (STAGES, rf"\d+\.json{_PARTIAL}"),
    (STAGES, r"\d+", rf"{_STAGE}\.npy{_PARTIAL}"),
    (LOGS, _STAGE, r"[^/]+_\d+\.log"),
)
#: The folders hpcflow makes, deepest first; removed when clearing leaves them empty.
_MADE_DIRS: tuple[tuple[str, ...], ...] = (
    (MARKERS, rf"{_IDENT}(?:-{_IDENT})*"),
    (STAGES, r"\d+"),
    (LOGS, _STAGE),
    (INPUTS,),
    (OUTPUTS,),
    (MARKERS,),
    (STAGES,),
    (LOGS,),
    (SUPERSEDED,),
)


def _merge_back(source: Path, dest: Path) -> None:
    """Move every entry of ``source`` to the same place under ``dest``; a folder that
    exists there already (one holding a user's file) is merged into, not replaced."""
    for entry in source.iterdir():
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir():
            _merge_back(entry, target)
        else:
            os.replace(entry, target)


def _matching(root: Path, parts: tuple[str, ...]) -> list[Path]:
    """Paths under ``root`` whose every part fully matches the pattern at its depth."""
    found = [root]
    for depth, pattern in enumerate(parts):
        last = depth == len(parts) - 1
        regex = re.compile(pattern)
        found = [
            p
            for parent in found
            if _is_real_dir(parent)
            for p in parent.iterdir()
            if regex.fullmatch(p.name) and (last or _is_real_dir(p))
        ]
    return found


def _is_real_dir(path: Path) -> bool:
    """A folder, not a link to one: clearing never follows a link out of the run folder."""
    return path.is_dir() and not path.is_symlink()
