"""Relative feature importance (BIM): do a method's maps follow what each model really uses?

Introduced in lesson 09. Yang & Kim, "BIM: Towards Quantitative Evaluation of Interpretability
Methods with Ground Truth", arXiv:1907.09701 (2019): objects are pasted on scenes and two models
are trained on the same images, one to name the object, one to name the scene
(:func:`xaikit.data.object_scene`). The object's pixels (the *common feature*, mask :math:`M`)
matter more to the object model than to the scene model — by construction, not by opinion —
so an attribution method should give them more of its map under the object model, and should
give them less under the scene model once the object covers the scene.

All three metrics measure a region's share of a map's absolute mass,

.. math:: g(e, M) = \\frac{\\sum_{i \\in M} |e_i|}{\\sum_i |e_i|},

and compare two batches of maps pair by pair, ``metric(maps, reference, masks)``, returning
per-image scores (N,); the paper's rates are their means over the images it selects (see each
function). Maps whose absolute mass is zero have share 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.base.checks import check_maps, check_masks, check_number
from xaikit.base.messages import message

__all__ = ["input_dependence", "input_independence", "model_contrast_score", "region_share"]

IIR_THRESHOLD = 0.1  # relative change of the map below which it "does not change" (10 %)


def _batch(maps: Any, reference: Any, masks: Any = None) -> tuple[np.ndarray, ...]:
    maps = check_maps(maps)
    reference = check_maps(reference, len(maps), maps.shape[1:], name="reference")
    if masks is None:
        return maps, reference
    return maps, reference, check_masks(masks, len(maps), maps.shape[1:])


def region_share(maps: Any, masks: Any) -> np.ndarray:
    """:math:`g(e, M)`: the share of each map's absolute mass inside its mask, (N,) in [0, 1].

    Examples
    --------
    >>> region_share(np.array([[[3.0, -1.0]]]), np.array([[[True, False]]])).tolist()
    [0.75]
    """
    maps = np.abs(check_maps(maps))
    masks = check_masks(masks, len(maps), maps.shape[1:])
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def model_contrast_score(maps: Any, reference: Any, masks: Any) -> np.ndarray:
    """Model contrast score: how much more of the map the object gets under the object model.

    Yang & Kim (2019), Sec. 3.1: with ``maps`` from the model trained on object labels and
    ``reference`` from the model trained on scene labels, on the same images,

    .. math:: \\mathrm{MCS} = g(e_{f_o}(x), M) - g(e_{f_s}(x), M),

    averaged over the images (the paper averages over correctly classified ones). A method that
    explains the models, not the image, scores high; one that ignores the model scores 0.

    Returns
    -------
    np.ndarray
        float64 (N,) in [-1, 1].

    Examples
    --------
    >>> m = np.array([[[True, False]]])
    >>> model_contrast_score(np.array([[[4.0, 1.0]]]), np.array([[[1.0, 4.0]]]), m).round(6).tolist()
    [0.6]
    """
    maps, reference, masks = _batch(maps, reference, masks)
    return region_share(maps, masks) - region_share(reference, masks)


def input_dependence(maps: Any, reference: Any, masks: Any) -> np.ndarray:
    """Input dependence: is the object's region attributed less once the object covers the scene?

    Yang & Kim (2019), Sec. 3.2: for the *scene* model, ``maps`` on images with the object
    pasted and ``reference`` on the same scenes without it; the object is not evidence for the
    scene, while what it covers may be, so

    .. math:: \\mathrm{IDR} = \\frac{1}{|X|}\\sum_{x \\in X}
              \\mathbb{1}\\big[g(e(x_\\text{object}), M) < g(e(x_\\text{scene}), M)\\big],

    over the images the scene model classifies correctly both ways. Per image 1.0 or 0.0 (0.5 on
    a tie, e.g. two empty maps).

    Returns
    -------
    np.ndarray
        float64 (N,); its mean over the selected images is the rate.
    """
    maps, reference, masks = _batch(maps, reference, masks)
    with_object, without = region_share(maps, masks), region_share(reference, masks)
    return np.where(with_object < without, 1.0, np.where(with_object == without, 0.5, 0.0))


def input_independence(maps: Any, reference: Any, *,
                       threshold: float = IIR_THRESHOLD) -> np.ndarray:
    """Input independence: does a feature the model ignores leave the map (nearly) unchanged?

    Yang & Kim (2019), Sec. 3.3: for inputs whose model output the pasted feature does not
    change (the caller selects them: e.g. the scene model's logits move by less than a few
    percent), ``maps`` with the feature and ``reference`` without it,

    .. math:: \\mathrm{IIR} = \\frac{1}{|X|}\\sum_{x \\in X}
              \\mathbb{1}\\Big[\\frac{\\|e(x_\\text{object}) - e(x_\\text{scene})\\|_2}
              {\\|e(x_\\text{scene})\\|_2} \\le t\\Big],

    with :math:`t` = ``threshold`` (default 10 %; our choice, the paper's value was not
    retrievable here).

    Returns
    -------
    np.ndarray
        float64 (N,) of 1.0 / 0.0; the rate is the mean.
    """
    maps, reference = _batch(maps, reference)
    threshold = check_number("threshold", threshold, low=0.0)
    change = np.linalg.norm((maps - reference).reshape(len(maps), -1), axis=1)
    size = np.linalg.norm(reference.reshape(len(maps), -1), axis=1)
    if not np.all(size > 0):
        raise ValueError(message("expected", name="reference", expected="maps that are not all "
                                 "zero", got=f"{int((size == 0).sum())} all-zero map(s)",
                                 fix="; drop those images"))
    return (change <= threshold * size).astype(np.float64)
