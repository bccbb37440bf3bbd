"""Class model visualisation (Simonyan et al. 2014), kept here for lesson 02's imports.

Introduced in lesson 02. It is one use of activation maximisation and now lives in
:mod:`xaikit.interpretation.maximization`; this module re-exports it (the one import from
attribution up into interpretation, allowed by name in the import contracts).
"""

from __future__ import annotations

from xaikit.interpretation.maximization import class_model_visualisation

__all__ = ["class_model_visualisation"]
