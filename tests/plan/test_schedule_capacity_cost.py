"""Activities, time-phasing, capacity (with the infeasibility report) and cost."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import salesplan as sp
from salesplan import PlanInputError
from salesplan.plan import backward

RATES = {"p": {"lead": 0.5, "offer": 0.5}}
RATIOS = {"p": {"lead": {"calls": 2.0}, "offer": {"calls": 1.0, "visits": 1.0}}}
PROCS = {"p": sp.SalesProcess("p", ["lead", "offer"])}


def _plan(contracts: int = 10, period: str = "2026-03", **kw) -> object:
    targets = pd.DataFrame({"process": ["p"], "period": [period], "contracts": [contracts]})
    return backward(targets, RATES, processes=PROCS, activity_ratios=RATIOS, **kw)


def test_activities_hand_computed() -> None:
    plan = _plan()
    acts = plan.activities.set_index("kind")
    # expected entries 40 (lead) and 20 (offer): calls 2*40 + 1*20, visits 1*20
    assert acts.loc["calls", "expected"] == pytest.approx(100.0)
    assert acts.loc["visits", "expected"] == pytest.approx(20.0)
    req = plan.volumes.set_index("stage")["required_entries"]
    assert acts.loc["calls", "required"] == pytest.approx(2 * req["lead"] + req["offer"])


def test_activity_ratios_default_to_process_definition() -> None:
    acq = sp.DEFAULT_PROCESSES["acquisition"]
    plan = backward(5, {s: 0.5 for s in acq.stages}, process="acquisition")
    assert set(plan.activity_ratios["source"]) == {"process definition"}
    calls = plan.activities.set_index("kind").loc["calls", "expected"]
    expected = sum(acq.activities[s].get("calls", 0.0) * 5 / 0.5 ** (5 - i) for i, s in enumerate(acq.stages))
    assert calls == pytest.approx(expected)


def test_schedule_conserves_volume_and_shifts_by_lead_time() -> None:
    plan = _plan(durations={"p": {"lead": 30, "offer": 14}})
    sched = plan.schedule("M")
    entries = sched[sched["item"] == "entries"]
    totals = entries.groupby("stage")[["expected", "required"]].sum()
    vol = plan.volumes.set_index("stage")
    assert np.allclose(totals["expected"], vol["expected_entries"].loc[totals.index])
    assert np.allclose(totals["required"], vol["required_entries"].loc[totals.index])
    # offers are entered 14 days before the March landing: the 14 days of Feb 15-28 and 17 of March
    offer = entries[entries["stage"] == "offer"].set_index("period")["expected"]
    assert offer["2026-02"] == pytest.approx(20 * 14 / 31)
    assert offer["2026-03"] == pytest.approx(20 * 17 / 31)
    # leads 44 days before: nothing in the target month itself
    assert "2026-03" not in set(entries[entries["stage"] == "lead"]["period"])
    calls = sched[sched["item"] == "calls"]["expected"].sum()
    assert calls == pytest.approx(plan.activities.set_index("kind").loc["calls", "expected"])


def test_weekly_labels_are_iso_weeks() -> None:
    sched = _plan(durations={"lead": 0, "offer": 0}).schedule("W")
    assert sched["period"].str.fullmatch(r"\d{4}-W\d{2}").all()
    assert (sched["start"].dt.day_of_week == 0).all()


def test_schedule_without_timing_warns(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="salesplan.plan.schedule"):
        sched = _plan().schedule("M")
    assert set(sched["period"]) == {"2026-03"}
    assert "no stage durations" in caplog.text


def test_schedule_needs_calendar_period() -> None:
    with pytest.raises(PlanInputError, match="period 'total'"):
        backward(5, {"a": 0.5}).schedule("W")
    assert set(backward(5, {"a": 0.5}, period="2026-05").schedule("M")["period"]) == {"2026-05"}


TEAMS = pd.DataFrame({"team": ["inside"], "process": ["p"], "people": [1], "hours": [10.0]})
HOURS = {"calls": 0.25, "visits": 2.0}


def test_capacity_hand_computed_and_infeasibility_report(caplog) -> None:
    plan = _plan()
    need = plan.activities.set_index("kind")["required"]
    hours = need["calls"] * 0.25 + need["visits"] * 2.0
    with caplog.at_level(logging.WARNING):
        rep = plan.capacity(TEAMS, HOURS, freq="M")
    row = rep.table.iloc[0]
    assert row["required_hours"] == pytest.approx(hours)
    assert row["available_hours"] == 10.0
    assert row["gap"] == pytest.approx(10.0 - hours)
    assert row["utilisation"] == pytest.approx(hours / 10.0)
    assert not rep.feasible
    msg = rep.infeasible["message"].iloc[0]
    assert msg.startswith("2026-03 team 'inside': short by") and f"{hours - 10:.1f} hours" in msg
    assert "short by" in caplog.text
    with pytest.raises(PlanInputError, match="2026-03 team 'inside'"):
        plan.capacity(TEAMS, HOURS, freq="M", raise_if_infeasible=True)
    people = int(np.ceil(hours / 10.0))
    ok = plan.capacity(TEAMS.assign(people=people), HOURS, freq="M")
    assert ok.feasible and ok.table["people_needed"].iloc[0] == people


@pytest.mark.parametrize("col", ["people", "hours"])
def test_capacity_of_zero_names_team_row(col: str) -> None:
    teams = pd.concat([TEAMS.assign(team="a", process="q"), TEAMS], ignore_index=True)
    teams.loc[1, col] = 0
    with pytest.raises(PlanInputError, match=rf"teams row 1 \(team='inside'\): {col} must be a positive"):
        _plan().capacity(teams, HOURS)


def test_capacity_other_errors() -> None:
    with pytest.raises(PlanInputError, match="no team serves"):
        _plan().capacity(TEAMS.assign(process="q"), HOURS)
    with pytest.raises(PlanInputError, match="no hours per activity given for kind"):
        _plan().capacity(TEAMS, {"calls": 0.25})
    with pytest.raises(PlanInputError, match="more than one team"):
        _plan().capacity(pd.concat([TEAMS, TEAMS.assign(team="b")]), HOURS)


def test_cost_hand_computed() -> None:
    plan = _plan()
    by_kind = plan.cost({"calls": 10.0, "visits": 100.0})
    exp = by_kind.set_index("kind")["expected_cost"]
    assert exp["calls"] == pytest.approx(1000.0) and exp["visits"] == pytest.approx(2000.0)
    per = plan.cost({"calls": 10.0, "visits": 100.0}, by="process").iloc[0]
    assert per["expected_cost_per_contract"] == pytest.approx(300.0)
    assert per["required_cost_per_contract"] > per["expected_cost_per_contract"]
    with pytest.raises(PlanInputError, match="visits"):
        plan.cost({"calls": 10.0})
    with pytest.raises(PlanInputError, match="unit_costs row 0"):
        plan.cost({"calls": -1.0, "visits": 1.0})


def test_segment_specific_activity_ratios_override_process_wide() -> None:
    rates = pd.DataFrame({"process": "p", "segment": ["a", "b"], "stage": "lead", "rate": [0.5, 0.25]})
    ratios = pd.DataFrame({"process": "p", "segment": ["a", None], "stage": "lead", "kind": "calls",
                           "per_entry": [4.0, 1.0]})
    targets = pd.DataFrame({"process": "p", "segment": ["a", "b"], "period": "2026-01", "contracts": [5, 5]})
    plan = backward(targets, rates, processes={"p": sp.SalesProcess("p", ["lead"])}, activity_ratios=ratios)
    acts = plan.activities.set_index("segment")["expected"]
    assert acts["a"] == pytest.approx(4.0 * 10) and acts["b"] == pytest.approx(1.0 * 20)
    sched = plan.schedule("M")
    calls = sched[sched["item"] == "calls"].groupby("segment")["expected"].sum()
    assert calls["a"] == pytest.approx(40.0) and calls["b"] == pytest.approx(20.0)


def test_plan_inputs_that_are_no_numbers_are_named_as_given() -> None:
    """A decimal comma in hours, unit costs or activity ratios is refused with the text the user wrote (not 'nan')."""
    from salesplan.errors import PlanInputError
    from salesplan.plan.activities import _given
    from salesplan.plan.capacity import hours_table
    from salesplan.plan.cost import unit_cost_table

    with pytest.raises(PlanInputError, match="got '0,25'"):
        hours_table({"calls": "0,25"})
    with pytest.raises(PlanInputError, match="got '12,50'"):
        unit_cost_table({"calls": "12,50"})
    with pytest.raises(PlanInputError, match="got '3,5'"):
        _given({"lead": {"calls": "3,5"}}, ["acquisition"], "acquisition")
