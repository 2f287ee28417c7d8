"""The calibrated win probability per deal: calibration against the simulator's truth, out of time; reasons; the
scores (Brier decomposition, calibration slope, paired bootstrap) against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import salesplan as sp
from salesplan.datasets import simulate
from salesplan.forecast.evaluation import cut_data
from salesplan.forecast.win_probability import (
    WinProbability,
    brier_decomposition,
    deal_win_probability,
    paired_bootstrap,
    score_table,
    training_dates,
)
from salesplan.reduce.history import deal_snapshots


@pytest.fixture(scope="module")
def fitted():
    """A world of two and a half years; the model is fitted on what was known 9 months before the cut and scored on the
    deals open at later month ends, whose outcomes the simulator knows."""
    data, truth = simulate(n_customers=40, years=2.5, seed=7, creation_scale=2)
    train_end = data.as_of - pd.Timedelta(days=270)
    result = deal_win_probability(cut_data(data, train_end), model=WinProbability(n_threads=1, cv=3, max_iter=100))
    dates = training_dates(train_end + pd.Timedelta(days=1), data.as_of - pd.Timedelta(days=1))[::2]
    snaps = deal_snapshots(data.stage_events, data.processes, data.opportunities, dates=dates,
                           history=data.opportunity_history, activities=data.activities, customers=data.customers)
    outcome = truth.outcomes.set_index("opportunity_id")["outcome"]
    won = snaps["opportunity_id"].map(outcome).isin([p.won for p in data.processes.values()]).to_numpy(float)
    return data, truth, result, snaps, won


def test_calibrated_out_of_time_per_decile_of_predicted_probability(fitted):
    _, _, result, snaps, won = fitted
    p = result.p_win(snaps)
    assert len(p) > 500 and result.dropped >= 0
    decile = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False).to_numpy()
    for k in range(10):
        m = decile == k
        n, rate = int(m.sum()), won[m].mean()
        lo, hi = stats.binom.ppf([0.005, 0.995], n, p[m].mean()) / n
        assert lo <= rate <= hi, (k, n, p[m].mean(), rate)
    # and it beats the base rate and the stage-probability baseline (historical win rate per stage) out of time
    train = result.training
    by_stage = train.groupby(["process", "work_stage"])["won"].mean()
    stage_p = pd.Series(list(zip(snaps["process"], snaps["work_stage"], strict=True))).map(by_stage).to_numpy()
    table = score_table(won, {"model": p, "stage": stage_p, "base": np.full(len(p), train["won"].mean())})
    assert table.loc["model", "brier"] < table.loc["stage", "brier"] < table.loc["base", "brier"]
    assert 0.75 < table.loc["model", "calibration_slope"] < 1.3


def test_reasons_name_the_history_in_words(fitted):
    data, _, result, _, _ = fitted
    deals = result.deals
    open_then = data.opportunity_status(as_of=result.as_of).query("status == 'open'")["opportunity_id"]
    assert set(deals["opportunity_id"]) == set(open_then)  # every deal open at the cut, scored once
    assert deals["p_win"].between(0, 1).all() and deals["p_win"].is_monotonic_decreasing
    text = " ".join(deals["reasons"])
    assert "points)" in text
    assert any(w in text for w in ("pushed", "the usual time in", "overdue", "no activity for"))
    sample = result.training.iloc[::10]
    ax = result.plot_reliability(sample, sample["won"])
    assert ax.get_xlabel() == "predicted win probability"


def test_brier_decomposition_and_bootstrap_by_hand():
    p = np.array([0.1, 0.1, 0.1, 0.7, 0.7])
    y = np.array([0, 0, 1, 1, 1])
    d = brier_decomposition(p, y, bins=10)
    # bins: 0.1 (n=3, observed 1/3) and 0.7 (n=2, observed 1); overall 0.6
    assert d["reliability"] == pytest.approx((3 * (0.1 - 1 / 3) ** 2 + 2 * (0.7 - 1) ** 2) / 5)
    assert d["resolution"] == pytest.approx((3 * (1 / 3 - 0.6) ** 2 + 2 * 0.4 ** 2) / 5)
    assert d["uncertainty"] == pytest.approx(0.24)
    assert d["brier"] == pytest.approx(np.mean((p - y) ** 2)) == pytest.approx(
        d["reliability"] - d["resolution"] + d["uncertainty"])
    same = paired_bootstrap(y, p, p, n_draws=50)
    assert same["difference"] == same["low"] == same["high"] == 0
    with pytest.raises(sp.NotFittedError):
        WinProbability().p_win(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(sp.SchemaError, match="all won or all lost"):
        WinProbability().fit(pd.DataFrame({"a": [1.0, 2.0]}), [1, 1])


def test_labels_won_ever_and_within_a_horizon_by_hand():
    from salesplan.forecast.win_probability import deal_labels

    proc = sp.SalesProcess("p", ["lead", "offer"])
    opps = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "process": "p",
                         "created_at": pd.to_datetime(["2024-01-01"] * 3)})
    ev = pd.DataFrame({"opportunity_id": ["a", "a", "b", "b", "c"], "stage": ["lead", "won", "lead", "lost", "lead"],
                       "entered_at": pd.to_datetime(["2024-01-01", "2024-03-15", "2024-01-01", "2024-02-01",
                                                     "2024-01-01"])})
    snap = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "as_of": pd.to_datetime(["2024-01-31"] * 3)})
    ever = deal_labels(ev, proc, opps, snap, as_of="2024-06-30")
    assert ever.tolist()[:2] == [1.0, 0.0] and np.isnan(ever.iloc[2])  # c still open: not known
    # won on 03-15 is after the 30-day horizon (03-01); c open when the horizon ended: not won within it
    assert deal_labels(ev, proc, opps, snap, as_of="2024-06-30", horizon="30D").tolist() == [0.0, 0.0, 0.0]
    early = deal_labels(ev, proc, opps, snap, as_of="2024-02-15", horizon="60D")  # horizon ends after the cut
    assert np.isnan(early.iloc[0]) and early.iloc[1] == 0.0 and np.isnan(early.iloc[2])
