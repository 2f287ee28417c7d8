"""Every figure of the demo report is an attribute of :class:`salesplan.Analysis`.

The demo report (``salesplan demo``, run once per session by the ``demo_run`` fixture) is compared cell by cell
with an Analysis of the same data and settings: each key figure of summary.json (the top ones and those of every
section), its headline, and every cell of
every Excel sheet. The comparison is exact: summary.json values equal the attribute after the JSON writer's
rounding to six significant digits, Excel cells equal the attribute after the Excel writer's cell conversion (and
openpyxl's: a float is stored with 16 significant digits, ``"%.16g"``). A
sheet or a key figure that the maps below cannot name fails the test, so a new report figure must come from
Analysis to pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from salesplan import Analysis
from salesplan.datasets import load_example
from salesplan.plausibility import check_backtest
from salesplan.report import demo_config
from salesplan.report.blocks import _jsonable
from salesplan.report.excel import _value
from salesplan.report.sections import comparison_table, required_column


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return Analysis(load_example(), demo_config().settings())


def _activities_needed(a: Analysis, m: re.Match) -> pd.DataFrame:
    return a.activities_needed(m[1]).rename(columns={"required": required_column(a.settings.target_probability)})


#: Excel sheet name (full match) -> the Analysis table it shows.
SHEETS: list[tuple[str, Callable[[Analysis, re.Match], pd.DataFrame]]] = [
    ("attainment", lambda a, m: a.attainment),
    ("activities_period", lambda a, m: a.activities_in_period),
    ("plan_cost", lambda a, m: a.plan_cost),
    ("forecast", lambda a, m: a.forecast_window),
    ("forecast_by_month", lambda a, m: a.forecast_table),
    ("trend_forecast", lambda a, m: a.trend_table),
    ("backtest", lambda a, m: a.backtest_table),
    ("kpis_latest", lambda a, m: a.kpis_latest),
    ("kpis", lambda a, m: a.kpis),
    ("movement", lambda a, m: a.movement_table),
    ("abc", lambda a, m: a.abc_summary),
    ("assignment", lambda a, m: a.assignment_summary),
    ("assignment_top", lambda a, m: a.assignment_top),
    ("assignment_all", lambda a, m: a.assignment),
    ("data_summary", lambda a, m: a.data_summary),
    ("status_counts", lambda a, m: a.data_status_counts.reset_index()),
    ("conversion_(.+)", lambda a, m: a.conversion(m[1])),
    ("plan_actual_(.+)", lambda a, m: a.plan_actual_summary(m[1])),
    ("pva_(.+)", lambda a, m: a.plan_vs_actual_rows(m[1])),
    ("variance_(.+)", lambda a, m: a.variance_table(m[1])),
    ("activities_next_(.+)", _activities_needed),
    ("open_(.+)", lambda a, m: a.open_deals(m[1])),
    ("comparisons", lambda a, m: comparison_table(a.comparison("(all)"))),
    ("comparisons_all", lambda a, m: a.comparisons),
    ("weighted_pipeline", lambda a, m: a.weighted_pipeline),
    ("rep_activities_(.+)", lambda a, m: a.rep_activities_of(m[1])),
    ("rep_targets_(.+)", lambda a, m: a.rep_targets_next(m[1])),
    ("by_(.+)", lambda a, m: a.breakdown(m[1])),
    ("waterfall", lambda a, m: a.waterfall_table),
    ("call_accuracy", lambda a, m: a.call_accuracy_by_rep),
    ("model_vs_calls", lambda a, m: a.model_vs_calls),
    ("deals_at_risk", lambda a, m: a.deals_at_risk),
]


def _row(frame: pd.DataFrame, process: str) -> pd.Series:
    return frame.set_index("process").loc[process]


#: summary.json key figure key (full match) -> (value, low, high) from the Analysis.
FIGURES: list[tuple[str, Callable[[Analysis, re.Match], tuple[Any, Any, Any]]]] = [
    ("won_quarter_(.+)", lambda a, m: (int(_row(a.attainment, m[1])["won_quarter"]), None, None)),
    ("open_opportunities", lambda a, m: (a.open_opportunities, None, None)),
    ("forecast_total", lambda a, m: tuple(float(a.forecast_row()[c]) for c in
                                          ("contracts", "contracts_low", "contracts_high"))),
    ("coverage_short", lambda a, m: (len(a.coverage_short), None, None)),
    ("weighted_pipeline", lambda a, m: (float(_row(a.weighted_pipeline, "(all)")["weighted_amount"]), None, None)),
    ("weighted_pipeline_(.+)", lambda a, m: (float(_row(a.weighted_pipeline, m[1])["weighted_amount"]), None,
                                             None)),
    ("won_period_(.+)", lambda a, m: (int(_row(a.attainment, m[1])["won_period"]), None, None)),
    ("open_(.+)", lambda a, m: (int(a.status_counts.loc[m[1], "open"]), None, None)),
    ("win_rate_(.+)", lambda a, m: tuple(float(a.first_stage_win_rate(m[1])[c]) for c in
                                         ("win_rate", "win_rate_low", "win_rate_high"))),
    ("forecast_(.+)", lambda a, m: tuple(float(a.forecast_row(m[1])[c]) for c in
                                         ("contracts", "contracts_low", "contracts_high"))),
    ("coverage_(.+)", lambda a, m: (float(a.coverage_row(m[1])["coverage"]), None, None)),
    ("entries_needed_(.+)", lambda a, m: (a.entries_needed(m[1])[0], None, None)),
    ("utilisation_(.+)", lambda a, m: (float(a.capacity_next_month(m[1])["utilisation"]), None, None)),
    ("rep_peak_week_(.+)", lambda a, m: (a.rep_capacity_next(m[1])["peak_utilisation"], None, None)),
    ("activities_period", lambda a, m: (a.activities_in_period_total, None, None)),
    ("revenue_period", lambda a, m: (a.revenue_in_period, None, None)),
    ("gini", lambda a, m: (a.gini, None, None)),
    ("p_reach_target", lambda a, m: (a.chance_of_target, None, None)),
    ("model_beats_calls_week", lambda a, m: (a.accountability.from_week if a.accountability.from_week is not None
                                             else "never", None, None)),
]


def _lookup(table: list[tuple[str, Callable]], name: str, a: Analysis) -> Any:
    for pattern, get in table:
        match = re.fullmatch(pattern, name)
        if match:
            return get(a, match)
    raise AssertionError(f"{name!r} is in the report but not mapped to an Analysis attribute")


def _stored(value: float) -> float:
    """A float as openpyxl stores it in the sheet (16 significant digits)."""
    return float("%.16g" % value)  # noqa: UP031 - the format openpyxl writes


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and not isinstance(want, bool):
        if math.isnan(want):
            return isinstance(got, float) and math.isnan(got)
        return got == _stored(want)
    return bool(got == want)


def _cells(frame: pd.DataFrame) -> list[list[Any]]:
    """What the Excel writer puts in the cells of ``frame`` (header first)."""
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    return [[str(c) for c in frame.columns]] + [[_value(v) for v in row]
                                               for row in frame.itertuples(index=False, name=None)]


def test_every_excel_cell_is_an_analysis_figure(demo_out, demo_summary, analysis: Analysis) -> None:
    wb = load_workbook(demo_out / "report.xlsx", read_only=True)
    checked = 0
    for ws in wb.worksheets:
        got = [list(r) for r in ws.iter_rows(values_only=True)]
        if ws.title == "contents":
            listed = [r[0] for r in got[1:]]
            assert listed == wb.sheetnames[1:]  # every other sheet, in order
            continue
        if ws.title == "key_figures":
            figures = demo_summary["key_figures"]
            assert [r[0] for r in got[1:]] == [f["label"] for f in figures]
            for row, fig in zip(got[1:], figures, strict=True):
                value, low, high = _lookup(FIGURES, fig["key"], analysis)
                assert all(_same(g, _value(w)) for g, w in zip(row[1:4], (value, low, high), strict=True)), \
                    (fig["key"], row, (value, low, high))
                checked += 1
            continue
        if ws.title == "data_quality":
            def norm(v: Any) -> Any:
                return None if v in ("", None) else _value(v)

            header = got[0]
            rows = [{k: norm(v) for k, v in zip(header, r, strict=True)} for r in got[1:]]
            assert header == ["section", "severity", "table", "rows", "message"]
            findings = [{k: norm(v) for k, v in r.items()} for r in analysis.quality_findings]
            for finding in findings:
                assert finding in rows, finding
            counted = [r for r in rows if r["rows"] is not None]
            assert counted and all(r in findings for r in counted)  # every row count is an Analysis finding
            checked += len(findings)
            continue
        want = _cells(_lookup(SHEETS, ws.title, analysis))
        assert got[0] == want[0], ws.title
        assert len(got) == len(want), ws.title
        for i, (g_row, w_row) in enumerate(zip(got[1:], want[1:], strict=True)):
            bad = [(col, g, w) for col, g, w in zip(want[0], g_row, w_row, strict=True) if not _same(g, w)]
            assert not bad, f"{ws.title} row {i}: {bad[:3]}"
            checked += len(w_row)
    assert len(wb.sheetnames) >= 30 and checked > 5000


def test_every_summary_figure_is_an_analysis_figure(demo_summary, analysis: Analysis) -> None:
    assert demo_summary["period"] == str(analysis.period)
    assert demo_summary["as_of"] == f"{analysis.as_of:%Y-%m-%d}"
    assert (demo_summary["confidence"], demo_summary["seed"]) == (analysis.settings.confidence,
                                                                  analysis.settings.seed)
    assert demo_summary["processes"] == analysis.processes
    assert demo_summary["period_label"] == analysis.period_label()
    assert demo_summary["headline"] == _jsonable(analysis.headline)
    assert len(demo_summary["key_figures"]) >= 8
    section_figures = [f for s in demo_summary["sections"] for f in s["figures"]]
    assert len(section_figures) >= 30
    for fig in demo_summary["key_figures"] + section_figures:
        value, low, high = _lookup(FIGURES, fig["key"], analysis)
        assert (fig["value"], fig["low"], fig["high"]) == (_jsonable(value), _jsonable(low), _jsonable(high)), \
            fig["key"]


def test_one_target_per_period_everywhere(demo_sheets, analysis: Analysis) -> None:
    """December's target is the same pro-rated number in the overview, the KPI table and the Analysis."""
    att = demo_sheets["attainment"].set_index("process")["target_period"]
    kpi = demo_sheets["kpis_latest"].set_index("process")["target"]
    assert att.to_dict() == kpi.to_dict()
    q4 = load_example().targets.query("period == '2025-Q4'").set_index("process")["contracts"]
    assert att["acquisition"] == _stored(q4["acquisition"] * 31 / 92) == pytest.approx(2.6957, abs=1e-4)
    dec = analysis.target_between(pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01"))
    assert {p: _stored(v) for p, v in dec.items()} == att.to_dict()


def test_a_cohort_created_this_month_is_too_early(demo_sheets) -> None:
    latest = demo_sheets["kpis_latest"]
    assert (latest["cohort_win_rate"] == "too early").all()
    assert (~latest["cohort_mature"]).all()
    full = demo_sheets["kpis"]
    # a cohort of a year ago has closed: a number, and it is mature
    old = full[full["period"] == "2024-12"]
    assert old["cohort_mature"].all() and old["cohort_win_rate"].between(0, 1).all()


def test_plausibility_flags_of_the_demo(demo_summary, demo_sheets, analysis: Analysis) -> None:
    """Issue 19: the demo's formerly implausible figures now pass or are flagged, once, in the data-quality table.

    Before: delivery-rate expected value 5.72M against 3.32M of 2025 revenue; no one in cross-selling (its column
    missing, logged at INFO); a backtest of 3 origins with coverage 1, shown without comment.
    """
    flags = analysis.flags
    rows = [r for r in demo_summary["data_quality"] if r["section"] == "plausibility"]
    assert [r["message"] for r in rows] == [f.message for f in flags]
    assert {r["severity"] for r in rows} == {"warning"}
    assert not [r for r in demo_summary["data_quality"] if "implausible" in r["message"]]  # no log duplicates
    revenue = float(analysis.revenue_per_month.iloc[-12:, 0].sum())
    assert revenue == pytest.approx(3_322_074.57)  # 2025 order revenue of the example
    assignment = analysis.assignment_summary.set_index(["process", "value_class"])  # a full-level sheet
    assert assignment.loc[("delivery_rate", "all"), "expected_value"] < 0.5 * revenue  # was 5.72M
    assert assignment.loc[("cross_selling", "all"), "customers"] > 0  # was absent
    assert not [f for f in flags if f.figure in ("expected value", "process assignment")]
    # the backtest (run and shown at the full level only) now has one origin per month of the last year, still
    # too few to judge a 90% interval
    assert not [f for f in flags if f.figure == "backtest coverage"]  # standard level: no backtest, no flag
    full = Analysis(load_example(), demo_config(level="full").settings())
    assert full.backtest_table["n"].tolist() == [12, 12, 12]
    (bt,) = check_backtest(full.trend_backtest)
    assert bt.reference == 0.9 and "29 or more are needed" in bt.reason
    # the example's potentials are below the spend of some customers: said, not hidden
    (wallet,) = [f for f in flags if f.figure == "share of wallet"]
    assert wallet.value > wallet.reference
