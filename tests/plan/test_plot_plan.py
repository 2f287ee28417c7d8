"""Planning charts: they draw the plan's numbers on the Axes they are given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import salesplan as sp
from salesplan.plan import backward
from salesplan.plot.plan import activity_plan, capacity_chart, reverse_funnel

PROCS = {"p": sp.SalesProcess("p", ["lead", "offer"])}


@pytest.fixture(scope="module")
def plan():
    targets = pd.DataFrame({"process": "p", "period": ["2026-02", "2026-03"], "contracts": [10, 12]})
    return backward(targets, {"p": {"lead": 0.5, "offer": 0.4}}, processes=PROCS,
                    activity_ratios={"p": {"lead": {"calls": 2.0}, "offer": {"visits": 1.0}}},
                    durations={"p": {"lead": 14, "offer": 7}})


def test_reverse_funnel_bars_are_expected_entries(plan) -> None:
    ax = Figure().add_subplot()
    out = reverse_funnel(plan, "p", ax=ax)
    assert out is ax
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == pytest.approx(sorted([25.0 + 30.0, 50.0 + 60.0]))
    marks = ax.collections[0].get_offsets()[:, 0]
    assert sorted(marks) == sorted(plan.volumes.groupby("stage")["required_entries"].sum())
    assert "22 contracts" in ax.get_title()


def test_activity_plan_stacks_kinds(plan) -> None:
    ax = activity_plan(plan, "W")
    assert ax.figure is not None
    total = sum(p.get_height() for p in ax.patches)
    assert total == pytest.approx(plan.activities["required"].sum())
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"calls", "visits"}
    assert "week" in ax.get_ylabel()


def test_capacity_chart_marks_shortfalls(plan) -> None:
    teams = pd.DataFrame({"team": ["t"], "process": ["p"], "people": [1], "hours": [30.0]})
    rep = plan.capacity(teams, {"calls": 0.25, "visits": 2.0}, freq="M")
    ax = capacity_chart(rep, "t")
    heights = np.array([p.get_height() for p in ax.patches])
    assert heights == pytest.approx(rep.table.sort_values("start")["required_hours"].to_numpy())
    red = [p.get_facecolor()[0] > 0.7 for p in ax.patches]
    assert red == list(~rep.table.sort_values("start")["feasible"])
