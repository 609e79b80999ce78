"""`PipelineFunc`: the part of a pipeline that produces one output, as a function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpcflow.errors import InputError

if TYPE_CHECKING:
    from hpcflow.spec.pipeline import Pipeline

__all__ = ["PipelineFunc"]


class PipelineFunc:
    """Calls ``pipeline.run(output_name, ...)``: the sub-pipeline producing one output.

    Made by `Pipeline.func`. Its inputs are the sub-pipeline's root inputs
    (`root_args`), given by keyword, or positionally in that order.

    Examples
    --------
    >>> from hpcflow import Pipeline, func
    >>> @func("c")
    ... def add(a, b):
    ...     return a + b
    >>> @func("d")
    ... def double(c):
    ...     return 2 * c
    >>> f = Pipeline([add, double]).func("d")
    >>> f.root_args, f(a=1, b=2), f(1, 2), f.call_full_output(a=1, b=2)["c"]
    (('a', 'b'), 6, 6, 3)
    """

    def __init__(self, pipeline: Pipeline, output_name: str | tuple[str, ...]) -> None:
        pipeline.func_for(output_name)  # names the outputs there are
        self.output_name = output_name
        names = (output_name,) if isinstance(output_name, str) else output_name
        #: the funcs that compute ``output_name``, and nothing else
        self.pipeline: Pipeline = pipeline.subpipeline((), names)
        self.root_args: tuple[str, ...] = self.pipeline.root_args(names)

    def _kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) > len(self.root_args):
            raise InputError(
                f"{self!r} takes at most {len(self.root_args)} positional inputs "
                f"{list(self.root_args)}, got {len(args)}"
            )
        both = sorted(set(self.root_args[: len(args)]) & set(kwargs))
        if both:
            raise InputError(f"{self!r} got {both} both positionally and by keyword")
        return {**dict(zip(self.root_args, args, strict=False)), **kwargs}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The output, from the root inputs (positional in `root_args` order, or keyword)."""
        return self.pipeline.run(self.output_name, self._kwargs(args, kwargs))

    def call_with_dict(self, kwargs: dict[str, Any]) -> Any:
        """The output, from a dict of inputs."""
        return self.pipeline.run(self.output_name, kwargs)

    def call_full_output(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Every input and output the computation used, by name."""
        return dict(
            self.pipeline.run(self.output_name, self._kwargs(args, kwargs), full_output=True)
        )

    def __repr__(self) -> str:
        return f"PipelineFunc({self.output_name!r}, root_args={self.root_args})"
