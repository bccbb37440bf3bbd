"""The tolerance policy: every number a lesson reports is checked in one of three tiers.

1. **Exact properties** (completeness, invariances, identities) at float tolerance:
   :func:`exact` — ``|value - expected| <= atol + rtol * |expected|`` element-wise. State the
   tolerance for the dtype: float32 sums of a few thousand terms reach ~1e-5 relative error,
   float64 ~1e-12.
2. **The kit's own recorded values** per lesson, mode and seed: :func:`recorded` compares with
   ``lessons/expected/NN_topic.json`` (written by ``xaikit reproduce --record``; re-record only
   with a reason in the commit message), so a change that moves a number is seen. Trained
   weights are reproducible per numeric platform, not across platforms
   (:mod:`xaikit.core.platform`): values are recorded per platform, and on a platform with no
   record of its own a tier-2 value is shown beside the other platforms' values with the status
   ``"elsewhere"`` instead of being compared.
3. **The paper's claim** — an ordering, a pass/fail pattern, the sign of a trend — with a
   confidence interval over images or seeds: :func:`above` / :func:`below` on per-image (or
   per-seed) samples pass when the whole confidence interval of the mean lies on the claimed
   side; :func:`pattern` compares a mapping of verdicts. The paper's own number is shown beside
   ours (``paper=``) and asserted only where our setting matches its setting.

A check is passed to :func:`xaikit.report.result`, which computes the status; a status is never
typed in.

Examples
--------
>>> exact(0.0, atol=1e-6).evaluate("gap", 1e-7).status
'passed'
>>> below(0.0).evaluate("diff", [-0.3, -0.2, -0.25, -0.35]).status
'passed'
>>> above(0.0).evaluate("diff", [0.3, -0.2, 0.1, -0.1]).status
'failed'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xaikit.base.checks import check_number
from xaikit.base.messages import message

__all__ = ["Check", "Elsewhere", "Outcome", "above", "below", "confidence_interval", "exact",
           "pattern", "recorded"]

DEFAULT_LEVEL = 0.95
"""Confidence level of tier-3 intervals."""


@dataclass(frozen=True)
class Outcome:
    """What a check concluded about one value.

    ``status`` is ``"passed"``, ``"failed"``, ``"recorded"`` (a tier-2 value written by
    ``--record``), ``"unrecorded"`` (tier 2 with no recorded value yet), ``"elsewhere"`` (tier 2
    recorded only on other numeric platforms: shown, not compared) or ``"unchecked"`` (tier 2
    outside the lesson runner, where no expected file is known).
    """

    tier: int
    kind: str
    status: str
    value: Any
    tolerance: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def _ipython_display_(self) -> None:
        """:func:`xaikit.report.result` has printed the verdict; ending a cell with it adds nothing."""


@dataclass(frozen=True)
class Elsewhere:
    """Tier-2 values recorded on other numeric platforms than this one.

    ``values`` maps a platform id to its recorded value, ``machines`` a platform id to what it
    ran on; ``here`` is this process's platform id.
    """

    values: Mapping[str, Any]
    machines: Mapping[str, str]
    here: str

    def describe(self) -> str:
        others = "; ".join(f"{_short(value)} on {pid} ({self.machines.get(pid, '?')})"
                           for pid, value in self.values.items())
        return (f"recorded {others} — not on this platform ({self.here}), whose trained weights "
                "differ in the last bits; `xaikit reproduce --lesson NN --record` records it")


@dataclass(frozen=True)
class Check:
    """A check of one tier: ``evaluate(name, value, lookup)`` returns an :class:`Outcome`.

    ``lookup(name)`` gives the recorded value of ``name`` (tier 2), an :class:`Elsewhere` when
    only other platforms recorded it, ``None`` when there is none; it is ``None`` itself outside
    the lesson runner. ``recording`` says that this run records
    values instead of comparing them.
    """

    tier: int
    kind: str
    tolerance: str
    rule: Callable[..., Outcome] = field(repr=False, compare=False)

    def evaluate(self, name: str, value: Any, lookup: Callable[[str], Any] | None = None,
                 recording: bool = False) -> Outcome:
        return self.rule(name, value, lookup, recording)


def _close(value: Any, expected: Any, rtol: float, atol: float) -> tuple[bool, float]:
    """Whether ``value`` matches ``expected`` element-wise, and the largest absolute error."""
    got, want = np.asarray(value), np.asarray(expected)
    if got.dtype.kind not in "fiub" or want.dtype.kind not in "fiub":
        return bool(np.array_equal(got, want)), float("nan")
    if got.shape != want.shape and want.size != 1:
        return False, float("inf")
    got, want = got.astype(np.float64), want.astype(np.float64)
    if not np.isfinite(got).all():
        return False, float("inf")
    error = np.abs(got - want)
    return bool((error <= atol + rtol * np.abs(want)).all()), float(error.max(initial=0.0))


def exact(expected: Any, *, rtol: float = 0.0, atol: float = 0.0) -> Check:
    """Tier 1: the value equals ``expected`` to float tolerance.

    Parameters
    ----------
    expected : number, bool, str or array
        The exact value (0 for a gap, True for an identity, an array of known values).
    rtol, atol : float
        ``|value - expected| <= atol + rtol * |expected|`` element-wise; non-numbers must be
        equal.
    """
    rtol, atol = check_number("rtol", rtol, low=0.0), check_number("atol", atol, low=0.0)
    tolerance = f"= {expected!r} (atol {atol:g}, rtol {rtol:g})"

    def rule(name: str, value: Any, lookup: Any, recording: bool) -> Outcome:
        ok, error = _close(value, expected, rtol, atol)
        detail = f"max |error| {error:.3g}" if np.isfinite(error) else (
            "equal" if ok else "differs")
        return Outcome(1, "exact", "passed" if ok else "failed", value, tolerance, detail)

    return Check(1, "exact", tolerance, rule)


def recorded(*, rtol: float = 0.05, atol: float = 0.0) -> Check:
    """Tier 2: the value equals the kit's recorded value for this lesson, mode and seed.

    Parameters
    ----------
    rtol, atol : float
        Tolerance against the value in ``lessons/expected/NN_topic.json``. Trained models move
        more than closed-form computations: say in the lesson why the tolerance is what it is.
    """
    rtol, atol = check_number("rtol", rtol, low=0.0), check_number("atol", atol, low=0.0)
    tolerance = f"recorded value (rtol {rtol:g}, atol {atol:g})"

    def rule(name: str, value: Any, lookup: Any, recording: bool) -> Outcome:
        if recording:
            return Outcome(2, "recorded", "recorded", value, tolerance, "value recorded")
        if lookup is None:
            return Outcome(2, "recorded", "unchecked", value, tolerance,
                           "checked only by the lesson runner")
        stored = lookup(name)
        if isinstance(stored, Elsewhere):
            return Outcome(2, "recorded", "elsewhere", value, tolerance, stored.describe(),
                           {"recorded_elsewhere": dict(stored.values)})
        if stored is None:
            return Outcome(2, "recorded", "unrecorded", value, tolerance,
                           "no recorded value: run `xaikit reproduce --lesson NN --record`")
        ok, error = _close(value, stored, rtol, atol)
        return Outcome(2, "recorded", "passed" if ok else "failed", value, tolerance,
                       f"recorded {_short(stored)}, max |error| {error:.3g}",
                       {"recorded": stored})

    return Check(2, "recorded", tolerance, rule)


def confidence_interval(samples: Any, level: float = DEFAULT_LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean of ``samples`` (1-D, n >= 2).

    Examples
    --------
    >>> [round(v, 3) for v in confidence_interval([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    """
    from scipy import stats

    array = np.asarray(samples, dtype=np.float64).ravel()
    if array.size < 2 or not np.isfinite(array).all():
        raise ValueError(message("expected", name="samples", expected="at least 2 finite values "
                                 "(one per image or seed)", got=f"{array.size} value(s)", fix=""))
    mean = float(array.mean())
    sem = float(array.std(ddof=1) / np.sqrt(array.size))
    half = float(stats.t.ppf(0.5 + level / 2, array.size - 1) * sem)
    return mean, mean - half, mean + half


def _side(threshold: float, level: float, above_: bool) -> Check:
    threshold = check_number("threshold", threshold)
    level = check_number("level", level, low=0.5, high=0.999999)
    sign = ">" if above_ else "<"
    tolerance = f"{level:.0%} CI of the mean {sign} {threshold:g}"

    def rule(name: str, value: Any, lookup: Any, recording: bool) -> Outcome:
        samples = np.asarray(value, dtype=np.float64).ravel()
        bad = int((~np.isfinite(samples)).sum())
        if bad and samples.size >= 2:  # a NaN score cannot support a claim: the check fails
            return Outcome(3, "above" if above_ else "below", "failed", float("nan"), tolerance,
                           f"{bad} of {samples.size} samples are not finite (NaN or inf)",
                           {"n": int(samples.size)})
        mean, low, high = confidence_interval(samples, level)
        ok = low > threshold if above_ else high < threshold
        n = int(samples.size)
        return Outcome(3, "above" if above_ else "below", "passed" if ok else "failed", mean,
                       tolerance, f"mean {mean:.4g}, CI [{low:.4g}, {high:.4g}], n = {n}",
                       {"ci": [low, high], "n": n})

    return Check(3, "above" if above_ else "below", tolerance, rule)


def above(threshold: float, *, level: float = DEFAULT_LEVEL) -> Check:
    """Tier 3: the mean of the samples is above ``threshold`` with confidence ``level``.

    The value is a 1-D array of samples (per image or per seed: a difference to a baseline, a
    score); the check passes when the lower end of the Student-t interval exceeds the threshold.
    Non-finite samples (a NaN score) fail the check; fewer than 2 samples raise ``ValueError``
    (a lesson that shrinks its sample in fast mode must keep at least two).
    """
    return _side(threshold, level, True)


def below(threshold: float, *, level: float = DEFAULT_LEVEL) -> Check:
    """Tier 3: the mean of the samples is below ``threshold`` with confidence ``level``."""
    return _side(threshold, level, False)


def pattern(expected: Mapping[str, Any], *, tier: int = 3) -> Check:
    """A pattern of verdicts (which methods pass a test, which label wins) equals ``expected``.

    Parameters
    ----------
    expected : mapping
        Name -> verdict (bool, str or int). The value must have exactly these keys.
    tier : {1, 3}
        1 when the pattern is an exact property (invariance by construction), 3 when it is a
        paper's finding.
    """
    if tier not in (1, 3):
        raise ValueError(message("option", name="tier", value=tier, allowed="1, 3"))
    expected = dict(expected)
    tolerance = "pattern " + ", ".join(f"{k}: {v}" for k, v in expected.items())

    def rule(name: str, value: Any, lookup: Any, recording: bool) -> Outcome:
        got = dict(value) if isinstance(value, Mapping) else {}
        keys = sorted(set(expected) | set(got), key=str)
        wrong = [k for k in keys if k not in got or k not in expected or got[k] != expected[k]]
        detail = "as claimed" if not wrong else "differs at " + ", ".join(
            f"{k} (got {got.get(k, 'missing')}, claimed {expected.get(k, 'nothing')})"
            for k in wrong)
        return Outcome(tier, "pattern", "failed" if wrong else "passed", got, tolerance, detail)

    return Check(tier, "pattern", tolerance, rule)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
