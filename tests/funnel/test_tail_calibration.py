"""Issue 17 (6): with slow losses the rates' intervals and an 80% plan made from them hold against the truth.

Worlds: acquisition only, losses 7 times slower than advances, 0.6 years of history: about 3.5% of stays are
unresolved at the horizon. Splitting those like the resolved ones (the old estimate) biases the later stages
upward (the offer stage's 95% interval covered the truth in 73% of 30 worlds, and an 80% plan reached its target
with probability 0.65 on average); the mixture-cure tail removes the bias. The full-size check (50 worlds for the
intervals, 30+ for the plan) is in the note of issue 17; this test runs 12 worlds to stay in the time budget.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan import DEFAULT_PROCESSES
from salesplan.funnel import estimate
from salesplan.funnel.aalen_johansen import aalen_johansen
from salesplan.plan import backward

SEEDS = range(12)
PROCS = {"acquisition": DEFAULT_PROCESSES["acquisition"]}


@pytest.fixture(scope="module")
def worlds(monkeypatch_module):
    sim = importlib.import_module("salesplan.datasets.simulate")
    est = importlib.import_module("salesplan.funnel.estimate")
    monkeypatch_module.setattr(sim, "LOSS_SLOWER", 7.0)
    rows, probs = [], []
    for seed in SEEDS:
        data, truth = sim.simulate(n_customers=20, years=0.6, seed=seed, creation_scale=4, processes=PROCS)
        f = estimate(data.stage_events, PROCS, data.opportunities)
        true = truth.stage_rates.query("segment == '*'")[["stage", "rate"]].rename(columns={"rate": "true"})
        r = f.rates.merge(true, on="stage")
        spells = f.reduction.spells
        split = []
        for k in range(len(PROCS["acquisition"].stages)):
            s = spells[spells["stage_idx"] == k]
            code = s["outcome"].map(est._OUTCOME_CODE).to_numpy()
            split.append(aalen_johansen(s["days"].to_numpy(), code, s["weight"].to_numpy(), tail="split").rate)
        r["split_rate"] = split
        rows.append(r)
        plan = backward(10, f, 0.8, process="acquisition")
        n = int(plan.volumes["required_entries"].iloc[0])
        probs.append(float(stats.binom.sf(9, n, float(np.prod(r["true"])))))
    return pd.concat(rows, ignore_index=True), np.array(probs)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_slow_losses_intervals_cover_the_truth(worlds) -> None:
    r, _ = worlds
    assert r["unresolved"].mean() > 0.02  # the unresolved mass is real
    covered = (r["rate_low"] <= r["true"]) & (r["true"] <= r["rate_high"])
    assert covered.mean() >= 0.92
    assert covered.groupby(r["stage"]).mean().min() >= 0.85
    assert abs((r["rate"] - r["true"]).mean()) < 0.01
    # the source of the old bias: splitting the unresolved stays like the resolved ones overestimates the late
    # stages by several points
    late = r["stage"].isin(["offer", "negotiation"])
    assert (r.loc[late, "split_rate"] - r.loc[late, "true"]).mean() > 0.02
    assert abs((r.loc[late, "rate"] - r.loc[late, "true"]).mean()) < 0.01


def test_plan_at_80_percent_reaches_the_target_under_the_true_rates(worlds) -> None:
    _, probs = worlds
    assert probs.mean() >= 0.78
    assert probs.min() >= 0.5


def test_tail_choice_is_checked() -> None:
    from salesplan import ParameterError, SalesProcess

    ev = pd.DataFrame({"opportunity_id": ["a", "a"], "stage": ["lead", "won"],
                       "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05"])})
    with pytest.raises(ParameterError, match="tail"):
        estimate(ev, SalesProcess("p", ["lead"]), tail="guess")
