"""Shared fixtures: paths to the real data beside the checkout, the example data and small simulations."""

from __future__ import annotations

import os
import shutil
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


def pytest_configure(config):
    # pyspark warns on every pandas conversion that it has not certified pandas 3 yet; the tests check results.
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
