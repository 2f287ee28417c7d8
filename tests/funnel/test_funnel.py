"""Engine-agnostic reduction, timing, win rates, shrinkage, cohorts, drivers, activity ratios, plots."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import salesplan as sp
from salesplan.datasets import simulate
from salesplan.funnel import (
    aalen_johansen,
    activity_ratios,
    cohort_rates,
    drivers,
    estimate,
    shrink_rates,
    trend_tests,
    win_rates_by_period,
)
from salesplan.reduce.stages import reduce_activities, reduce_stage_events


@pytest.fixture(scope="module")
def world():
    return simulate(n_customers=60, years=1.5, seed=3, creation_scale=3)


@pytest.fixture(scope="module")
def cohorts(world):
    data, _ = world
    return cohort_rates(data.stage_events, data.processes, data.opportunities, freq="Q")


@pytest.fixture(scope="module")
def funnel(world):
    data, _ = world
    return estimate(data, by="segment")


def test_identical_results_for_pandas_polars_duckdb() -> None:
    data, _ = simulate(n_customers=30, years=0.5, seed=4)
    ev, opp = data.stage_events, data.opportunities
    engines = {"polars": pl.from_pandas, "lazy": lambda x: pl.from_pandas(x).lazy(), "duckdb": duckdb.from_df}
    ref = reduce_stage_events(ev, data.processes, opp, by=["segment"], keep_opportunities=True)
    ref_act = reduce_activities(data.activities, ev, data.processes, opp)
    for name, conv in engines.items():
        got = reduce_stage_events(conv(ev), data.processes, conv(opp), by=["segment"], keep_opportunities=True)
        for table in ("spells", "closes", "outcomes", "issues", "opportunities"):
            pd.testing.assert_frame_equal(getattr(ref, table), getattr(got, table), obj=f"{name} {table}")
        act = reduce_activities(conv(data.activities), conv(ev), data.processes, conv(opp))
        for table in ("counts", "entries", "unattributed"):
            pd.testing.assert_frame_equal(ref_act[table], act[table], obj=f"{name} {table}")


def test_reduction_counts_match_raw_events(world) -> None:
    data, truth = world
    red = reduce_stage_events(data.stage_events, data.processes, data.opportunities)
    entered = red.spells.groupby(["process", "stage"])["weight"].sum()
    raw = data.stage_events.merge(data.opportunities[["opportunity_id", "process"]]).groupby(
        ["process", "stage"]).size()
    for (pname, stage), n in entered.items():
        assert n == raw[(pname, stage)]  # the simulator has straight paths: one event per stage entered


def test_durations_match_truth(world) -> None:
    data, truth = world
    f = estimate(data)
    got = f.durations.merge(truth.durations, on=["process", "stage", "outcome"], suffixes=("", "_true"))
    ok = got["n"] >= 80
    rel = (got.loc[ok, "median_days"] - got.loc[ok, "median_days_true"]).abs() / got.loc[ok, "median_days_true"]
    assert ok.sum() >= 20
    assert rel.median() < 0.12
    assert (rel < 0.35).all()


def test_win_rate_table_and_time_to_win(world) -> None:
    data, truth = world
    f = estimate(data)
    w = f.win_rate.merge(truth.win_rates.query("segment == '*'"), on=["process", "stage"],
                         suffixes=("", "_true"))
    inside = (w["win_rate_low"] <= w["win_rate_true"]) & (w["win_rate_true"] <= w["win_rate_high"])
    assert inside.mean() >= 0.8
    first = f.rates.groupby("process").head(1).set_index("process")["rate"]
    w0 = f.win_rate.groupby("process").head(1).set_index("process")
    for pname in first.index:
        prod = f.rates[f.rates["process"] == pname]["rate"].prod()
        assert w0.loc[pname, "win_rate"] == pytest.approx(prod)
    assert (f.win_rate["alpha"] > 0).all() and (f.win_rate["beta"] > 0).all()
    cdf = f.time_to_win_cdf("acquisition", "offer", np.array([0.0, 10, 30, 90, 1e4]))
    assert np.all(np.diff(cdf) >= 0) and cdf[0] == 0
    direct = f.win_rate.set_index(["process", "stage"]).loc[("acquisition", "offer"), "direct_win_rate"]
    assert cdf[-1] == pytest.approx(direct)
    ttc = f.time_to_close.set_index(["process", "stage"])
    assert ttc.loc[("acquisition", "prospect_selected"), "median_days"] > ttc.loc[("acquisition", "negotiation"),
                                                                                  "median_days"]


def test_contract_columns(funnel) -> None:
    f = funnel
    for col in ["process", "segment", "stage", "next_stage", "entered", "advanced", "lost", "open", "rate",
                "rate_low", "rate_high", "alpha", "beta", "closed_only_rate", "open_as_lost_rate"]:
        assert col in f.rates.columns
    for col in ["win_rate", "win_rate_low", "win_rate_high", "alpha", "beta"]:
        assert col in f.win_rate.columns
    assert set(f.durations["outcome"]) == {"advance", "loss"}
    for col in ["n", "median_days", "q25_days", "q75_days"]:
        assert col in f.durations.columns and col in f.time_to_close.columns
    assert f.by == ["segment"] and 0 < f.confidence < 1
    assert {"entries", "activities", "per_entry", "per_entry_low", "per_entry_high"} <= set(f.activity_ratios)
    cdf = f.time_to_win_cdf("retention", "review_held", [30.0], group="key")
    assert 0 < cdf[0] <= 1


def test_group_rates_against_truth_and_shrinkage(funnel, world) -> None:
    _, truth = world
    r = funnel.rates.merge(truth.stage_rates, on=["process", "segment", "stage"], suffixes=("", "_true"))
    inside = (r["rate_low"] <= r["rate_true"]) & (r["rate_true"] <= r["rate_high"])
    assert inside.mean() >= 0.85
    s = funnel.shrinkage
    assert {"rate", "shrunk_rate", "prior_alpha", "prior_beta"} <= set(s.columns)
    # shrunk rates lie between the raw rate and the parent rate
    lo = np.minimum(s["rate"], s["parent_rate"]) - 1e-9
    hi = np.maximum(s["rate"], s["parent_rate"]) + 1e-9
    assert ((s["shrunk_rate"] >= lo) & (s["shrunk_rate"] <= hi)).all()


def test_shrinkage_pulls_small_groups_most() -> None:
    rates = pd.DataFrame({"process": "p", "g": list("abcdef"), "stage": "s", "entered": [4, 400, 400, 400, 400, 4],
                          "rate": [1.0, 0.50, 0.55, 0.45, 0.52, 0.0], "n_eff": [4.0, 400, 400, 400, 400, 4]})
    parent = pd.DataFrame({"process": ["p"], "stage": ["s"], "rate": [0.5]})
    out = shrink_rates(rates, parent, by=["g"]).set_index("g")
    assert abs(out.loc["a", "shrunk_rate"] - 0.5) < 0.25
    assert abs(out.loc["b", "shrunk_rate"] - 0.50) < 0.01
    assert out.loc["a", "prior_alpha"] == pytest.approx(out.loc["a", "prior_beta"])  # mean 0.5


def test_activity_ratios_cover_truth(world) -> None:
    data, truth = world
    r = activity_ratios(data.activities, data.stage_events, data.processes, data.opportunities)
    m = r.merge(truth.activity_ratios.rename(columns={"per_entry": "true"}), on=["process", "stage", "kind"])
    assert len(m) == len(truth.activity_ratios)
    inside = (m["per_entry_low"] <= m["true"]) & (m["true"] <= m["per_entry_high"])
    assert inside.mean() >= 0.85
    assert (m["per_entry"] - m["true"]).abs().mean() < 0.1


def test_cohorts_and_trend_detection(world, cohorts) -> None:
    data, _ = world
    c = cohorts
    assert {"cohort", "age_days", "mature", "rate_low", "rate_high"} <= set(c.rates.columns)
    # constant true rates: few spurious flags
    assert (c.tests["flag"] != "").mean() <= 0.25
    w = win_rates_by_period(data.stage_events, data.processes, data.opportunities, freq="Q")
    coh = w[w["view"] == "cohort"]
    assert (coh["won"] + coh["lost"] + coh["open"] == coh["deals"]).all()
    # a planted break is found
    r = pd.DataFrame({"process": "p", "stage": "s", "cohort": pd.period_range("2024-01", periods=8, freq="M"),
                      "rate": [0.4] * 4 + [0.6] * 4, "n_eff": 300.0, "mature": True})
    t = trend_tests(r).iloc[0]
    assert t["break_p"] < 0.01 and str(t["break_at"]) == "2024-05"


def test_drivers_find_key_accounts_and_score_open_deals(world) -> None:
    data, _ = world
    m = drivers(data.stage_events, data.processes, data.opportunities, attributes=["segment", "process"])
    assert m.odds_ratios.loc["segment[key]", "low"] > 1.0
    od = m.open_deals
    assert len(od) > 0 and od["p_win"].between(0, 1).all()
    with pytest.raises(sp.SchemaError):
        drivers(data.stage_events, data.processes, data.opportunities, attributes=["nope"])


def test_plots_return_axes(funnel, cohorts) -> None:
    from salesplan.plot.funnel import cohort_heatmap, forest_plot, funnel_chart, time_in_stage

    assert funnel_chart(funnel, "acquisition").get_title().startswith("acquisition")
    assert len(forest_plot(funnel, "acquisition", "offer").get_yticks()) == 2
    assert time_in_stage(funnel, "retention").get_ylabel() == "share still in the stage"
    assert cohort_heatmap(cohorts, "acquisition").get_ylabel() == "cohort (first entry)"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2), st.integers(1, 3)), min_size=1, max_size=25))
def test_aalen_johansen_invariants(patterns) -> None:
    days = np.array([p[0] for p in patterns], dtype=float)
    out = np.array([p[1] for p in patterns])
    w = np.array([p[2] for p in patterns], dtype=float)
    fit = aalen_johansen(days, out, w)
    if not (out > 0).any():
        assert np.isnan(fit.rate)
        return
    assert np.all(np.diff(fit.cif_advance) >= -1e-12) and np.all(np.diff(fit.cif_loss) >= -1e-12)
    assert np.allclose(fit.surv + fit.cif_advance + fit.cif_loss, 1.0)
    assert 0 <= fit.rate <= 1 and fit.var >= 0
    if not (out == 0).any():  # no censoring: the plain share
        assert fit.rate == pytest.approx(w[out == 1].sum() / w.sum())
