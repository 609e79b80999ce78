"""ResultDict: type_cast to annotated dtypes, to_xarray/to_dataframe(type_cast=...), repr."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hpcflow import Func, InputError, Pipeline
from hpcflow.runfolder.results import MAX_REPR_LENGTH, Result, ResultDict


def _identity_pipeline(annotation: Any) -> Pipeline:
    def ident(x):  # type: ignore[no-untyped-def]
        return x

    # set here, since this module's annotations are strings that name a local
    ident.__annotations__ = {"x": annotation, "return": annotation}

    def count() -> int:
        return 1

    return Pipeline([Func(ident, "y", mapspec="x[i] -> y[i]"), Func(count, "n")])


@pytest.mark.parametrize(
    ("annotation", "values", "dtype"),
    [
        (int, [1, 2, 3], np.dtype("int64")),
        (float, [1.5, 2, 3], np.dtype("float64")),
        (bool, [True, False], np.dtype("bool")),
        (complex, [1j, 2], np.dtype("complex128")),
        (np.int32, [1, 2], np.dtype("int32")),
        (np.float32, [0.5, 2.0], np.dtype("float32")),
        (list, [[1, 2], [3]], np.dtype(object)),  # no numpy dtype: stays an object array
    ],
)
def test_type_cast_gives_the_annotated_dtype_in_a_new_result_dict(
    annotation: Any, values: list[Any], dtype: np.dtype[Any]
) -> None:
    results = _identity_pipeline(annotation).map({"x": values}, parallel=False, storage="dict")
    cast = results.type_cast(inplace=False)
    assert cast["y"].output.dtype == dtype
    assert cast["y"].output.tolist() == results["y"].output.tolist()
    assert results["y"].output.dtype == object  # the original is unchanged
    assert cast["n"] is results["n"]  # unmapped outputs are left alone
    assert cast.pipeline is results.pipeline and cast.inputs is results.inputs
    # the default, as in pipefunc: this ResultDict is cast and returned
    assert results.type_cast() is results
    assert results["y"].output.dtype == dtype


def test_type_cast_inplace_must_be_a_bool() -> None:
    results = _identity_pipeline(int).map({"x": [1]}, parallel=False, storage="dict")
    with pytest.raises(InputError, match="inplace must be True or False"):
        results.type_cast(inplace="no")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="type_cast must be True or False"):
        results.to_dataframe(type_cast="no")  # type: ignore[arg-type]


def test_type_cast_of_a_generated_axis_reads_the_list_element_type() -> None:
    def gen(n: int) -> list[int]:
        return list(range(n))

    results = Pipeline([Func(gen, "x", mapspec="... -> x[i]")]).map({"n": 3}, parallel=False)
    assert results.type_cast()["x"].output.dtype == np.dtype("int64")


@pytest.mark.parametrize(
    ("annotation", "values", "problem"),
    [
        (int, [(1,), (2,)], r"the element at index \(0,\) is of type tuple: \(1,\)"),
        (int, [1, 2.5], r"the element at index \(1,\) is of type float"),  # no truncation
        (bool, [True, 1], r"the element at index \(1,\) is of type int"),
        (float, ["1.5"], r"the element at index \(0,\) is of type str"),
        (np.int32, [1, 2**40], "numpy could not cast it"),
    ],
)
def test_type_cast_warns_and_keeps_values_that_do_not_fit(
    annotation: Any, values: list[Any], problem: str
) -> None:
    pipeline = _identity_pipeline(annotation)
    pipeline = Pipeline(pipeline.funcs, validate_type_annotations=False)
    results = pipeline.map({"x": values}, parallel=False, storage="dict")
    with pytest.warns(UserWarning, match=f"output 'y' stays an object array: {problem}") as rec:
        cast = results.type_cast()
    assert f"'ident' is annotated to return {annotation.__name__}" in str(rec[0].message)
    assert "fix the annotation or the function" in str(rec[0].message)
    assert cast["y"].output.dtype == object
    assert cast["y"].output.tolist() == list(values)


def test_type_cast_keeps_missing_elements_masked(tmp_path: Any) -> None:
    results = _identity_pipeline(int).map(
        {"x": [1, 2, 3]}, tmp_path, parallel=False, fixed_indices={"i": 1}
    )
    before = results["y"].output
    assert np.ma.getmaskarray(before).tolist() == [True, False, True]
    cast = results.type_cast()["y"].output
    assert isinstance(cast, np.ma.MaskedArray) and cast.dtype == np.dtype("int64")
    assert cast.mask.tolist() == [True, False, True] and cast[1] == 2


def test_to_xarray_and_to_dataframe_type_cast_by_default() -> None:
    results = _identity_pipeline(np.float32).map({"x": [4, 5]}, parallel=False, storage="dict")
    assert results.to_xarray()["y"].dtype == np.dtype("float32")
    assert results.to_dataframe()["y"].dtype == np.dtype("float32")
    # without it, numbers get the dtype numpy infers from the values
    assert results.to_xarray(type_cast=False)["y"].dtype == np.dtype("int64")
    assert results.to_dataframe(type_cast=False)["y"].dtype == np.dtype("int64")
    assert results["y"].output.dtype == object


def test_to_xarray_of_a_cast_output_with_missing_elements_has_nan(tmp_path: Any) -> None:
    results = _identity_pipeline(np.float32).map(
        {"x": [1, 2, 3]}, tmp_path, parallel=False, fixed_indices={"i": 1}
    )
    y = results.to_xarray()["y"]
    assert y.dtype == np.dtype("float64")  # float32 with NaN for the two not computed
    assert np.isnan(y.values[[0, 2]]).all() and y.values[1] == 2


def test_type_cast_needs_the_pipeline_of_the_run() -> None:
    results = ResultDict(y=Result("y", np.array([1], dtype=object)))
    with pytest.raises(InputError, match="call it on the ResultDict that map returns"):
        results.type_cast()


class _Long:
    def __repr__(self) -> str:
        return "a" * (2 * MAX_REPR_LENGTH)


def test_repr_of_a_large_result_dict_is_cut_with_a_warning() -> None:
    results = ResultDict()
    assert repr(results) == "{}"
    results["a"] = Result("a", 1)
    assert "Result(output_name='a', output=1" in repr(results)  # short: whole, no warning
    results["b"] = Result("b", _Long())
    with pytest.warns(UserWarning, match=r"print\(dict\(results\)\)"):
        text = repr(results)
    assert len(text) == MAX_REPR_LENGTH + 3 and text.endswith("aaa...")


@pytest.mark.parametrize("method", ["type_cast", "to_xarray", "to_dataframe"])
def test_a_type_cast_warning_names_the_callers_line(method: str) -> None:
    # before, to_xarray/to_dataframe's warning named hpcflow's own results.py
    pipeline = Pipeline(_identity_pipeline(int).funcs, validate_type_annotations=False)
    results = pipeline.map({"x": [(1,), (2,)]}, parallel=False, storage="dict")
    with pytest.warns(UserWarning, match="stays an object array") as rec:
        getattr(results, method)()
    assert [w.filename for w in rec] == [__file__]
