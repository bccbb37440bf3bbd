"""Concepts, representations, surrogates and examples (issue 18): properties with known answers.

- TCAV on a network built so that one known direction of a layer carries the class.
- CKA/SVCCA: invariances the papers prove, and the non-invariance CKA is designed to have.
- A surrogate tree reaches fidelity 1 on a network that *is* a small tree on the features.
- CRAFT's NMF recovers concept factors planted in a layer's activations.
- MMD-critic picks one prototype per cluster and the outlier as criticism.
"""

from __future__ import annotations

import doctest

import keras
import numpy as np
import pytest

from xaikit.core.taps import layer_activations, tail_model
from xaikit.interpretation.concepts import cav, concept_presence, tcav, tcav_from_activations
from xaikit.interpretation.discovery import concept_part_iou, craft
from xaikit.interpretation.examples import nearest_training_examples, prototypes_and_criticisms
from xaikit.interpretation.representations import cka, layer_similarity, svcca
from xaikit.interpretation.surrogates import distill, extract_rules, surrogate_tree

SIDE = 4
DIM = SIDE * SIDE


# ----------------------------------------------------------------------------------- TCAV


def _direction_model(direction: np.ndarray) -> keras.Model:
    """Flatten -> identity Dense ("f") -> hidden ReLU -> logits; logit 0 grows along
    ``direction`` of f, logit 1 does not see it.

    ("f" is a Dense layer: Keras returns no gradient with respect to a Flatten or Reshape
    output tapped from a functional model, so such a layer cannot be TCAV's layer.)"""
    inputs = keras.Input((SIDE, SIDE, 1))
    flat = keras.layers.Dense(DIM, name="f")(keras.layers.Flatten()(inputs))
    hidden = keras.layers.Dense(2, activation="relu", name="hidden")(flat)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inputs, logits)
    other = np.random.default_rng(1).normal(size=DIM)
    other -= other @ direction * direction
    model.get_layer("f").set_weights([np.eye(DIM, dtype=np.float32), np.zeros(DIM, np.float32)])
    model.get_layer("hidden").set_weights([np.stack([direction, other], 1).astype(np.float32),
                                           np.array([5.0, 5.0], np.float32)])
    model.get_layer("logits").set_weights([np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
                                           np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def planted():
    generator = np.random.default_rng(0)
    direction = generator.normal(size=DIM)
    direction /= np.linalg.norm(direction)
    orthogonal = generator.normal(size=DIM)
    orthogonal -= orthogonal @ direction * direction
    orthogonal /= np.linalg.norm(orthogonal)

    def images(n: int, shift: np.ndarray | float = 0.0) -> np.ndarray:
        flat = generator.normal(size=(n, DIM)) + shift
        return flat.reshape(n, SIDE, SIDE, 1).astype(np.float32)

    concepts = {"along": images(40, 3 * direction), "against": images(40, -3 * direction),
                "orthogonal": images(40, 3 * orthogonal), "random": images(40)}
    return _direction_model(direction), direction, concepts, images(120), images(30)


def test_cav_points_along_the_planted_direction(planted):
    model, direction, concepts, pool, _ = planted
    vector = cav(model, "f", concepts["along"], pool[:40]).vector
    assert vector @ direction > 0.9
    assert abs(cav(model, "f", concepts["orthogonal"], pool[:40]).vector @ direction) < 0.4


def test_tcav_finds_the_known_direction_and_only_it(planted):
    model, _, concepts, pool, class_images = planted
    result = tcav(model, class_images, 0, "f", concepts, random_images=pool, n_random=30, seed=0)
    mean = dict(zip(result.concepts, result.scores.mean(axis=1)))
    significant = dict(zip(result.concepts, result.significant.tolist()))
    assert mean["along"] == 1.0 and mean["against"] == 0.0
    assert significant == {"along": True, "against": True, "orthogonal": False, "random": False}
    assert result.n_tests == 4 and result.random_scores.shape == (30,)
    # class 1 does not see the direction: nothing is significant for it
    blind = tcav(model, class_images, 1, "f", concepts, random_images=pool, n_random=30, seed=0)
    assert not blind.significant[:2].any()


def test_tcav_score_is_the_share_of_positive_directional_derivatives():
    generator = np.random.default_rng(3)
    gradients = generator.normal(size=(50, 6))
    concept = generator.normal(size=(20, 6)) + np.r_[4.0, 0, 0, 0, 0, 0]
    pool = generator.normal(size=(40, 6))
    result = tcav_from_activations(gradients, {"c": concept}, pool, n_random=5, seed=0)
    # a CAV along e_0 (the concept's shift) scores the share of gradients with g_0 > 0, about
    expected = np.mean(gradients[:, 0] > 0)
    assert abs(result.scores.mean() - expected) < 0.15
    assert set(np.unique(result.scores * 50)) <= set(range(51))  # multiples of 1/N


@pytest.mark.parametrize("n, d", [(30, 50), (60, 4)])
def test_batched_logistic_regression_is_scikit_learns_optimum(n, d):
    """The batched Newton solver reaches scikit-learn's LogisticRegression optimum (C = 1,
    unpenalised intercept), in the span of the rows (d > n) and in full rank (d < n)."""
    from sklearn.linear_model import LogisticRegression

    from xaikit.interpretation.concepts import _logistic_regressions

    generator = np.random.default_rng(n)
    rows = generator.normal(size=(3, n, d))
    labels = np.arange(n) < n // 3
    rows[:, labels] += 0.7
    a, intercept = _logistic_regressions(rows @ np.swapaxes(rows, 1, 2), labels)
    for x, coefficients, c in zip(rows, a, intercept):
        oracle = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(x, labels)
        np.testing.assert_allclose(x.T @ coefficients, oracle.coef_[0], atol=1e-6)
        assert abs(c - oracle.intercept_[0]) < 1e-6


def test_tcav_is_seeded_and_tidy(planted):
    model, _, concepts, pool, class_images = planted
    a, b = (tcav(model, class_images, 0, "f", concepts["random"], random_images=pool,
                 n_random=5, seed=7) for _ in range(2))
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.p_values, b.p_values)
    rows = a.to_rows()
    assert len(rows) == 2 * 5 and {r["concept"] for r in rows} == {"concept", "random (null)"}
    assert a.summary()[-1]["p_value"] is None


def test_tcav_errors_name_the_problem(planted):
    model, _, concepts, pool, class_images = planted
    with pytest.raises(ValueError, match="random"):
        tcav(model, class_images, 0, "f", concepts["along"], random_images=pool[:10],
             set_size=20)
    with pytest.raises(ValueError, match="concepts"):
        tcav_from_activations(np.ones((3, 4)), {"c": np.ones((5, 3))}, np.ones((20, 4)))
    with pytest.raises(ValueError, match="n_random"):
        tcav_from_activations(np.ones((3, 4)), {"c": np.ones((5, 4))}, np.ones((20, 4)),
                              n_random=1)


def test_concept_presence_is_the_cav_classifier_probability(planted):
    model, _, concepts, pool, class_images = planted
    vector = cav(model, "f", concepts["along"], pool[:40])
    presence = concept_presence(model, class_images, {"along": vector})
    acts = class_images.reshape(len(class_images), -1)
    expected = 1 / (1 + np.exp(-(acts @ vector.weights + vector.intercept)))
    np.testing.assert_allclose(presence[:, 0], expected, rtol=1e-5)
    assert presence.shape == (len(class_images), 1)


# --------------------------------------------------------------------- CKA and SVCCA


@pytest.fixture(scope="module")
def reps():
    generator = np.random.default_rng(0)
    x = generator.normal(size=(80, 12)) @ generator.normal(size=(12, 12))
    rotation, _ = np.linalg.qr(generator.normal(size=(12, 12)))
    invertible = generator.normal(size=(12, 12))
    return x, rotation, invertible


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_cka_invariant_to_rotation_scale_and_offset(reps, kernel):
    x, rotation, _ = reps
    assert cka(x, x, kernel=kernel) == pytest.approx(1.0, abs=1e-12)
    assert cka(x, 2.5 * x @ rotation + 7.0, kernel=kernel) == pytest.approx(1.0, abs=1e-10)
    y = np.tanh(x[:, :5])
    assert cka(x, y, kernel=kernel) == pytest.approx(cka(x @ rotation, 0.1 * y, kernel=kernel),
                                                     abs=1e-10)
    assert cka(x, y, kernel=kernel) == pytest.approx(cka(y, x, kernel=kernel), abs=1e-12)


def test_cka_is_not_invariant_to_invertible_maps(reps):
    x, _, invertible = reps
    assert 1 - cka(x, x @ invertible) > 1e-2
    assert 1 - cka(x, x * np.r_[10.0, np.ones(11)]) > 1e-2  # anisotropic scaling


def test_linear_cka_equals_the_hsic_ratio_and_is_small_for_independent_data(reps):
    x, _, _ = reps
    y = np.random.default_rng(5).normal(size=(80, 7))
    n = len(x)
    h = np.eye(n) - 1 / n
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731  Eq. (3), the n-independent part
    gram_x, gram_y = x @ x.T, y @ y.T
    expected = hsic(gram_x, gram_y) / np.sqrt(hsic(gram_x, gram_x) * hsic(gram_y, gram_y))
    assert cka(x, y) == pytest.approx(expected, rel=1e-10)  # the feature-space route (p <= n)
    wide = np.random.default_rng(6).normal(size=(10, 30))  # p > n: the Gram route
    gram_w, gram_v = wide @ wide.T, wide[:, :5] ** 2 @ (wide[:, :5] ** 2).T
    h = np.eye(10) - 1 / 10
    expected = np.trace(gram_w @ h @ gram_v @ h) / np.sqrt(
        np.trace(gram_w @ h @ gram_w @ h) * np.trace(gram_v @ h @ gram_v @ h))
    assert cka(wide, wide[:, :5] ** 2) == pytest.approx(expected, rel=1e-10)
    assert cka(x, y) < 0.3


def test_svcca_is_mean_cca_invariant_to_invertible_maps(reps):
    x, _, invertible = reps
    generator = np.random.default_rng(2)
    y = x[:, :6] + generator.normal(size=(80, 6))
    assert svcca(x, x @ invertible, keep=1.0) == pytest.approx(1.0, abs=1e-9)
    # independent route: canonical correlations from the covariance blocks
    xc, yc = x - x.mean(0), y - y.mean(0)
    sxx, syy, sxy = xc.T @ xc, yc.T @ yc, xc.T @ yc
    rho2 = np.linalg.eigvals(np.linalg.solve(syy, sxy.T) @ np.linalg.solve(sxx, sxy)).real
    expected = np.mean(np.sqrt(np.clip(np.sort(rho2)[::-1][:6], 0, 1)))
    assert svcca(x, y, keep=1.0) == pytest.approx(expected, abs=1e-9)
    # the SVD step keeps fewer directions: a different, smaller similarity of a noisy copy
    assert svcca(x, y, keep=0.5) != pytest.approx(svcca(x, y, keep=1.0), abs=1e-6)


def test_layer_similarity_of_a_model(planted):
    model, _, _, pool, _ = planted
    sim = layer_similarity(model, pool, ["f", "hidden", "logits"])
    assert sim.matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(sim.matrix), 1.0, atol=1e-10)
    np.testing.assert_allclose(sim.matrix, sim.matrix.T, atol=1e-12)
    acts = layer_activations(model, pool, ["f", "logits"])
    assert sim.matrix[0, 2] == pytest.approx(cka(acts["f"], acts["logits"]), abs=1e-6)
    few = layer_similarity(model, pool[:10], ["f", "logits"])  # 16 features > 10 images: Grams
    assert few.matrix[0, 1] == pytest.approx(cka(acts["f"][:10], acts["logits"][:10]), abs=1e-6)
    assert len(sim.to_rows()) == 9


def test_cka_errors_name_the_problem():
    with pytest.raises(ValueError, match="row"):
        cka(np.ones((5, 2)), np.ones((6, 2)))
    with pytest.raises(ValueError, match="kernel"):
        cka(np.ones((5, 2)), np.ones((5, 2)), kernel="cosine")


# ------------------------------------------------------------------------ surrogates

THRESHOLD = 0.5
LEVELS = np.array([0.1, 0.3, 0.7, 0.9])


def _tree_model() -> keras.Model:
    """A network that is a depth-2 tree on its two channel means f0, f1:
    class 0 if f0 <= 0.5, else class 1 if f1 <= 0.5, else class 2."""
    inputs = keras.Input((SIDE, SIDE, 2))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)

    def tree(f):
        high0, high1 = f[:, 0] > THRESHOLD, f[:, 1] > THRESHOLD
        label = keras.ops.where(high0, keras.ops.where(high1, 2, 1), 0)
        return 10.0 * keras.ops.one_hot(label, 3)

    return keras.Model(inputs, keras.layers.Lambda(tree, output_shape=(3,))(pooled))


def test_surrogate_tree_reaches_fidelity_one_on_a_tree_network():
    generator = np.random.default_rng(0)
    features = LEVELS[generator.integers(0, 4, size=(200, 2))]
    images = np.broadcast_to(features[:, None, None, :], (200, SIDE, SIDE, 2)).astype(np.float32)
    fitted = surrogate_tree(_tree_model(), images, features, feature_names=["f0", "f1"],
                            class_names=["low", "mid", "high"], max_depth=2, depths=(1, 2, 3))
    assert fitted.fidelity == 1.0
    np.testing.assert_array_equal(fitted.held_out_fidelity[1:], 1.0)
    assert fitted.held_out_fidelity[0] < 0.95  # one split cannot separate three classes
    assert len(fitted.held_out) == 60 and len(np.unique(fitted.held_out)) == 60
    rules = {str(r).split("  (")[0] for r in fitted.rules}
    assert rules == {"IF f0 <= 0.5 THEN low", "IF f0 > 0.5 AND f1 <= 0.5 THEN mid",
                     "IF f0 > 0.5 AND f1 > 0.5 THEN high"}
    assert all(r.confidence == 1.0 for r in fitted.rules)
    assert [row["depth"] for row in fitted.to_rows()] == [1, 2, 3]


def test_distilled_student_is_cached_and_reloaded_without_training(tmp_path, monkeypatch):
    import xaikit.models

    monkeypatch.setenv("XAIKIT_CACHE", str(tmp_path))
    features = LEVELS[np.random.default_rng(0).integers(0, 4, size=(60, 2))]
    images = np.broadcast_to(features[:, None, None, :], (60, SIDE, SIDE, 2)).astype(np.float32)
    run = lambda: distill(_tree_model(), images[:40], val_images=images[40:], epochs=1,  # noqa: E731
                          progress=False, cache=True)
    first = run()
    monkeypatch.setattr(xaikit.models, "train", lambda *a, **k: pytest.fail("trained again"))
    again = run()
    assert (again.agreement, again.logit_r2, again.history) == (first.agreement, first.logit_r2,
                                                                first.history)
    assert len(list((tmp_path / "models").glob("distill-*.keras"))) == 1


def test_surrogate_tree_rejects_misaligned_features():
    images = np.zeros((10, SIDE, SIDE, 2), np.float32)
    with pytest.raises(ValueError, match="features"):
        surrogate_tree(_tree_model(), images, np.zeros((9, 2)))


def test_extract_rules_covers_every_training_example():
    from sklearn.tree import DecisionTreeClassifier

    generator = np.random.default_rng(1)
    x, y = generator.normal(size=(60, 3)), generator.integers(0, 3, 60)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    rules = extract_rules(tree, ["a", "b", "c"], ["x", "y", "z"])
    assert sum(r.support for r in rules) == 60 and len(rules) == tree.get_n_leaves()


# ---------------------------------------------------------------- CRAFT: planted NMF


def _planted_factor_model(bank: np.ndarray, readout: np.ndarray) -> keras.Model:
    """Pixels hold non-negative concept coefficients u (3 channels); the 1x1 convolution
    "concepts" maps them to u @ bank (non-negative), the logits read the pooled coefficients."""
    inputs = keras.Input((16, 16, 3))
    acts = keras.layers.Conv2D(bank.shape[1], 1, activation="relu", name="concepts")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(acts)
    logits = keras.layers.Dense(2, name="logits")(pooled)
    model = keras.Model(inputs, logits)
    model.get_layer("concepts").set_weights([bank[None, None].astype(np.float32),
                                             np.zeros(bank.shape[1], np.float32)])
    model.get_layer("logits").set_weights([readout.astype(np.float32), np.zeros(2, np.float32)])
    return model


def test_craft_recovers_planted_factors_and_their_importance():
    generator = np.random.default_rng(0)
    bank = generator.uniform(size=(3, 10)) * (generator.uniform(size=(3, 10)) > 0.4)
    # the target logit reads concept 0 strongly, concept 1 weakly, concept 2 not at all
    readout = np.linalg.pinv(bank) @ np.array([[3.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    model = _planted_factor_model(bank, readout)
    n = 12
    quadrant = generator.integers(0, 3, size=(n, 2, 2))  # each quadrant one pure concept
    coefficients = np.eye(3)[quadrant] * generator.uniform(0.5, 1.5, size=(n, 2, 2, 1))
    images = np.repeat(np.repeat(coefficients, 8, axis=1), 8, axis=2).astype(np.float32)
    found = craft(model, images, 0, "concepts", n_concepts=3, n_masks=64, seed=0)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    cosines = unit(found.directions) @ unit(bank).T  # (found, planted)
    match = cosines.argmax(axis=1)
    assert sorted(match) == [0, 1, 2] and cosines.max(axis=1).min() > 0.99
    assert match[0] == 0  # the most important concept is the one the logit reads most
    assert found.importance[0] > found.importance[1] > found.importance[2] - 1e-6
    # each concept's region is where its planted coefficient is
    planted_masks = {str(k): np.argmax(images, axis=-1) == k for k in range(3)}
    iou = concept_part_iou(found.masks, planted_masks)
    assert iou.best_part == [str(k) for k in match] and iou.purity.min() > 0.9
    assert found.maps.shape == (3, n, 16, 16) and found.to_rows()[0]["p_value"] is None


def test_craft_refuses_a_layer_with_negative_activations():
    model = _planted_factor_model(np.eye(3, 4), np.ones((4, 2)))
    images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="non-negative"):
        craft(model, images, 0, "logits", n_concepts=2)


# ----------------------------------------------------------------------- examples


def _identity_model() -> keras.Model:
    inputs = keras.Input((2, 2, 1))
    return keras.Model(inputs, keras.layers.Flatten(name="flat")(inputs))


def test_mmd_critic_prototypes_cover_the_big_clusters_and_criticise_the_missed_one():
    generator = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [6, 6, 0, 0], [0, 0, 6, 6], [6, 0, 6, 0]], float)
    sizes = (30, 30, 30, 20)  # three prototypes go to the big clusters; the small one is missed
    x = np.concatenate([c + 0.3 * generator.normal(size=(n, 4)) for c, n in zip(centres, sizes)])
    images = x.reshape(-1, 2, 2, 1).astype(np.float32)
    chosen = prototypes_and_criticisms(_identity_model(), images, layer="flat", pool=None,
                                       n_prototypes=3, n_criticisms=2, gamma=0.1)
    assert sorted(chosen.prototypes[0] // 30) == [0, 1, 2]
    first, second = chosen.criticisms[0]
    assert first >= 90  # the missed cluster is criticised first
    assert second < 90  # the log-det diversity term then looks elsewhere (Kim et al., Eq. 5)
    assert np.all(chosen.witness[90:] > chosen.witness[:90].max())
    assert chosen.mmd2[0] >= 0 and len(chosen.to_rows()) == 5
    grouped = prototypes_and_criticisms(_identity_model(), images, layer="flat", pool=None,
                                        groups=np.repeat(np.arange(4), sizes), n_prototypes=1,
                                        n_criticisms=0)
    assert [int(v[0]) // 30 for v in grouped.prototypes.values()] == [0, 1, 2, 3]


def test_nearest_training_examples_finds_the_copies():
    generator = np.random.default_rng(1)
    train = generator.normal(size=(20, 2, 2, 1)).astype(np.float32)
    near = nearest_training_examples(_identity_model(), train[[4, 11]] + 1e-4, train,
                                     layer="flat", pool=None, k=3)
    assert near.indices[:, 0].tolist() == [4, 11] and near.indices.shape == (2, 3)
    assert np.all(np.diff(near.distances, axis=1) >= 0)


@pytest.mark.parametrize("module", ["concepts", "discovery", "representations", "surrogates",
                                    "examples"])
def test_docstring_examples_run(module):
    import importlib

    imported = importlib.import_module(f"xaikit.interpretation.{module}")
    assert doctest.testmod(imported, extraglobs={"np": np}).failed == 0


# ------------------------------------------------------------------------- core.taps


def test_layer_activations_and_the_tail_recompose_the_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(conv)
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(pooled))
    images = np.random.default_rng(0).uniform(size=(7, 6, 6, 2)).astype(np.float32)
    together = layer_activations(model, images, ["conv", "logits"], batch_size=3)
    alone = layer_activations(model, images, ["conv"], pool="mean")
    np.testing.assert_allclose(together["conv"].mean(axis=(1, 2)), alone["conv"], atol=1e-6)
    np.testing.assert_allclose(together["logits"], model.predict(images, verbose=0), atol=1e-5)
    tail = tail_model(model, "conv")
    np.testing.assert_allclose(tail.predict(together["conv"], verbose=0), together["logits"],
                               atol=1e-5)


def test_taps_refuse_what_they_cannot_do():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    twice = keras.Model(inputs, keras.layers.Dense(2)(shared(shared(hidden))))
    with pytest.raises(ValueError, match="called 2 time"):
        layer_activations(twice, np.zeros((2, 4)), ["shared"])
    skip = keras.Model(inputs, keras.layers.Add()([hidden, keras.layers.Dense(4, name="mid")(hidden)]))
    with pytest.raises(ValueError, match="every path"):
        tail_model(skip, "mid")  # the sum also needs "hidden", which skips around "mid"
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="inner_dense")])
    outer = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="nested"):
        tail_model(outer, "inner_dense")
