"""KPIs and pipeline movement on the hand-worked company; the movement bridge on the example data."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from salesplan import ConfigError, ParameterError
from salesplan.control import kpis, pipeline_movement


def test_kpis_by_hand(tiny):
    funnel = SimpleNamespace(by=[], win_rate=pd.DataFrame({"process": "p", "stage": ["lead", "offer"],
                                                           "win_rate": [0.4, 0.5]}))
    k = kpis(tiny, freq="M", funnel=funnel, start="2025-01-01").set_index("period")
    jan = k.loc["2025-01"]
    assert (jan["created"], jan["won"], jan["lost"]) == (2, 1, 1)
    assert jan["snapshot_win_rate"] == 0.5
    assert jan["cohort_win_rate"] == 0.5 and jan["cohort_open_share"] == 0.0
    assert jan["cycle_days"] == pytest.approx(26.0)  # o4: 20 Dec -> 15 Jan
    assert (jan["open_count"], jan["open_value"]) == (1, 300.0)  # o4 in offer on 31 Dec
    assert jan["expected_wins"] == 0.5
    assert jan["coverage"] == 0.5  # 1 open deal for a target of 2
    assert jan["required_coverage"] == 2.0  # 1 / win rate 0.5
    assert jan["activities"] == 3
    feb = k.loc["2025-02"]
    assert (feb["open_count"], feb["expected_wins"]) == (1, 0.5)  # o1 in offer on 31 Jan
    assert feb["cohort_open_share"] == 1.0  # o3 and o5 still open
    with pytest.raises(ConfigError, match="before the data"):
        kpis(tiny, start="2020-01-01")
    with pytest.raises(ParameterError, match="freq"):
        kpis(tiny, freq="W")


def test_movement_by_hand(tiny):
    mv = pipeline_movement(tiny, "2025-01-31", "2025-02-28")
    t = mv.table[mv.table["process"] == "(all)"].set_index("category")
    assert t.loc[["open_at_start", "new", "won", "lost", "open_at_end"], "count"].tolist() == [1, 2, 1, 0, 2]
    assert t.loc[["open_at_start", "new", "won", "open_at_end"], "value"].tolist() == [100, 280, 100, 280]
    mv2 = pipeline_movement(tiny, "2025-01-06", "2025-01-31")
    d = mv2.deals.set_index("opportunity_id")
    assert d.loc["o1", "move"] == "advanced"  # lead -> offer
    assert d.loc["o4", "flow"] == "won" and d.loc["o2", "flow"] == "lost"
    history = pd.DataFrame({"opportunity_id": ["o3", "o3"], "recorded_at": pd.to_datetime(["2025-02-16", "2025-02-26"]),
                            "expected_close": pd.to_datetime(["2025-02-25", "2025-03-31"])})
    mv3 = pipeline_movement(tiny, "2025-02-20", "2025-02-28", close_dates=history)
    assert mv3.deals.set_index("opportunity_id").loc["o3", "move"] == "pushed"
    with pytest.raises(ConfigError, match="before end"):
        pipeline_movement(tiny, "2025-02-28", "2025-01-31")
    with pytest.raises(ConfigError, match="before the data"):
        pipeline_movement(tiny, "2020-01-01", "2025-01-31")
    with pytest.raises(ConfigError, match="after the data cut"):
        pipeline_movement(tiny, "2025-01-01", "2026-01-31")


def test_movement_bridge_adds_up_on_example(example_data):
    mv = pipeline_movement(example_data, "2025-06-30", "2025-09-30")
    for proc, g in mv.table.groupby("process"):
        t = g.set_index("category")
        for col in ("count", "value"):
            lhs = t.loc["open_at_start", col] + t.loc["new", col] + t.loc["reopened", col] - t.loc["won", col] \
                - t.loc["lost", col]
            assert lhs == pytest.approx(t.loc["open_at_end", col]), (proc, col)
        moved = t.loc[["advanced", "regressed", "pushed", "slipped", "unchanged"], "count"].sum()
        carried = ((mv.deals["status_start"] == "open") & (mv.deals["status_end"] == "open")
                   & ((mv.deals["process"] == proc) | (proc == "(all)"))).sum()
        assert moved == carried
