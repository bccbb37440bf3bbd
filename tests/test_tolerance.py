"""The three tiers of the tolerance policy (xaikit.tolerance): each check can fail."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xaikit.tolerance import (
    Elsewhere,
    above,
    below,
    confidence_interval,
    exact,
    pattern,
    recorded,
)


@pytest.mark.parametrize(("value", "check", "status"), [
    (1e-7, exact(0.0, atol=1e-6), "passed"),
    (2e-6, exact(0.0, atol=1e-6), "failed"),
    (np.array([1.0, 2.0]), exact([1.0, 2.0 + 1e-9], rtol=1e-8), "passed"),
    (np.array([1.0, np.nan]), exact([1.0, 2.0], atol=10.0), "failed"),
    (True, exact(True), "passed"),
    (False, exact(True), "failed"),
    ("LIME", exact("LIME"), "passed"),
    (np.array([1.0, 2.0, 3.0]), exact([1.0, 2.0], atol=1.0), "failed"),
])
def test_exact(value, check, status):
    assert check.evaluate("x", value).status == status


def test_recorded_compares_records_and_reports_missing():
    check = recorded(rtol=0.1)
    assert check.evaluate("a", 1.05, {"a": 1.0}.get).status == "passed"
    assert check.evaluate("a", 1.2, {"a": 1.0}.get).status == "failed"
    assert check.evaluate("b", 1.2, {"a": 1.0}.get).status == "unrecorded"
    assert check.evaluate("a", 1.2, None).status == "unchecked"
    assert check.evaluate("a", 1.2, {"a": 1.0}.get, recording=True).status == "recorded"
    elsewhere = Elsewhere({"0123456789ab": 1.0}, {"0123456789ab": "a CPU"}, "ba9876543210")
    outcome = check.evaluate("a", 9.0, {"a": elsewhere}.get)
    assert outcome.status == "elsewhere" and not outcome.failed
    assert "1 on 0123456789ab (a CPU)" in outcome.detail and "ba9876543210" in outcome.detail


def test_interval_is_students_t():
    samples = np.random.default_rng(0).normal(1.0, 2.0, size=30)
    mean, low, high = confidence_interval(samples, 0.95)
    reference = stats.t.interval(0.95, 29, loc=samples.mean(), scale=stats.sem(samples))
    np.testing.assert_allclose([low, high], reference)
    assert mean == pytest.approx(samples.mean())


def test_sides_need_the_whole_interval_on_the_claimed_side():
    rng = np.random.default_rng(1)
    clear = rng.normal(0.5, 0.1, size=20)
    straddling = rng.normal(0.0, 1.0, size=20)
    assert above(0.0).evaluate("d", clear).status == "passed"
    assert below(0.0).evaluate("d", -clear).status == "passed"
    assert above(0.0).evaluate("d", straddling).status == "failed"
    assert below(0.0).evaluate("d", straddling).status == "failed"
    assert above(0.6).evaluate("d", clear).status == "failed"
    with pytest.raises(ValueError, match="at least 2"):
        above(0.0).evaluate("d", [1.0])


def test_a_non_finite_sample_fails_the_claim_instead_of_crashing_the_lesson():
    outcome = above(0.0).evaluate("d", [0.5, np.nan, 0.6])
    assert outcome.status == "failed" and "1 of 3 samples are not finite" in outcome.detail
    assert below(1.0).evaluate("d", [0.5, np.inf]).failed


def test_pattern_names_the_differences():
    claimed = {"gradient": True, "ig_zero": False}
    assert pattern(claimed, tier=1).evaluate("p", dict(claimed)).status == "passed"
    outcome = pattern(claimed).evaluate("p", {"gradient": True, "ig_zero": True})
    assert outcome.status == "failed" and "ig_zero" in outcome.detail
    assert pattern(claimed).evaluate("p", {"gradient": True}).status == "failed"
