"""Variance of the five-deal company, every figure worked by hand, with its stage flows written out.

The company and its monthly flows at the cut (1 March 2025) are in ``conftest.py``; test_variance.py checks that
the reduction gives exactly those flows. Here ``variance`` is handed them (``stage_flows=``), so each case runs
in milliseconds: this file is the mutation-test selection of ``control/variance.py`` (benchmarks/mutation.py).

Plan (``tiny_plan``): 4 new leads and 2 contracts a month, lead rate 0.8, offer rate 0.625 (conversion 0.5).
January's cohort: o1 (won) and o2 (lost at the lead): reached (2, 1, 1), rates (0.5, 1.0). February's: o3 (open
at the offer) and o5 (open at the lead): reached (2, 1, 0), rates (0.5, 0.0). Contracts closed: o4 in January
(created in December, 26 days), o1 in February (36 days); the median cycle is 26 days (two wins, the lower
middle), so January's cohort is mature at the cut (1 Feb + 26 days = 27 Feb) and February's is not.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pandas as pd
import pytest

from salesplan import ConfigError, PlanInputError, SchemaError
from salesplan.control import variance
from salesplan.control.variance import plan_volumes_frame


def test_every_figure_of_both_months(tiny, tiny_plan, tiny_flows):
    before = tiny_plan.copy()
    res = variance(tiny_plan, tiny, stage_flows=tiny_flows)
    pd.testing.assert_frame_equal(tiny_plan, before)  # the caller's plan is not changed
    expected = pd.DataFrame({
        "process": "p", "period": ["2025-01", "2025-02"], "planned_entries": 4.0, "planned_contracts": 2.0,
        "actual_entries": [2, 2], "cohort_wins": [1, 0], "actual_contracts": [1, 1], "planned_conversion": 0.5,
        "actual_conversion": [0.5, 0.0], "gap": [-1.0, -1.0], "volume_effect": [-1.0, -1.0],
        "conversion_effect": [0.0, -1.0], "timing_effect": [0.0, 1.0], "cohort_open": [0, 2],
        "mature": [True, False]})
    pd.testing.assert_frame_equal(res.table, expected, check_dtype=False)
    # stage split: lead 2 * (0.5 * 0.625 - 0.8 * 0.625) = -0.375 both months; January's offer
    # 2 * (0.5 * 1.0 - 0.5 * 0.625) = +0.375, February's 2 * (0.5 * 0.0 - 0.5 * 0.625) = -0.625
    by_stage = pd.DataFrame({
        "process": "p", "period": ["2025-01", "2025-01", "2025-02", "2025-02"],
        "stage": ["lead", "offer", "lead", "offer"], "reached": [2, 1, 2, 1], "planned_rate": [0.8, 0.625] * 2,
        "actual_rate": [0.5, 1.0, 0.5, 0.0], "conversion_effect": [-0.375, 0.375, -0.375, -0.625]})
    pd.testing.assert_frame_equal(res.by_stage, by_stage, check_dtype=False, atol=1e-12)
    assert res.by_stage["reached"].dtype.kind == "i"


def test_a_stage_nobody_reached_takes_the_plan_rate(tiny, tiny_plan, tiny_flows):
    # February's cohort without o3: one deal, open at the lead: reached (1, 0, 0); the offer's actual rate is
    # unknown (NaN) and the plan's 0.625 stands in for it, so the offer adds nothing: lead 1 * (0 - 0.5) = -0.5
    cohorts = tiny_flows.cohorts[~((tiny_flows.cohorts["period"] == "2025-02") & (tiny_flows.cohorts["reach"] == 1))]
    flows = dataclasses.replace(tiny_flows, cohorts=cohorts)
    res = variance(tiny_plan, tiny, periods="2025-02", stage_flows=flows)
    st = res.by_stage.set_index("stage")
    assert st["reached"].tolist() == [1, 0]
    assert st.loc["lead", "actual_rate"] == 0.0 and np.isnan(st.loc["offer", "actual_rate"])
    assert st["conversion_effect"].tolist() == pytest.approx([-0.5, 0.0])
    row = res.table.iloc[0]
    assert (row["actual_entries"], row["cohort_wins"], row["cohort_open"]) == (1, 0, 1)
    assert (row["volume_effect"], row["conversion_effect"], row["timing_effect"]) == (-1.5, -0.5, 1.0)


@pytest.mark.parametrize("rates, expected", [
    (None, [0.5 ** 0.5, 0.5 ** 0.5]),  # no stage rates: the plan conversion 2 / 4 split evenly (geometric)
    ([0.4, 0.5], [0.4 * 2.5 ** 0.5, 0.5 * 2.5 ** 0.5]),  # product 0.2 rescaled to 0.5: each times sqrt(2.5)
    ([np.nan, 0.5], [0.5 ** 0.5, 0.5 ** 0.5]),  # a missing rate: the even split
    ([0.0, 0.5], [0.5 ** 0.5, 0.5 ** 0.5]),  # a zero rate cannot be rescaled: the even split
    ([-0.5, -0.4], [0.5 ** 0.5, 0.5 ** 0.5]),  # negative rates (product +0.2) are not rescaled either
])
def test_plan_stage_rates_are_rescaled_to_the_plan_conversion(tiny, tiny_plan, tiny_flows, rates, expected):
    plan = tiny_plan.drop(columns="rate") if rates is None else tiny_plan.assign(rate=rates * 2)
    st_jan = variance(plan, tiny, periods=["2025-01"], stage_flows=tiny_flows).by_stage.set_index("stage")
    np.testing.assert_allclose(st_jan.loc[["lead", "offer"], "planned_rate"], expected, rtol=1e-12)
    # January's cohort: rates (0.5, 1.0) against the plan's (r1, r2): stage parts by substitution, first stage first
    r1, r2 = expected
    assert st_jan.loc["lead", "conversion_effect"] == pytest.approx(2 * (0.5 * r2 - r1 * r2))
    assert st_jan.loc["offer", "conversion_effect"] == pytest.approx(2 * (0.5 * 1.0 - 0.5 * r2))


def test_three_stages_rescaled_by_the_cube_root(tiny_flows):
    # a three-stage process: rates (0.5, 0.5, 0.5), product 0.125, rescaled to the conversion 1 / 4: each times
    # 2 ** (1/3); without rates each is 0.25 ** (1/3). The cohort reaches only the first two stages.
    from salesplan import SalesData, SalesProcess

    proc = SalesProcess("p", ["lead", "offer", "talk"])
    opps = pd.DataFrame({"opportunity_id": ["o1"], "customer_id": ["c1"], "process": "p",
                         "created_at": pd.to_datetime(["2025-01-05"])})
    ev = pd.DataFrame({"opportunity_id": ["o1"], "stage": ["lead"], "entered_at": pd.to_datetime(["2025-01-05"])})
    data = SalesData.from_frames(opportunities=opps, stage_events=ev, processes={"p": proc}, as_of="2025-03-01")
    plan = pd.DataFrame({"process": "p", "period": "2025-01", "stage": ["lead", "offer", "talk"],
                         "contracts": 1.0, "expected_entries": [4.0, 2.0, 1.0], "rate": 0.5})
    flows = dataclasses.replace(tiny_flows, cohorts=tiny_flows.cohorts.iloc[[1, 2]])  # January's o1 and o2
    got = variance(plan, data, stage_flows=flows).by_stage["planned_rate"].to_numpy()
    np.testing.assert_allclose(got, [0.5 * 2 ** (1 / 3)] * 3, rtol=1e-12)
    got = variance(plan.drop(columns="rate"), data, stage_flows=flows).by_stage["planned_rate"].to_numpy()
    np.testing.assert_allclose(got, [0.25 ** (1 / 3)] * 3, rtol=1e-12)


def test_plan_without_contracts_has_zero_stage_rates(tiny, tiny_plan, tiny_flows):
    for plan in (tiny_plan.drop(columns="rate").assign(contracts=0.0), tiny_plan.assign(contracts=0.0)):
        res = variance(plan, tiny, periods=["2025-01"], stage_flows=tiny_flows)
        assert res.by_stage["planned_rate"].tolist() == [0.0, 0.0]
        jan = res.table.iloc[0]
        # plan conversion 0: the one cohort win and the one contract are all conversion and timing
        assert (jan["volume_effect"], jan["conversion_effect"], jan["timing_effect"], jan["gap"]) == (0, 1, 0, 1)
        # the cohort rates (0.5, 1.0) against zero plan rates: lead 2 * (0.5 * 0 - 0) = 0, offer 2 * 0.5 * 1.0
        assert res.by_stage["conversion_effect"].tolist() == [0.0, 1.0]


def test_a_plan_of_one_entry(tiny, tiny_plan, tiny_flows):
    # one planned entry and half a contract: conversion 0.5, split evenly (no rates): each stage sqrt(0.5)
    plan = tiny_plan.drop(columns="rate").assign(expected_entries=1.0, contracts=0.5)
    res = variance(plan, tiny, periods=["2025-01"], stage_flows=tiny_flows)
    assert res.table["planned_conversion"].tolist() == [0.5]
    np.testing.assert_allclose(res.by_stage["planned_rate"], [0.5 ** 0.5] * 2, rtol=1e-12)


def test_plan_without_entries_has_a_zero_conversion(tiny, tiny_plan, tiny_flows):
    res = variance(tiny_plan.assign(expected_entries=0.0, contracts=0.0), tiny, periods=["2025-01"],
                   stage_flows=tiny_flows)
    assert res.table[["planned_conversion", "volume_effect", "conversion_effect"]].iloc[0].tolist() == [0, 0, 1]
    assert res.by_stage["planned_rate"].tolist() == [0.0, 0.0]


def test_cut_and_periods(tiny, tiny_plan, tiny_flows, caplog):
    base = variance(tiny_plan, tiny, stage_flows=tiny_flows).table
    # the same cut given as a zone-aware time: 01:00 at +01:00 is midnight UTC, the flows' cut
    same = variance(tiny_plan, tiny, as_of="2025-03-01T01:00:00+01:00", stage_flows=tiny_flows).table
    pd.testing.assert_frame_equal(same, base)
    with pytest.raises(ConfigError, match="freq 'M' at 2025-02-20"):  # flows of another cut are refused
        variance(tiny_plan, tiny, as_of="2025-02-20", stage_flows=tiny_flows)
    # one period as a string, as a tuple, or as a pandas Period
    for periods in ("2025-02", ("2025-02",), pd.Period("2025-02", "M")):
        got = variance(tiny_plan, tiny, periods=periods, stage_flows=tiny_flows).table
        pd.testing.assert_frame_equal(got, base.iloc[[1]].reset_index(drop=True))
    # plan periods are sorted; March starts at the cut and is left out with a warning
    march = tiny_plan[tiny_plan["period"] == "2025-01"].assign(period="2025-03")
    plan = pd.concat([tiny_plan.iloc[::-1], march], ignore_index=True)
    got = variance(plan, tiny, stage_flows=tiny_flows)
    assert [r.getMessage() for r in caplog.records] == [
        "plan periods ['2025-03'] start after the data cut 2025-03-01 and are not compared"]
    assert got.table["period"].tolist() == ["2025-01", "2025-02"]
    # the plan's rows came offer first: each stage keeps its own rate
    assert got.by_stage["stage"].tolist() == ["lead", "offer"] * 2
    assert got.by_stage["planned_rate"].tolist() == [0.8, 0.625] * 2


def test_summary_sums_the_periods(tiny, tiny_plan, tiny_flows):
    res = variance(tiny_plan, tiny, stage_flows=tiny_flows)
    assert res.summary().loc["p"].tolist() == [4.0, 2.0, -2.0, -2.0, -1.0, 1.0]
    assert res.title() == "Contract gap: volume, conversion and timing effects per process"


def test_a_period_without_contracts(tiny, tiny_plan, tiny_flows):
    # December 2024: o4 created (lead, offer), won in January: one cohort win, no contract closed in December
    dec = tiny_plan[tiny_plan["period"] == "2025-01"].assign(period="2024-12")
    row = variance(dec, tiny, stage_flows=tiny_flows).table.iloc[0]
    assert (row["actual_entries"], row["cohort_wins"], row["actual_contracts"], row["cohort_open"]) == (1, 1, 0, 0)
    assert (row["gap"], row["volume_effect"], row["conversion_effect"], row["timing_effect"]) == (-2, -1.5, 0.5, -1)
    assert bool(row["mature"])


def test_reduced_here_when_no_flows_are_given(tiny, tiny_plan, tiny_flows, monkeypatch):
    # without stage_flows= the data are reduced (here on the pandas path, no thread pool): the same figures
    from salesplan.reduce import stages

    monkeypatch.setattr(stages, "FAST_ENTRY", "off")
    got = variance(tiny_plan, tiny)
    want = variance(tiny_plan, tiny, stage_flows=tiny_flows)
    pd.testing.assert_frame_equal(got.table, want.table)
    pd.testing.assert_frame_equal(got.by_stage, want.by_stage)


def test_period_errors_name_the_periods(tiny, tiny_plan, tiny_flows):
    def run(plan=tiny_plan, **kw):
        return variance(plan, tiny, stage_flows=tiny_flows, **kw)

    with pytest.raises(PlanInputError, match=r"^period\(s\) \['2025-03'\] are not in the plan; plan periods are "
                                             r"\['2025-01', '2025-02'\]$"):
        run(periods=["2025-03", "2025-01"])
    with pytest.raises(PlanInputError, match=r"^periods=\['20x5'\]: unreadable period label\(s\)$"):
        run(periods=["20x5"])
    late = tiny_plan.assign(period=tiny_plan["period"].str.replace("2025-0", "2025-1"))  # November, December
    with pytest.raises(PlanInputError, match=r"^no plan period has started by the data cut 2025-03-01: plan periods "
                                             r"are \['2025-11', '2025-12'\]; actuals end there$"):
        run(late)
    with pytest.raises(PlanInputError, match=r"^period\(s\) \['2025-11'\] start after the data cut 2025-03-01: "
                                             r"no actuals yet$"):
        run(late, periods=["2025-11"])
    march = tiny_plan.assign(period=tiny_plan["period"].str.replace("2025-01", "2025-03"))
    with pytest.raises(PlanInputError, match=r"^period\(s\) \['2025-03'\] start after the data cut"):
        run(march, periods=["2025-03"])
    early = tiny_plan.assign(period=tiny_plan["period"].str.replace("2025-0", "2024-0"))
    with pytest.raises(SchemaError, match=r"^period\(s\) \['2024-01', '2024-02'\] end before the first opportunity "
                                          r"\(2024-12-20\): the actuals do not cover them \(empty period\)$"):
        run(early)
    # November 2024 ends before the first deal (20 Dec); December 2024 does not, but has only entries
    nov = tiny_plan.assign(period=tiny_plan["period"].map({"2025-01": "2024-11", "2025-02": "2024-12"}))
    with pytest.raises(SchemaError, match=r"period\(s\) \['2024-11'\] end before"):
        run(nov)
    # a period with opportunities but no stage event at all in the flows: empty
    quiet = dataclasses.replace(tiny_flows, entries=tiny_flows.entries[tiny_flows.entries["period"] != "2025-02"],
                                closes=tiny_flows.closes[tiny_flows.closes["period"] != "2025-02"])
    with pytest.raises(SchemaError, match=r"^stage_events: period\(s\) \['2025-02'\] have no stage events at all "
                                          r"\(empty period\); the actuals do not cover them$"):
        variance(tiny_plan, tiny, stage_flows=quiet)
    # a period with closes but no entries is covered
    closes_only = dataclasses.replace(tiny_flows, entries=quiet.entries)
    assert variance(tiny_plan, tiny, stage_flows=closes_only).table["period"].tolist() == ["2025-01", "2025-02"]


def test_process_errors(tiny, tiny_plan, tiny_flows):
    with pytest.raises(PlanInputError, match=r"^plan names process\(es\) \['zz'\] that the actuals do not have; "
                                             r"actual processes are \['p'\]$"):
        variance(tiny_plan.assign(process="zz"), tiny, stage_flows=tiny_flows)
    no_cohorts = dataclasses.replace(tiny_flows, cohorts=tiny_flows.cohorts.iloc[:0])
    with pytest.raises(PlanInputError, match=r"^plan names process\(es\) \['p'\] with no opportunities in the "
                                             r"actuals; processes with opportunities are \[\]$"):
        variance(tiny_plan, tiny, stage_flows=no_cohorts)
    for missing in ("opportunities", "stage_events"):
        data = types.SimpleNamespace(processes=tiny.processes, as_of=tiny.as_of,
                                     opportunities=tiny.opportunities, stage_events=tiny.stage_events)
        setattr(data, missing, None)
        with pytest.raises(SchemaError, match=r"^opportunities: plan against actual needs the opportunities and "
                                              r"stage_events tables$"):
            variance(tiny_plan, data, stage_flows=tiny_flows)
    # opportunities without their creation dates: the table and column are named
    data = types.SimpleNamespace(processes=tiny.processes, as_of=tiny.as_of, stage_events=tiny.stage_events,
                                 opportunities=tiny.opportunities.drop(columns="created_at"))
    with pytest.raises(SchemaError, match=r"opportunities\.created_at \[required\]"):
        variance(tiny_plan, data, stage_flows=tiny_flows)
    # a period that ends at the very instant of the first opportunity does not end before it (it is then empty)
    nov = pd.Period("2024-11", "M")
    first = tiny.opportunities.assign(created_at=tiny.opportunities["created_at"].where(
        tiny.opportunities["opportunity_id"] != "o4", nov.end_time))
    data = types.SimpleNamespace(processes=tiny.processes, as_of=tiny.as_of, stage_events=tiny.stage_events,
                                 opportunities=first)
    with pytest.raises(SchemaError, match=r"^stage_events: period\(s\) \['2024-11'\] have no stage events"):
        variance(tiny_plan.assign(period="2024-11"), data, stage_flows=tiny_flows)
    with pytest.raises(PlanInputError, match=r"^plan volumes: process 'p' period 2025-01: no row for the first "
                                             r"stage 'lead', so planned entries are unknown$"):
        variance(tiny_plan[tiny_plan["stage"] == "offer"], tiny, stage_flows=tiny_flows)


def test_plan_volumes_sum_segments_and_weight_rates():
    # two segments: lead entries 10 at 0.5 and 30 at 0.1 -> 40 entries, rate (5 + 3) / 40 = 0.2;
    # offer 5 at 0.6 and 0 at 0.9 -> rate 3 / 5 = 0.6; a stage with no entries has no rate
    vol = pd.DataFrame({"process": "p", "period": [pd.Period("2025Q2", "Q")] * 6 + ["2025Q1"] * 2,
                        "segment": ["a", "b"] * 4,
                        "stage": ["lead", "lead", "offer", "offer", "talk", "talk", "lead", "lead"],
                        "contracts": [3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 2.0, 2.0],
                        "expected_entries": [10.0, 30.0, 5.0, 0.0, 0.0, 0.0, 4.0, 4.0],
                        "rate": [0.5, 0.1, 0.6, 0.9, 0.7, 0.7, 0.5, 0.5]})
    before = vol.copy()
    got = plan_volumes_frame(types.SimpleNamespace(volumes=vol))  # a Plan: its volumes
    # half an entry planned still has a rate
    half = plan_volumes_frame(vol.assign(expected_entries=0.25))
    assert half["rate"].tolist() == pytest.approx([0.3, 0.75, 0.7, 0.5])
    pd.testing.assert_frame_equal(vol, before)
    expected = pd.DataFrame({"process": "p", "period": ["2025-Q2"] * 3 + ["2025-Q1"],
                             "stage": ["lead", "offer", "talk", "lead"], "contracts": [4.0, 4.0, 4.0, 4.0],
                             "expected_entries": [40.0, 5.0, 0.0, 8.0], "rate": [0.2, 0.6, np.nan, 0.5]})
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=1e-12)
    without = plan_volumes_frame(vol.drop(columns="rate"))
    assert list(without.columns) == ["process", "period", "stage", "contracts", "expected_entries"]
    assert without["period"].tolist() == ["2025-Q2"] * 3 + ["2025-Q1"]
    months = plan_volumes_frame(vol.assign(period=["2025-03"] * 6 + [2025] * 2).drop(columns="rate"))
    assert months["period"].tolist() == ["2025-03"] * 3 + ["2025"]


def test_plan_volumes_errors():
    good = pd.DataFrame({"process": "p", "period": ["2025-01", "2025-02"], "stage": "lead", "contracts": 1.0,
                         "expected_entries": 2.0})
    with pytest.raises(PlanInputError, match=r"^expected a salesplan Plan or its volumes DataFrame, got list$"):
        plan_volumes_frame([1, 2])
    with pytest.raises(PlanInputError, match=r"^plan volumes: missing column\(s\) \['stage', 'contracts'\]; have "
                                             r"\['process', 'period', 'expected_entries'\]$"):
        plan_volumes_frame(good.drop(columns=["stage", "contracts"]))
    with pytest.raises(PlanInputError, match=r"^plan volumes: the plan has no rows$"):
        plan_volumes_frame(good.iloc[:0])
    # six unreadable periods: the first five are named
    bad = pd.DataFrame({"process": "p", "period": ["2025-01", "bad", "worse", "x", "y", "z", "w"], "stage": "lead",
                        "contracts": 1.0, "expected_entries": 2.0})
    with pytest.raises(PlanInputError, match=r"^plan volumes: unreadable period\(s\) \['bad', 'worse', 'x', 'y', "
                                             r"'z'\]$"):
        plan_volumes_frame(bad)
