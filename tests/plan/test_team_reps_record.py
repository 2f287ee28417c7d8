"""Issue 17 (3, 5): the team table, whole numbers per rep and week, and the plan of record."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import salesplan as sp
from salesplan import PlanInputError
from salesplan.control import plan_vs_actual
from salesplan.datasets import load_example
from salesplan.plan import backward, load_plan, read_team, rep_hours, team_from_data
from salesplan.plan.reps import largest_remainder, whole_per_bucket

PROC = sp.SalesProcess("p", ["lead", "offer"])
CUT = pd.Timestamp("2026-01-05")  # a Monday


def _plan() -> object:
    targets = pd.DataFrame({"process": ["p", "p"], "period": ["2026-02", "2026-03"], "contracts": [7, 9]})
    return backward(targets, {"p": {"lead": 0.45, "offer": 0.55}}, processes={"p": PROC},
                    durations={"p": {"lead": 20, "offer": 10}},
                    activity_ratios={"p": {"lead": {"calls": 3.0}, "offer": {"visits": 1.0, "offers": 1.0}}})


TEAM = [
    {"owner": "ann", "processes": ["p"], "hours_per_week": 40},
    {"owner": "bob", "processes": ["p"], "hours_per_week": 20, "absences": [("2026-01-12", "2026-01-16")]},
    {"owner": "cid", "processes": ["p"], "hours_per_week": 40, "start": "2026-01-05", "ramp_months": 1,
     "ramp_fraction": 0.25},
]


def test_ramp_and_absences_reduce_capacity_as_stated() -> None:
    hours = rep_hours(read_team(TEAM), "2026-01-05", "2026-02-15").pivot(index="period", columns="owner",
                                                                          values="available_hours")
    assert hours["ann"].tolist() == [40.0] * 6
    assert hours.loc["2026-W03", "bob"] == 0.0  # absent Monday to Friday
    assert hours.loc["2026-W02", "bob"] == 20.0
    # ramp at 25% until 2026-02-05: 10 hours a week, then the week of Feb 2 has 3 ramp days and 2 full days
    assert hours["cid"].tolist()[:4] == [10.0] * 4
    assert hours.loc["2026-W06", "cid"] == pytest.approx(3 * 8 * 0.25 + 2 * 8)
    assert hours.loc["2026-W07", "cid"] == 40.0


def test_per_rep_whole_numbers_add_up_to_rounded_process_totals() -> None:
    plan = _plan()
    reps = plan.per_rep(TEAM, as_of=CUT)
    table = reps.table
    assert table["count"].dtype == np.int64 and (table["count"] >= 0).all()
    sched = plan.schedule("W", as_of=CUT)
    for item, tot in [("calls", None), ("visits", None), ("offers", None), ("lead entries", "lead"),
                      ("offer entries", "offer")]:
        if tot is None:
            total = sched.loc[sched["item"] == item, "required"].sum()
        else:
            total = sched.loc[(sched["item"] == "entries") & (sched["stage"] == tot), "required"].sum()
        assert table.loc[table["item"] == item, "count"].sum() == int(np.ceil(total - 1e-9)), item
    # per week: the reps' numbers add up to the week's whole number
    weekly = table.groupby(["item", "period"])["count"].sum()
    whole = reps.totals.set_index(["item", "period"])["whole"]
    pd.testing.assert_series_equal(weekly, whole[whole > 0], check_names=False)
    # bob is absent in week 3 and gets nothing; cid (ramping at 25%) gets less than ann
    wk3 = table[table["period"] == "2026-W03"]
    assert "bob" not in set(wk3["owner"])
    by_owner = table[table["kind"] == "calls"].groupby("owner")["count"].sum()
    assert by_owner["cid"] < by_owner["ann"]
    util = reps.utilisation
    row = util[(util["owner"] == "ann") & (util["period"] == "2026-W02")].iloc[0]
    mine = table[(table["owner"] == "ann") & (table["period"] == "2026-W02")].set_index("item")["count"]
    hours = 0.25 * mine.get("calls", 0) + 2.0 * mine.get("visits", 0) + 3.0 * mine.get("offers", 0)
    assert row["required_hours"] == pytest.approx(hours)
    assert row["utilisation"] == pytest.approx(hours / 40.0)
    wide = reps.wide()
    assert list(wide.columns[:4]) == ["owner", "period", "start", "new entries"]


def test_largest_remainder_and_cumulative_rounding_by_hand() -> None:
    assert largest_remainder(np.array([5, 0, 3]), np.array([[1.0, 1.0, 2.0], [1.0, 0.0, 0.0],
                                                            [0.0, 0.0, 0.0]])).tolist() == \
        [[1, 1, 3], [0, 0, 0], [0, 0, 0]]
    assert whole_per_bucket(np.array([1.2, 0.0, 2.9, 0.05])).tolist() == [2, 0, 3, 0]  # running ceil 2, 2, 5, 5


def test_excel_sheet_one_row_per_rep_and_week(tmp_path) -> None:
    from openpyxl import load_workbook

    reps = _plan().per_rep(TEAM, as_of=CUT)
    path = reps.to_excel(tmp_path / "reps.xlsx")
    ws = load_workbook(path).active
    header = [c.value for c in ws[1]]
    assert header[:4] == ["rep", "week", "from", "new entries"]
    assert ws.max_row - 1 == len(reps.wide())
    calls = header.index("calls") + 1
    assert sum(ws.cell(r, calls).value for r in range(2, ws.max_row + 1)) == \
        reps.table.loc[reps.table["item"] == "calls", "count"].sum()


def test_team_from_the_owners_in_the_data() -> None:
    data = load_example()
    team = team_from_data(data.opportunities, as_of=data.as_of)
    assert len(team) == 15
    assert sorted(team.loc[team["processes"].map(lambda p: "acquisition" in p), "owner"]) == \
        ["acq_rep1", "acq_rep2", "acq_rep3"]
    shares = team.attrs["pipeline_share"]
    assert sum(v for (p, _), v in shares.items() if p == "retention") == pytest.approx(1.0)


def test_team_files_toml_and_csv(tmp_path) -> None:
    (tmp_path / "team.toml").write_text(
        '[[team]]\nowner = "ann"\nprocesses = ["p", "q"]\nhours_per_week = 30\n'
        'absences = [["2026-01-12", "2026-01-13"]]\n', encoding="utf-8")
    team = read_team(tmp_path / "team.toml", processes=["p", "q"])
    assert team["processes"].iloc[0] == ("p", "q")
    assert team["absences"].iloc[0] == ((pd.Timestamp("2026-01-12"), pd.Timestamp("2026-01-13")),)
    (tmp_path / "team.csv").write_text("owner,processes,hours_per_week,absences\n"
                                       "ann,p;q,30,2026-01-12..2026-01-13\n", encoding="utf-8")
    pd.testing.assert_frame_equal(read_team(tmp_path / "team.csv", processes=["p", "q"]), team)


@pytest.mark.parametrize(("row", "message"), [
    ({"owner": "x", "processes": [], "hours_per_week": 30}, r"row 0 \(owner='x'\): key 'processes' is empty"),
    ({"owner": "x", "processes": ["p"], "hours_per_week": 0}, r"row 0 \(owner='x'\): key 'hours_per_week'"),
    ({"owner": "x", "processes": ["p"], "hours_per_week": -3}, r"key 'hours_per_week' must be a number > 0"),
    ({"owner": "x", "processes": ["zz"], "hours_per_week": 3}, r"unknown process\(es\) \['zz'\]"),
    ({"owner": "x", "processes": ["p"], "hours_per_week": 3, "ramp_months": 9},
     r"key 'ramp_months' 9 is longer than the plan's horizon"),
    ({"owner": "x", "processes": ["p"], "hours_per_week": 3, "start": "2026-03-01", "end": "2026-02-01"},
     r"key 'end' 2026-02-01 is before 'start'"),
])
def test_bad_team_rows_name_row_and_key(row: dict, message: str) -> None:
    with pytest.raises(PlanInputError, match=message):
        read_team([row], processes=["p"], as_of="2026-01-01", horizon_end="2026-06-30")


def test_repeated_owner_is_refused() -> None:
    with pytest.raises(PlanInputError, match=r"row 1 \(owner='a'\): owner repeats row 0"):
        read_team([{"owner": "a", "processes": ["p"], "hours_per_week": 1}] * 2)


def test_plan_of_record_round_trips_exactly(tmp_path) -> None:
    data = load_example()
    funnel = sp.funnel.estimate(data, as_of=pd.Timestamp("2025-01-01"))
    targets = data.targets[data.targets["period"].astype(str).str.startswith("2025")]
    plan = backward(targets, funnel, 0.8, processes=data.processes)
    path = plan.save(tmp_path / "plan.json", settings={"note": "set on 2025-01-01"})
    again = load_plan(path)
    for name in ("targets", "volumes", "activity_ratios"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(plan, name), check_exact=True)
    pd.testing.assert_frame_equal(again.activities, plan.activities, check_exact=True)
    pd.testing.assert_frame_equal(again.schedule("W"), plan.schedule("W"), check_exact=True)
    assert again.target_probability == plan.target_probability and again.record["settings"] == {"note": "set on 2025-01-01"}
    # plan vs actual against the stored plan equals that against the plan that was set
    periods = ["2025-Q1"]
    pd.testing.assert_frame_equal(plan_vs_actual(again, data, periods=periods),
                                  plan_vs_actual(plan, data, periods=periods))


def test_bad_plan_files_are_refused(tmp_path) -> None:
    plan = _plan()
    path = plan.save(tmp_path / "plan.json")
    doc = json.loads(path.read_text())
    bad = dict(doc, version=99)
    (tmp_path / "v.json").write_text(json.dumps(bad))
    with pytest.raises(PlanInputError, match="plan file version 99"):
        load_plan(tmp_path / "v.json")
    vol = dict(doc["volumes"])
    drop = vol["columns"].index("required_entries")
    vol = {"columns": [c for c in vol["columns"] if c != "required_entries"], "dtypes": vol["dtypes"],
           "rows": [[v for i, v in enumerate(r) if i != drop] for r in vol["rows"]]}
    (tmp_path / "c.json").write_text(json.dumps(dict(doc, volumes=vol)))
    with pytest.raises(PlanInputError, match=r"table 'volumes' lacks column\(s\) \['required_entries'\]"):
        load_plan(tmp_path / "c.json")
    no_key = {k: v for k, v in doc.items() if k != "lead_times"}
    (tmp_path / "k.json").write_text(json.dumps(no_key))
    with pytest.raises(PlanInputError, match="key 'lead_times' is missing"):
        load_plan(tmp_path / "k.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(PlanInputError, match="not a salesplan plan of record"):
        load_plan(tmp_path / "x.json")


def test_rep_targets_chart_draws_the_whole_numbers() -> None:
    from matplotlib.figure import Figure

    from salesplan.plot.plan import rep_targets

    reps = _plan().per_rep(TEAM, as_of=CUT)
    ax = Figure().add_subplot()
    assert rep_targets(reps, "calls", ax=ax) is ax
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == reps.table.loc[reps.table["item"] == "calls", "count"].sum()


def test_headcount_hand_computed() -> None:
    from salesplan.plan.headcount import headcount

    plan = backward(pd.DataFrame({"process": ["p"], "period": ["2026-06"], "contracts": [40]}),
                    {"p": {"lead": 0.5}}, durations={"p": {"lead": 20}},
                    activity_ratios={"p": {"lead": {"visits": 2}}})
    n = int(plan.volumes["required_entries"].iloc[0])
    team = [{"owner": "ann", "processes": ["p"], "hours_per_week": 10}]
    profile = {"hours_per_week": 30, "ramp_months": 1, "ramp_fraction": 0.5, "lead_months": 1,
               "cost_per_month": 6000}
    need = headcount(plan, team, profile, as_of="2026-03-01", hours={"visits": 2.0})
    may = need.table.set_index("period").loc["2026-05"]
    # entries May 12 - 31 land in June (20 days of 30): 2 visits of 2 hours each
    assert may["required_hours"] == pytest.approx(n * 4 * 20 / 30)
    assert may["team_hours"] == pytest.approx(21 * 2.0)  # 21 weekdays at 10 h a week
    assert may["hire_hours"] == pytest.approx(21 * 6.0)  # hired April 1, ramped by May
    assert need.summary["hires"].iloc[0] == int(np.ceil((may["required_hours"] - 42) / 126))
    assert need.summary["cost"].iloc[0] == pytest.approx(need.summary["hires"].iloc[0] * 6000 * 3)  # Apr-Jun
    # attrition lowers the team's hours; a lead time past the plan makes the gap unfixable
    worse = headcount(plan, team, {**profile, "attrition": 0.5}, as_of="2026-03-01", hours={"visits": 2.0})
    assert worse.table["team_hours"].iloc[0] < may["team_hours"]
    late = headcount(plan, team, {**profile, "lead_months": 5}, as_of="2026-03-01", hours={"visits": 2.0})
    assert late.summary["months_short_before_start"].iloc[0] == 2 and late.summary["hires"].iloc[0] == 0
    with pytest.raises(PlanInputError, match="key 'cost_per_month' is missing"):
        headcount(plan, team, {"hours_per_week": 30}, as_of="2026-03-01")


def test_analysis_headcount_from_the_hire_profile_setting() -> None:
    """``[capacity] hire_profile`` reaches ``Analysis.headcount``, which sizes the hires for the net plan with the
    settings' team and hours per activity: the hand-computed case above (May needs n x 4 x 20/30 hours)."""
    from dataclasses import replace

    from salesplan import Analysis, FigureUnavailable
    from salesplan.report.config import parse_config

    profile = {"hours_per_week": 30.0, "ramp_months": 1.0, "ramp_fraction": 0.5, "lead_months": 1.0,
               "cost_per_month": 6000.0}
    settings = parse_config({"capacity": {"hire_profile": profile, "hours_per_activity": {"visits": 2.0}}}).settings()
    assert dict(settings.hire_profile) == profile
    plan = backward(pd.DataFrame({"process": ["retention"], "period": ["2026-06"], "contracts": [40]}),
                    {"retention": {"lead": 0.5}}, durations={"retention": {"lead": 20}},
                    activity_ratios={"retention": {"lead": {"visits": 2}}},
                    processes={"retention": sp.SalesProcess("retention", ["lead"])})
    n = int(plan.volumes["required_entries"].iloc[0])
    a = Analysis(load_example(), replace(settings, team=[{"owner": "ann", "processes": ["retention"],
                                                                "hours_per_week": 10}]))
    a.__dict__["net_plan"] = replace(plan, as_of=pd.Timestamp("2026-03-01"))  # the net plan, without a forecast
    hires = a.headcount.summary.set_index("process").loc["retention"]
    assert hires["hires"] == int(np.ceil((n * 4 * 20 / 30 - 21 * 2.0) / (21 * 6.0)))
    assert hires["cost"] == pytest.approx(hires["hires"] * 6000 * 3)
    # the report lays out that summary as it is, naming the process short of hours and the profile
    from salesplan.report.model import Section
    from salesplan.report.sections import headcount_table

    sec = Section("activity", "Sales activity")
    headcount_table(a, sec)
    table = next(b for b in sec.blocks if getattr(b, "name", "") == "headcount")
    pd.testing.assert_frame_equal(table.frame, a.headcount.summary)
    assert "Hires needed in retention" in table.note and "30 h a week" in table.note
    with pytest.raises(FigureUnavailable, match="hire_profile"):
        _ = Analysis(load_example(), sp.AnalysisSettings()).headcount


def test_equal_reps_take_turns_with_odd_units() -> None:
    weeks = 6
    alloc = largest_remainder(np.ones(weeks, dtype=np.int64), np.ones((weeks, 3)), rotate=np.arange(weeks))
    assert alloc.sum(axis=0).tolist() == [2, 2, 2]
    assert alloc.sum(axis=1).tolist() == [1] * weeks


def test_analysis_team_from_the_data_and_the_plan_of_record(tmp_path) -> None:
    from salesplan import Analysis, AnalysisSettings

    data = load_example()
    a = Analysis(data, AnalysisSettings())
    assert len(a.team) == 15 and a.capacity_processes == a.processes
    assert a.team["hours_per_week"].iloc[0] == pytest.approx(120.0 * 12 / 52)
    assert a.plan_is_reconstructed
    path = _plan().save(tmp_path / "plan.json")
    b = Analysis(data, AnalysisSettings(plan_of_record=path,
                                        team=[{"owner": "x", "processes": ["retention"], "hours_per_week": 9}]))
    assert not b.plan_is_reconstructed
    assert b.plan_of_record.volumes.equals(load_plan(path).volumes)
    assert b.team["owner"].tolist() == ["x"] and b.capacity_processes == ["retention"]

