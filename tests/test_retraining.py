"""ROAR and KAR (Hooker et al., NeurIPS 2019) on data whose label lives in a known region.

The class of each 32 x 32 image is written in its top-left 8 x 8 square (one lit quarter per
class) over dim uniform noise; a map that points at that square must make ROAR's retrained accuracy fall to
chance, while removing the same share of random pixels leaves the accuracy high. Runs the clone
path (the model's own architecture, a softmax regression here, retrained with
``xaikit.models.train``): two fractions, one seed.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from xaikit.metrics.faithfulness import kar, roar
from xaikit.metrics.retraining import Retraining
from xaikit.models import seed_everything, train_stacked
from xaikit.models.training import _compile

SIZE, CLASSES, N, REGION = 32, 4, 320, 8
RECIPE = {"epochs": 6, "batch_size": 32, "learning_rate": 1e-2}
NOISE = 0.3


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    images = NOISE * generator.random((n, SIZE, SIZE, 1), dtype=np.float32)
    half = REGION // 2
    for label in range(CLASSES):  # four classes: one lit quarter of the square each
        row, col = divmod(label, 2)
        images[labels == label, row * half:(row + 1) * half, col * half:(col + 1) * half] = 1.0
    return images, labels


def _region(model, images, targets=None):
    """The oracle explanation: 1 on the label-carrying square, 0 elsewhere."""
    maps = np.zeros(images.shape[:3])
    maps[:, :REGION, :REGION] = 1.0
    return maps


@pytest.fixture(scope="module")
def setting():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(CLASSES), keras.layers.Activation("softmax")])
    return model, _data(N, 0), _data(160, 1)


def test_roar_drops_accuracy_for_the_label_region_and_not_for_random_pixels(setting, tmp_path):
    model, (images, labels), test = setting
    result = roar(model, images, _region, labels=labels, test=test, recipe=RECIPE,
                  fractions=(0.1, 0.5), out=tmp_path, progress=False)
    assert isinstance(result, Retraining) and result.accuracy["method"].shape == (2, 1)
    assert result.correct["random"].shape == (2, 1, len(test[1]))
    np.testing.assert_allclose(result.correct["random"].mean(axis=2), result.accuracy["random"])
    assert result.base[0] > 0.9, "the unmodified retraining learns the region"
    np.testing.assert_array_less(result.accuracy["method"][:, 0], 0.4)  # chance is 0.25
    assert (result.accuracy["random"][:, 0] > 0.8).all()
    rows = result.to_rows()
    assert {row["ranking"] for row in rows} == {"_region", "random"}
    assert len(list(tmp_path.glob("*.json"))) == 1 + 2 + 2


def test_kar_with_linear_imputation_keeps_the_region_and_resumes_from_its_files(setting,
                                                                                tmp_path):
    model, (images, labels), test = setting
    first = kar(model, images, _region, labels=labels, test=test, recipe=RECIPE,
                fractions=(0.5,), random_baseline=False, imputation="linear", out=tmp_path,
                progress=False)
    assert first.accuracy["method"][0, 0] > 0.9, "keeping the top half keeps the region"
    path = next(tmp_path.glob("kar__region-*_linear_*.json"))
    path.write_text(json.dumps({"accuracy": 0.123, "correct": [1, 0], "fraction": 0.5,
                                "seed": 0}))
    again = kar(model, images, _region, labels=labels, test=test, recipe=RECIPE,
                fractions=(0.5,), random_baseline=False, imputation="linear", out=tmp_path,
                progress=False)
    assert again.accuracy["method"][0, 0] == 0.123, "a finished result is read, not recomputed"


def test_roar_refuses_precomputed_maps_and_bad_labels(setting):
    model, (images, labels), _ = setting
    with pytest.raises(TypeError, match="maps_or_method"):
        roar(model, images[:8], np.zeros((8, SIZE, SIZE)))
    with pytest.raises(ValueError, match="labels"):
        roar(model, images[:8], _region, labels=np.full(8, CLASSES))
    with pytest.raises(ValueError, match="imputation"):
        roar(model, images[:8], _region, imputation="zero")
    with pytest.raises(ValueError, match="no early stopping"):
        roar(model, images[:8], _region, recipe={"epochs": 2, "patience": 1})


def _tiny_cnn() -> keras.Model:
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(CLASSES),
                             keras.layers.Activation("softmax")])


def test_stacked_training_follows_each_branch_trained_alone():
    """The branches of ``train_stacked`` share no parameter and Adam is per parameter: each
    must end where Keras' own fit, alone on its data, from the same seed and batches, ends."""
    from xaikit.data import ImageSet

    generator = np.random.default_rng(3)
    labels = np.arange(40) % CLASSES
    sets = [ImageSet(generator.random((40, 8, 8, 1), dtype=np.float32), labels,
                     [str(k) for k in range(CLASSES)], name="toy") for _ in range(2)]
    stacked = train_stacked(_tiny_cnn, sets, epochs=2, batch_size=16, seed=5,
                            learning_rate=1e-2, progress=False)
    seed_everything(5)
    initial = [np.array(w) for w in _tiny_cnn().weights]
    for data, branch in zip(sets, stacked):
        seed_everything(5)
        alone = _tiny_cnn()
        _compile(alone, 1e-2)
        for epoch in range(2):
            order = np.random.default_rng([5, epoch]).permutation(40)
            alone.fit(data.images[order], labels[order], batch_size=16, epochs=1,
                      shuffle=False, verbose=0)
        moved = [np.abs(np.array(w) - v).max() for w, v in zip(branch.weights, initial)]
        assert min(moved) > 1e-4, "the branch was trained"
        for mine, theirs in zip(branch.weights, alone.weights):
            np.testing.assert_allclose(np.array(mine), np.array(theirs), atol=1e-6)


def test_methods_with_other_options_never_share_result_files():
    """Two callables of one name (partials, closures) with other options get other file labels;
    the same method gets the same label again (so a rerun resumes from its files)."""
    import functools

    from xaikit.metrics.retraining import _method_label

    def scaled(model, images, targets=None, *, power=1):
        return images.sum(axis=-1) ** power

    def closure(power):
        def method(model, images, targets=None):
            return images.sum(axis=-1) ** power
        return method

    labels = {_method_label(functools.partial(scaled, power=p)) for p in (1, 2)}
    labels |= {_method_label(closure(p)) for p in (1, 2)}
    assert len(labels) == 4
    assert _method_label(functools.partial(scaled, power=2)) == _method_label(
        functools.partial(scaled, power=2))
    assert _method_label(closure(3)) == _method_label(closure(3))
    assert _method_label("saliency") == "saliency"
    source = "def nested(model, images, targets=None):\n    return sum(x for x in [images])\n"
    twins = [{}, {}]
    for namespace in twins:  # two code objects at other addresses, as in two processes
        exec(source, namespace)
    assert _method_label(twins[0]["nested"]) == _method_label(twins[1]["nested"])


def test_results_do_not_depend_on_the_number_of_workers(setting, tmp_path):
    """Retrainings run in worker processes, one thread each; cutting a group into one part per
    worker must not change any result (each branch trains as it would alone)."""
    from xaikit.models import workers

    model, (images, labels), test = setting
    options = dict(labels=labels[:96], test=(test[0][:64], test[1][:64]), recipe=RECIPE,
                   fractions=(0.3, 0.7), progress=False)
    one = roar(model, images[:96], _region, workers=1, out=tmp_path / "one", **options)
    assert workers._POOL and all(w.process.poll() is None for w in workers._POOL)
    two = roar(model, images[:96], _region, workers=2, out=tmp_path / "two", **options)
    for ranking in ("method", "random"):
        np.testing.assert_array_equal(one.correct[ranking], two.correct[ranking])
    np.testing.assert_array_equal(one.base, two.base)


def test_a_model_a_worker_cannot_rebuild_trains_in_this_process(tmp_path):
    class Doubled(keras.layers.Layer):  # defined here: a worker process cannot import it
        def call(self, inputs):
            return 2.0 * inputs

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), Doubled(), keras.layers.Flatten(),
                              keras.layers.Dense(CLASSES), keras.layers.Activation("softmax")])
    (images, labels), test = _data(64, 2), _data(32, 3)
    result = roar(model, images, _region, labels=labels, test=test, recipe=RECIPE,
                  fractions=(0.5,), random_baseline=False, out=tmp_path, progress=False)
    assert result.base[0] > 0.5
    with pytest.raises(ValueError, match="workers"):
        roar(model, images, _region, labels=labels, test=test, recipe=RECIPE, workers=2,
             out=tmp_path / "again", progress=False)


def test_a_failing_or_killed_worker_is_reported_and_replaced():
    """A worker's exception comes back with its traceback; a worker that dies is reported with
    its exit code and left out of the pool, and the next call starts a fresh one."""
    import functools
    import operator
    import signal

    from xaikit.models import workers
    from xaikit.models.architectures import mlp

    build = functools.partial(mlp, (4, 4, 1), 2)
    options = dict(epochs=1, batch_size=4, seed=0, learning_rate=1e-3, workers=1)
    workers._close()  # a pool of one, started here
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        list(workers.train_and_score(build, [functools.partial(operator.truediv, 1, 0)],
                                     **options))
    [worker] = workers._POOL
    assert worker.process.poll() is None, "the worker survives its job's exception"
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait()
    with pytest.raises(RuntimeError, match="ended with code"):
        list(workers.train_and_score(build, [functools.partial(operator.truediv, 1, 0)],
                                     **options))
    assert worker not in workers._POOL
    with pytest.raises(TypeError, match="picklable"):
        list(workers.train_and_score(build, [lambda: None], **options))
