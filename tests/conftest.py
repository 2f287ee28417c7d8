"""Shared fixtures: paths to the real data beside the checkout, the example data and small simulations."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SALESPLAN_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets (../shared/data). Missing data is an error, not a skip: CI has it."""
    if not SHARED_DATA.is_dir():
        raise FileNotFoundError(f"real data folder {SHARED_DATA} not found; set SALESPLAN_SHARED_DATA")
    return SHARED_DATA


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
