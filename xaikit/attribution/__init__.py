"""Attribution methods: one module per family, every method a plain function.

``method(model, images, targets=None, *, ..., batch_size=32) -> np.ndarray``, registered by name
in :data:`METHODS` and dispatched by :func:`explain`:

- :mod:`~xaikit.attribution.gradients`: ``gradient``, ``saliency``, ``gradient_x_input``,
  ``smoothgrad``, ``interior_gradients``, ``integrated_gradients``;
- :mod:`~xaikit.attribution.backprop`: ``deconvnet``, ``guided_backprop``;
- further families (``cam``, ``perturbation``, ``surrogate``, ``relevance``) register themselves
  when their module exists.
"""

from __future__ import annotations

import importlib

from xaikit.attribution.registry import INFO, METHODS, MethodInfo, explain, get_method, register

_FAMILIES = ("gradients", "backprop", "cam", "perturbation", "surrogate", "relevance")

for _family in _FAMILIES:
    try:
        importlib.import_module(f"xaikit.attribution.{_family}")
    except ModuleNotFoundError as _error:
        if _error.name != f"xaikit.attribution.{_family}":
            raise

globals().update({name: fn for name, fn in METHODS.items() if name not in _FAMILIES})

__all__ = ["INFO", "METHODS", "MethodInfo", "explain", "get_method", "register", *sorted(METHODS)]
