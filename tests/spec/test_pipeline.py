"""Pipeline construction: validation, graph, generated mapspecs, add_mapspec_axis."""

from __future__ import annotations

import functools

import pytest

from hpcflow import Func, Pipeline, PipelineError, Resources, SpecError, func


def test_func_renames_defaults_bound() -> None:
    def f(a, b=2, c=3):  # type: ignore[no-untyped-def]
        return a + b + c

    fn = Func(
        f, "out", renames={"a": "alpha", "out": "result"}, defaults={"b": 10}, bound={"c": 100}
    )
    assert fn.parameters == ("alpha", "b")
    assert fn.output_name == "result"
    assert fn.defaults == {"b": 10}
    assert fn(alpha=1, b=10) == 111


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"renames": {"zzz": "q"}}, "neither a parameter"),
        ({"defaults": {"zzz": 1}}, "not its parameters"),
        ({"bound": {"zzz": 1}}, "not its parameters"),
        ({"mapspec": "q[i] -> out[i]"}, "not free parameters"),
        ({"mapspec": "a[i] -> other[i]"}, "output_name is"),
        ({"mapspec": "a[i] -> out[i, j]", "internal_shape": (2, 3)}, "internal_shape"),
        ({"internal_shape": -1}, "internal_shape"),
    ],
)
def test_func_bad_options(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        Func(lambda a: a, "out", **kwargs)  # type: ignore[arg-type]


def test_func_rejects_positional_only() -> None:
    def f(a, /):  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(SpecError, match="positionally"):
        Func(f, "x")


def test_duplicate_outputs() -> None:
    with pytest.raises(PipelineError, match="produced by both"):
        Pipeline([Func(lambda a: a, "x"), Func(lambda b: b, "x")])


def test_cycle() -> None:
    with pytest.raises(PipelineError, match="cycle"):
        Pipeline([Func(lambda b: b, "a"), Func(lambda a: a, "b")])


def test_plain_function_is_rejected_with_a_hint() -> None:
    with pytest.raises(PipelineError, match="hpcflow.func"):
        Pipeline([lambda x: x])  # type: ignore[list-item]


def test_inconsistent_axes() -> None:
    f = Func(lambda x: x, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda x: x, "z", mapspec="x[j] -> z[j]")
    with pytest.raises(PipelineError, match="same axes everywhere"):
        Pipeline([f, g])


def test_inconsistent_defaults() -> None:
    def f(a=1):  # type: ignore[no-untyped-def]
        return a

    def g(a=2):  # type: ignore[no-untyped-def]
        return a

    with pytest.raises(PipelineError, match="default"):
        Pipeline([Func(f, "x"), Func(g, "y")])


def test_graph_queries() -> None:
    f = Func(lambda a, b: a + b, "c")
    g = Func(lambda c, d: c * d, "e")
    h = Func(lambda a: a, "z")
    p = Pipeline([g, f, h])
    assert p.root_args() == ("a", "b", "d")
    assert p.root_args(["c"]) == ("a", "b")
    assert [x.output_name for x in p.ancestors(["e"])] == ["c", "e"]
    gens = p.topological_generations()
    assert {x.output_name for x in gens[0]} == {"c", "z"}
    assert [x.output_name for x in gens[1]] == ["e"]
    sub = p.subpipeline({"c"}, ["e"])
    assert sub.root_args() == ("c", "d")


def test_generated_mapspec_for_non_mapspec_producer() -> None:
    make = Func(lambda n: list(range(n)), "x")
    use = Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")
    p = Pipeline([make, use])
    spec = p.func_for("x").mapspec
    assert spec is not None and str(spec) == "... -> x[i]" and spec.is_generated
    assert p.func_for("x").internal_shape == ("?",)


def test_add_mapspec_axis_propagates_and_returns_new_pipeline() -> None:
    f = Func(lambda a, b: a + b, "c")
    g = Func(lambda c: c, "d")
    p = Pipeline([f, g])
    q = p.add_mapspec_axis("a", axis="i").add_mapspec_axis("b", axis="j")
    assert str(q.func_for("c").mapspec) == "a[i], b[j] -> c[i, j]"
    assert str(q.func_for("d").mapspec) == "c[i, j] -> d[i, j]"
    assert p.func_for("c").mapspec is None  # the original is untouched


def test_add_mapspec_axis_on_whole_array_consumer() -> None:
    f = Func(lambda x: x, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda y: sum(y), "s")  # noqa: PLW0108 (sum is positional-only)
    q = Pipeline([f, g]).add_mapspec_axis("x", axis="j")
    assert str(q.func_for("y").mapspec) == "x[i, j] -> y[i, j]"
    assert str(q.func_for("s").mapspec) == "y[:, j] -> s[j]"


def test_default_resources_merge() -> None:
    f = Func(lambda a: a, "x", resources={"cpus": 4})
    g = Func(lambda n: n, "y", resources=lambda n: Resources(memory=f"{n}GB"))
    p = Pipeline([f, g], default_resources={"cpus": 1, "partition": "debug"})
    r = p.resources_for(p.func_for("x"))
    assert (r.cpus, r.partition) == (4, "debug")
    r = p.resources_for(p.func_for("y"), {"n": 2})
    assert (r.cpus, r.memory) == (1, 2 * 1024**3)


def test_decorator_builds_func() -> None:
    @func(("a", "b"), mapspec="x[i] -> a[i], b[i]")
    def split(x):  # type: ignore[no-untyped-def]
        return x, -x

    assert isinstance(split, Func)
    assert split.output_names == ("a", "b")


# ------------------------------------------------------------ plain functions
def test_plain_named_function_is_a_func_named_after_it() -> None:
    def c(a, b):  # type: ignore[no-untyped-def]
        return a + b

    def d(c, k=2):  # type: ignore[no-untyped-def]
        return c * k

    p = Pipeline([c, Func(lambda d: -d, "e"), d])
    assert [f.output_name for f in p.sorted_funcs] == ["c", "d", "e"]
    assert p.func_for("c").function is c
    assert p("e", a=1, b=2) == -6
    r = p.add_mapspec_axis("a", axis="i").map({"a": [1, 2], "b": 1}, parallel=False)
    assert r["e"].output.tolist() == [-4, -6]


class _Callable:
    def __call__(self, x):  # type: ignore[no-untyped-def]
        return x


@pytest.mark.parametrize(
    "bad",
    [lambda x: x, functools.partial(lambda x, y: x, y=1), _Callable(), 42],
    ids=["lambda", "partial", "callable-object", "not-callable"],
)
def test_unnamed_callable_is_refused_with_the_fix(bad: object) -> None:
    with pytest.raises(
        PipelineError, match=r"no name for its output.*hpcflow\.func\('output_name'\)"
    ):
        Pipeline([bad])  # type: ignore[list-item]


# ------------------------------------------------------------ final outputs
def test_output_name_is_the_one_final_output() -> None:
    p = Pipeline([Func(lambda a, b: a + b, "c"), Func(lambda c: 2 * c, "d")])
    assert p.final_outputs == ("d",)
    assert p.output_name == "d"
    assert p.func()(a=1, b=2) == 6
    assert p.func("c")(a=1, b=2) == 3
    assert p.nest_funcs(["c", "d"], new_output_name="d").output_name == "d"


def test_output_name_of_several_final_outputs_names_them() -> None:
    p = Pipeline([Func(lambda x: (x, -x), ("lo", "hi")), Func(lambda lo: 2 * lo, "z")])
    assert p.final_outputs == ("hi", "z")
    with pytest.raises(
        PipelineError, match=r"2 final outputs \['hi', 'z'\].*pipeline\.func\('hi'\)"
    ):
        p.output_name
    with pytest.raises(PipelineError, match="2 final outputs"):
        p.func()


# ------------------------------------------------------------ split_disconnected
def test_split_disconnected_gives_one_pipeline_per_component() -> None:
    f = Func(lambda a, b: a + b, "c", mapspec="a[i], b[i] -> c[i]")
    g = Func(lambda x, y: x + y, "z", mapspec="x[i], y[i] -> z[i]")
    h = Func(lambda c: sum(c), "s")  # noqa: PLW0108 (sum is positional-only)
    shares_input = Func(lambda b, q: b * q, "w")  # joined to f by the root input b
    p = Pipeline([f, g, h, shares_input], validate_type_annotations=False)
    parts = p.split_disconnected()
    assert [sorted(q.output_to_func) for q in parts] == [["c", "s", "w"], ["z"]]
    assert all(type(q) is Pipeline and not q.validate_type_annotations for q in parts)
    assert parts[1].map({"x": [1, 2], "y": [3, 4]}, parallel=False)["z"].output.tolist() == [4, 6]
    assert len(p.funcs) == 4  # the original is untouched


def test_split_disconnected_of_a_connected_pipeline_is_itself() -> None:
    p = Pipeline([Func(lambda a: a, "b"), Func(lambda b: b, "c")])
    assert p.split_disconnected() == [p]


def test_derived_pipelines_keep_a_subclass() -> None:
    class Named(Pipeline):
        def names(self) -> list[str]:
            return [f.name for f in self.sorted_funcs]

    p = Named([Func(lambda a: a, "b"), Func(lambda x: x, "y")])
    derived = [
        p.add_mapspec_axis("a", axis="i"),
        p.subpipeline((), ["b"]),
        p.update_scope("s", inputs="*"),
        *p.split_disconnected(),
    ]
    assert all(isinstance(q, Named) for q in derived)
    assert derived[1].names() == ["<lambda>"]


# ------------------------------------------------------------ output order
def test_mapspec_outputs_in_another_order_than_output_name_are_refused() -> None:
    with pytest.raises(
        SpecError, match=r"lists its outputs as \['hi', 'lo'\] but output_name is \['lo', 'hi'\]"
    ):
        Func(lambda a: (a, -a), ("lo", "hi"), mapspec="a[i] -> hi[i], lo[i]")
    ok = Func(lambda a: (a, -a), ("lo", "hi"), mapspec="a[i] -> lo[i], hi[i]")
    assert ok.mapspec is not None and ok.mapspec.output_names == ("lo", "hi")


def test_copy_changes_only_what_it_is_given() -> None:
    double = Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")
    p = Pipeline([double], default_resources={"cpus": 2})
    same = p.copy()
    assert same is not p and same.funcs == p.funcs
    assert same.default_resources == p.default_resources
    assert p.copy(validate_type_annotations=False).validate_type_annotations is False
    scoped = p.copy(scope="run1")
    assert scoped.func_for("run1.y").parameters == ("run1.x",)
    assert p.func_for("y").parameters == ("x",)  # the original is untouched
    with pytest.raises(PipelineError, match=r"\['cpus'\].*default_resources"):
        p.copy(cpus=4)


def test_func_copy_is_replace() -> None:
    f = Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")
    g = f.copy(mapspec=None)
    assert g.mapspec is None and f.mapspec is not None


def test_mapspec_names_are_the_arrays_some_mapspec_indexes() -> None:
    f = Func(lambda x, n: x * n, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda y: y.sum(), "total")
    assert Pipeline([f, g]).mapspec_names == {"x", "y"}
