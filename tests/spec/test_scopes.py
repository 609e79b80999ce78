"""Parameter scopes: ``Func(scope=...)``, ``update_scope``, dotted names in mapspecs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcflow import Func, Pipeline
from hpcflow.errors import InputError, PipelineError, SpecError
from hpcflow.spec.mapspec import MapSpec
from hpcflow.spec.scopes import disk_name, flatten_scoped_inputs


def add(a: int, b: int) -> int:
    return a + b


def test_func_scope_prefixes_parameters_outputs_and_mapspec() -> None:
    f = Func(add, "c", mapspec="a[i] -> c[i]", defaults={"b": 1}, scope="foo")
    assert f.parameters == ("foo.a", "foo.b")
    assert f.output_name == "foo.c"
    assert str(f.mapspec) == "foo.a[i] -> foo.c[i]"
    assert f.defaults == {"foo.b": 1}
    assert f(**{"foo.a": 2, "foo.b": 5}) == 7


def test_update_scope_returns_a_new_func_and_can_replace_or_remove_a_scope() -> None:
    f = Func(add, "c", scope="foo")
    g = f.update_scope("bar", inputs={"foo.a"}, outputs="*")
    assert (g.parameters, g.output_name) == (("bar.a", "foo.b"), "bar.c")
    assert (f.parameters, f.output_name) == (("foo.a", "foo.b"), "foo.c")  # untouched
    h = g.update_scope(None, inputs="*", outputs="*", exclude={"foo.b"})
    assert (h.parameters, h.output_name) == (("a", "foo.b"), "c")
    with pytest.raises(SpecError, match=r"inputs \['x'\] are not among its inputs"):
        f.update_scope("bar", inputs={"x"})
    with pytest.raises(SpecError, match="scope='1x'.*must be a Python identifier"):
        Func(add, "c", scope="1x")


def test_pipeline_update_scope_renames_an_output_in_its_consumers() -> None:
    p = Pipeline([Func(add, "c"), Func(lambda c: 2 * c, "d")])
    q = p.update_scope("foo", inputs="*", outputs={"c"})
    assert q.root_args() == ("foo.a", "foo.b")
    assert q.funcs[1].parameters == ("foo.c",)
    assert q.run("d", {"foo": {"a": 1, "b": 2}}) == 6
    assert p.root_args() == ("a", "b")
    with pytest.raises(PipelineError, match=r"outputs \['nope'\] are not among"):
        p.update_scope("foo", outputs={"nope"})


def test_mapspec_parses_and_prints_scoped_names() -> None:
    spec = MapSpec.from_string("foo.x[i], y[j] -> foo.z[i, j]")
    assert spec.input_names == ("foo.x", "y") and spec.output_names == ("foo.z",)
    assert MapSpec.from_string(str(spec)) == spec
    with pytest.raises(SpecError) as info:
        MapSpec.from_string("foo.[i] -> y[i]")
    assert "expected a name after the scope 'foo.' at column 4" in str(info.value)
    assert "\n    foo.[i] -> y[i]\n        ^" in str(info.value)


def test_map_takes_nested_or_flat_scoped_inputs_and_keys_results_by_scoped_name() -> None:
    p = Pipeline([Func(add, "c", mapspec="a[i] -> c[i]", scope="foo")])
    nested = p.map({"foo": {"a": [1, 2, 3], "b": 10}}, parallel=False)
    flat = p.map({"foo.a": [1, 2, 3], "foo.b": 10}, parallel=False)
    assert list(nested) == ["foo.c"]
    np.testing.assert_array_equal(nested["foo.c"].output, [11, 12, 13])
    np.testing.assert_array_equal(flat["foo.c"].output, nested["foo.c"].output)


def test_an_input_given_both_nested_and_flat_is_refused() -> None:
    p = Pipeline([Func(add, "c", scope="foo")])
    with pytest.raises(InputError, match="'foo.a' is given twice"):
        p.map({"foo": {"a": 1, "b": 2}, "foo.a": 2}, parallel=False)
    assert flatten_scoped_inputs({"foo": {"a": 1}}, ["foo.a"]) == {"foo.a": 1}


_NAMES = st.sampled_from(["x", "foo.x", "bar.y", "a_1", "s.t"])
_TEXT = st.text(alphabet="ab.[]:,-> i", max_size=30)


@given(st.lists(_NAMES, min_size=2, max_size=4, unique=True))
@settings(max_examples=200, deadline=None)
def test_property_scoped_mapspecs_round_trip(names: list[str]) -> None:
    *ins, out = names
    spec = MapSpec.from_string(f"{', '.join(f'{n}[i]' for n in ins)} -> {out}[i]")
    assert spec.input_names == tuple(ins) and spec.output_names == (out,)
    assert MapSpec.from_string(str(spec)) == spec


@given(_TEXT)
@settings(max_examples=2000, deadline=None)
def test_property_any_text_parses_or_raises_a_spec_error(text: str) -> None:
    message = "mapspec"
    try:
        MapSpec.from_string(text)
    except SpecError as e:  # any other exception type fails the test
        message = str(e)
    assert "mapspec" in message


def test_names_that_could_collide_with_a_scoped_name_on_disk_are_refused() -> None:
    scoped = Func(add, "c", scope="foo")
    assert disk_name("foo.c") == "foo__c"
    with pytest.raises(SpecError, match="'foo__c' contains '__'.*renames="):
        Pipeline([scoped, Func(lambda x: x, "foo__c")])
    with pytest.raises(SpecError, match="'_' next to its scope's dot"):
        Pipeline([Func(add, "c", scope="foo_")])
    # without scopes, '__' is an ordinary identifier as before
    assert Pipeline([Func(lambda x: x, "foo__c")]).run("foo__c", {"x": 1}) == 1


def test_pipeline_scope_and_nested_funcs_with_scoped_names() -> None:
    p = Pipeline(
        [
            Func(add, "c", mapspec="a[i] -> c[i]"),
            Func(lambda c: 2 * c, "d", mapspec="c[i] -> d[i]"),
        ],
        scope="foo",
    )
    assert p.root_args() == ("foo.a", "foo.b")
    nested = p.nest_funcs({"foo.c", "foo.d"})
    assert str(nested.funcs[0].mapspec) == "foo.a[i] -> foo.d[i]"
    out = nested.map({"foo": {"a": [1, 2], "b": 1}}, parallel=False)
    np.testing.assert_array_equal(out["foo.d"].output, [4, 6])
