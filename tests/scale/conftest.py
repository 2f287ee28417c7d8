"""Fixtures of the cross-engine tests: the engines, one local Spark session for the whole folder, test data."""

from __future__ import annotations

import pytest

from salesplan.engines import ENGINES, to_engine

ALL_ENGINES = list(ENGINES)  # pandas, polars, polars-lazy, pyarrow, duckdb, spark


@pytest.fixture(params=ALL_ENGINES)
def engine(request) -> str:
    """Every supported engine, by name."""
    return request.param


@pytest.fixture
def to_native(engine, request):
    """``to_native(pandas_frame)``: the frame in the engine under test (Spark frames use the shared session)."""
    session = request.getfixturevalue("spark") if engine == "spark" else None

    def convert(frame):
        return to_engine(frame, engine, connection=session)

    return convert


@pytest.fixture(scope="session")
def world():
    """A small simulated company with two processes (acquisition, retention): (data, truth)."""
    from salesplan.datasets import simulate
    from salesplan.process import DEFAULT_PROCESSES

    procs = {k: DEFAULT_PROCESSES[k] for k in ("acquisition", "retention")}
    return simulate(n_customers=60, years=1, seed=3, processes=procs)
