"""Time-series forecasts of won contracts and revenue per period, with prediction intervals.

:class:`SeriesForecaster` wraps four methods behind one scikit-learn-style estimator:

``"naive"``
    The last value; the interval widens with ``sqrt(h)`` from the one-step naive residual spread (Hyndman &
    Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., section 5.5).
``"seasonal_naive"``
    The value one season earlier; the interval widens with ``sqrt(k + 1)``, ``k`` the number of complete seasons
    in the horizon.
``"ets"``
    statsmodels' innovations state-space exponential smoothing (:class:`statsmodels.tsa.exponential_smoothing.ets.
    ETSModel`). Candidates with additive errors, no or damped additive trend and, where at least two full seasons
    plus two points exist, additive seasonality are fitted and the smallest AICc wins (Hyndman et al. 2008);
    initial states are estimated, or set heuristically when seasonal candidates compete (speed).
``"sarima"``
    statsmodels' SARIMAX with ``order`` (default ``(1, 1, 0)``) and, where two full seasons exist, a seasonal
    difference ``(0, 1, 0, m)``.
``"auto"``
    ``"ets"``.

Intervals are Gaussian prediction intervals of each model; a series that must stay positive is clipped at zero
(``clip_zero=True``). Assumption: equally spaced periods without gaps (missing periods should be filled with 0
by the caller when "nothing happened").

Examples
--------
>>> import numpy as np, pandas as pd
>>> y = pd.Series(np.arange(1.0, 25.0) % 12 + 10, index=pd.period_range("2020-01", periods=24, freq="M"))
>>> fc = SeriesForecaster("seasonal_naive", seasonal_periods=12).fit(y).forecast("3MS")
>>> fc["mean"].tolist()
[11.0, 12.0, 13.0]
>>> bool((fc["low"] <= fc["mean"]).all())
True
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan._validation import check_probability, horizon_periods
from salesplan.errors import ConfigError, ConvergenceError, NotFittedError, SchemaError

__all__ = ["SeriesForecaster", "METHODS", "as_period_series"]

logger = logging.getLogger(__name__)

METHODS = ("naive", "seasonal_naive", "ets", "sarima", "auto")
_DEFAULT_SEASON = {"M": 12, "Q": 4, "W": 52, "D": 7}


def as_period_series(y: Any, freq: str | None = None, name: str = "series") -> pd.Series:
    """Return ``y`` as a float Series on a gap-free :class:`pandas.PeriodIndex` (a copy; input untouched).

    Parameters
    ----------
    y : Series or array-like
        Values indexed by periods or dates. A plain array gets a ``RangeIndex``-like integer period index.
    freq : str, optional
        Frequency for a DatetimeIndex (default: inferred, else monthly).
    name : str
        Used in error messages.

    Raises
    ------
    SchemaError
        Empty series, missing or non-finite values, or gaps between periods.

    Examples
    --------
    >>> s = as_period_series(pd.Series([1, 2], index=pd.to_datetime(["2024-01-31", "2024-02-29"])), freq="M")
    >>> str(s.index[0])
    '2024-01'
    """
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise SchemaError(f"{name}: expected one column of values, got columns {list(y.columns)}")
        y = y.iloc[:, 0]
    s = pd.Series(y).copy() if not isinstance(y, pd.Series) else y.copy()
    if len(s) == 0:
        raise SchemaError(f"{name}: the series is empty; a forecast needs at least two periods")
    if isinstance(s.index, pd.DatetimeIndex):
        f = freq or pd.infer_freq(s.index) or "M"
        f = {"MS": "M", "ME": "M", "QS": "Q", "QE": "Q", "YS": "Y", "YE": "Y"}.get(f, f)
        s.index = s.index.to_period(f)
    elif not isinstance(s.index, pd.PeriodIndex):
        s.index = pd.period_range("2000-01", periods=len(s), freq=freq or "M")
    s = s.sort_index().astype(float)
    bad = ~np.isfinite(s.to_numpy())
    if bad.any():
        raise SchemaError(f"{name}: {int(bad.sum())} missing or non-finite value(s), e.g. at {list(s.index[bad][:3])}")
    expected = pd.period_range(s.index[0], s.index[-1], freq=s.index.freq)
    if len(expected) != len(s) or s.index.duplicated().any():
        missing = expected.difference(s.index)
        raise SchemaError(f"{name}: periods must be unique and without gaps; missing e.g. {list(missing[:3])} "
                          "(fill periods with no contracts with 0)")
    return s


class SeriesForecaster:
    """Forecast a per-period series (contracts or revenue) with a prediction interval.

    Parameters
    ----------
    method : {"auto", "ets", "sarima", "naive", "seasonal_naive"}
        See the module docstring.
    seasonal_periods : int, optional
        Season length (default from the index frequency: 12 for months, 4 for quarters, 52 for weeks).
    confidence : float
        Default coverage of the prediction interval (0.8 gives the 10% and 90% quantiles).
    order : tuple, optional
        ARIMA order for ``"sarima"``.
    clip_zero : bool
        Clip means and bounds at zero (counts and revenue cannot be negative).

    Attributes
    ----------
    model_ : str
        Description of the fitted model (e.g. ``"ETS(A,Ad,N)"``).
    y_ : Series
        The training series.
    sigma_ : float
        One-step residual standard deviation (naive methods).

    Examples
    --------
    >>> import pandas as pd
    >>> y = pd.Series([10.0, 12, 11, 13, 12, 14, 13, 15], index=pd.period_range("2024-01", periods=8, freq="M"))
    >>> f = SeriesForecaster("naive").fit(y)
    >>> out = f.forecast("2MS", confidence=0.8)
    >>> out["mean"].tolist(), bool(out["high"].iloc[1] - out["low"].iloc[1] > out["high"].iloc[0] - out["low"].iloc[0])
    ([15.0, 15.0], True)
    """

    def __init__(self, method: str = "auto", *, seasonal_periods: int | None = None, confidence: float = 0.8,
                 order: tuple[int, int, int] | None = None, clip_zero: bool = True) -> None:
        self.method = method
        self.seasonal_periods = seasonal_periods
        self.confidence = check_probability(confidence, "confidence")
        self.order = order
        self.clip_zero = clip_zero

    # -- helpers -----------------------------------------------------------------------------------------------
    def _check(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"SeriesForecaster: method must be one of {METHODS}, got {self.method!r}")
        check_probability(self.confidence, "confidence")

    def _season(self, y: pd.Series) -> int:
        if self.seasonal_periods is not None:
            if int(self.seasonal_periods) < 1:
                raise ConfigError(f"seasonal_periods must be >= 1, got {self.seasonal_periods}")
            return int(self.seasonal_periods)
        code = y.index.freqstr.split("-")[0].rstrip("E").rstrip("S") if hasattr(y.index, "freqstr") else "M"
        return _DEFAULT_SEASON.get(code[:1], 1)

    def fit(self, y: Any) -> SeriesForecaster:
        """Fit to a per-period series (Series on a PeriodIndex or DatetimeIndex, without gaps)."""
        self._check()
        s = as_period_series(y, name="SeriesForecaster.fit(y)")
        if len(s) < 2:
            raise SchemaError(f"SeriesForecaster.fit: need at least 2 periods, got {len(s)}")
        m = self._season(s)
        self.y_ = s
        self.m_ = m
        method = "ets" if self.method == "auto" else self.method
        if method == "seasonal_naive" and len(s) <= m:
            raise SchemaError(f"seasonal_naive needs more than one season ({m} periods) of history, got {len(s)}")
        self.method_ = method
        if method in ("naive", "seasonal_naive"):
            lag = 1 if method == "naive" else m
            resid = s.to_numpy()[lag:] - s.to_numpy()[:-lag]
            self.sigma_ = float(np.sqrt(np.mean(resid**2))) if len(resid) else 0.0
            self.model_ = "naive" if lag == 1 else f"seasonal naive (m={m})"
            self.result_ = None
        elif method == "ets":
            self.result_, self.model_ = _fit_ets(s, m)
            self.sigma_ = float(np.sqrt(self.result_.mse))
        else:
            self.result_, self.model_ = _fit_sarima(s, m, self.order)
            self.sigma_ = float(np.sqrt(np.mean(self.result_.resid[1:] ** 2)))
        logger.debug("fitted %s on %d periods", self.model_, len(s))
        return self

    def forecast(self, horizon: Any, confidence: float | None = None) -> pd.DataFrame:
        """Forecast the periods that start within ``horizon`` after the data.

        Parameters
        ----------
        horizon : str, Timedelta or DateOffset
            How far ahead (``"3MS"``: the next three months of a monthly series; ``"2QS"`` two quarters).
        confidence : float, optional
            Interval level (default: the forecaster's).

        Returns
        -------
        DataFrame
            Index: the forecast periods; columns ``mean``, ``low``, ``high`` (the central ``confidence`` prediction
            interval), ``confidence`` and ``method``.
        """
        if not hasattr(self, "y_"):
            raise NotFittedError("SeriesForecaster: call fit(y) before forecast()")
        confidence = self.confidence if confidence is None else confidence
        check_probability(confidence, "confidence")
        h = horizon_periods(self.y_.index[-1], horizon)
        y = self.y_
        idx = pd.period_range(y.index[-1] + 1, periods=h, freq=y.index.freq)
        z = stats.norm.ppf(0.5 + confidence / 2)
        steps = np.arange(1, h + 1)
        if self.method_ == "naive":
            mean = np.full(h, y.iloc[-1])
            sd = self.sigma_ * np.sqrt(steps)
        elif self.method_ == "seasonal_naive":
            m = self.m_
            last = y.to_numpy()[-m:]
            mean = last[(steps - 1) % m]
            sd = self.sigma_ * np.sqrt((steps - 1) // m + 1)
        elif self.method_ == "ets":
            pred = self.result_.get_prediction(start=len(y), end=len(y) + h - 1)
            frame = pred.summary_frame(alpha=1 - confidence)
            mean = frame["mean"].to_numpy()
            lo, hi = frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()
            sd = None
        else:
            frame = self.result_.get_forecast(h).summary_frame(alpha=1 - confidence)
            mean = frame["mean"].to_numpy()
            lo, hi = frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy()
            sd = None
        if sd is not None:
            lo, hi = mean - z * sd, mean + z * sd
        out = pd.DataFrame({"mean": np.asarray(mean, float), "low": np.asarray(lo, float),
                            "high": np.asarray(hi, float)}, index=idx)
        if self.clip_zero:
            out = out.clip(lower=0.0)
        out.index.name = "period"
        out["confidence"] = confidence
        out["method"] = self.model_
        return out

    def __repr__(self) -> str:
        fitted = f", model_={self.model_!r}" if hasattr(self, "model_") else ""
        return f"SeriesForecaster(method={self.method!r}{fitted})"




def _aicc(res: Any, n: int) -> float:
    k = len(res.params)
    if n - k - 1 <= 0:
        return math.inf
    return float(res.aic + 2 * k * (k + 1) / (n - k - 1))


def _fit_ets(y: pd.Series, m: int) -> tuple[Any, str]:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    n = len(y)
    configs: list[tuple[str | None, bool, str | None]] = [(None, False, None)]
    if n >= 6:
        configs.append(("add", True, None))
    init = "estimated"
    if m > 1 and n >= 2 * m + 2:
        configs += [(None, False, "add"), ("add", True, "add")]
        # heuristic initial states (Hyndman et al. 2008, sec. 2.6.1) for every candidate when seasonal ones
        # compete: estimating m + 2 initial states by likelihood is slow and keeps the AICc comparable
        init = "heuristic" if n >= 10 else "estimated"
    best, best_name, best_score = None, "", math.inf
    errors = []
    # a pandas Series with a regular DatetimeIndex: statsmodels' ETS prediction needs an index
    values = pd.Series(y.to_numpy(dtype=float), index=y.index.to_timestamp(how="start"))
    for trend, damped, seasonal in configs:
        name = f"ETS(A,{'Ad' if damped else ('A' if trend else 'N')},{'A' if seasonal else 'N'})"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ETSModel(values, error="add", trend=trend, damped_trend=damped, seasonal=seasonal,
                                 seasonal_periods=m if seasonal else None, initialization_method=init)
                res = model.fit(disp=False, maxiter=1000)
        except (ValueError, np.linalg.LinAlgError) as exc:  # pragma: no cover - depends on data
            errors.append(f"{name}: {exc}")
            continue
        score = _aicc(res, n)
        if not np.isfinite(score) and best is None:
            score = 1e300
        if score < best_score:
            best, best_name, best_score = res, name, score
    if best is None:
        raise ConvergenceError("ETS: no candidate model could be fitted (" + "; ".join(errors)
                               + "); try method='naive' or a longer series")
    return best, best_name


def _fit_sarima(y: pd.Series, m: int, order: tuple[int, int, int] | None) -> tuple[Any, str]:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    order = tuple(order) if order is not None else (1, 1, 0)
    seasonal = (0, 1, 0, m) if m > 1 and len(y) >= 2 * m + 2 else (0, 0, 0, 0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = SARIMAX(y.to_numpy(dtype=float), order=order, seasonal_order=seasonal).fit(disp=False)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise ConvergenceError(f"SARIMAX{order}x{seasonal}: fit failed ({exc}); try a smaller order or 'ets'") from exc
    name = f"SARIMA{order}" + (f"x{seasonal}" if seasonal[3] else "")
    return res, name
