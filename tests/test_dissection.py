"""Concept masks, Network Dissection, compositional explanations and Net2Vec (issue 17).

A model built so that known units fire only on known colours must be labelled with those
colours; IoUs equal a NumPy transcription of Bau et al.'s definition; the detector count is
the documented one; a random rotation of a perfectly axis-aligned layer loses detectors.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.base.resize import resize_bilinear
from xaikit.data import an8flower, shapes
from xaikit.data.concepts import ConceptSet, colour_names, concepts
from xaikit.interpretation import dissection
from xaikit.interpretation.compositional import (
    OPERATORS,
    _text,
    _words,
    beam_search,
    compositional_explanations,
)
from xaikit.interpretation.dissection import (
    Dissection,
    LayerDissection,
    merge_top,
    network_dissection,
    random_rotation,
    top_count,
)
from xaikit.interpretation.net2vec import average_precision, net2vec

SIZE = 32


def colour_model() -> keras.Model:
    """Units 0, 1, 2 fire on red, green and blue pixels; unit 3 is a copy of unit 0 scaled."""
    inputs = keras.Input((SIZE, SIZE, 3))
    pre = keras.layers.Conv2D(4, 1, name="pre")
    x = keras.layers.ReLU(name="colour")(pre(inputs))
    x = keras.layers.AveragePooling2D(2, name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(6)(keras.layers.GlobalAveragePooling2D()(x)))
    kernel = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [2, -2, -2]], np.float32).T
    pre.set_weights([kernel[None, None], np.array([-0.2, -0.05, -0.2, -0.4], np.float32)])
    return model


@pytest.fixture(scope="module")
def flowers():
    return an8flower(n_per_class=4, size=SIZE, seed=3)


@pytest.fixture(scope="module")
def model():
    return colour_model()


def test_concept_masks_are_the_generators_parts_and_colours(flowers):
    found = concepts(flowers)
    masks = found.masks()
    index = {name: i for i, name in enumerate(found.names)}
    assert np.array_equal(masks[..., index["petals"]], flowers.parts["petals"])
    red = flowers.labels == 0
    assert np.array_equal(masks[red, ..., index["red"]], flowers.parts["petals"][red])
    assert not masks[~red, ..., index["red"]].any()
    assert np.array_equal(masks[..., index["green"]], flowers.parts["stem"] | flowers.parts["leaves"])
    texture = masks[..., [index["plain"], index["blob"], index["twig"]]]
    assert np.array_equal(texture.sum(-1), flowers.parts["background"])  # a partition of it
    assert found.category("twig") == "texture" and found.category("red") == "colour"
    small = concepts(flowers, size=16).masks(slice(0, 2))
    blocks = masks[:2].reshape(2, 16, 2, 16, 2, -1).mean(axis=(2, 4)) >= 0.5
    assert np.array_equal(small[..., index["petals"]], blocks[..., index["petals"]])
    with pytest.raises(ValueError, match="names no concept"):
        found.category("sky")


def test_shape_concepts_name_each_objects_hue():
    data = shapes(n_per_class=2, size=32, two_objects=True, seed=1)
    found = concepts(data)
    masks = found.masks()
    hues = colour_names(data.meta["object_colour"])
    for n in range(len(data)):
        first = data.parts[data.class_names[data.labels[n]]][n]
        assert masks[n, ..., found.names.index(hues[n, 0])][first].all()
    assert list(colour_names(np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]))) == [
        "red", "blue", "green"]
    with pytest.raises(ValueError, match="has no an8flower parts"):
        concepts(data.__class__(data.images, data.labels, data.class_names))


def _reference_iou(activations, quantile, masks):
    """Bau et al. in NumPy: threshold with m = ceil(q N h w) values above, upsample, IoU."""
    n, h, w, k = activations.shape
    values = np.sort(activations.reshape(-1, k), axis=0)[::-1]
    m = int(np.ceil(quantile * n * h * w))
    threshold = values[m]
    up = np.stack([resize_bilinear(activations[..., u], masks.shape[1:3]) for u in range(k)], -1)
    units = up > threshold
    inter = np.einsum("nhwk,nhwc->kc", units.astype(float), masks.astype(float))
    union = units.sum((0, 1, 2))[:, None] + masks.sum((0, 1, 2))[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0), threshold


def test_iou_matches_the_definition(model, flowers, monkeypatch):
    found = concepts(flowers, size=16)
    layers = ["colour", "pool"]  # a grid resampled to the masks (blocks of 2 x 2 cells) and
    # one at the masks' size (blocks of one cell)
    result = network_dissection(model, flowers, found, layers, batch_size=7)
    probe = dissection.feature_model(model, layers)
    for name, acts in zip(layers, probe(flowers.images)):
        expected, threshold = _reference_iou(np.asarray(acts), 0.005, found.masks())
        np.testing.assert_allclose(result.layer(name).iou, expected, atol=1e-6)
        np.testing.assert_allclose(result.layer(name).thresholds, threshold)
    odd = concepts(flowers, size=12)  # 16 -> 12: weights of thirds, float32 sums rounded to odd
    expected_odd, _ = _reference_iou(np.asarray(acts), 0.005, odd.masks())
    np.testing.assert_allclose(network_dissection(model, flowers, odd, "pool").layer("pool").iou,
                               expected_odd, atol=1e-6)
    monkeypatch.setattr(dissection, "MEMORY_BUDGET", 1024)  # activations in a temporary file
    held, limits = dissection.stream_activations(model, flowers.images, ["pool"], batch_size=5)
    iou = dissection.tally(held, limits, found, np.arange(len(flowers)), batch_size=6)[0]
    np.testing.assert_allclose(iou, expected, atol=1e-6)


def test_running_top_values_are_exact_with_ties_and_any_batching():
    values = np.random.default_rng(0).integers(0, 20, (500, 3)).astype(np.float32)  # many ties
    keep = top_count(0.01, len(values))
    for size in (1, 7, 500):
        top = np.zeros((3, 0), np.float32)
        for start in range(0, len(values), size):
            top = merge_top(top, values[start:start + size], keep)
        np.testing.assert_array_equal(np.sort(top, axis=1), np.sort(values.T, axis=1)[:, -keep:])


class Interrupt(Exception):
    pass


def _interrupt_after(monkeypatch, owner, name, calls):
    """Make ``owner.name`` raise Interrupt on call number ``calls + 1``."""
    original, count = getattr(owner, name), [0]

    def wrapped(*args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise Interrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


@pytest.mark.parametrize("phase", ["forward", "tally"])
def test_an_interrupted_dissection_resumes_to_the_same_result(model, flowers, tmp_path,
                                                              monkeypatch, phase):
    found = concepts(flowers, size=16)
    options = {"layers": ["colour", "pool"], "batch_size": 5, "progress": False}
    expected = network_dissection(model, flowers, found, **options)
    monkeypatch.setattr(dissection, "SAVE_SECONDS", 0.0)
    with monkeypatch.context() as patch:
        if phase == "forward":
            forward = dissection.batching.forward_function

            def failing(probe):
                run, count = forward(probe), [0]

                def step(x):
                    count[0] += 1
                    if count[0] > 2:
                        raise Interrupt
                    return run(x)
                return step
            patch.setattr(dissection.batching, "forward_function", failing)
        else:
            _interrupt_after(patch, type(found), "masks", 3)  # the fingerprint's, 2 batches
        with pytest.raises(Interrupt):
            network_dissection(model, flowers, found, checkpoint=tmp_path, **options)
    state = np.load(tmp_path / "state.npz")
    assert str(state["phase"]) == phase and int(state["batch"]) == 10
    calls, masks = [], type(found).masks
    monkeypatch.setattr(type(found), "masks", lambda self, index=slice(None), **options:
                        calls.append(index) or masks(self, index, **options))
    resumed = network_dissection(model, flowers, found, checkpoint=tmp_path, **options)
    tallied = len(flowers) - (10 if phase == "tally" else 0)  # calls[0]: the fingerprint's
    assert sum(len(np.arange(len(flowers))[index]) for index in calls[1:]) == tallied
    for name in ("colour", "pool"):
        np.testing.assert_allclose(resumed.layer(name).iou, expected.layer(name).iou, atol=1e-12)
        np.testing.assert_array_equal(resumed.layer(name).thresholds,
                                      expected.layer(name).thresholds)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.npz"]  # activations removed
    monkeypatch.setattr(dissection.batching, "forward_function", None)  # read back, not rerun
    again = network_dissection(model, flowers, found, checkpoint=tmp_path, **options)
    np.testing.assert_array_equal(again.layer("pool").iou, expected.layer("pool").iou)


def test_a_checkpoint_of_other_options_is_replaced_with_a_warning(model, flowers, tmp_path):
    found = concepts(flowers, size=16)
    network_dissection(model, flowers, found, "pool", checkpoint=tmp_path, progress=False)
    with pytest.warns(UserWarning, match="not resuming"):
        other = network_dissection(model, flowers, found, "pool", quantile=0.02,
                                   checkpoint=tmp_path, progress=False)
    fresh = network_dissection(model, flowers, found, "pool", quantile=0.02, progress=False)
    np.testing.assert_array_equal(other.layer("pool").iou, fresh.layer("pool").iou)


def test_units_built_to_detect_a_colour_are_labelled_with_it(model, flowers):
    """quantile 0.02 ~ the size of one colour's region here (at 0.005 the green unit's top
    pixels are the brightest greens, which are leaves: it is then labelled "leaves")."""
    result = network_dissection(model, flowers, concepts(flowers, size=16), ["colour", "pool"],
                                quantile=0.02)
    assert result.labels("colour")[:4] == ["red", "green", "blue", "red"]
    assert result.layer("colour").detectors.sum() == 4
    assert result.unique_detectors("colour") == ["red", "blue", "green"] or \
        sorted(result.unique_detectors("colour")) == ["blue", "green", "red"]
    summary = result.summary()[0]
    assert summary["detectors"] == 4 and summary["unique_detectors"] == 3
    assert summary["unique_colour"] == 3
    rotated = [network_dissection(model, flowers, concepts(flowers, size=16), "colour",
                                  quantile=0.02, rotation=seed).layer("colour").best_iou.mean()
               for seed in range(3)]
    assert max(rotated) < result.layer("colour").best_iou.mean()


def test_detectors_are_counted_as_documented():
    iou = np.array([[0.05, 0.05, 0.0],    # tie: the first concept, "a"
                    [0.04, 0.0, 0.0],     # exactly the threshold: not a detector
                    [0.0, 0.3, 0.1],      # "b"
                    [0.2, 0.0, 0.0]])     # "a" again: counted once among unique detectors
    layer = LayerDissection("l", np.zeros(4), iou, 0.04)
    result = Dissection(("a", "b", "c"), ("x", "x", "y"), (layer,), 0.005)
    assert layer.detectors.tolist() == [True, False, True, True]
    assert result.labels("l") == ["a", None, "b", "a"]
    assert result.unique_detectors("l") == ["b", "a"]
    assert result.summary()[0] == {"layer": "l", "units": 4, "detectors": 3,
                                   "unique_detectors": 2, "unique_x": 2, "unique_y": 0}
    assert len(result.to_rows()) == 4


def test_random_rotation_is_orthogonal_and_seeded():
    q = random_rotation(5, np.random.default_rng(0))
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-5)
    assert np.array_equal(q, random_rotation(5, np.random.default_rng(0)))


def test_dissection_errors(model, flowers):
    with pytest.raises(ValueError, match="concepts hold masks of 2 images but data holds"):
        network_dissection(model, flowers, ConceptSet.from_masks({"a": np.ones((2, 4, 4))}),
                           "colour")
    with pytest.raises(ValueError, match="expected a spatial"):
        network_dissection(model, flowers, concepts(flowers), model.layers[-1].name)  # the Dense head


def _one_unit_search(unit, atoms, names, length, beam):
    """Reference: the beam search of one unit on bool masks, formulas keyed by their text."""
    def iou(bits):
        inter = (bits & unit).sum(axis=-1)
        union = unit.sum() + bits.sum(axis=-1) - inter
        return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)

    combine = {"AND": lambda a, b: a & b, "OR": lambda a, b: a | b,
               "AND NOT": lambda a, b: a & ~b}
    scores = iou(atoms)
    pool = {names[c]: (float(scores[c]), atoms[c]) for c in range(len(names))}
    kept = sorted(pool.items(), key=lambda item: -item[1][0])[:beam]
    for _ in range(2, length + 1):
        grown = dict(kept)
        for text, (_, bits) in kept:
            for op in OPERATORS:
                combined = combine[op](bits, atoms)
                scores = iou(combined)
                for c in np.argsort(-scores, kind="stable")[:beam]:
                    grown.setdefault(f"({text} {op} {names[c]})", (float(scores[c]), combined[c]))
        kept = sorted(grown.items(), key=lambda item: -item[1][0])[:beam]
    return [(score, text) for text, (score, _) in kept]


def _pack(bits):
    return _words(np.packbits(bits, axis=-1))


def test_beam_search_finds_a_known_formula():
    rng = np.random.default_rng(0)
    atoms = rng.random((4, 4000)) < 0.3
    names = ["a", "b", "c", "d"]
    units = np.stack([atoms[0] | atoms[1], atoms[2] & ~atoms[3],
                      (atoms[0] | atoms[1]) & ~atoms[3]])
    scores, steps, _ = beam_search(_pack(units), _pack(atoms), length=3, beam=5)
    for score, step, formulas in zip(scores[:, 0], steps[:, 0], [
            {"a OR b", "b OR a"}, {"c AND NOT d"}, {"(a OR b) AND NOT d", "(b OR a) AND NOT d"}]):
        assert score == pytest.approx(1.0) and _text(step, names)[1:-1] in formulas


@pytest.mark.parametrize(("length", "beam"), [(1, 3), (2, 3), (3, 4), (3, 9)])
def test_the_batched_beam_search_equals_one_search_per_unit(length, beam):
    """All units at once give each unit's beam, in order, as a search of that unit alone
    (coarse random masks: many ties and formulas reached twice; beam 9 > 6 concepts)."""
    rng = np.random.default_rng(1)
    atoms = rng.random((6, 1, 300)) < rng.uniform(0.1, 0.6, (6, 1, 1))
    atoms = np.repeat(atoms, 4, axis=1).reshape(6, -1)  # blocks of 4 equal pixels
    units = np.concatenate([atoms[:3] | atoms[3:], rng.random((5, 1200)) < 0.3])
    names = [f"c{i}" for i in range(6)]
    scores, steps, singles = beam_search(_pack(units), _pack(atoms), length, beam)
    for u, unit in enumerate(units):
        expected = _one_unit_search(unit, atoms, names, length, beam)
        assert [(float(scores[u, b]), _text(steps[u, b], names))
                for b in range(len(expected))] == expected
        inter = (atoms & unit).sum(axis=1)
        np.testing.assert_array_equal(singles[u], inter / ((atoms | unit).sum(axis=1)))


def test_compositional_explanation_of_a_colour_unit(model, flowers):
    found = compositional_explanations(model, flowers, concepts(flowers, size=16), "colour", [0],
                                       length=2, beam=3)
    assert found[0].single == "red" and "red" in found[0].formula
    assert found[0].iou >= found[0].single_iou
    assert np.isnan(found[0].held_out_iou)


def test_a_formula_is_scored_on_held_out_images_as_on_the_search_images(model, flowers):
    """With every image in both halves' place (the search run on all, then on a split), the
    held-out IoU of the formula is its IoU recomputed on those images alone."""
    found = concepts(flowers, size=16)
    split = compositional_explanations(model, flowers, found, "colour", [0, 1], length=2,
                                       beam=3, held_out=0.5, seed=1)
    order = np.random.default_rng(1).permutation(len(flowers))
    test = np.sort(order[len(flowers) - len(flowers) // 2:])
    unit = network_dissection(model, flowers, found, "colour", progress=False)
    acts = keras.Model(model.inputs, model.get_layer("colour").output)(flowers.images).numpy()
    masks = found.masks()
    for explanation in split:
        on = resize_bilinear(acts[test][..., explanation.unit], masks.shape[1:3]) \
            > unit.layer("colour").thresholds[explanation.unit]
        single = masks[test][..., found.names.index(explanation.single)]
        expected = (on & single).sum() / (on | single).sum()
        assert explanation.held_out_single_iou == pytest.approx(expected)
        assert 0.0 <= explanation.held_out_iou <= 1.0


def test_net2vec_probe_combines_units_a_single_unit_cannot(model, flowers):
    """The concept "red or green" needs two units: the probe must beat the best single unit."""
    found = concepts(flowers, size=16).masks()
    names = concepts(flowers, size=16).names
    union = found[..., names.index("red")] | found[..., names.index("green")]
    mixed = ConceptSet.from_masks({"red or green": union, "red": found[..., names.index("red")]})
    result = net2vec(model, flowers, mixed, "colour", steps=200, pixels=128, seed=0)
    assert result.probe_iou[0] > result.unit_iou[0] + 0.1
    assert result.to_rows()[0]["concept"] == "red or green"


def test_average_precision_matches_sklearn_with_ties():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    labels = rng.random((60, 3)) > 0.6
    scores = np.round(rng.random((60, 4)), 1)
    expected = [[average_precision_score(labels[:, c], scores[:, k]) for c in range(3)]
                for k in range(4)]
    np.testing.assert_allclose(average_precision(labels, scores), expected, atol=1e-12)
    assert np.isnan(average_precision(np.ones((5, 1)), scores[:5])).all()
