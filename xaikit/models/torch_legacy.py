"""Read PyTorch's legacy ``.pth`` files (``torch.save`` before 1.6) with NumPy, without PyTorch.

A legacy file is five pickles in a row followed by raw tensor data (``torch/serialization.py``,
``_legacy_save``):

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version ``1001``;
3. a dict of system facts: ``little_endian`` and the C type sizes;
4. the object itself (here a ``state_dict``: an ``OrderedDict`` of tensors). Each tensor is
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` and
   each storage a *persistent id* ``("storage", torch.FloatStorage, key, location, numel,
   view)`` naming its root storage (whose data follows the pickles) and, for a view, the view's
   ``(key, element offset, element count)`` inside it;
5. the list of storage keys, in the order their data follows: for each, the element count as an
   8-byte integer, then the elements (in the byte order named by ``little_endian``).

The file is data, never code: the unpickler accepts exactly the globals above
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the ``torch.*Storage``
types), each replaced by a NumPy stand-in, and refuses any other global with an
:class:`pickle.UnpicklingError` before anything is called. Every tensor's offset, size and
strides are checked against its storage before it is read, so a damaged file cannot read
outside its buffers.

Examples
--------
>>> from xaikit.models.efficientnet import weights_file
>>> state = load_legacy_pth(weights_file())
>>> state["_conv_stem.weight"].shape, state["_conv_stem.weight"].dtype
((32, 3, 3, 3), dtype('float32'))
"""

from __future__ import annotations

import collections
import os
import pickle
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from xaikit.base.messages import message

__all__ = ["LEGACY_MAGIC", "LEGACY_PROTOCOL", "STORAGE_DTYPES", "load_legacy_pth"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
COUNT_BYTES = 8  # each storage's element count precedes its data as a 64-bit integer
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.*Storage`` class: only its element type."""

    name: str
    dtype: str


@dataclass(frozen=True)
class _Storage:
    key: str  # the root storage, whose data follows the pickles
    dtype: str
    numel: int  # elements of the root storage
    view: tuple[str, int, int] | None  # a view's (own key, element offset, element count)


@dataclass(frozen=True)
class _TensorRef:
    """A tensor whose storage data has not been read yet (it follows the pickles)."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *_):
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not isinstance(storage, _Storage) or len(size) != len(stride):
        raise pickle.UnpicklingError(message(
            "expected", name="a tensor record", fix="",
            expected="(storage, offset, size, stride) with len(size) == len(stride)",
            got=f"({type(storage).__name__}, {offset}, {size}, {stride})"))
    return _TensorRef(storage, int(offset), size, stride)


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):
    """Unpickles tensors and dicts only; every other global is refused, never imported."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(message(
                "pth_global", module=module, name=name,
                allowed=", ".join(sorted(f"{m}.{n}" for m, n in _ALLOWED))))
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(message(
                "expected", name="a persistent id", got=repr(pid)[:200], fix="",
                expected="('storage', torch.<Type>Storage, key, location, numel, view)"))
        _, kind, key, _location, numel, view = pid
        if view is not None:
            view = (str(view[0]), int(view[1]), int(view[2]))
        return _Storage(str(key), kind.dtype, int(numel), view)


def _load_pickle(handle: IO[bytes]) -> Any:
    return _Unpickler(handle, encoding="utf-8").load()


def _walk(obj: Any, fn) -> Any:
    """``obj`` with every :class:`_TensorRef` replaced by ``fn(ref)`` (dicts, lists, tuples)."""
    if isinstance(obj, _TensorRef):
        return fn(obj)
    if isinstance(obj, dict):
        out = type(obj)((k, _walk(v, fn)) for k, v in obj.items())
        out.__dict__.update(getattr(obj, "__dict__", {}))  # OrderedDict's _metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(v, fn) for v in obj)
    return obj


def _damaged(path, reason: str) -> ValueError:
    return ValueError(message("file_corrupt", what="PyTorch file", path=path, reason=reason,
                              fix=""))


def _read_storages(handle: IO[bytes], keys: list[str], records: dict[str, _Storage],
                   byteorder: str, path) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for key in keys:
        if key not in records:
            raise _damaged(path, f"storage {key!r} is listed but no tensor uses it")
        dtype = np.dtype(byteorder + records[key].dtype)
        count = np.frombuffer(handle.read(COUNT_BYTES), dtype=np.dtype(byteorder + "i8"))
        if count.size != 1 or int(count[0]) != records[key].numel:
            raise _damaged(path, f"storage {key!r} should hold {records[key].numel} elements, "
                                 f"the file says {count.tolist()}")
        raw = handle.read(records[key].numel * dtype.itemsize)
        if len(raw) != records[key].numel * dtype.itemsize:
            raise _damaged(path, f"storage {key!r} is truncated: {len(raw)} bytes")
        data[key] = np.frombuffer(raw, dtype=dtype)
    return data


def _materialise(ref: _TensorRef, data: dict[str, np.ndarray], path) -> np.ndarray:
    if ref.storage.key not in data:
        raise _damaged(path, f"storage {ref.storage.key!r} has no data")
    buffer = data[ref.storage.key]
    if ref.storage.view:
        start, count = ref.storage.view[1], ref.storage.view[2]
        if start < 0 or count < 0 or start + count > buffer.size:
            raise _damaged(path, f"storage view {ref.storage.view} lies outside its storage")
        buffer = buffer[start : start + count]
    layout = f"a tensor with size {ref.size}, stride {ref.stride} and offset {ref.offset}"
    if any(s < 0 for s in ref.size) or any(s < 0 for s in ref.stride) or ref.offset < 0:
        raise _damaged(path, f"{layout} has a negative entry")
    if 0 not in ref.size:
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if last >= buffer.size:
            raise _damaged(path, f"{layout} reads beyond its storage of {buffer.size} elements")
    base = buffer[ref.offset :] if 0 not in ref.size else buffer[:0]
    view = np.lib.stride_tricks.as_strided(
        base, shape=ref.size, strides=tuple(s * buffer.itemsize for s in ref.stride), writeable=False
    )
    return np.array(view, dtype=np.dtype(ref.storage.dtype), order="C", copy=True)


def load_legacy_pth(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The object saved in a legacy PyTorch file, with every tensor as a NumPy array.

    Parameters
    ----------
    path : path-like
        A ``.pth``/``.pt`` file written by ``torch.save`` in the legacy (non-zip) format.

    Returns
    -------
    dict
        For a ``state_dict``: an ``OrderedDict`` mapping parameter names to C-contiguous arrays
        of the stored dtype (float32 weights, int64 ``num_batches_tracked``) and shape.

    Raises
    ------
    pickle.UnpicklingError
        The file names a global other than ``collections.OrderedDict``,
        ``torch._utils._rebuild_tensor_v2`` and the ``torch.*Storage`` types.
    ValueError
        Not a legacy file (a zip-format file, a wrong magic number or protocol), or its storage
        data is truncated or inconsistent with its tensors.
    """
    with open(path, "rb") as handle:
        if handle.read(2) == b"PK":
            raise ValueError(message("pth_not_legacy", path=path,
                                     reason="a zip archive: the format of torch >= 1.6"))
        handle.seek(0)
        try:
            magic = _load_pickle(handle)
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(message("pth_not_legacy", path=path, reason=str(exc))) from exc
        if magic != LEGACY_MAGIC:
            raise ValueError(message("pth_not_legacy", path=path,
                                     reason=f"it starts with {str(magic)[:40]!r}, not the magic "
                                            "number"))
        protocol = _load_pickle(handle)
        if protocol != LEGACY_PROTOCOL:
            raise ValueError(message("pth_not_legacy", path=path,
                                     reason=f"protocol {protocol!r}, not {LEGACY_PROTOCOL}"))
        info = _load_pickle(handle)
        byteorder = "<" if not isinstance(info, dict) or info.get("little_endian", True) else ">"
        records: dict[str, _Storage] = {}

        def collect(ref: _TensorRef) -> _TensorRef:
            known = records.setdefault(ref.storage.key, ref.storage)
            if (known.dtype, known.numel) != (ref.storage.dtype, ref.storage.numel):
                raise _damaged(path, f"storage {ref.storage.key!r} is described twice, differently")
            return ref

        result = _walk(_load_pickle(handle), collect)
        keys = _load_pickle(handle)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _damaged(path, "the storage key list is not a list of strings")
        data = _read_storages(handle, keys, records, byteorder, path)
    return _walk(result, lambda ref: _materialise(ref, data, path))
