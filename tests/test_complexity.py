"""Complexity metrics: analytic cases and agreement with Quantus 0.6 (a test-only oracle).

``tests/fixtures/quantus_complexity.json`` holds fixed maps and Quantus' scores of them; it was
written by ``tests/fixtures/make_quantus_complexity.py`` in a throwaway venv (see that script),
so Quantus is never imported here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xaikit.metrics.complexity import complexity, effective_complexity, sparseness

FIXTURE = Path(__file__).parent / "fixtures" / "quantus_complexity.json"
QUANTUS_EPSILON_EFFECT = 1e-4  # Quantus adds 1e-7 to every |a| before the Gini index


@pytest.mark.parametrize("n", [4, 64, 1024])
def test_gini_of_a_one_hot_map_is_its_maximum_and_of_a_constant_map_zero(n):
    side = int(np.sqrt(n))
    one_hot = np.zeros((1, side, side))
    one_hot[0, side // 2, 1] = -3.0
    assert sparseness(one_hot)[0] == pytest.approx(1.0 - 1.0 / n, abs=1e-12)
    np.testing.assert_allclose(sparseness(np.full((2, side, side), 0.2)), 0.0, atol=1e-12)
    assert sparseness(np.zeros((1, side, side)))[0] == 0.0


def test_gini_grows_as_the_mass_concentrates():
    maps = np.stack([np.pad(np.ones((k, k)), (0, 8 - k)) for k in (8, 6, 4, 2, 1)])
    values = sparseness(maps)
    assert (np.diff(values) > 0).all()
    assert sparseness(-maps).tolist() == values.tolist()  # magnitudes only
    assert sparseness(7.0 * maps) == pytest.approx(values)  # scale-free


def test_entropy_and_effective_complexity_by_hand():
    one_hot = np.zeros((1, 4, 4))
    one_hot[0, 1, 2] = 2.0
    assert complexity(one_hot)[0] == pytest.approx(0.0, abs=1e-12)
    assert complexity(np.full((1, 4, 4), 5.0))[0] == pytest.approx(np.log(16))
    assert complexity(np.zeros((1, 4, 4)))[0] == pytest.approx(np.log(16))
    half = np.zeros((1, 4, 4))
    half[0, :2] = 1.0
    assert complexity(half)[0] == pytest.approx(np.log(8))
    assert effective_complexity(one_hot).tolist() == [1.0]
    tiny = np.ones((1, 4, 4))
    tiny[0, 0, :3] = 1e-7
    assert effective_complexity(tiny).tolist() == [13.0]
    assert effective_complexity(np.zeros((1, 4, 4))).tolist() == [0.0]


def test_agreement_with_quantus_on_the_fixture():
    data = json.loads(FIXTURE.read_text())
    assert data["quantus"] == "0.6.0"
    maps = np.array(data["maps"])
    np.testing.assert_allclose(sparseness(maps), data["scores"]["sparseness"],
                               atol=QUANTUS_EPSILON_EFFECT)
    np.testing.assert_allclose(complexity(maps), data["scores"]["complexity"], atol=1e-9)
    np.testing.assert_array_equal(effective_complexity(maps),
                                  data["scores"]["effective_complexity"])


def test_docstring_examples_run():
    import doctest

    from xaikit.core import softplus
    from xaikit.metrics import complexity as module_complexity
    from xaikit.metrics import (
        faithfulness,
        faithfulness_subsets,
        fragility,
        meta,
        road,
        robustness,
    )

    for module in (module_complexity, meta, fragility, road, faithfulness, faithfulness_subsets,
                   robustness, softplus):
        assert doctest.testmod(module, extraglobs={"np": np}).failed == 0, module.__name__
