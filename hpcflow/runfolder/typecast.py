"""Cast object arrays of results to the numpy dtype their function's annotation names.

Mapped outputs are object arrays (each element is whatever the function returned). A
function annotated ``-> int``, ``-> float``, ``-> bool``, ``-> complex`` or a numpy
scalar type (``-> np.float32``) promises numbers, so its output can become an
``int64``/``float64``/... array. Values that do not fit the annotation are never
converted silently: the array stays as it is and the caller learns why.
"""

from __future__ import annotations

import numbers
import typing
import warnings
from typing import Any

import numpy as np

__all__ = ["annotation_dtype", "cast_to_dtype"]

# which values fit a dtype kind (numpy's scalar types are registered in ``numbers``)
_FITS: dict[str, tuple[type, ...]] = {
    "b": (bool, np.bool_),
    "i": (numbers.Integral,),
    "u": (numbers.Integral,),
    "f": (numbers.Real, np.bool_),
    "c": (numbers.Complex, np.bool_),
}


def annotation_dtype(annotation: Any) -> np.dtype[Any] | None:
    """The numpy dtype an annotation names, or ``None`` if it names none.

    Examples
    --------
    >>> annotation_dtype(int), annotation_dtype(np.float32), annotation_dtype(bool)
    (dtype('int64'), dtype('float32'), dtype('bool'))
    >>> annotation_dtype(list) is None, annotation_dtype(int | None) is None
    (True, True)
    """
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = annotation.__origin__
    while hasattr(annotation, "__supertype__"):  # NewType
        annotation = annotation.__supertype__
    if annotation in (bool, int, float, complex):
        builtin: np.dtype[Any] = np.dtype(annotation)
        return builtin
    if not (isinstance(annotation, type) and issubclass(annotation, np.bool_ | np.number)):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dtype = np.dtype(annotation)
    except (TypeError, Warning):  # abstract types such as np.integer name no dtype
        return None
    return dtype if dtype.type is annotation else None


def cast_to_dtype(array: np.ndarray, dtype: np.dtype[Any]) -> tuple[np.ndarray | None, str]:
    """``array`` (object dtype, maybe masked) as ``dtype``, or ``None`` and the reason.

    Masked elements (not computed) stay masked. Every other element must be of the
    dtype's kind (an integer for ``int64``, a real number for ``float64``, ...), and an
    integer cast must keep every value.

    Examples
    --------
    >>> cast_to_dtype(np.array([1, 2], dtype=object), np.dtype("int64"))
    (array([1, 2]), '')
    >>> cast_to_dtype(np.array([1, (2,)], dtype=object), np.dtype("int64"))
    (None, 'the element at index (1,) is of type tuple: (2,)')
    """
    mask = np.ma.getmaskarray(array)
    data = np.ma.getdata(array)
    fits = _FITS.get(dtype.kind)
    if fits is None:
        return None, f"hpcflow does not cast to {dtype}"
    for index in zip(*np.nonzero(~mask), strict=True):
        value = data[index]
        if not isinstance(value, fits):
            where = tuple(int(i) for i in index)
            return None, (
                f"the element at index {where} is of type {type(value).__name__}: {value!r:.60}"
            )
    filled = data.copy()
    filled[mask] = dtype.type(0)  # placeholder under the mask, for astype
    try:
        cast = filled.astype(dtype)
    except (TypeError, ValueError, OverflowError) as e:
        return None, f"numpy could not cast it ({e})"
    if dtype.kind in "biu":
        changed = [i for i in zip(*np.nonzero(~mask), strict=True) if cast[i] != data[i]]
        if changed:
            where = tuple(int(i) for i in changed[0])
            return None, f"the element at index {where} ({data[where]!r}) does not fit {dtype}"
    return (np.ma.MaskedArray(cast, mask=mask) if mask.any() else cast), ""
