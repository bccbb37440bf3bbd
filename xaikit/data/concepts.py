"""Concept masks of the generated data: parts, their colours and the background's textures.

The generators know, for every pixel, which part it belongs to and which colour that part was
drawn in, so the concept annotations of Broden (Bau et al., CVPR 2017: objects, parts, colours,
textures) exist here exactly, for every image:

- an8flower: parts ``stem``, ``leaves``, ``petals``, ``centre``; colours: the petal colour of
  the image (``red``, ``yellow``, ...), ``green`` (stem and leaves), the centre's colour
  (``brown`` in single-6c; ``black``, ``white``, ``orange`` in double-12c) and ``grey`` (the
  desaturated background);
- shapes: shapes ``circle``, ``square``, ``triangle``, ``star``, ``cross``; the colour name of
  each object's hue (``HUES``) and ``grey``;
- both: background textures ``plain``, ``blob``, ``twig`` (``meta["clutter"]``).

A :class:`ConceptSet` builds the masks of any batch of images on demand from the dataset's own
arrays, optionally at a lower resolution, as Network Dissection scores concepts at the
segmentation resolution (112 px for 224-px images): each region (a part, a texture) is
downsampled once by block majority and cached, then combined per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xaikit.base.messages import message
from xaikit.data._draw import CLUTTER_NAMES
from xaikit.data.an8flower import (
    CENTRE_COLOURS_12C,
    PART_NAMES,
    PETAL_COLOURS_6C,
    PETAL_COLOURS_12C,
)
from xaikit.data.imageset import ImageSet
from xaikit.data.shapes import CLASSES

__all__ = ["HUES", "ConceptSet", "colour_names", "concepts"]

HUES = (("red", 345.0), ("orange", 15.0), ("yellow", 45.0), ("green", 70.0), ("cyan", 160.0),
        ("blue", 200.0), ("purple", 260.0), ("pink", 290.0))
"""Colour names of hue ranges: each name starts at its hue (degrees) and ends at the next."""


def colour_names(rgb: np.ndarray) -> np.ndarray:
    """The :data:`HUES` name of each RGB colour (..., 3) in [0, 1], as an array of str."""
    rgb = np.asarray(rgb, np.float64)
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    delta = np.where(high > low, high - low, 1.0)
    r, g, b = np.moveaxis(rgb, -1, 0)
    hue = np.select([high == r, high == g], [((g - b) / delta) % 6, (b - r) / delta + 2],
                    (r - g) / delta + 4) * 60.0
    starts = np.array([start for _, start in HUES])
    names = np.array([name for name, _ in HUES])
    shifted = (hue[..., None] - starts) % 360.0
    return names[shifted.argmin(axis=-1)]


@dataclass(eq=False)
class ConceptSet:
    """Concept masks of one ImageSet, built per batch.

    Each concept is a union of *terms* (a region of every image (N, H, W) bool, and the
    images (N,) bool in which that region counts).

    Attributes
    ----------
    names, categories : list of str
        One entry per concept (categories: "part", "shape", "colour", "texture").
    size : (int, int)
        Resolution of the masks :meth:`masks` returns.
    n_images : int
    dataset : str
    """

    names: list[str]
    categories: list[str]
    size: tuple[int, int]
    n_images: int
    dataset: str
    terms: list[list[tuple[np.ndarray, np.ndarray]]] = field(repr=False)
    _small: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.n_images

    def masks(self, index: Any = slice(None), *, pixels: bool = False,
              ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """bool (b, h, w, C): the masks of the images ``index`` (a slice or index array);
        with ``pixels``, also (C,) the number of pixels of each concept in them."""
        out = []
        for terms in self.terms:
            mask = np.zeros((len(terms[0][1][index]), *self.size), bool)
            for region, images in terms:
                mask |= self._region(region)[index] & images[index][:, None, None]
            out.append(mask)
        if pixels:
            return np.stack(out, axis=-1), np.array([np.count_nonzero(mask) for mask in out])
        return np.stack(out, axis=-1)

    def _region(self, region: np.ndarray) -> np.ndarray:
        """``region`` at ``size``, downsampled once (regions shared by concepts are cached)."""
        if region.shape[1:] == self.size:
            return region
        if id(region) not in self._small:
            self._small[id(region)] = (region, _downsample(region, self.size))
        return self._small[id(region)][1]

    def in_memory(self) -> ConceptSet:
        """The same concepts with every mask computed once and held (N * h * w * C bytes)."""
        every = np.ones(self.n_images, bool)
        held = self.masks()
        return ConceptSet(list(self.names), list(self.categories), self.size, self.n_images,
                          self.dataset, [[(np.ascontiguousarray(held[..., c]), every)]
                                         for c in range(len(self.names))])

    @classmethod
    def from_masks(cls, masks: dict[str, np.ndarray], categories: dict[str, str] | None = None,
                   *, dataset: str = "") -> ConceptSet:
        """Concepts given as masks: name -> bool (N, h, w), all of one size; category per name."""
        arrays = {str(name): np.asarray(mask, bool) for name, mask in masks.items()}
        shapes = {array.shape for array in arrays.values()}
        if not arrays or len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(message("expected", name="masks", expected="a dict of bool (N, h, w) "
                                     "arrays of one shape", got=sorted(map(str, shapes)), fix=""))
        n, height, width = shapes.pop()
        every = np.ones(n, bool)
        return cls(list(arrays), [(categories or {}).get(name, "concept") for name in arrays],
                   (height, width), n, dataset, [[(mask, every)] for mask in arrays.values()])

    def category(self, name: str) -> str:
        """The category of concept ``name``."""
        if name not in self.names:
            raise ValueError(message("concept_names", name="name", value=name, allowed=self.names))
        return self.categories[self.names.index(name)]


def _downsample(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, H, W) bool at ``size``: block majority when ``size`` divides (H, W), else nearest."""
    height, width = mask.shape[1:]
    if (height, width) == size:
        return mask
    if height % size[0] or width % size[1]:
        rows = ((np.arange(size[0]) + 0.5) * height / size[0]).astype(int)
        cols = ((np.arange(size[1]) + 0.5) * width / size[1]).astype(int)
        return mask[:, rows][:, :, cols]
    fy, fx = height // size[0], width // size[1]
    votes = np.zeros((len(mask), *size), np.uint16)
    for dy in range(fy):
        for dx in range(fx):
            votes += mask[:, dy::fy, dx::fx]
    return 2 * votes >= fy * fx


def _textures(dataset: ImageSet, every: np.ndarray) -> list[tuple[str, str, list]]:
    clutter = dataset.meta.get("clutter")
    if not isinstance(clutter, np.ndarray):
        return []
    plain = dataset.parts["background"] & (clutter == 0)
    return [(name, "texture", [(plain if code == 0 else clutter == code, every)])
            for code, name in enumerate(CLUTTER_NAMES)]


def _flower_concepts(dataset: ImageSet) -> list[tuple[str, str, list]]:
    parts, every = dataset.parts, np.ones(len(dataset), bool)
    found = [(part, "part", [(parts[part], every)]) for part in PART_NAMES[1:]]
    if dataset.meta.get("variant") == "double-12c":
        petal, centre = dataset.meta["petal_class"], dataset.meta["centre_class"]
        found += [(name, "colour", [(parts["petals"], petal == i)])
                  for i, name in enumerate(PETAL_COLOURS_12C)]
        found += [(name, "colour", [(parts["centre"], centre == i)])
                  for i, name in enumerate(CENTRE_COLOURS_12C)]
    else:
        found += [(name, "colour", [(parts["petals"], dataset.labels == i)])
                  for i, name in enumerate(PETAL_COLOURS_6C)]
        found += [("brown", "colour", [(parts["centre"], every)])]
    found += [("green", "colour", [(parts["stem"], every), (parts["leaves"], every)]),
              ("grey", "colour", [(parts["background"], every)])]
    return found + _textures(dataset, every)


def _shape_concepts(dataset: ImageSet) -> list[tuple[str, str, list]]:
    parts, every = dataset.parts, np.ones(len(dataset), bool)
    found = [(name, "shape", [(parts[name], every)]) for name in CLASSES]
    classes = np.stack([dataset.labels, dataset.meta["labels2"]], axis=1) if "labels2" in \
        dataset.meta else dataset.labels[:, None]
    by_class = np.stack([parts[name] for name in CLASSES])
    rows = np.arange(len(dataset))
    objects = [by_class[classes[:, j], rows] for j in range(classes.shape[1])]
    hues = colour_names(dataset.meta["object_colour"])
    for name, _ in HUES:
        terms = [(objects[j], hues[:, j] == name) for j in range(len(objects))]
        found.append((name, "colour", terms))
    found.append(("grey", "colour", [(parts["background"], every)]))
    return found + _textures(dataset, every)


def concepts(dataset: ImageSet, *, size: int | Sequence[int] | None = None) -> ConceptSet:
    """The concept masks of a generated data set (an8flower or shapes).

    Parameters
    ----------
    dataset : ImageSet
        Made by :func:`xaikit.data.an8flower` or :func:`xaikit.data.shapes` (or ``load`` of
        their zoo entries), with its ``parts`` and ``meta``.
    size : int, (int, int) or None
        Resolution of the masks (None: the images'); a divisor of the image size averages
        blocks (a pixel is in the concept if at least half its block is), otherwise the
        nearest pixel is taken.

    Returns
    -------
    ConceptSet

    Raises
    ------
    ValueError
        Another kind of data set, or a bad size.

    Examples
    --------
    >>> from xaikit.data import an8flower
    >>> found = concepts(an8flower(n_per_class=1, size=32), size=16)
    >>> found.masks(slice(0, 2)).shape[:3], "petals" in found.names
    ((2, 16, 16), True)
    """
    parts = dataset.parts or {}
    if set(PART_NAMES) <= set(parts) and "variant" in dataset.meta:
        found = _flower_concepts(dataset)
    elif set(CLASSES) <= set(parts) and "object_colour" in dataset.meta:
        found = _shape_concepts(dataset)
    else:
        raise ValueError(message("concept_dataset", name=getattr(dataset, "name", dataset),
                                 what="an8flower parts or shapes object colours"))
    height, width = dataset.images.shape[1:3]
    size = (height, width) if size is None else (
        (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size))
    if len(size) != 2 or not all(1 <= s <= d for s, d in zip(size, (height, width))):
        raise ValueError(message("expected", name="size", expected=f"an int or (h, w) in "
                                 f"1..{(height, width)}", got=repr(size), fix=""))
    return ConceptSet([name for name, _, _ in found], [category for _, category, _ in found],
                      size, len(dataset), dataset.name, [terms for _, _, terms in found])
