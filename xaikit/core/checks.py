"""Validation of images, targets and options, with messages that say what is allowed.

API
---
- ``check_images(images, model=None, *, name="images") -> np.ndarray``: a float32 (N, H, W, C)
  copy-free view of the input, checked for rank, finiteness and (with ``model``) the model's
  input shape.
- ``check_targets(targets, n_images, n_classes) -> (classes, contrast)``: per-image class
  arrays; ``classes`` holds ``-1`` where the predicted class is wanted, ``contrast`` is ``None``
  or the per-image second class of a contrastive pair ``(A, B)``.
- ``check_option(name, value, allowed)``, ``check_int(name, value, minimum=...)``,
  ``check_number(name, value, low=..., high=...)``: option validation.
- ``rng(seed) -> np.random.Generator``: the one source of randomness for technique code
  (``None``, an int or a Generator).
- ``warn(message)``: a UserWarning pointing at the user's line, not at xaikit's internals.
- ``MESSAGES``: the message templates (tested).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MESSAGES = {
    "type": "{name} must be a NumPy array or tensor of numbers; got {got}",
    "rank": "{name} has shape {shape}; expected a batch of images (N, H, W, C){fix}",
    "empty": "{name} is empty (shape {shape}); expected at least one image",
    "channels": "{name} has {got} channel(s); the model expects {expected} "
    "(model input shape {model_shape})",
    "size": "{name} has spatial size {got}; the model expects {expected} "
    "(model input shape {model_shape})",
    "finite": "{name} contains {count} NaN or infinite value(s); all values must be finite",
    "target_type": "targets={got!r} is not understood; allowed: None (the predicted class), an "
    "int, a list/array of N ints (one per image), or a contrastive pair (A, B) as a tuple",
    "target_count": "targets has {got} entries but there are {n_images} images; give one int "
    "per image, a single int, or None",
    "target_range": "target class(es) {bad} out of range; the model has {n_classes} classes, "
    "allowed 0..{last}",
    "option": "{name}={value!r} is not allowed; allowed: {allowed}",
    "int": "{name}={value!r} must be an int >= {minimum}",
    "number": "{name}={value!r} must be a finite number{range}",
}


def _fmt(key: str, **fields: Any) -> str:
    return MESSAGES[key].format(**fields)


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
    ValueError
        Wrong rank, empty batch, wrong channel count or size, NaN or inf values.

    Examples
    --------
    >>> check_images(np.zeros((2, 8, 8, 3))).dtype
    dtype('float32')
    """
    try:
        array = np.asarray(images)
    except (TypeError, ValueError) as error:
        raise TypeError(_fmt("type", name=name, got=type(images).__name__)) from error
    if array.dtype.kind not in "fiub":
        raise TypeError(_fmt("type", name=name, got=f"dtype {array.dtype}"))
    if array.ndim != 4:
        fix = f"; use {name}[None] for a single image" if array.ndim == 3 else ""
        raise ValueError(_fmt("rank", name=name, shape=array.shape, fix=fix))
    if array.shape[0] == 0:
        raise ValueError(_fmt("empty", name=name, shape=array.shape))
    array = array.astype(np.float32, copy=False)
    if model is not None:
        _check_against_model(array, model, name)
    if not np.isfinite(array.sum()) and not np.isfinite(array).all():
        count = int((~np.isfinite(array)).sum())
        raise ValueError(_fmt("finite", name=name, count=count))
    return array


def _check_against_model(array: np.ndarray, model: Any, name: str) -> None:
    model_shape = tuple(model_input_shape(model))
    if len(model_shape) != 4:
        raise ValueError(
            f"the model's input shape is {model_shape}; xaikit explains image models with a "
            "single (N, H, W, C) input"
        )
    _, height, width, channels = model_shape
    if channels is not None and array.shape[3] != channels:
        raise ValueError(
            _fmt("channels", name=name, got=array.shape[3], expected=channels, model_shape=model_shape)
        )
    expected = (height, width)
    if any(e is not None and e != g for e, g in zip(expected, array.shape[1:3])):
        raise ValueError(
            _fmt("size", name=name, got=array.shape[1:3], expected=expected, model_shape=model_shape)
        )


def model_input_shape(model: Any) -> tuple:
    """The (None, H, W, C) input shape of a single-input Keras model, with a clear error."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"cannot read the input shape of {type(model).__name__}; build the model with "
            "keras.Input(shape=(H, W, C)) or call it once on a batch"
        ) from error
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(f"the model has {len(shape)} inputs; xaikit explains single-input models")
        shape = shape[0]
    return tuple(shape)


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
    """
    if isinstance(targets, tuple):
        if len(targets) != 2:
            raise ValueError(_fmt("target_type", got=targets))
        first = _per_image(targets[0], n_images, n_classes)
        second = _per_image(targets[1], n_images, n_classes)
        return first, second
    return _per_image(targets, n_images, n_classes), None


def _per_image(targets: Any, n_images: int, n_classes: int) -> np.ndarray:
    if targets is None:
        return np.full(n_images, -1, dtype=np.int64)
    if isinstance(targets, (bool, np.bool_)) or isinstance(targets, (str, bytes, dict, set)):
        raise ValueError(_fmt("target_type", got=targets))
    array = np.asarray(targets)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise ValueError(_fmt("target_type", got=targets))
    if array.ndim == 0:
        array = np.full(n_images, int(array), dtype=np.int64)
    elif array.shape[0] != n_images:
        raise ValueError(_fmt("target_count", got=array.shape[0], n_images=n_images))
    bad = sorted({int(t) for t in array if not 0 <= t < n_classes})
    if bad:
        raise ValueError(_fmt("target_range", bad=bad, n_classes=n_classes, last=n_classes - 1))
    return array.astype(np.int64)


def warn(message: str) -> None:
    """A UserWarning attributed to the first caller outside xaikit (the user's line)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("xaikit."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError listing them."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(_fmt("option", name=name, value=value, allowed=", ".join(map(repr, allowed))))
    return value


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(_fmt("int", name=name, value=value, minimum=minimum))
    return int(value)


def check_number(
    name: str, value: Any, *, low: float | None = None, high: float | None = None
) -> float:
    """Return ``value`` as float if it is finite and within ``[low, high]`` (bounds optional)."""
    bounds = f" in [{low}, {high}]" if low is not None and high is not None else (
        f" >= {low}" if low is not None else (f" <= {high}" if high is not None else "")
    )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(_fmt("number", name=name, value=value, range=bounds)) from None
    if isinstance(value, bool) or not np.isfinite(number):
        raise ValueError(_fmt("number", name=name, value=value, range=bounds))
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(_fmt("number", name=name, value=value, range=bounds))
    return number


def rng(seed: int | np.random.Generator | Sequence[int] | None) -> np.random.Generator:
    """The random generator for ``seed`` (None: fresh entropy; int; or a Generator, returned as is).

    Examples
    --------
    >>> rng(0).integers(10) == rng(0).integers(10)
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer, Sequence))):
        raise ValueError(f"seed={seed!r} is not allowed; allowed: None, an int or a numpy Generator")
    return np.random.default_rng(seed)
