"""The one vocabulary of the kit's methods and metrics: option names, their values, defaults.

Every attribution method has the signature ``method(model, images, targets=None, *, ...,
output=None, on=..., batch_size=BATCH_SIZE, seed=...)`` and every model-based metric
``metric(model, images, maps_or_method, targets=None, *, ..., batch_size=BATCH_SIZE, seed=0)``:

- ``output``: which output of a multi-output model (an index or an output layer's name);
- ``on``: what is explained, one of :data:`ON`: ``"logits"`` (the class scores before a final
  softmax/sigmoid) or ``"probabilities"`` (after it; the softmax of the logits for a model with a
  linear head);
- ``baseline``: what replaces removed information (IG's path start, DeepLIFT's reference, the
  occluder, the value of switched-off superpixels): a name of :data:`BASELINES`, a number, or an
  array broadcastable to the images;
- ``batch_size``: how many (perturbed, noisy, interpolated) images go through one compiled call;
  :data:`BATCH_SIZE` by default everywhere, so memory is bounded the same way in every method;
- ``seed``: an int, None or a NumPy Generator (:func:`xaikit.base.checks.rng`);
- ``layer``: a layer name, an index into ``model.layers``, a layer, or None (the last 4-D layer).

This module imports no TensorFlow, so the data layer, ``viz``, the metrics and the docs share it.
"""

from __future__ import annotations

__all__ = ["BASELINES", "BATCH_SIZE", "ON"]

BATCH_SIZE = 32
"""The default internal batch of every method and metric (images per compiled call)."""

ON = ("logits", "probabilities")
"""The values of ``on=``: explain the scores before the final softmax/sigmoid, or after it."""

BASELINES = ("black", "grey", "mean", "blurred", "random")
"""Named baselines: zeros, 0.5, each image's per-channel mean, a Gaussian blur of the image,
uniform noise in the image's range (seeded)."""
