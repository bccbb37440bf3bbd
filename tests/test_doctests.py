"""Every docstring example in the package runs (``Examples`` sections are doctests).

Modules are listed without importing them (collection stays fast); each test imports one module
and runs its examples (those defined in it, not re-exported ones).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import xaikit

MODULES = sorted(info.name for info in pkgutil.walk_packages(xaikit.__path__, "xaikit.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples
             and getattr(t, "filename", None) == getattr(module, "__file__", None)]
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)
