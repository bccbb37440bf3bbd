"""AN8Flower-style procedural flowers whose class is decided by the colour of designated parts.

In the spirit of the an8Flower dataset of Oramas, Wang & Tuytelaars, "Visual Explanation by
Interpretation: Improving Visual Feedback Capabilities of Deep Neural Networks", ICLR 2019
(arXiv:1712.06302): because the discriminative feature is fixed by construction, an explanation
method can be scored against the ground-truth mask of the part(s) that decide the class.

Each image shows one flower — 8 petals, a centre disc, a stem and two leaves — at a random pose
(petal rotation, stem tilt), scale and position over a cluttered, textured, desaturated
background, with per-part shading, a random illumination gradient and per-pixel Gaussian noise.

- ``"single-6c"``: the class is the colour of the **petals** (6 colours).
- ``"double-12c"``: the class is the pair (petal colour, centre colour): 4 petal colours × 3
  centre colours = 12 classes.

Every other part takes colours drawn from one distribution that is the same in every class and
disjoint from the class palettes (stem and leaves: greens; centre in single-6c: browns;
background: saturation ≤ 0.3), so the discriminative colour is never ambiguous.
See ``datasets/an8flower.md``.
"""

from __future__ import annotations

import numpy as np

from xaikit.base.messages import message
from xaikit.data import _draw
from xaikit.data.imageset import ImageSet, boxes_from_masks

VARIANTS = ("single-6c", "double-12c")
PART_NAMES = ("background", "stem", "leaves", "petals", "centre")  # index = part id, back to front
MIN_SIZE = 32
N_PETALS = 8

# Class palettes: saturated, well-separated hues; no greens (stem/leaves) or browns (centre).
PETAL_COLOURS_6C = {
    "red": (0.90, 0.10, 0.12),
    "yellow": (0.98, 0.85, 0.10),
    "cyan": (0.10, 0.80, 0.90),
    "blue": (0.12, 0.25, 0.90),
    "purple": (0.55, 0.15, 0.85),
    "pink": (0.98, 0.45, 0.75),
}
PETAL_COLOURS_12C = {k: PETAL_COLOURS_6C[k] for k in ("red", "yellow", "cyan", "purple")}
CENTRE_COLOURS_12C = {
    "black": (0.08, 0.08, 0.08),
    "white": (0.95, 0.95, 0.92),
    "orange": (1.0, 0.50, 0.0),
}

# Non-discriminative colour distributions (identical in every class): (hue°, saturation, value).
STEM_HSV = ((95.0, 140.0), (0.55, 0.85), (0.35, 0.60))
LEAF_HSV = ((85.0, 145.0), (0.50, 0.85), (0.35, 0.70))
CENTRE_HSV_6C = ((20.0, 38.0), (0.55, 0.85), (0.25, 0.50))


def class_names(variant: str) -> list[str]:
    """The class names of a variant, in label order."""
    _check_variant(variant)
    if variant == "single-6c":
        return list(PETAL_COLOURS_6C)
    return [f"{p}+{c}" for p in PETAL_COLOURS_12C for c in CENTRE_COLOURS_12C]


def an8flower(
    variant: str = "single-6c", n_per_class: int = 100, size: int = 112, seed: int = 0
) -> ImageSet:
    """Generate an AN8Flower-style set (Oramas, Wang & Tuytelaars, ICLR 2019).

    Parameters
    ----------
    variant : {"single-6c", "double-12c"}
        ``"single-6c"``: class = petal colour (6 classes).  ``"double-12c"``: class = (petal
        colour, centre colour), 4 × 3 = 12 classes, label = 3 · petal index + centre index.
    n_per_class : int
        Images per class (≥ 1); the set holds ``n_per_class × n_classes`` images in random order.
    size : int
        Image side in pixels (≥ 32); 112 as in the original renderings.
    seed : int
        Same seed ⇒ byte-identical arrays.

    Returns
    -------
    ImageSet
        images float32 (N, size, size, 3); ``masks`` the discriminative part(s) (petals, or
        petals ∪ centre); ``parts`` bool masks of "background", "stem", "leaves", "petals",
        "centre" (disjoint, covering every pixel; occluded pixels belong to the front part);
        ``boxes`` (N, 4) tight boxes of ``masks``; per-sample ``meta`` arrays "centre_yx",
        "radius", "clutter" (uint8 (N, H, W): the background texture of each visible background
        pixel, an index into ``_draw.CLUTTER_NAMES`` = plain, blob, twig; 0 on the flower) and,
        for double-12c, "petal_class" and "centre_class".

    Raises
    ------
    ValueError
        Unknown variant, ``n_per_class`` < 1, ``size`` < 32, or a negative seed.
    """
    _check_variant(variant)
    _draw.check_generator_args(n_per_class, size, MIN_SIZE, seed)
    names = class_names(variant)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(names), dtype=np.int64), n_per_class))
    scene = sample_scene(rng, labels, variant, size)
    images, part_ids = _draw.render_chunks(scene, len(labels), int(rng.integers(2**32)), render_coded)
    part_ids, clutter = _draw.split_clutter(part_ids)
    parts = {name: part_ids == i for i, name in enumerate(PART_NAMES)}
    masks = parts["petals"] | parts["centre"] if variant == "double-12c" else parts["petals"].copy()
    meta: dict = {
        "variant": variant,
        "discriminative_parts": ["petals", "centre"] if variant == "double-12c" else ["petals"],
        "centre_yx": np.stack([scene["cy"], scene["cx"]], axis=-1),
        "radius": scene["radius"].copy(),
        "clutter": clutter,
        "seed": int(seed),
    }
    if variant == "double-12c":
        meta["petal_class"] = labels // len(CENTRE_COLOURS_12C)
        meta["centre_class"] = labels % len(CENTRE_COLOURS_12C)
        meta["palette"] = {"petals": PETAL_COLOURS_12C, "centre": CENTRE_COLOURS_12C}
    else:
        meta["palette"] = {"petals": PETAL_COLOURS_6C}
    return ImageSet(
        images=images,
        labels=labels,
        class_names=names,
        masks=masks,
        parts=parts,
        boxes=boxes_from_masks(masks),
        name=f"an8flower-{variant}",
        meta=meta,
    )


def sample_scene(
    rng: np.random.Generator, labels: np.ndarray, variant: str, size: int
) -> dict[str, np.ndarray]:
    """Draw every random quantity of every image (pose, shapes, colours, background) as arrays."""
    n = len(labels)
    u = lambda lo, hi, shape=(n,): rng.uniform(lo, hi, size=shape)  # noqa: E731
    radius = u(0.20, 0.30) * size
    margin = radius + 0.02 * size
    scene = {
        "size": np.full(n, size),
        "radius": radius,
        "cy": rng.uniform(margin, np.maximum(margin, 0.72 * size - radius)),
        "cx": rng.uniform(margin, size - margin),
        "petal_rotation": u(0.0, 2 * np.pi / N_PETALS),
        "petal_offset": u(0.52, 0.60) * radius,  # distance of a petal's centre from the flower's
        "petal_length": u(0.40, 0.46) * radius,  # semi-axis along the petal
        "petal_width": u(0.15, 0.22) * radius,  # semi-axis across the petal
        "petal_gain": u(0.93, 1.07, (n, N_PETALS)),
        "centre_radius": u(0.22, 0.30) * radius,
        "stem_tilt": u(-0.7, 0.7),  # radians from straight down
        "stem_length": u(1.9, 2.6) * radius,
        "stem_width": np.maximum(1.2, u(0.06, 0.09) * radius),  # half-width in px
        "leaf_attach": u(1.25, 1.75, (n, 2)) * radius[:, None],  # distance along the stem
        "leaf_spread": u(0.6, 1.1, (n, 2)),  # angle between leaf and upward stem
        "leaf_length": u(0.26, 0.36, (n, 2)) * radius[:, None],  # half-length
        "leaf_width": u(0.09, 0.13, (n, 2)) * radius[:, None],  # half-width at the middle
    }
    if variant == "single-6c":
        scene["colour_petals"] = np.asarray(list(PETAL_COLOURS_6C.values()), np.float32)[labels]
        scene["colour_centre"] = _draw.hsv_colours(rng, (n,), *CENTRE_HSV_6C)
    else:
        n_centres = len(CENTRE_COLOURS_12C)
        scene["colour_petals"] = np.asarray(list(PETAL_COLOURS_12C.values()), np.float32)[
            labels // n_centres
        ]
        scene["colour_centre"] = np.asarray(list(CENTRE_COLOURS_12C.values()), np.float32)[
            labels % n_centres
        ]
    scene["colour_stem"] = _draw.hsv_colours(rng, (n,), *STEM_HSV)
    scene["colour_leaves"] = _draw.hsv_colours(rng, (n,), *LEAF_HSV)
    scene.update(_draw.background_params(rng, n, size))
    return scene


def render_coded(scene: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless images (n, H, W, 3) and part-id map (n, H, W) of ``n`` scenes (ids: ``PART_NAMES``,
    background clutter in the high bits: :func:`xaikit.data._draw.split_clutter`)."""
    ys, xs = _draw.pixel_grid(int(scene["size"][0]))
    col = _draw.col
    canvas = _draw.Canvas(scene, ys, xs)
    _draw.paint_clutter(canvas, scene)
    slots = {part: canvas.slot(scene[f"colour_{part}"]) for part in PART_NAMES[1:]}
    cy, cx, radius = col(scene["cy"]), col(scene["cx"]), col(scene["radius"])
    dy, dx = ys - cy, xs - cx

    # stem: a capsule from the flower's centre, tilted from straight down
    tilt = col(scene["stem_tilt"])
    length, half_width = col(scene["stem_length"]), col(scene["stem_width"])
    end_y, end_x = cy + length * np.cos(tilt), cx + length * np.sin(tilt)
    distance = np.sqrt(_draw.segment_distance2(ys, xs, cy, cx, end_y, end_x))
    inside = distance <= half_width
    canvas.paint(slots["stem"], inside, 1.0 - 0.15 * distance / half_width)

    # leaves: two lens shapes attached along the stem, pointing up and outwards on either side
    down = np.arctan2(np.cos(tilt), np.sin(tilt))  # image angle (atan2(dy, dx)) of the stem
    for j, side in enumerate((-1.0, 1.0)):
        attach = col(scene["leaf_attach"][:, j])
        half_length, half_leaf = col(scene["leaf_length"][:, j]), col(scene["leaf_width"][:, j])
        axis = down + np.pi + side * col(scene["leaf_spread"][:, j])
        leaf_y = cy + attach * np.cos(tilt) + half_length * np.sin(axis)
        leaf_x = cx + attach * np.sin(tilt) + half_length * np.cos(axis)
        along, across = _draw.rotate(ys - leaf_y, xs - leaf_x, axis)
        across = np.abs(across)
        inside = (across <= half_leaf * (1.0 - (along / half_length) ** 2)) & (
            np.abs(along) <= half_length
        )
        canvas.paint(slots["leaves"], inside, 0.82 + 0.18 * across / half_leaf)

    # petals: 8 ellipses around the centre, tested once in angle-folded polar coordinates
    r = np.sqrt(dy * dy + dx * dx)
    step = np.float32(2 * np.pi / N_PETALS)
    angle = np.arctan2(dy, dx) - col(scene["petal_rotation"])
    petal_index = np.round(angle / step)
    folded = angle - petal_index * step  # angle from the nearest petal's axis, in [-step/2, step/2]
    along = (r * np.cos(folded) - col(scene["petal_offset"])) / col(scene["petal_length"])
    across = r * np.sin(folded) / col(scene["petal_width"])
    inside = along * along + across * across <= 1.0
    index = (petal_index.astype(np.int64) % N_PETALS).reshape(n, -1)
    gain = np.take_along_axis(scene["petal_gain"].astype(np.float32), index, axis=1).reshape(
        r.shape
    )
    canvas.paint(slots["petals"], inside, gain * (0.75 + 0.25 * np.minimum(r / radius, 1.0)))

    # centre disc with a seed-like dotted texture and a darker rim
    centre_radius = col(scene["centre_radius"])
    dots = 0.94 + 0.06 * np.cos(dy * 2.2) * np.cos(dx * 2.2)
    canvas.paint(
        slots["centre"], r <= centre_radius, dots * (1.0 - 0.15 * (r / centre_radius) ** 2)
    )

    part_of_slot = _draw.clutter_codes(len(canvas.palette))
    for part, slot in slots.items():
        part_of_slot[slot] = PART_NAMES.index(part)
    return canvas.finish(_draw.lighting(scene, ys, xs)), part_of_slot[canvas.ids]


def render(scene: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless images (n, H, W, 3) and part-id (ids: ``PART_NAMES``) map (n, H, W) of ``n`` scenes."""
    images, coded = render_coded(scene, n)
    return images, _draw.split_clutter(coded)[0]


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(message("option", name="variant", value=variant,
                                 allowed=", ".join(map(repr, VARIANTS))))
