"""Fixtures of the cross-engine tests: the engines, one local Spark session for the whole folder, test data."""

from __future__ import annotations

import os
import shutil

import pytest

from salesplan.engines import ENGINES, to_engine

ALL_ENGINES = list(ENGINES)  # pandas, polars, polars-lazy, pyarrow, duckdb, spark


@pytest.fixture(scope="session")
def spark():
    """A local Spark session tuned for tiny data (started once, stopped at the end of the session).

    pyspark and Java 17 are part of the test environment (the ``spark`` extra, .ci/run installs Java); a missing
    one is an error, not a skip. Set SALESPLAN_NO_SPARK=1 to skip the Spark cases deliberately.
    """
    if os.environ.get("SALESPLAN_NO_SPARK") == "1":
        pytest.skip("SALESPLAN_NO_SPARK=1: Spark cases skipped on purpose")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RuntimeError("pyspark is not installed: pip install -e '.[dev,spark]' (or set SALESPLAN_NO_SPARK=1)"
                           ) from exc
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise RuntimeError("Spark needs Java 17: apt-get install openjdk-17-jre-headless (or set SALESPLAN_NO_SPARK=1)")
    session = (SparkSession.builder.master("local[2]").appName("salesplan-tests")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1").config("spark.default.parallelism", "1")
               .config("spark.sql.adaptive.enabled", "false").config("spark.sql.codegen.wholeStage", "false")
               .config("spark.driver.memory", "1g")
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


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


def pytest_configure(config):
    # pyspark warns on every pandas conversion that it has not certified pandas 3 yet; the tests check results.
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
