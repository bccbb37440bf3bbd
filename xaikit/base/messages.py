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
    "int_range": "{name}={value!r} must be an int in [{minimum}, {maximum}]",
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
    # ---------------------------------------------------------------- ground truth (metrics)
    "parts_empty": "{name}: image(s) {indices} have no annotated part (every label is the "
    "background {background}); drop those images or fix the labels",
    "top_k": "k={k} is larger than the {n_pixels} pixels of each map; choose k <= {n_pixels}",
    "segments_nested": "layers {layers} are inside a nested model of {model!r}; allowed: "
    "top-level layers {top} (or cut the nested model itself)",
    "segments_bypass": "cannot cut {model!r} before {layer!r}: part of the network bypasses the "
    "previous cut (a skip connection, or a layer also called in another model); allowed: layers, "
    "used once, through which all of the input's information flows",
    "targets_unpredicted": "targets=None needs the predicted classes; pass predicted= (the "
    "argmax of the model's output) or explicit targets",
    # ---------------------------------------------------------------- models and surgery (core)
    "not_a_model": "{name} must be a keras.Model; got {got}",
    "subclassed": "{what}: {model} is a subclassed model without a layer graph; allowed: "
    "Sequential or functional models (build the layers with keras.Input)",
    "subclassed_logits": "model {model!r} is subclassed: xaikit cannot see, strip or add a softmax "
    "inside its call(), so on={on!r} explains what call() returns; return logits from call() "
    "for the class score before the softmax",
    "model_empty": "model {model!r} has no layers; expected a classifier",
    "logits_outputs": "logits_model: model {model!r} has {count} outputs; expected a single-output "
    "classifier; pick one with output= (or keras.Model(model.inputs, model.outputs[0]))",
    "logits_activation": "logits_model: the output layer {layer!r} ({kind}) applies activation "
    "{activation!r}; expected a softmax or sigmoid (an Activation/Softmax layer or a Dense layer "
    "with activation='softmax'|'sigmoid') or a linear output",
    "output_single": "output={output!r} given but model {model!r} has a single output; allowed: "
    "None or 0",
    "output_missing": "model {model!r} has {count} outputs {names}; pass output= one of "
    "0..{last} or a name from {names}",
    "output_unknown": "output={output!r} is not an output of the model; allowed: 0..{last} or a "
    "name from {names}",
    "output_rank": "model {model!r} outputs shape {shape}; xaikit explains classifiers with an "
    "(N, K) output",
    "no_spatial_layer": "model {model!r} has no layer with a 4-D (N, h, w, k) output; pass layer= "
    "one of: {layers}",
    "layer_foreign": "layer {layer!r} is not part of model {model!r}; pass a layer of the model, "
    "its name or its index",
    "layer_index": "layer index {index} is out of range; model {model!r} has {count} layers "
    "(allowed {low}..{high})",
    "layer_name": "no layer named {layer!r} in model {model!r}; layers with a 4-D output: "
    "{spatial}; all layers: {layers}",
    "layer_type": "layer={value!r} is not allowed; allowed: a name, an int index, a Layer or None",
    "layer_not_spatial": "layer {layer!r} has output shape {shape}; this method needs a spatial "
    "layer with a 4-D (N, h, w, K) output; allowed: {allowed}",
    "layer_reused": "layer {layer!r} is called {count} times in {model!r}; allowed: a layer used "
    "exactly once",
    "layer_gradient_disconnected": "{model}: the explained output's gradient does not reach the "
    "tapped layer's activations; Keras 3 does not connect the output of a weightless layer that "
    "sits directly on the model's input (e.g. Flatten as the first layer): choose a later layer",
    "layer_not_feeding": "layer {layer!r} does not feed the explained output of {model!r}; pick a "
    "layer on the path to that output",
    "rule_activations": "{rule} defines a backward rule for ReLU and ReLU6 only; layers {layers} "
    "use other activations. Allowed: ReLU, ReLU(max_value=6), Activation('relu' | 'relu6'), "
    "activation='relu' | 'relu6'; pass allow_other_activations=True to keep their ordinary "
    "gradients",
    "rule_layer": "layer {layer!r} ({kind}) has activation={activation!r} but is not a Dense, Conv "
    "or DepthwiseConv2D layer; allowed: those, ReLU layers and Activation layers",
    "chain_merge": "layer {layer!r} has {count} inputs; relevance propagation supports Sequential "
    "and linear-chain functional models only (no skip connections or merges)",
    "chain_branch": "layer {layer!r} does not take the previous layer's output; relevance "
    "propagation supports linear-chain models only (no branches)",
    "chain_batch_norm": "BatchNormalization {layer!r} normalises axis {axis}; only the last "
    "(channels) axis is supported",
    "chain_activation": "layer {layer!r} ({kind}) has activation {activation!r}; relevance "
    "propagation supports 'relu' and 'linear' only",
    "chain_conv": "Conv2D {layer!r} has groups={groups}, data_format={data_format!r}; only "
    "groups=1 and 'channels_last' are supported",
    "chain_relu": "ReLU {layer!r} has a slope, threshold or max_value; only the plain ReLU is "
    "supported",
    "chain_layer": "cannot propagate relevance through layer {layer!r} ({kind}); supported: "
    "{supported}",
    "cam_no_gap_dense": "cam needs a conv -> GlobalAveragePooling2D -> Dense head (Zhou et al. "
    "2016): model {model!r} has no Dense layer with a ({channels}, {classes}) kernel after the "
    "chosen layer's {channels} channels; use grad_cam, which equals CAM on such nets and works on "
    "any architecture",
    "logits_look_like_probabilities": "the explained output looks like softmax probabilities "
    "(rows sum to 1) but no final softmax layer was found to strip; gradients of probabilities "
    "saturate. Make the model end in a Dense(name='logits') + Activation('softmax') head",
    "probability_gradients": "explaining post-softmax probabilities: their gradients couple every "
    "class and vanish when the softmax saturates; the default on='logits' explains the class "
    "score before the softmax",
    "baseline_shape": "baseline of shape {shape} does not broadcast to the images' shape "
    "{images}; allowed: {allowed}, a number, or an array of shape (C,), (H, W, C) or (N, H, W, C)",
    "no_attribute": "module {module!r} has no attribute {name!r}",
    # ---------------------------------------------------------------- attribution methods
    "method_unknown": "unknown attribution method {name!r}; allowed: {allowed}",
    "method_registered": "attribution method {name!r} is already registered; pick another name",
    "exclusive": "{first}=True and {second}=True are exclusive; allowed: one of them or neither",
    "noise_count": "noise has {got} images; expected n_samples * N = {n_samples} * {n_images} "
    "(shape (n_samples, N, H, W, C) = ({n_samples}, {n_images}, {shape}))",
    "fixed_input_size": "{what} needs a model with a fixed input size; the model's input shape "
    "is {shape}; build it with keras.Input((H, W, C))",
    "cam_not_gap": "cam: the output of the chosen layer does not reach the logits through global "
    "average pooling and the Dense layer {layer!r} alone (mean CAM + bias differs from the logit "
    "by up to {gap}); CAM needs conv -> GlobalAveragePooling2D -> Dense (Zhou et al. 2016). Use "
    "grad_cam, which works on any architecture and equals CAM (up to a positive scale) on GAP nets",
    "occlusion_layer": "layer= and channel= apply to panel='activation' only; got panel={panel!r}",
    "patch_size": "patch={patch} is larger than the images ({height}x{width}); use a patch of at "
    "most min(H, W) pixels",
    "single_superpixel": "image {index} has a single superpixel from {how}; {method} needs at "
    "least 2: raise n_segments, use segmentation='grid' or pass a segments array",
    "lrp_zb_everywhere": "rule 'zb' is the pixel-layer rule (input box [low, high]); use it for "
    "the first layer only (rules key 0) and another rule elsewhere",
    "lrp_rules_index": "rules key {entry} is out of range: the model has {count} Conv2D/Dense layers "
    "(positions 0..{last}, or negative from the end)",
    "lrp_rules_key": "rules key {entry!r} is neither a layer name nor an int position; layer names: "
    "{names}",
    "lrp_zb_layers": "rule 'zb' is the pixel-layer rule; it was asked for {layers}, which is not "
    "the first Conv2D/Dense layer",
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
    # ---------------------------------------------------------------- data (xaikit.data)
    "imageset_images": "ImageSet.images has shape {shape}; expected (N, H, W, C); add a channel "
    "axis with images[..., None] for grey images",
    "imageset_dtype": "ImageSet.images has dtype {dtype}; expected float32 in [0, 1]; convert "
    "uint8 images with images.astype('float32') / 255",
    "imageset_range": "ImageSet.images range over [{low}, {high}]; expected values in "
    "[0, 1]; rescale the images first",
    "imageset_labels": "ImageSet.labels has shape {shape} and dtype {dtype}; expected integer "
    "class indices of shape ({n},)",
    "imageset_label_range": "ImageSet.labels range over [{low}, {high}] but there are {count} "
    "class names; labels must lie in [0, {last}]",
    "imageset_mask": "ImageSet.{name} has shape {shape} and dtype {dtype}; expected bool "
    "{expected}",
    "imageset_boxes": "ImageSet.boxes has shape {shape}; expected ({n}, 4) or ({n}, K, 4) as "
    "(y0, x0, y1, x1)",
    "imageset_meta": "ImageSet.meta[{entry!r}] is an array of shape {shape}; arrays in meta are "
    "per-sample and need first axis {n}; store set-wide values as lists",
    "imageset_index": "index has shape {shape} and dtype {dtype}; expected a 1-D int array, a "
    "boolean mask of shape ({n},) or a slice",
    "split_fractions": "split fractions {values} must be non-negative and sum to 1, e.g. "
    "(0.8, 0.2) or {{'train': 0.8, 'val': 0.1, 'test': 0.1}}",
    "keras_dataset_missing": "{what} is not in the Keras cache and downloads are off: put {file} "
    "(from {url}) at {path}, or call xaikit.data.{loader}(allow_download=True) on a machine with "
    "internet",
    "unpickle_refused": "refusing to load {module}.{name} from a CIFAR file; allowed: NumPy "
    "arrays and built-in containers",
    "not_a_folder": "image_folder: {path} is not a folder; pass a folder holding one subfolder "
    "of images per class",
    "no_images": "image_folder: no images found in {path} (looked for {suffixes} files in each "
    "class subfolder, or directly in the folder)",
    "unreadable_image": "image_folder: cannot read {path} ({error})",
    "image_sizes": "image_folder: images in {path} have different sizes {sizes}; pass size=N to "
    "resize them all to N x N",
    "image_array": "cannot use {path}: an image array of shape {shape} is neither grey nor "
    "RGB(A); expected (H, W), (H, W, 3) or (H, W, 4)",
    "image_range": "cannot use {path}: float pixel values lie in [{low}, {high}]; "
    "expected [0, 1]",
    "zoo_recipe_fixed": "{name} is a fixed zoo recipe, so --n-per-class/--seed/--size do not "
    "apply; drop them, or call the generator: xaikit data {hint} --n-per-class N --seed S",
    "needs_option": "{what} needs {option}",
    # ---------------------------------------------------------------- models (xaikit.models)
    "images_range": "{name} range over [{low}, {high}]; expected [0, 1]{fix}",
    "imageset_type": "{name} must be an xaikit.data.ImageSet; got {got}",
    "data_shape": "{name} images have shape {got} per image but model {model!r} expects "
    "{expected}; load the data at the model's size",
    "data_classes": "{name} has {got} classes but model {model!r} has {expected} outputs; use "
    "data with the model's classes or build the model with n_classes={got}",
    "multi_hot_missing": "model {model!r} has a sigmoid (multi-label) output but the data "
    "{data!r} has no meta['multi_hot'] (N, K) targets; train a softmax head on single labels, or "
    "give the data its multi-hot targets",
    "train_activation": "model {model!r} ends in activation {activation!r}; train() handles "
    "softmax, sigmoid (multi-label) or linear (logits) outputs; compile the model yourself for "
    "another loss",
    "weights_missing": "pretrained({name!r}) needs the ImageNet weight file {file}, which is not "
    "at {path} and cannot be downloaded here: download {url} on a machine with internet and put "
    "it in {folder}/ (or pass weights_path=)",
    "weights_unloadable": "pretrained({name!r}): cannot load weights from {path} ({error}); "
    "expected the keras.applications file {file}",
    "checkpoint_mismatch": "training checkpoint {path}: its optimizer state does not match the "
    "model; training starts afresh",
    "worker_failed": "a training worker failed; its traceback:\n{traceback}",
    "worker_died": "a training worker (pid {pid}) ended with code {code}; its last output:\n"
    "{output}",
    "class_index_missing": "decode_predictions needs the ImageNet class index {file}, which is "
    "not at {path}: download {url} and put it in {folder}/ (or pass class_index_path=)",
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
    # ---------------------------------------------------------------- interpretation (issue 17)
    "layer_calls": "layer {layer!r} is called {count} time(s) in the model; allowed: a "
    "layer called exactly once (each call has its own activations: probe one that is not shared)",
    "not_spatial": "{what}: layer {layer!r} has output shape {shape}; expected a spatial "
    "(N, h, w, K) output; spatial layers: {candidates}",
    "rf_layer": "receptive_field: layer {layer!r} ({kind}) {reason}; allowed: Conv2D, "
    "DepthwiseConv2D, SeparableConv2D (padding 'valid' or 'same'), MaxPooling2D, "
    "AveragePooling2D, ZeroPadding2D, Cropping2D and layers that keep the grid "
    "(BatchNormalization, activations, Dropout, Add, Concatenate, ...)",
    "units": "units={value!r} is not allowed; layer {layer!r} has {count} channels: give an int "
    "or a sequence of ints in 0..{last}",
    "top_images": "k={value!r} must be an int in 1..{n} (the number of images)",
    "objective": "{name}: expected an Objective (channel, unit, class_score, l2_decay, "
    "total_variation, ...) or a number; got {got}",
    "objective_batch": "objectives ask for different numbers of images ({sizes}); combine "
    "objectives over the same number of units, or over one unit",
    "no_conv": "model {model!r} has no Conv2D layer; pass layer= the name of a convolution "
    "(layers: {candidates})",
    "concept_count": "concepts hold masks of {got} images but data holds {expected}; build "
    "them from the same ImageSet (concepts(dataset))",
    "concept_dataset": "concepts(): {name!r} has no {what}; allowed: an ImageSet made by "
    "xaikit.data.an8flower or xaikit.data.shapes (or load() of their zoo entries)",
    "concept_names": "{name}={value!r} names no concept; concepts: {allowed}",
    "dissection_resume": "network_dissection: not resuming from {path} ({reason}); starting "
    "afresh and replacing it (give another checkpoint folder to keep it)",
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
    # ---------------------------------------------------------------- self-study help (issue 23)
    "exercise_unknown": "no exercise {got!r}; allowed: {allowed}",
    "exercise_no_hint": "exercise {id} has no hint yet; read the task above the stub again and "
    "run its check to see which case fails",
    "solution_locked": "{id}: reference solutions are shown in self-study mode only; in a clone "
    "of the repository, set {env}=1 (e.g. `{env}=1 jupyter lab`, or os.environ[{env!r}] = '1' "
    "before calling solution) to see it. Try hint({id!r}) first",
    "solution_missing": "{id}: the reference solution {file} is not in this copy of the kit "
    "(looked in {folder}); self-study needs a clone of the repository: git clone REPO, then "
    "make venv",
    "solution_function": "{file} does not define {function}(); the exercise's reference names "
    "a function the solutions file must define",
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
    # ---------------------------------------------------------------- by design (lesson 15)
    "bottleneck_model": "model {model!r} is not a concept bottleneck model: expected layers "
    "'concepts', 'label_logits' and 'label'; build it with xaikit.models.bottleneck_model or "
    "train it with xaikit.models.train_bottleneck",
    "concept_values": "{name} must hold concept values in [0, 1]; got values in [{low}, {high}]",
    "intervene_k": "k={k!r} must be an int in [0, {n_concepts}] (the number of concepts)",
    # ---------------------------------------------------------------- interpretation: concepts,
    # representations, surrogates, examples (issue 18)
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


def message(key: str, /, **values: Any) -> str:
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
