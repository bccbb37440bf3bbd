"""Tests of xaikit.data: generators' ground truth, determinism, loaders, ImageSet, the CLI command.

The checks are properties, not shapes: recolouring one part changes exactly the pixels of its
mask; the class is recoverable from the discriminative part(s) and *not* from the others; shape
masks have the area their geometry says; loaders read locally made files in the Keras layout.
"""

from __future__ import annotations

import gzip
import importlib
import pickle
import socket

import numpy as np
import pytest

import xaikit.data as xd
from xaikit.data.imageset import ImageSet, boxes_from_masks

# the submodules (the package's names ``an8flower`` and ``shapes`` are the generator functions)
flower_module = importlib.import_module("xaikit.data.an8flower")
shapes_module = importlib.import_module("xaikit.data.shapes")
GREY_A = np.array([0.5, 0.5, 0.5], np.float32)
GREY_B = np.array([0.3, 0.6, 0.4], np.float32)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def single() -> ImageSet:
    return xd.an8flower("single-6c", n_per_class=50, seed=7)


@pytest.fixture(scope="module")
def double() -> ImageSet:
    return xd.an8flower("double-12c", n_per_class=25, seed=8)


@pytest.fixture(scope="module")
def two_shapes() -> ImageSet:
    return xd.shapes(n_per_class=40, two_objects=True, seed=3)


def _mean_colour(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, 3) mean colour under each mask (0 where the mask is empty) plus nothing else."""
    count = mask.sum(axis=(1, 2))[:, None]
    total = np.einsum("nhwc,nhw->nc", images, mask.astype(np.float32))
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def _cv_accuracy(features: np.ndarray, labels: np.ndarray, folds: int = 3) -> float:
    """Cross-validated accuracy of multinomial logistic regression (L2, full-batch gradient descent).

    Written out in NumPy because importing scikit-learn costs many seconds on a busy 2-core box.
    """
    k = int(labels.max()) + 1
    fold = np.arange(len(labels)) % folds
    scores = []
    for f in range(folds):
        train, test = fold != f, fold == f
        mean, std = features[train].mean(0), features[train].std(0) + 1e-6
        x = np.c_[(features - mean) / std, np.ones(len(features))]
        onehot = np.eye(k)[labels[train]]
        weights = np.zeros((x.shape[1], k))
        for _ in range(500):
            logits = x[train] @ weights
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            weights -= 0.5 * (x[train].T @ (p - onehot) / train.sum() + 1e-3 * weights)
        scores.append(np.mean(np.argmax(x[test] @ weights, 1) == labels[test]))
    return float(np.mean(scores))


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize(
    "make",
    [
        lambda seed: xd.an8flower("single-6c", n_per_class=3, seed=seed),
        lambda seed: xd.an8flower("double-12c", n_per_class=2, seed=seed),
        lambda seed: xd.shapes(n_per_class=4, seed=seed),
        lambda seed: xd.shapes(n_per_class=4, two_objects=True, seed=seed),
    ],
    ids=["single-6c", "double-12c", "shapes", "shapes-two"],
)
def test_same_seed_gives_byte_identical_arrays_and_other_seeds_differ(make):
    a, b, c = make(0), make(0), make(1)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.masks.tobytes() == b.masks.tobytes()
    assert all(a.parts[k].tobytes() == b.parts[k].tobytes() for k in a.parts)
    assert a.boxes.tobytes() == b.boxes.tobytes()
    assert a.images.shape == c.images.shape and not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.masks, c.masks)


def test_generated_images_are_float32_in_unit_range_and_balanced(single, two_shapes):
    for data, k in ((single, 6), (two_shapes, 5)):
        assert data.images.dtype == np.float32
        assert 0.0 <= data.images.min() and data.images.max() <= 1.0
        assert np.array_equal(np.bincount(data.labels, minlength=k), np.full(k, len(data) // k))
    # not flat: shading and noise vary the pixels inside one part of one image
    petals = single.images[0][single.parts["petals"][0]]
    assert petals.std(axis=0).max() > 0.02


# ----------------------------------------------------------------------------- exact part masks
def _scene(variant: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    k = len(flower_module.class_names(variant))
    labels = rng.permutation(np.repeat(np.arange(k), -(-n // k)))[:n]
    return flower_module.sample_scene(rng, labels, variant, 112)


@pytest.mark.parametrize("variant", ["single-6c", "double-12c"])
def test_recolouring_one_part_changes_exactly_its_mask(variant):
    n = 12
    scene = _scene(variant, n, seed=5)
    _, ids = flower_module.render(scene, n)
    for part_id, part in enumerate(flower_module.PART_NAMES):
        keys = (
            ["bg_colour", "bg_colour2", "blob_colour", "twig_colour"]
            if part == "background"
            else [f"colour_{part}"]
        )
        renders = []
        for grey in (GREY_A, GREY_B):
            recoloured = dict(scene)
            for key in keys:
                recoloured[key] = np.broadcast_to(grey, scene[key].shape).copy()
            renders.append(flower_module.render(recoloured, n)[0])
        changed = np.abs(renders[0] - renders[1]).max(axis=-1) > 1e-4
        assert np.array_equal(changed, ids == part_id), part


def test_generator_parts_match_the_renderer_and_masks_are_the_discriminative_parts(single, double):
    for data in (single, double):
        stacked = np.stack([data.parts[p] for p in flower_module.PART_NAMES])
        assert np.all(stacked.sum(axis=0) == 1)  # disjoint and covering every pixel
        assert (
            data.parts["petals"].any(axis=(1, 2)).all()
            and data.parts["centre"].any(axis=(1, 2)).all()
        )
    assert np.array_equal(single.masks, single.parts["petals"])
    assert np.array_equal(double.masks, double.parts["petals"] | double.parts["centre"])
    # the public generator renders exactly what sample_scene + render give for the same stream
    data = xd.an8flower("single-6c", n_per_class=2, seed=11)
    rng = np.random.default_rng(11)
    labels = rng.permutation(np.repeat(np.arange(6), 2))
    _, ids = flower_module.render(flower_module.sample_scene(rng, labels, "single-6c", 112), 12)
    assert np.array_equal(data.labels, labels)
    assert np.array_equal(data.parts["petals"], ids == flower_module.PART_NAMES.index("petals"))
    for i in range(3):
        ys, xs = np.nonzero(single.masks[i])
        assert np.array_equal(single.boxes[i], [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])


def test_petal_pixels_carry_the_class_colour_up_to_shading_and_noise(single):
    palette = np.asarray(list(flower_module.PETAL_COLOURS_6C.values()), np.float32)
    unit = palette / np.linalg.norm(palette, axis=1, keepdims=True)
    pixels = single.images[single.masks]
    truth = np.repeat(single.labels, single.masks.sum(axis=(1, 2)))
    nearest = np.argmax(pixels @ unit.T / np.linalg.norm(pixels, axis=1, keepdims=True), axis=1)
    assert np.mean(nearest == truth) > 0.99


# ----------------------------------------------------------------------------- class information
def test_single_6c_class_is_in_the_petals_and_nowhere_else(single):
    petals = _mean_colour(single.images, single.parts["petals"])
    assert _cv_accuracy(petals, single.labels) > 0.97
    others = np.hstack(
        [
            _mean_colour(single.images, single.parts[p])
            for p in ("background", "stem", "leaves", "centre")
        ]
    )
    chance = 1 / 6
    assert _cv_accuracy(others, single.labels) < chance + 0.1


def test_double_12c_class_needs_petals_and_centre_and_nothing_else_helps(double):
    petals = _mean_colour(double.images, double.parts["petals"])
    centre = _mean_colour(double.images, double.parts["centre"])
    assert _cv_accuracy(np.hstack([petals, centre]), double.labels) > 0.95
    assert _cv_accuracy(petals, double.labels) < 1 / 3 + 0.12  # petals fix 1 of 4 × 3 classes
    assert _cv_accuracy(centre, double.labels) < 1 / 4 + 0.12
    others = np.hstack(
        [_mean_colour(double.images, double.parts[p]) for p in ("background", "stem", "leaves")]
    )
    assert _cv_accuracy(others, double.labels) < 1 / 12 + 0.1


# ----------------------------------------------------------------------------- shapes
def test_recolouring_a_shape_changes_exactly_its_object_pixels():
    rng = np.random.default_rng(2)
    classes = np.stack([np.arange(10) % 5, (np.arange(10) + 2) % 5], axis=1)
    scene = shapes_module.sample_scene(rng, classes, 64)
    _, ids = shapes_module.render(scene, 10)
    for j in range(2):
        renders = []
        for grey in (GREY_A, GREY_B):
            recoloured = dict(scene)
            recoloured["colour"] = scene["colour"].copy()
            recoloured["colour"][:, j] = grey
            renders.append(shapes_module.render(recoloured, 10)[0])
        changed = np.abs(renders[0] - renders[1]).max(axis=-1) > 1e-4
        assert np.array_equal(changed, ids == j + 1)


# area of each class in units of radius², from its geometry
SHAPE_AREA = {
    "circle": np.pi * shapes_module.CIRCLE_RADIUS**2,
    "square": 2.0,
    "triangle": 3 * np.sqrt(3) / 4,
    "star": 5 * shapes_module.STAR_INNER * np.sin(np.pi / 5),
    "cross": 8 * np.prod(shapes_module.CROSS_ARM) - (2 * shapes_module.CROSS_ARM[1]) ** 2,
}


def test_each_shape_mask_has_the_area_of_its_class_geometry():
    data = xd.shapes(n_per_class=20, size=96, seed=4)
    radius = data.meta["object_radius"][:, 0]
    ratio = data.masks.sum(axis=(1, 2)) / radius**2
    for c, name in enumerate(data.class_names):
        got = ratio[data.labels == c]
        assert np.all(np.abs(got / SHAPE_AREA[name] - 1) < 0.08), (name, got.min(), got.max())
        assert np.array_equal(data.parts[name], data.masks & (data.labels == c)[:, None, None])


def test_two_object_labels_parts_and_boxes_are_consistent(two_shapes):
    data = two_shapes
    second = data.meta["labels2"]
    assert np.all(second != data.labels)
    hot = np.zeros((len(data), 5), np.float32)
    hot[np.arange(len(data)), data.labels] = 1
    hot[np.arange(len(data)), second] = 1
    assert np.array_equal(data.meta["multi_hot"], hot)
    rows = np.arange(len(data))
    objects = [
        np.stack([data.parts[n] for n in data.class_names])[cls, rows]
        for cls in (data.labels, second)
    ]
    for j, obj in enumerate(objects):
        assert obj.sum(axis=(1, 2)).min() > 20
        assert np.array_equal(data.boxes[:, j], boxes_from_masks(obj))
    assert np.array_equal(data.masks, objects[0] | objects[1])
    for name in data.class_names:  # a class's part is empty exactly when the class is absent
        present = data.parts[name].any(axis=(1, 2))
        assert np.array_equal(present, data.meta["multi_hot"][:, data.class_names.index(name)] == 1)
    a, b = data.boxes[:, 0], data.boxes[:, 1]  # the objects sit in different halves
    apart = (
        (a[:, 2] <= b[:, 0]) | (b[:, 2] <= a[:, 0]) | (a[:, 3] <= b[:, 1]) | (b[:, 3] <= a[:, 1])
    )
    assert apart.all()


# ----------------------------------------------------------------------------- digits and photos
def test_digits_are_the_sklearn_digits_upsampled():
    from skimage.transform import resize

    data = xd.digits()
    assert data.images.shape == (1797, 32, 32, 1) and data.images.dtype == np.float32
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    table = np.loadtxt(_sklearn_digits_path(), delimiter=",")
    assert np.array_equal(data.labels, table[:, -1].astype(int))
    assert np.array_equal(np.bincount(data.labels), np.bincount(table[:, -1].astype(int)))
    # bilinear upsampling, checked against scikit-image's (half-pixel centres, edge clamped)
    expected = resize(table[:, :-1].reshape(-1, 8, 8) / 16, (1797, 32, 32), order=1, mode="edge")
    np.testing.assert_allclose(data.images[..., 0], expected, atol=1e-6)


def _sklearn_digits_path():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"


def test_sample_photos_are_square_rgb_in_range():
    data = xd.sample_photos(size=64)
    assert data.images.shape == (len(xd.builtin.PHOTOS), 64, 64, 3)
    assert 0 <= data.images.min() and data.images.max() <= 1 and data.images.std() > 0.1
    assert data.class_names[1] == "chelsea" and 281 in data.meta["imagenet_classes"][1]


# ----------------------------------------------------------------------------- keras datasets
@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("a loader tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(xd.builtin, "KERAS_FALLBACK_DIR", tmp_path / "fallback")
    return tmp_path / "datasets"


@pytest.mark.parametrize("loader", ["mnist", "fashion_mnist", "cifar10"])
def test_keras_dataset_loaders_fail_offline_with_one_clear_sentence(keras_home, loader):
    with pytest.raises(FileNotFoundError) as error:
        getattr(xd, loader)()
    message = str(error.value)
    assert str(keras_home) in message and "allow_download=True" in message
    assert "https://" in message and message.count("\n") == 0


def test_keras_dataset_loaders_read_locally_made_files(keras_home):
    rng = np.random.default_rng(0)
    keras_home.mkdir(parents=True)
    x = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    y = np.array([3, 1, 4, 1, 5], np.uint8)
    np.savez(keras_home / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    data = xd.mnist("train")
    assert np.array_equal(data.images[..., 0], x / np.float32(255)) and list(data.labels) == list(y)
    assert len(xd.mnist("test")) == 2

    folder = keras_home / "fashion-mnist"
    folder.mkdir()
    for prefix, n in (("train", 5), ("t10k", 2)):
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as handle:
            handle.write(b"\0" * 8 + y[:n].tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as handle:
            handle.write(b"\0" * 16 + x[:n].tobytes())
    data = xd.fashion_mnist("test")
    assert np.array_equal(data.images[..., 0], x[:2] / np.float32(255))
    assert data.class_names[int(data.labels[0])] == "dress"

    folder = keras_home / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    pixels = rng.integers(0, 256, size=(2, 3, 32, 32), dtype=np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": pixels.reshape(2, -1), b"labels": [7, 2]}, handle)
    data = xd.cifar10("train")
    assert data.images.shape == (10, 32, 32, 3) and data.class_names[data.labels[0]] == "horse"
    assert np.array_equal(data.images[0], pixels[0].transpose(1, 2, 0) / np.float32(255))


def test_cifar_loader_refuses_pickles_that_run_code(keras_home):
    folder = keras_home / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": socket.socket, b"labels": []}, handle)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        xd.cifar10("test")


# ----------------------------------------------------------------------------- image folders
def test_image_folder_reads_class_subfolders_and_reports_problems(tmp_path):
    import skimage.io

    rng = np.random.default_rng(0)
    pictures = {
        "cats": [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(2)],
        "dogs": [rng.integers(0, 256, (20, 20), dtype=np.uint8)],
    }
    for cls, images in pictures.items():
        (tmp_path / cls).mkdir()
        for i, image in enumerate(images):
            skimage.io.imsave(tmp_path / cls / f"{i}.png", image, check_contrast=False)
    data = xd.image_folder(tmp_path)
    assert data.class_names == ["cats", "dogs"] and list(data.labels) == [0, 0, 1]
    assert np.array_equal(data.images[1], pictures["cats"][1] / np.float32(255))
    assert np.array_equal(data.images[2, ..., 1], pictures["dogs"][0] / np.float32(255))
    assert xd.image_folder(tmp_path, size=8).images.shape == (3, 8, 8, 3)

    skimage.io.imsave(
        tmp_path / "dogs" / "big.png", np.zeros((30, 30, 3), np.uint8), check_contrast=False
    )
    with pytest.raises(ValueError, match="different sizes.*size="):
        xd.image_folder(tmp_path)
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        xd.image_folder(tmp_path, size=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        xd.image_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        xd.image_folder(tmp_path / "missing")


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: xd.an8flower("triple-3c"), r"single-6c.*double-12c"),
        (lambda: xd.an8flower(n_per_class=0), r"n_per_class=0 must be an int >= 1"),
        (lambda: xd.an8flower(size=16), r"size=16 must be an int >= 32"),
        (lambda: xd.shapes(n_per_class=2.5), r"n_per_class=2.5"),
        (lambda: xd.shapes(size=8), r">= 32"),
        (lambda: xd.shapes(seed=-1), r"seed=-1 must be an int >= 0"),
        (lambda: xd.shapes(two_objects="yes"), r"allowed: True, False"),
        (lambda: xd.digits(size=4), r">= 8"),
        (lambda: xd.load("imagenet"), r"an8flower-single-6c.*digits"),
        (lambda: xd.load("shapes", split="dev"), r"train.*val.*test"),
        (lambda: xd.mnist("val"), r"train.*test"),
        (lambda: xd.sample_photos(names=("lena",)), r"astronaut"),
    ],
)
def test_bad_arguments_raise_value_errors_saying_what_is_allowed(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


# ----------------------------------------------------------------------------- ImageSet
def _tiny_set() -> ImageSet:
    return xd.shapes(n_per_class=10, size=32, seed=1)


def test_imageset_rejects_inconsistent_arrays():
    data = _tiny_set()
    with pytest.raises(ValueError, match="float32"):
        ImageSet((data.images * 255).astype(np.uint8), data.labels, data.class_names)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        ImageSet(data.images, data.labels + 1, data.class_names)
    with pytest.raises(ValueError, match="expected bool"):
        ImageSet(data.images, data.labels, data.class_names, masks=data.masks[:, :10])
    with pytest.raises(ValueError, match="per-sample"):
        ImageSet(data.images, data.labels, data.class_names, meta={"x": np.zeros(3)})


def test_split_is_stratified_disjoint_and_reproducible():
    data = _tiny_set()
    data.meta["index"] = np.arange(len(data))
    parts = data.split({"train": 0.6, "val": 0.2, "test": 0.2}, seed=3)
    counts = {k: np.bincount(v.labels, minlength=5) for k, v in parts.items()}
    assert list(counts["train"]) == [6] * 5 and list(counts["test"]) == [2] * 5
    indices = np.concatenate([v.meta["index"] for v in parts.values()])
    assert sorted(indices) == list(range(len(data)))
    again = data.split({"train": 0.6, "val": 0.2, "test": 0.2}, seed=3)
    assert np.array_equal(again["val"].images, parts["val"].images)
    assert np.array_equal(parts["val"].masks, data.masks[parts["val"].meta["index"]])
    with pytest.raises(ValueError, match="sum to 1"):
        data.split((0.5, 0.2))


def test_save_load_round_trip_and_batches(tmp_path):
    data = xd.shapes(n_per_class=3, two_objects=True, seed=2)
    path = data.save(tmp_path / "set")
    assert path.name == "set.npz" and not list(tmp_path.glob(".*tmp"))
    back = ImageSet.load(path)
    assert back.images.tobytes() == data.images.tobytes() and back.class_names == data.class_names
    assert np.array_equal(back.boxes, data.boxes) and back.parts.keys() == data.parts.keys()
    assert np.array_equal(back.meta["labels2"], data.meta["labels2"]) and back.meta["two_objects"]
    seen = np.concatenate([labels for _, labels in data.batches(4)])
    assert np.array_equal(seen, data.labels)
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not an ImageSet"):
        ImageSet.load(tmp_path / "bad.npz")


def test_to_tf_dataset_yields_the_images_in_batches():
    data = _tiny_set()
    batches = list(data.to_tf_dataset(batch_size=16))
    assert [len(b[0]) for b in batches] == [16, 16, 16, 2]
    assert np.array_equal(np.concatenate([b[1].numpy() for b in batches]), data.labels)
    shuffled = np.concatenate([b[1].numpy() for b in data.to_tf_dataset(16, shuffle=True, seed=1)])
    assert sorted(shuffled) == sorted(data.labels) and not np.array_equal(shuffled, data.labels)


# ----------------------------------------------------------------------------- load() and the CLI
def test_load_is_deterministic_cached_read_only_and_splits_differ(monkeypatch):
    monkeypatch.setenv("XAIKIT_FAST", "1")
    train = xd.load("shapes", "train")
    assert train is xd.load("shapes", "train", fast=True)
    assert not train.images.flags.writeable
    test = xd.load("shapes", "test")
    spec = xd.recipe("shapes")
    assert spec["fast"] and len(test) == 5 * spec["n_per_class"]["test"]
    assert len(train) == 5 * spec["n_per_class"]["train"]
    assert not np.isin(test.images[:, 32, 32, 0], train.images[:, 32, 32, 0]).all()
    fresh = xd.shapes(n_per_class=spec["n_per_class"]["test"], seed=spec["seeds"]["test"], size=64)
    assert fresh.images.tobytes() == test.images.tobytes()
    monkeypatch.setenv("XAIKIT_FAST", "0")
    assert not xd.recipe("shapes")["fast"]
    digits = {s: xd.load("digits", s) for s in xd.SPLITS}
    indices = np.concatenate([d.meta["index"] for d in digits.values()])
    assert sorted(indices) == list(range(1797))


def test_data_command_writes_npz_and_preview(tmp_path, capsys):
    from xaikit.cli import main

    status = main(
        [
            "data",
            "an8flower",
            "--variant",
            "double-12c",
            "--n-per-class",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    npz = tmp_path / "an8flower-double-12c-n1-s0.npz"
    png = tmp_path / "an8flower-double-12c-n1-s0.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    written = ImageSet.load(npz)
    assert written.images.tobytes() == xd.an8flower("double-12c", n_per_class=1).images.tobytes()
    assert main(["data", "an8flower", "--variant", "nope", "--out", str(tmp_path)]) == 2
    assert "single-6c" in capsys.readouterr().err
    assert main(["data", "shapes-two-objects", "--seed", "3", "--out", str(tmp_path)]) == 2
    assert "shapes --two-objects" in capsys.readouterr().err
