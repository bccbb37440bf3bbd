"""One contract over every registered metric (``xaikit.metrics.METRICS``), built from ``needs``.

For each metric:
- model-based metrics give finite scores on every model kind (Sequential, functional, nested,
  softmax and logits heads) and the same scores on all of them (same weights);
- scores of a batch equal the scores computed image by image (batch-invariance);
- stochastic metrics are reproducible from their seed;
- the return type is what the registry declares: float (N,) scores, or an object whose
  ``to_rows()`` is a list of dicts;
- a clear ValueError (naming the argument) for maps of the wrong rank, NaN maps, maps of
  another size than the images, empty masks, and targets out of range.
Metrics that retrain models run here with their ``fast_options`` and the stand-in inputs of
``RETRAINED`` (their own tests retrain for real). Metrics that compare two batches of maps
(``"reference"`` in ``needs``) get a second batch derived image by image from the first.
Metrics added by other modules are covered automatically when they register.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.metrics import METRIC_INFO

SIZE, CLASSES, N = 12, 3, 4
IMAGES = np.random.default_rng(0).random((N, SIZE, SIZE, 3), dtype=np.float32)
NAMES = sorted(METRIC_INFO)
MODEL_BASED = [name for name in NAMES if "model" in METRIC_INFO[name].needs]


def _layers(softmax: bool):
    # conv1 pads "valid" so that a constant input shift can be compensated by its bias
    # (input_invariance, Kindermans et al.); every other metric is indifferent to it
    layers = [keras.layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv1"),
              keras.layers.MaxPooling2D(name="pool1"),
              keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv"),
              keras.layers.GlobalAveragePooling2D(name="gap"),
              keras.layers.Dense(CLASSES, name="logits")]
    return layers + ([keras.layers.Activation("softmax", name="probs")] if softmax else [])


def _build(kind: str) -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    if kind == "sequential":
        return keras.Sequential([inputs, *_layers(True)])
    if kind == "nested":
        x = inputs
        for layer in _layers(True)[:3]:
            x = layer(x)
        backbone = keras.Model(inputs, x, name="backbone")
        return keras.Sequential([keras.Input((SIZE, SIZE, 3)), backbone, *_layers(True)[3:]])
    x = inputs
    for layer in _layers(kind != "logits"):
        x = layer(x)
    return keras.Model(inputs, x, name=kind)


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    keras.utils.set_random_seed(0)
    built = {kind: _build(kind) for kind in ("functional", "sequential", "nested", "logits")}
    weights = built["functional"].get_weights()
    for model in built.values():
        model.set_weights(weights)
    built["other"] = _build("functional")  # same architecture, other weights
    _MODELS.update(built)
    return built


_MODELS: dict[str, keras.Model] = {}  # the fixture's models, for the stand-ins below
# what a metric that retrains gets here instead of a retrained model (name -> models -> kwargs)
RETRAINED = {"data_randomisation": lambda models: {"randomised": models["other"]}}


def _masks(n: int = N) -> np.ndarray:
    masks = np.zeros((n, SIZE, SIZE), bool)
    masks[:, 3:8, 2:9] = True
    return masks


def _parts(n: int = N) -> np.ndarray:
    parts = np.zeros((n, SIZE, SIZE), np.int64)
    parts[:, 3:8, 2:9] = 1
    parts[:, 8:, :] = 2
    return parts


def _maps(n: int = N) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, SIZE, SIZE))


def _reference(maps: np.ndarray) -> np.ndarray:
    """A second batch of maps at the images' size, each derived from the same image's map
    (for "reference"); maps of another size or with NaN get plain maps of the images' size."""
    maps = np.asarray(maps, np.float64)
    if maps.shape[1:] != (SIZE, SIZE) or not np.isfinite(maps).all():
        return _maps(len(maps))
    return 0.7 * maps + 0.3 * np.flip(maps, axis=2) ** 2


def _call(name: str, model=None, images=IMAGES, maps=None, *, masks=None, targets=None, **extra):
    info = METRIC_INFO[name]
    options = {**info.fast_options, **extra}
    if "retraining" in info.needs and name in RETRAINED:
        options = {**RETRAINED[name](_MODELS), **options}
    n = len(images)
    maps = _maps(n) if maps is None else maps
    if "model" in info.needs:
        given = "saliency" if "method" in info.needs else maps
        return info.function(model, images, given, targets, **options)
    truth = []
    if "reference" in info.needs:
        truth.append(_reference(maps))
    if "masks" in info.needs:
        truth.append(_masks(n) if masks is None else masks)
    if "parts" in info.needs:
        truth.append(_parts(n))
    return info.function(maps, *truth, **options)


def _scores(result, name: str) -> np.ndarray:
    if METRIC_INFO[name].returns == "table":
        rows = result.to_rows()
        assert isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows)
        return np.array([v for row in rows for v in row.values()
                         if isinstance(v, (int, float, np.floating))], np.float64)
    assert isinstance(result, np.ndarray) and result.dtype.kind == "f", type(result)
    assert result.shape == (N,) or result.ndim == 1
    return result


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_finite_and_typed(name, models):
    scores = _scores(_call(name, models["functional"]), name)
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", MODEL_BASED)
def test_every_model_kind_gives_the_same_scores(name, models):
    if "retraining" in METRIC_INFO[name].needs:
        pytest.skip("retrains models: covered by its own tests")
    reference = _scores(_call(name, models["functional"]), name)
    for kind in ("sequential", "nested", "logits"):
        np.testing.assert_allclose(_scores(_call(name, models[kind]), name), reference,
                                   rtol=1e-4, atol=1e-6, err_msg=kind)


@pytest.mark.parametrize("name", [n for n in NAMES if METRIC_INFO[n].returns == "scores"])
def test_batch_scores_equal_image_by_image(name, models):
    if "retraining" in METRIC_INFO[name].needs:
        pytest.skip("retrains models: covered by its own tests")
    maps = _maps()
    whole = _call(name, models["functional"], IMAGES, maps)
    single = np.concatenate([_call(name, models["functional"], IMAGES[i:i + 1], maps[i:i + 1])
                             for i in range(N)])
    np.testing.assert_allclose(whole, single, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if METRIC_INFO[n].stochastic])
def test_stochastic_metrics_are_reproducible_from_their_seed(name, models):
    first = _scores(_call(name, models["functional"], seed=3), name)
    again = _scores(_call(name, models["functional"], seed=3), name)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name", NAMES)
def test_bad_maps_get_a_clear_error(name, models):
    if "method" in METRIC_INFO[name].needs:
        pytest.skip("computes its own maps")
    model = models["functional"]
    with pytest.raises(ValueError, match="maps"):
        _call(name, model, maps=_maps()[0])
    nan = _maps()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _call(name, model, maps=nan)
    with pytest.raises(ValueError, match="size"):
        _call(name, model, maps=np.zeros((N, SIZE // 2, SIZE // 2)))


@pytest.mark.parametrize("name", [n for n in NAMES if "masks" in METRIC_INFO[n].needs])
def test_empty_masks_get_a_clear_error(name, models):
    masks = _masks()
    masks[1] = False
    with pytest.raises(ValueError, match="empty"):
        _call(name, models["functional"], masks=masks)


@pytest.mark.parametrize("name", MODEL_BASED)
def test_targets_out_of_range_get_a_clear_error(name, models):
    with pytest.raises(ValueError, match="out of range"):
        _call(name, models["functional"], targets=CLASSES + 2)
