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

    cfg = demo_config(sections=("overview", "processes"))
    cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, as_of=CUT))
    rep = build_report(raw, cfg)
    states = _raw_states(raw)
    figs = {f.label: f for f in rep.key_figures}
    assert figs["Open opportunities"].value == int(states["open"].sum())
    by_section = {s.key: s for s in rep.sections}
    ev = raw.stage_events.merge(raw.opportunities[["opportunity_id", "process"]])
    june = ev[(ev["stage"] == "won") & (ev["entered_at"] >= JUNE[0]) & (ev["entered_at"] < JUNE[1])]
    won_figs = [f for s in by_section.values() for f in s.figures if f.label.startswith("Won in")]
    assert won_figs and sum(f.value for f in won_figs) == len(june)
    open_figs = [f for s in by_section.values() for f in s.figures if f.label == "Open opportunities"]
    assert sorted(f.value for f in open_figs) == sorted(states["open"].tolist())
    assert rep.brief and any(str(len(june)) in line for line in rep.brief)
