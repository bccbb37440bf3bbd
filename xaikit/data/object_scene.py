"""Objects pasted on flower scenes, with two labelings: the object's shape or the scene's flower.

In the spirit of the BAM dataset of Yang & Kim, "BIM: Towards Quantitative Evaluation of
Interpretability Methods with Ground Truth", arXiv:1907.09701 (2019): every image is a scene
(an an8flower-style flower over clutter, :mod:`xaikit.data.an8flower`) with an object (one of the
five shapes of :mod:`xaikit.data.shapes`) pasted on it. Object and scene classes are drawn
independently, so a model trained on the object labels has no use for the flower and a model
trained on the scene labels none for the object: which pixels *should* matter to each model is
known, which is what BIM's relative feature importance needs.

The object overlaps the flower's edge (its centre 0.9-1.4 flower radii from the flower's
centre, its radius 0.8-1 flower radius), so that, in the scene without the object (``with_objects=False``, the same seed: the
same scene, noise and footprint), the region under the object holds some petals, the scene
model's evidence. See ``datasets/object_scene.md``.
"""

from __future__ import annotations

import numpy as np

from xaikit.base.checks import check_option
from xaikit.base.messages import message
from xaikit.data import _draw
from xaikit.data.an8flower import PART_NAMES as FLOWER_PARTS
from xaikit.data.an8flower import class_names as flower_classes
from xaikit.data.an8flower import render as render_flowers
from xaikit.data.an8flower import sample_scene as sample_flowers
from xaikit.data.imageset import ImageSet, boxes_from_masks
from xaikit.data.shapes import CLASSES as SHAPES
from xaikit.data.shapes import inside_shape

LABELINGS = ("object", "scene")
SCENE_VARIANT = "single-6c"  # scene class = petal colour (6 classes)
MIN_SIZE = 48
OBJECT_DISTANCE = (0.9, 1.4)  # object centre from the flower centre, in flower radii
OBJECT_RADIUS = (0.8, 1.0)  # object radius in flower radii
OBJECT_VALUE = (0.9, 1.0)  # near-white: brighter than any clutter, unsaturated unlike petals
OBJECT_TINT = 0.05  # each channel darkened by up to 5 %: a faint tint, still white
OBJECT_SHADE = 0.05  # strength of the linear shading across the object (no scene lighting)
N_CANDIDATES = 32  # positions tried per image to keep the object inside the image
PART_NAMES = (*FLOWER_PARTS, "object")


def object_scene(labeling: str = "object", n_per_pair: int = 10, size: int = 64,
                 with_objects: bool = True, seed: int = 0) -> ImageSet:
    """Generate shapes pasted on flower scenes, labelled by object or by scene (BIM-style).

    Parameters
    ----------
    labeling : {"object", "scene"}
        ``labels`` and ``class_names``: the object's shape (circle, square, triangle, star,
        cross) or the scene's petal colour (the six of an8flower single-6c). Both labelings are
        in ``meta`` whatever this says.
    n_per_pair : int
        Images per (object, scene) pair (>= 1); the set holds 30 × ``n_per_pair`` images.
    size : int
        Image side in pixels (>= 48).
    with_objects : bool
        False renders the same scenes without the objects (the counterfactual inputs of BIM's
        input dependence): same seed, same scenes, same noise, same ``masks``.
    seed : int
        Same arguments ⇒ byte-identical arrays.

    Returns
    -------
    ImageSet
        images float32 (N, size, size, 3); ``masks`` the object's footprint (also without
        objects: the region the object would cover); ``parts`` the an8flower parts plus
        ``"object"`` (empty without objects); ``boxes`` the footprint's box; ``meta``:
        "object_labels", "scene_labels", "object_class_names", "scene_class_names",
        "labeling", "with_objects", "object_yx", "object_radius", "flower_yx", "radius", "seed".

    Raises
    ------
    ValueError
        Unknown labeling, ``n_per_pair`` < 1, ``size`` < 48, a negative seed, a non-bool
        ``with_objects``.
    """
    check_option("labeling", labeling, LABELINGS)
    if not isinstance(with_objects, (bool, np.bool_)):
        raise ValueError(message("expected", name="with_objects", expected="True or False",
                                 got=repr(with_objects), fix=""))
    _draw.check_generator_args(n_per_pair, size, MIN_SIZE, seed)
    scene_names = flower_classes(SCENE_VARIANT)
    n_objects, n_scenes = len(SHAPES), len(scene_names)
    rng = np.random.default_rng(seed)
    pairs = rng.permutation(np.repeat(np.arange(n_objects * n_scenes), n_per_pair))
    objects, scenes = pairs // n_scenes, pairs % n_scenes
    scene = sample_flowers(rng, scenes, SCENE_VARIANT, size)
    scene.update(_sample_objects(rng, scene, objects, size))
    scene["with_object"] = np.full(len(pairs), bool(with_objects))
    images, part_ids = _draw.render_chunks(scene, len(pairs), int(rng.integers(2**32)), render)
    footprint = part_ids >= len(PART_NAMES)  # the footprint's own id, see render()
    beneath = part_ids[footprint] - len(PART_NAMES)
    part_ids[footprint] = PART_NAMES.index("object") if with_objects else beneath
    parts = {name: part_ids == i for i, name in enumerate(PART_NAMES)}
    labels, names = (objects, list(SHAPES)) if labeling == "object" else (scenes,
                                                                                  scene_names)
    meta = {
        "object_labels": objects, "scene_labels": scenes,
        "object_class_names": list(SHAPES), "scene_class_names": scene_names,
        "labeling": labeling, "with_objects": bool(with_objects), "seed": int(seed),
        "object_yx": np.stack([scene["object_cy"], scene["object_cx"]], axis=-1),
        "object_radius": scene["object_radius"].copy(),
        "flower_yx": np.stack([scene["cy"], scene["cx"]], axis=-1),
        "radius": scene["radius"].copy(),
    }
    return ImageSet(images=images, labels=labels.astype(np.int64), class_names=names,
                    masks=footprint, parts=parts, boxes=boxes_from_masks(footprint),
                    name=f"object-scene-{labeling}", meta=meta)


def _sample_objects(rng: np.random.Generator, scene: dict[str, np.ndarray], objects: np.ndarray,
                    size: int) -> dict[str, np.ndarray]:
    """Object pose, colour and shading; the position is the first of ``N_CANDIDATES`` inside."""
    n = len(objects)
    radius = rng.uniform(*OBJECT_RADIUS, size=n) * scene["radius"]
    distance = rng.uniform(*OBJECT_DISTANCE, size=(n, N_CANDIDATES)) * scene["radius"][:, None]
    angle = rng.uniform(0, 2 * np.pi, size=(n, N_CANDIDATES))
    cy = scene["cy"][:, None] + distance * np.sin(angle)
    cx = scene["cx"][:, None] + distance * np.cos(angle)
    low, high = radius[:, None] + 1.0, size - radius[:, None] - 1.0
    inside = (cy >= low) & (cy <= high) & (cx >= low) & (cx <= high)
    pick = np.where(inside.any(axis=1), inside.argmax(axis=1), 0)
    rows = np.arange(n)
    value = rng.uniform(*OBJECT_VALUE, size=n)
    colour = value[:, None] * (1.0 - rng.uniform(0.0, OBJECT_TINT, size=(n, 3)))
    return {
        "object_class": objects,
        "object_radius": radius,
        "object_cy": np.clip(cy[rows, pick], low[:, 0], high[:, 0]),
        "object_cx": np.clip(cx[rows, pick], low[:, 0], high[:, 0]),
        "object_rotation": rng.uniform(0, 2 * np.pi, size=n),
        "object_colour": colour.astype(np.float32),
        "object_shade": np.stack([rng.uniform(0, 2 * np.pi, size=n),
                                  rng.uniform(0.0, OBJECT_SHADE, size=n)], axis=-1),
    }


def render(scene: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The flower scene with the object on top (when ``with_object``).

    Part ids: ``PART_NAMES`` for the scene; pixels of the object's footprint get
    ``len(PART_NAMES) + id of the part beneath`` so the caller knows both.
    """
    images, ids = render_flowers(scene, n)
    ys, xs = _draw.pixel_grid(int(scene["size"][0]))
    col = _draw.col
    dy, dx = ys - col(scene["object_cy"]), xs - col(scene["object_cx"])
    radius = col(scene["object_radius"])
    u, v = _draw.rotate(dy, dx, col(scene["object_rotation"]))
    footprint = np.zeros(ids.shape, bool)
    for c, name in enumerate(SHAPES):
        rows = np.flatnonzero(scene["object_class"] == c)
        if rows.size:
            footprint[rows] = inside_shape(name, u[rows], v[rows], radius[rows])
    drawn = footprint & col(scene["with_object"]).astype(bool)
    direction, strength = (col(scene["object_shade"][:, i]) for i in range(2))
    along, _ = _draw.rotate(dy, dx, direction)
    light = 1.0 + strength * along / radius  # pasted: the scene's lighting does not apply
    painted = scene["object_colour"][:, None, None, :] * light[..., None]
    images[drawn] = painted[drawn]
    ids[footprint] += len(PART_NAMES)
    return images, ids
