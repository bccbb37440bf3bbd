"""Interpretable-by-design models (issue 19): concept bottlenecks and the ProtoPNet prototype layer.

Tiny untrained models carry the properties (intervention arithmetic, the push step, the
similarity); the trained fast models are checked by lesson 15 and by the slow test below.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from xaikit.base.messages import message
from xaikit.data import load
from xaikit.exercises.registry import EXERCISES
from xaikit.interpretation.bottleneck import (
    concept_accuracy,
    intervene,
    intervention_curve,
    intervention_order,
)
from xaikit.interpretation.prototypes import (
    part_iou,
    part_precision,
    prototype_regions,
    similarity_maps,
)
from xaikit.models.bottleneck import (
    CONCEPT_NAMES,
    an8flower_concepts,
    bottleneck_model,
    concept_codes,
    label_head,
)
from xaikit.models.protopnet import LATENT_LAYER, fit_protopnet, protopnet, prototype_head
from xaikit.models.prototypes import (
    EPSILON,
    PrototypeHead,
    initial_last_layer,
    latents,
    log_similarity,
    optimise_last_layer,
    push,
    squared_distances,
)

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("solutions15", ROOT / "solutions" / "15_by_design.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_bottleneck():
    keras.utils.set_random_seed(3)
    return bottleneck_model((16, 16, 3), n_concepts=5, n_classes=4, name="tiny")


# ---------------------------------------------------------------- concepts of an8flower
def test_concept_codes_are_distinct_per_class_and_follow_the_palette():
    from xaikit.data.an8flower import PETAL_COLOURS_6C

    codes = concept_codes()
    assert codes.shape == (6, len(CONCEPT_NAMES))
    assert len({tuple(row) for row in codes}) == 6, "every class needs its own code"
    rgb = np.asarray(list(PETAL_COLOURS_6C.values()))
    assert np.array_equal(codes[:, :3], rgb > 0.4) and np.array_equal(codes[:, 3:], rgb > 0.7)


def test_an8flower_concepts_index_the_codes_by_label_and_refuse_other_data():
    data = load("an8flower-single-6c", split="test", fast=True)
    assert np.array_equal(an8flower_concepts(data), concept_codes()[data.labels])
    with pytest.raises(ValueError, match="an8flower single-6c"):
        an8flower_concepts(load("an8flower-double-12c", split="test", fast=True))


# ---------------------------------------------------------------- intervention
def test_intervene_replaces_exactly_the_first_k_of_each_order():
    rng = np.random.default_rng(0)
    predicted, true = rng.uniform(0.05, 0.95, (7, 6)), (rng.random((7, 6)) < 0.5) * 1.0
    order = np.argsort(rng.random((7, 6)), axis=1)
    assert np.array_equal(intervene(predicted, true, order, 0), predicted)
    assert np.array_equal(intervene(predicted, true, order, 6), true)
    out = intervene(predicted, true, order, 2)
    changed = out != predicted
    assert np.all(changed.sum(axis=1) == 2)
    assert np.all(np.take_along_axis(changed, order[:, :2], axis=1))
    assert np.array_equal(out, _solutions().intervene(predicted, true, order, 2))


@pytest.mark.parametrize("args, match", [
    (dict(k=4), "k=4 must be an int in \\[0, 3\\]"),
    (dict(k=-1), "k=-1"),
    (dict(k=True), "k=True"),
    (dict(order=[[0, 0, 1]]), "permutation"),
    (dict(true=[[2.0, 0.0, 1.0]]), "concept values in \\[0, 1\\]"),
    (dict(true=[[1.0, 0.0]]), "one row of concepts per image"),
])
def test_intervene_errors_say_what_is_wrong(args, match):
    base = dict(predicted=[[0.2, 0.7, 0.5]], true=[[0.0, 1.0, 1.0]], order=[[2, 0, 1]], k=1)
    with pytest.raises(ValueError, match=match):
        intervene(**(base | args))


def test_intervention_order_uncertainty_first_and_random_is_seeded():
    predicted = np.array([[0.9, 0.45, 0.1, 0.7]])
    assert intervention_order(predicted, order="uncertainty").tolist() == [[1, 3, 0, 2]]
    a, b = (intervention_order(np.full((5, 4), 0.5), seed=1) for _ in range(2))
    assert np.array_equal(a, b) and np.array_equal(np.sort(a, axis=1), np.tile(np.arange(4), (5, 1)))
    with pytest.raises(ValueError, match="order"):
        intervention_order(predicted, order="oracle")


def test_concept_accuracy_per_image():
    assert concept_accuracy([[0.9, 0.2], [0.4, 0.6]], [[1, 1], [0, 1]]).tolist() == [0.5, 1.0]


def test_intervening_on_all_concepts_is_the_model_fed_the_true_concepts(tiny_bottleneck):
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(12, 16, 16, 3)).astype(np.float32)
    true = (rng.random((12, 5)) < 0.5).astype(np.float32)
    labels = rng.integers(0, 4, 12)
    for order in ("random", "uncertainty"):
        curve = intervention_curve(tiny_bottleneck, images, true, labels, order=order)
        assert curve.ks.tolist() == list(range(6)) and curve.correct.shape == (6, 12)
        fed_truth = np.asarray(label_head(tiny_bottleneck)(true)).argmax(axis=1) == labels
        assert np.array_equal(curve.correct[-1], fed_truth)
        own = np.asarray(tiny_bottleneck.predict(images, verbose=0)[1]).argmax(axis=1) == labels
        assert np.array_equal(curve.correct[0], own)
    rows = curve.to_rows()
    assert [r["k"] for r in rows] == list(range(6))
    assert rows[-1]["accuracy"] == pytest.approx(fed_truth.mean())


def test_label_head_refuses_a_model_without_a_bottleneck():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="plain")
    with pytest.raises(ValueError, match="not a concept bottleneck model"):
        label_head(plain)


def test_bottleneck_messages_format():
    assert "concept" in message("bottleneck_model", model="m")
    assert "[0, 1]" in message("concept_values", name="true", low=-1, high=2)
    assert "k=9" in message("intervene_k", k=9, n_concepts=6)


# ---------------------------------------------------------------- prototypes (ProtoPNet)
def test_log_similarity_matches_the_definition_and_is_finite_on_a_patch():
    rng = np.random.default_rng(2)
    latents, prototypes = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(5, 4))
    prototypes[0] = latents[1, 2, 0]
    expected = _solutions().log_similarity(latents, prototypes)
    assert np.allclose(log_similarity(latents, prototypes), expected, rtol=1e-10, atol=1e-10)
    assert log_similarity(latents, prototypes)[1, 2, 0, 0] == pytest.approx(np.log(1 / EPSILON))
    assert np.all(squared_distances(latents, prototypes) >= 0)


def test_push_puts_every_prototype_exactly_on_its_classs_nearest_training_patch():
    rng = np.random.default_rng(4)
    latents = rng.normal(size=(9, 4, 4, 6)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    prototypes, classes = rng.normal(size=(6, 6)), np.array([0, 0, 1, 1, 2, 2])
    pushed, where = push(prototypes, classes, latents, labels)
    patches = latents[where[:, 0], where[:, 1], where[:, 2]]
    assert np.array_equal(pushed, patches.astype(np.float64)), "exactly a training patch"
    assert np.array_equal(labels[where[:, 0]], classes), "a patch of the prototype's class"
    for j, c in enumerate(classes):  # brute force: no closer patch of that class
        own = latents[labels == c].reshape(-1, 6).astype(np.float64)
        assert np.sum((pushed[j] - prototypes[j]) ** 2) == pytest.approx(
            np.min(np.sum((own - prototypes[j]) ** 2, axis=1)), rel=1e-9)
    with pytest.raises(ValueError, match="classes without images \\[5\\]"):
        push(prototypes, np.array([0, 0, 1, 1, 2, 5]), latents, labels)


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents (n, 5, 5, 8) of noise with one patch per image holding its class's pattern."""
    rng = np.random.default_rng(seed)
    patterns = 3.0 * np.eye(3, 8)
    labels = rng.integers(0, 3, n)
    z = rng.uniform(0.0, 0.3, (n, 5, 5, 8)).astype(np.float32)
    where = rng.integers(0, 5, (n, 2))
    z[np.arange(n), where[:, 0], where[:, 1]] += patterns[labels]
    return z, labels, where


def test_prototype_regions_are_centred_on_the_pushed_patch():
    z, labels, _ = _planted(60, 0)
    classes = np.repeat(np.arange(3), 2)
    pushed, source = push(np.random.default_rng(0).uniform(0.0, 3.0, (6, 8)), classes, z, labels)
    head = PrototypeHead(prototypes=pushed, classes=classes, source=source,
                         last_layer=initial_last_layer(classes, 3))
    assert head.logits(z[:5]).shape == (5, 3)
    assert similarity_maps(head, z[:2], (10, 10)).shape == (2, 6, 10, 10)
    regions = prototype_regions(head, z, (10, 10), quantile=0.96)
    own = np.zeros((6, 10, 10), bool)
    for j, (r, c) in enumerate(source[:, 1:]):
        own[j, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = True
    assert np.all(part_precision(regions, own) > own.mean(axis=(1, 2)))


@pytest.mark.slow
def test_protopnet_stages_end_with_prototypes_on_training_patches(tmp_path):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="last_conv")(inputs)
    backbone = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    rng = np.random.default_rng(1)
    images, labels = rng.uniform(size=(24, 10, 10, 3)).astype(np.float32), np.arange(24) % 3
    model = protopnet(backbone, 3, per_class=2, depth=5)
    assert np.array_equal(model.get_layer("last_layer").kernel, initial_last_layer(
        np.repeat(np.arange(3), 2), 3)), "stage 1 starts with the last layer at 1 / -0.5"
    info = fit_protopnet(model, images, labels, warm_epochs=1, joint_epochs=1, batch_size=8,
                         learning_rate=0.01, l1=10.0, progress=False)
    head, z = prototype_head(model), latents(model, images, layer=LATENT_LAYER)
    image, row, column = head.source.T
    assert np.array_equal(head.prototypes, z[image, row, column]), "push: exactly a patch"
    assert np.array_equal(labels[image], head.classes), "of the prototype's own class"
    wrong = head.classes[:, None] != np.arange(3)
    assert np.all(head.last_layer[wrong] == 0) and info["wrong_class_zero_share"] == 1.0
    # float32 ||z||^2 - 2 z.p + ||p||^2 cancels near d = 0, where epsilon = 1e-4 amplifies it
    assert np.allclose(model.predict(images, verbose=0), head.logits(z), rtol=1e-2)
    model.save(tmp_path / "protopnet.keras")
    again = prototype_head(keras.models.load_model(tmp_path / "protopnet.keras"))
    assert np.array_equal(again.prototypes, head.prototypes)
    assert np.array_equal(again.source, head.source)


def test_last_layer_stage_shrinks_wrong_class_connections_to_an_optimum():
    rng = np.random.default_rng(4)
    classes, n = np.repeat(np.arange(3), 2), 300
    labels = rng.integers(0, 3, n)
    scores = rng.uniform(0.0, 2.0, (n, 6)) + (classes == labels[:, None])
    labels[:60] = rng.integers(0, 3, 60)  # label noise: not separable, a finite optimum
    wrong = classes[:, None] != np.arange(3)
    weights = {l1: optimise_last_layer(scores, labels, classes, 3, l1=l1, steps=1500)
               for l1 in (0.0, 1e-2, 1.0)}
    size = [np.abs(w[wrong]).mean() for w in weights.values()]
    assert np.all(np.diff(size) < 0) and size[-1] == 0.0, "L1 drives them to exactly 0"
    assert np.all(weights[1.0][~wrong] > 0), "the own-class connections stay positive"
    for l1, w in weights.items():  # optimality (KKT) of the convex problem
        p = np.exp(scores @ w)
        grad = scores.T @ (p / p.sum(axis=1, keepdims=True) - np.eye(3)[labels]) / n
        assert np.abs(grad[~wrong]).max() < 1e-5
        at_zero = wrong & (w == 0)
        assert np.all(np.abs(grad[at_zero]) <= l1 + 1e-5)
        assert np.allclose(grad[wrong & ~at_zero], -l1 * np.sign(w[wrong & ~at_zero]), atol=1e-5)


def test_part_scores_and_their_errors():
    region = np.zeros((1, 4, 4), bool)
    region[0, :2, :2] = True
    part = np.zeros((1, 4, 4), bool)
    part[0, :2] = True
    assert part_precision(region, part).tolist() == [1.0]
    assert part_iou(region, part).tolist() == [0.5]
    with pytest.raises(ValueError, match="empty"):
        part_iou(region, np.zeros((1, 4, 4), bool))


# ---------------------------------------------------------------- exercises
@pytest.mark.parametrize("exercise_id, degenerate", [
    ("15.intervene", lambda predicted, true, order, k: np.asarray(predicted, float)),
    ("15.intervene", lambda predicted, true, order, k: np.asarray(true, float)),
    ("15.intervene", lambda predicted, true, order, k: np.zeros(np.shape(predicted))),
    ("15.log_similarity", lambda latents, prototypes, epsilon=1e-4:
        np.zeros(np.shape(latents)[:3] + (len(prototypes),))),
    ("15.log_similarity", lambda latents, prototypes, epsilon=1e-4:
        -np.log(1e-4 + np.sum((np.asarray(latents)[..., None, :] - prototypes) ** 2, -1))),
])
def test_degenerate_answers_fail_every_case(exercise_id, degenerate):
    exercise = EXERCISES[exercise_id]
    for case in exercise.public() + exercise.hidden(7):
        expected = case.expected if case.expected is not None else exercise.oracle(*case.args)
        passed, _ = exercise.compare(expected, degenerate(*case.args))
        assert not passed, f"{exercise_id}: a degenerate answer passes {case.name!r}"


@pytest.mark.slow
def test_trained_bottleneck_is_cached_and_accurate():
    from xaikit.models import train_bottleneck

    test = load("an8flower-single-6c", split="test", fast=True)
    first = train_bottleneck("independent", fast=True, progress=False)
    again = train_bottleneck("independent", fast=True, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights()))
    concepts, scores = first.predict(test.images, verbose=0)
    assert np.mean(scores.argmax(axis=1) == test.labels) > 0.8
    assert concept_accuracy(concepts, an8flower_concepts(test)).mean() > 0.9


# ---------------------------------------------------------------- interpretable CNN filter loss
@pytest.mark.parametrize("labelled", [False, True])
def test_filter_loss_gradient_matches_a_numerical_derivative(labelled):
    import tensorflow as tf

    from xaikit.models.interpretable_cnn import filter_loss

    rng = np.random.default_rng(5)
    base = rng.uniform(0.0, 3.0, (4, 3, 3, 2))
    labels, classes = np.array([0, 1, 1, 0]), np.array([0, 1])
    maps = tf.Variable(base)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(filter_loss(maps, *((labels, classes) if labelled else ())))
    analytic = tape.gradient(loss, maps).numpy()
    # every entry shifted by +-step, all copies side by side as extra filters (filters are
    # independent in the loss): one call gives the 2 x 72 shifted total losses
    step = 1e-6
    shifts = np.eye(base.size).reshape(base.size, *base.shape) * step
    copies = np.concatenate([base + shifts, base - shifts])  # (144, 4, 3, 3, 2)
    stacked = np.moveaxis(copies, 0, -2).reshape(*base.shape[:3], -1)  # filters copy-major
    extra = (labels, np.tile(classes, len(copies))) if labelled else ()
    totals = np.asarray(filter_loss(tf.constant(stacked), *extra)).reshape(len(copies), -1).sum(1)
    numeric = ((totals[:base.size] - totals[base.size:]) / (2 * step)).reshape(base.shape)
    assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(analytic).max() > 1e-4, "a non-trivial gradient"


def test_filter_loss_with_categories_wants_silence_on_other_categories():
    from xaikit.models.interpretable_cnn import filter_assignment, filter_loss

    assert filter_assignment(64, 6)[[0, 5, 6, 63]].tolist() == [0, 5, 0, 3]
    peak = np.zeros((1, 4, 4, 1))
    peak[0, 1, 2, 0] = 8.0
    quiet = np.zeros((1, 4, 4, 1))
    labels, classes = np.array([0, 0, 1]), np.array([0])  # images 0, 1 are of the filter's class
    on_own = np.concatenate([peak, np.roll(peak, 1, axis=1), quiet])
    on_other = np.concatenate([peak, quiet, np.roll(peak, 1, axis=1)])
    own_loss, other_loss = (float(filter_loss(m, labels, classes)[0]) for m in (on_own, on_other))
    assert own_loss < other_loss, "firing on its own category, silent on the others, is better"
    unlabelled = (float(filter_loss(m)[0]) for m in (on_own, on_other))
    assert next(unlabelled) == pytest.approx(next(unlabelled)), "without labels: the same maps"


def test_filter_loss_prefers_one_part_at_one_position_and_is_bounded():
    from xaikit.models.interpretable_cnn import filter_loss, templates

    n, images = 4, 16
    peaked = np.zeros((images, n, n, 1))
    peaked[np.arange(images), np.arange(images) // n, np.arange(images) % n, 0] = 50.0
    flat = np.full((images, n, n, 1), 50.0 / n**2)
    loss_peaked, loss_flat = float(filter_loss(peaked)[0]), float(filter_loss(flat)[0])
    alpha = n * n / (1 + n * n)
    prior = np.r_[np.full(n * n, alpha / n**2), 1 - alpha]
    entropy = -np.sum(prior * np.log(prior))
    assert -entropy - 1e-9 <= loss_peaked < loss_flat <= 1e-12, "filters firing at one place win"
    assert loss_flat == pytest.approx(0.0, abs=1e-12), "identical maps carry no information"
    t = templates(n)
    assert t.shape == (n * n + 1, n, n) and t[5, 1, 1] == pytest.approx(0.5 / n**2)
    assert t[0, 3, 3] == pytest.approx(-0.5 / n**2) and np.all(t[-1] == -0.5 / n**2)
    with pytest.raises(ValueError, match="square feature maps"):
        filter_loss(np.zeros((2, 3, 4, 1)))


def test_masking_keeps_the_neighbourhood_of_the_peak():
    from xaikit.models.interpretable_cnn import masked

    maps = np.ones((1, 5, 5, 1))
    maps[0, 1, 1, 0] = 3.0
    out = masked(maps)[0, :, :, 0]
    assert out[1, 1] == pytest.approx(3.0 * 0.5 / 25) and out[4, 4] == 0.0
    assert np.all(out >= 0)


def test_location_instability_is_zero_for_a_filter_fixed_to_a_landmark_and_grows_with_jitter():
    from xaikit.interpretation.filters import location_instability, part_landmarks

    rng = np.random.default_rng(6)
    n = 20
    cells = rng.integers(0, 4, (n, 2))
    maps = np.zeros((n, 4, 4, 3))
    maps[np.arange(n), cells[:, 0], cells[:, 1], 0] = 1.0  # follows the landmark
    maps[np.arange(n), rng.integers(0, 4, n), rng.integers(0, 4, n), 1] = 1.0  # wanders
    maps[:, :, :, 2] = -1.0  # never fires
    parts = {"part": np.zeros((n, 8, 8), bool)}
    parts["part"][np.arange(n), 2 * cells[:, 0], 2 * cells[:, 1]] = True
    landmarks = part_landmarks(parts, ["part"]) + 0.5  # the centre of the cell's first pixel
    spread = location_instability(maps, landmarks, (8, 8))
    assert spread[0] == pytest.approx(0.0, abs=1e-12)
    assert spread[1] > spread[0] + 0.05 and np.isnan(spread[2])
    with pytest.raises(ValueError, match="landmarks"):
        location_instability(maps, landmarks[:5], (8, 8))


def test_interpretable_cnn_masks_at_the_peak():
    from xaikit.models.interpretable_cnn import interpretable_cnn

    keras.utils.set_random_seed(0)
    model = interpretable_cnn((32, 32, 3), 3)
    images = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype(np.float32)
    layer = model.get_layer("masked_conv")
    features = keras.Model(model.inputs, [model.get_layer("last_conv").output, layer.output])
    raw, out = (np.asarray(a) for a in features([images]))
    flat_raw, flat_out = raw.reshape(4, 16, -1), out.reshape(4, 16, -1)
    peak = flat_raw.argmax(axis=1)
    kept = np.take_along_axis(flat_out, peak[:, None], 1) == np.take_along_axis(flat_raw, peak[:, None], 1)
    assert np.all(kept), "the peak passes unchanged (template value 1 there)"
    assert np.all(out >= 0) and np.all(out <= raw + 1e-7)


def _planted_part_patterns(seed: int, n: int = 120):
    """Three upper filters with one peak each at a random cell; two lower filters (twice the
    resolution), each a mixture of three part patterns at known offsets from different parents,
    present on 90 % of the images, with one cell of jitter, over weak noise."""
    rng = np.random.default_rng(seed)
    upper = rng.uniform(0.0, 0.1, (n, 16, 16, 3))
    parent = rng.integers(3, 12, (n, 3, 2))
    upper[np.arange(n)[:, None], parent[..., 0], parent[..., 1], np.arange(3)] = 1.0
    lower = rng.uniform(0.0, 0.1, (n, 32, 32, 2))
    patterns = [(0, 0, (3, -4)), (0, 1, (-5, 2)), (0, 2, (1, 6)),  # (filter, parent, cells)
                (1, 0, (-3, -3)), (1, 1, (4, 0)), (1, 2, (0, -6))]
    planted = []
    for f, u, shift in patterns:
        present = rng.uniform(size=n) < 0.9
        cell = 2 * parent[:, u] + 1 + np.asarray(shift) + rng.integers(0, 2, (n, 2))
        lower[np.nonzero(present)[0], cell[present, 0], cell[present, 1], f] = rng.uniform(
            0.6, 1.0, present.sum())
        # pixel offset from the parent's centre: 2 px lower cells, 4 px upper cells, jitter 1 px
        planted.append((f, u, 2.0 * np.asarray(shift) + 2.0, present, 2.0 * cell + 1.0))
    return lower, upper, planted


@pytest.mark.parametrize("seed", [0, 1])
def test_explanatory_graph_recovers_planted_part_patterns(seed):
    from xaikit.interpretation.explanatory_graph import edges, explanatory_graph, local_peaks

    lower, upper, planted = _planted_part_patterns(seed)
    graph = explanatory_graph([lower, upper], (64, 64), nodes=(3, 1), parents=2)
    positions, _ = local_peaks(lower, (64, 64), 3)
    matched, found_nodes = set(), []
    for f, u, offset, present, where in planted:
        k = np.abs(positions[:, f] - where[:, None]).sum(-1).argmin(axis=1)
        label = graph[0].assignment[np.arange(len(k)), f, k][present]
        node = np.bincount(label[label >= 0]).argmax()
        assert graph[0].filters[node] == f
        assert np.mean(label == node) >= 0.9, "at least 90 % of the pattern's peaks to one node"
        matched.add(node)
        found_nodes.append(node)
        assert u in graph[0].parents[node], "the planted parent is one of the node's parents"
        found = graph[0].offsets[node, list(graph[0].parents[node]).index(u)]
        assert np.all(np.abs(found - offset) <= 1.0), "offset recovered within a pixel"
    assert len(matched) == 6, "each planted pattern has its own node"
    support = {(e.upper, e.lower): e.support for e in edges(graph)}
    for (_, u, _, present, _), node in zip(planted, found_nodes):  # co-activation share
        assert abs(support[u, node] - present.mean()) <= 0.1
    top = graph[1]  # one node per upper filter, hanging from the root at the origin
    assert np.all(top.parents == 0) and np.all(top.active.mean(axis=0) > 0.9)


def test_explanatory_graph_errors_and_one_layer():
    from xaikit.interpretation.explanatory_graph import explanatory_graph

    maps = np.zeros((6, 8, 8, 1))
    maps[np.arange(6), np.arange(6), 2, 0] = 1.0
    with pytest.raises(ValueError, match="at least one layer"):
        explanatory_graph([], (8, 8))
    with pytest.raises(ValueError, match="same images"):
        explanatory_graph([maps, maps[:3]], (8, 8))
    with pytest.raises(ValueError, match="nodes"):
        explanatory_graph([maps, maps], (8, 8), nodes=(1, 2, 3))
    top, = explanatory_graph([maps], (8, 8), nodes=1)
    assert top.offsets.shape == (1, 1, 2) and np.allclose(top.offsets[0, 0], [3.0, 2.5])


# ---------------------------------------------------------------- nothing lost: resumable loops
class _Interrupted(Exception):
    pass


def _interrupting(monkeypatch, module, after: int) -> None:
    """Make ``module.save_epoch`` raise right after it saved epoch ``after`` (a crash)."""
    real = module.save_epoch

    def save_then_crash(path, variables, epoch):
        real(path, variables, epoch)
        if epoch == after:
            raise _Interrupted

    monkeypatch.setattr(module, "save_epoch", save_then_crash)


def _interrupted_then_resumed(monkeypatch, module, after, fit, build, checkpoint):
    """Weights of an uninterrupted run and of a run interrupted after epoch ``after`` and rerun."""
    straight = build()
    fit(straight, None)
    _interrupting(monkeypatch, module, after)
    with pytest.raises(_Interrupted):
        fit(build(), checkpoint)
    assert checkpoint.exists(), "the checkpoint of the finished epochs is on disk"
    monkeypatch.undo()
    resumed = build()
    fit(resumed, checkpoint)
    assert not checkpoint.exists(), "deleted when training ends"
    return straight.get_weights(), resumed.get_weights()


def test_run_steps_resumes_an_interrupted_interpretable_cnn_to_the_same_weights(monkeypatch,
                                                                               tmp_path):
    import xaikit.models.training as training
    from xaikit.models.interpretable_cnn import fit_interpretable_cnn, interpretable_cnn

    rng = np.random.default_rng(2)
    images = rng.uniform(size=(12, 16, 16, 3)).astype(np.float32)
    labels = np.arange(12) % 3

    def build():
        keras.utils.set_random_seed(4)
        return interpretable_cnn((16, 16, 3), 3)

    def fit(model, checkpoint):
        fit_interpretable_cnn(model, images, labels, epochs=2, batch_size=6, learning_rate=0.01,
                              progress=False, checkpoint=checkpoint)

    straight, resumed = _interrupted_then_resumed(monkeypatch, training, 1, fit, build,
                                                  tmp_path / "icnn.ckpt.npz")
    assert all(np.array_equal(a, b) for a, b in zip(straight, resumed))
    moved = build().get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(straight, moved)), "training moved"


@pytest.mark.slow
def test_bottleneck_training_resumes_to_the_same_weights(monkeypatch, tmp_path):
    import xaikit.models.bottleneck as bottleneck

    rng = np.random.default_rng(5)
    images = rng.uniform(size=(12, 16, 16, 3)).astype(np.float32)
    concepts, labels = (rng.uniform(size=(12, 5)) > 0.5).astype(np.float32), np.arange(12) % 4

    def build():
        keras.utils.set_random_seed(6)
        model = bottleneck_model((16, 16, 3), n_concepts=5, n_classes=4, name="tiny")
        model.compile(optimizer=keras.optimizers.Adam(0.01),
                      loss=[keras.losses.BinaryCrossentropy(),
                            keras.losses.SparseCategoricalCrossentropy()], jit_compile=False)
        return model

    def fit(model, checkpoint):
        bottleneck._fit(model, images, [concepts, labels], epochs=3, batch_size=4, seed=0,
                        bar=None, checkpoint=checkpoint)

    straight, resumed = _interrupted_then_resumed(monkeypatch, bottleneck, 1, fit, build,
                                                  tmp_path / "cbm.ckpt.npz")
    assert all(np.array_equal(a, b) for a, b in zip(straight, resumed))


@pytest.mark.slow
def test_protopnet_resumes_across_the_warm_up_to_the_same_weights(monkeypatch, tmp_path):
    import xaikit.models.training as training

    rng = np.random.default_rng(7)
    images, labels = rng.uniform(size=(12, 10, 10, 3)).astype(np.float32), np.arange(12) % 3

    def build():
        keras.utils.set_random_seed(1)
        inputs = keras.Input((10, 10, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="last_conv")(inputs)
        out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
        return protopnet(keras.Model(inputs, out), 3, per_class=1, depth=5)

    def fit(model, checkpoint):
        fit_protopnet(model, images, labels, warm_epochs=1, joint_epochs=1, batch_size=6,
                      learning_rate=0.01, progress=False, checkpoint=checkpoint)

    straight, resumed = _interrupted_then_resumed(monkeypatch, training, 1, fit, build,
                                                  tmp_path / "protopnet.ckpt.npz")
    assert all(np.array_equal(a, b) for a, b in zip(straight, resumed))


def test_a_checkpoint_that_does_not_fit_is_ignored_with_a_warning(tmp_path):
    from xaikit.models.training import resume_epoch, save_epoch

    path = tmp_path / "ckpt.npz"
    save_epoch(path, [keras.Variable(np.zeros(3))], 2)
    target = keras.Variable(np.ones(2))
    with pytest.warns(RuntimeWarning, match="ignoring training checkpoint"):
        assert resume_epoch(path, [target]) == 0
    assert np.array_equal(np.asarray(target), np.ones(2))
