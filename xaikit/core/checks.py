"""The checks of :mod:`xaikit.base.checks`, re-exported for the TensorFlow layers.

The checks are NumPy only and live in the floor (:mod:`xaikit.base`), so every layer shares one
copy; the wording of every message is in :mod:`xaikit.base.messages`.
"""

from __future__ import annotations

from xaikit.base.checks import (
    check_array,
    check_images,
    check_int,
    check_maps,
    check_masks,
    check_number,
    check_option,
    check_targets,
    model_input_shape,
    rng,
    warn,
)
from xaikit.base.messages import MESSAGES, message

__all__ = [
    "MESSAGES",
    "check_array",
    "check_images",
    "check_int",
    "check_maps",
    "check_masks",
    "check_number",
    "check_option",
    "check_targets",
    "message",
    "model_input_shape",
    "rng",
    "warn",
]
