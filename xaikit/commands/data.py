"""``xaikit data NAME``: write a dataset as ``.npz`` plus a PNG preview grid with the masks outlined.

NAME is a zoo dataset (an8flower-single-6c, an8flower-double-12c, shapes, shapes-two-objects,
digits: the exact split a zoo model uses, via ``xaikit.data.load``) or a loader (an8flower,
shapes, digits, mnist, fashion_mnist, cifar10, sample_photos, imagenet_photos, image_folder) called with the
options given.  Giving ``--n-per-class``, ``--seed`` or ``--size`` to a zoo name that is also a
generator (shapes) calls the generator instead of the fixed recipe.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xaikit.base.messages import message
from xaikit.base.names import ZOO_NAMES as ZOO

HELP = "write a dataset (npz) and a PNG preview grid with its masks outlined"

LOADERS = (
    "an8flower",
    "shapes",
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "sample_photos",
    "imagenet_photos",
    "image_folder",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", help=f"one of: {', '.join(dict.fromkeys(ZOO + LOADERS))}"
    )
    parser.add_argument(
        "--out", default="xaikit-out/data", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--n-per-class", type=int, default=None, help="images per class (generators)"
    )
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default 0)")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels")
    parser.add_argument(
        "--variant", default="single-6c", help="an8flower variant: single-6c or double-12c"
    )
    parser.add_argument("--two-objects", action="store_true", help="shapes: two objects per image")
    parser.add_argument(
        "--split", default=None, help="zoo names: train/val/test; keras datasets: train/test"
    )
    parser.add_argument(
        "--fast", action="store_true", help="zoo names: the reduced (XAIKIT_FAST) recipe"
    )
    parser.add_argument(
        "--allow-download", action="store_true", help="keras datasets: download if not cached"
    )
    parser.add_argument("--path", default=None, help="image_folder: the folder of class subfolders")
    parser.add_argument(
        "--preview-per-class", type=int, default=6, help="preview columns (default 6)"
    )
    parser.add_argument("--no-npz", action="store_true", help="write only the preview PNG")


def run(args: argparse.Namespace) -> int:
    data, stem = build(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_npz:
        print(f"wrote {data.save(out / f'{stem}.npz')}")
    png = write_preview(data, out / f"{stem}.png", per_class=args.preview_per_class)
    print(f"wrote {png}")
    print(f"{data!r}: {len(data)} images of {data.input_shape}, classes {data.class_names}")
    return 0


def build(args: argparse.Namespace) -> tuple[Any, str]:
    """The ImageSet the arguments ask for, and the file stem to write it under."""
    import xaikit.data as xd

    name = args.name
    generator_options = any(v is not None for v in (args.n_per_class, args.seed, args.size))
    if name in ZOO and name not in LOADERS and generator_options:
        base, _, variant = name.partition("-")
        hint = f"{base} --variant {variant}" if base == "an8flower" else f"{base} --two-objects"
        raise ValueError(message("zoo_recipe_fixed", name=name, hint=hint))
    if name in ZOO and not (name in LOADERS and generator_options):
        split = args.split or "train"
        return xd.load(name, split=split, fast=args.fast or None), f"{name}-{split}"
    seed = 0 if args.seed is None else args.seed
    n = 100 if args.n_per_class is None else args.n_per_class
    if name == "an8flower":
        data = xd.an8flower(args.variant, n_per_class=n, size=args.size or 112, seed=seed)
        return data, f"an8flower-{args.variant}-n{n}-s{seed}"
    if name == "shapes":
        data = xd.shapes(
            n_per_class=n, size=args.size or 64, two_objects=args.two_objects, seed=seed
        )
        return data, f"{data.name}-n{n}-s{seed}"
    if name == "digits":
        return xd.digits(size=args.size or 32), "digits"
    if name in ("mnist", "fashion_mnist", "cifar10"):
        split = args.split or "train"
        return getattr(xd, name)(split, allow_download=args.allow_download), f"{name}-{split}"
    if name == "sample_photos":
        return xd.sample_photos(size=args.size), "sample_photos"
    if name == "imagenet_photos":
        return xd.imagenet_photos(size=args.size or 224), "imagenet_photos"
    if name == "image_folder":
        if not args.path:
            raise ValueError(message("needs_option", what="image_folder",
                                     option="--path FOLDER (one subfolder of images per class)"))
        data = xd.image_folder(args.path, size=args.size)
        return data, f"image_folder-{Path(args.path).resolve().name}"
    allowed = ", ".join(dict.fromkeys(ZOO + LOADERS))
    raise ValueError(message("option", name="NAME", value=name, allowed=allowed))


def outline(masks: Any) -> Any:
    """Boundary pixels of bool masks (..., H, W): mask pixels with a 4-neighbour outside the mask."""
    import numpy as np

    padded = np.pad(masks, [(0, 0)] * (masks.ndim - 2) + [(1, 1), (1, 1)], constant_values=False)
    interior = (
        padded[..., :-2, 1:-1]
        & padded[..., 2:, 1:-1]
        & padded[..., 1:-1, :-2]
        & padded[..., 1:-1, 2:]
    )
    return masks & ~interior


def write_preview(data: Any, path: Path, per_class: int = 6) -> Path:
    """Save a grid (one row per class, up to ``per_class`` images) with mask outlines; atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from xaikit.base.io import atomic_write

    classes = np.unique(data.labels)[:12]
    rows = [np.flatnonzero(data.labels == c)[:per_class] for c in classes]
    n_cols = max(1, max(len(r) for r in rows))
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(1.6 * n_cols, 1.6 * len(rows)), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for r, (cls, members) in enumerate(zip(classes, rows)):
        for c, i in enumerate(members):
            image = np.array(data.images[i])
            image = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
            if data.masks is not None:
                image[outline(data.masks[i])] = (1.0, 1.0, 1.0)
            axes[r, c].imshow(image, interpolation="nearest")
            title = data.class_names[cls]
            if "labels2" in data.meta:
                title += f" + {data.class_names[data.meta['labels2'][i]]}"
            axes[r, c].set_title(title, fontsize=7)
    fig.suptitle(
        f"{data.name}: {len(data)} images, masks outlined in white"
        if data.masks is not None
        else f"{data.name}: {len(data)} images",
        fontsize=9,
    )
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.3 / fig.get_figheight()))
    try:
        atomic_write(path, lambda handle: fig.savefig(handle, dpi=80, format="png"))
    finally:
        plt.close(fig)
    return path
