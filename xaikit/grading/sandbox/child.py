"""The harness inside a sandbox: load the job, run the student's functions, send raw outputs.

The student's code runs in this same interpreter, so it can read and patch anything here: the
harness therefore holds nothing worth stealing.  The job carries the submission's code and the
*inputs* of the cases, never the seed, the expected outputs or the references; the kit it can
import has no oracles and no forbidden implementations (:mod:`.kit`); the result pipe leads only
to the grader, which validates every frame (:mod:`.protocol`) and scores the outputs itself.
"""

from __future__ import annotations

import builtins
import inspect
import linecache
import os
import pickle
import site
import sys
import time
import traceback
from typing import Any

from xaikit.grading.sandbox.protocol import Channel
from xaikit.grading.sandbox.values import encode_value


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _describe(error: BaseException) -> dict[str, Any]:
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename == "submission.py"]
    where = frames[-1] if frames else None
    text = repr(error.code) if isinstance(error, SystemExit) else str(error)
    return {"type": type(error).__name__[:200], "message": text[:2000],
            "line": where.lineno if where else None,
            "source": (where.line or "")[:200] if where else ""}


def run(job_fd: int, result_fd: int) -> None:
    """Run the job read from ``job_fd``; frames go to ``result_fd``; ends the process."""
    channel = Channel(result_fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    job = pickle.loads(_read_all(job_fd))
    max_output = int(job["output_mb"]) * 2**20
    from xaikit.exercises.checking import ForbiddenCallError

    for setup in (site.setquit, site.setcopyright, site.sethelper):  # exit() etc. (python -S)
        setup()
    channel.send({"event": "ready"})
    code = job["code"]
    linecache.cache["submission.py"] = (len(code), None, code.splitlines(True), "submission.py")
    module = type(sys)("submission")
    module.__file__ = "submission.py"
    sys.modules["submission"] = module
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    try:
        exec(compile(code, "submission.py", "exec"), namespace)  # noqa: S102 - sandboxed
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        _flush()
        channel.send({"event": "load_error", **_describe(error)})
        os._exit(0)
    channel.send({"event": "loaded"})
    for index, exercise in enumerate(job["exercises"]):
        channel.send({"event": "exercise_start", "index": index})
        function = namespace.get(exercise["function"])
        if not callable(function):
            found = sorted(name for name, value in list(namespace.items())
                           if callable(value) and not name.startswith("_")
                           and getattr(value, "__module__", None) == "submission")
            channel.send({"event": "missing", "index": index,
                          "defined": [name[:100] for name in found[:50]],
                          "kind": type(function).__name__[:100] if function is not None
                          else None})
            continue
        for case_index, case in enumerate(exercise["cases"]):
            channel.send({"event": "case_start", "index": case_index})
            result, payload = _run_case(function, case, case_index, max_output,
                                        ForbiddenCallError)
            channel.send(result, payload)
    _flush()
    channel.send({"event": "done"})
    os._exit(0)


def _flush() -> None:
    """Flush the student's prints into the log before the grader ends the sandbox."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _run_case(function: Any, case: bytes, index: int, max_output: int,
              forbidden: type[BaseException]) -> tuple[dict[str, Any], bytes]:
    result: dict[str, Any] = {"event": "case_result", "index": index, "status": "error"}
    try:
        args, kwargs = pickle.loads(case)
        try:
            inspect.signature(function).bind(*args, **kwargs)
        except TypeError as error:
            result.update(status="signature", message=str(error)[:500])
            return result, b""
        except ValueError:
            pass
        started = time.perf_counter()
        try:
            value = function(*args, **kwargs)
        finally:
            result["seconds"] = max(time.perf_counter() - started, 0.0)
        chunks: list[bytes] = []
        output = encode_value(value, chunks)
        size = sum(len(chunk) for chunk in chunks)
        if size > max_output:
            result.update(status="too_large", nbytes=size)
            return result, b""
        result.update(status="returned", output=output)
        return result, b"".join(chunks)
    except forbidden as error:
        result.update(status="forbidden", message=str(error)[:500])
    except NotImplementedError:
        result.update(status="not_implemented")
    except MemoryError:
        result.update(status="memory")
    except BaseException as error:  # noqa: BLE001 - sys.exit() and friends included
        result.update(status="error", **_describe(error))
    return result, b""
