"""The grader's sandbox: a submission is hostile code; confinement covers all its threads.

Modules, by concern:

- :mod:`.confinement` — which confinement the machine offers (found by grading a probe
  submission), the fail-closed rule, :func:`describe_confinement`;
- :mod:`.backends` — bubblewrap (preferred) and Landlock + seccomp (fallback): what the
  sandbox sees and how the zygote is started;
- :mod:`.zygote` / :mod:`.forkserver` — the warm process forking one sandbox per submission
  (grader side / inside), and the per-sandbox namespaces, mounts and limits;
- :mod:`.kit` — the kit's copy without exercise oracles and forbidden implementations;
- :mod:`.protocol` — frames and their strict validation; :mod:`.values` — outputs (described,
  rebuilt); :mod:`.runner` — one run and its deadlines;
- :mod:`.child` — the harness that runs the student's functions;
- :mod:`.limits`, :mod:`.seccomp`, :mod:`.landlock` — resource limits and kernel filters.

The instructors' guide (``docs/instructors.md``) explains what it guarantees and what to
install.
"""

from __future__ import annotations

from xaikit.grading.sandbox.confinement import (
    Confinement,
    SandboxRefused,
    describe_confinement,
    select_confinement,
)
from xaikit.grading.sandbox.kit import kit_copy
from xaikit.grading.sandbox.limits import Limits
from xaikit.grading.sandbox.protocol import ProtocolError
from xaikit.grading.sandbox.runner import ChildRun, Frame, describe_exit, run_child
from xaikit.grading.sandbox.values import Unsupported, decode_value
from xaikit.grading.sandbox.zygote import Zygote, home_template

__all__ = ["ChildRun", "Confinement", "Frame", "Limits", "ProtocolError", "SandboxRefused",
           "Unsupported", "Zygote", "decode_value", "describe_confinement", "describe_exit",
           "home_template", "kit_copy", "run_child", "select_confinement"]
