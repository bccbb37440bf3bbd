"""xaikit.data: generated and packaged image sets, all returned as :class:`ImageSet`.

- generators: :func:`an8flower` (AN8Flower-style flowers, Oramas et al., ICLR 2019),
  :func:`shapes` (shapes on clutter, one or two objects), :func:`object_scene` (shapes pasted
  on flower scenes, labelled by object or by scene: BIM, Yang & Kim 2019);
- packaged/offline: :func:`digits`, :func:`sample_photos`, :func:`image_folder`,
  :func:`imagenet_photos` (photographs of ImageNet classes) and :func:`imagenet_classes` (the
  1000 ImageNet names, from the package ``imagenet-classes``);
- ``keras.datasets`` files from the Keras cache: :func:`mnist`, :func:`fashion_mnist`,
  :func:`cifar10` (no network unless ``allow_download=True``);
- :func:`load` (``name``, ``split``, ``fast``): the fixed data of each zoo model; ``DATASETS`` maps
  names to loaders, ``RECIPES``/:func:`recipe` give the zoo data recipes.

This package knows nothing about models or explanations and never imports TensorFlow at import time.
"""

from xaikit.data.an8flower import an8flower
from xaikit.data.builtin import cifar10, digits, fashion_mnist, image_folder, mnist, sample_photos
from xaikit.data.imagenet import imagenet_classes, imagenet_photos
from xaikit.data.imageset import ImageSet, boxes_from_masks
from xaikit.data.object_scene import object_scene
from xaikit.data.registry import DATASETS, RECIPES, SPLITS, ZOO_NAMES, fast_mode, load, recipe
from xaikit.data.shapes import shapes

__all__ = [
    "DATASETS",
    "RECIPES",
    "SPLITS",
    "ZOO_NAMES",
    "ImageSet",
    "an8flower",
    "boxes_from_masks",
    "cifar10",
    "digits",
    "fashion_mnist",
    "fast_mode",
    "image_folder",
    "imagenet_classes",
    "imagenet_photos",
    "load",
    "mnist",
    "object_scene",
    "recipe",
    "sample_photos",
    "shapes",
]
