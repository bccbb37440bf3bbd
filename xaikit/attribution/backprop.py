"""Backprop-rule family: deconvnet and guided backpropagation.

Introduced in lesson 04. Both methods run the ordinary forward pass and change only how a
gradient crosses each ReLU (Kim's slides, "Backprop. Based"; f is the ReLU's input in the
forward pass, R the signal arriving from above):

- backprop:          R_in = R_out * [f > 0]
- deconvnet:         R_in = R_out * [R_out > 0]              (Zeiler & Fergus, ECCV 2014)
- guided backprop:   R_in = R_out * [f > 0] * [R_out > 0]    (Springenberg et al., ICLR-W 2015)

The rule is applied in a rewritten model that shares the user's weights
(:func:`xaikit.core.surgery.relu_override_model`, which also covers ReLU6).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from xaikit.attribution.registry import register
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core.gradients import rule_gradients
from xaikit.core.maps import reduce_channels

__all__ = ["deconvnet", "guided_backprop"]


@register()
def deconvnet(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    signed: bool = False,
    per_channel: bool = False,
    allow_other_activations: bool = False,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Deconvnet reconstruction of the target score (Zeiler & Fergus, ECCV 2014, Sec. 2.1).

    .. math:: R^{(l)} = R^{(l+1)} \\cdot [R^{(l+1)} > 0] \\quad \\text{at every ReLU}

    Parameters as :func:`guided_backprop`.
    """
    grads, _ = rule_gradients(model, images, targets, rule="deconvnet",
                              allow_other_activations=allow_other_activations, output=output,
                              on=on, batch_size=batch_size)
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
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Guided backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller, ICLR-W 2015, Fig. 1).

    .. math:: R^{(l)} = R^{(l+1)} \\cdot [f^{(l)} > 0] \\cdot [R^{(l+1)} > 0] \\quad
              \\text{at every ReLU}

    Parameters
    ----------
    model : keras.Model
        Sequential or functional (nested models followed) with ReLU or ReLU6 hidden activations:
        ``activation="relu" | "relu6"`` in Dense/Conv layers, ``ReLU`` layers (plain or
        ``max_value=6``), ``Activation("relu" | "relu6")``.
    images, targets, output, on, batch_size
        As :func:`xaikit.attribution.gradient`.
    signed, per_channel : bool
        Channel reduction as :func:`xaikit.attribution.saliency`; ``signed=True,
        per_channel=True`` gives the raw (N, H, W, C) signal (used by guided Grad-CAM).
    allow_other_activations : bool
        Hidden activations other than ReLU/ReLU6 raise a ValueError unless True (they then keep
        their ordinary gradient).

    Returns
    -------
    np.ndarray
        (N, H, W), or (N, H, W, C) with ``per_channel=True``.

    Notes
    -----
    At a ReLU6 the forward mask is its own gradient, [0 < f < 6]: a unit saturated at 6 passes
    nothing back, as in ordinary backpropagation.
    """
    grads, _ = rule_gradients(model, images, targets, rule="guided_backprop",
                              allow_other_activations=allow_other_activations, output=output,
                              on=on, batch_size=batch_size)
    return reduce_channels(grads, signed=signed, per_channel=per_channel)
