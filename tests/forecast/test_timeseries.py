"""Time-series forecasts and rolling-origin backtests: hand-computed cases and UCI Online Retail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan import ConfigError, NotFittedError, SchemaError
from salesplan.forecast import SeriesForecaster, backtest, mase_scale


def _monthly(values, start="2020-01"):
    return pd.Series(np.asarray(values, float), index=pd.period_range(start, periods=len(values), freq="M"))


def test_naive_interval_widens_with_sqrt_h():
    y = _monthly([10, 12, 11, 13])  # one-step differences 2, -1, 2 -> rms sqrt(3)
    fc = SeriesForecaster("naive").fit(y).forecast("4MS", confidence=0.8)
    z = stats.norm.ppf(0.9)
    sigma = np.sqrt((4 + 1 + 4) / 3)
    assert fc["mean"].tolist() == [13.0] * 4
    np.testing.assert_allclose(fc["high"] - fc["mean"], z * sigma * np.sqrt([1, 2, 3, 4]))
    assert [str(p) for p in fc.index] == ["2020-05", "2020-06", "2020-07", "2020-08"]


def test_seasonal_naive_repeats_last_season():
    y = _monthly([1, 2, 3, 4, 5, 6, 7, 8], "2020-01")
    fc = SeriesForecaster("seasonal_naive", seasonal_periods=4).fit(y).forecast("6MS")
    assert fc["mean"].tolist() == [5, 6, 7, 8, 5, 6]
    # all seasonal differences are 4 -> sigma 4; k = 0 for steps 1-4, 1 for steps 5-6
    width = (fc["high"] - fc["mean"]).to_numpy()
    np.testing.assert_allclose(width / width[0], [1, 1, 1, 1, np.sqrt(2), np.sqrt(2)])


def test_ets_tracks_level_and_sarima_runs():
    rng = np.random.default_rng(3)
    y = _monthly(50 + rng.normal(0, 1, 36))
    ets = SeriesForecaster("ets").fit(y)
    fc = ets.forecast("3MS")
    assert ets.model_.startswith("ETS(")
    assert abs(fc["mean"].iloc[0] - 50) < 1.5
    assert (fc["low"] < fc["mean"]).all() and (fc["mean"] < fc["high"]).all()


def test_sarima_against_the_model_it_fits():
    """Data drawn from SARIMA(1,1,0)x(0,1,0,12) with phi = 0.5, sd 1 (the default model for 10 years of months).

    The one-step mean is y_T + (y_{T-11} - y_{T-12}) + phi w_T with w the doubly differenced series; with phi
    estimated from ~107 points its standard error is sqrt((1 - phi^2) / 107) = 0.084, so the mean is checked to 4 of
    those times |w_T|. The 80% half-width is z_0.9 times the estimated sd (relative standard error ~7%: +-20%).
    """
    rng = np.random.default_rng(5)
    n, phi = 120, 0.5
    u = np.zeros(n)
    e = rng.normal(0, 1, n)
    for t in range(1, n):
        u[t] = phi * u[t - 1] + e[t]
    y = np.zeros(n)
    y[:13] = 100 + np.arange(13)
    for t in range(13, n):
        y[t] = y[t - 1] + y[t - 12] - y[t - 13] + u[t]
    fc = SeriesForecaster("sarima", clip_zero=False).fit(_monthly(y)).forecast("1MS", confidence=0.8)
    w_last = (y[-1] - y[-2]) - (y[-13] - y[-14])
    expected = y[-1] + (y[-12] - y[-13]) + phi * w_last
    assert fc["mean"].iloc[0] == pytest.approx(expected, abs=4 * 0.084 * abs(w_last) + 0.05)
    half = (fc["high"] - fc["mean"]).iloc[0]
    assert half == pytest.approx(stats.norm.ppf(0.9) * 1.0, rel=0.2)


def test_forecaster_errors():
    with pytest.raises(NotFittedError):
        SeriesForecaster().forecast("2MS")
    with pytest.raises(ConfigError):
        SeriesForecaster("magic").fit(_monthly([1, 2, 3]))
    with pytest.raises(ConfigError):
        SeriesForecaster(confidence=1.5).fit(_monthly([1, 2, 3]))
    with pytest.raises(SchemaError, match="empty"):
        SeriesForecaster().fit(pd.Series([], dtype=float))
    gappy = pd.Series([1.0, 2.0], index=pd.PeriodIndex(["2020-01", "2020-03"], freq="M"))
    with pytest.raises(SchemaError, match="gaps"):
        SeriesForecaster().fit(gappy)
    with pytest.raises(SchemaError, match="more than one season"):
        SeriesForecaster("seasonal_naive").fit(_monthly(range(12)))


def test_mase_scale_and_backtest_hand_computed():
    assert mase_scale(np.array([1.0, 3, 2, 6]), 1) == pytest.approx((2 + 1 + 4) / 3)
    y = _monthly([1, 2, 3, 4, 5, 6])
    bt = backtest(y, methods=("naive",), min_train=3, horizon="1MS", seasonal_periods=2)
    f = bt.forecasts.query("method == 'naive'")
    # naive forecasts 3, 4, 5 for actuals 4, 5, 6: every error is 1
    assert f["abs_error"].tolist() == [1.0, 1.0, 1.0]
    # seasonal naive (m=2) forecasts 2, 3, 4: every error 2; in-sample scale (lag 2) is 2 -> MASE 1
    s = bt.summary()
    assert s.loc["seasonal_naive", "mae"] == pytest.approx(2.0)
    assert s.loc["seasonal_naive", "mase"] == pytest.approx(1.0)
    assert s.loc["naive", "mase"] == pytest.approx(0.5)
    assert bt.best == "naive"


def uci_monthly_revenue(folder) -> pd.Series:
    """Monthly revenue (Quantity x price, cancellations included) Dec 2009 - Nov 2011; Dec 2011 is partial."""
    a = pd.read_parquet(folder / "online_retail_ii_2009_2010.parquet", columns=["InvoiceDate", "Quantity", "Price"])
    b = pd.read_parquet(folder / "online_retail_2010_2011.parquet", columns=["InvoiceDate", "Quantity", "UnitPrice"])
    a_date = pd.to_datetime(a["InvoiceDate"])
    a = pd.DataFrame({"date": a_date, "rev": a["Quantity"] * a["Price"]})[a_date < "2010-12-01"]  # overlap
    b = pd.DataFrame({"date": pd.to_datetime(b["InvoiceDate"]), "rev": b["Quantity"] * b["UnitPrice"]})
    rev = pd.concat([a, b])
    monthly = rev.groupby(rev["date"].dt.to_period("M"))["rev"].sum()
    return monthly[monthly.index <= pd.Period("2011-11", "M")]


def test_uci_online_retail_backtest_against_seasonal_naive(shared_data):
    y = uci_monthly_revenue(shared_data / "uci-online-retail")
    assert len(y) == 24
    # the 2010-2011 file's total (9,747,747.93) minus its Dec 2011 days is in the series
    assert y["2011-01":"2011-11"].sum() + y["2010-12"] == pytest.approx(9_747_747.93 - 433_668.01, abs=0.1)
    bt = backtest(y, methods=("ets", "sarima"), min_train=13, horizon="1MS", confidence=0.8)
    s = bt.summary()
    assert set(s.index) == {"ets", "sarima", "naive", "seasonal_naive"}
    assert (s["n"] == 11).all()
    # Honest result: with one year of history per origin no model can learn the Sep-Nov peak; the
    # seasonal-naive baseline wins clearly (MAE about 69k against 174k-218k for SARIMA and ETS).
    assert bt.best == "seasonal_naive"
    assert s.loc["seasonal_naive", "mae"] == pytest.approx(69182.42, rel=1e-4)
    assert s.loc["ets", "mae"] > 2 * s.loc["seasonal_naive", "mae"]
    assert s.loc["sarima", "mae"] > 2 * s.loc["seasonal_naive", "mae"]
