"""Run the docstring examples of every salesplan module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import salesplan

matplotlib.use("Agg")

#: The package itself (walk_packages lists only what is below it) and every module below it.
MODULES = ["salesplan", *sorted(
    m.name for m in pkgutil.walk_packages(salesplan.__path__, prefix="salesplan.") if not m.name.endswith("__main__")
)]


#: Modules without examples, and why. Every other module must have at least one example (a module without any
#: would pass ``failed == 0`` trivially).
WITHOUT_EXAMPLES = {
    "salesplan.plot": "package index: re-exports the plot functions, whose modules have the examples",
    "salesplan.reduce": "package index: re-exports the reducers, whose modules have the examples",
    "salesplan.io._common": "private helpers of the readers, tested through them in tests/io",
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if name in WITHOUT_EXAMPLES:
        assert result.attempted == 0, f"{name} has examples now: remove it from WITHOUT_EXAMPLES"
        if WITHOUT_EXAMPLES[name].startswith("package index"):  # defines nothing of its own
            own = [n for n in getattr(module, "__all__", []) if getattr(getattr(module, n), "__module__", "") == name]
            assert not own, f"{name} defines {own} without examples"
    else:
        assert result.attempted > 0, f"{name} has no docstring example"
