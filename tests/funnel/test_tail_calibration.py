"""Issue 17 (6): with slow losses the rates' intervals and an 80% plan made from them hold against the truth.

Two kinds of world, acquisition only:

- *the issue's world*: losses 5-10 times slower than advances (one factor per world, evenly over the range), 0.6
  years of history at 4 times the simulator's creation rate, 10 contracts. About 2-3% of the stays are unresolved
  at the horizon and 190-370 deals are open at the cut. Splitting the unresolved stays like the resolved ones
  (the old estimate) biases the later stages upward (the offer stage's 95% interval covered the truth in 73% of 30
  worlds, and an 80% plan reached its target with probability 0.55 on average over these worlds); the
  mixture-cure tail removes the bias. The plan's uncertainty is calibrated across worlds: the true win rate is
  uniform in the plan's own posterior. So the plan holds on average, and a single world falls below 0.8 as far as
  that posterior's width allows: over 50 worlds (``scripts/check_slow_loss_calibration.py --config issue``) the
  mean is 0.84 and the worst 0.53 (one world below 0.55), where a perfectly calibrated posterior of the same width
  puts the worst of 50 below 0.55 in 85% of repetitions. These eight worlds stay above 0.55.
- the *example size* (3 years at the simulator's default creation rate, as the bundled example company, losses
  7 times slower, and the simulator's own quarterly target of 8 contracts): the plan holds on average and in
  every world.

The full-size checks (50 worlds per configuration, and the history-length sweep) are in
``scripts/check_slow_loss_calibration.py``; their figures are in the planning guide.
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
#: losses 5-10 times slower than advances, one factor per world
SLOWER = np.linspace(5.0, 10.0, len(SEEDS))
EXAMPLE_SEEDS = range(6)
PROCS = {"acquisition": DEFAULT_PROCESSES["acquisition"]}


@pytest.fixture(scope="module")
def worlds(monkeypatch_module):
    sim = importlib.import_module("salesplan.datasets.simulate")
    est = importlib.import_module("salesplan.funnel.estimate")
    rng = np.random.default_rng(0)
    rows, plans = [], []
    for seed, slower in zip(SEEDS, SLOWER, strict=True):
        monkeypatch_module.setattr(sim, "LOSS_SLOWER", float(slower))
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
        loss = f.durations.query("outcome == 'loss'")[["stage", "median_days"]].merge(
            truth.durations.query("outcome == 'loss'")[["stage", "median_days"]], on="stage", suffixes=("", "_true"))
        r = r.merge(loss.rename(columns={"median_days": "loss_median", "median_days_true": "true_loss_median"}),
                    on="stage")
        rows.append(r.assign(world=seed))
        vol = backward(10, f, 0.8, process="acquisition").volumes.iloc[0]
        n = int(vol["required_entries"])
        p_true = float(np.prod(r["true"]))
        # the plan's stated chance by brute force: each stage's rate from its Beta, carried through the product
        draws = rng.beta(r["alpha"].to_numpy(), r["beta"].to_numpy(), size=(4000, len(r))).prod(axis=1)
        plans.append({"world": seed, "reached": float(stats.binom.sf(9, n, p_true)),
                      "stated": float(np.mean(stats.binom.sf(9, n, draws))),
                      "pit": float(stats.beta.cdf(p_true, vol["win_alpha"], vol["win_beta"])),
                      "open_deals": int(r["open"].sum()),
                      "unresolved": float((r["unresolved"] * r["entered"]).sum() / r["entered"].sum())})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(plans)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_the_worlds_are_the_issues(worlds) -> None:
    # "losses 5-10 times longer than advances, about 2% of stays unresolved at the horizon, many open deals"
    _, plans = worlds
    assert 0.015 <= plans["unresolved"].mean() <= 0.04
    assert (plans["open_deals"] >= 150).all()


def test_slow_losses_intervals_cover_the_truth(worlds) -> None:
    r, _ = worlds
    covered = (r["rate_low"] <= r["true"]) & (r["true"] <= r["rate_high"])
    assert covered.mean() >= 0.92
    assert covered.groupby(r["stage"]).mean().min() >= 0.85
    assert abs((r["rate"] - r["true"]).mean()) < 0.01
    # the source of the old bias: splitting the unresolved stays like the resolved ones overestimates the late
    # stages by several points
    late = r["stage"].isin(["offer", "negotiation"])
    assert (r.loc[late, "split_rate"] - r.loc[late, "true"]).mean() > 0.02
    assert abs((r.loc[late, "rate"] - r.loc[late, "true"]).mean()) < 0.01


def test_time_to_loss_is_not_cut_short_at_the_horizon(worlds) -> None:
    # the late stages' losses outlast the history; their median days to loss count the unresolved stays as lost
    # after the horizon by the tail model (on these worlds 12% short on average; the losses seen before the
    # horizon alone: 36% short), which the pipeline's open deals depend on
    r, _ = worlds
    late = r["stage"].isin(["offer", "negotiation"])
    assert np.log(r.loc[late, "loss_median"] / r.loc[late, "true_loss_median"]).mean() > -0.25


def test_plan_at_80_percent_reaches_the_target_under_the_true_rates(worlds) -> None:
    # on average (over 50 worlds 0.84, worst 0.53: see the module docstring); these eight stay above 0.55
    _, plans = worlds
    assert plans["reached"].mean() >= 0.78
    assert plans["reached"].min() >= 0.55


def test_plan_uncertainty_is_calibrated_across_worlds(worlds) -> None:
    r, plans = worlds
    # the plan states the posterior-predictive chance: 0.8 by brute force over the stage rates' Betas
    assert plans["stated"].between(0.78, 0.82).all()
    # the truth is uniform in the posterior: of the win rate in the plan's Beta, and of each stage rate in its own
    assert stats.kstest(plans["pit"], "uniform").pvalue >= 0.05
    assert stats.kstest(stats.beta.cdf(r["true"], r["alpha"], r["beta"]), "uniform").pvalue >= 0.05


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
