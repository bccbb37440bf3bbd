"""What every metric shares: turning ``maps_or_method`` into maps, and the per-image result shape.

API
---
- ``attribution_maps(model, images, maps_or_method, targets=None, *, batch_size=32, seed=0,
  options=None) -> np.ndarray``: float64 (N, H, W). Precomputed maps are checked (count, size,
  finiteness); a method name or callable is run once on all images, batched by the method itself.
- ``is_method(maps_or_method) -> bool``.
- ``explainer(maps_or_method, *, batch_size=32, seed=0, options=None)``: a function
  ``(model, images, targets) -> maps`` for metrics that explain perturbed inputs or other
  models again (randomisation, sensitivity); refuses precomputed maps with a clear error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from xaikit.attribution.registry import INFO, get_method
from xaikit.base.checks import check_images, check_maps
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE

__all__ = ["attribution_maps", "explainer", "is_method"]


def is_method(maps_or_method: Any) -> bool:
    """True for a method name or a callable, False for precomputed maps."""
    return isinstance(maps_or_method, str) or callable(maps_or_method)


def explainer(maps_or_method: Any, *, batch_size: int = BATCH_SIZE, seed: int | None = 0,
              options: Mapping[str, Any] | None = None) -> Callable[..., np.ndarray]:
    """``(model, images, targets) -> (N, H, W) maps`` for a method given by name or callable.

    Raises
    ------
    TypeError
        ``maps_or_method`` is precomputed maps: this metric explains other inputs or models.
    ValueError
        An unknown method name (the message lists ``METHODS``).
    """
    if not is_method(maps_or_method):
        raise TypeError(message(
            "expected", name="maps_or_method",
            expected="an attribution method (a name of xaikit.attribution.METHODS or a callable), "
                     "because this metric explains perturbed inputs or other models again",
            got="precomputed maps", fix="; pass the method, e.g. 'saliency'"))
    function = get_method(maps_or_method)
    extra = dict(options or {})
    accepted = inspect.signature(function).parameters
    if "batch_size" in accepted:
        extra.setdefault("batch_size", batch_size)
    name = maps_or_method if isinstance(maps_or_method, str) else getattr(function, "__name__", "")
    if "seed" in accepted and (name not in INFO or INFO[name].stochastic):
        extra.setdefault("seed", seed)

    def explain(model: Any, images: np.ndarray, targets: Any = None) -> np.ndarray:
        maps = np.asarray(function(model, images, targets, **extra))
        if maps.ndim == 4:
            maps = maps.sum(axis=-1)
        return check_maps(maps, len(images), images.shape[1:3], name=f"maps of {name or 'method'}")

    return explain


def attribution_maps(
    model: Any,
    images: Any,
    maps_or_method: Any,
    targets: Any = None,
    *,
    batch_size: int = BATCH_SIZE,
    seed: int | None = 0,
    options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Maps (N, H, W) float64: ``maps_or_method`` checked, or computed by the method.

    Parameters
    ----------
    model : keras.Model
        The explained classifier (used only when a method is given).
    images : array (N, H, W, C)
    maps_or_method : array (N, H, W), str or callable
        Precomputed maps, a name of :data:`xaikit.attribution.METHODS`, or a function with the
        method signature ``f(model, images, targets, **options)``. Per-channel maps (N, H, W, C)
        from a method are summed over channels.
    targets : None, int or N ints
        The explained classes (None: the predicted class).
    batch_size, seed : passed to the method when it takes them.
    options : mapping, optional
        Further keyword arguments of the method.

    Returns
    -------
    np.ndarray
        float64 (N, H, W).
    """
    images = check_images(images)
    if is_method(maps_or_method):
        return explainer(maps_or_method, batch_size=batch_size, seed=seed,
                         options=options)(model, images, targets)
    return check_maps(maps_or_method, len(images), images.shape[1:3])
