"""Ground-truth metrics (xaikit.metrics.ground_truth): properties from the papers, hand-made
binarisations, and agreement with Quantus 0.6 (a test-only oracle, through a saved fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from xaikit.metrics import ground_truth as gt

FIXTURE = Path(__file__).parent / "fixtures" / "quantus_localisation.json"


def _masks() -> np.ndarray:
    masks = np.zeros((3, 10, 10), bool)
    masks[0, 2:5, 3:8] = True
    masks[1, 6:, :4] = True
    yy, xx = np.mgrid[:10, :10]
    masks[2] = (yy - 4.5) ** 2 + (xx - 4.5) ** 2 <= 6
    return masks


def test_a_map_equal_to_the_mask_scores_one_and_its_complement_zero():
    masks = _masks()
    exact, opposite = masks * 1.0, (~masks) * 1.0
    for binarise, thresholds in (("quantile", [0.0, 0.3, 0.5]), ("mean", [0.5, 1.0]),
                                 ("otsu", [0.5, 1.0])):
        np.testing.assert_array_equal(gt.feature_coverage(exact, masks, thresholds=thresholds,
                                                          binarise=binarise).iou, 1.0)
        np.testing.assert_array_equal(gt.feature_coverage(opposite, masks, thresholds=thresholds,
                                                          binarise=binarise).iou, 0.0)
    for metric in (gt.relevance_mass_accuracy, gt.relevance_rank_accuracy,
                   gt.attribution_localisation):
        np.testing.assert_array_equal(metric(exact, masks), 1.0, err_msg=metric.__name__)
        np.testing.assert_array_equal(metric(opposite, masks), 0.0, err_msg=metric.__name__)
    np.testing.assert_array_equal(gt.top_k_intersection(exact, masks, k=5), 1.0)
    np.testing.assert_array_equal(gt.top_k_intersection(opposite, masks, k=5), 0.0)
    np.testing.assert_array_equal(gt.top_k_intersection(exact * np.arange(100.0).reshape(10, 10),
                                                        masks, k=0.05),
                                  gt.top_k_intersection(exact * np.arange(100.0).reshape(10, 10),
                                                        masks, k=5))
    np.testing.assert_array_equal(gt.pointing_game(exact, masks, tolerance=0).hits, 1.0)
    np.testing.assert_array_equal(gt.pointing_game(opposite, masks, tolerance=0).hits, 0.0)


def test_binarisers_on_hand_made_maps():
    m = np.array([[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]])
    np.testing.assert_array_equal(gt.binarise(m, method="quantile", threshold=0.5),
                                  [[[0, 0, 0, 0], [1, 1, 1, 1]]])
    np.testing.assert_array_equal(gt.binarise(m, method="quantile", threshold=0.75),
                                  [[[0, 0, 0, 0], [0, 0, 1, 1]]])
    # mean of the rescaled map is 0.5: strictly above keeps 4..7; half of it keeps 2..7
    np.testing.assert_array_equal(gt.binarise(m, method="mean", threshold=1.0),
                                  [[[0, 0, 0, 0], [1, 1, 1, 1]]])
    np.testing.assert_array_equal(gt.binarise(m, method="mean", threshold=0.5),
                                  [[[0, 0, 1, 1], [1, 1, 1, 1]]])
    # Otsu separates two well-separated modes whatever their sizes and levels
    bimodal = np.array([[[0.1, 0.12, 0.11, 0.9], [0.1, 0.13, 0.95, 0.92]]])
    np.testing.assert_array_equal(gt.binarise(bimodal, method="otsu", threshold=1.0),
                                  [[[0, 0, 0, 1], [0, 0, 1, 1]]])
    assert not gt.binarise(bimodal + 5.0, method="otsu", threshold=1.0)[0, 0, 0]
    # a constant map points at nothing under any rule
    for method in gt.BINARISERS:
        assert not gt.binarise(np.full((1, 3, 3), 2.0), method=method, threshold=0.5).any()


def test_otsu_matches_the_exhaustive_between_class_variance_maximum():
    rng = np.random.default_rng(3)
    maps = np.concatenate([rng.normal(0.2, 0.05, (1, 20, 20)), rng.beta(2, 5, (1, 20, 20))])
    binary = gt.binarise(maps, method="otsu", threshold=1.0)
    for m, b in zip(gt._rescaled(maps), binary):
        bins = np.minimum((m * gt.OTSU_BINS).astype(int), gt.OTSU_BINS - 1).ravel()
        best = max(range(gt.OTSU_BINS - 1), key=lambda k: _between(bins, k))
        np.testing.assert_array_equal(b.ravel(), bins > best)


def _between(bins: np.ndarray, k: int) -> float:
    low, high = bins <= k, bins > k
    if not low.any() or not high.any():
        return 0.0
    centres = (bins + 0.5) / gt.OTSU_BINS
    return low.mean() * high.mean() * (centres[low].mean() - centres[high].mean()) ** 2


def test_coverage_is_vectorised_over_thresholds_and_reads_back():
    masks = _masks()
    maps = np.random.default_rng(0).random(masks.shape) + 2 * masks
    coverage = gt.feature_coverage(maps, masks, thresholds=[0.5, 0.7])
    one = gt.feature_coverage(maps, masks, thresholds=[0.7]).iou[:, 0]
    np.testing.assert_array_equal(coverage.at(0.7), one)
    assert coverage.iou.shape == (3, 2) and len(coverage.to_rows()) == 6
    with pytest.raises(ValueError, match="threshold"):
        coverage.at(0.9)
    with pytest.raises(ValueError, match="thresholds"):
        gt.feature_coverage(maps, masks, thresholds=[1.0])
    with pytest.raises(ValueError, match="binarise"):
        gt.feature_coverage(maps, masks, binarise="median")


def test_model_free_metrics_agree_with_quantus():
    """Quantus 0.6 outputs, saved by tests/fixtures/make_quantus_localisation.py."""
    fixture = json.loads(FIXTURE.read_text())
    maps, masks = np.array(fixture["maps"]), np.array(fixture["masks"], bool)
    np.testing.assert_allclose(gt.relevance_mass_accuracy(maps, masks),
                               fixture["relevance_mass_accuracy"], rtol=1e-12)
    np.testing.assert_allclose(gt.relevance_rank_accuracy(maps, masks),
                               fixture["relevance_rank_accuracy"], rtol=1e-12)
    np.testing.assert_array_equal(gt.pointing_game(maps, masks, tolerance=0).hits,
                                  fixture["pointing_game"])
    for k in (5, 20):
        np.testing.assert_allclose(gt.top_k_intersection(maps, masks, k=k),
                                   fixture[f"top_k_intersection_{k}"], rtol=1e-12)


def test_ties_count_as_a_random_tie_break():
    masks = _masks()
    flat = np.ones(masks.shape)
    share = masks.mean(axis=(1, 2))
    np.testing.assert_allclose(gt.relevance_rank_accuracy(flat, masks), share)
    np.testing.assert_allclose(gt.top_k_intersection(flat, masks, k=7), share)
    np.testing.assert_allclose(gt.pointing_game(flat, masks, tolerance=0).hits, share)
    np.testing.assert_allclose(gt.relevance_mass_accuracy(flat, masks), share)


def test_pointing_game_tolerance_and_difficult_subset():
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 2:4, 2:4] = True  # small: 1 % of the image
    masks[1, :, :12] = True  # large: 60 %
    maps = np.zeros((2, 20, 20))
    maps[0, 3, 9] = 1.0  # 6 pixels right of the mask's edge (column 3)
    maps[1, 5, 5] = 1.0
    assert gt.pointing_game(maps, masks, tolerance=5.9).hits.tolist() == [0.0, 1.0]
    game = gt.pointing_game(maps, masks, tolerance=6.0)
    assert game.hits.tolist() == [1.0, 1.0] and game.difficult.tolist() == [True, False]
    assert game.accuracy("difficult") == 1.0
    only = gt.pointing_game(maps, masks, tolerance=0, distractors=np.array([False, True]))
    assert not only.difficult.any() and np.isnan(only.accuracy("difficult"))


def test_attribution_localisation_weighted_is_one_for_a_uniform_map():
    masks = _masks()
    np.testing.assert_allclose(gt.attribution_localisation(np.ones(masks.shape), masks,
                                                           weighted=True), 1.0)
    signed = np.where(masks, 1.0, -3.0)  # negative evidence outside is ignored
    np.testing.assert_allclose(gt.attribution_localisation(signed, masks), 1.0)


def test_waiou_weights_the_parts_by_their_area():
    parts = np.zeros((1, 4, 5), np.int64)
    parts[0, :, :3] = 1  # 12 pixels
    parts[0, :, 3] = 2  # 4 pixels, the rest (column 4) is background
    on_part_1 = (parts == 1) * 1.0
    np.testing.assert_allclose(gt.waiou(on_part_1, parts, threshold=0.3), 12 / 16)
    both = (parts > 0) * 1.0  # IoU 12/16 with part 1 and 4/16 with part 2
    np.testing.assert_allclose(gt.waiou(both, parts, threshold=0.1),
                               (12 * 12 / 16 + 4 * 4 / 16) / 16)
    with pytest.raises(ValueError, match="no annotated part"):
        gt.waiou(on_part_1, np.zeros_like(parts), threshold=0.5)
    with pytest.raises(TypeError, match="integer part labels"):
        gt.waiou(on_part_1, parts * 0.5, threshold=0.5)
    labels = gt.label_image({"a": parts == 1, "b": parts == 2}, ["b", "a"])
    np.testing.assert_array_equal(labels, np.where(parts == 0, 0, 3 - parts))


def test_ranking_agreement_is_kendalls_tau_of_the_mean_coverages():
    masks = _masks()
    noise = np.random.default_rng(1).random(masks.shape)
    maps = {"exact": masks + 0.1 * noise, "half": masks + 1.0 * noise, "noise": noise,
            "opposite": ~masks + 0.1 * noise}
    study = gt.ranking_agreement(maps, masks)
    assert study.scores.shape == (4, 3) and np.allclose(np.diag(study.tau), 1.0)
    expected = stats.kendalltau(study.scores[:, 0], study.scores[:, 2]).statistic
    assert study.tau[0, 2] == pytest.approx(expected)
    assert study.scores[0].min() > study.scores[3].max()
    same = gt.ranking_agreement(maps, masks, settings=[("quantile", 0.8), ("quantile", 0.8)])
    assert same.tau[0, 1] == 1.0 and len(same.to_rows()) == 1


def test_baselines():
    centre = gt.centre_map(2, (9, 7))
    assert centre.shape == (2, 9, 7) and np.unravel_index(centre[0].argmax(), (9, 7)) == (4, 3)
    np.testing.assert_array_equal(gt.random_map(2, (4, 4), seed=5), gt.random_map(2, (4, 4), seed=5))
    with pytest.raises(ValueError, match="k=500"):
        gt.top_k_intersection(np.ones((1, 10, 10)), _masks()[:1], k=500)


@pytest.mark.parametrize("exercise_id", ["09.coverage_iou", "09.mass_accuracy", "09.lasso_units"])
def test_lesson09_exercises_give_no_case_to_a_constant_answer(exercise_id):
    """Every public and hidden case mixes answers, so zeros, ones or NaN never pass one."""
    from xaikit.exercises import EXERCISES
    from xaikit.exercises.registry import copy_arguments

    exercise = EXERCISES[exercise_id]
    for case in exercise.public() + exercise.hidden(0) + exercise.hidden(7):
        expected = np.asarray(exercise.expected(case))
        for constant in (0.0, 1.0, np.nan):
            ok, _ = exercise.compare_outputs(expected, np.full(expected.shape, constant))
            assert not ok, (case.name, constant)
        ok, _ = exercise.compare_outputs(expected, copy_arguments(case.args)[0])
        assert not ok, (case.name, "the input")
