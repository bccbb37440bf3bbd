"""Argument checks with messages from the one table (:mod:`xaikit.base.messages`).

Everything here is NumPy only, so the data layer, ``viz``, the metrics' model-free paths and the
grader's parent share the same checks as the TensorFlow code.

API
---
- ``check_images(images, model=None, *, name="images") -> np.ndarray``: float32 (N, H, W, C),
  checked for rank, emptiness, finiteness and (with ``model``) the model's input shape.
- ``check_maps(maps, n_images=None, size=None, *, name="maps") -> np.ndarray``: float64 (N, H, W).
- ``check_masks(masks, n_images=None, size=None, *, name="masks", allow_empty=False)``: bool (N, H, W).
- ``check_array(name, value, *, ndim=None, dtype_kind="fiub", finite=True) -> np.ndarray``.
- ``check_targets(targets, n_images, n_classes) -> (classes, contrast)``.
- ``check_option``, ``check_int``, ``check_number``: option validation.
- ``rng(seed) -> np.random.Generator``: the one source of randomness (None, an int, a Generator).
- ``warn(message)``: a UserWarning pointing at the user's line, not at xaikit's internals.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from xaikit.base.messages import message

__all__ = [
    "check_array",
    "check_images",
    "check_int",
    "check_maps",
    "check_masks",
    "check_number",
    "check_option",
    "check_targets",
    "model_input_shape",
    "rng",
    "warn",
]


def check_array(name: str, value: Any, *, ndim: int | None = None, dtype_kind: str = "fiub",
                finite: bool = True) -> np.ndarray:
    """``value`` as a NumPy array after checking its dtype kind, rank and finiteness.

    Examples
    --------
    >>> check_array("weights", [1.0, 2.0], ndim=1).shape
    (2,)
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(message("type", name=name, got=type(value).__name__)) from error
    if array.dtype.kind not in dtype_kind:
        raise TypeError(message("type", name=name, got=f"dtype {array.dtype}"))
    if ndim is not None and array.ndim != ndim:
        raise ValueError(message("expected", name=name, expected=f"a {ndim}-D array",
                                 got=f"shape {array.shape}", fix=""))
    if finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(message("finite", name=name, count=int((~np.isfinite(array)).sum())))
    return array


def check_images(images: Any, model: Any = None, *, name: str = "images") -> np.ndarray:
    """Return ``images`` as a float32 (N, H, W, C) array after checking it.

    Parameters
    ----------
    images : array-like
        A batch of images, (N, H, W, C).
    model : keras.Model, optional
        When given, H, W and C are checked against ``model.input_shape`` (None dims accept any size).
    name : str
        The argument name used in error messages.

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C).

    Raises
    ------
    TypeError
        Not an array of numbers.
    ValueError
        Wrong rank, empty batch, wrong channel count or size, NaN or inf values.

    Examples
    --------
    >>> check_images(np.zeros((2, 8, 8, 3))).dtype
    dtype('float32')
    """
    array = check_array(name, images, finite=False)
    if array.ndim != 4:
        fix = f"; use {name}[None] for a single image" if array.ndim == 3 else ""
        raise ValueError(message("rank", name=name, shape=array.shape, fix=fix))
    if array.shape[0] == 0:
        raise ValueError(message("empty", name=name, shape=array.shape))
    array = array.astype(np.float32, copy=False)
    if model is not None:
        _check_against_model(array, model, name)
    if not np.isfinite(array.sum()) and not np.isfinite(array).all():
        raise ValueError(message("finite", name=name, count=int((~np.isfinite(array)).sum())))
    return array


def _check_against_model(array: np.ndarray, model: Any, name: str) -> None:
    model_shape = tuple(model_input_shape(model))
    if len(model_shape) != 4:
        raise ValueError(message("model_input", shape=model_shape))
    _, height, width, channels = model_shape
    if channels is not None and array.shape[3] != channels:
        raise ValueError(message("channels", name=name, got=array.shape[3], expected=channels,
                                 model_shape=model_shape))
    expected = (height, width)
    if any(e is not None and e != g for e, g in zip(expected, array.shape[1:3])):
        raise ValueError(message("size", name=name, got=array.shape[1:3], expected=expected,
                                 model_shape=model_shape))


def model_input_shape(model: Any) -> tuple:
    """The (None, H, W, C) input shape of a single-input Keras model, with a clear error."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError) as error:
        raise ValueError(message("model_shape_unknown", model=type(model).__name__)) from error
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(message("model_inputs", count=len(shape)))
        shape = shape[0]
    return tuple(shape)


def check_maps(maps: Any, n_images: int | None = None, size: Sequence[int] | None = None, *,
               name: str = "maps") -> np.ndarray:
    """Return explanation maps as float64 (N, H, W) after checking count, size and finiteness.

    Parameters
    ----------
    maps : array-like
        (N, H, W) maps, one per image.
    n_images : int, optional
        The number of images the maps must match.
    size : (H, W), optional
        The images' spatial size the maps must match.
    name : str
        The argument name used in error messages.

    Raises
    ------
    TypeError, ValueError
        Not numbers, wrong rank, wrong count or size, NaN or inf values.

    Examples
    --------
    >>> check_maps(np.zeros((2, 4, 4)), n_images=2, size=(4, 4)).dtype
    dtype('float64')
    """
    array = check_array(name, maps, finite=False)
    if array.ndim != 3:
        fix = f"; use {name}[None] for a single map" if array.ndim == 2 else (
            f"; reduce the channels first (e.g. {name}.sum(-1))" if array.ndim == 4 else "")
        raise ValueError(message("map_rank", name=name, shape=array.shape, fix=fix))
    if n_images is not None and array.shape[0] != n_images:
        raise ValueError(message("map_count", name=name, got=array.shape[0], expected=n_images))
    if size is not None and tuple(array.shape[1:3]) != tuple(size):
        raise ValueError(message("map_size", name=name, got=tuple(array.shape[1:3]),
                                 expected=tuple(int(s) for s in size)))
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(message("finite", name=name, count=int((~np.isfinite(array)).sum())))
    return array


def check_masks(masks: Any, n_images: int | None = None, size: Sequence[int] | None = None, *,
                name: str = "masks", allow_empty: bool = False) -> np.ndarray:
    """Return binary masks as bool (N, H, W) after checking values, count, size and emptiness.

    Examples
    --------
    >>> check_masks(np.ones((1, 2, 2), int)).dtype
    dtype('bool')
    """
    array = check_array(name, masks)
    if array.ndim != 3:
        fix = f"; use {name}[None] for a single mask" if array.ndim == 2 else ""
        raise ValueError(message("map_rank", name=name, shape=array.shape, fix=fix))
    if array.dtype != bool:
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if not np.isin(array, (0, 1)).all():
            raise ValueError(message("mask_values", name=name, low=low, high=high))
        array = array.astype(bool)
    if n_images is not None and array.shape[0] != n_images:
        raise ValueError(message("map_count", name=name, got=array.shape[0], expected=n_images))
    if size is not None and tuple(array.shape[1:3]) != tuple(size):
        raise ValueError(message("map_size", name=name, got=tuple(array.shape[1:3]),
                                 expected=tuple(int(s) for s in size)))
    if not allow_empty:
        empty = np.flatnonzero(~array.reshape(len(array), -1).any(axis=1))
        if empty.size:
            raise ValueError(message("mask_empty", name=name, indices=empty.tolist()))
    return array


def check_targets(
    targets: Any, n_images: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalise ``targets`` to per-image class arrays.

    Parameters
    ----------
    targets : None, int, sequence of ints (list or array, one per image), or tuple (A, B)
        ``None`` means the predicted class. A *tuple* of two entries is a contrastive pair
        "why A and not B" (each entry an int, None or one int per image); give per-image targets
        as a list or array.
    n_images, n_classes : int
        Batch size and number of model outputs.

    Returns
    -------
    classes : np.ndarray
        int64 (N,), ``-1`` where the predicted class is to be used.
    contrast : np.ndarray or None
        int64 (N,) second class of a contrastive pair (``-1``: the predicted class), else None.

    Raises
    ------
    ValueError
        Unknown form, wrong count, or a class outside ``0..n_classes-1``.

    Examples
    --------
    >>> check_targets(2, 3, 5)[0].tolist()
    [2, 2, 2]
    """
    if isinstance(targets, tuple):
        if len(targets) != 2:
            raise ValueError(message("target_type", got=targets))
        return (_per_image(targets[0], n_images, n_classes),
                _per_image(targets[1], n_images, n_classes))
    return _per_image(targets, n_images, n_classes), None


def _per_image(targets: Any, n_images: int, n_classes: int) -> np.ndarray:
    if targets is None:
        return np.full(n_images, -1, dtype=np.int64)
    if isinstance(targets, (bool, np.bool_, str, bytes, dict, set)):
        raise ValueError(message("target_type", got=targets))
    array = np.asarray(targets)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(message("target_type", got=targets))
    if array.ndim == 0:
        array = np.full(n_images, int(array), dtype=np.int64)
    elif array.shape[0] != n_images:
        raise ValueError(message("target_count", got=array.shape[0], n_images=n_images))
    bad = sorted({int(t) for t in array if not 0 <= t < n_classes})
    if bad:
        raise ValueError(message("target_range", bad=bad, n_classes=n_classes,
                                 last=n_classes - 1))
    return array.astype(np.int64)


def warn(text: str) -> None:
    """A UserWarning attributed to the first caller outside xaikit (the user's line)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("xaikit."):
        frame, level = frame.f_back, level + 1
    warnings.warn(text, UserWarning, stacklevel=level)


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError listing them.

    Examples
    --------
    >>> check_option("on", "logits", ("logits", "probabilities"))
    'logits'
    """
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(message("option", name=name, value=value,
                                 allowed=", ".join(map(repr, allowed))))
    return value


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum`` (and <= ``maximum`` if given).

    Examples
    --------
    >>> check_int("steps", 8)
    8
    """
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
            or value < minimum):
        raise ValueError(message("int", name=name, value=value, minimum=minimum))
    if maximum is not None and value > maximum:
        raise ValueError(message("int_range", name=name, value=value, minimum=minimum,
                                 maximum=maximum))
    return int(value)


def check_number(
    name: str, value: Any, *, low: float | None = None, high: float | None = None,
    low_open: bool = False, high_open: bool = False,
) -> float:
    """Return ``value`` as float if it is finite and within ``[low, high]`` (bounds optional;
    ``low_open`` / ``high_open`` exclude a bound itself).

    Examples
    --------
    >>> check_number("sigma", 0.15, low=0.0)
    0.15
    >>> check_number("quantile", 1.0, low=0.0, high=1.0, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: quantile=1.0 must be a finite number in [0.0, 1.0)
    """
    opening, closing = "(" if low_open else "[", ")" if high_open else "]"
    if low is not None and high is not None:
        bounds = f" in {opening}{low}, {high}{closing}"
    elif low is not None:
        bounds = f" > {low}" if low_open else f" >= {low}"
    elif high is not None:
        bounds = f" < {high}" if high_open else f" <= {high}"
    else:
        bounds = ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(message("number", name=name, value=value, range=bounds)) from None
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if isinstance(value, bool) or not np.isfinite(number) or below or above:
        raise ValueError(message("number", name=name, value=value, range=bounds))
    return number


def rng(seed: int | np.random.Generator | Sequence[int] | None) -> np.random.Generator:
    """The random generator for ``seed`` (None: fresh entropy; int; or a Generator, returned as is).

    Examples
    --------
    >>> int(rng(0).integers(10)) == int(rng(0).integers(10))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool)
                             or not isinstance(seed, (int, np.integer, Sequence))):
        raise ValueError(message("seed", value=seed))
    return np.random.default_rng(seed)
