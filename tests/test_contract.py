"""One contract over every registered attribution method (``xaikit.attribution.METHODS``).

For each method, on the model kinds it declares in the registry (``supports``):
- Sequential, functional and nested (a backbone model inside a Sequential) models with the same
  weights give the same maps;
- a logits head and a softmax head give the same maps for methods that explain logits;
- batch sizes 5 and 1; the batched result equals the per-image results (deterministic methods);
  stochastic methods are reproducible from their seed and independent of ``batch_size``;
- the output is a float (N, H, W) or (N, H, W, C) array of finite values;
- a subclassed model (the same layers called in ``call``) gives the functional model's maps for
  methods that declare ``"subclassed"``, and a TypeError naming the problem for the others;
- the one vocabulary (:mod:`xaikit.base.vocabulary`): every method takes ``output``, ``on`` and
  ``batch_size`` (default ``BATCH_SIZE``), stochastic ones ``seed``; ``output=`` picks one output of
  a two-output model (by index or name) and gives that head's maps; every value of ``on`` either
  works or, where the registry says the method does not define it, raises a ValueError;
- one return type: no ``return_*`` flags, and an array whatever any boolean option says.
Methods added by other modules are covered automatically when they register.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from xaikit.attribution import INFO, explain
from xaikit.base.vocabulary import BASELINES, BATCH_SIZE, ON

SIZE, CLASSES = 12, 3
IMAGES = np.random.default_rng(0).random((5, SIZE, SIZE, 3), dtype=np.float32)


def _conv_layers():
    return [
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv"),
    ]


def _head(softmax: bool, gap: bool = True):
    pool = keras.layers.GlobalAveragePooling2D(name="gap") if gap else keras.layers.Flatten(name="flat")
    layers = [pool, keras.layers.Dense(CLASSES, name="logits")]
    return layers + ([keras.layers.Activation("softmax", name="probs")] if softmax else [])


def _build(kind: str, softmax: bool = True, gap: bool = True) -> keras.Model:
    if kind == "sequential":
        return keras.Sequential([keras.Input((SIZE, SIZE, 3)), *_conv_layers(), *_head(softmax, gap)])
    if kind == "nested":
        inputs = keras.Input((SIZE, SIZE, 3))
        x = inputs
        for layer in _conv_layers():
            x = layer(x)
        backbone = keras.Model(inputs, x, name="backbone")
        return keras.Sequential([keras.Input((SIZE, SIZE, 3)), backbone, *_head(softmax, gap)])
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for layer in [*_conv_layers(), *_head(softmax, gap)]:
        x = layer(x)
    return keras.Model(inputs, x, name="functional")


class Subclassed(keras.Model):
    """The functional model's layers (logits head) called one after another in ``call``."""

    def __init__(self) -> None:
        super().__init__(name="subclassed")
        self.stack = [*_conv_layers(), *_head(softmax=False)]

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    keras.utils.set_random_seed(0)
    reference = _build("functional")
    weights = reference.get_weights()
    built = {"functional": reference}
    for kind, softmax in (("sequential", True), ("nested", True), ("logits", False)):
        model = _build("functional" if kind == "logits" else kind, softmax=softmax)
        model.set_weights(weights)
        built[kind] = model
    flat = _build("functional", gap=False)
    built["flatten"] = flat
    subclassed = Subclassed()
    subclassed(IMAGES[:1])
    subclassed.set_weights(weights)
    built["subclassed"] = subclassed
    return built


# Cheap settings for sample/step counts, used where a method takes them and declares no
# ``fast_options`` of its own in the registry (the contract checks plumbing, not accuracy).
SMALL_COUNTS = {"n_samples": 8, "n_masks": 16, "steps": 8, "iterations": 5, "n_iter": 5}


def _options(name: str) -> dict:
    info = INFO[name]
    parameters = inspect.signature(info.function).parameters
    small = {key: value for key, value in SMALL_COUNTS.items() if key in parameters}
    return {**small, **info.fast_options}


def _run(name: str, model: keras.Model, images: np.ndarray, **options) -> np.ndarray:
    return explain(model, images, None, method=name, **{**_options(name), **options})


def _check_output(maps: np.ndarray, n_images: int) -> None:
    assert isinstance(maps, np.ndarray)
    assert maps.dtype.kind == "f"
    assert maps.shape in ((n_images, SIZE, SIZE), (n_images, SIZE, SIZE, 3)), maps.shape
    assert np.isfinite(maps).all()


def _close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    scale = max(float(np.abs(a).max()), 1e-12)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * scale, err_msg=what)


def _explains_logits(name: str) -> bool:
    parameter = inspect.signature(INFO[name].function).parameters.get("on")
    return parameter is not None and parameter.default == "logits"


@pytest.mark.parametrize("name", sorted(INFO))
def test_method_contract(name, models):
    info = INFO[name]
    reference = _run(name, models["functional"], IMAGES, batch_size=2)
    _check_output(reference, len(IMAGES))
    if info.stochastic:
        _close(reference, _run(name, models["functional"], IMAGES, batch_size=2), "same seed")
        _close(reference, _run(name, models["functional"], IMAGES, batch_size=32), "batch_size")
    else:
        assert np.abs(reference).max() > 0, f"{name} returned an all-zero map"
        singles = np.concatenate([_run(name, models["functional"], IMAGES[i:i + 1]) for i in range(5)])
        _check_output(singles, len(IMAGES))
        _close(reference, singles, "batched vs one image at a time")

    for kind in ("sequential", "nested"):
        if kind in info.supports:
            _close(reference, _run(name, models[kind], IMAGES, batch_size=2), f"{kind} vs functional")
    if "logits" in info.supports and _explains_logits(name):
        _close(reference, _run(name, models["logits"], IMAGES, batch_size=2), "logits vs softmax head")
    if "requires_gap" not in info.supports:
        _check_output(_run(name, models["flatten"], IMAGES[:1]), 1)


@pytest.mark.filterwarnings("ignore:model 'subclassed' is subclassed")
@pytest.mark.parametrize("name", sorted(INFO))
def test_subclassed_model_gives_the_functional_maps_or_a_clear_error(name, models):
    if "subclassed" not in INFO[name].supports:
        with pytest.raises(TypeError, match="subclassed model without a layer graph"):
            _run(name, models["subclassed"], IMAGES[:2])
        return
    # a subclassed model is explained as called (here: logits), whatever on= says
    maps = _run(name, models["subclassed"], IMAGES[:2], on="logits")
    _close(_run(name, models["logits"], IMAGES[:2], on="logits"), maps, "subclassed vs functional")


# --------------------------------------------------------------------------------- vocabulary
def _two_outputs() -> tuple[keras.Model, keras.Model]:
    """A two-output model (heads "head_a" with 2 classes, "head_b" with 3) and the single-output
    model of head b built from the same layers."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    for layer in _conv_layers():
        x = layer(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    head_a = keras.layers.Activation("softmax", name="head_a")(keras.layers.Dense(2)(pooled))
    logits_b = keras.layers.Dense(CLASSES, name="logits_b")(pooled)
    head_b = keras.layers.Activation("softmax", name="head_b")(logits_b)
    return keras.Model(inputs, [head_a, head_b], name="two"), keras.Model(inputs, head_b)


@pytest.fixture(scope="module")
def two_outputs() -> tuple[keras.Model, keras.Model]:
    return _two_outputs()


@pytest.mark.parametrize("name", sorted(INFO))
def test_method_speaks_the_one_vocabulary(name):
    info = INFO[name]
    parameters = inspect.signature(info.function).parameters
    for option in ("output", "on", "batch_size"):
        assert option in parameters, f"{name} takes no {option}="
        assert parameters[option].kind is inspect.Parameter.KEYWORD_ONLY, option
    assert parameters["batch_size"].default == BATCH_SIZE
    assert parameters["output"].default is None
    assert parameters["on"].default in info.on
    assert ("seed" in parameters) == info.stochastic or "baseline" in parameters
    assert list(parameters)[:3] == ["model", "images", "targets"]
    assert not [p for p in parameters if p.startswith("return_")], "a flag changes the return type"
    assert info.function.__annotations__["return"] in ("np.ndarray", np.ndarray)
    baseline = parameters.get("baseline")
    if baseline is not None and isinstance(baseline.default, str):
        assert baseline.default in (*BASELINES, "segment_mean"), baseline.default


@pytest.mark.parametrize("name", sorted(INFO))
def test_output_selects_one_output_of_a_two_output_model(name, two_outputs):
    two, single = two_outputs
    expected = _run(name, single, IMAGES[:2])
    _close(expected, _run(name, two, IMAGES[:2], output="head_b"), "output by name")
    _close(expected, _run(name, two, IMAGES[:2], output=1), "output by index")
    with pytest.raises(ValueError, match="has 2 outputs"):
        _run(name, two, IMAGES[:2])


@pytest.mark.filterwarnings("ignore:explaining post-softmax probabilities")
@pytest.mark.parametrize("name", sorted(INFO))
def test_every_value_of_on_works_or_is_refused_clearly(name, models):
    for on in ON:
        if on in INFO[name].on:
            _check_output(_run(name, models["functional"], IMAGES[:2], on=on), 2)
        else:
            with pytest.raises(ValueError, match=f"on='{on}' is not allowed"):
                _run(name, models["functional"], IMAGES[:2], on=on)


@pytest.mark.parametrize("name", sorted(INFO))
def test_no_boolean_option_changes_the_return_type(name, models):
    parameters = inspect.signature(INFO[name].function).parameters
    flags = [p for p, spec in parameters.items() if isinstance(spec.default, bool)]
    for flag in flags:
        maps = _run(name, models["functional"], IMAGES[:1], **{flag: not parameters[flag].default})
        assert isinstance(maps, np.ndarray) and maps.dtype.kind == "f", flag
