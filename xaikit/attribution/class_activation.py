"""Class activation maps: CAM, Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM, guided Grad-CAM.

Introduced in lesson 05. Every method weights the activations A^k (k = 1..K) of one spatial layer
(by name, index, or the last layer with a 4-D output, also inside nested backbones, see
:func:`xaikit.core.surgery.spatial_layer`) and differs only in the weights:

==================  ==================================================================
``cam``             w_k^c, the dense weights after global average pooling (Zhou 2016)
``grad_cam``        alpha_k^c = mean_ij dS_c/dA^k_ij                 (Selvaraju 2017)
``grad_cam_pp``     sum_ij alpha_ij^kc relu(dS_c/dA^k_ij)        (Chattopadhay 2018)
``layer_cam``       relu(dS_c/dA^k_ij), one weight per position       (Jiang 2021)
``score_cam``       the class probability of the image masked by A^k   (Wang 2020)
==================  ==================================================================

The gradient methods take one compiled forward+backward per internal batch
(:func:`xaikit.core.layer_gradients`); Score-CAM takes K masked forward passes per image, batched.
Maps are computed on the layer's (h, w) grid and then upsampled to the input size (H, W) by
bilinear interpolation with half-pixel centres (:func:`xaikit.core.maps.upsample_maps`, as
``tf.image.resize`` and ``cv2.resize`` in the Grad-CAM authors' code); ``upsample=False`` returns the (h, w) grid. Values are raw: no
normalisation (that lives in :mod:`xaikit.viz`).

Conventions compared with tf-keras-vis 0.8.7 (``Gradcam``, ``GradcamPlusPlus``, ``Scorecam``,
``Layercam``), which the tests match within 1e-4 on the (h, w) grid: tf-keras-vis normalises
each map to [0, 1] by default (``normalize_cam=True``) and resizes with ``scipy.ndimage.zoom``
(order 1, corners aligned), where xaikit returns raw values resized with half-pixel centres; its
Grad-CAM++ weights carry the positive per-image factor exp(S_c) (see :func:`grad_cam_pp`); its
Score-CAM applies a softmax to whatever the model outputs (a softmax model gets two), where
xaikit applies one softmax to the logits.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.attribution.registry import ALL_KINDS, register
from xaikit.base.checks import check_option
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core.batching import cached, compile_function, predict, run_batched, weights_spec
from xaikit.core.gradients import LayerGradients, layer_gradients, rule_gradients, tap_model
from xaikit.core.maps import reduce_channels, upsample_maps
from xaikit.core.resolution import resolve
from xaikit.core.surgery import gap_dense, spatial_layer
from xaikit.core.targets import score as target_score

__all__ = ["cam", "grad_cam", "grad_cam_pp", "guided_grad_cam", "layer_cam", "score_cam"]

MASK_EPSILON = 1e-7  # Score-CAM: (A - min) / (max - min + eps), as in tf-keras-vis (K.epsilon())
CAM_TOLERANCE = 1e-3  # cam: |mean_ij CAM_c + b_c - S_c| allowed, relative to max(1, |S_c|)
LayerRef = str | int | keras.layers.Layer | None


def _finish(maps: np.ndarray, images: np.ndarray, upsample: bool) -> np.ndarray:
    maps = np.asarray(maps, np.float32)
    return upsample_maps(maps, images.shape[1:3]) if upsample else maps


def _gradients(model, images, targets, layer, on, output, batch_size) -> LayerGradients:
    spatial_layer(model, layer)
    return layer_gradients(model, images, targets, layer=layer, on=on, output=output,
                           batch_size=batch_size)


@register(supports=ALL_KINDS | {"requires_gap"}, on=("logits",))
def cam(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: LayerRef = None,
    upsample: bool = True,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Class activation mapping (Zhou, Khosla, Lapedriza, Oliva & Torralba, CVPR 2016, Eq. 2).

    For a net whose last spatial layer A (K channels) feeds global average pooling and then one
    dense layer with weights w^c, the class score is S_c = (1/Z) sum_ij M_c(i, j) + b_c with

    .. math:: M_c(i, j) = \\sum_k w_k^c A^k_{ij}

    No ReLU is applied (the paper shows M_c as is). A contrastive target (A, B) gives
    M_A - M_B. The dense weights are read from the model; the architecture is then checked on
    the numbers: mean_ij M_c + b_c must equal the logit S_c for every image, else a ValueError.

    Parameters
    ----------
    model : keras.Model
        Sequential, functional or nested model with a conv -> GAP -> Dense(logits) head
        (a final softmax/sigmoid is allowed).
    images : array (N, H, W, C)
    targets : None, int, N ints or tuple (A, B)
        None explains the predicted class.
    layer : str, int, Layer or None
        The layer feeding the global average pooling; None = the last 4-D layer.
    upsample : bool
        Upsample the (h, w) maps to the input size (bilinear); False keeps (h, w).
    output : int or str, optional
        Which output of a multi-output model.
    on : {"logits"}
        CAM decomposes the logits (the dense layer's scores); probabilities are not a sum over
        positions, so ``on="probabilities"`` raises.
    batch_size : int
        Images per compiled forward pass.

    Returns
    -------
    np.ndarray
        float32 (N, H, W) raw maps (or (N, h, w) with ``upsample=False``).

    Raises
    ------
    ValueError
        Unknown/non-spatial layer, a head that is not GAP + Dense (use :func:`grad_cam`), or
        ``on="probabilities"``.
    """
    check_option("on", on, ("logits",))
    spatial_layer(model, layer)
    resolved = resolve(model, images, targets, output=output, batch_size=batch_size)
    activations, logits = predict(tap_model(model, layer, output=output), resolved.images,
                                  batch_size=batch_size)
    name, kernel, bias = gap_dense(resolved.model, activations.shape[-1])
    class_weights = kernel @ resolved.weights.T  # (K, N): w^c per image (w^A - w^B for pairs)
    maps = np.einsum("nhwk,kn->nhw", activations, class_weights)
    implied = maps.mean(axis=(1, 2)) + resolved.weights @ bias
    explained = (logits * resolved.weights).sum(axis=1)
    if np.any(np.abs(implied - explained) > CAM_TOLERANCE * np.maximum(1.0, np.abs(explained))):
        raise ValueError(message("cam_not_gap", layer=name,
                                 gap=f"{np.abs(implied - explained).max():.3g}"))
    return _finish(maps, resolved.images, upsample)


@register()
def grad_cam(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: LayerRef = None,
    counterfactual: bool = False,
    upsample: bool = True,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Grad-CAM (Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, ICCV 2017, Eqs. 1-2).

    .. math::
        \\alpha_k^c = \\frac{1}{Z} \\sum_{ij} \\frac{\\partial S_c}{\\partial A^k_{ij}},
        \\qquad L^c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha_k^c A^k\\Big)

    ``counterfactual=True`` negates the gradients (Sec. 3, "Counterfactual explanations"): the
    map shows the regions whose removal would make the network more confident in class c. On a
    GAP + dense net alpha_k^c = w_k^c / Z, so Grad-CAM = ReLU(CAM) / Z exactly (tested).

    Parameters
    ----------
    model : keras.Model
        Sequential, functional or nested; softmax or logits head.
    images : array (N, H, W, C)
    targets : None, int, N ints or tuple (A, B)
        None explains the predicted class; (A, B) explains S_A - S_B.
    layer : str, int, Layer or None
        The spatial layer A; None = the last layer with a 4-D output (nested models searched).
    counterfactual : bool
        Use -dS_c/dA (Selvaraju et al., Eq. 4 of the arXiv v3/IJCV version).
    upsample : bool
        Upsample to the input size (bilinear, half-pixel centres); False keeps (h, w).
    on : {"logits", "probabilities"}
        Differentiate the pre-softmax score (default, as the paper) or the probability.
    output : int or str, optional
        Which output of a multi-output model.
    batch_size : int
        Images per compiled forward+backward call.

    Returns
    -------
    np.ndarray
        float32 (N, H, W) raw (unnormalised, non-negative) maps.

    Raises
    ------
    ValueError
        Unknown layer or a layer without a 4-D output (the message lists the allowed layers).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(2, 3, padding="same", activation="relu"),
    ...     keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    >>> grad_cam(model, np.ones((2, 8, 8, 1)), 0).shape
    (2, 8, 8)
    """
    taken = _gradients(model, images, targets, layer, on, output, batch_size)
    grads = -taken.gradients if counterfactual else taken.gradients
    alpha = grads.mean(axis=(1, 2), keepdims=True)
    maps = np.maximum((alpha * taken.activations).sum(axis=-1), 0.0)
    return _finish(maps, taken.resolved.images, upsample)


@register()
def grad_cam_pp(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: LayerRef = None,
    upsample: bool = True,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Grad-CAM++ (Chattopadhay, Sarkar, Howlader & Balasubramanian, WACV 2018, Eqs. 10, 19).

    With g = dS_c/dA^k_ij and the exponential score Y_c = exp(S_c) of the paper (which makes the
    higher derivatives powers of g):

    .. math::
        \\alpha_{ij}^{kc} = \\frac{g^2}{2 g^2 + \\sum_{ab} A^k_{ab}\\, g^3}, \\qquad
        w_k^c = \\sum_{ij} \\alpha_{ij}^{kc}\\, \\mathrm{ReLU}(g), \\qquad
        L^c = \\mathrm{ReLU}\\Big(\\sum_k w_k^c A^k\\Big)

    As in the authors' code (and tf-keras-vis), alpha is set to 0 where g = 0 and each
    channel's alphas are divided by their spatial sum. The paper's weights carry the positive
    per-image factor exp(S_c) (from dY_c/dA = exp(S_c) g); it does not change a map's shape and
    overflows float32 for S_c > 88, so it is left out: multiply by exp(S_c) for the paper's scale.

    Parameters
    ----------
    model, images, targets, layer, upsample, on, output, batch_size
        As :func:`grad_cam`.

    Returns
    -------
    np.ndarray
        float32 (N, H, W) raw maps.
    """
    taken = _gradients(model, images, targets, layer, on, output, batch_size)
    grads, activations = taken.gradients, taken.activations
    second, third = grads**2, grads**3
    denominator = 2.0 * second + activations.sum(axis=(1, 2), keepdims=True) * third
    alpha = second / np.where(second == 0.0, denominator + 1.0, denominator)
    total = alpha.sum(axis=(1, 2), keepdims=True)
    alpha = alpha / np.where(total == 0.0, 1.0, total)
    weights = (alpha * np.maximum(grads, 0.0)).sum(axis=(1, 2), keepdims=True)
    maps = np.maximum((weights * activations).sum(axis=-1), 0.0)
    return _finish(maps, taken.resolved.images, upsample)


@register()
def layer_cam(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: LayerRef = None,
    upsample: bool = True,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Layer-CAM (Jiang, Zhang, Hou, Cheng & Wei, IEEE TIP 2021, Eqs. 5-6).

    .. math:: L^c = \\mathrm{ReLU}\\Big(\\sum_k \\mathrm{ReLU}\\big(\\tfrac{\\partial S_c}
              {\\partial A^k}\\big) \\odot A^k\\Big)

    One weight per position instead of one per channel, so shallow layers give fine maps. The
    paper's fusion of several layers (tanh scaling) is left to the caller.

    Parameters
    ----------
    model, images, targets, layer, upsample, on, output, batch_size
        As :func:`grad_cam`.

    Returns
    -------
    np.ndarray
        float32 (N, H, W) raw maps.
    """
    taken = _gradients(model, images, targets, layer, on, output, batch_size)
    maps = np.maximum((np.maximum(taken.gradients, 0.0) * taken.activations).sum(axis=-1), 0.0)
    return _finish(maps, taken.resolved.images, upsample)


def _masked_score_function(explained: keras.Model):
    """Compiled ``(images, channel maps, weights, image index, channel index) -> scores``.

    The whole batch stays on the TensorFlow side; each call gathers its (image, channel) pairs,
    so one internal batch costs one forward pass of ``len(index)`` masked images.
    """

    def masked_score(images, channel_maps, weights, image_of, channel_of):
        maps = tf.gather_nd(channel_maps, tf.stack([image_of, channel_of], axis=1))
        masks = tf.image.resize(maps[..., None], tf.shape(images)[1:3], method="bilinear")
        low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
        high = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True)
        masks = (masks - low) / (high - low + MASK_EPSILON)
        outputs = explained(tf.gather(images, image_of) * masks, training=False)
        return target_score(outputs, tf.gather(weights, image_of))

    signature = [tf.TensorSpec([None, *explained.inputs[0].shape[1:]], tf.float32),
                 tf.TensorSpec([None, None, None, None], tf.float32), weights_spec(explained),
                 tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)]
    return cached(explained, "score_cam", lambda: compile_function(masked_score, signature))


@register()
def score_cam(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: LayerRef = None,
    upsample: bool = True,
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Score-CAM (Wang, Wang, Du, Yang, Zhang, Ding, Mardziel & Hu, CVPR-W 2020, Eqs. 5-7).

    Each channel A^k, upsampled to the input size and min-max normalised to [0, 1], masks the
    image; the masked image's class probability is the channel's weight:

    .. math::
        H^k = s(\\mathrm{Up}(A^k)), \\quad
        \\alpha_k^c = \\mathrm{softmax}(f(X \\circ H^k))_c, \\quad
        L^c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha_k^c A^k\\Big)

    As in the authors' code (and tf-keras-vis) the baseline score f(X_b) of Eq. 5 is not
    subtracted. Costs N * K forward passes (K = channels of the layer), ``batch_size`` masked
    images per compiled call; a contrastive target (A, B) scores p_A - p_B.

    Parameters
    ----------
    model, images, targets, layer, upsample, output
        As :func:`grad_cam`.
    on : {"probabilities", "logits"}
        Score the masked images by the class probability (default, as the paper) or by the
        logit.
    batch_size : int
        Masked images per compiled forward pass.

    Returns
    -------
    np.ndarray
        float32 (N, H, W) raw maps.
    """
    spatial_layer(model, layer)
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    activations, _ = predict(tap_model(model, layer, output=output), resolved.images,
                             batch_size=batch_size)
    n_images, n_channels = len(activations), activations.shape[-1]
    masked_score = _masked_score_function(resolved.model)
    image_of = np.repeat(np.arange(n_images, dtype=np.int32), n_channels)
    channel_of = np.tile(np.arange(n_channels, dtype=np.int32), n_images)
    arrays = (tf.constant(resolved.images), tf.constant(activations.transpose(0, 3, 1, 2)),
              tf.constant(resolved.weights))
    scores = run_batched(lambda part: masked_score(*arrays, tf.constant(image_of[part]),
                                                   tf.constant(channel_of[part])),
                         n_images * n_channels, batch_size)
    alpha = scores.reshape(n_images, 1, 1, n_channels)
    maps = np.maximum((alpha * activations).sum(axis=-1), 0.0)
    return _finish(maps, resolved.images, upsample)


@register()
def guided_grad_cam(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: LayerRef = None,
    signed: bool = False,
    per_channel: bool = False,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Guided Grad-CAM (Selvaraju et al., ICCV 2017, Sec. 3.1): guided backprop ⊙ Grad-CAM.

    .. math:: G^c = \\mathrm{GuidedBackprop}^c(x) \\odot \\mathrm{Up}(L^c_{\\text{Grad-CAM}})

    The product is taken per input channel, then reduced like
    :func:`xaikit.attribution.guided_backprop`
    (max |.| over channels by default); since L^c >= 0 this equals the reduced guided-backprop
    map times the upsampled Grad-CAM.

    Parameters
    ----------
    model, images, targets, layer, on, output, batch_size
        As :func:`grad_cam`; the model needs ReLU hidden activations (guided backprop).
    signed, per_channel : bool
        Channel reduction, as :func:`xaikit.attribution.saliency`.

    Returns
    -------
    np.ndarray
        float32 (N, H, W), or (N, H, W, C) with ``per_channel=True``.
    """
    guided, resolved = rule_gradients(model, images, targets, rule="guided_backprop",
                                      output=output, on=on, batch_size=batch_size)
    weights = grad_cam(model, resolved.images, resolved.targets, layer=layer, output=output,
                       on=on, batch_size=batch_size)
    product = guided * weights[..., None]
    return reduce_channels(product, signed=signed, per_channel=per_channel).astype(np.float32)
