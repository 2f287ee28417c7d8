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
