"""Pipeline backtest on past snapshots: calibration, owner bias, no look-ahead."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan import ConfigError
from salesplan.datasets import simulate
from salesplan.forecast import brier_score, cut_data, pipeline_backtest, reliability
from salesplan.funnel import estimate


def _estimator(cut):
    return estimate(cut.stage_events, cut.processes, opportunities=cut.opportunities, as_of=cut.as_of)


@pytest.fixture(scope="module")
def backtest_result():
    data, _ = simulate(n_customers=10, years=2, seed=21)
    return data, pipeline_backtest(data, horizon="30D", n_origins=5, estimator=_estimator, n_draws=500)


def test_brier_and_reliability_hand_computed():
    assert brier_score([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)
    r = reliability([0.05, 0.15, 0.95], [0, 1, 1], bins=[0, 0.2, 1])
    assert r["n"].tolist() == [2, 1]
    assert r["observed"].tolist() == [0.5, 1.0]
    assert r["mean_forecast"].tolist() == pytest.approx([0.1, 0.95])


def test_cut_data_has_no_future(small_world):
    data, _ = small_world
    cut = cut_data(data, "2023-12-31")
    assert cut.stage_events["entered_at"].max() <= pd.Timestamp("2023-12-31")
    assert cut.opportunities["created_at"].max() <= pd.Timestamp("2023-12-31")
    assert len(data.stage_events) > len(cut.stage_events)  # the input is unchanged
    with pytest.raises(ConfigError, match="before the data"):
        cut_data(data, "2000-01-01")


def test_pipeline_backtest_calibrated_and_better_than_climatology(backtest_result):
    data, bt = backtest_result
    s = bt.summary()
    assert s.loc["(all)", "origins"] == 5
    # deal probabilities carry information: Brier skill against the base rate is clearly positive
    b = bt.brier()
    assert b["skill"] > 0.15
    # forecast wins per deal agree with the observed share on average (within 3 percentage points)
    assert abs(bt.deals["p_win"].mean() - bt.deals["won"].mean()) < 0.03
    rel = bt.calibration(bins=[0, 0.1, 0.3, 0.6, 1.0])
    inside = (rel["observed_low"] <= rel["mean_forecast"]) & (rel["mean_forecast"] <= rel["observed_high"])
    assert inside.mean() >= 0.75
    # the pipeline forecast beats the naive "same as the last 30 days" on total wins
    assert s.loc["(all)", "mae_forecast"] < s.loc["(all)", "mae_naive"]


def test_owner_bias_adds_up(backtest_result):
    _, bt = backtest_result
    ob = bt.owner_bias()
    assert len(ob) == 15  # three owners per process
    assert ob["bias"].sum() == pytest.approx(bt.deals["p_win"].sum() - bt.deals["won"].sum())
    assert ob["deals"].sum() == len(bt.deals)


def test_backtest_rejects_origins_without_outcome(small_world):
    data, _ = small_world
    with pytest.raises(ConfigError, match="after the data cut"):
        pipeline_backtest(data, origins=[data.as_of - pd.Timedelta(days=5)], horizon="30D", estimator=_estimator)
    assert brier_score([0.2], [0]) == pytest.approx(0.04)  # (0.2 - 0)^2
