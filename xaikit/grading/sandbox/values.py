"""Outputs of the student's functions: described as JSON plus raw array bytes, and rebuilt.

The sandbox describes a returned value (:func:`encode_value`); the grader rebuilds it
(:func:`decode_value`) from the description and the frame's payload, trusting nothing: arrays
only of the numeric dtypes in :data:`DTYPES`, shapes that match their bytes, bounded nesting and
size, no pickle, nothing executed.  Anything else the student returns becomes
:class:`Unsupported` (reported as such, never transported).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from xaikit.base.messages import message
from xaikit.grading.sandbox.protocol import MAX_DEPTH, MAX_NODES, MAX_TEXT, ProtocolError

DTYPES = frozenset(np.dtype(name).str for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
    "float32", "float64", "complex64", "complex128"))


def encode_value(value: Any, chunks: list[bytes], depth: int = 0) -> dict[str, Any]:
    """Describe ``value`` as JSON; arrays' bytes are appended to ``chunks`` (child side)."""
    if depth > MAX_DEPTH:
        return {"t": "unsupported", "type": "deeply nested container"}
    if value is None or type(value) is bool:
        return {"t": "py", "v": value}
    if type(value) is str:
        return {"t": "py", "v": value[:MAX_TEXT]}
    if type(value) is int:
        if abs(value) >= 2**63:
            return {"t": "unsupported", "type": "int too large"}
        return {"t": "py", "v": value}
    if type(value) is float:
        return {"t": "float", "v": repr(value)}
    if hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value.numpy())
        except Exception:  # noqa: BLE001 - whatever the object does, it is unsupported
            return {"t": "unsupported", "type": type(value).__name__}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.newbyteorder("=").str not in DTYPES:
            return {"t": "unsupported", "type": f"array of dtype {array.dtype}"}
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        offset = sum(len(chunk) for chunk in chunks)
        chunks.append(array.tobytes())
        return {"t": "array", "scalar": isinstance(value, np.generic), "dtype": array.dtype.str,
                "shape": list(array.shape), "offset": offset, "nbytes": array.nbytes}
    if type(value) in (tuple, list):
        if len(value) > MAX_TEXT:
            return {"t": "unsupported", "type": f"{type(value).__name__} of {len(value)} items"}
        return {"t": type(value).__name__,
                "v": [encode_value(item, chunks, depth + 1) for item in value]}
    if type(value) is dict and len(value) <= MAX_TEXT and all(type(k) is str for k in value):
        return {"t": "dict", "v": {k[:200]: encode_value(v, chunks, depth + 1)
                                   for k, v in value.items()}}
    return {"t": "unsupported", "type": type(value).__name__}


class Unsupported:
    """An output the grader cannot transport (an object, a string array, ...)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def decode_value(spec: Any, payload: bytes) -> Any:
    """Rebuild an output from its description and the frame's payload (parent side).

    Raises
    ------
    ProtocolError
        On any malformed description, unknown dtype, or shape that does not match its bytes.
    """
    nodes = [0]

    def decode(node: Any, depth: int) -> Any:
        nodes[0] += 1
        if depth > MAX_DEPTH + 1 or nodes[0] > MAX_NODES or not isinstance(node, dict):
            raise ProtocolError(message("sandbox_protocol_output", part="not a description"))
        kind = node.get("t")
        if kind == "py":
            value = node.get("v")
            if value is not None and type(value) not in (bool, int, str):
                raise ProtocolError(message("sandbox_protocol_output", part="a scalar"))
            if type(value) is str and len(value) > MAX_TEXT:
                raise ProtocolError(message("sandbox_protocol_output", part="a string too long"))
            return value
        if kind == "float":
            text = node.get("v")
            if not isinstance(text, str) or len(text) > 40:
                raise ProtocolError(message("sandbox_protocol_output", part="a float"))
            try:
                return float(text)
            except ValueError:
                raise ProtocolError(message("sandbox_protocol_output", part="a float")) from None
        if kind == "array":
            return _array(node, payload)
        if kind in ("tuple", "list"):
            items = node.get("v")
            if not isinstance(items, list) or len(items) > MAX_TEXT:
                raise ProtocolError(message("sandbox_protocol_output", part="a sequence"))
            decoded = [decode(item, depth + 1) for item in items]
            return tuple(decoded) if kind == "tuple" else decoded
        if kind == "dict":
            items = node.get("v")
            if not isinstance(items, dict) or len(items) > MAX_TEXT:
                raise ProtocolError(message("sandbox_protocol_output", part="a dict"))
            return {str(k)[:200]: decode(v, depth + 1) for k, v in items.items()}
        if kind == "unsupported":
            return Unsupported(str(node.get("type"))[:100])
        raise ProtocolError(message("sandbox_protocol_output", part=f"kind {str(kind)[:40]!r}"))

    return decode(spec, 0)


def _array(node: dict[str, Any], payload: bytes) -> Any:
    if set(node) != {"t", "scalar", "dtype", "shape", "offset", "nbytes"}:
        raise ProtocolError(message("sandbox_protocol_array", problem="described wrongly"))
    dtype, shape, offset, nbytes = node["dtype"], node["shape"], node["offset"], node["nbytes"]
    if dtype not in DTYPES or type(node["scalar"]) is not bool:
        raise ProtocolError(message("sandbox_protocol_array", problem=f"of dtype {str(dtype)[:40]!r}"))
    if not (isinstance(shape, list) and len(shape) <= 32 and
            all(type(n) is int and 0 <= n < 2**40 for n in shape)):
        raise ProtocolError(message("sandbox_protocol_array", problem="with a malformed shape"))
    if type(offset) is not int or type(nbytes) is not int or offset < 0 or nbytes < 0 or \
            offset + nbytes > len(payload):
        raise ProtocolError(message("sandbox_protocol_array", problem="outside the frame"))
    itemsize = np.dtype(dtype).itemsize
    if math.prod(shape) * itemsize != nbytes or (node["scalar"] and shape):
        raise ProtocolError(message("sandbox_protocol_array", problem="whose shape does not match its bytes"))
    array = np.frombuffer(payload, dtype=dtype, count=nbytes // itemsize, offset=offset)
    array = array.astype(array.dtype.newbyteorder("="), copy=True).reshape(shape)
    return array[()] if node["scalar"] else array
