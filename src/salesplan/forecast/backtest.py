"""Rolling-origin backtests of per-period forecasts, beside naive and seasonal-naive baselines.

At each origin ``t`` (``min_train``, ``min_train + step``, ...) every method is fitted on the first ``t`` periods
and forecasts ``horizon`` periods; the forecasts are compared with what happened. Reported per method and step:

* MAE: mean absolute error.
* MASE: absolute error divided by the in-sample mean absolute error of the seasonal-naive forecast (lag ``m``;
  lag 1 when the training window is too short) on the same training window, then averaged (Hyndman & Koehler
  2006, "Another look at measures of forecast accuracy"). Below 1 means better than the in-sample baseline.
* coverage: share of actuals inside the ``confidence`` prediction interval.

The naive and seasonal-naive baselines are always included, so a model is never reported without them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> t = np.arange(48)
>>> y = pd.Series(100 + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, 48),
...               index=pd.period_range("2020-01", periods=48, freq="M"))
>>> bt = backtest(y, methods=("naive",), min_train=24, horizon="1MS")
>>> s = bt.summary()
>>> s[["n", "mae", "coverage"]].round(2).to_dict("index")
{'seasonal_naive': {'n': 24, 'mae': 2.05, 'coverage': 0.83}, 'naive': {'n': 24, 'mae': 6.86, 'coverage': 0.79}}

The seasonal-naive error is the difference of two noise terms, standard deviation 2 * sqrt(2), so its expected
MAE is 2 * sqrt(2) * sqrt(2 / pi) = 2.26; the naive forecast also misses the seasonal swing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result
from salesplan._validation import check_horizon, check_positive, check_probability, horizon_periods
from salesplan.errors import SalesplanError, SchemaError
from salesplan.forecast.timeseries import SeriesForecaster, as_period_series

__all__ = ["backtest", "BacktestResult", "mase_scale"]

logger = logging.getLogger(__name__)

BASELINES = ("naive", "seasonal_naive")


def mase_scale(y: np.ndarray, m: int) -> float:
    """In-sample mean absolute error of the seasonal-naive forecast with lag ``m`` (lag 1 if too short).

    Examples
    --------
    >>> mase_scale(np.array([1.0, 2, 4, 7]), 1)
    2.0
    """
    y = np.asarray(y, dtype=float)
    lag = m if len(y) > m else 1
    if len(y) <= lag:
        return float("nan")
    return float(np.mean(np.abs(y[lag:] - y[:-lag])))


@dataclass(frozen=True, repr=False)
class BacktestResult(Result):
    """Forecasts of every origin, method and step beside the actuals.

    Attributes
    ----------
    forecasts : DataFrame
        ``origin`` (last training period), ``method``, ``model`` (fitted model), ``step``, ``period``,
        ``actual``, ``mean``, ``low``, ``high``, ``abs_error``, ``scaled_error``, ``covered``.
    confidence : float
        Coverage of the intervals.
    """

    forecasts: pd.DataFrame
    confidence: float

    def title(self) -> str:
        """Origins and interval level of the backtest."""
        return f"Rolling-origin backtest: {self.forecasts['origin'].nunique()} origins, {self.confidence:.0%} intervals"

    def summary(self, by_step: bool = False) -> pd.DataFrame:
        """Per method (and step): ``n``, ``mae``, ``rmse``, ``mase``, ``coverage``, sorted by MASE."""
        keys = ["method", "step"] if by_step else ["method"]
        f = self.forecasts
        g = f.groupby(keys, sort=False)
        out = pd.DataFrame({
            "n": g.size(),
            "mae": g["abs_error"].mean(),
            "rmse": g["abs_error"].apply(lambda e: float(np.sqrt(np.mean(e**2)))),
            "mase": g["scaled_error"].mean(),
            "coverage": g["covered"].mean(),
        })
        out["confidence"] = self.confidence
        return out.sort_values(["mase", "mae"])

    @property
    def best(self) -> str:
        """The method with the lowest MASE."""
        return str(self.summary().index[0])


def backtest(
    y: Any,
    methods: Sequence[str | SeriesForecaster] = ("ets",),
    *,
    horizon: Any = None,
    min_train: int | None = None,
    step: int = 1,
    confidence: float = 0.8,
    seasonal_periods: int | None = None,
) -> BacktestResult:
    """Rolling-origin evaluation of per-period forecasters.

    Parameters
    ----------
    y : Series
        Per-period values (PeriodIndex or DatetimeIndex, no gaps).
    methods : sequence
        Method names of :class:`~salesplan.forecast.SeriesForecaster` or configured forecaster instances (any
        object with ``fit(y)`` and ``forecast(h, confidence)``). The naive and seasonal-naive baselines are added.
    horizon : str, Timedelta or DateOffset, optional
        How far ahead each origin forecasts (``"3MS"``: three months of a monthly series); default one period.
    min_train : int, optional
        Periods in the first training window (default: one season plus one, at least 3).
    step : int
        Periods between origins.
    confidence : float
        Prediction interval coverage.
    seasonal_periods : int, optional
        Season length (default from the index frequency).

    Returns
    -------
    BacktestResult

    Raises
    ------
    SchemaError
        When the series is too short for a single origin.
    """
    s = as_period_series(y, name="backtest(y)")
    m = seasonal_periods or SeriesForecaster(seasonal_periods=seasonal_periods)._season(s)
    if min_train is None:
        min_train = max(m + 1, 3)
    check_probability(confidence, "confidence")
    check_positive(step, "step", integer=True)
    if horizon is not None:
        check_horizon(horizon)
    if len(s) < min_train + 1:
        raise SchemaError(f"backtest: the series has {len(s)} periods; need more than min_train={min_train}")
    specs: list[tuple[str, Any]] = []
    for meth in methods:
        if isinstance(meth, str):
            specs.append((meth, {"method": meth}))
        else:
            specs.append((getattr(meth, "method", type(meth).__name__), meth))
    for base in BASELINES:
        if base not in [name for name, _ in specs]:
            specs.append((base, {"method": base}))
    rows = []
    values = s.to_numpy()
    for t in range(int(min_train), len(s), int(step)):
        train = s.iloc[:t]
        scale = mase_scale(train.to_numpy(), m)
        h = 1 if horizon is None else horizon_periods(train.index[-1], horizon)
        h = min(h, len(s) - t)
        for name, spec in specs:
            if name == "seasonal_naive" and t <= m:
                continue
            model = SeriesForecaster(**spec, seasonal_periods=m, confidence=confidence) if isinstance(spec, dict) else spec
            try:
                model.fit(train)
                fc = model.forecast(s.index.freq * h, confidence=confidence)
            except SalesplanError as exc:
                logger.warning("backtest: %s failed at origin %s: %s", name, train.index[-1], exc)
                continue
            for k in range(h):
                actual = values[t + k]
                err = abs(actual - fc["mean"].iloc[k])
                rows.append({"origin": train.index[-1], "method": name, "model": str(fc["method"].iloc[k])
                             if "method" in fc else name, "step": k + 1, "period": s.index[t + k],
                             "actual": actual, "mean": float(fc["mean"].iloc[k]), "low": float(fc["low"].iloc[k]),
                             "high": float(fc["high"].iloc[k]), "abs_error": err,
                             "scaled_error": err / scale if scale > 0 else np.nan,
                             "covered": bool(fc["low"].iloc[k] <= actual <= fc["high"].iloc[k])})
    if not rows:
        raise SchemaError("backtest: no forecast could be evaluated; lengthen the series or lower min_train")
    return BacktestResult(pd.DataFrame(rows), float(confidence))
