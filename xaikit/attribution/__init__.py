"""Attribution methods: one module per family, every method a plain function.

``method(model, images, targets=None, *, ..., batch_size=32) -> np.ndarray``, registered by name
in :data:`METHODS` and dispatched by :func:`explain`:

- :mod:`~xaikit.attribution.gradients`: ``gradient``, ``saliency``, ``gradient_x_input``,
  ``smoothgrad``, ``interior_gradients``, ``integrated_gradients``;
- :mod:`~xaikit.attribution.backprop`: ``deconvnet``, ``guided_backprop``;
- :mod:`~xaikit.attribution.class_activation`: ``cam``, ``grad_cam``, ``grad_cam_pp``,
  ``score_cam``, ``layer_cam``, ``guided_grad_cam``;
- :mod:`~xaikit.attribution.perturbation`: ``occlusion``, ``rise``;
- :mod:`~xaikit.attribution.surrogate`: ``lime``, ``kernel_shap``, ``meaningful_perturbation``;
- :mod:`~xaikit.attribution.relevance`: ``lrp``, ``deep_taylor``, ``deeplift``.

Importing a family module registers its methods; every method is also a name of this package.
"""

from __future__ import annotations

from xaikit.attribution import (  # noqa: F401  (importing a family registers its methods)
    backprop,
    class_activation,
    gradients,
    perturbation,
    relevance,
    surrogate,
)
from xaikit.attribution.registry import INFO, METHODS, MethodInfo, explain, get_method, register

globals().update(METHODS)

__all__ = ["INFO", "METHODS", "MethodInfo", "explain", "get_method", "register", *sorted(METHODS)]
