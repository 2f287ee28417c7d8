"""The whole report out of core: on the benchmark's generated Parquet tables, the DuckDB and Polars reports'
summary.json equal the pandas report's, and the DuckDB report runs with every collect limited to fewer rows than
the raw tables have (so no raw rows reach pandas)."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from salesplan.engines import engine_of, row_limit
from salesplan.report import build_report, load_config, load_data
from salesplan.report.blocks import Chart

ROOT = Path(__file__).resolve().parents[2]
ROWS = 5_000  # order lines and (about) stage events; the benchmark runs the same generator at 1M and more


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "bench_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", autouse=True)
def charts_drawn_not_encoded() -> Iterator[None]:
    """Every chart is still drawn from the engine's figures, but not encoded as PNG: summary.json, which these
    tests compare, holds no images, and PNG encoding (a third of a small report's time) does not touch the
    engines. Chart output itself is checked by tests/report/test_report_output.py."""
    def from_figure(cls: type[Chart], fig: Any, title: str, caption: str = "", dpi: int = 110) -> Chart:
        width, height = fig.get_size_inches()
        return cls(title=title, png=b"", caption=caption, width_px=int(round(width * dpi)),
                   height_px=int(round(height * dpi)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Chart, "from_figure", classmethod(from_figure))
        yield


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, Path, dict[str, int]]:
    bench = _bench()
    folder = tmp_path_factory.mktemp("out_of_core")
    return bench, folder, bench.generate(ROWS, folder)


def _summary(bench: ModuleType, folder: Path, engine: str, limit: int | None = None) -> dict:
    cfg = load_config(bench.write_config(folder, engine))
    data = load_data(cfg)
    if engine != "pandas":
        assert engine_of(data.stage_events) == {"duckdb": "duckdb", "polars": "polars-lazy"}[engine]
    if limit is None:
        return bench.comparable(build_report(data, cfg).summary())
    with row_limit(limit):
        report = build_report(data, cfg)
    return bench.comparable(report.summary())


@pytest.fixture(scope="module")
def pandas_summary(generated: tuple[ModuleType, Path, dict[str, int]]) -> dict:
    bench, folder, _ = generated
    return _summary(bench, folder, "pandas")


def test_generated_tables_are_large_and_messy(generated, pandas_summary) -> None:
    _, _, counts = generated
    assert counts["orders"] == ROWS and 0.8 * ROWS < counts["stage_events"] < 1.1 * ROWS
    figures = {f["key"]: f["value"] for f in pandas_summary["key_figures"]}
    assert len(figures) >= 5
    quality = " ".join(row["message"] for row in pandas_summary["data_quality"])
    assert "duplicate event" in quality and "negative amount" in quality
    assert not [row for row in pandas_summary["data_quality"] if row["severity"] == "error"
                and "capacity" not in row["message"]]


@pytest.mark.slow
def test_duckdb_report_under_a_row_limit_equals_pandas(generated, pandas_summary,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    bench, folder, counts = generated
    # fewer rows than the order lines and stage events: none of those raw rows can be collected. (The limit is
    # not below the number of deals: the forecast collects the open deals, and at this size the funnel's spell
    # patterns, at hour resolution, are about as many as the deals.)
    limit = min(counts["orders"], counts["stage_events"]) - 1
    with caplog.at_level(logging.INFO, logger="salesplan"):
        got = _summary(bench, folder, "duckdb", limit=limit)
    assert not any("collected into pandas" in r.getMessage() for r in caplog.records)
    assert not any("max_rows" in json.dumps(row) for row in got["data_quality"])
    assert got == pandas_summary


@pytest.mark.slow
def test_polars_report_equals_pandas(generated, pandas_summary) -> None:
    bench, folder, _ = generated
    assert _summary(bench, folder, "polars") == pandas_summary
