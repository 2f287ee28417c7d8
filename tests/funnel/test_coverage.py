"""Correctness on the simulator: interval coverage and error against the true stage rates across 50 seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan import DEFAULT_PROCESSES
from salesplan.datasets import simulate
from salesplan.funnel import estimate

SEEDS = range(50)


def test_coverage_and_error_beat_closed_only() -> None:
    # A short history (110 days) with many deals: about 15% of stays are open at the cut, and losses take twice
    # as long as advances, so the closed-only rate is biased upward.
    procs = {"acquisition": DEFAULT_PROCESSES["acquisition"]}
    parts = []
    for seed in SEEDS:
        data, truth = simulate(n_customers=20, years=0.3, seed=seed, creation_scale=8, processes=procs)
        f = estimate(data.stage_events, procs, data.opportunities)
        true = truth.stage_rates.query("segment == '*'")[["process", "stage", "rate"]]
        parts.append(f.rates.merge(true.rename(columns={"rate": "true"}), on=["process", "stage"]))
    r = pd.concat(parts, ignore_index=True)
    assert len(r) == 5 * len(SEEDS)
    assert r["open"].sum() / r["entered"].sum() > 0.1  # the censoring is real
    covered = (r["rate_low"] <= r["true"]) & (r["true"] <= r["rate_high"])
    assert covered.mean() >= 0.90
    mae = (r["rate"] - r["true"]).abs().mean()
    mae_closed = (r["closed_only_rate"] - r["true"]).abs().mean()
    assert mae < mae_closed
    assert mae < 0.04
    # the effective Beta is Beta(rate * n_eff + 1/2, (1 - rate) * n_eff + 1/2): its mean sits within
    # |1/2 - rate| / (n_eff + 1) of the rate, and is close wherever the evidence is large
    mean = r["alpha"] / (r["alpha"] + r["beta"])
    np.testing.assert_allclose(mean, (r["rate"] * r["n_eff"] + 0.5) / (r["n_eff"] + 1), rtol=1e-9)
    big = r["n_eff"] >= 50
    assert big.sum() > 100
    assert np.allclose(mean[big], r.loc[big, "rate"], atol=0.01)
