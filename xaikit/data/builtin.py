"""Loaders for data that ships inside packages or lives on disk.

- :func:`digits` — scikit-learn's bundled 8×8 digits upsampled to 32×32 (the offline MNIST stand-in);
- :func:`mnist`, :func:`fashion_mnist`, :func:`cifar10` — the ``keras.datasets`` files, read from
  the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``).  They never touch the
  network unless asked (``allow_download=True``); offline they raise one sentence saying where to
  put the file;
- :func:`sample_photos` — scikit-image's bundled colour photographs;
- :func:`image_folder` — a user's own images, one subfolder per class.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np

from xaikit.base.checks import check_int, check_option
from xaikit.base.messages import message
from xaikit.base.resize import bilinear_matrix
from xaikit.data.imageset import ImageSet

_SPLITS = ("train", "test")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
KERAS_FALLBACK_DIR = Path("/tmp/.keras/datasets")  # where Keras caches when its home is read-only
FASHION_MNIST_CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
# ImageNet-1k class indices that plausibly describe each photo (for the pretrained-model lessons).
PHOTO_IMAGENET_CLASSES = {
    "astronaut": [],
    "chelsea": [281, 282, 285],  # tabby, tiger cat, Egyptian cat
    "coffee": [967, 968],  # espresso, cup
    "rocket": [657, 744, 812],  # missile, projectile, space shuttle
    "hubble_deep_field": [],
    "immunohistochemistry": [],
    "retina": [],
}


# ---------------------------------------------------------------------------- digits
def digits(size: int = 32) -> ImageSet:
    """scikit-learn's 1,797 handwritten digits, bilinearly upsampled from 8×8 to ``size``×``size``.

    Parameters
    ----------
    size : int
        Output side in pixels (≥ 8).  32 by default.

    Returns
    -------
    ImageSet
        images float32 (1797, size, size, 1) in [0, 1] (the 0–16 ink values divided by 16),
        labels 0–9, class names ``"0"`` … ``"9"``.  No masks.
    """
    size = _check_size(size, minimum=8)
    table = _sklearn_digits_table()
    small = table[:, :-1].reshape(-1, 8, 8) / 16.0
    up = bilinear_matrix(8, size)
    images = np.clip(up @ small @ up.T, 0.0, 1.0).astype(np.float32)[..., None]
    return ImageSet(
        images=images,
        labels=table[:, -1].astype(np.int64),
        class_names=[str(d) for d in range(10)],
        name="digits",
        meta={
            "index": np.arange(len(table)),  # row in load_digits(), kept through subset/split
            "source": "sklearn.datasets.load_digits (UCI ML hand-written digits, 8x8)",
        },
    )


def _sklearn_digits_table() -> np.ndarray:
    """The (1797, 65) table behind ``sklearn.datasets.load_digits`` (64 pixels + label).

    Read straight from scikit-learn's bundled ``digits.csv.gz``: importing ``sklearn.datasets``
    costs seconds, reading the file milliseconds.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(message("package_missing", what="digits()", package="scikit-learn"))
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.column_stack([bunch.data, bunch.target]).astype(np.float64)
    return np.loadtxt(path, delimiter=",")


# ---------------------------------------------------------------------------- keras.datasets
def keras_datasets_dir() -> Path:
    """Where ``keras.datasets`` caches its files: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _find_cached(relative: str) -> Path | None:
    """The cached file/folder ``relative`` in the Keras cache or Keras's /tmp fallback, if present."""
    for base in (keras_datasets_dir(), KERAS_FALLBACK_DIR):
        if (base / relative).exists():
            return base / relative
    return None


def _require_cached(
    relative: str, what: str, url: str, loader_name: str, allow_download: bool
) -> Path:
    """Return the cached path, downloading through ``keras.datasets`` only when allowed."""
    found = _find_cached(relative)
    if found is not None:
        return found
    if allow_download:
        import keras

        getattr(keras.datasets, loader_name).load_data()
        found = _find_cached(relative)
        if found is not None:
            return found
    raise FileNotFoundError(message("keras_dataset_missing", what=what,
                                    file=url.rsplit("/", 1)[-1], url=url,
                                    path=keras_datasets_dir() / relative, loader=loader_name))


def _check_split(split: str) -> str:
    return check_option("split", split, _SPLITS)


def mnist(split: str = "train", *, allow_download: bool = False) -> ImageSet:
    """MNIST handwritten digits (LeCun et al., 1998) from the Keras cache file ``mnist.npz``.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    allow_download : bool
        Download through ``keras.datasets.mnist.load_data()`` when the file is missing.  Off by
        default so that an offline machine fails at once instead of hanging.

    Returns
    -------
    ImageSet
        images float32 (N, 28, 28, 1) in [0, 1], labels 0–9.

    Raises
    ------
    FileNotFoundError
        If ``mnist.npz`` is not cached and ``allow_download`` is False.
    """
    _check_split(split)
    path = _require_cached("mnist.npz", "MNIST", _KERAS_URL + "mnist.npz", "mnist", allow_download)
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz[f"x_{split}"], npz[f"y_{split}"]
    return _uint8_set(x[..., None], y, [str(d) for d in range(10)], f"mnist-{split}")


def fashion_mnist(split: str = "train", *, allow_download: bool = False) -> ImageSet:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) from the Keras cache folder ``fashion-mnist/``.

    Same interface as :func:`mnist`; class names are the ten clothing categories.
    """
    _check_split(split)
    prefix = "train" if split == "train" else "t10k"
    names = [f"{prefix}-labels-idx1-ubyte.gz", f"{prefix}-images-idx3-ubyte.gz"]
    paths = [
        _require_cached(
            f"fashion-mnist/{name}",
            "Fashion-MNIST",
            _KERAS_URL + name,
            "fashion_mnist",
            allow_download,
        )
        for name in names
    ]
    with gzip.open(paths[0], "rb") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    with gzip.open(paths[1], "rb") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(len(labels), 28, 28, 1)
    return _uint8_set(images, labels, FASHION_MNIST_CLASSES, f"fashion_mnist-{split}")


def cifar10(split: str = "train", *, allow_download: bool = False) -> ImageSet:
    """CIFAR-10 (Krizhevsky, 2009) from the Keras cache (the extracted ``cifar-10-batches-py``).

    Same interface as :func:`mnist`; images are (N, 32, 32, 3).
    """
    _check_split(split)
    folder = None
    for relative in ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py"):
        folder = folder or _find_cached(relative)
    if folder is None:
        folder = _require_cached(
            "cifar-10-batches-py-target/cifar-10-batches-py",
            "CIFAR-10",
            _CIFAR_URL,
            "cifar10",
            allow_download,
        )
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in files:
        data, batch_labels = _load_cifar_batch(folder / name)
        images.append(data)
        labels.append(batch_labels)
    x = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return _uint8_set(x, np.concatenate(labels), CIFAR10_CLASSES, f"cifar10-{split}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batch dicts only: NumPy array reconstruction, nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(message("unpickle_refused", module=module, name=name))
        return super().find_class(module, name)


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(message("file_missing", what="CIFAR-10 batch file", path=path,
                                        fix=f"; re-extract {_CIFAR_URL}"))
    with open(path, "rb") as handle:
        batch = _ArrayUnpickler(handle, encoding="bytes").load()
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    return np.asarray(batch["data"], np.uint8), np.asarray(batch["labels"], np.int64)


def _uint8_set(
    images: np.ndarray, labels: np.ndarray, class_names: list[str], name: str
) -> ImageSet:
    return ImageSet(
        images=images.astype(np.float32) / 255.0,
        labels=np.asarray(labels).reshape(-1).astype(np.int64),
        class_names=class_names,
        name=name,
    )


# ---------------------------------------------------------------------------- photos and folders
def sample_photos(size: int | None = None, names: tuple[str, ...] = PHOTOS) -> ImageSet:
    """scikit-image's bundled colour photographs, centre-cropped to squares and resized.

    Parameters
    ----------
    size : int, optional
        Output side in pixels; ``None`` means 224 (the ImageNet models' input size).
    names : tuple of str
        Which photos, from ``PHOTOS`` (astronaut, chelsea, coffee, rocket, hubble_deep_field,
        immunohistochemistry, retina).

    Returns
    -------
    ImageSet
        One image per photo; ``labels`` are 0..N-1 and ``class_names`` the photo names;
        ``meta["imagenet_classes"]`` lists ImageNet-1k indices that describe each photo (may be
        empty).
    """
    import skimage.data

    size = _check_size(224 if size is None else size, minimum=8)
    unknown = [n for n in names if n not in PHOTOS]
    if unknown or not names:
        raise ValueError(message("option", name="names", value=tuple(unknown),
                                 allowed=", ".join(PHOTOS)))
    images = [_square_resize(getattr(skimage.data, n)(), size) for n in names]
    return ImageSet(
        images=np.stack(images),
        labels=np.arange(len(names), dtype=np.int64),
        class_names=list(names),
        name="sample_photos",
        meta={
            "imagenet_classes": [PHOTO_IMAGENET_CLASSES[n] for n in names],
            "source": "skimage.data (see scikit-image's data/README for each photo's license)",
        },
    )


def image_folder(path: str | os.PathLike, size: int | None = None) -> ImageSet:
    """A user's images: one subfolder per class (sorted names), or loose images as one class.

    Parameters
    ----------
    path : str or path-like
        Folder holding ``CLASS/*.png|jpg|...`` (or images directly).
    size : int, optional
        Resize every image (after a centre square crop) to ``size``×``size``.  ``None`` keeps the
        images' size, which must then be the same for all.

    Returns
    -------
    ImageSet
        RGB images float32 (N, H, W, 3) in [0, 1] (grey images are repeated over 3 channels,
        alpha is dropped), labels from the subfolder order; ``meta["files"]`` the file names.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    ValueError
        If no images are found, a file cannot be read, or sizes differ while ``size`` is None.
    """
    import skimage.io

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(message("not_a_folder", path=root))
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    groups = [(c, root / c) for c in classes] if classes else [(root.name, root)]
    files: list[Path] = []
    labels: list[int] = []
    for index, (_, folder) in enumerate(groups):
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        files += found
        labels += [index] * len(found)
    if not files:
        raise ValueError(message("no_images", path=root, suffixes=", ".join(_IMAGE_SUFFIXES)))
    images = []
    for file in files:
        try:
            image = skimage.io.imread(file)
        except Exception as err:  # noqa: BLE001 - any reader failure is reported with the file name
            raise ValueError(message("unreadable_image", path=file,
                                     error=f"{type(err).__name__}: {err}")) from err
        image = _to_rgb_float(np.asarray(image), file)
        images.append(
            image if size is None else _square_resize(image, _check_size(size, minimum=8))
        )
    shapes = sorted({im.shape[:2] for im in images})
    if len(shapes) > 1:
        raise ValueError(message("image_sizes", path=root, sizes=shapes[:5]))
    return ImageSet(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=[c for c, _ in groups],
        name=root.name,
        meta={"files": [str(f.relative_to(root)) for f in files]},
    )


def _to_rgb_float(image: np.ndarray, file: Path | str) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3]
    elif image.ndim == 3 and image.shape[-1] in (1, 2):
        image = np.repeat(image[..., :1], 3, axis=-1)
    else:
        raise ValueError(message("image_array", path=file, shape=image.shape))
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype == bool:
        return image.astype(np.float32)
    image = image.astype(np.float32)
    if image.min() < 0 or image.max() > 1:
        raise ValueError(message("image_range", path=file, low=f"{image.min():.3g}",
                                 high=f"{image.max():.3g}"))
    return image


def _square_resize(image: np.ndarray, size: int) -> np.ndarray:
    return center_crop_resize(image, size, fraction=1.0)


def center_crop_resize(image: np.ndarray, size: int, fraction: float = 1.0) -> np.ndarray:
    """The central square of ``fraction`` × the shorter side, resized to ``size`` × ``size``.

    Parameters
    ----------
    image : np.ndarray
        (H, W), (H, W, 1-4); uint8, uint16, bool or float in [0, 1] (converted to RGB).
    size : int
        Output side in pixels.
    fraction : float
        Share of the shorter side kept, in (0, 1]: 1 keeps the largest centred square;
        ``224 / 256`` is the ImageNet evaluation crop (resize the shorter side to 256, keep the
        central 224). The crop starts at ``(H - side + 1) // 2`` as TensorFlow's.

    Returns
    -------
    np.ndarray
        float32 (size, size, 3) in [0, 1]; bilinear, anti-aliased when shrinking.
    """
    from skimage.transform import resize

    size = _check_size(size, minimum=1)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(message("number", name="fraction", value=fraction,
                                 range=" in (0, 1] (the share of the shorter side kept)"))
    image = np.asarray(image)
    image = _to_rgb_float(image, "photo") if image.dtype != np.float32 or image.ndim != 3 else image
    height, width = image.shape[:2]
    side = max(1, int(fraction * min(height, width)))
    top, left = (height - side + 1) // 2, (width - side + 1) // 2
    crop = image[top : top + side, left : left + side]
    out = resize(crop, (size, size), order=1, anti_aliasing=side > size, preserve_range=True)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _check_size(size: int, minimum: int) -> int:
    return check_int("size", size, minimum=minimum)
