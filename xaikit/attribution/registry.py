"""The registry of attribution methods, and ``explain`` which dispatches by name.

API
---
- ``@register(name=None, *, supports=ALL_KINDS, stochastic=False, per_channel=False,
  fast_options=None)``: add a
  method ``fn(model, images, targets=None, *, ..., batch_size=32) -> np.ndarray`` to ``METHODS``.
  ``supports`` lists the model kinds the method handles (the contract test builds each):
  ``"sequential"``, ``"functional"``, ``"nested"`` (a backbone model inside a Sequential),
  ``"softmax"`` / ``"logits"`` heads, ``"subclassed"`` (a ``keras.Model`` subclass with its own
  ``call``: only methods that need nothing but forward/backward passes handle it; the others raise
  a TypeError saying so; ``ANY_MODEL`` = every kind) and ``"requires_gap"`` to ask for a
  conv -> GlobalAveragePooling -> Dense head (CAM). ``stochastic`` methods take ``seed=``;
  ``per_channel`` says the default output is (N, H, W, C) rather than (N, H, W);
  ``fast_options`` are cheap settings (fewer samples/steps) the contract test passes.
- ``METHODS``: name -> function; ``INFO``: name -> :class:`MethodInfo`.
- ``explain(model, images, method="saliency", targets=None, **options) -> np.ndarray``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ALL_KINDS", "ANY_MODEL", "INFO", "METHODS", "MethodInfo", "explain", "get_method", "register"]

ALL_KINDS = frozenset({"sequential", "functional", "nested", "softmax", "logits"})
ANY_MODEL = ALL_KINDS | {"subclassed"}
_KNOWN_KINDS = ANY_MODEL | {"requires_gap"}


@dataclass(frozen=True)
class MethodInfo:
    """What the contract test and the docs need to know about a method."""

    name: str
    function: Callable[..., np.ndarray]
    supports: frozenset
    stochastic: bool
    per_channel: bool
    fast_options: Mapping[str, Any]


METHODS: dict[str, Callable[..., np.ndarray]] = {}
INFO: dict[str, MethodInfo] = {}


def register(
    name: str | None = None,
    *,
    supports: frozenset | set | tuple = ALL_KINDS,
    stochastic: bool = False,
    per_channel: bool = False,
    fast_options: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Decorator registering an attribution method under ``name`` (default: the function name)."""
    kinds = frozenset(supports)
    unknown = kinds - _KNOWN_KINDS
    if unknown:
        raise ValueError(f"unknown model kinds {sorted(unknown)}; allowed: {sorted(_KNOWN_KINDS)}")

    def decorate(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        key = name or function.__name__
        if key in METHODS and METHODS[key] is not function:
            raise ValueError(f"attribution method {key!r} is already registered")
        METHODS[key] = function
        INFO[key] = MethodInfo(key, function, kinds, stochastic, per_channel,
                                dict(fast_options or {}))
        return function

    return decorate


def get_method(method: str | Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """The registered function for ``method`` (a name or a function); unknown names list METHODS."""
    if callable(method):
        return method
    if method not in METHODS:
        raise ValueError(
            f"unknown attribution method {method!r}; allowed: {', '.join(sorted(METHODS))}"
        )
    return METHODS[method]


def explain(
    model: Any, images: Any, method: str = "saliency", targets: Any = None, **options: Any
) -> np.ndarray:
    """Explain ``model``'s decision on ``images`` with the attribution method named ``method``.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    method : str
        A key of ``xaikit.attribution.METHODS`` (e.g. "saliency", "integrated_gradients").
    targets : None, int, N ints, or tuple (A, B)
        See :mod:`xaikit.core.targets`.
    **options
        Passed to the method (``batch_size``, ``steps``, ``layer``, ...).

    Returns
    -------
    np.ndarray
        (N, H, W) maps, or (N, H, W, C) for per-channel methods/options.

    Raises
    ------
    ValueError
        Unknown method (the message lists ``METHODS``) or bad input.
    """
    return get_method(method)(model, images, targets, **options)
