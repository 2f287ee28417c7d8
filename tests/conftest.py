"""Shared fixtures: paths to the real data beside the checkout, the example data and small simulations."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
# The real public data beside this checkout, for the tests and the notebooks they run (unless set otherwise).
os.environ.setdefault("SALESPLAN_SHARED_DATA", str(ROOT.parent / "shared" / "data"))


#: Test folders whose conftest builds costly session fixtures (the demo report, a Spark session): one xdist worker.
_ONE_WORKER_DIRS = ("report", "scale", "control")
#: Files whose tests share nothing costly: spread test by test.
_PER_TEST_FILES = ("test_notebooks.py", "test_doctests.py", "test_docs.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``): keep tests that share fixtures on one worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        rel = Path(str(item.path)).relative_to(ROOT / "tests")
        if rel.parts[0] in _ONE_WORKER_DIRS:
            group = rel.parts[0]
        elif rel.name in _PER_TEST_FILES:
            group = item.nodeid
        else:
            group = rel.as_posix()  # module-scoped fixtures: one file, one worker
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets (SALESPLAN_SHARED_DATA, default ../shared/data). Missing data is an error, not a skip."""
    from salesplan.datasets import shared_data_dir

    return shared_data_dir()


@pytest.fixture(scope="session")
def example_data():
    """The bundled example company (validated SalesData)."""
    from salesplan.datasets import load_example

    return load_example()


@pytest.fixture(scope="session")
def small_world():
    """A small simulated world (data, truth), shared by tests that only read it."""
    from salesplan.datasets import simulate

    return simulate(n_customers=120, years=1.5, seed=7)
