"""``[data] engine`` of the report config: DuckDB and Polars reductions give the pandas report's figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from salesplan import ConfigError
from salesplan.analysis import Analysis
from salesplan.datasets import load_example
from salesplan.engines import engine_of
from salesplan.report import build_report, load_config, load_data
from salesplan.report.config import EXAMPLE_CONFIG, parse_config
from salesplan.report.context import ReportContext

TABLES = ("customers", "orders", "opportunities", "stage_events", "activities", "targets")
RATE_COLUMNS = ["process", "stage", "entered", "advanced", "lost", "open", "rate", "rate_low", "rate_high"]


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("engine")
    data = load_example()
    (folder / "data").mkdir()
    for table in TABLES:
        frame = getattr(data, table)
        frame.to_parquet(folder / "data" / f"{table}.parquet", coerce_timestamps="us",
                         allow_truncated_timestamps=True)
    frame = data.orders
    frame.to_csv(folder / "data" / "orders.csv", index=False)
    return folder


def _config(folder: Path, engine: str, *, extra: str = "", orders: str = "data/orders.parquet") -> Path:
    lines = ['[report]', 'seed = 7', 'sections = ["overview", "forecast"]', extra,
             '[forecast]', 'backtest = false', '[data]', f'engine = "{engine}"']
    lines += [f'{t} = "{orders if t == "orders" else f"data/{t}.parquet"}"' for t in TABLES]
    path = folder / f"report_{engine}_{abs(hash((extra, orders)))}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(folder: Path, engine: str) -> tuple[dict, Analysis]:
    cfg = load_config(_config(folder, engine))
    data = load_data(cfg)
    analysis = ReportContext.create(data, cfg).analysis
    report = build_report(data, cfg, analysis=analysis)
    return report.summary(), analysis


@pytest.fixture(scope="module")
def pandas_run(parquet_dir: Path) -> tuple[dict, Analysis]:
    return _run(parquet_dir, "pandas")


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_engine_report_equals_pandas(parquet_dir: Path, pandas_run: tuple[dict, Analysis], engine: str,
                                     caplog: pytest.LogCaptureFixture) -> None:
    ref_summary, ref = pandas_run
    with caplog.at_level("INFO", logger="salesplan.report"):
        summary, ctx = _run(parquet_dir, engine)
    # the reductions really got lazy frames of the engine (not the pandas tables)
    frames = ctx.engine_frames
    expected = {"duckdb": "duckdb", "polars": "polars-lazy"}[engine]
    assert {t: engine_of(frames[t]) for t in ("orders", "stage_events", "activities")} == dict.fromkeys(
        ("orders", "stage_events", "activities"), expected)
    assert engine_of(ctx.data.stage_events) == expected  # the SalesData itself holds the lazy tables
    assert engine_of(frames["opportunities"]).startswith(engine)
    # the large tables stay in the engine: nothing is collected into pandas for single rows any more
    assert not any("collected into pandas" in r.getMessage() for r in caplog.records)
    assert any("read through summaries only" in r.getMessage() for r in caplog.records)

    # funnel: the conversion table (counts exactly, rates to rounding)
    got, want = ctx.funnel.rates[RATE_COLUMNS], ref.funnel.rates[RATE_COLUMNS]
    assert len(want) > 10
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(ctx.funnel.win_rate, ref.funnel.win_rate, check_exact=False, rtol=1e-9)
    # activity ratios (reduced in the engine from the lazy activities)
    keys = ["process", "stage", "kind"]
    acts = ctx.funnel.activity_ratios.sort_values(keys).reset_index(drop=True)
    ref_acts = ref.funnel.activity_ratios.sort_values(keys).reset_index(drop=True)
    assert int(ref_acts["activities"].sum()) > 0
    pd.testing.assert_frame_equal(acts, ref_acts, check_exact=False, rtol=1e-9)

    # contracts won, the headline figures and the forecast's expected value
    pd.testing.assert_frame_equal(ctx.attainment, ref.attainment)
    figures = {f["key"]: f["value"] for f in summary["key_figures"]}
    ref_figures = {f["key"]: f["value"] for f in ref_summary["key_figures"]}
    assert figures.keys() == ref_figures.keys() and len(figures) >= 5
    for key, value in ref_figures.items():
        assert figures[key] == pytest.approx(value, rel=1e-9), key
    fc, ref_fc = ctx.forecast.summary(), ref.forecast.summary()
    pd.testing.assert_frame_equal(fc, ref_fc, check_exact=False, rtol=1e-9)
    assert ctx.forecast.expected == pytest.approx(ref.forecast.expected, rel=1e-9)
    assert ref.forecast.expected > 1

    # customer segments: the summary ran on the lazy orders
    cols = ["frequency", "recency", "T", "monetary_value", "value_class", "clv"]
    pd.testing.assert_frame_equal(ctx.segments[cols], ref.segments[cols], check_exact=False, rtol=1e-6)


def test_engine_respects_report_processes(parquet_dir: Path) -> None:
    runs = {}
    for engine in ("pandas", "duckdb"):
        cfg = load_config(_config(parquet_dir, engine, extra='processes = ["acquisition"]'))
        runs[engine] = ReportContext.create(load_data(cfg), cfg).analysis.funnel
    assert set(runs["duckdb"].rates["process"]) == {"acquisition"}
    pd.testing.assert_frame_equal(runs["duckdb"].rates[RATE_COLUMNS], runs["pandas"].rates[RATE_COLUMNS],
                                  check_exact=False, rtol=1e-9)
    keys = ["process", "stage", "kind"]
    pd.testing.assert_frame_equal(runs["duckdb"].activity_ratios.sort_values(keys).reset_index(drop=True),
                                  runs["pandas"].activity_ratios.sort_values(keys).reset_index(drop=True),
                                  check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("value", ['"sqlite"', '"DuckDB"', "1", "true"])
def test_bad_engine_is_a_config_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[data]\nengine = {value}\nopportunities = "o.csv"\nstage_events = "e.csv"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: 'data\.engine' must be one of \['pandas', 'duckdb'"):
        load_config(path)


def test_csv_with_a_lazy_engine_is_a_config_error(parquet_dir: Path) -> None:
    path = _config(parquet_dir, "duckdb", orders="data/orders.csv")
    with pytest.raises(ConfigError, match=r"report_duckdb_\d+\.toml: 'data\.engine' = 'duckdb'.*"
                                          r"'data\.orders\.path' names orders\.csv"):
        load_config(path)
    # the pandas engine reads the same CSV
    assert load_config(_config(parquet_dir, "pandas", orders="data/orders.csv")).data_engine == "pandas"


def test_engine_default_and_documented() -> None:
    cfg = parse_config({"data": {"opportunities": "o.csv", "stage_events": "e.csv"}}, source="<t>")
    assert cfg.data_engine == "pandas" and "engine" not in cfg.data
    assert parse_config({"data": {"engine": "spark", "orders": "big/"}}, source="<t>").data_engine == "spark"
    with pytest.raises(ConfigError, match=r"'data\.activities' sets \['sep'\]"):
        parse_config({"data": {"engine": "polars", "activities": {"path": "a.parquet", "sep": ";"}}}, source="<t>")
    assert '# engine = "duckdb"' in EXAMPLE_CONFIG


def test_lazy_tables_with_unknown_ids_or_future_dates_are_refused(tmp_path: Path) -> None:
    """The lazy tables are not row-validated in pandas; their links and the cut are checked in the engine."""
    from salesplan import SchemaError

    data = load_example()
    folder = tmp_path / "data"
    folder.mkdir()
    for table in TABLES:
        frame = getattr(data, table)
        if table == "stage_events":  # one event of an opportunity that does not exist, one after the cut
            extra = pd.DataFrame({"opportunity_id": ["NO-SUCH-DEAL", frame["opportunity_id"].iloc[0]],
                                  "stage": ["contacted", "won"],
                                  "entered_at": pd.to_datetime(["2025-06-01", "2026-06-01"])})
            frame = pd.concat([frame, extra], ignore_index=True)
        frame.to_parquet(folder / f"{table}.parquet")
    lines = ["[report]", "as_of = 2025-12-31", "[data]", 'engine = "polars"'] + [
        f'{t} = "data/{t}.parquet"' for t in TABLES]
    path = tmp_path / "r.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_data(load_config(path))
    checks = set(info.value.failure_cases["check"])
    assert checks == {"known_opportunity", "not_in_future"}, info.value.failure_cases
