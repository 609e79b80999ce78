"""Stages and job arrays: how a pipeline's elements become scheduler work.

Pure planning, no I/O and no scheduler: given each func's external shape and the
resources of its elements, decide

- **stages**: one func's elements that share one resource set (a func whose resources
  are a callable of the element's inputs may give several stages);
- **tasks**: each stage's elements in chunks, one chunk per array task;
- **arrays**: each stage's tasks split into job arrays of at most ``max_array_size``
  tasks, each array indexed from 0 (schedulers bound the highest index, not the count);
- **dependencies**: an element-aligned stage (same external axes in the same order, the
  same elements, the same chunking, reading its upstream element by element) waits per
  task (SLURM ``aftercorr``); anything else (reductions, outer products, whole-array
  consumers) waits for the whole upstream stage;
- **fusion** (`fuse_stages`): a stage aligned on one upstream stage with the same
  resources runs in that stage's array tasks, right after it, in the same process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hpcflow.errors import InputError
from hpcflow.plan.chunks import ChunkSizes, user_chunksize
from hpcflow.spec.func import Func
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources
from hpcflow.spec.scopes import disk_name

__all__ = [
    "ArrayJob",
    "Dependency",
    "Plan",
    "Stage",
    "build_plan",
    "default_chunksize",
    "fuse_stages",
    "stage_chunksize",
]


def default_chunksize(n_elements: int, max_tasks: int = 1000, min_chunk: int = 1) -> int:
    """Elements per array task when the user does not choose.

    Small stages get one element per task (most parallelism); large ones are chunked
    so that a stage has at most ``max_tasks`` tasks, because every task costs a
    scheduler launch (about 0.1 s each on a small cluster) and counts against
    ``MaxJobCount`` and per-user submit limits.

    Examples
    --------
    >>> default_chunksize(500), default_chunksize(3000), default_chunksize(10**6)
    (1, 3, 1000)
    """
    return max(min_chunk, 1, math.ceil(n_elements / max_tasks))


@dataclass(frozen=True)
class Dependency:
    """Stage ``stage`` waits for ``upstream``: per task (``"aligned"``) or whole."""

    upstream: str
    kind: Literal["aligned", "whole"]


@dataclass(frozen=True)
class ArrayJob:
    """One job array: tasks ``[first_task, first_task + n_tasks)`` of a stage, as 0..n-1."""

    stage: str
    index: int
    first_task: int
    n_tasks: int


@dataclass
class Stage:
    """One func's elements with one resource set, in chunks (one per array task)."""

    name: str
    func: Func
    resources: Resources
    elements: np.ndarray  # sorted linear indices over the func's external shape
    chunksize: int
    dependencies: list[Dependency] = field(default_factory=list)
    arrays: list[ArrayJob] = field(default_factory=list)
    # the stage whose array tasks also compute this one (see fuse_stages); None: its own
    fused_into: str | None = None

    @property
    def n_tasks(self) -> int:
        return max(1, math.ceil(len(self.elements) / self.chunksize)) if len(self.elements) else 0

    def task_elements(self, task: int) -> np.ndarray:
        """Linear indices that array task ``task`` (counted over the stage) computes."""
        if not 0 <= task < self.n_tasks:
            raise IndexError(f"stage {self.name!r} has {self.n_tasks} tasks, not task {task}")
        return self.elements[task * self.chunksize : (task + 1) * self.chunksize]


@dataclass
class Plan:
    """Stages in dependency order."""

    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; stages are {[s.name for s in self.stages]}")

    @property
    def n_arrays(self) -> int:
        return sum(len(s.arrays) for s in self.stages)


def build_plan(
    pipeline: Pipeline,
    external_shapes: Mapping[str, tuple[int, ...]],
    *,
    max_array_size: int,
    chunksizes: ChunkSizes = None,
    element_resources: Callable[[Func, np.ndarray], list[Resources]] | None = None,
    funcs: Sequence[Func] | None = None,
    elements: Mapping[str, np.ndarray] | None = None,
    suffix: str = "",
    overrides: Mapping[str, Callable[[np.ndarray], list[Resources]]] | None = None,
    sizer: Callable[[Func, int], int] | None = None,
) -> Plan:
    """Plan the stages, tasks, arrays and dependencies of a run.

    Parameters
    ----------
    pipeline
        The pipeline (only its funcs and their mapspecs are read).
    external_shapes
        For each func (keyed by its first output name), its external shape; ``()`` for a
        func without a mapspec (one element).
    max_array_size
        Most tasks in one array. Arrays are indexed from 0, so for SLURM pass
        ``MaxArraySize`` (whose highest valid index is ``MaxArraySize - 1``).
    chunksizes
        Elements per task, as for `hpcflow.map.run_map` (an int, or a dict by output
        name with ``""`` as the default whose values may be callables of the element
        count); automatic means `default_chunksize`.
    element_resources
        For funcs whose resources are a callable: given the func and linear indices,
        the resources of each element. Not needed otherwise.
    funcs
        Plan only these funcs (default: all). A producer outside them is taken as
        already finished, so nothing waits for it: a follow-up job plans what was
        deferred only after the stages it needs have completed.
    elements
        For some funcs (by first output name), only these linear indices (a resume
        plans only what is missing).
    suffix
        Appended to every stage name (later submissions of a run use ``@K``).
    overrides
        For some funcs (by first output name): given linear indices, the resources of
        each element, used instead of the func's own (a retry gives the elements of a
        task killed for its memory more memory).
    sizer
        Elements per task of a func with ``n`` elements, instead of ``chunksizes`` (the
        submission's chunk policy).

    Examples
    --------
    >>> from hpcflow import Func, Pipeline
    >>> p = Pipeline([Func(lambda x: x, "y", mapspec="x[i] -> y[i]"),
    ...               Func(lambda y: y, "z", mapspec="y[i] -> z[i]")])
    >>> plan = build_plan(p, {"y": (250,), "z": (250,)}, max_array_size=100, chunksizes=1)
    >>> [(s.name, s.n_tasks, len(s.arrays)) for s in plan.stages]
    [('y', 250, 3), ('z', 250, 3)]
    >>> plan.stage("z").dependencies
    [Dependency(upstream='y', kind='aligned')]
    """
    if max_array_size < 1:
        raise InputError(f"max_array_size={max_array_size} must be >= 1")
    stages: list[Stage] = []
    by_func: dict[str, list[Stage]] = {}
    chosen = {f.output_names for f in funcs} if funcs is not None else None
    everything: dict[int, np.ndarray] = {}
    for f in pipeline.sorted_funcs:
        if chosen is not None and f.output_names not in chosen:
            continue
        key = f.output_names[0]
        if key not in external_shapes:
            raise InputError(
                f"no external shape for {key!r}; shapes given: {sorted(external_shapes)}"
            )
        shape = external_shapes[key]
        n = int(np.prod(shape, dtype=np.int64)) if f.mapspec is not None else 1
        size = sizer(f, n) if sizer is not None else stage_chunksize(chunksizes, f, n)
        subset = None if elements is None else elements.get(key)
        if subset is None:
            # funcs of one shape share one read-only 0..n-1 (at 10^7, 80 MB each), and
            # aligned stages then compare as the same object
            subset = everything.get(n)
            if subset is None:
                subset = everything[n] = np.arange(n, dtype=np.int64)
                subset.flags.writeable = False
        if overrides is not None and key in overrides:
            groups = _group(pipeline, _subset(n, subset), overrides[key])
        else:
            groups = _resource_groups(pipeline, f, n, element_resources, subset)
        made = []
        for g, (resources, chosen_elements) in enumerate(groups):
            # a label, also a log folder: a scoped name in its run-folder form
            label = disk_name(key)
            name = (label if len(groups) == 1 else f"{label}.{g}") + suffix
            made.append(Stage(name, f, resources, chosen_elements, size))
        by_func[key] = made
        stages.extend(made)
    for s in stages:
        s.dependencies = _dependencies(pipeline, s, by_func, external_shapes)
        s.arrays = [
            ArrayJob(s.name, a, first, min(max_array_size, s.n_tasks - first))
            for a, first in enumerate(range(0, s.n_tasks, max_array_size))
        ]
    return Plan(stages)


def fuse_stages(plan: Plan) -> None:
    """Let array tasks compute chains of element-aligned stages one after another.

    A stage is fused into the stage it waits for when it waits for exactly that one
    stage, element by element (an ``"aligned"`` dependency: same elements, same
    chunks), has the same resources, and its func has one resource group. Its tasks
    then run in the upstream's tasks, in the same process, right after the upstream's
    chunk: one array fewer, and no dependency latency between them. Chains fuse
    (``y -> z -> w`` run as one array). Stages keep their own records (outputs,
    markers, status, retries); only ``fused_into`` says where they run.

    Examples
    --------
    >>> from hpcflow import Func, Pipeline
    >>> p = Pipeline([Func(lambda x: x, "y", mapspec="x[i] -> y[i]"),
    ...               Func(lambda y: y, "z", mapspec="y[i] -> z[i]"),
    ...               Func(lambda z: sum(z), "total")])
    >>> plan = build_plan(p, {"y": (10,), "z": (10,), "total": ()}, max_array_size=100)
    >>> fuse_stages(plan)
    >>> [(s.name, s.fused_into) for s in plan.stages]
    [('y', None), ('z', 'y'), ('total', None)]
    """
    by_name = {s.name: s for s in plan.stages}
    groups: dict[str, int] = {}
    for s in plan.stages:
        key = s.func.output_names[0]
        groups[key] = groups.get(key, 0) + 1
    for s in plan.stages:
        if len(s.dependencies) != 1 or s.dependencies[0].kind != "aligned":
            continue
        up = by_name[s.dependencies[0].upstream]
        if (
            groups[s.func.output_names[0]] == 1
            and groups[up.func.output_names[0]] == 1
            and up.resources == s.resources
            and up.chunksize == s.chunksize
            and _same(up.elements, s.elements)
        ):
            s.fused_into = up.fused_into or up.name


def stage_chunksize(chunksizes: ChunkSizes, f: Func, n: int) -> int:
    """Elements per task of ``f`` (``n`` elements): the user's choice or `default_chunksize`."""
    size = user_chunksize(chunksizes, f.output_names, n)
    return default_chunksize(n) if size is None else size


def _resource_groups(
    pipeline: Pipeline,
    f: Func,
    n: int,
    element_resources: Callable[[Func, np.ndarray], list[Resources]] | None,
    subset: np.ndarray | None = None,
) -> list[tuple[Resources, np.ndarray]]:
    everything = _subset(n, subset)
    if not callable(f.resources) or isinstance(f.resources, Resources):
        return [(pipeline.resources_for(f), everything)]
    if element_resources is None:
        raise InputError(
            f"{f.name!r} has per-element resources; planning it needs element_resources"
        )
    return _group(pipeline, everything, lambda idx: element_resources(f, idx))


def _subset(n: int, subset: np.ndarray | None) -> np.ndarray:
    return np.arange(n, dtype=np.int64) if subset is None else np.asarray(subset, np.int64)


def _group(
    pipeline: Pipeline,
    everything: np.ndarray,
    resources_of: Callable[[np.ndarray], list[Resources]],
) -> list[tuple[Resources, np.ndarray]]:
    """Elements grouped by their resources (defaults filled in), in first-seen order."""
    per_element = resources_of(everything)
    if len(per_element) != len(everything):
        raise InputError(
            f"element_resources gave {len(per_element)} values for {len(everything)} elements"
        )
    if not len(everything):
        return []
    # Per-element lists hold a few shared objects ([stage_res] * n): group by object
    # identity first (vectorised), then fill in defaults and compare once per object,
    # not once per element (at 10^5 elements the per-element loop took 1.4 s).
    ids = np.fromiter(map(id, per_element), dtype=np.uintp, count=len(per_element))
    _, first, which = np.unique(ids, return_index=True, return_inverse=True)
    by_object = np.argsort(which, kind="stable")  # each object's elements, in order
    splits = np.split(by_object, np.cumsum(np.bincount(which))[:-1])
    groups: dict[Resources, list[np.ndarray]] = {}
    for k in np.argsort(first, kind="stable").tolist():  # first-seen order
        r = per_element[int(first[k])].with_defaults(pipeline.default_resources)
        groups.setdefault(r, []).append(splits[k])
    return [(r, everything[np.sort(np.concatenate(pos))]) for r, pos in groups.items()]


def _dependencies(
    pipeline: Pipeline,
    stage: Stage,
    by_func: Mapping[str, Sequence[Stage]],
    shapes: Mapping[str, tuple[int, ...]],
) -> list[Dependency]:
    f = stage.func
    deps: list[Dependency] = []
    seen: set[str] = set()
    for p in f.parameters:
        producer = pipeline.output_to_func.get(p)
        if producer is None or producer.output_names[0] in seen:
            continue
        seen.add(producer.output_names[0])
        ups = by_func.get(producer.output_names[0])
        if ups is None:  # planned (and finished) earlier
            continue
        aligned = (
            len(ups) == 1
            and _aligned(f, producer, p)
            and shapes[f.output_names[0]] == shapes[producer.output_names[0]]
            and ups[0].chunksize == stage.chunksize
            and _same(ups[0].elements, stage.elements)
        )
        deps.extend(Dependency(u.name, "aligned" if aligned else "whole") for u in ups)
    return deps


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or np.array_equal(a, b)


def _aligned(consumer: Func, producer: Func, name: str) -> bool:
    """True if ``consumer`` reads ``name`` element by element, in ``producer``'s order."""
    cs, ps = consumer.mapspec, producer.mapspec
    if cs is None or ps is None or ps.internal_indices or name not in cs.input_names:
        return False
    read = next(i for i in cs.inputs if i.name == name)
    return (
        read.axes == ps.output_indices  # no ':' and the same axes in the same order
        and cs.external_indices == ps.output_indices
    )
