"""The exceptions hpcflow raises, in one tree.

Every error also subclasses the builtin it refines, so ``except ValueError`` keeps
working for callers that do not know hpcflow::

    HpcflowError
    ├── SpecError(ValueError)            a mapspec, resources or func spec is malformed
    ├── PipelineError(ValueError)        the pipeline graph is invalid (cycles, duplicates, axes)
    ├── InputError(ValueError)           inputs do not fit the pipeline (missing, bad shapes)
    │   ├── NothingToRerunError          ``rerun`` asked for an element that did not fail
    │   └── FixedIndexError(IndexError)  a ``fixed_indices`` index is outside its axis
    ├── StorageError                     a storage backend cannot do what was asked
    │   ├── UnknownStorageError(KeyError, ValueError)
    │   └── CorruptDataError             a stored file cannot be read back (damaged on disk)
    ├── ResumeError(ValueError)          a run folder cannot be resumed with these inputs
    ├── RunFolderError                   a run folder is missing, foreign or corrupt
    │   ├── RunLockedError               another submit, resume or map holds the folder
    │   ├── RunReplacedError             the folder now holds another run than a task's own
    │   └── LiveRunError                 the folder's submitted run still has live jobs
    └── SchedulerError(RuntimeError)     a scheduler command failed (sbatch, squeue, ...)

Exceptions raised by the user's own functions are never wrapped: with
``error_handling="raise"`` they propagate unchanged, with a note naming the output and
the element (see :pep:`678`). A per-element resources callable is not such a function:
what it raises is re-raised as an hpcflow error naming the element, chained to it.
"""

from __future__ import annotations

__all__ = [
    "CorruptDataError",
    "FixedIndexError",
    "HpcflowError",
    "InputError",
    "LiveRunError",
    "NothingToRerunError",
    "PipelineError",
    "ResumeError",
    "RunFolderError",
    "RunLockedError",
    "RunReplacedError",
    "SchedulerError",
    "SpecError",
    "StorageError",
    "UnknownStorageError",
]


class HpcflowError(Exception):
    """Base class of every error hpcflow raises itself."""


class SpecError(HpcflowError, ValueError):
    """A specification (mapspec, resources, func options) is malformed."""


class PipelineError(HpcflowError, ValueError):
    """The pipeline is inconsistent: a cycle, a duplicate output, clashing axes."""


class InputError(HpcflowError, ValueError):
    """The inputs given to ``map``/``submit`` do not fit the pipeline."""


class NothingToRerunError(InputError):
    """The element asked for holds no `ErrorSnapshot`: it succeeded, was never computed,
    or only received a failed input.

    ``upstream`` lists the ``(output name, index)`` of the failures a propagated error
    came from, the elements to rerun instead (empty otherwise).
    """

    def __init__(self, message: str, upstream: tuple[tuple[str, tuple[int, ...]], ...] = ()):
        super().__init__(message)
        self.upstream = upstream


class FixedIndexError(InputError, IndexError):
    """A ``fixed_indices`` index lies outside its axis.

    An `InputError` like every other refused input, and an `IndexError` because that is
    what an out-of-range index is in Python.
    """


class StorageError(HpcflowError):
    """A storage backend failed or was asked for something it cannot do."""


class UnknownStorageError(StorageError, KeyError, ValueError):
    """No storage backend is registered under the requested name.

    A `KeyError` as a failed registry lookup, and a `ValueError` as a bad ``storage=``
    argument of ``map``/``submit``.
    """

    def __str__(self) -> str:
        # KeyError.__str__ repr()s its argument, which would quote the whole message.
        return str(self.args[0]) if self.args else ""


class CorruptDataError(StorageError):
    """A stored file exists but cannot be read back: it was damaged after it was written.

    hpcflow writes every file atomically, so this only arises from outside damage (a
    truncated copy, a full disk during a copy, a stray write). ``path`` is the file.
    """

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class ResumeError(HpcflowError, ValueError):
    """A run folder holds a run that differs from the one being resumed."""


class RunFolderError(HpcflowError):
    """A run folder is missing, belongs to something else, or is unreadable."""


class RunLockedError(RunFolderError):
    """Another submit, resume or map holds the run folder's lock."""


class RunReplacedError(RunFolderError):
    """A task's run folder now holds another run (replaced by a new ``map`` or
    ``submit(overwrite=True)``): the task writes nothing into it."""


class LiveRunError(RunFolderError):
    """The folder's submitted run still has queued or running jobs, so replacing it
    would mix two runs; cancel them first."""


class SchedulerError(HpcflowError, RuntimeError):
    """A scheduler command failed; the message holds the command and its stderr."""
