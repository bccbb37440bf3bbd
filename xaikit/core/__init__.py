"""Shared TensorFlow plumbing for every explanation method: targets, model surgery, batching.

A method module calls :func:`resolve` (checked images, explained model, target weights), then one
of the batched, compiled primitives.  Nothing here knows about a particular method, a model zoo or
a dataset; ``core`` imports only :mod:`xaikit.base`.  Importing ``xaikit.core`` itself is cheap:
every name below is loaded (with TensorFlow) on first use.

Modules
-------
- :mod:`~xaikit.core.checks`: the checks of :mod:`xaikit.base.checks` (no TensorFlow).
- :mod:`~xaikit.core.targets`: ``score``, ``target_weights``, ``explicit_targets``.
- :mod:`~xaikit.core.resolution`: ``resolve`` -> :class:`Resolved`, ``head_model``.
- :mod:`~xaikit.core.surgery`: all model surgery — ``find_layer``, ``spatial_layer``,
    ``gap_dense``, ``logits_model``, ``explained_model``, ``select_output``, ``activation_model``,
    ``relu_override_model``, ``layer_chain``.
- :mod:`~xaikit.core.batching`: ``batch_slices``, ``run_batched``, ``cached``, compiled
    ``forward_function`` / ``gradient_function``, ``predict``.
- :mod:`~xaikit.core.gradients`: ``input_gradients``, ``layer_gradients``, ``rule_gradients``,
    ``tap_model``, the SmoothGrad and IG engines.
- :mod:`~xaikit.core.masking`: ``masked_outputs`` (forward passes on masked copies of an image).
- :mod:`~xaikit.core.baselines`: ``baseline_images`` (the shared baseline names).
- :mod:`~xaikit.core.maps`: ``reduce_channels``, ``upsample_maps``, ``accumulate``.
"""

from __future__ import annotations

import importlib
from typing import Any

from xaikit.base.messages import message

_HOMES = {
    "checks": ("check_images", "check_int", "check_number", "check_option", "check_targets",
               "rng"),
    "targets": ("score", "target_weights", "explicit_targets"),
    "resolution": ("Resolved", "resolve", "head_model"),
    "surgery": ("activation_model", "explained_model", "find_layer", "gap_dense", "iter_layers",
                "layer_chain", "logits_model", "output_activation", "relu_override_model",
                "select_output", "spatial_layer"),
    "batching": ("batch_slices", "cached", "forward_function", "gradient_function", "predict",
                 "run_batched"),
    "gradients": ("LayerGradients", "input_gradients", "layer_gradients", "rule_gradients",
                  "tap_model"),
    "masking": ("masked_outputs",),
    "baselines": ("baseline_images",),
    "maps": ("accumulate", "reduce_channels", "upsample_maps"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return importlib.import_module(f"xaikit.core.{name}")
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"xaikit.core.{_MODULE_OF[name]}"), name)
    raise AttributeError(message("no_attribute", module=__name__, name=name))


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_HOMES})
