"""Bass diffusion model for a new-product introduction: adoption among the customers eligible for the launch.

Bass (1969): among ``m`` eligible customers, the share that has adopted by time ``t`` is

.. math:: F(t) = \\frac{1 - e^{-(p+q)t}}{1 + (q/p)\\,e^{-(p+q)t}}

with innovation coefficient ``p`` (adoption from outside influence) and imitation coefficient ``q`` (adoption
driven by earlier adopters). Contracts in period ``t`` (``t = 1, 2, ...`` since the launch) have mean
``m (F(t) - F(t-1))``.

Fit: non-linear least squares of the per-period contracts (Srinivasan & Mason 1986) with
:func:`scipy.optimize.curve_fit`, on ``log p``, ``log q`` and ``log m`` so that all stay positive; ``m`` may be
fixed to the known number of eligible customers (``market_potential=``), which is far more stable with few
periods. Intervals: the parameters' asymptotic covariance gives 95% Wald intervals (log scale for ``p`` and
``m``, natural scale for ``q``, clipped at the bounds);
forecast intervals draw parameters from that normal approximation and add Poisson noise for the counts (a
parametric simulation). Assumptions: one adoption per customer, no repeat purchases, constant ``m``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> t = np.arange(1, 13)
>>> f = lambda t: (1 - np.exp(-0.33 * t)) / (1 + 10 * np.exp(-0.33 * t))
>>> y = pd.Series(np.round(500 * np.diff(f(np.arange(0, 13)))), index=pd.period_range("2024-01", periods=12, freq="M"))
>>> b = BassDiffusion().fit(y)
>>> round(float(b.params_.loc["q", "estimate"]), 1), round(float(b.params_.loc["m", "estimate"]) / 100)
(0.3, 5)
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from salesplan._validation import check_positive, check_probability, horizon_periods
from salesplan.errors import ConfigError, ConvergenceError, NotFittedError, SchemaError
from salesplan.forecast.timeseries import as_period_series

__all__ = ["BassDiffusion", "bass_cdf"]

logger = logging.getLogger(__name__)


def bass_cdf(t: Any, p: float, q: float) -> np.ndarray:
    """Cumulative share of adopters ``F(t)`` of the Bass model (``F(0) = 0``).

    Examples
    --------
    >>> round(float(bass_cdf(1e6, 0.03, 0.4)), 6), float(bass_cdf(0, 0.03, 0.4))
    (1.0, 0.0)
    """
    t = np.asarray(t, dtype=float)
    e = np.exp(-(p + q) * t)
    return (1 - e) / (1 + (q / p) * e)


def _per_period(t_end: np.ndarray, p: float, q: float, m: float) -> np.ndarray:
    return m * (bass_cdf(t_end, p, q) - bass_cdf(t_end - 1, p, q))


class BassDiffusion:
    """Bass diffusion of a launch's contracts per period, with parameter and forecast intervals.

    Parameters
    ----------
    market_potential : float, optional
        Number of eligible customers ``m``; fitted when None.
    confidence : float
        Coverage of the forecast intervals.
    n_draws : int
        Parameter draws for the forecast intervals.
    seed : int
        Random seed of the draws.

    Attributes
    ----------
    params_ : DataFrame
        Rows ``m``, ``p``, ``q``: ``estimate``, ``low``, ``high`` (95% Wald interval; ``m`` fixed has zero
        width), ``fixed``.
    y_ : Series
        The per-period contracts since the launch.
    """

    def __init__(self, market_potential: float | None = None, *, confidence: float = 0.8, n_draws: int = 2000,
                 seed: int = 0) -> None:
        self.market_potential = market_potential
        self.confidence = check_probability(confidence, "confidence")
        self.n_draws = check_positive(n_draws, "n_draws", integer=True)
        self.seed = seed

    def fit(self, y: Any) -> BassDiffusion:
        """Fit to contracts per period since the launch (first value = first period after the launch)."""
        check_probability(self.confidence, "confidence")
        check_positive(self.n_draws, "n_draws", integer=True)
        s = as_period_series(y, name="BassDiffusion.fit(y)")
        if (s < 0).any():
            raise SchemaError(f"BassDiffusion.fit: contracts per period must be >= 0; negative in {list(s[s < 0].index[:3])}")
        n_free = 2 if self.market_potential is not None else 3
        if len(s) < n_free + 1 or s.sum() <= 0:
            raise SchemaError(f"BassDiffusion.fit: need at least {n_free + 1} periods with some contracts, got "
                              f"{len(s)} periods and {s.sum():g} contracts")
        t = np.arange(1, len(s) + 1, dtype=float)
        y_arr = s.to_numpy()
        total = float(y_arr.sum())
        lo_p, hi_p = np.log(1e-6), 0.0
        if self.market_potential is not None:
            m_fixed = float(self.market_potential)
            if m_fixed < total:
                raise ConfigError(f"BassDiffusion: market_potential={m_fixed:g} is below the {total:g} contracts "
                                  "already observed")

            def model(tt: np.ndarray, lp: float, q: float) -> np.ndarray:
                return _per_period(tt, np.exp(lp), q, m_fixed)

            starts = [(np.log(0.01), 0.3), (np.log(0.05), 0.5), (np.log(0.002), 0.8)]
            bounds = ([lo_p, 0.0], [hi_p, 5.0])
        else:

            def model(tt: np.ndarray, lp: float, q: float, lm: float) -> np.ndarray:
                return _per_period(tt, np.exp(lp), q, np.exp(lm))

            starts = [(np.log(0.01), 0.3, np.log(total * k)) for k in (1.5, 3.0, 6.0)]
            starts += [(np.log(0.05), 0.5, np.log(total * 2))]
            bounds = ([lo_p, 0.0, np.log(total)], [hi_p, 5.0, np.log(total * 1e4)])
        best, best_sse = None, np.inf
        for p0 in starts:
            p0 = np.clip(p0, np.add(bounds[0], 1e-9), np.subtract(bounds[1], 1e-9))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    popt, pcov = optimize.curve_fit(model, t, y_arr, p0=p0, bounds=bounds, max_nfev=20000)
            except (RuntimeError, ValueError, optimize.OptimizeWarning):
                continue
            sse = float(np.sum((model(t, *popt) - y_arr) ** 2))
            if np.isfinite(sse) and sse < best_sse:
                best, best_sse = (popt, pcov), sse
        if best is None:
            raise ConvergenceError("BassDiffusion: least squares did not converge from any start; the series may "
                                   "not show diffusion yet (try fixing market_potential to the eligible customers)")
        popt, pcov = best
        if not np.all(np.isfinite(pcov)):
            logger.warning("BassDiffusion: parameter covariance not finite (too few periods?); intervals are "
                           "set to the estimate")
            pcov = np.zeros_like(pcov)
        se = np.sqrt(np.clip(np.diag(pcov), 0, None))
        z = stats.norm.ppf(0.975)
        rows = {"p": (np.exp(popt[0]), np.exp(popt[0] - z * se[0]), np.exp(popt[0] + z * se[0]), False),
                "q": (popt[1], max(popt[1] - z * se[1], 0.0), popt[1] + z * se[1], False)}
        if self.market_potential is None:
            rows["m"] = (np.exp(popt[2]), max(np.exp(popt[2] - z * se[2]), total), np.exp(popt[2] + z * se[2]), False)
        else:
            rows["m"] = (float(self.market_potential),) * 3 + (True,)
        names = ["p", "q"] + (["m"] if self.market_potential is None else [])
        self.params_ = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "low", "high", "fixed"])
        self.params_ = self.params_.loc[["m", "p", "q"]]
        self._theta, self._cov, self._names = popt, pcov, names
        self.y_ = s
        self.sse_ = best_sse
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError("BassDiffusion: call fit(y) first")

    def forecast(self, horizon: Any, confidence: float | None = None) -> pd.DataFrame:
        """Contracts per period for the periods that start within ``horizon`` after the data.

        Parameters
        ----------
        horizon : str, Timedelta or DateOffset
            How far ahead (``"12MS"``: the next twelve months of a monthly series).
        confidence : float, optional
            Interval level (default: the model's).

        Returns
        -------
        DataFrame
            Index: periods; ``mean`` (model mean), ``low``, ``high`` (parameter draws plus Poisson noise),
            ``cumulative`` (expected adopters by the end of the period), ``remaining`` (``m`` minus it).
        """
        self._check_fitted()
        confidence = self.confidence if confidence is None else confidence
        check_probability(confidence, "confidence")
        h = horizon_periods(self.y_.index[-1], horizon)
        n = len(self.y_)
        t = np.arange(n + 1, n + h + 1, dtype=float)
        m, p, q = (float(self.params_.loc[k, "estimate"]) for k in ("m", "p", "q"))
        mean = _per_period(t, p, q, m)
        rng = np.random.default_rng(self.seed)
        theta = rng.multivariate_normal(self._theta, self._cov, size=int(self.n_draws), method="eigh")
        ps, qs = np.exp(theta[:, 0]), np.clip(theta[:, 1], 0.0, None)
        ms = np.exp(theta[:, 2]) if self.market_potential is None else np.full(len(ps), m)
        lam = ms[:, None] * (bass_cdf(t[None, :], ps[:, None], qs[:, None])
                             - bass_cdf(t[None, :] - 1, ps[:, None], qs[:, None]))
        draws = rng.poisson(np.clip(lam, 0, None))
        lo, hi = np.quantile(draws, [0.5 - confidence / 2, 0.5 + confidence / 2], axis=0)
        idx = pd.period_range(self.y_.index[-1] + 1, periods=h, freq=self.y_.index.freq)
        cum = m * bass_cdf(t, p, q)
        out = pd.DataFrame({"mean": mean, "low": lo, "high": hi, "cumulative": cum, "remaining": m - cum},
                           index=idx)
        out.index.name = "period"
        return out

    def fitted(self) -> pd.Series:
        """Model mean contracts for the observed periods."""
        self._check_fitted()
        m, p, q = (float(self.params_.loc[k, "estimate"]) for k in ("m", "p", "q"))
        return pd.Series(_per_period(np.arange(1, len(self.y_) + 1.0), p, q, m), index=self.y_.index)

    def summary(self) -> pd.DataFrame:
        """The parameter table (``params_``) with the peak period ``ln(q/p)/(p+q)`` appended."""
        self._check_fitted()
        out = self.params_.copy()
        p, q = out.loc["p", "estimate"], out.loc["q", "estimate"]
        peak = np.log(q / p) / (p + q) if q > p else 0.0
        out.loc["peak_period"] = [peak, np.nan, np.nan, False]
        return out

    def _repr_html_(self) -> str:
        return "<p><b>Bass diffusion</b></p>" + self.summary().to_html(float_format="%.4g")
