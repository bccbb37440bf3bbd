"""Backprop-rule family: deconvnet and guided backpropagation.

Introduced in lesson 04. Both methods run the ordinary forward pass and change only how a
gradient crosses each ReLU (Kim's slides, "Backprop. Based"; f is the ReLU's input in the
forward pass, R the signal arriving from above):

- backprop:          R_in = R_out * [f > 0]
- deconvnet:         R_in = R_out * [R_out > 0]              (Zeiler & Fergus, ECCV 2014)
- guided backprop:   R_in = R_out * [f > 0] * [R_out > 0]    (Springenberg et al., ICLR-W 2015)

The rule is applied in a rewritten model that shares the user's weights
(:func:`xaikit.core.models.relu_override_model`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from xaikit.attribution.gradients import reduce_channels
from xaikit.attribution.registry import register
from xaikit.core import batching, cached, relu_override_model, resolve

__all__ = ["deconvnet", "guided_backprop", "modified_backprop"]


def modified_backprop(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    rule: str,
    allow_other_activations: bool = False,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """dS/dx with every ReLU's backward pass replaced by ``rule``; (N, H, W, C).

    ``rule`` is "deconvnet" or "guided_backprop"; the other parameters are those of
    :func:`guided_backprop`.
    """
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    rewritten = cached(
        model, ("relu_override", rule, on, output, allow_other_activations),
        lambda: relu_override_model(resolved.model, rule,
                                    allow_other_activations=allow_other_activations),
    )
    _, grads = batching.gradients(rewritten, resolved.images, resolved.weights, batch_size=batch_size)
    return grads


@register()
def deconvnet(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    signed: bool = False,
    per_channel: bool = False,
    allow_other_activations: bool = False,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Deconvnet reconstruction of the target score (Zeiler & Fergus, ECCV 2014, Sec. 2.1).

    .. math:: R^{(l)} = R^{(l+1)} \\cdot [R^{(l+1)} > 0] \\quad \\text{at every ReLU}

    Parameters as :func:`guided_backprop`.
    """
    grads = modified_backprop(model, images, targets, rule="deconvnet",
                              allow_other_activations=allow_other_activations, on=on,
                              output=output, batch_size=batch_size)
    return reduce_channels(grads, signed=signed, per_channel=per_channel)


@register()
def guided_backprop(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    signed: bool = False,
    per_channel: bool = False,
    allow_other_activations: bool = False,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Guided backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller, ICLR-W 2015, Fig. 1).

    .. math:: R^{(l)} = R^{(l+1)} \\cdot [f^{(l)} > 0] \\cdot [R^{(l+1)} > 0] \\quad
              \\text{at every ReLU}

    Parameters
    ----------
    model : keras.Model
        Sequential or functional (nested models followed) with ReLU hidden activations:
        ``activation="relu"`` in Dense/Conv layers, ``ReLU`` layers, ``Activation("relu")``.
    images, targets, on, output, batch_size
        As :func:`xaikit.attribution.gradient`.
    signed, per_channel : bool
        Channel reduction as :func:`xaikit.attribution.saliency`; ``signed=True,
        per_channel=True`` gives the raw (N, H, W, C) signal (used by guided Grad-CAM).
    allow_other_activations : bool
        Hidden activations other than ReLU raise a ValueError unless True (they then keep
        their ordinary gradient).

    Returns
    -------
    np.ndarray
        (N, H, W), or (N, H, W, C) with ``per_channel=True``.
    """
    grads = modified_backprop(model, images, targets, rule="guided_backprop",
                              allow_other_activations=allow_other_activations, on=on,
                              output=output, batch_size=batch_size)
    return reduce_channels(grads, signed=signed, per_channel=per_channel)
