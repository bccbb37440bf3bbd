"""The one message table: every error xaikit raises is worded here.

A message says the argument's **name**, what was **expected**, what was **got**, and how to **fix**
it (scikit-learn's ``check_array`` style).  Code raises with::

    raise ValueError(message("int", name="steps", value=steps, minimum=1))

Keys are grouped by area; each area owns its block.  ``tests/test_messages.py`` formats every key
with the fields its template names, so a template can never fail at the moment it is needed.

Examples
--------
>>> message("int", name="steps", value=0, minimum=1)
'steps=0 must be an int >= 1'
>>> message("expected", name="maps", expected="an array (N, H, W)", got="shape (4, 4)",
...         fix="; use maps[None] for a single map")
'maps: expected an array (N, H, W); got shape (4, 4); use maps[None] for a single map'
"""

from __future__ import annotations

import string
from typing import Any

__all__ = ["MESSAGES", "fields", "message"]

MESSAGES: dict[str, str] = {
    # ---------------------------------------------------------------- generic
    "expected": "{name}: expected {expected}; got {got}{fix}",
    "option": "{name}={value!r} is not allowed; allowed: {allowed}",
    "int": "{name}={value!r} must be an int >= {minimum}",
    "number": "{name}={value!r} must be a finite number{range}",
    "seed": "seed={value!r} is not allowed; allowed: None, an int or a numpy Generator",
    "env": "environment variable {name}={value!r} is not understood; allowed: {allowed}",
    "batch_size": "batch_size={value!r} must be an int >= 1",
    # ---------------------------------------------------------------- arrays, images, maps, masks
    "type": "{name} must be a NumPy array or tensor of numbers; got {got}",
    "rank": "{name} has shape {shape}; expected a batch of images (N, H, W, C){fix}",
    "empty": "{name} is empty (shape {shape}); expected at least one image",
    "channels": "{name} has {got} channel(s); the model expects {expected} "
    "(model input shape {model_shape})",
    "size": "{name} has spatial size {got}; the model expects {expected} "
    "(model input shape {model_shape})",
    "finite": "{name} contains {count} NaN or infinite value(s); all values must be finite",
    "map_rank": "{name} has shape {shape}; expected maps (N, H, W){fix}",
    "map_count": "{name} holds {got} map(s) but there are {expected} image(s); give one map per "
    "image",
    "map_size": "{name} has spatial size {got}; expected {expected} (the images' size); "
    "upsample the maps first (e.g. xaikit.base.resize.resize_bilinear(maps, {expected}))",
    "mask_empty": "{name}: mask(s) {indices} are empty; every image needs at least one "
    "foreground pixel (drop those images or fix the masks)",
    "mask_values": "{name} must hold booleans or 0/1 values; got values in [{low}, {high}]",
    "model_input": "the model's input shape is {shape}; xaikit explains image models with a "
    "single (N, H, W, C) input",
    "model_shape_unknown": "cannot read the input shape of {model}; build the model with "
    "keras.Input(shape=(H, W, C)) or call it once on a batch",
    "model_inputs": "the model has {count} inputs; xaikit explains single-input models",
    # ---------------------------------------------------------------- targets
    "target_type": "targets={got!r} is not understood; allowed: None (the predicted class), an "
    "int, a list/array of N ints (one per image), or a contrastive pair (A, B) as a tuple",
    "target_count": "targets has {got} entries but there are {n_images} images; give one int "
    "per image, a single int, or None",
    "target_range": "target class(es) {bad} out of range; the model has {n_classes} classes, "
    "allowed 0..{last}",
    # ---------------------------------------------------------------- grading: a semester
    # (issue 24: identities, records, regrades, overrides, handouts, Gradescope, reports)
    "grade_no_submissions": "no .ipynb or .py submissions found in {paths}",
    "grade_seed_empty": "{where} is empty; give a non-empty secret string",
    "grade_no_seed": "no grader seed: pass --seed, set ${env} or create {path}",
    "grade_lesson_number": "--lesson must be a lesson number such as 01 or 5; got {got!r}",
    "grade_lesson_empty": "lesson {lesson} has no exercises; lessons with exercises: {known}",
    "grade_seed_changed": "{out} was graded with the seed of fingerprint {previous}, but this "
    "run's seed has fingerprint {current}: the hidden cases would differ from the other "
    "students'. Use the same seed (--seed-file, $XAIKIT_GRADER_SEED), or pass --new-seed to "
    "grade with this one (the other records are then marked stale until regraded)",
    "grade_regrade_unknown": "--regrade {got}: lesson {lesson} has the exercises {known} (or use "
    "--regrade changed)",
    "grade_fraction": "{name}={value!r} must be in [0, 1] ({meaning})",
    "grade_pick": "--pick {student} {sha}: expected exactly one submission of {student} in "
    "lesson {lesson} whose hash starts so; got {count} (submissions: {shown})",
    "grade_unknown_student": "{flag}: no student {student!r} graded in lesson {lesson} in {out} "
    "(graded: {known})",
    "grade_override_points": "--override: points must be between 0 and {maximum} for "
    "{exercise}; got {got}",
    "grade_override_why": "--override needs --why \"...\": the student reads the reason",
    "grade_lesson_required": "--lesson is required (e.g. --lesson 02), except with --report",
    "roster_no_id": "roster {path}: no student id column; expected one of {expected}; got {got}",
    "roster_empty_id": "roster {path}, line {line}: the student id is empty",
    "roster_duplicate": "roster {path}: student ids appear twice: {ids}",
    "release_lesson_missing": "--lesson {missing}: no such lesson in {folder} (lessons: "
    "{available})",
    "release_not_empty": "{out} exists and is not empty; choose a new folder (or pass --force to "
    "replace an earlier student bundle)",
    "release_leak": "the student bundle would reveal solutions: {problems}",
    "release_oracle_id": "line {line}: Exercise(...) needs a literal id= so that the release can "
    "replace its oracle by released expected values",
    "gradescope_reference": "lesson {lesson}: {path} is missing; the autograder bundle needs the "
    "reference solutions",
    "gradescope_seed": "{reason}; the bundle must use the seed you grade with locally (pass "
    "--new-seed to create one now)",
    "report_empty": "{out} holds no graded records; grade a lesson into it first",
    "report_lesson": "{out} holds no records of lesson {lesson} (lessons graded: {graded})",
    # ---------------------------------------------------------------- files
    "file_missing": "{what} {path} does not exist{fix}",
    "file_corrupt": "{what} {path} is damaged ({reason}){fix}",
    # ---------------------------------------------------------------- pretrained weights (issue 21)
    "package_missing": "{what} needs the package {package}, which is not installed; install it: "
    "pip install {package}",
    "pth_not_legacy": "{path} is not a PyTorch file in the legacy format ({reason}); the reader "
    "reads files written by torch.save before torch 1.6 or with "
    "_use_new_zipfile_serialization=False",
    "pth_global": "refusing global {module}.{name} in a .pth file: the file is data, never code; "
    "allowed: {allowed}",
    "weights_unused": "{what} holds tensors the architecture does not use: {keys}; pass the "
    "weights of {model}",
    "pretrained_fixed": "pretrained({name!r}) has one configuration ({config}); got {got}: leave "
    "them at their defaults{fix}",
    # ---------------------------------------------------------------- sanity checks (lesson 08)
    "model_copy": "cannot copy the {model} model with its weights ({reason}); allowed: "
    "Sequential or functional models built with keras.Input (nested ones too); a subclassed "
    "model has no layer graph to clone",
    "initializer_missing": "layer {layer!r}: no initializer for its weight {weight!r} (looked "
    "for the attribute {attribute!r}); randomisation re-draws every weight from its layer's own "
    "initializer, so give the layer one or leave it out with layers=[...]",
    "randomise_layers": "layers={got!r}: {problem}; allowed: names of layers holding weights, "
    "in forward order: {allowed}",
    "shift_layer": "cannot compensate a constant input shift in layer {layer!r} ({kind}): "
    "{reason}; allowed first layers: Dense, or Conv1D/2D/3D with padding='valid' and a bias, "
    "after Flatten/Reshape/Dropout only",
    "shift_check": "the shift-compensated model does not reproduce the logits (max difference "
    "{gap}); the layers before {layer!r} are not a simple chain from the input",
    # ---------------------------------------------------------------- grading sandbox
    "sandbox_option": "--sandbox={value!r} is not allowed; allowed: {allowed}",
    "sandbox_refused": "the grader refuses to run students' code here: {reason}. {install} "
    "Or accept the risk with --unsafe-no-sandbox (it is then printed in every feedback file and "
    "in grades.csv). `xaikit grade --check-sandbox` shows what this machine offers.",
    "sandbox_start": "the sandbox could not start: {reason}",
    "sandbox_fork": "the zygote could not fork a sandbox ({reply})",
    "sandbox_bwrap": "bwrap is not installed (bash scripts/install_sandbox.sh installs it)",
    "sandbox_kernel": "the kernel refused {call}",
    "sandbox_forbidden_unknown": "forbidden name {name!r} does not exist ({error}); list kit functions "
    "such as 'xaikit.attribution.grad_cam'",
    "sandbox_forbidden_not_function": "forbidden name {name!r} is {kind}, not a kit function; the grader "
    "removes only functions (and methods) defined in the xaikit package",
    "sandbox_forbidden_outside_kit": "forbidden name {name!r} is defined in {path}, outside the xaikit "
    "package; the grader can only remove the kit's own functions",
    "sandbox_forbidden_call": "calling {name} is not allowed in this graded exercise: the exercise asks "
    "you to implement it yourself",
    "sandbox_protocol_int": "an integer of {digits} digits (at most {limit})",
    "sandbox_protocol_number": "a number that is not finite ({text})",
    "sandbox_protocol_constant": "{text} is not JSON",
    "sandbox_protocol_utf8": "a message that is not UTF-8",
    "sandbox_protocol_json": "malformed JSON ({reason})",
    "sandbox_protocol_depth": "a message nested too deeply",
    "sandbox_protocol_count": "a message with more than {limit} values",
    "sandbox_protocol_event": "a message without a known event",
    "sandbox_protocol_unexpected": "unexpected field {field!r} in {event}",
    "sandbox_protocol_field": "field {field!r} of {event} is malformed",
    "sandbox_protocol_lacks": "{event} lacks {fields}",
    "sandbox_protocol_order": "{event} was not expected after {state}",
    "sandbox_protocol_sequence": "{what} out of order",
    "sandbox_protocol_output": "the output description is malformed ({part})",
    "sandbox_protocol_array": "an array {problem}",
    "sandbox_protocol_frames": "more messages than the cases explain ({limit})",
    "sandbox_protocol_frame_size": "a frame too large ({json} + {payload} bytes)",
    # ---------------------------------------------------------------- interpretation: concepts,
    # representations, surrogates, examples (issue 18)
    "layer_reused_tap": "layer {layer!r} is called more than once in {model!r}; allowed: layers "
    "used exactly once (each call has its own activations)",
    "tail_nested": "tail_model: layer {layer!r} sits inside a nested model of {model!r}; allowed: "
    "a layer of the top-level graph",
    "tail_graph": "tail_model: the part of {model!r} after layer {layer!r} needs more than that "
    "layer's output ({error}); allowed: a layer that every path to the output goes through",
    "concept_sizes": "{name}: {what}; got {got}{fix}",
    "activation_rows": "{name} has {got} row(s) but {other} has {expected}; both must describe "
    "the same images, in the same order",
}


def fields(key: str) -> list[str]:
    """The field names the template ``key`` needs (used by the table's own test)."""
    return [name for _, name, _, _ in string.Formatter().parse(MESSAGES[key]) if name]


def message(key: str, **values: Any) -> str:
    """The text of message ``key`` filled with ``values``.

    Parameters
    ----------
    key : str
        A key of :data:`MESSAGES`.
    **values
        The fields the template names (see :func:`fields`).

    Returns
    -------
    str
        The message.

    Raises
    ------
    KeyError
        ``key`` is not in the table, or a field is missing (a programming error, caught by the
        table's test).
    """
    if key not in MESSAGES:
        raise KeyError(f"no message {key!r} in xaikit.base.messages.MESSAGES")
    return MESSAGES[key].format(**values)
