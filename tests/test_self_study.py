"""Self-study help in notebooks: ``hint`` always, ``solution`` only with XAIKIT_SELF_STUDY=1."""

from __future__ import annotations

import ast

import pytest

from xaikit.exercises import EXERCISES, ReferenceNotAvailable, hint, self_study, solution
from xaikit.exercises.help import SELF_STUDY_ENV, solution_source


def test_hint_prints_the_registered_hint(capsys):
    hint("05.grad_cam")
    out = capsys.readouterr().out
    assert out.startswith("Hint for 05.grad_cam: ") and EXERCISES["05.grad_cam"].hint in out


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="no exercise '05.grad_kam'.*05.grad_cam"):
        hint("05.grad_kam")
    with pytest.raises(TypeError, match="exercise_id"):
        solution(5)


def test_solution_is_locked_outside_self_study(monkeypatch, capsys):
    monkeypatch.delenv(SELF_STUDY_ENV, raising=False)
    assert self_study() is False
    solution("06.rise_saliency")
    out = capsys.readouterr().out
    assert "self-study mode only" in out and f"{SELF_STUDY_ENV}=1" in out
    assert "tensordot" not in out and "def rise_saliency" not in out


def test_solution_in_self_study_mode_runs_as_printed(monkeypatch, capsys):
    monkeypatch.setenv(SELF_STUDY_ENV, "1")
    solution("01.linear_attribution")
    out = capsys.readouterr().out
    assert "def linear_attribution" in out
    namespace: dict = {}
    exec(compile(out, "<solution>", "exec"), namespace)  # noqa: S102 - the kit's own solution
    assert callable(namespace["linear_attribution"])


def test_every_solution_source_is_valid_python_with_its_function():
    for key, exercise in EXERCISES.items():
        source = solution_source(key)
        tree = ast.parse(source)
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert exercise.reference.partition(":")[2] in names, key


def test_bad_switch_value_and_missing_solutions(monkeypatch, tmp_path):
    monkeypatch.setenv(SELF_STUDY_ENV, "maybe")
    with pytest.raises(ValueError, match="XAIKIT_SELF_STUDY='maybe'"):
        self_study()
    with pytest.raises(ReferenceNotAvailable, match="git clone"):
        solution_source("05.grad_cam", root=tmp_path)


def test_docstring_examples_run():
    import doctest

    from xaikit.exercises import help as help_module

    assert doctest.testmod(help_module).failed == 0
