"""``xaikit explain``: one attribution map for one image, saved as a PNG figure.

``xaikit explain --model zoo:NAME|PATH --image FILE --method NAME [--target K] --out PNG``
loads a zoo model (``zoo:digits``) or a saved ``.keras`` file, reads the image (PNG/JPEG, or
``.npy`` holding an (H, W, C) array), fits it to the model's input (scaled to [0, 1], resized,
grey <-> RGB, each change printed), runs the method and writes image | map | overlay.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from xaikit.base.io import atomic_write
from xaikit.base.messages import message

HELP = "explain a model's decision on one image with any attribution method and save a figure"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="zoo:NAME (e.g. zoo:digits) or the path of a saved .keras model")
    parser.add_argument("--image", required=True, help="PNG/JPEG file, or .npy with an (H, W, C) array")
    parser.add_argument("--method", default="saliency",
                        help="attribution method (see xaikit.attribution.METHODS); default saliency")
    parser.add_argument("--target", type=int, default=None,
                        help="class index to explain (default: the predicted class)")
    parser.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="method option, repeatable, e.g. --set steps=32 --set baseline='blurred'")
    parser.add_argument("--out", required=True, help="output PNG file")


def _options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(message("expected", name="--set", expected="KEY=VALUE",
                                     got=repr(pair), fix=" (e.g. --set steps=32)"))
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return options


def _load_model(spec: str):
    import keras

    if spec.startswith("zoo:"):
        from xaikit.models import zoo

        return zoo(spec[4:])
    path = Path(spec)
    if not path.is_file():
        raise ValueError(message("file_missing", what="--model", path=spec,
                                 fix="; allowed: zoo:NAME or a saved .keras file"))
    return keras.saving.load_model(path)


def _load_image(path: str, shape: tuple):
    import numpy as np
    from matplotlib import pyplot as plt
    from skimage.transform import resize

    file = Path(path)
    if not file.is_file():
        raise ValueError(message("file_missing", what="--image", path=path, fix=""))
    image = np.load(file) if file.suffix == ".npy" else plt.imread(file)
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(message("expected", name="--image", expected="(H, W) or (H, W, C)",
                                 got=f"shape {image.shape}", fix=""))
    if image.dtype.kind in "ui":
        print(f"note: scaled {image.dtype} pixels to [0, 1] (divided by 255)")
        image = image / 255.0
    image = image.astype(np.float32)
    if image.shape[-1] == 4:
        image = image[..., :3]
    height, width, channels = shape[1:]
    if channels == 1 and image.shape[-1] == 3:
        print("note: converted the RGB image to grey (channel mean) for a 1-channel model")
        image = image.mean(axis=-1, keepdims=True)
    elif channels == 3 and image.shape[-1] == 1:
        print("note: repeated the grey channel three times for an RGB model")
        image = np.repeat(image, 3, axis=-1)
    if height is not None and image.shape[:2] != (height, width):
        print(f"note: resized the image from {image.shape[:2]} to the model input {(height, width)}")
        image = resize(image, (height, width), anti_aliasing=True).astype(np.float32)
    return image


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot as plt

    from xaikit import viz
    from xaikit.attribution import explain, get_method
    from xaikit.core.batching import predict
    from xaikit.core.resolution import head_model

    get_method(args.method)  # unknown names fail before the model is loaded
    options = _options(args.options)
    model = _load_model(args.model)
    image = _load_image(args.image, tuple(model.input_shape))
    maps = explain(model, image[None], args.target, method=args.method, **options)[0]
    logits = predict(head_model(model, output=options.get("output")), image[None])[0]
    target = int(np.argmax(logits)) if args.target is None else args.target
    signed = maps.ndim == 3 or bool(np.any(maps < 0))
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    axes[0].imshow(image[..., 0] if image.shape[-1] == 1 else image,
                   cmap="gray" if image.shape[-1] == 1 else None)
    axes[0].set_title(f"input (predicted {int(np.argmax(logits))})", fontsize=9)
    viz.show(axes[1], viz.to_2d(maps[None], "sum")[0] if maps.ndim == 3 else maps, signed=signed,
             title=f"{args.method}, class {target}")
    viz.show(axes[2], maps, image, signed=signed, title="overlay")
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    fig.tight_layout()
    out = atomic_write(args.out, lambda handle: fig.savefig(handle, dpi=120, format="png"))
    plt.close(fig)
    print(f"wrote {out} ({args.method}, class {target}, logit {logits[target]:.3f})")
    return 0
