"""Every chart of salesplan.plot passes the layout check of ``chart_check.py`` on example and simulated data.

Inputs are what the control report passes (figures of one :class:`salesplan.Analysis` of the bundled example
company), plus small simulations and hand-made frames for the charts the report does not draw. A public plot
function without a case fails :func:`test_every_public_plot_function_has_a_case`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import salesplan as sp
import salesplan.plot


def load_chart_check() -> Any:
    """The checker module beside this file (tests are not a package)."""
    if "chart_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("chart_check", Path(__file__).with_name("chart_check.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["chart_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["chart_check"]


figure_problems = load_chart_check().figure_problems

#: Public callables of salesplan.plot modules that draw no chart (qualified name -> why).
NOT_CHARTS: dict[str, str] = {
    "notebook.show_inline": "registers a Jupyter display of charts; draws none",
    "notebook.figure_png": "renders a given chart to PNG bytes; draws none",
}

#: Accepted findings (case -> {problem kind: reason}). Every entry must still be needed (checked).
ALLOWED: dict[str, dict[str, str]] = {}


PROC = sp.SalesProcess("p", ["lead", "offer"], activities={"lead": {"calls": 2.0}, "offer": {"visits": 1.0}})
AS_OF = pd.Timestamp("2025-07-01")


def _company(seed: int = 5, n: int = 60) -> sp.SalesData:
    """A small company: ``n`` deals created over 18 months, two segments, amounts of 20K-400K (pipeline values in
    the millions), outcomes drawn with known rates (lead 60%, offer 50%); calls and visits per deal."""
    rng = np.random.default_rng(seed)
    created = AS_OF - pd.to_timedelta(np.sort(rng.uniform(5, 540, n))[::-1], "D")
    opps, events, acts = [], [], []
    for i, t0 in enumerate(created):
        oid = f"o{i}"
        opps.append({"opportunity_id": oid, "customer_id": f"c{i % 25}", "process": "p", "created_at": t0,
                     "amount": float(rng.uniform(20_000, 400_000)), "owner": f"rep {i % 3 + 1}",
                     "expected_close": t0 + pd.Timedelta(days=60)})
        t, stage = t0, "lead"
        events.append({"opportunity_id": oid, "stage": "lead", "entered_at": t})
        for nxt, rate in (("offer", 0.6), ("won", 0.5)):
            t = t + pd.Timedelta(days=float(rng.gamma(2.0, 12.0)))
            if t >= AS_OF:
                break
            stage = nxt if rng.uniform() < rate else "lost"
            events.append({"opportunity_id": oid, "stage": stage, "entered_at": t})
            if stage == "lost":
                break
        for _ in range(int(rng.integers(1, 4))):
            day = t0 + pd.Timedelta(days=float(rng.uniform(0, 20)))
            if day < AS_OF:
                acts.append({"kind": str(rng.choice(["calls", "visits"])), "date": day, "opportunity_id": oid})
    months = pd.period_range("2024-01", "2025-12", freq="M").astype(str)
    targets = pd.DataFrame({"process": "p", "period": months, "contracts": 2.0, "revenue": 400_000.0})
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(25)],
                              "segment": ["large" if i % 3 == 0 else "small" for i in range(25)]})
    return sp.SalesData.from_frames(customers=customers, opportunities=pd.DataFrame(opps),
                                    stage_events=pd.DataFrame(events), activities=pd.DataFrame(acts),
                                    targets=targets, processes={"p": PROC}, as_of=AS_OF)


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    """The small company and the figures the charts draw, computed once."""
    from salesplan.control import pipeline_movement
    from salesplan.funnel import estimate
    from salesplan.plan import backward

    data = _company()
    funnel = estimate(data)
    targets = data.targets[data.targets["period"] >= "2025-01"]
    plan = backward(targets, funnel, processes=data.processes, activity_ratios={"p": PROC.activities},
                    durations={"p": {"lead": 20, "offer": 25}})
    return {"data": data, "funnel": funnel, "plan": plan,
            "movement": pipeline_movement(data, AS_OF - pd.DateOffset(months=1), AS_OF)}


def _snapshot() -> Any:
    from salesplan.funnel import snapshot_funnel

    rng = np.random.default_rng(0)
    n = 300
    stage = rng.choice(["Won", "Lost", "Engaging", "Prospecting"], n, p=[0.4, 0.3, 0.2, 0.1])
    engaged = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D")
    closed = engaged + pd.to_timedelta(rng.integers(5, 120, n), "D")
    snap = pd.DataFrame({"deal_stage": stage,
                         "engage_date": pd.Series(engaged).where(stage != "Prospecting"),
                         "close_date": pd.Series(closed).where(np.isin(stage, ["Won", "Lost"]))})
    return snapshot_funnel(snap, stages=["Prospecting", "Engaging"], stage="deal_stage", won="Won", lost="Lost",
                           entered="engage_date", closed="close_date")


def _bass() -> Any:
    from salesplan.forecast import BassDiffusion, bass_cdf

    y = pd.Series(np.round(400 * np.diff(bass_cdf(np.arange(0, 13), 0.03, 0.4))),
                  index=pd.period_range("2024-01", periods=12, freq="M"))
    return BassDiffusion().fit(y)


def _reliability() -> pd.DataFrame:
    from salesplan.forecast.evaluation import reliability

    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 400)
    return reliability(p, rng.uniform(0, 1, 400) < p, bins=5)


def _holdout() -> pd.DataFrame:
    comp = pd.DataFrame({"actual": [0.2, 0.6, 1.1, 1.9], "predicted": [0.25, 0.55, 1.2, 1.7],
                         "customers": [50, 20, 5, 3]}, index=pd.Index([0, 1, 2, 3], name="frequency"))
    comp.attrs["max_frequency"] = 3
    return comp


def _customers() -> pd.DataFrame:
    """200 customers with purchases, revenue, CLV and share of wallet (as segment.customer_summary and clv give)."""
    from salesplan.segment import abc_classes

    rng = np.random.default_rng(0)
    n = 200
    freq = rng.poisson(2, n)
    rec = np.where(freq > 0, rng.uniform(0, 300, n), 0.0)
    s = pd.DataFrame({"frequency": freq, "recency": rec, "T": rec + rng.uniform(0, 60, n),
                      "revenue": rng.gamma(1.0, 50_000, n), "clv": rng.lognormal(10, 1.2, n),
                      "share_of_wallet": rng.uniform(0, 1, n)}, index=[f"c{i}" for i in range(n)])
    return s.assign(value_class=abc_classes(s["clv"])["abc_class"])


def _series() -> pd.Series:
    rng = np.random.default_rng(2)
    return pd.Series(rng.poisson(20 + 8 * np.sin(np.arange(36) / 1.9)).astype(float),
                     index=pd.period_range("2023-01", periods=36, freq="M"))


def _pipeline(w: dict[str, Any]) -> Any:
    from salesplan.forecast import pipeline

    return pipeline(w["data"], w["funnel"], horizon="3MS", n_draws=500, seed=1)


def _monthly(w: dict[str, Any], what: str) -> pd.DataFrame:
    d = w["data"]
    if what == "won":
        ev = d.stage_events[d.stage_events["stage"] == "won"]
        return ev.groupby(ev["entered_at"].dt.to_period("M")).size().to_frame("p").astype(float)
    if what == "value":
        o = d.opportunities
        return (o.groupby(o["created_at"].dt.to_period("M"))["amount"].sum().to_frame("p")
                .assign(other=lambda f: f["p"] * 0.4))
    acts = d.activities
    return acts.groupby([acts["date"].dt.to_period("M"), "kind"]).size().unstack("kind", fill_value=0)


def _capacity(w: dict[str, Any]) -> Any:
    teams = pd.DataFrame({"team": ["p team"], "process": ["p"], "people": [1], "hours": [24.0]})
    return w["plan"].capacity(teams, {"calls": 0.5, "visits": 3.0}, freq="M")


def _reps(w: dict[str, Any]) -> Any:
    team = [{"owner": f"rep {i}", "processes": ["p"], "hours_per_week": 30} for i in (1, 2, 3)]
    return w["plan"].per_rep(team, as_of="2025-07-01")


def _targets() -> pd.DataFrame:
    return pd.DataFrame({"process": ["acquisition", "retention", "cross-selling"], "actual": [18.0, 41.0, 7.0],
                         "target": [25.0, 38.0, 10.0], "forecast_low": [20.0, 39.0, 6.0],
                         "forecast_high": [31.0, 52.0, 12.0]})


def _c(name: str) -> Any:
    """The plot module ``name``."""
    return importlib.import_module(f"salesplan.plot.{name}")


#: case id ("module.function" or "module.function[variant]") -> draws the chart from the world; returns the Axes.
CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    # overview: the report's overview and activity sections
    "overview.plot_status": lambda w: _c("overview").plot_status(
        pd.DataFrame({"open": [40, 12, 5], "won": [310, 95, 20], "lost": [420, 60, 31]},
                     index=pd.Index(["acquisition", "retention", "cross-selling"], name="process"))),
    "overview.plot_monthly": lambda w: _c("overview").plot_monthly(_monthly(w, "won"), ylabel="contracts won",
                                                                   title="Contracts won per month"),
    "overview.plot_monthly[value]": lambda w: _c("overview").plot_monthly(
        _monthly(w, "value"), ylabel="EUR", title="Opportunity value created per month"),
    "overview.plot_stacked_monthly": lambda w: _c("overview").plot_stacked_monthly(
        _monthly(w, "activities"), ylabel="activities", title="Activities per month by kind"),
    "overview.plot_actual_vs_target": lambda w: _c("overview").plot_actual_vs_target(_targets()),
    # control
    "control.plan_actual_bars": lambda w: _c("control").plan_actual_bars(
        _control("plan_vs_actual")(w["plan"], w["data"]), "contracts", process="p"),
    "control.variance_waterfall": lambda w: _c("control").variance_waterfall(
        _control("variance")(w["plan"], w["data"]), process="p", period="2025-05"),
    "control.kpi_table": lambda w: _c("control").kpi_table(
        _control("kpis")(w["data"], start="2024-07-01"),
        columns=["snapshot_win_rate", "cycle_days", "coverage", "required_coverage"]),
    "control.movement_chart": lambda w: _c("control").movement_chart(w["movement"]),
    "control.movement_chart[value]": lambda w: _c("control").movement_chart(w["movement"], value=True),
    "waterfall.waterfall_chart": lambda w: _control("pipeline_waterfall")(
        w["data"], "2025-05-01", "2025-06-01", "2025-06").plot(),
    "accountability.calls_vs_model_chart": lambda w: _c("accountability").calls_vs_model_chart(pd.DataFrame({
        "week": [1, 4, 7, 10, 13], "calls_error": [0.38, 0.31, 0.27, 0.19, 0.12],
        "model_error": [0.54, 0.50, 0.38, 0.27, 0.09], "gain_low": [-0.34, -0.29, -0.22, -0.15, 0.01]})),
    # plan
    "plan.reverse_funnel": lambda w: _c("plan").reverse_funnel(w["plan"], "p", period="2025-08"),
    "plan.activity_plan": lambda w: _c("plan").activity_plan(w["plan"], "W", process="p"),
    "plan.capacity_chart": lambda w: _c("plan").capacity_chart(_capacity(w), "p team"),
    "plan.rep_targets": lambda w: _c("plan").rep_targets(_reps(w), "calls"),
    # funnel
    "funnel.funnel_chart": lambda w: _c("funnel").funnel_chart(w["funnel"], "p"),
    "funnel.funnel_chart[snapshot]": lambda w: _c("funnel").funnel_chart(_snapshot(), "maven"),
    "funnel.forest_plot": lambda w: _c("funnel").forest_plot(
        importlib.import_module("salesplan.funnel").estimate(w["data"], by="segment"), "p", "lead"),
    "funnel.time_in_stage": lambda w: _c("funnel").time_in_stage(w["funnel"], "p"),
    "funnel.time_in_stage[stale rule]": lambda w: _c("funnel").time_in_stage(
        importlib.import_module("salesplan.funnel").estimate(w["data"], stale_after_days=60), "p"),
    "funnel.time_in_stage[snapshot]": lambda w: _c("funnel").time_in_stage(_snapshot(), "maven"),
    "funnel.cohort_heatmap": lambda w: _c("funnel").cohort_heatmap(
        importlib.import_module("salesplan.funnel").cohort_rates(
            w["data"].stage_events, w["data"].processes, w["data"].opportunities, freq="Q"), "p"),
    # forecast
    "forecast.fan_chart": lambda w: _c("forecast").fan_chart(
        _series(), {lev: _forecaster().forecast("6MS", lev) for lev in (0.5, 0.8)}, ylabel="contracts per month"),
    "forecast.pipeline_chart": lambda w: _c("forecast").pipeline_chart(_pipeline(w), confidence=0.8),
    "forecast.reliability_chart": lambda w: _c("forecast").reliability_chart(_reliability()),
    "forecast.bass_chart": lambda w: _c("forecast").bass_chart(_bass(), "6MS"),
    "forecast.backtest_chart": lambda w: _c("forecast").backtest_chart(
        importlib.import_module("salesplan.forecast").backtest(_series(), methods=("naive", "seasonal_naive"),
                                                               min_train=13)),
    # segment
    "segment.pareto_curve": lambda w: _c("segment").pareto_curve(
        importlib.import_module("salesplan.segment").abc_classes(_customers()["revenue"])),
    "segment.rfm_heatmap": lambda w: _c("segment").rfm_heatmap(
        importlib.import_module("salesplan.segment").rfm_scores(_customers())),
    "segment.clv_by_segment": lambda w: _c("segment").clv_by_segment(_customers(), unit="EUR"),
    "segment.portfolio_plot": lambda w: _c("segment").portfolio_plot(
        importlib.import_module("salesplan.segment").portfolio_matrix(_customers())),
    "segment.calibration_holdout_plot": lambda w: _c("segment").calibration_holdout_plot(_holdout(), unit="days"),
}


def _control(name: str) -> Any:
    return getattr(importlib.import_module("salesplan.control"), name)


def _forecaster() -> Any:
    from salesplan.forecast import SeriesForecaster

    return SeriesForecaster("seasonal_naive").fit(_series())


def _public_plot_functions() -> list[str]:
    names = []
    for info in pkgutil.iter_modules(salesplan.plot.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"salesplan.plot.{info.name}")
        for name in getattr(module, "__all__", []):
            if inspect.isfunction(getattr(module, name)):
                names.append(f"{info.name}.{name}")
    return names


def test_every_public_plot_function_has_a_case() -> None:
    functions = _public_plot_functions()
    covered = {case.split("[")[0] for case in CASES}
    missing = [f for f in functions if f not in covered and f not in NOT_CHARTS]
    assert len(functions) >= 25 and not missing, f"plot functions without a layout case: {missing}"
    assert covered <= set(functions), f"cases of functions that do not exist: {covered - set(functions)}"


@pytest.mark.parametrize("case", list(CASES))
def test_chart_layout(case: str, world: dict[str, Any]) -> None:
    ax = CASES[case](world)
    assert ax is not None and hasattr(ax, "figure"), f"{case} returned {type(ax).__name__}, not an Axes"
    problems = figure_problems(ax)
    allowed = ALLOWED.get(case, {})
    left = [p for p in problems if p.split(":")[0] not in allowed]
    assert not left, f"{case}:\n  " + "\n  ".join(left)
    unused = [kind for kind in allowed if not any(p.startswith(kind + ":") for p in problems)]
    assert not unused, f"{case}: allowlist entries no longer needed: {unused}"


def test_the_check_flags_a_bad_chart() -> None:
    """A deliberately broken figure: overlapping labels, a text off the figure, a far too long axis, no labels."""
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.bar([0, 1, 2], [3_000_000, 2_000_000, 2_500_000])
    ax.set_xticks([0, 1, 2], ["a long label one", "a long label two", "a long label three"])
    ax.set_ylim(0, 10_000_000)
    ax.text(2.8, 9_000_000, "runs off the right edge of the figure")
    ax.set_title("ETS(A,N,N) for ((all))")
    ax.legend(["x"], loc="lower center")
    kinds = {p.split(":")[0] for p in figure_problems(ax)}
    assert kinds == {"overlap", "outside", "range", "label", "code", "offset", "legend"}, kinds


def test_the_check_flags_cut_off_bars() -> None:
    """A bar beyond the axis, and a bar hanging from the top with no room above (the movement chart's old bug)."""
    ax = Figure(layout="constrained").add_subplot()
    ax.bar([0, 1], [5.0, 9.0])
    ax.set_ylim(0, 8)
    assert any(p.startswith("clipped:") and "beyond" in p for p in figure_problems(ax))
    ax = Figure(layout="constrained").add_subplot()
    ax.bar([0, 1], [6.0, -2.0], bottom=[0.0, 6.0])
    assert any(p.startswith("clipped:") and "reach the end" in p for p in figure_problems(ax))


def test_the_check_passes_a_good_chart() -> None:
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.bar([0, 1, 2], [3, 2, 2.5])
    ax.set_xticks([0, 1, 2], ["a", "b", "c"])
    ax.set_xlabel("group")
    ax.set_ylabel("contracts")
    ax.set_title("Contracts per group")
    assert figure_problems(ax) == []
