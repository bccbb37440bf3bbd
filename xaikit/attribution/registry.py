"""The registry of attribution methods, and ``explain`` which dispatches by name.

API
---
- ``@register(name=None, *, supports=ALL_KINDS, on=ON, stochastic=False, per_channel=False,
  fast_options=None)``: add a method ``fn(model, images, targets=None, *, ..., output=None,
  on=..., batch_size=BATCH_SIZE) -> np.ndarray`` to ``METHODS``.
  ``supports`` lists the model kinds the method handles (the contract test builds each):
  ``"sequential"``, ``"functional"``, ``"nested"`` (a backbone model inside a Sequential),
  ``"softmax"`` / ``"logits"`` heads, ``"subclassed"`` (a ``keras.Model`` subclass with its own
  ``call``: only methods that need nothing but forward/backward passes handle it; the others raise
  a TypeError saying so; ``ANY_MODEL`` = every kind) and ``"requires_gap"`` to ask for a
  conv -> GlobalAveragePooling -> Dense head (CAM). ``on`` lists the values of ``on=`` the method
  defines (CAM, LRP and DeepLIFT explain logits only and refuse ``"probabilities"``).
  ``stochastic`` methods take ``seed=``; ``per_channel`` says the default output is
  (N, H, W, C) rather than (N, H, W); ``fast_options`` are cheap settings (fewer samples/steps)
  the contract test passes.
- ``METHODS``: name -> function; ``INFO``: name -> :class:`MethodInfo`.
- ``explain(model, images, targets=None, *, method="saliency", **options) -> np.ndarray``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_option
from xaikit.base.messages import message
from xaikit.base.vocabulary import ON

__all__ = ["ALL_KINDS", "ANY_MODEL", "INFO", "METHODS", "MethodInfo", "explain", "get_method",
           "register"]

ALL_KINDS = frozenset({"sequential", "functional", "nested", "softmax", "logits"})
ANY_MODEL = ALL_KINDS | {"subclassed"}
_KNOWN_KINDS = ANY_MODEL | {"requires_gap"}


@dataclass(frozen=True)
class MethodInfo:
    """What the contract test and the docs need to know about a method."""

    name: str
    function: Callable[..., np.ndarray]
    supports: frozenset
    on: tuple[str, ...]
    stochastic: bool
    per_channel: bool
    fast_options: Mapping[str, Any]


METHODS: dict[str, Callable[..., np.ndarray]] = {}
INFO: dict[str, MethodInfo] = {}


def register(
    name: str | None = None,
    *,
    supports: frozenset | set | tuple = ALL_KINDS,
    on: tuple[str, ...] = ON,
    stochastic: bool = False,
    per_channel: bool = False,
    fast_options: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Decorator registering an attribution method under ``name`` (default: the function name).

    Raises
    ------
    ValueError
        An unknown model kind or ``on`` value, or a name registered twice.
    """
    kinds = frozenset(supports)
    unknown = kinds - _KNOWN_KINDS
    if unknown:
        raise ValueError(message("option", name="supports", value=sorted(unknown),
                                 allowed=", ".join(sorted(_KNOWN_KINDS))))
    for value in on:
        check_option("on", value, ON)

    def decorate(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        key = name or function.__name__
        if key in METHODS and METHODS[key] is not function:
            raise ValueError(message("method_registered", name=key))
        METHODS[key] = function
        INFO[key] = MethodInfo(key, function, kinds, tuple(on), stochastic, per_channel,
                               dict(fast_options or {}))
        return function

    return decorate


def get_method(method: str | Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """The registered function for ``method`` (a name or a function); unknown names list METHODS."""
    if callable(method):
        return method
    if method not in METHODS:
        raise ValueError(message("method_unknown", name=method, allowed=", ".join(sorted(METHODS))))
    return METHODS[method]


def explain(
    model: Any, images: Any, targets: Any = None, *, method: str | Callable = "saliency",
    **options: Any,
) -> np.ndarray:
    """Explain ``model``'s decision on ``images`` with the attribution method ``method``.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    targets : None, int, N ints, or tuple (A, B)
        See :mod:`xaikit.core.targets`.
    method : str or callable
        A key of ``xaikit.attribution.METHODS`` (e.g. "saliency", "integrated_gradients") or a
        function with the method signature.
    **options
        Passed to the method (``output``, ``on``, ``batch_size``, ``steps``, ``layer``, ...).

    Returns
    -------
    np.ndarray
        (N, H, W) maps, or (N, H, W, C) for per-channel methods/options.

    Raises
    ------
    ValueError
        Unknown method (the message lists ``METHODS``) or bad input.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> explain(model, np.ones((1, 4, 4, 1)), 0, method="gradient_x_input").shape
    (1, 4, 4)
    """
    return get_method(method)(model, images, targets, **options)
