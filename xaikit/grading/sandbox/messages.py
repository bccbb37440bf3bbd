"""The sandbox's messages (its block of the kit's message table)."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, str] = {
    "sandbox_option": "--sandbox={value!r} is not allowed; allowed: {allowed}",
    "sandbox_refused": "the grader refuses to run students' code here: {reason}. {install} "
    "Or accept the risk with --unsafe-no-sandbox (it is then printed in every feedback file and "
    "in grades.csv). `xaikit grade --check-sandbox` shows what this machine offers.",
    "sandbox_unavailable": "--sandbox {backend} is not available here: {reason}",
    "sandbox_start": "the sandbox could not start: {reason}",
    "forbidden_unknown": "forbidden name {name!r} does not exist ({error}); list kit functions "
    "such as 'xaikit.attribution.grad_cam'",
    "forbidden_not_function": "forbidden name {name!r} is {kind}, not a kit function; the grader "
    "removes only functions (and methods) defined in the xaikit package",
    "forbidden_outside_kit": "forbidden name {name!r} is defined in {path}, outside the xaikit "
    "package; the grader can only remove the kit's own functions",
    "forbidden_call": "calling {name} is not allowed in this graded exercise: the exercise asks "
    "you to implement it yourself",
}


def message(key: str, **fields: Any) -> str:
    """Format the message ``key`` with ``fields``."""
    return MESSAGES[key].format(**fields)
