"""Issue 17 (7): planning from any group column, one process of many, short ratio mappings, snapshot funnels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import salesplan as sp
from salesplan import PlanInputError
from salesplan.datasets import load_example
from salesplan.funnel import estimate
from salesplan.funnel.snapshot import snapshot_funnel
from salesplan.plan import backward, required_entries
from salesplan.plot.funnel import funnel_chart, time_in_stage


@pytest.fixture(scope="module")
def example() -> sp.SalesData:
    return load_example()


def test_plan_by_any_group_column(example: sp.SalesData) -> None:
    procs = {"acquisition": example.processes["acquisition"]}
    funnel = estimate(example.stage_events, procs, example.opportunities, by="owner", as_of=example.as_of)
    targets = pd.DataFrame({"process": "acquisition", "period": "2026-Q1", "owner": ["acq_rep1", "acq_rep2"],
                            "contracts": [3, 2]})
    plan = backward(targets, funnel, 0.8)
    first = plan.volumes.groupby("segment").head(1).set_index("segment")
    win = funnel.win_rate.set_index(["owner", "stage"])["win_rate"]
    stage = procs["acquisition"].stages[0]
    assert first.loc["acq_rep1", "expected_entries"] == pytest.approx(3 / win[("acq_rep1", stage)])
    assert first.loc["acq_rep2", "expected_entries"] == pytest.approx(2 / win[("acq_rep2", stage)])
    # a whole-process number plans from the pooled rates
    whole = backward(8, funnel, process="acquisition")
    assert set(whole.volumes["segment"]) == {"all"}


def test_one_process_of_a_multi_process_funnel(example: sp.SalesData) -> None:
    funnel = estimate(example, as_of=example.as_of)
    plan = backward(8, funnel, process="acquisition")
    assert set(plan.volumes["process"]) == {"acquisition"}
    rates = funnel.win_rate[funnel.win_rate["process"] == "acquisition"]
    first = rates[rates["stage"] == example.processes["acquisition"].stages[0]].iloc[0]
    assert plan.volumes["required_entries"].iloc[0] == int(
        required_entries(8, first["win_rate"], 0.8, alpha=plan.volumes["win_alpha"].iloc[0],
                         beta=plan.volumes["win_beta"].iloc[0]))
    with pytest.raises(PlanInputError, match="process='nope'"):
        backward(8, funnel, process="nope")


def test_short_activity_ratio_mapping_for_one_process() -> None:
    plan = backward(10, {"lead": 0.5, "offer": 0.4}, activity_ratios={"lead": {"calls": 3}})
    acts = plan.activities.set_index("kind")
    assert acts.loc["calls", "expected"] == pytest.approx(3 * 50)
    with pytest.raises(PlanInputError, match="needs a one-process funnel or process="):
        backward(pd.DataFrame({"process": ["a", "b"], "period": "2026-01", "contracts": [1, 1]}),
                 {"a": {"x": 0.5}, "b": {"y": 0.5}}, activity_ratios={"x": {"calls": 3}})
    with pytest.raises(PlanInputError, match="must map stage"):
        backward(10, {"lead": 0.5}, activity_ratios={"p": {"lead": 3}, "q": 2})


def test_backward_and_chart_accept_a_snapshot_funnel() -> None:
    rng = np.random.default_rng(0)
    n = 400
    won = rng.random(n) < 0.3
    engage = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    close = engage + pd.to_timedelta(rng.integers(5, 60, n), unit="D")
    snap = pd.DataFrame({"deal_stage": np.where(won, "Won", "Lost"), "engage_date": engage, "close_date": close})
    s = snapshot_funnel(snap, stages=["Prospecting", "Engaging"], stage="deal_stage", won="Won", lost="Lost",
                        entered="engage_date", closed="close_date")
    plan = backward(12, s, process="sales")
    row = plan.volumes.iloc[0]
    rate = float(s.win_rate.loc["censored_from_Engaging", "win_rate"])
    assert row["stage"] == "Engaging" and row["expected_entries"] == pytest.approx(12 / rate)
    assert row["method"] == "beta_negative_binomial"
    ax = funnel_chart(s, "sales")
    assert ax.get_xlabel() == "deals in the stage at the snapshot"
    assert "censored from Engaging" in ax.get_title()
    ax = time_in_stage(s, "sales")
    med = s.time_to_close.set_index("outcome")["median_days"]
    assert [p.get_width() for p in ax.patches] == pytest.approx([med["won"], med["lost"]])
