"""Running one job in a sandbox and reading back its validated frames (grader side)."""

from __future__ import annotations

import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xaikit.base.messages import message
from xaikit.grading.sandbox.limits import Limits
from xaikit.grading.sandbox.protocol import (
    HEADER,
    MAX_JSON_BYTES,
    Conversation,
    ProtocolError,
    parse_json,
    validate,
)
from xaikit.grading.sandbox.zygote import Zygote

TOTAL_OUTPUT_FACTOR = 4
"""All the payloads of one run together may hold this many times ``Limits.output_mb``."""
EXIT_WAIT = 5.0
"""Seconds to wait for the exit status of a sandbox that closed its pipe (then it is killed)."""


@dataclass
class Frame:
    """One validated message from the sandbox."""

    header: dict[str, Any]
    payload: bytes = b""


@dataclass
class ChildRun:
    """What the grader saw of one sandbox: validated frames in order and how it ended.

    ``ended`` is ``done``, ``timeout``, ``crashed``, ``protocol`` (a frame broke the protocol) or
    ``grader`` (the sandbox could not be started: not the student's fault).
    """

    frames: list[Frame] = field(default_factory=list)
    ended: str = "done"
    detail: str = ""
    returncode: int | None = None
    log_tail: str = ""
    seconds: float = 0.0


def _read_exact(fd: int, n: int, remaining: Callable[[], float]) -> bytes:
    chunks, got = [], 0
    while got < n:
        left = remaining()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _feed(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass  # the sandbox died or stopped reading: its run says how
    finally:
        os.close(fd)


def run_child(job: dict[str, Any], limits: Limits, zygote: Zygote) -> ChildRun:
    """Run ``job`` in a sandbox forked from ``zygote`` and collect its validated frames.

    Parameters
    ----------
    job : dict
        ``code`` (str) and ``exercises``: dicts with ``function`` and ``cases`` (each case the
        pickled ``(args, kwargs)``).
    limits : Limits
        Time, memory, thread, file and output limits.
    zygote : Zygote
        The warm process the sandbox is forked from.

    Returns
    -------
    ChildRun
        Never raises for anything the sandbox does.
    """
    data = pickle.dumps(dict(job, output_mb=limits.output_mb), protocol=pickle.HIGHEST_PROTOCOL)
    start = time.monotonic()
    try:
        sandbox = zygote.launch(limits, len(job["exercises"]))
    except OSError as error:
        return ChildRun(ended="grader", detail=str(error)[:500])
    threading.Thread(target=_feed, args=(sandbox.job, data), daemon=True).start()
    run = ChildRun()
    conversation = Conversation([len(exercise["cases"]) for exercise in job["exercises"]])
    deadline = start + limits.startup
    hard_deadline = start + limits.startup + limits.timeout * (len(job["exercises"]) + 1) + 5
    max_payload = limits.output_mb * 2**20
    total_payload = 0

    def remaining() -> float:
        return min(deadline, hard_deadline) - time.monotonic()

    try:
        while True:
            if len(run.frames) >= conversation.max_frames():
                raise ProtocolError(message("sandbox_protocol_frames", limit=conversation.max_frames()))
            json_len, payload_len = HEADER.unpack(_read_exact(sandbox.results, HEADER.size,
                                                              remaining))
            total_payload += payload_len
            if json_len > MAX_JSON_BYTES or payload_len > max_payload or \
                    total_payload > TOTAL_OUTPUT_FACTOR * max_payload:
                raise ProtocolError(message("sandbox_protocol_frame_size", json=json_len, payload=payload_len))
            body = _read_exact(sandbox.results, json_len + payload_len, remaining)
            header = validate(parse_json(body[:json_len]))
            conversation.step(header)
            if header["event"] in ("ready", "exercise_start"):
                deadline = time.monotonic() + limits.timeout
            run.frames.append(Frame(header, body[json_len:]))
            if header["event"] in ("done", "load_error"):
                break
    except TimeoutError:
        run.ended = "timeout"
    except EOFError:
        run.ended = "crashed"
    except ProtocolError as error:
        run.ended, run.detail = "protocol", str(error)[:300]
    finally:
        if run.ended == "crashed":  # it ended by itself: how, before a kill could mask it
            run.returncode = sandbox.reap(timeout=EXIT_WAIT)
        if run.returncode is None:
            sandbox.kill()
            run.returncode = sandbox.reap()
        os.close(sandbox.results)
        sandbox.log.join(timeout=5)
        run.log_tail = sandbox.log.text()
        run.seconds = time.monotonic() - start
    if run.ended == "crashed":
        run.detail = describe_exit(run.returncode)
    return run


def describe_exit(returncode: int | None) -> str:
    """Words for how a sandbox ended without saying goodbye."""
    if returncode is None:
        return "the Python process stopped answering"
    if returncode < 0:
        number = -returncode
        if number == signal.SIGKILL:
            return ("the Python process was killed (SIGKILL: usually it used more memory than "
                    "allowed)")
        if number == signal.SIGXCPU:
            return "the Python process used more CPU time than allowed (SIGXCPU)"
        if number == signal.SIGXFSZ:
            return "the Python process was stopped for writing a file larger than allowed"
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ \
            else str(number)
        return f"the Python process crashed (signal {name})"
    return (f"the Python process ended early with exit code {returncode} (a call to os._exit(), "
            "or a crash in compiled code)")
