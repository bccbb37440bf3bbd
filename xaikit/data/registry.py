"""Named datasets: the ``DATASETS`` registry and the fixed zoo recipes behind :func:`load`.

``load(name, split)`` returns the data a zoo model of the same name is trained and tested on.
Each split of a generated set is an independent draw of the generator with its own fixed seed
(train, val and test never share an image), with ``n_per_class`` images per class, so every split
is exactly class-balanced.  ``digits`` is split once, stratified, with a fixed seed.
Results are cached in memory per process; the cached arrays are read-only (copy before editing).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from xaikit.base.checks import check_option
from xaikit.base.env import fast_mode
from xaikit.base.names import ZOO_NAMES
from xaikit.data.an8flower import an8flower
from xaikit.data.builtin import cifar10, digits, fashion_mnist, image_folder, mnist, sample_photos
from xaikit.data.imagenet import imagenet_photos
from xaikit.data.imageset import ImageSet
from xaikit.data.object_scene import object_scene
from xaikit.data.shapes import shapes

SPLITS = ("train", "val", "test")

DATASETS: dict[str, Callable[..., ImageSet]] = {
    "an8flower": an8flower,
    "shapes": shapes,
    "object_scene": object_scene,
    "digits": digits,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
    "sample_photos": sample_photos,
    "imagenet_photos": imagenet_photos,
    "image_folder": image_folder,
}

# name -> generator, fixed keyword arguments, images per class per split (full, fast), seeds.
RECIPES: dict[str, dict[str, Any]] = {
    "an8flower-single-6c": {
        "generator": "an8flower",
        "kwargs": {"variant": "single-6c", "size": 112},
        "n_per_class": {"train": 400, "val": 50, "test": 100},
        "n_per_class_fast": {"train": 100, "val": 20, "test": 30},
        "seeds": {"train": 101, "val": 102, "test": 103},
    },
    "an8flower-double-12c": {
        "generator": "an8flower",
        "kwargs": {"variant": "double-12c", "size": 112},
        "n_per_class": {"train": 200, "val": 25, "test": 50},
        "n_per_class_fast": {"train": 60, "val": 10, "test": 15},
        "seeds": {"train": 201, "val": 202, "test": 203},
    },
    "shapes": {
        "generator": "shapes",
        "kwargs": {"size": 64, "two_objects": False},
        "n_per_class": {"train": 400, "val": 50, "test": 100},
        "n_per_class_fast": {"train": 120, "val": 20, "test": 30},
        "seeds": {"train": 301, "val": 302, "test": 303},
    },
    "shapes-two-objects": {
        "generator": "shapes",
        "kwargs": {"size": 64, "two_objects": True},
        "n_per_class": {"train": 400, "val": 50, "test": 100},
        "n_per_class_fast": {"train": 120, "val": 20, "test": 30},
        "seeds": {"train": 401, "val": 402, "test": 403},
    },
    "digits": {
        "generator": "digits",
        "kwargs": {"size": 32},
        "fractions": {"train": 0.7, "val": 0.1, "test": 0.2},
        "seeds": {"split": 0},
    },
}


def recipe(name: str, fast: bool | None = None) -> dict[str, Any]:
    """The exact data recipe behind ``load(name, ..., fast)`` (for cache keys and dataset cards)."""
    _check_name(name)
    entry = RECIPES[name]
    out = {"name": name, "generator": entry["generator"], "kwargs": dict(entry["kwargs"])}
    out["fast"] = fast_mode(fast)
    if "fractions" in entry:
        out.update(fractions=dict(entry["fractions"]), seeds=dict(entry["seeds"]))
    else:
        key = "n_per_class_fast" if out["fast"] else "n_per_class"
        out.update(n_per_class=dict(entry[key]), seeds=dict(entry["seeds"]))
    return out


def load(name: str, split: str = "train", fast: bool | None = None) -> ImageSet:
    """The fixed, deterministic data of a zoo entry.

    Parameters
    ----------
    name : str
        One of ``ZOO_NAMES``: "an8flower-single-6c", "an8flower-double-12c", "shapes",
        "shapes-two-objects", "digits".
    split : {"train", "val", "test"}
        Which split.
    fast : bool, optional
        Reduced recipe (fewer images).  ``None`` reads the environment variable ``XAIKIT_FAST``.

    Returns
    -------
    ImageSet
        Cached in memory for the process; its arrays are read-only.

    Raises
    ------
    ValueError
        Unknown name or split (the message lists what is allowed).
    """
    _check_name(name)
    check_option("split", split, SPLITS)
    return _load_cached(name, split, fast_mode(fast))


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, split: str, fast: bool) -> ImageSet:
    spec = recipe(name, fast)
    generator = DATASETS[spec["generator"]]
    if "fractions" in spec:
        data = _split_whole(generator, spec)[split]
    else:
        data = generator(
            n_per_class=spec["n_per_class"][split], seed=spec["seeds"][split], **spec["kwargs"]
        )
    data.name = name
    data.meta["split"] = split
    data.meta["fast"] = fast
    return data.read_only()


def _split_whole(generator: Callable[..., ImageSet], spec: dict) -> dict[str, ImageSet]:
    whole = generator(**spec["kwargs"])
    return whole.split(spec["fractions"], seed=spec["seeds"]["split"])


def _check_name(name: str) -> None:
    check_option("name", name, ZOO_NAMES)
