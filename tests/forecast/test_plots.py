"""Forecast charts: each returns its Axes and draws what it is given."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd

from salesplan.forecast import BassDiffusion, FunnelParameters, SeriesForecaster, backtest, bass_cdf, pipeline
from salesplan.forecast.evaluation import reliability
from salesplan.plot import forecast as pf
from salesplan.process import SalesProcess

matplotlib.use("Agg")


def test_forecast_charts():
    y = pd.Series(np.arange(30.0) % 12 + 5, index=pd.period_range("2022-01", periods=30, freq="M"))
    f = SeriesForecaster("seasonal_naive").fit(y)
    ax = pf.fan_chart(y, {0.5: f.forecast("6MS", 0.5), 0.9: f.forecast("6MS", 0.9)})
    assert len(ax.collections) == 2  # one band per level
    assert pf.backtest_chart(backtest(y, methods=("naive",), min_train=13)).get_ylabel() == "contracts per period"
    ax = pf.reliability_chart(reliability([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], bins=2))
    assert ax.get_xlim() == (0.0, 1.0)
    counts = pd.Series(400 * np.diff(bass_cdf(np.arange(0, 9), 0.03, 0.4)),
                       index=pd.period_range("2024-01", periods=8, freq="M"))
    assert pf.bass_chart(BassDiffusion().fit(counts), "4MS").get_ylabel() == "contracts per period"
    proc = SalesProcess("p", ["a"])
    fun = FunnelParameters.from_values({"p": proc}, rates={("p", "a"): (0.5, 100)}, advance_days={("p", "a"): 5})
    ev = pd.DataFrame({"opportunity_id": ["x", "y"], "stage": "a", "entered_at": pd.Timestamp("2025-01-01")})
    opps = pd.DataFrame({"opportunity_id": ["x", "y"], "process": "p", "created_at": pd.Timestamp("2025-01-01")})
    fc = pipeline(ev, fun, opportunities=opps, as_of="2025-01-02", horizon="60D", include_new=False, n_draws=500)
    ax = pf.pipeline_chart(fc)
    assert abs(sum(p.get_height() for p in ax.patches) - 1) < 1e-9  # a probability mass function
