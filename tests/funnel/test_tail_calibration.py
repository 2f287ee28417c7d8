"""Issue 17 (6): with slow losses the rates' intervals and an 80% plan made from them hold against the truth.

Two kinds of world, losses 7 times slower than advances, acquisition only:

- the *stress case* (0.6 years of history at 4 times the creation rate, 10 contracts): about 3.5% of stays are
  unresolved at the horizon. Splitting those like the resolved ones (the old estimate) biases the later stages
  upward (the offer stage's 95% interval covered the truth in 73% of 30 worlds, and an 80% plan reached its target
  with probability 0.65 on average); the mixture-cure tail removes the bias. Here the plan holds *on average*; a
  single world can fall well below 80% (0.53 in 50 worlds), as an honestly calibrated posterior of that width
  allows.
- the *example size* (3 years at the simulator's default creation rate, as the bundled example company, and the
  simulator's own quarterly target of 8 contracts): the plan holds on average and in every world.

The full-size check (50 worlds per configuration, and the history-length sweep) is
``scripts/check_slow_loss_calibration.py``; its figures are in the note of issue 17 and the planning guide.
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

SEEDS = range(8)
EXAMPLE_SEEDS = range(6)
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


def test_plan_at_80_percent_reaches_the_target_under_the_true_rates_on_average(worlds) -> None:
    # the stress case: calibrated on average; no per-world floor (see the module docstring)
    _, probs = worlds
    assert probs.mean() >= 0.78
    assert probs.min() >= 0.5


@pytest.fixture(scope="module")
def example_size_plans(monkeypatch_module):
    sim = importlib.import_module("salesplan.datasets.simulate")
    monkeypatch_module.setattr(sim, "LOSS_SLOWER", 7.0)
    probs = []
    for seed in EXAMPLE_SEEDS:
        data, truth = sim.simulate(n_customers=400, years=3, seed=seed, processes=PROCS)
        target = data.targets[data.targets["period"] == "2026-Q1"]
        f = estimate(data.stage_events, PROCS, data.opportunities)
        vol = backward(target, f, 0.8, processes=PROCS).volumes.iloc[0]
        p_true = truth.stage_rates.query("segment == '*'")["rate"].prod()
        probs.append(float(stats.binom.sf(vol["contracts"] - 1, vol["required_entries"], p_true)))
    return np.array(probs)


def test_plan_at_80_percent_holds_in_every_world_of_the_example_size(example_size_plans) -> None:
    assert example_size_plans.mean() >= 0.78
    assert example_size_plans.min() >= 0.55


def test_tail_choice_is_checked() -> None:
    from salesplan import ParameterError, SalesProcess

    ev = pd.DataFrame({"opportunity_id": ["a", "a"], "stage": ["lead", "won"],
                       "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05"])})
    with pytest.raises(ParameterError, match="tail"):
        estimate(ev, SalesProcess("p", ["lead"]), tail="guess")
