"""The open deals' forecast against the simulator's truth when losses are slow (issue 17, part 1 and 6).

A plan net of the open pipeline counts on the open deals' wins. On the issue's world (losses 7 times slower than
advances, 0.6 years of history, about 270 deals open at the cut) the forecast once read an open deal's chance to
advance from log-normal stage times fitted to quartiles: the log-normal's long tail kept old deals alive, so deals
20 days or more into their stage got about twice their true chance, and the wins in the quarter after the cut came
out about 50% too high (30 worlds: +1.78 of 3.37 wins; ``scripts/check_slow_loss_calibration.py --config issue
--netted 30``). Now the chance and the days to advance come from the funnel's own Aalen-Johansen curves
(:func:`salesplan.forecast.open_deals.curve_log_ratio`, :func:`~salesplan.forecast.open_deals.advance_curve`).

The truth per open deal is the simulator's model (:meth:`salesplan.datasets.simulate.Truth.open_deal_chances`):
its segment's stage rates, gamma stage times, the current stay conditioned on the days already spent; the chance
of a win landing in the quarter by 4,000 simulated continuations per deal. Over these three worlds (one
estimate of the funnel each: the tolerance is the estimate's own spread, not Monte Carlo error) the forecast gives
1.22 times the truth for the old deals' chance to advance (per world 1.05-1.30), 1.07 for the eventual wins and
1.17 for the wins in the quarter (9.6 true); the log-normal reading gave 1.71 (1.66-1.74), 1.11 and 1.43 (1.22-1.60).
The bounds (1.4 and 1.3) sit between the two; the eventual wins, where most open deals are young and the two
readings agree, are only held to within 15%.
"""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

from salesplan import DEFAULT_PROCESSES
from salesplan.forecast import pipeline
from salesplan.funnel import estimate

SIM = importlib.import_module("salesplan.datasets.simulate")
PROCS = {"acquisition": DEFAULT_PROCESSES["acquisition"]}
SLOWER = 7.0


@pytest.fixture(scope="module")
def worlds():
    """Three worlds of the issue's kind: forecast and truth per open deal."""
    out = []
    saved = SIM.LOSS_SLOWER
    try:
        SIM.LOSS_SLOWER = SLOWER
        for seed in range(3):
            data, truth = SIM.simulate(n_customers=20, years=0.6, seed=seed, creation_scale=4, processes=PROCS)
            out.append((seed, data, truth, estimate(data.stage_events, PROCS, data.opportunities)))
    finally:
        SIM.LOSS_SLOWER = saved
    frames = []
    for seed, data, truth, funnel in out:
        cut = pd.Timestamp(data.as_of)
        quarter = pd.Period(cut, freq="Q") + 1
        end = (quarter.end_time.normalize() + pd.Timedelta(days=1) - cut).days
        fc = pipeline(data, funnel, horizon=f"{end}D", freq="M", include_new=False, n_draws=200, seed=seed,
                      per_deal=True)
        eventual = pipeline(data, funnel, horizon="3650D", freq="Y", include_new=False, n_draws=200, seed=seed,
                            per_deal=True)
        deals = fc.deals.merge(data.opportunities[["opportunity_id", "segment"]], on="opportunity_id")
        months = [f"p_{m}" for m in pd.period_range(quarter.start_time, quarter.end_time, freq="M")]
        deals["in_quarter"] = deals[months].sum(axis=1)
        deals["won"] = deals["opportunity_id"].map(eventual.deals.set_index("opportunity_id")["p_win"])
        lo = (quarter.start_time - cut) / pd.Timedelta(days=1)
        true = truth.open_deal_chances(deals, lo, end, seed=seed).rename(columns={"in_window": "in_quarter"})
        frames.append(deals.join(true.add_suffix("_true")).assign(world=seed))
    return pd.concat(frames, ignore_index=True)


def test_old_open_deals_keep_their_true_chance_to_advance(worlds) -> None:
    old = worlds[worlds["days_in_stage"] > 20]
    assert len(old) > 400
    assert 0.8 <= old["p_advance_now"].sum() / old["advance_true"].sum() <= 1.4


def test_open_deals_wins_eventually_and_in_the_quarter_match_the_truth(worlds) -> None:
    assert 0.85 <= worlds["won"].sum() / worlds["won_true"].sum() <= 1.15
    assert 0.8 <= worlds["in_quarter"].sum() / worlds["in_quarter_true"].sum() <= 1.3
