"""The report's numbers through ``salesplan.Analysis`` and ``build_report``, against counts made here from the raw
tables with plain pandas (deal states, wins, activities and revenue of the reporting period, the brief lines)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import salesplan as sp
from salesplan.report import build_report, demo_config

CUT = pd.Timestamp("2024-07-01")  # the report covers June 2024
JUNE = (pd.Timestamp("2024-06-01"), CUT)


@pytest.fixture(scope="module")
def raw(small_world):
    data, _ = small_world
    return data


def _raw_states(data) -> pd.DataFrame:
    """Open / won / lost per process at the cut, from the stage events (a deal is closed by its first close)."""
    opps = data.opportunities[data.opportunities["created_at"] < CUT]
    ev = data.stage_events[data.stage_events["entered_at"] < CUT]
    closes = ev[ev["stage"].isin(["won", "lost"])].sort_values("entered_at").drop_duplicates("opportunity_id")
    st = opps[["opportunity_id", "process"]].merge(closes[["opportunity_id", "stage"]], how="left")
    st["status"] = st["stage"].fillna("open")
    return st.pivot_table(index="process", columns="status", values="opportunity_id", aggfunc="count",
                          fill_value=0)


def test_analysis_figures_against_raw_counts(raw) -> None:
    a = sp.Analysis(raw, sp.AnalysisSettings(as_of=CUT))
    assert str(a.period) == "2024-06"
    states = _raw_states(raw)
    got = a.status_counts
    for proc in states.index:
        for status in ("open", "won", "lost"):
            assert got.loc[proc, status] == states.loc[proc, status], (proc, status)
    assert a.open_opportunities == int(states["open"].sum())
    # wins closed in June, per process
    ev = raw.stage_events.merge(raw.opportunities[["opportunity_id", "process"]])
    june_wins = ev[(ev["stage"] == "won") & (ev["entered_at"] >= JUNE[0]) & (ev["entered_at"] < JUNE[1])]
    expected = june_wins.groupby("process").size()
    won = a.attainment.set_index("process")["won_period"]
    for proc in won.index:
        assert won[proc] == expected.get(proc, 0), proc
    assert a.won_period_total == len(june_wins) and len(june_wins) > 0
    # activities logged and net order revenue in June
    acts = raw.activities
    assert a.activities_in_period_total == int(((acts["date"] >= JUNE[0]) & (acts["date"] < JUNE[1])).sum())
    o = raw.orders[(raw.orders["order_date"] >= JUNE[0]) & (raw.orders["order_date"] < JUNE[1])]
    net = np.where(o["is_return"], -o["amount"].abs(), o["amount"]).sum()
    assert a.revenue_in_period == pytest.approx(net)


def test_report_key_figures_and_brief_show_the_raw_counts(raw) -> None:
    import dataclasses

    cfg = demo_config(sections=("overview", "activity"))
    cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, as_of=CUT))
    rep = build_report(raw, cfg)
    states = _raw_states(raw)
    figs = {f.key: f for f in rep.key_figures}
    assert figs["open_opportunities"].value == int(states["open"].sum())
    # wins of the quarter to date (April to June 2024) per process, and of June in the brief
    ev = raw.stage_events.merge(raw.opportunities[["opportunity_id", "process"]])
    won = ev[ev["stage"] == "won"]
    quarter = won[(won["entered_at"] >= pd.Timestamp("2024-04-01")) & (won["entered_at"] < CUT)]
    per_process = quarter.groupby("process").size()
    for proc in states.index:
        assert figs[f"won_quarter_{proc}"].value == per_process.get(proc, 0), proc
    june = won[(won["entered_at"] >= JUNE[0]) & (won["entered_at"] < JUNE[1])]
    a = sp.Analysis(raw, sp.AnalysisSettings(as_of=CUT))
    assert any(line.startswith(f"{a.period_label()}: {len(june)} contracts won") for line in rep.brief), rep.brief
    # the activity section: activities logged and net order revenue in June, from the raw tables
    act = {f.label.split(" ")[0]: f for s in rep.sections if s.key == "activity" for f in s.figures}
    acts = raw.activities
    assert act["Activities"].value == int(((acts["date"] >= JUNE[0]) & (acts["date"] < JUNE[1])).sum())
    o = raw.orders[(raw.orders["order_date"] >= JUNE[0]) & (raw.orders["order_date"] < JUNE[1])]
    assert act["Order"].value == pytest.approx(np.where(o["is_return"], -o["amount"].abs(), o["amount"]).sum())
