"""The exercises of lesson 08 cannot be passed by a constant answer, and the cascade exercise
refuses a loop that randomises the user's model instead of a copy."""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.exercises import EXERCISES, evaluate

IDS = ("08.cascade_maps", "08.spearman_abs", "08.compensated_bias")


def _cases(exercise):
    return exercise.public() + exercise.hidden(0)


@pytest.mark.parametrize("exercise_id", IDS)
def test_no_case_is_passed_by_a_constant_answer(exercise_id):
    exercise = EXERCISES[exercise_id]
    for case in _cases(exercise):
        expected = np.asarray(exercise.expected(case), np.float64)
        first = np.asarray(case.args[0], np.float64) if not hasattr(case.args[0], "layers") \
            else np.asarray(case.args[1], np.float64)
        for label, answer in (("zeros", np.zeros_like(expected)), ("ones", np.ones_like(expected)),
                              ("nan", np.full_like(expected, np.nan)), ("the input", first)):
            ok, _ = exercise.compare_outputs(expected, answer)
            assert not ok, f"{exercise_id}, case {case.name!r}: {label} passes"


def test_the_cascade_exercise_refuses_the_users_model():
    exercise = EXERCISES["08.cascade_maps"]

    def in_place(model, images, targets, layer_names, explain, reinitialise):
        maps = [explain(model, images, targets)]
        for name in layer_names:
            reinitialise(model.get_layer(name))
            maps.append(explain(model, images, targets))
        return np.stack(maps)

    results = evaluate(exercise, in_place, exercise.public()[:1])
    assert results[0].status == "error" and "belongs to the model you were given" \
        in results[0].message

    def not_randomised(model, images, targets, layer_names, explain, reinitialise):
        return np.stack([explain(model, images, targets)] * (len(layer_names) + 1))

    assert evaluate(exercise, not_randomised, exercise.public()[:1])[0].status == "failed"
