"""Bass diffusion: recovery of known parameters, fixed market potential, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan import ConfigError, NotFittedError, SchemaError
from salesplan.forecast import BassDiffusion, bass_cdf


def _bass_counts(m, p, q, n, rng=None):
    mean = m * np.diff(bass_cdf(np.arange(0, n + 1), p, q))
    y = rng.poisson(mean) if rng is not None else mean
    return pd.Series(np.asarray(y, float), index=pd.period_range("2024-01", periods=n, freq="M"))


def test_bass_cdf_known_values():
    # F(t) at the peak time ln(q/p)/(p+q) is (1 - p/q)/2 (Bass 1969)
    p, q = 0.03, 0.38
    t_star = np.log(q / p) / (p + q)
    assert float(bass_cdf(t_star, p, q)) == pytest.approx((1 - p / q) / 2)


def test_recovers_parameters_without_noise():
    b = BassDiffusion().fit(_bass_counts(1000, 0.02, 0.4, 15))
    est = b.params_["estimate"]
    assert est["m"] == pytest.approx(1000, rel=1e-3)
    assert est["p"] == pytest.approx(0.02, rel=1e-3)
    assert est["q"] == pytest.approx(0.4, rel=1e-3)
    assert b.summary().loc["peak_period", "estimate"] == pytest.approx(np.log(20) / 0.42, rel=1e-3)


def test_intervals_cover_truth_with_poisson_noise():
    rng = np.random.default_rng(11)
    hits = {"m": 0, "p": 0, "q": 0}
    for _ in range(20):
        b = BassDiffusion().fit(_bass_counts(800, 0.03, 0.35, 14, rng))
        for k, true in (("m", 800), ("p", 0.03), ("q", 0.35)):
            hits[k] += b.params_.loc[k, "low"] <= true <= b.params_.loc[k, "high"]
    # nominal 95% Wald intervals: at least 16 of 20 (a binomial(20, 0.95) falls below 16 with p < 0.003)
    assert min(hits.values()) >= 16


def test_fixed_market_potential_and_forecast():
    y = _bass_counts(500, 0.03, 0.3, 6, np.random.default_rng(2))
    b = BassDiffusion(market_potential=500, seed=1).fit(y)
    assert bool(b.params_.loc["m", "fixed"]) and b.params_.loc["m", "estimate"] == 500
    fc = b.forecast("6MS")
    assert [str(p) for p in fc.index[:2]] == ["2024-07", "2024-08"]
    assert (fc["low"] <= fc["mean"]).all() and (fc["mean"] <= fc["high"] + 1e-9).all()
    assert fc["cumulative"].iloc[-1] + fc["remaining"].iloc[-1] == pytest.approx(500)


def test_bass_errors():
    with pytest.raises(NotFittedError):
        BassDiffusion().forecast("3MS")
    with pytest.raises(SchemaError, match="at least"):
        BassDiffusion().fit(pd.Series([1.0, 2.0], index=pd.period_range("2024-01", periods=2, freq="M")))
    y = _bass_counts(100, 0.05, 0.3, 6)
    with pytest.raises(ConfigError, match="below"):
        BassDiffusion(market_potential=10).fit(y)
    with pytest.raises(SchemaError, match=">= 0"):
        BassDiffusion().fit(-y)
