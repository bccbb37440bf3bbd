"""Comparing a student's output with the expected one, in words a student understands."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["compare_outputs"]


def compare_outputs(expected: Any, got: Any, *, rtol: float = 1e-5, atol: float = 1e-6,
                    what: str = "output") -> tuple[bool, str]:
    """Compare a student's output with the expected one; say in words what differs.

    Arrays (and anything NumPy converts, such as tensors) are compared by shape, dtype kind
    (floating / integer / bool) and values with ``np.allclose(got, expected, rtol, atol)``;
    tuples and lists of arrays element by element; anything else by ``==``.

    Returns
    -------
    (bool, str)
        Whether they agree, and a message naming the first difference (empty when they agree).
    """
    if got is None and expected is not None:
        return False, f"{what}: the function returned None (did you forget `return`?)"
    if isinstance(expected, tuple) or (isinstance(expected, list) and expected
                                       and all(_is_array_like(e) for e in expected)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            kind = f"{type(got).__name__} of {len(got)}" if isinstance(got, (tuple, list)) \
                else type(got).__name__
            return False, f"{what}: expected a tuple of {len(expected)} outputs; got a {kind}"
        for i, (exp, item) in enumerate(zip(expected, got)):
            ok, message = compare_outputs(exp, item, rtol=rtol, atol=atol, what=f"{what}[{i}]")
            if not ok:
                return ok, message
        return True, ""
    if not _is_array_like(expected):
        try:
            equal = bool(got == expected)
        except Exception:  # e.g. an array compared with a list: ambiguous truth value
            equal = False
        if equal:
            return True, ""
        return False, f"{what}: expected {expected!r}, got {_short(got)}"
    return _compare_arrays(np.asarray(expected), got, rtol, atol, what)


def _is_array_like(value: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic, int, float, bool)) or hasattr(value, "numpy")


def _compare_arrays(expected: np.ndarray, got: Any, rtol: float, atol: float,
                    what: str) -> tuple[bool, str]:
    try:
        got_array = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
    except Exception:
        return False, f"{what}: expected a NumPy array; got a {type(got).__name__}"
    if got_array.dtype == object or got_array.dtype.kind not in "biuf":
        return False, (f"{what}: expected a numeric array of dtype {expected.dtype}; got "
                       f"{type(got).__name__} with dtype {got_array.dtype}")
    if got_array.shape != expected.shape:
        message = f"{what}: shape: expected {expected.shape}, got {got_array.shape}"
        if got_array.squeeze().shape == expected.squeeze().shape:
            message += " (only size-1 axes differ: check keepdims / squeeze / the batch axis)"
        elif got_array.size == expected.size:
            message += " (same number of entries: check the axis order or a reshape)"
        return False, message
    kinds = {"f": "a floating-point", "i": "an integer", "u": "an integer", "b": "a bool"}
    if kinds[got_array.dtype.kind] != kinds[expected.dtype.kind]:
        return False, (f"{what}: dtype: expected {kinds[expected.dtype.kind]} array "
                       f"({expected.dtype}), got {got_array.dtype}")
    if expected.dtype.kind == "b" or expected.dtype.kind in "iu":
        differs = got_array != expected
    else:
        bad = ~np.isfinite(got_array) & np.isfinite(expected)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            return False, (f"{what}: values: {int(bad.sum())} entries are NaN or infinite, the "
                           f"first at index {index} (expected {expected[index]:.6g})")
        differs = ~np.isclose(got_array, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not differs.any():
        return True, ""
    diff = np.abs(got_array.astype(np.float64) - expected.astype(np.float64))
    diff = np.where(differs, np.nan_to_num(diff, nan=np.inf), 0.0)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    index = tuple(int(i) for i in index)
    return False, (
        f"{what}: values: {int(differs.sum())} of {differs.size} entries differ; max abs diff "
        f"{float(diff[index]):.3g} at index {index}: expected {_num(expected[index])}, got "
        f"{_num(got_array[index])} (tolerance rtol={rtol:g}, atol={atol:g})"
    )


def _num(value: Any) -> str:
    return f"{value:.6g}" if np.asarray(value).dtype.kind == "f" else str(value)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
