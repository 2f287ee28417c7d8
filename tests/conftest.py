"""Shared fixtures: paths to the real data beside the checkout, the example data and small simulations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
# The real public data beside this checkout, for the tests and the notebooks they run (unless set otherwise).
os.environ.setdefault("SALESPLAN_SHARED_DATA", str(ROOT.parent / "shared" / "data"))

# Mutation testing (benchmarks/mutation.py) runs each test file once per mutant: fewer, fixed property examples.
_MUTATION = os.environ.get("SALESPLAN_HYPOTHESIS_PROFILE") == "mutation"
_MUTATION_EXAMPLES = 15
if _MUTATION:
    from hypothesis import Phase, settings

    # no shrinking: a mutant is killed by the first failing example (shrinking it took minutes per mutant)
    settings.register_profile("mutation", max_examples=_MUTATION_EXAMPLES, derandomize=True, deadline=None,
                              phases=(Phase.explicit, Phase.reuse, Phase.generate), database=None)
    settings.load_profile("mutation")
    # imported here, in mutmut's fork server, so that each mutant's fork does not import them again (1-2 s each);
    # importing starts no thread pool (using them would, and a fork of that process could deadlock)
    import duckdb  # noqa: F401
    import narwhals  # noqa: F401
    import polars  # noqa: F401


#: Test folders whose conftest builds costly session fixtures (the demo report, a Spark session): one xdist worker.
_ONE_WORKER_DIRS = ("report", "scale", "control")
#: Files whose tests share nothing costly: spread test by test.
_PER_TEST_FILES = ("test_notebooks.py", "test_doctests.py", "test_docs.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``): keep tests that share fixtures on one worker.

    Under the mutation profile, a test's own ``@settings(max_examples=...)`` is capped at the profile's count too
    (an explicit count overrides a profile; 150-200 property examples per mutant left most mutants unreached).
    """
    if _MUTATION:
        _cap_property_examples(items)
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        rel = Path(str(item.path)).relative_to(ROOT / "tests")
        if rel.parts[0] in _ONE_WORKER_DIRS:
            group = rel.parts[0]
        elif rel.as_posix() == "reduce/test_consistency_engines.py":
            group = "scale"  # shares the Spark session (and its JVM warm-up) with tests/scale
        elif rel.name in _PER_TEST_FILES:
            group = item.nodeid
        else:
            group = rel.as_posix()  # module-scoped fixtures: one file, one worker
        item.add_marker(pytest.mark.xdist_group(group))


def _cap_property_examples(items: list[pytest.Item]) -> None:
    """Cap the examples of every hypothesis test at the mutation profile's count, without shrinking (mutation
    runs only)."""
    from hypothesis import settings

    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)  # where @settings stores a test's settings
        if own is not None:
            test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
                own, max_examples=min(own.max_examples, _MUTATION_EXAMPLES), derandomize=True,
                phases=settings.get_profile("mutation").phases, database=None)


def _save_executed_notebook(nb, source: Path) -> Path:
    """Write an executed notebook to docs/examples/ for the docs, stamped with the SHA-256 of its source."""
    import hashlib

    import nbformat

    nb.metadata["salesplan"] = {"source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    folder = ROOT / "docs" / "examples"  # git-ignored; docs/_ext/salesplan_docs.py refuses stale copies
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{source.name}.tmp"
    nbformat.write(nb, tmp)
    return tmp.replace(folder / source.name)


def notebook_display_problems(nb) -> list[str]:
    """What a reader of an executed notebook would see instead of a chart (see tests/test_notebooks.py).

    A cell whose value (or a ``display`` call) is a matplotlib Axes or Figure must carry a PNG; no output may show
    matplotlib's text placeholder ``<Figure size ...>``.
    """
    import re

    chart_repr = re.compile(r"^(<Figure size|<Axes|<matplotlib\.|\[chart: )")
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = out.get("text", "") + data.get("text/plain", "")
            if "<Figure size" in text:
                problems.append(f"cell {index}: shows {text.strip()[:60]!r} instead of the chart")
            elif chart_repr.match(data.get("text/plain", "")) and "image/png" not in data:
                problems.append(f"cell {index}: a chart without a PNG ({data['text/plain'][:60]!r})")
    return problems


@pytest.fixture(scope="session")
def display_problems():
    """The check of executed notebooks for charts shown as text (:func:`notebook_display_problems`)."""
    return notebook_display_problems


@pytest.fixture(scope="session")
def save_executed_notebook():
    """The function that keeps an executed notebook for the docs (tests/test_notebooks.py, test_packaging.py)."""
    return _save_executed_notebook


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


@pytest.fixture(scope="session")
def history_world():
    """A simulated company of two and a half years with its deal history and forecast calls (data, truth), shared
    by the tests of forecast accountability (deal history, waterfall, calls, win probability) that only read it.

    Seed 7: on it the per-deal forecast is about as sharp as the stage forecast, as
    tests/forecast/test_win_probability.py requires (on seed 11 its ranked probability score was 20% above the
    stage forecast's); one world for all of them saves a simulation per session."""
    from salesplan.datasets import simulate

    return simulate(n_customers=40, years=2.5, seed=7, creation_scale=2)


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
