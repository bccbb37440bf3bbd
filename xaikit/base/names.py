"""Names shared by the data layer, the zoo and the command line."""

from __future__ import annotations

__all__ = ["ZOO_NAMES"]

ZOO_NAMES: tuple[str, ...] = (
    "an8flower-single-6c",
    "an8flower-double-12c",
    "shapes",
    "shapes-two-objects",
    "digits",
)
"""The generated datasets that have a trained zoo model of the same name."""
