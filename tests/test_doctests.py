"""Run the docstring examples of every salesplan module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import salesplan

matplotlib.use("Agg")

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(salesplan.__path__, prefix="salesplan.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
