"""Coloured shapes on clutter: one object per image, or two objects of different classes.

The class is the object's shape (circle, square, triangle, star, cross); its colour, size,
rotation and position are random and independent of the class.  The background is the same
cluttered, textured, desaturated background as :mod:`xaikit.data.an8flower` (saturation ≤ 0.3;
objects have saturation ≥ 0.55).  Masks and boxes are exact, so localisation metrics (pointing
game, mask IoU) and Grad-CAM's two-object figure (Selvaraju et al., ICCV 2017, Fig. 1) can be
scored.  See ``datasets/shapes.md``.
"""

from __future__ import annotations

import numpy as np

from xaikit.base.messages import message
from xaikit.data import _draw
from xaikit.data.imageset import ImageSet, boxes_from_masks

CLASSES = ("circle", "square", "triangle", "star", "cross")
MIN_SIZE = 32
OBJECT_HSV = ((0.0, 360.0), (0.55, 1.0), (0.6, 1.0))
STAR_INNER = 0.45  # inner / outer radius of the 5-pointed star
CROSS_ARM = (0.92, 0.28)  # half-length, half-width of the cross's arms (× radius)
CIRCLE_RADIUS = 0.8  # × radius, so the areas of the classes are comparable


def shapes(
    n_per_class: int = 100, size: int = 64, two_objects: bool = False, seed: int = 0
) -> ImageSet:
    """Generate shapes over clutter, with exact masks and boxes.

    Parameters
    ----------
    n_per_class : int
        Images per class (≥ 1); with ``two_objects`` the count is per class of the *first* object.
    size : int
        Image side in pixels (≥ 32).
    two_objects : bool
        Two objects of different classes per image, one in each half (left/right or top/bottom,
        at random), so they never overlap.
    seed : int
        Same seed ⇒ byte-identical arrays.

    Returns
    -------
    ImageSet
        images float32 (N, size, size, 3); ``labels`` the (first) object's class; ``masks`` the
        union of the objects' pixels; ``parts`` one mask per class name (that class's object,
        all False where absent) plus "background"; ``boxes`` (N, 4), or (N, 2, 4) as [first,
        second] with ``two_objects``.  ``meta``: "multi_hot" (N, 5) float32 (classes present),
        "object_yx", "object_radius", "object_colour" (N, J, 3) (each object's drawn RGB colour,
        before shading and lighting), "clutter" (uint8 (N, H, W): background texture, an index
        into ``_draw.CLUTTER_NAMES``; 0 on the objects), and with ``two_objects`` "labels2".

    Raises
    ------
    ValueError
        ``n_per_class`` < 1, ``size`` < 32, a negative seed, or a non-bool ``two_objects``.
    """
    _draw.check_generator_args(n_per_class, size, MIN_SIZE, seed)
    if not isinstance(two_objects, (bool, np.bool_)):
        raise ValueError(message("option", name="two_objects", value=two_objects,
                                 allowed="True, False"))
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    first = rng.permutation(np.repeat(np.arange(k, dtype=np.int64), n_per_class))
    classes = first[:, None]
    if two_objects:
        classes = np.stack([first, (first + rng.integers(1, k, size=len(first))) % k], axis=1)
    scene = sample_scene(rng, classes, size)
    images, part_ids = _draw.render_chunks(scene, len(first), int(rng.integers(2**32)), render_coded)
    part_ids, clutter = _draw.split_clutter(part_ids)
    objects = np.stack([part_ids == j + 1 for j in range(classes.shape[1])], axis=1)  # (N, J, H, W)
    rows = np.arange(len(first))
    parts = {"background": part_ids == 0}
    for c, name in enumerate(CLASSES):
        parts[name] = np.zeros_like(parts["background"])
        for j in range(classes.shape[1]):
            has = classes[:, j] == c
            parts[name][has] = objects[rows[has], j]
    multi_hot = np.zeros((len(first), k), np.float32)
    multi_hot[rows[:, None], classes] = 1.0
    boxes = boxes_from_masks(objects)
    meta: dict = {
        "multi_hot": multi_hot,
        "object_yx": np.stack([scene["cy"], scene["cx"]], axis=-1),
        "object_radius": scene["radius"].copy(),
        "object_colour": scene["colour"].copy(),
        "clutter": clutter,
        "two_objects": bool(two_objects),
        "seed": int(seed),
    }
    if two_objects:
        meta["labels2"] = classes[:, 1].copy()
    return ImageSet(
        images=images,
        labels=first,
        class_names=list(CLASSES),
        masks=part_ids > 0,
        parts=parts,
        boxes=boxes if two_objects else boxes[:, 0],
        name="shapes-two-objects" if two_objects else "shapes",
        meta=meta,
    )


def sample_scene(rng: np.random.Generator, classes: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Draw every random quantity (object poses, colours, background) as arrays; ``classes`` (n, J)."""
    n, n_objects = classes.shape
    if n_objects == 1:
        radius = rng.uniform(0.20, 0.32, size=(n, 1)) * size
        cy = rng.uniform(radius + 1, size - radius - 1)
        cx = rng.uniform(radius + 1, size - radius - 1)
    else:
        radius = rng.uniform(0.13, 0.20, size=(n, 2)) * size
        swap = rng.random(n) < 0.5  # the first object takes the second half
        half = np.where(swap[:, None], [size / 2, 0.0], [0.0, size / 2])
        along = rng.uniform(radius + 1, size / 2 - radius - 1) + half  # position within its half
        across = rng.uniform(radius + 1, size - radius - 1)
        vertical = rng.random(n) < 0.5  # halves are top/bottom instead of left/right
        cy = np.where(vertical[:, None], along, across)
        cx = np.where(vertical[:, None], across, along)
    scene = {
        "size": np.full(n, size),
        "classes": classes,
        "radius": radius,
        "cy": cy,
        "cx": cx,
        "rotation": rng.uniform(0, 2 * np.pi, size=(n, n_objects)),
        "colour": _draw.hsv_colours(rng, (n, n_objects), *OBJECT_HSV),
        "shade": np.stack(
            [
                rng.uniform(0, 2 * np.pi, size=(n, n_objects)),
                rng.uniform(0.05, 0.15, size=(n, n_objects)),
            ],
            axis=-1,
        ),  # direction and strength of a linear shading across the object
    }
    scene.update(_draw.background_params(rng, n, size))
    return scene


def render_coded(scene: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render` with the background clutter code in the ids' high bits
    (:func:`xaikit.data._draw.split_clutter`): 0 background, j+1 object j."""
    ys, xs = _draw.pixel_grid(int(scene["size"][0]))
    canvas = _draw.Canvas(scene, ys, xs)
    _draw.paint_clutter(canvas, scene)
    n_objects = scene["classes"].shape[1]
    slots = [canvas.slot(scene["colour"][:, j]) for j in range(n_objects)]
    for j in range(n_objects):
        dy, dx = ys - _draw.col(scene["cy"][:, j]), xs - _draw.col(scene["cx"][:, j])
        radius, rotation = _draw.col(scene["radius"][:, j]), _draw.col(scene["rotation"][:, j])
        inside = np.zeros(canvas.ids.shape, bool)
        for c, name in enumerate(CLASSES):
            rows = np.flatnonzero(scene["classes"][:, j] == c)
            if len(rows):
                inside[rows] = _INSIDE[name](
                    *_draw.rotate(dy[rows], dx[rows], rotation[rows]), radius[rows]
                )
        direction, strength = (_draw.col(scene["shade"][:, j, i]) for i in range(2))
        along, _ = _draw.rotate(dy, dx, direction)
        canvas.paint(slots[j], inside, 1.0 + strength * along / radius)
    object_of_slot = _draw.clutter_codes(len(canvas.palette))
    object_of_slot[slots] = np.arange(1, n_objects + 1)
    return canvas.finish(_draw.lighting(scene, ys, xs)), object_of_slot[canvas.ids]


def render(scene: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless images (n, H, W, 3) and object-id (0 background, j + 1 the j-th object) map (n, H, W) of ``n`` scenes."""
    images, coded = render_coded(scene, n)
    return images, _draw.split_clutter(coded)[0]


def _regular_polygon(u: np.ndarray, v: np.ndarray, radius: np.ndarray, n_sides: int) -> np.ndarray:
    """Inside a regular polygon with circumradius ``radius`` and a vertex on the +u axis."""
    step = 2 * np.pi / n_sides
    angle = np.arctan2(v, u) - step / 2  # measured from an edge normal
    folded = angle - np.round(angle / step) * step
    return np.hypot(u, v) * np.cos(folded) <= radius * np.cos(np.pi / n_sides)


def _star(u: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Inside a 5-pointed star (outer radius ``radius``, inner ``STAR_INNER × radius``)."""
    step = 2 * np.pi / 5
    angle = np.arctan2(v, u)
    folded = np.abs(angle - np.round(angle / step) * step)  # angle from the nearest tip, ≤ step/2
    r = np.hypot(u, v)
    px, py = r * np.cos(folded), r * np.sin(folded)
    inner = STAR_INNER * radius
    tip_x, notch_x, notch_y = radius, inner * np.cos(step / 2), inner * np.sin(step / 2)
    # same side of the edge tip→notch as the centre
    return (notch_x - tip_x) * py - notch_y * (px - tip_x) >= 0


def _cross(u: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    length, width = CROSS_ARM[0] * radius, CROSS_ARM[1] * radius
    au, av = np.abs(u), np.abs(v)
    return ((au <= length) & (av <= width)) | ((av <= length) & (au <= width))


_INSIDE = {
    "circle": lambda u, v, r: u * u + v * v <= (CIRCLE_RADIUS * r) ** 2,
    "square": lambda u, v, r: _regular_polygon(u, v, r, 4),
    "triangle": lambda u, v, r: _regular_polygon(u, v, r, 3),
    "star": _star,
    "cross": _cross,
}


def inside_shape(name: str, u: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Pixels inside the shape ``name`` (one of ``CLASSES``) of size ``radius``, in the shape's
    own coordinates (``u`` along its rotation, ``v`` across; see ``_draw.rotate``)."""
    return _INSIDE[name](u, v, radius)
