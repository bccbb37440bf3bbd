"""The one container every xaikit loader returns: :class:`ImageSet`.

An :class:`ImageSet` holds float32 NHWC images in [0, 1], int64 labels, class names and, where a
dataset has them, ground-truth masks, per-part masks and bounding boxes.  It knows how to take a
subset, split itself (stratified), batch itself, become a ``tf.data.Dataset`` and save/load itself
as an ``.npz`` file (written atomically).

Conventions
-----------
- ``masks`` (N, H, W) bool: the discriminative region (the part(s) that decide the class, or the
  object(s) in a shapes image).
- ``parts`` name -> (N, H, W) bool: one mask per named part.
- ``boxes`` (N, 4) or (N, K, 4) float32 as ``(y0, x0, y1, x1)`` in pixel-edge coordinates: the box
  covers rows ``y0 .. y1-1`` and columns ``x0 .. x1-1``.
- ``meta``: NumPy arrays in ``meta`` are *per-sample* (first axis N) and are indexed together with
  the images by :meth:`ImageSet.subset`; everything else (lists, tuples, strings, numbers, dicts)
  describes the whole set and is copied as is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.base.checks import check_int
from xaikit.base.io import atomic_write
from xaikit.base.messages import message

_FORMAT_VERSION = 1


@dataclass(eq=False)
class ImageSet:
    """Images with labels and (optionally) ground-truth masks, parts and boxes.

    Two sets compare equal only if they are the same object (arrays have no single truth value).

    Parameters
    ----------
    images : np.ndarray
        float32 (N, H, W, C) with values in [0, 1].
    labels : np.ndarray
        int64 (N,) class indices into ``class_names``.  For the two-object shapes set this is the
        first object's class; ``meta["multi_hot"]`` holds the (N, K) multi-label targets.
    class_names : list of str
        One name per class.
    masks : np.ndarray, optional
        bool (N, H, W): the discriminative region.
    parts : dict of str to np.ndarray, optional
        Part name -> bool (N, H, W) mask.
    boxes : np.ndarray, optional
        float32 (N, 4) or (N, K, 4) as (y0, x0, y1, x1) pixel edges.
    name : str
        The dataset's name (e.g. ``"an8flower-single-6c"``).
    meta : dict
        Extra information; NumPy arrays here are per-sample (first axis N).

    Raises
    ------
    ValueError
        If the arrays have inconsistent shapes, the wrong dtype kind, or images outside [0, 1].
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    masks: np.ndarray | None = None
    parts: dict[str, np.ndarray] | None = None
    boxes: np.ndarray | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images)
        if self.images.ndim != 4:
            raise ValueError(message("imageset_images", shape=self.images.shape))
        if self.images.dtype != np.float32:
            raise ValueError(message("imageset_dtype", dtype=self.images.dtype))
        n = len(self.images)
        if n and (float(self.images.min()) < 0.0 or float(self.images.max()) > 1.0):
            raise ValueError(message("imageset_range", low=f"{self.images.min():.3g}",
                                     high=f"{self.images.max():.3g}"))
        self.labels = np.asarray(self.labels)
        if self.labels.shape != (n,) or self.labels.dtype.kind not in "iu":
            raise ValueError(message("imageset_labels", shape=self.labels.shape,
                                     dtype=self.labels.dtype, n=n))
        self.labels = self.labels.astype(np.int64, copy=False)
        self.class_names = [str(c) for c in self.class_names]
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(message("imageset_label_range", low=self.labels.min(),
                                     high=self.labels.max(), count=len(self.class_names),
                                     last=len(self.class_names) - 1))
        spatial = (n, *self.images.shape[1:3])
        if self.masks is not None:
            self.masks = _check_mask("masks", self.masks, spatial)
        if self.parts is not None:
            self.parts = {
                str(k): _check_mask(f"parts[{k!r}]", v, spatial) for k, v in self.parts.items()
            }
        if self.boxes is not None:
            self.boxes = np.asarray(self.boxes, dtype=np.float32)
            if self.boxes.ndim not in (2, 3) or len(self.boxes) != n or self.boxes.shape[-1] != 4:
                raise ValueError(message("imageset_boxes", shape=self.boxes.shape, n=n))
        for key, value in self.meta.items():
            if isinstance(value, np.ndarray) and (value.ndim == 0 or len(value) != n):
                raise ValueError(message("imageset_meta", entry=key, shape=value.shape, n=n))

    # ------------------------------------------------------------------ basic access
    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image, as a model's ``keras.Input`` wants it."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        extras = [k for k in ("masks", "parts", "boxes") if getattr(self, k) is not None]
        return (
            f"ImageSet(name={self.name!r}, images={self.images.shape}, "
            f"classes={self.n_classes}, with={extras})"
        )

    def subset(self, index: Any) -> ImageSet:
        """Return the images selected by ``index`` (int array, bool mask or slice) as a new set."""
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == bool and index.shape == (len(self),):
            index = np.flatnonzero(index)
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise ValueError(message("imageset_index", shape=index.shape, dtype=index.dtype,
                                     n=len(self)))
        return ImageSet(
            images=self.images[index],
            labels=self.labels[index],
            class_names=list(self.class_names),
            masks=None if self.masks is None else self.masks[index],
            parts=None if self.parts is None else {k: v[index] for k, v in self.parts.items()},
            boxes=None if self.boxes is None else self.boxes[index],
            name=self.name,
            meta={k: (v[index] if isinstance(v, np.ndarray) else v) for k, v in self.meta.items()},
        )

    def split(
        self, fractions: Sequence[float] | Mapping[str, float] = (0.8, 0.2), seed: int = 0
    ) -> tuple[ImageSet, ...] | dict[str, ImageSet]:
        """Stratified random split.

        Parameters
        ----------
        fractions : sequence of float or mapping name -> float
            Fractions summing to 1, e.g. ``(0.8, 0.2)`` or ``{"train": 0.8, "val": 0.1,
            "test": 0.1}``.  Every class is divided in these proportions (largest-remainder
            rounding), so each part keeps the class balance.
        seed : int
            Seed of the permutation; the same seed gives the same split.

        Returns
        -------
        tuple of ImageSet, or dict name -> ImageSet when ``fractions`` is a mapping.
            Within each part, images keep their original order.
        """
        names = list(fractions) if isinstance(fractions, Mapping) else None
        values = np.asarray(
            list(fractions.values()) if names is not None else list(fractions), float
        )
        if (
            values.ndim != 1
            or len(values) < 1
            or np.any(values < 0)
            or abs(values.sum() - 1) > 1e-6
        ):
            raise ValueError(message("split_fractions", values=values.tolist()))
        rng = np.random.default_rng(seed)
        chosen: list[list[np.ndarray]] = [[] for _ in values]
        for cls in np.unique(self.labels):
            members = rng.permutation(np.flatnonzero(self.labels == cls))
            ends = np.round(np.cumsum(values) * len(members)).astype(int)
            for part, (start, end) in enumerate(zip(np.r_[0, ends[:-1]], ends)):
                chosen[part].append(members[start:end])
        sets = tuple(self.subset(np.sort(np.concatenate(c))) for c in chosen)
        return dict(zip(names, sets)) if names is not None else sets

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(images, labels)`` in order, ``batch_size`` at a time (the last may be smaller)."""
        batch_size = check_int("batch_size", batch_size)
        for start in range(0, len(self), int(batch_size)):
            yield self.images[start : start + batch_size], self.labels[start : start + batch_size]

    def to_tf_dataset(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
        """A batched ``tf.data.Dataset`` of ``(images, labels)`` (imports TensorFlow lazily).

        With ``shuffle=True`` the order is reshuffled every epoch from ``seed`` (deterministic).
        """
        import tensorflow as tf

        batch_size = check_int("batch_size", batch_size)
        dataset = tf.data.Dataset.from_tensor_slices((self.images, self.labels))
        if shuffle:
            dataset = dataset.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(int(batch_size))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the set to an ``.npz`` file atomically (:func:`xaikit.base.io.atomic_write`); return the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"images": self.images, "labels": self.labels}
        if self.masks is not None:
            arrays["masks"] = self.masks
        if self.boxes is not None:
            arrays["boxes"] = self.boxes
        for key, value in (self.parts or {}).items():
            arrays[f"part:{key}"] = value
        plain_meta = {}
        for key, value in self.meta.items():
            if isinstance(value, np.ndarray):
                arrays[f"meta:{key}"] = value
            else:
                plain_meta[key] = value
        header = {
            "format": _FORMAT_VERSION,
            "name": self.name,
            "class_names": self.class_names,
            "parts": list(self.parts) if self.parts is not None else None,
            "meta": plain_meta,
        }
        arrays["header"] = np.array(json.dumps(header))
        return atomic_write(path, lambda handle: np.savez(handle, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ImageSet:
        """Read a set written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(message("file_missing", what="ImageSet file", path=path,
                                            fix="; write one with ImageSet.save(path)"))
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
            header = json.loads(str(data.pop("header")))
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(message("file_corrupt", what="ImageSet file", path=path, reason=err,
                                     fix="; it is not an ImageSet .npz file (write one with "
                                         "ImageSet.save)")) from err
        parts = None
        if header["parts"] is not None:
            parts = {k: data[f"part:{k}"] for k in header["parts"]}
        meta = dict(header["meta"])
        meta.update({k[len("meta:") :]: v for k, v in data.items() if k.startswith("meta:")})
        return cls(
            images=data["images"],
            labels=data["labels"],
            class_names=header["class_names"],
            masks=data.get("masks"),
            parts=parts,
            boxes=data.get("boxes"),
            name=header["name"],
            meta=meta,
        )

    def read_only(self) -> ImageSet:
        """Mark every array read-only (used for in-memory cached sets) and return ``self``."""
        arrays = [self.images, self.labels, self.masks, self.boxes]
        arrays += list((self.parts or {}).values())
        arrays += [v for v in self.meta.values() if isinstance(v, np.ndarray)]
        for array in arrays:
            if array is not None:
                array.flags.writeable = False
        return self


def _check_mask(what: str, mask: Any, spatial: tuple[int, int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != spatial or mask.dtype != bool:
        raise ValueError(message("imageset_mask", name=what, shape=mask.shape, dtype=mask.dtype,
                                 expected=spatial))
    return mask


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight ``(y0, x0, y1, x1)`` pixel-edge boxes of bool masks (..., H, W); empty masks give zeros."""
    rows = masks.any(axis=-1)
    cols = masks.any(axis=-2)
    height, width = masks.shape[-2:]
    y0 = np.argmax(rows, axis=-1)
    y1 = height - np.argmax(rows[..., ::-1], axis=-1)
    x0 = np.argmax(cols, axis=-1)
    x1 = width - np.argmax(cols[..., ::-1], axis=-1)
    boxes = np.stack([y0, x0, y1, x1], axis=-1).astype(np.float32)
    boxes[~rows.any(axis=-1)] = 0.0
    return boxes
