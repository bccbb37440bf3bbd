"""The result channel: frames from the sandbox, validated field by field by the grader.

A frame is ``[u32 JSON length][u32 payload length]`` (big-endian), a JSON header, then a payload
holding the raw bytes of the arrays the header describes.  The pipe's write end exists only in
one sandbox, so a frame can only come from that sandbox; the student's code can of course write
frames itself, which lets it claim outputs for the inputs it was given: exactly what returning
them would do.  Everything else is refused in the grader's process:

- frame sizes are capped (header ``MAX_JSON_BYTES``, each payload, all payloads together) and so
  is their number;
- JSON is parsed without NaN/Infinity, with integers of at most ``MAX_INT_DIGITS`` digits and a
  bounded nesting depth;
- each event has a fixed set of fields with fixed types and ranges (:data:`SCHEMA`), and events
  must come in the order the harness sends them (:class:`Conversation`);
- outputs are rebuilt from a description (:func:`.values.decode_value`): arrays only of numeric
  dtypes with shapes that match their bytes, no pickle, nothing executed.

Any violation raises :class:`ProtocolError`, which the grader turns into that submission's error.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable
from typing import Any

from xaikit.base.messages import message

HEADER = struct.Struct(">II")
MAX_JSON_BYTES = 1 << 20
MAX_INT_DIGITS = 20
MAX_DEPTH = 16
MAX_NODES = 100_000
MAX_TEXT = 10_000
CASE_STATUSES = ("returned", "signature", "forbidden", "not_implemented", "memory", "too_large",
                 "error")


class ProtocolError(RuntimeError):
    """A frame or a message from the sandbox that breaks the protocol."""


# ------------------------------------------------------------------------------------------------
# child side


class Channel:
    """Frames to the grader over the sandbox's result pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        body = json.dumps(header, allow_nan=False).encode("utf-8")
        data = memoryview(HEADER.pack(len(body), len(payload)) + body + payload)
        while data:
            data = data[os.write(self.fd, data):]


# ------------------------------------------------------------------------------------------------
# parent side: JSON, schema, order, values


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ProtocolError(message("sandbox_protocol_int", digits=len(text), limit=MAX_INT_DIGITS))
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ProtocolError(message("sandbox_protocol_number", text=text[:40]))
    return value


def _parse_constant(text: str) -> Any:
    raise ProtocolError(message("sandbox_protocol_constant", text=text))


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, bounded integers and depth."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(message("sandbox_protocol_utf8")) from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                           parse_constant=_parse_constant)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(message("sandbox_protocol_json", reason=type(error).__name__)) from None
    try:
        return _clean(value, [0])
    except RecursionError:
        raise ProtocolError(message("sandbox_protocol_depth")) from None


def _clean(value: Any, nodes: list[int]) -> Any:
    """Count the nodes (at most ``MAX_NODES``) and make every string encodable as UTF-8."""
    nodes[0] += 1
    if nodes[0] > MAX_NODES:
        raise ProtocolError(message("sandbox_protocol_count", limit=MAX_NODES))
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean(item, nodes) for item in value]
    if isinstance(value, dict):
        return {_clean(key, nodes): _clean(item, nodes) for key, item in value.items()}
    return value


def _text(limit: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and len(value) <= limit


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1_000_000


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _seconds(value: Any) -> bool:
    return type(value) in (int, float) and 0 <= value < 1e7


def _names(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 50 and all(_text(100)(v) for v in value)


_ERROR_FIELDS = {"type": _text(200), "message": _text(2000), "line": _optional(_count),
                 "source": _text(200)}
SCHEMA: dict[str, tuple[dict[str, Callable[[Any], bool]], dict[str, Callable[[Any], bool]]]] = {
    # event: (required fields, optional fields)
    "ready": ({}, {}),
    "load_error": (_ERROR_FIELDS, {}),
    "loaded": ({}, {}),
    "exercise_start": ({"index": _count}, {}),
    "missing": ({"index": _count, "defined": _names, "kind": _optional(_text(100))}, {}),
    "case_start": ({"index": _count}, {}),
    "case_result": ({"index": _count, "status": lambda v: v in CASE_STATUSES},
                    {"seconds": _seconds, "output": lambda v: isinstance(v, dict),
                     "nbytes": lambda v: type(v) is int and 0 <= v < 2**50, **_ERROR_FIELDS}),
    "done": ({}, {}),
}


def validate(header: Any) -> dict[str, Any]:
    """``header`` if it is a known event with exactly its fields, of the right types."""
    if not isinstance(header, dict) or header.get("event") not in SCHEMA:
        raise ProtocolError(message("sandbox_protocol_event"))
    required, optional = SCHEMA[header["event"]]
    for name, value in header.items():
        if name == "event":
            continue
        check = required.get(name) or optional.get(name)
        if check is None:
            raise ProtocolError(message("sandbox_protocol_unexpected", field=name[:40], event=header["event"]))
        if not check(value):
            raise ProtocolError(message("sandbox_protocol_field", field=name, event=header["event"]))
    missing = [name for name in required if name not in header]
    if missing:
        raise ProtocolError(message("sandbox_protocol_lacks", event=header["event"], fields=", ".join(missing)))
    return header


class Conversation:
    """The order of events: ready, loaded or load_error, then each exercise and its cases, done.

    Parameters
    ----------
    cases : list of int
        The number of cases of each exercise the sandbox runs.
    """

    def __init__(self, cases: list[int]) -> None:
        self.cases = cases
        self.state = "start"
        self.exercise = -1
        self.case = -1

    def max_frames(self) -> int:
        """The most frames a well-behaved sandbox sends."""
        return 4 + sum(2 + 2 * n for n in self.cases)

    def step(self, header: dict[str, Any]) -> None:
        """Accept the next event or raise :class:`ProtocolError`."""
        event = header["event"]
        allowed = {
            "start": ("ready",), "ready": ("loaded", "load_error"),
            "loaded": ("exercise_start", "done"), "exercise": ("case_start", "missing"),
            "case": ("case_result",), "result": ("case_start", "exercise_start", "done"),
            "missing": ("exercise_start", "done"), "end": (),
        }[self.state]
        if event not in allowed:
            raise ProtocolError(message("sandbox_protocol_order", event=event, state=self.state))
        if event == "exercise_start":
            if self.state == "result" and self.case + 1 != self.cases[self.exercise]:
                raise ProtocolError(message("sandbox_protocol_sequence", what="the end of an exercise"))
            self.exercise += 1
            self.case = -1
            if header["index"] != self.exercise or self.exercise >= len(self.cases):
                raise ProtocolError(message("sandbox_protocol_sequence", what="an exercise"))
            self.state = "exercise"
        elif event == "missing":
            if header["index"] != self.exercise:
                raise ProtocolError(message("sandbox_protocol_sequence", what="a missing function"))
            self.state = "missing"
        elif event == "case_start":
            self.case += 1
            if header["index"] != self.case or self.case >= self.cases[self.exercise]:
                raise ProtocolError(message("sandbox_protocol_sequence", what="a case"))
            self.state = "case"
        elif event == "case_result":
            if header["index"] != self.case:
                raise ProtocolError(message("sandbox_protocol_sequence", what="a case result"))
            self.state = "result"
        elif event == "done":
            if self.state == "result" and self.case + 1 != self.cases[self.exercise]:
                raise ProtocolError(message("sandbox_protocol_sequence", what="the end of the cases"))
            if self.exercise + 1 != len(self.cases):
                raise ProtocolError(message("sandbox_protocol_sequence", what="the end of the exercises"))
            self.state = "end"
        elif event == "load_error":
            self.state = "end"
        else:
            self.state = {"ready": "ready", "loaded": "loaded"}[event]
