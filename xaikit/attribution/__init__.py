"""Attribution methods: one module per family, every method a plain function.

``method(model, images, targets=None, *, ..., output=None, on=..., batch_size=32) -> np.ndarray``
(the vocabulary of :mod:`xaikit.base.vocabulary`), registered by name in :data:`METHODS` and
dispatched by ``explain(model, images, targets=None, *, method=...)``:

- :mod:`~xaikit.attribution.gradients`: ``gradient``, ``saliency``, ``gradient_x_input``,
  ``smoothgrad``, ``interior_gradients``, ``integrated_gradients`` (and ``completeness_gap``);
- :mod:`~xaikit.attribution.backprop`: ``deconvnet``, ``guided_backprop``;
- :mod:`~xaikit.attribution.class_activation`: ``cam``, ``grad_cam``, ``grad_cam_pp``,
  ``score_cam``, ``layer_cam``, ``guided_grad_cam``;
- :mod:`~xaikit.attribution.perturbation`: ``occlusion``, ``rise``;
- :mod:`~xaikit.attribution.surrogate`: ``lime``, ``kernel_shap``, ``meaningful_perturbation``
  (and ``lime_details``, ``kernel_shap_details``: the fitted surrogates);
- :mod:`~xaikit.attribution.relevance`: ``lrp``, ``deep_taylor``, ``deeplift`` (and
  ``lrp_details``, ``deeplift_details``: per-channel relevance with the conservation check).

Importing a family module registers its methods; every method is also a name of this package.
Every method returns an array; the ``*_details`` functions always return their result object.
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
from xaikit.attribution.gradients import completeness_gap
from xaikit.attribution.registry import INFO, METHODS, MethodInfo, explain, get_method, register
from xaikit.attribution.relevance import deeplift_details, lrp_details
from xaikit.attribution.surrogate import kernel_shap_details, lime_details

globals().update(METHODS)

__all__ = ["INFO", "METHODS", "MethodInfo", "completeness_gap", "deeplift_details", "explain",
           "get_method", "kernel_shap_details", "lime_details", "lrp_details", "register",
           *sorted(METHODS)]
