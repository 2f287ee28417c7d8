"""Empirical-Bayes beta-binomial shrinkage of group rates toward the parent (process-level) rate.

Model
    For one stage, group *g* shows ``x_g`` advances in ``n_g`` effective entries (``n_g = n_eff`` of the censored
    estimate, ``x_g = rate_g n_g``). Its true rate is drawn from a prior ``Beta(m kappa, (1 - m) kappa)`` whose mean
    ``m`` is the parent rate (the stage's rate with all groups pooled) and whose strength ``kappa`` is chosen by
    maximising the beta-binomial marginal likelihood of all groups (type-II maximum likelihood; Efron & Morris 1975,
    Casella 1985). The shrunk rate is the posterior mean ``(x_g + m kappa) / (n_g + kappa)`` with an equal-tailed
    interval of ``Beta(x_g + m kappa, n_g - x_g + (1 - m) kappa)``. Small groups move most; when the groups differ
    no more than chance allows, ``kappa`` is large (capped at 1e6: full pooling).

Examples
--------
>>> import pandas as pd
>>> rates = pd.DataFrame({"process": "p", "owner": ["a", "b", "c"], "stage": "lead", "stage_idx": 0,
...                       "entered": [5, 200, 300], "rate": [1.0, 0.5, 0.52], "n_eff": [5.0, 200, 300]})
>>> parent = pd.DataFrame({"process": ["p"], "stage": ["lead"], "rate": [0.52]})
>>> out = shrink_rates(rates, parent, by=["owner"])

Owners b and c differ no more than chance allows, so the prior is as strong as the cap (full pooling) and owner
a's 5 of 5 is pulled to the parent rate:

>>> print(out[["owner", "rate", "shrunk_rate"]].round(3).to_string(index=False))
owner  rate  shrunk_rate
    a  1.00         0.52
    b  0.50         0.52
    c  0.52         0.52
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import gammaln

from salesplan.funnel.aalen_johansen import beta_interval

__all__ = ["shrink_rates", "fit_prior_strength"]

KAPPA_BOUNDS = (0.05, 1e6)


def _marginal_loglik(kappa: float, m: float, x: np.ndarray, n: np.ndarray) -> float:
    a, b = m * kappa, (1 - m) * kappa
    return float(np.sum(gammaln(x + a) + gammaln(n - x + b) - gammaln(n + kappa)
                        - gammaln(a) - gammaln(b) + gammaln(kappa)))


def fit_prior_strength(x: np.ndarray, n: np.ndarray, mean: float) -> float:
    """Type-II maximum-likelihood prior strength ``kappa`` of a beta-binomial with fixed prior ``mean``.

    Examples
    --------
    Rates of 0.1, 0.5 and 0.9 on 100 entries each are far more spread than binomial noise: a weak prior.

    >>> x = np.array([10.0, 50, 90]); n = np.array([100.0, 100, 100])
    >>> round(fit_prior_strength(x, n, 0.5), 2)
    1.85
    """
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    if len(x) < 2 or not 0 < mean < 1:
        return KAPPA_BOUNDS[1]
    res = optimize.minimize_scalar(lambda lk: -_marginal_loglik(np.exp(lk), mean, x, n),
                                   bounds=np.log(KAPPA_BOUNDS), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def shrink_rates(rates: pd.DataFrame, parent: pd.DataFrame, by: Sequence[str],
                 confidence: float = 0.95) -> pd.DataFrame:
    """Raw and shrunk group rates side by side, with the prior per (process, stage).

    Parameters
    ----------
    rates : DataFrame
        Group rates with ``process, <by>, stage, entered, rate, n_eff`` (``Funnel.rates``).
    parent : DataFrame
        ``process, stage, rate``: the parent rate per stage (``Funnel.parent_rates``).
    by : list of str
        The group columns.
    confidence : float
        Interval level of the shrunk rate.

    Returns
    -------
    DataFrame
        ``process, <by>, stage, entered, n_eff, rate, shrunk_rate, shrunk_low, shrunk_high, parent_rate,
        prior_alpha, prior_beta, prior_strength``.
    """
    by = list(by)
    prior_rows = parent[["process", "stage", "rate"]].rename(columns={"rate": "parent_rate"})
    out = rates.merge(prior_rows, on=["process", "stage"], how="left")
    parts = []
    for _, g in out.groupby(["process", "stage"], sort=False):
        g = g.copy()
        ok = g["rate"].notna() & (g["n_eff"] > 0)
        x = (g.loc[ok, "rate"] * g.loc[ok, "n_eff"]).to_numpy()
        n = g.loc[ok, "n_eff"].to_numpy()
        m = float(g["parent_rate"].iloc[0])
        if np.isfinite(m):
            m_c = min(max(m, 1e-6), 1 - 1e-6)
            kappa = fit_prior_strength(x, n, m_c)
        else:
            m_c, kappa = 0.5, 1.0
        a0, b0 = m_c * kappa, (1 - m_c) * kappa
        xs = (g["rate"].fillna(0) * g["n_eff"].fillna(0)).to_numpy()
        ns = g["n_eff"].fillna(0).to_numpy()
        post_a, post_b = xs + a0, ns - xs + b0
        lo, hi = beta_interval(post_a, post_b, confidence)
        g["shrunk_rate"] = post_a / (post_a + post_b)
        g["shrunk_low"], g["shrunk_high"] = lo, hi
        g["prior_alpha"], g["prior_beta"], g["prior_strength"] = a0, b0, kappa
        parts.append(g)
    res = pd.concat(parts, ignore_index=True)
    cols = ["process", *by, "stage", "entered", "n_eff", "rate", "shrunk_rate", "shrunk_low", "shrunk_high",
            "parent_rate", "prior_alpha", "prior_beta", "prior_strength"]
    return res[cols]
