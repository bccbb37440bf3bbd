"""The grader against a determined student: a hostile corpus graded in the real sandbox.

One batch of lesson-01 submissions (NumPy only, so the zygote starts in about a second) is
graded with ``--jobs 2`` per backend this machine offers; each test reads its record.  Every
cheating attempt is written to score full marks *if it succeeded*: a confinement that leaks fails
the test.  Sabotage (signals, forks, sockets, full disks, forged frames) must cost the attacker
its points and nobody else anything.  Where the machine lacks a confinement, the corpus passes only
if the grader refused to grade (fail closed).
"""

from __future__ import annotations

import ast
import os
import secrets
import socket
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from xaikit.exercises.registry import kit_root
from xaikit.grading.batch import GradeOptions, grade
from xaikit.grading.sandbox import Limits, SandboxRefused, describe_confinement, kit_copy
from xaikit.grading.sandbox.confinement import ASPECTS, candidates, probe, survey
from xaikit.grading.sandbox.protocol import Conversation, ProtocolError, parse_json, validate
from xaikit.grading.sandbox.values import decode_value, encode_value

ROOT = kit_root()
SOLUTION = ROOT / "solutions" / "01_why_interpret.py"
SEED = "sandbox-test-seed"
SECRET_SEED = "do-not-leak-" + secrets.token_hex(4)
LIMITS = Limits(timeout=8, startup=60, memory_mb=1024, output_mb=8, tmp_mb=16, threads=1,
                processes=64)

GOOD = """
import numpy as np

def linear_attribution(weights, inputs, baseline=0.0):
    return np.asarray(weights)[None, :] * (np.asarray(inputs) - np.asarray(baseline))
"""

ZEROS = "    return np.zeros((len(inputs), len(weights)))\n"

# Each cheat computes the right answer only if its attack worked; a blocked attack raises.
CHEATS = {
    "thread_at_import_reads_solutions": """
import threading
import numpy as np
def _spy(go, found):
    go.wait(30)
    try:
        found["code"] = open({solution!r}).read()
    except OSError as error:
        found["error"] = error
class _Early:  # a class body runs when the grader loads the code: the thread starts then
    go, found = threading.Event(), {{}}
    threading.Thread(target=_spy, args=(go, found), daemon=True).start()
def linear_attribution(weights, inputs, baseline=0.0):
    _Early.go.set()
    while not _Early.found:
        threading.Event().wait(0.01)
    if "error" in _Early.found:
        raise _Early.found["error"]
    namespace = {{}}
    exec(_Early.found["code"], namespace)
    return namespace["linear_attribution"](weights, inputs, baseline)
""",
    "native_syscalls_read_solutions": """
import ctypes, os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(257, -100, {solution!r}.encode(), os.O_RDONLY, 0)  # openat, no Python
    if fd < 0:
        raise OSError(ctypes.get_errno(), "openat refused")
    namespace = {{}}
    exec(os.read(fd, 1 << 20).decode(), namespace)
    return namespace["linear_attribution"](weights, inputs, baseline)
""",
    "oracle_from_registry": """
import importlib
def linear_attribution(weights, inputs, baseline=0.0):
    from xaikit.exercises import EXERCISES
    try:
        return EXERCISES["01.linear_attribution"].oracle(weights, inputs, baseline)
    except KeyError:
        module = importlib.import_module("xaikit.exercises.lesson01")
        return module._expected(weights, inputs, baseline)
""",
    "oracle_source_from_the_kit": """
import os
import xaikit.exercises
def linear_attribution(weights, inputs, baseline=0.0):
    folder = xaikit.exercises.__path__[0]
    namespace = {{}}
    exec(open(os.path.join(folder, "lesson01.py")).read(), namespace)
    return namespace["_expected"](weights, inputs, baseline)
""",
    "seed_from_anywhere": """
import glob, os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    places = ["/proc/1/environ", "/proc/self/environ", "/proc/{grader}/environ", {seedfile!r},
              *glob.glob("/root/.config/xaikit/*"), *glob.glob("/home/*/.config/xaikit/*")]
    for place in places:
        try:
            if {seed!r} in open(place, errors="replace").read():
                return np.asarray(weights)[None, :] * (inputs - baseline)
        except OSError:
            pass
    if {seed!r} in str(os.environ):
        return np.asarray(weights)[None, :] * (inputs - baseline)
    raise LookupError("no seed to be found")
""",
}

SABOTAGE = {
    "kill_everything": """
import ctypes, os, signal
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    libc = ctypes.CDLL(None)
    for pid in (-1, 0, {grader}, *range(2, 40000)):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        libc.kill(pid, signal.SIGKILL)
""" + ZEROS,
    "fork_daemon_and_bomb": """
import ctypes, os, subprocess, time
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    started = 0
    for attempt in (os.fork, ctypes.CDLL(None).fork,
                    lambda: subprocess.Popen(["sleep", "600"]).pid):
        for _ in range(50):
            try:
                pid = attempt()
            except OSError:
                break
            if pid == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(600)
                os._exit(0)
            if pid > 0:
                started += 1
    print("started", started, "processes")
""" + ZEROS,
    "thread_bomb": """
import threading, time
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    count = 0
    try:
        for _ in range(5000):
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            count += 1
    except (RuntimeError, MemoryError):
        pass
    print("threads", count)
""" + ZEROS,
    "fill_tmp": """
import os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    written = 0
    for folder in ("/tmp", "/dev/shm", os.getcwd(), os.path.expanduser("~")):
        try:
            with open(os.path.join(folder, "fill"), "ab") as stream:
                while written < 2**31:
                    stream.write(b"x" * 2**20)
                    stream.flush()
                    written += 2**20
        except OSError:
            pass
    print(f"wrote {{written >> 20}} MiB")
""" + ZEROS,
    "write_to_the_host": """
import os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    for path in ({marker!r}, "/tmp/xaikit_fake_marker", {results!r}):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as stream:
                stream.write('{{"score": 100}}')
        except OSError:
            pass
""" + ZEROS,
    "network": """
import socket
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    for family, kind, address in ((socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", {tcp})),
                                   (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", {udp})),
                                   (socket.AF_UNIX, socket.SOCK_STREAM, {unix!r}),
                                   (socket.AF_UNIX, socket.SOCK_STREAM, {abstract!r})):
        try:
            with socket.socket(family, kind) as s:
                s.settimeout(1)
                s.connect(address)
                s.send(b"stolen")
        except OSError:
            pass
""" + ZEROS,
}

FORGE = """
import gc, os, struct
import numpy as np
def _send(body, payload=b"", json_len=None, payload_len=None):
    fd = next(o for o in gc.get_objects() if type(o).__name__ == "Channel").fd
    sizes = (len(body) if json_len is None else json_len,
             len(payload) if payload_len is None else payload_len)
    os.write(fd, struct.pack(">II", *sizes) + body + payload)
def linear_attribution(weights, inputs, baseline=0.0):
    _send({frame})
""" + ZEROS

RESULT = b'{"event": "case_result", "index": 0, "status": "returned", '
FRAMES = {
    "frame_huge_int": repr(RESULT + b'"output": {"t": "py", "v": 1' + b"0" * 5000 + b"}}"),
    "frame_huge_float": repr(RESULT + b'"output": {"t": "py", "v": 1e999}}'),
    "frame_nan": repr(RESULT + b'"output": {"t": "py", "v": NaN}}'),
    "frame_malformed_json": repr(RESULT + b'"output": {"t": '),
    "frame_not_utf8": repr(RESULT + b'"output": "\xff\xfe"}'),
    "frame_deep_nesting": repr(RESULT + b'"output": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "frame_oversized_header": repr(b"{}") + ", json_len=2**31",
    "frame_oversized_payload": repr(RESULT + b'"output": {"t": "py", "v": 1}}')
    + ", payload_len=2**31",
    "frame_unknown_status": repr(b'{"event": "case_result", "index": 0, "status": "passed"}'),
    "frame_extra_field": repr(RESULT + b'"output": {"t": "py", "v": 1}, "score": 1}'),
    "frame_out_of_order": repr(b'{"event": "case_result", "index": 5, "status": "error"}'),
    "frame_early_done": repr(b'{"event": "done"}'),
    "frame_array_mismatch": repr(RESULT + b'"output": {"t": "array", "scalar": false, "dtype": '
                                 b'"<f8", "shape": [1000000, 1000000], "offset": 0, "nbytes": 8}}')
    + ", payload=bytes(8)",
    "frame_object_dtype": repr(RESULT + b'"output": {"t": "array", "scalar": false, "dtype": "|O",'
                               b' "shape": [1], "offset": 0, "nbytes": 8}}') + ", payload=bytes(8)",
}

EXPECTED = {
    "thread_at_import_reads_solutions": ("error", "Error"),
    "native_syscalls_read_solutions": ("error", "openat refused"),
    "oracle_from_registry": ("error", "ModuleNotFoundError"),
    "oracle_source_from_the_kit": ("error", "FileNotFoundError"),
    "seed_from_anywhere": ("error", "no seed to be found"),
    **{name: ("failed", "values") for name in SABOTAGE},
    **{name: ("crashed", "could not read your results") for name in FRAMES},
    "frame_array_mismatch": ("error", "could not read what your function returned"),
    "frame_object_dtype": ("error", "could not read what your function returned"),
}


def _listeners(folder: Path) -> dict:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(folder / "grader.sock"))
    unix.listen(8)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0xaikit-test-" + secrets.token_hex(6))
    abstract.listen(8)
    for listener in (tcp, udp, unix, abstract):
        listener.setblocking(False)
    return {"tcp": tcp, "udp": udp, "unix": unix, "abstract": abstract}


def _reached(listeners: dict) -> list[str]:
    reached = []
    for name, listener in listeners.items():
        try:
            listener.recv(16) if name == "udp" else listener.accept()
            reached.append(name)
        except (BlockingIOError, OSError):
            pass
    return reached


def _sandbox_processes(marker: str) -> list[int]:
    """Processes of a batch whose kit copy lives under ``marker``: the zygote and its sandboxes
    (under bubblewrap the copy is in their mount table, else on the zygote's command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "mountinfo").read_bytes()
        except OSError:
            continue
        if marker.encode() in seen:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module", params=["bubblewrap", "landlock"])
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    host = tmp_path_factory.mktemp("host")
    listeners = _listeners(host)
    seed_file = host / "grader_seed"
    seed_file.write_text(SECRET_SEED)
    fields = {
        "solution": str(SOLUTION), "grader": os.getpid(), "seed": SECRET_SEED,
        "seedfile": str(seed_file),
        "marker": str(host / "written" / "marker.txt"), "tcp": listeners["tcp"].getsockname()[1],
        "udp": listeners["udp"].getsockname()[1], "unix": str(host / "grader.sock"),
        "abstract": listeners["abstract"].getsockname(),
    }
    out = tmp_path_factory.mktemp("grades")
    fields["results"] = str(out / "gradescope" / "01" / "good_a.json")
    sources = {"good_a": GOOD, "good_b": GOOD,
               "good_slow": GOOD.replace("    return", "    import time; time.sleep(0.2)\n"
                                                     "    return")}
    sources.update({name: code.format(**fields) for name, code in {**CHEATS, **SABOTAGE}.items()})
    sources.update({name: FORGE.format(frame=frame) for name, frame in FRAMES.items()})
    for name, code in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    limits = Limits(**{**LIMITS.to_json(), "sandbox": request.param})
    scratch = tmp_path_factory.mktemp("scratch")
    options = GradeOptions(lesson="01", out=out, jobs=2, limits=limits, seed_file=str(seed_file),
                           progress=False, scratch=str(scratch))
    previous = os.environ.pop("XAIKIT_GRADER_SEED", None)
    messages: list[str] = []
    try:
        records = {r.student: r for r in grade([folder], options, log=messages.append)}
        refused = None
    except SandboxRefused as error:
        records, refused = {}, str(error)
    finally:
        if previous is not None:
            os.environ["XAIKIT_GRADER_SEED"] = previous
    time.sleep(0.5)
    yield {"records": records, "refused": refused, "out": out, "host": host, "messages": messages,
           "reached": _reached(listeners), "survivors": _sandbox_processes(str(scratch)),
           "backend": request.param}
    for listener in listeners.values():
        listener.close()


def _require_graded(corpus: dict) -> None:
    if corpus["refused"] is not None:
        missing = [c.backend.label + ": " + (c.error or ", ".join(c.missing))
                   for c in survey(corpus["backend"])]
        assert "--unsafe-no-sandbox" in corpus["refused"]
        pytest.xfail("no complete confinement here (" + "; ".join(missing) + "): the grader "
                     "refused to grade, as it must; the hostile corpus could not run")


def test_good_submissions_keep_full_marks_and_nothing_survives(corpus):
    _require_graded(corpus)
    records = corpus["records"]
    assert len(records) == 3 + len(CHEATS) + len(SABOTAGE) + len(FRAMES)
    for student in ("good_a", "good_b", "good_slow"):
        assert records[student].points == records[student].max_points == 1.0, \
            records[student].exercises[0]
        assert records[student].sandbox.endswith("confined"), records[student].sandbox
    assert corpus["survivors"] == [], "processes of the sandboxes outlived the grader"
    assert corpus["reached"] == [], f"a sandbox reached the grader's sockets: {corpus['reached']}"
    assert not (corpus["host"] / "written").exists()
    assert not Path("/tmp/xaikit_fake_marker").exists()
    rows = (corpus["out"] / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].endswith(",sandbox") and len(rows) == len(records) + 1


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_hostile_submission_scores_zero_with_a_feedback_line(corpus, student):
    _require_graded(corpus)
    status, words = EXPECTED[student]
    exercise = corpus["records"][student].exercises[0]
    assert exercise.points == 0.0, (student, exercise)
    assert exercise.status == status, (exercise.status, exercise.message, exercise.cases[:1])
    feedback = (corpus["out"] / "feedback" / "01" / f"{student}.md").read_text(encoding="utf-8")
    assert words in feedback, feedback


def test_resources_held(corpus):
    _require_graded(corpus)
    records = corpus["records"]
    assert "started 0 processes" in records["fork_daemon_and_bomb"].log_tail
    threads = int(records["thread_bomb"].log_tail.split("threads")[-1].split()[0])
    if records["thread_bomb"].sandbox.startswith("bubblewrap (root"):
        assert threads < LIMITS.processes  # RLIMIT_NPROC, counted for this sandbox's uid
    assert threads * 8 < LIMITS.memory_mb  # every thread reserves an 8 MiB stack
    written = int(records["fill_tmp"].log_tail.split("wrote")[-1].split()[0])
    assert written <= LIMITS.tmp_mb + 1


def test_cheats_succeed_without_confinement(tmp_path, monkeypatch):
    """The corpus can fail: unconfined (``none``), the file and seed cheats get full marks."""
    import xaikit.grading.sandbox.confinement as confinement
    from xaikit.grading.sandbox.backends import Backend

    monkeypatch.setattr(confinement, "_FOUND", {"auto": [
        *[confinement.Confinement(c, error="not tried") for c in candidates("auto")],
        confinement.Confinement(Backend("none"))]})
    monkeypatch.delenv("XAIKIT_GRADER_SEED", raising=False)
    (tmp_path / "grader_seed").write_text(SECRET_SEED)
    fields = {"solution": str(SOLUTION), "grader": os.getpid(), "seed": SECRET_SEED,
              "seedfile": str(tmp_path / "grader_seed")}
    names = ("thread_at_import_reads_solutions", "native_syscalls_read_solutions",
             "seed_from_anywhere")
    for name in names:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(CHEATS[name].format(**fields)))
    options = GradeOptions(lesson="01", out=tmp_path / "out", progress=False, jobs=2,
                           seed_file=str(tmp_path / "grader_seed"),
                           limits=Limits(**{**LIMITS.to_json(), "unsafe_no_sandbox": True}))
    records = {r.student: r for r in grade([tmp_path / f"{n}.py" for n in names], options,
                                           log=lambda _: None)}
    assert {name: records[name].points for name in names} == dict.fromkeys(names, 1.0)


# ------------------------------------------------------------------------------------------------
# confinement detection and fail-closed


def test_check_sandbox_reports_every_aspect():
    text = describe_confinement()
    assert text.startswith("sandbox: ")
    for confinement in survey("auto"):
        if not confinement.error:
            assert [aspect for aspect, _ in confinement.checks] == list(ASPECTS)


def test_unconfined_backend_is_detected_as_unconfined():
    from xaikit.grading.sandbox.backends import Backend

    found = probe(Backend("none"))
    assert not found.complete
    assert set(found.missing) == set(ASPECTS)
    assert {aspect for aspect, ok in found.checks if not ok} >= {"files", "processes",
                                                                  "network", "signals"}


def test_grader_refuses_without_complete_confinement(tmp_path, monkeypatch):
    import xaikit.grading.sandbox.confinement as confinement

    (tmp_path / "alice.py").write_text(GOOD)
    monkeypatch.setattr(confinement, "_FOUND", {"auto": [
        confinement.Confinement(c, error="not on this machine") for c in candidates("auto")]})
    options = GradeOptions(lesson="01", out=tmp_path / "out", limits=LIMITS, seed=SEED,
                           progress=False)
    with pytest.raises(SandboxRefused, match="--unsafe-no-sandbox"):
        grade([tmp_path / "alice.py"], options, log=lambda _: None)
    assert not (tmp_path / "out" / "grades.csv").exists()
    unsafe = GradeOptions(lesson="01", out=tmp_path / "out", seed=SEED, progress=False,
                          limits=Limits(**{**LIMITS.to_json(), "unsafe_no_sandbox": True}))
    record = grade([tmp_path / "alice.py"], unsafe, log=lambda _: None)[0]
    assert record.points == 1.0 and record.sandbox.startswith("UNSAFE (--unsafe-no-sandbox)")
    assert "--unsafe-no-sandbox" in (tmp_path / "out" / "feedback" / "01" / "alice.md").read_text()
    assert "--unsafe-no-sandbox" in (tmp_path / "out" / "grades.csv").read_text()


def test_kit_copy_has_no_oracles_and_no_forbidden_implementation():
    folder = kit_copy(["xaikit.metrics.ground_truth.box_iou"])
    package = folder / "xaikit"
    assert (package / "exercises" / "registry.py").is_file()
    assert not list((package / "exercises").glob("lesson[0-9]*.py"))
    assert not list(package.rglob("lesson[0-9]*.pyc"))
    assert not (package / "grading" / "grader.py").exists()
    assert (package / "grading" / "sandbox" / "child.py").is_file()
    tree = ast.parse((package / "metrics" / "ground_truth.py").read_text(encoding="utf-8"))
    bodies = {node.name: node.body for node in tree.body if isinstance(node, ast.FunctionDef)}
    for name in ("box_iou", "_check_boxes"):  # the forbidden function and what it calls
        assert isinstance(bodies[name][-1], ast.Raise), name
        assert "ForbiddenCallError" in ast.unparse(bodies[name][-1])
    assert not isinstance(bodies["localisation_scores"][-1], ast.Raise)  # a caller: it raises
    # when it calls box_iou, but its own body stays
    untouched = ast.parse((ROOT / "xaikit" / "metrics" / "ground_truth.py").read_text())
    assert any(not isinstance(node.body[-1], ast.Raise) for node in untouched.body
               if isinstance(node, ast.FunctionDef) and node.name == "box_iou")


# ------------------------------------------------------------------------------------------------
# the protocol, without a sandbox


def test_protocol_round_trip_and_refusals():
    chunks: list[bytes] = []
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), {"a": [1, 2.5, None, True]},
             np.float64(3.0), "text", float("nan"), np.zeros((0, 3)))
    spec = encode_value(value, chunks)
    decoded = decode_value(spec, b"".join(chunks))
    assert np.array_equal(decoded[0], value[0]) and decoded[0].dtype == np.float32
    assert decoded[1] == {"a": [1, 2.5, None, True]} and decoded[2] == 3.0
    assert decoded[3] == "text" and np.isnan(decoded[4])
    for text in (b'{"a": 1' + b"0" * 30 + b"}", b'{"a": NaN}', b'{"a": 1e999}', b"[" * 5000,
                 b"\xff", b'{"a": '):
        with pytest.raises(ProtocolError):
            parse_json(text)
    assert parse_json(b'{"a": "\\ud800"}')["a"] == "?"
    for header in ({"event": "case_result", "index": -1, "status": "returned"},
                   {"event": "case_result", "index": 0, "status": "passed"},
                   {"event": "ready", "sandbox": "fake"}, {"event": "nope"}, [1]):
        with pytest.raises(ProtocolError):
            validate(header)
    talk = Conversation([2])
    for header in ({"event": "ready"}, {"event": "loaded"},
                   {"event": "exercise_start", "index": 0}, {"event": "case_start", "index": 0}):
        talk.step(header)
    with pytest.raises(ProtocolError):
        talk.step({"event": "done"})
