"""Exercises of lesson 13, "Network dissection and compositional concepts" (Bau et al. 2017).

``13.unit_iou``: the IoU of one unit with one concept. The unit's activations are given at the
mask's resolution, (N, H, W); its threshold T is the (m + 1)-th largest activation with
m = ceil(quantile N H W), its mask :math:`M = [A > T]` (strict), and

.. math:: \\mathrm{IoU} = \\frac{\\sum_x |M(x) \\cap L(x)|}{\\sum_x |M(x) \\cup L(x)|}

summed over all images (0 when the union is empty).

``13.detector_count``: from an IoU table (K units, C concepts), the number of detectors (units
whose best IoU exceeds the threshold, strictly) and of unique detectors (distinct best
concepts among them, the first concept on ties), as a tuple of two ints.
"""

from __future__ import annotations

import functools

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _iou_expected(activations: np.ndarray, mask: np.ndarray, quantile: float) -> float:
    from xaikit.data.concepts import ConceptSet
    from xaikit.interpretation.dissection import tally, thresholds

    values = np.asarray(activations, np.float32)[..., None]
    concepts = ConceptSet.from_masks({"concept": np.asarray(mask, bool)})
    iou = tally([values], [thresholds(values, float(quantile))], concepts,
                np.arange(len(values)))[0]
    return float(iou[0, 0])


def _iou_public() -> list[Case]:
    ramp = np.arange(8, dtype=np.float64).reshape(1, 2, 4)
    concept = np.zeros((1, 2, 4), bool)
    concept[0, 1, 3] = concept[0, 1, 0] = True  # the values 7 and 4
    rng = np.random.default_rng(13)
    blobs = rng.uniform(size=(4, 8, 8))
    return [
        Case("worked example: values 0..7, quantile 0.25, so m = 2, T = 5, M = {6, 7}; "
             "IoU({6, 7}, {4, 7}) = 1/3", (ramp, concept, 0.25), expected=1.0 / 3.0),
        Case("4 random maps, the concept where the map is above 0.8, quantile 0.1",
             (blobs, blobs > 0.8, 0.1)),
        Case("a ReLU unit, zero almost everywhere (its mask is where it is positive)",
             (np.where(blobs > 0.97, blobs, 0.0), blobs > 0.9, 0.2)),
    ]


IOU_KINDS = ("ties at the threshold", "the concept holds the unit's region and more",
             "a concept touching the unit's region in one pixel", "a quantile so small that m = 1",
             "a ReLU unit, zero on most pixels", "float32 maps of several images")
"""Hidden IoU cases: ties, nested and barely touching regions, m = 1, many zeros, float32; each
built so that its IoU is neither 0 nor 1 (no constant answer passes a case)."""


def _iou_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for kind in IOU_KINDS:
        n, h = int(rng.integers(2, 5)), int(rng.integers(5, 9))
        maps = rng.uniform(size=(n, h, h)).astype(np.float32).astype(np.float64)
        quantile = float(rng.uniform(0.05, 0.3))
        if kind == "ties at the threshold":  # m falls inside the group of 6s: all 6s are out
            maps = rng.integers(0, 10, size=(n, h, h)).astype(np.float64)
            m = int((maps >= 7).sum() + max(1, (maps == 6).sum() // 2))
            quantile = (m - 0.5) / maps.size
        elif kind == "a quantile so small that m = 1":
            quantile = 0.5 / maps.size
        elif kind == "a ReLU unit, zero on most pixels":
            maps, quantile = np.where(maps > 0.9, maps, 0.0), 0.25
        elif kind == "float32 maps of several images":
            maps = maps.astype(np.float32)
        m = int(np.ceil(quantile * maps.size))
        region = maps > np.sort(maps.ravel())[::-1][min(m, maps.size - 1)]
        outside = np.flatnonzero(~region.ravel())
        concept = rng.uniform(size=maps.shape) < 0.3
        concept.ravel()[rng.choice(np.flatnonzero(region.ravel()))] = True  # IoU > 0
        concept.ravel()[rng.choice(outside)] = True  # IoU < 1
        if kind == "the concept holds the unit's region and more":
            concept = region.copy()
            concept.ravel()[rng.choice(outside, int(rng.integers(1, len(outside) // 2 + 2)),
                                       replace=False)] = True
        elif kind == "a concept touching the unit's region in one pixel":
            concept = np.zeros(maps.shape, bool)
            concept.ravel()[rng.choice(outside, int(rng.integers(2, 6)), replace=False)] = True
            concept.ravel()[rng.choice(np.flatnonzero(region.ravel()))] = True
        cases.append(Case(f"{kind} ({n} x {h}x{h}, quantile {quantile:.3g})",
                          (maps, concept, quantile)))
    return cases


def _count_expected(iou: np.ndarray, threshold: float) -> tuple[int, int]:
    from xaikit.interpretation.dissection import Dissection, LayerDissection

    iou = np.asarray(iou, np.float64)
    layer = LayerDissection("layer", np.zeros(len(iou)), iou, float(threshold))
    names = tuple(f"c{i}" for i in range(iou.shape[1]))
    result = Dissection(names, ("concept",) * len(names), (layer,), 0.005)
    return int(layer.detectors.sum()), len(result.unique_detectors("layer"))


def _count_public() -> list[Case]:
    return [
        Case("worked example: a tie (first concept), one unit exactly at 0.04, two units on "
             "concept 0", (np.array([[0.05, 0.05, 0.0], [0.04, 0.0, 0.0], [0.0, 0.3, 0.1],
                                     [0.2, 0.0, 0.0]]), 0.04), expected=(3, 2)),
        Case("8 units, 5 concepts, threshold 0.04",
             (np.random.default_rng(3).uniform(0, 0.08, size=(8, 5)), 0.04)),
    ]


COUNT_KINDS = ("ties between concepts", "IoUs exactly at the threshold",
               "detectors just above near misses", "every detector on the same concept",
               "many units, many concepts")
"""Hidden detector-count cases: ties, the strict threshold, near misses, one unique concept,
the general case; the counts are drawn, so no constant answer passes a case."""


def _count_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for kind in COUNT_KINDS:
        k, c = int(rng.integers(5, 12)), int(rng.integers(3, 8))
        threshold = float(rng.choice([0.04, 0.1]))
        iou = rng.uniform(0, 2.5 * threshold, size=(k, c))
        chosen = rng.choice(k, int(rng.integers(2, k)), replace=False)
        if kind == "ties between concepts":
            iou[:, 1] = iou[:, 0] = iou.max(axis=1)
        elif kind == "IoUs exactly at the threshold":
            iou = np.minimum(iou, threshold)
            iou[chosen, rng.integers(0, c, len(chosen))] = 2 * threshold
        elif kind == "detectors just above near misses":
            iou = rng.uniform(0.5 * threshold, threshold, size=(k, c))
            iou[chosen, rng.integers(0, c, len(chosen))] = threshold * (1 + 1e-6)
        elif kind == "every detector on the same concept":
            iou = rng.uniform(0, threshold, size=(k, c))
            iou[chosen, int(rng.integers(c))] = rng.uniform(1.5, 3.0, len(chosen)) * threshold
        cases.append(Case(f"{kind} ({k} units, {c} concepts, threshold {threshold})",
                          (iou, threshold)))
    return cases


register(
    Exercise(
        id="13.unit_iou",
        title="The IoU of a unit with a concept at the top 0.5 % quantile (Bau et al. 2017)",
        function="unit_iou",
        points=2,
        public_cases=_iou_public,
        hidden_cases=_iou_hidden,
        oracle=_iou_expected,
        compare=functools.partial(compare_outputs, rtol=1e-6, atol=1e-9),
        reference="solutions/13_dissection.py:unit_iou",
        forbidden=("xaikit.interpretation.dissection.network_dissection",
                   "xaikit.interpretation.dissection.tally"),
        hint="sort all N*H*W activations once: the threshold is the value with m values above "
             "it. The unit's mask compares strictly; sum intersections and unions over all "
             "images before dividing, and think about an empty union",
    ),
    Exercise(
        id="13.detector_count",
        title="Counting detectors and unique detectors",
        function="detector_count",
        points=1,
        public_cases=_count_public,
        hidden_cases=_count_hidden,
        oracle=_count_expected,
        reference="solutions/13_dissection.py:detector_count",
        forbidden=("xaikit.interpretation.dissection.network_dissection",),
        hint="a unit's label is the concept of its largest IoU (np.argmax keeps the first on "
             "ties); it is a detector only when that IoU is strictly above the threshold. "
             "Unique detectors count labels, not units. Return two Python ints",
    ),
)
