"""A parametric tail for stays still unresolved at the horizon: how they will end, from a mixture-cure model.

The Aalen-Johansen rate (:mod:`salesplan.funnel.aalen_johansen`) is identified up to the longest follow-up ``tau``;
the stays still open after ``tau`` (``S(tau)`` of the mass) were assumed to split like the resolved ones. When
losses take much longer than advances, the stays left open are mostly future losses, and that assumption biases
the rate upward, by up to ``S(tau)`` times the difference.

Model (Larson & Dinse 1985, the mixture view of competing risks)
    A stay advances with probability ``r`` after a log-normal time ``T_a`` or is lost after a log-normal time
    ``T_l``. An advance at ``t`` contributes ``r f_a(t)`` to the likelihood, a loss ``(1 - r) f_l(t)``, a stay
    open at ``t`` ``r S_a(t) + (1 - r) S_l(t)``. The five parameters are fitted by maximum likelihood on the
    weighted patterns. A stay unresolved at ``tau`` then advances with probability

    .. math:: \\pi(\\tau) = \\frac{r S_a(\\tau)}{r S_a(\\tau) + (1 - r) S_l(\\tau)}

    and the eventual rate is ``F_1(tau) + S(tau) pi(tau)``: the nonparametric estimate where there is data, the
    model only for the unresolved mass. The variance of ``pi`` comes from the inverse observed information
    (numerical Hessian) by the delta method.

Assumptions: log-normal times to advance and to loss, a constant mix ``r`` over the time the stays entered.

How much data the model needs
    ``MIN_EVENTS`` (10) advances, but only ``MIN_LOSSES`` (1) loss. With slow losses and a short history the late
    stages have seen few losses; the stays still open there are mostly future losses. Falling back to the split
    for want of 10 losses (the earlier rule) put those stays with the advances: on a 0.6-year history of the
    simulator with losses 7 times slower, the offer and negotiation rates came out 0.03-0.05 too high and an 80%
    plan reached its target with probability 0.74 on average over 50 worlds; with one loss enough, 0.84
    (``scripts/check_slow_loss_calibration.py --config realistic --years 0.6``). What the model cannot pin down
    with few losses shows in ``pi``'s variance. That variance is capped at ``pi (1 - pi)``, the largest any
    distribution on [0, 1] with mean ``pi`` can have, and set to it where the observed information cannot be
    inverted.

Reference
    Larson, M. G. & Dinse, G. E. (1985), A mixture model for the regression analysis of competing risks data,
    *Applied Statistics* 34(3), 201-211.

Examples
--------
Advances after about 5 days, losses after about 15; at a horizon of 20 days an open stay is almost surely a
future loss:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> adv = rng.random(400) < 0.5
>>> t = np.where(adv, rng.lognormal(np.log(5), 0.5, 400), rng.lognormal(np.log(15), 0.5, 400))
>>> days, code = np.minimum(t, 20.0), np.where(t > 20, 0, np.where(adv, 1, 2))
>>> pi, var = mixture_tail(days, code, np.ones(400), 20.0)
>>> round(float(pi), 4), round(float(np.sqrt(var)), 4)  # estimate and standard error
(0.0127, 0.0069)

The true value, from the formula above with ``r = 0.5`` and the two log-normal survival functions:

>>> from scipy.stats import norm
>>> s_a, s_l = norm.sf(np.log(20 / 5) / 0.5), norm.sf(np.log(20 / 15) / 0.5)
>>> round(float(s_a / (s_a + s_l)), 4)
0.0097
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import optimize, special
from scipy.special import expit

__all__ = ["mixture_tail", "mixture_fit", "MixtureFit", "MIN_EVENTS", "MIN_LOSSES"]

#: Advances needed (weight) before the tail model is fitted.
MIN_EVENTS = 10.0
#: Losses needed (weight) before the tail model is fitted (see "How much data the model needs").
MIN_LOSSES = 1.0
_BOUNDS = [(-12.0, 12.0), (-3.0, 10.0), (np.log(0.05), np.log(5.0)), (-3.0, 10.0), (np.log(0.05), np.log(5.0))]


_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _nll(x: np.ndarray, lt: np.ndarray, w: np.ndarray, adv: np.ndarray, los: np.ndarray,
         cen: np.ndarray) -> float:
    r = float(np.clip(expit(x[0]), 1e-12, 1 - 1e-12))
    sa, sl = np.exp(x[2]), np.exp(x[4])
    za, zl = (lt[adv] - x[1]) / sa, (lt[los] - x[3]) / sl
    total = np.sum(w[adv] * (np.log(r) - 0.5 * za**2 - _LOG_SQRT_2PI - np.log(sa) - lt[adv]))
    total += np.sum(w[los] * (np.log1p(-r) - 0.5 * zl**2 - _LOG_SQRT_2PI - np.log(sl) - lt[los]))
    if cen.any():
        surv = r * special.ndtr(-(lt[cen] - x[1]) / sa) + (1 - r) * special.ndtr(-(lt[cen] - x[3]) / sl)
        total += np.sum(w[cen] * np.log(surv + 1e-300))
    return float(-total)


def _pi(x: np.ndarray, tau: float) -> float:
    r = float(expit(x[0]))
    s_a = float(special.ndtr(-(np.log(tau) - x[1]) / np.exp(x[2])))
    s_l = float(special.ndtr(-(np.log(tau) - x[3]) / np.exp(x[4])))
    den = r * s_a + (1 - r) * s_l
    return r * s_a / den if den > 0 else r


class MixtureFit(NamedTuple):
    """Result of :func:`mixture_fit`: ``pi`` and its variance, and the fitted time to loss.

    ``loss_log`` holds the log-normal time to loss among stays that end in a loss; ``loss_days`` its quartiles.
    Unlike the Aalen-Johansen quantiles, which only see losses up to the horizon, they extrapolate beyond it, so
    with slow losses and a short history they are not cut short. All NaN when the model was not fitted.
    """

    pi: float
    var: float
    #: mean and standard deviation of the log of the time to loss (the model's log-normal)
    loss_log: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def loss_days(self) -> tuple[float, float, float]:
        """Quartiles (25%, 50%, 75%) of the fitted time to loss, in days."""
        mu, sd = self.loss_log
        q = np.exp(mu + np.array([-_Z75, 0.0, _Z75]) * sd)
        return float(q[0]), float(q[1]), float(q[2])


_NO_FIT = MixtureFit(float("nan"), float("nan"))
_Z75 = 0.6744897501960817  # standard normal 75% quantile


def mixture_tail(days: np.ndarray, outcome: np.ndarray, weight: np.ndarray, tau: float) -> tuple[float, float]:
    """Probability that a stay unresolved at ``tau`` advances, and its variance (see the module docstring).

    Returns ``(nan, nan)`` when the data cannot carry the model (fewer than ``MIN_EVENTS`` advances or
    ``MIN_LOSSES`` losses, no horizon, or the fit fails): the caller keeps the split assumption then. The variance
    is at most ``pi (1 - pi)``, and that bound where the observed information cannot be inverted.
    """
    fit = mixture_fit(days, outcome, weight, tau)
    return fit.pi, fit.var


def mixture_fit(days: np.ndarray, outcome: np.ndarray, weight: np.ndarray, tau: float) -> MixtureFit:
    """:func:`mixture_tail` with the fitted model's time to loss (quartiles in days, see :class:`MixtureFit`).

    Examples
    --------
    Losses after about 15 days (log-normal, sigma 0.5: quartiles 10.7, 15 and 21.0 days), seen only up to day 20.
    The fitted time to loss extrapolates past the horizon; the Aalen-Johansen quantiles among the losses seen by
    day 20 are cut short:

    >>> from salesplan.funnel.aalen_johansen import aalen_johansen
    >>> rng = np.random.default_rng(0)
    >>> adv = rng.random(400) < 0.5
    >>> t = np.where(adv, rng.lognormal(np.log(5), 0.5, 400), rng.lognormal(np.log(15), 0.5, 400))
    >>> days, code = np.minimum(t, 20.0), np.where(t > 20, 0, np.where(adv, 1, 2))
    >>> [round(float(d), 1) for d in mixture_fit(days, code, np.ones(400), 20.0).loss_days]
    [10.7, 14.4, 19.4]
    >>> [round(float(d), 1) for d in aalen_johansen(days, code, np.ones(400), 20.0).quantiles([0.25, 0.5, 0.75], 2)]
    [10.2, 12.9, 15.6]
    """
    # patterns binned to a quarter of a day (log-normal times: no loss of information that matters)
    d = np.maximum(np.round(np.asarray(days, dtype=float) * 4) / 4, 0.25)
    o = np.asarray(outcome, dtype=int)
    keys, inverse = np.unique(np.stack([d, o]), axis=1, return_inverse=True)
    w = np.bincount(inverse.ravel(), weights=np.asarray(weight, dtype=float), minlength=keys.shape[1])
    d, o = keys[0], keys[1].astype(int)
    adv, los, cen = o == 1, o == 2, o == 0
    if not (np.isfinite(tau) and tau > 0) or w[adv].sum() < MIN_EVENTS or w[los].sum() < MIN_LOSSES:
        return _NO_FIT
    lt = np.log(d)
    r0 = float(np.clip(w[adv].sum() / (w[adv].sum() + w[los].sum()), 0.01, 0.99))
    x0 = np.array([np.log(r0 / (1 - r0)), float(np.average(lt[adv], weights=w[adv])), np.log(0.8),
                   float(np.average(lt[los], weights=w[los])), np.log(0.8)])
    args = (lt, w, adv, los, cen)
    res = optimize.minimize(_nll, x0, args=args, method="L-BFGS-B", bounds=_BOUNDS)
    if not np.all(np.isfinite(res.x)):
        return _NO_FIT
    x = res.x
    pi = _pi(x, tau)
    # delta method with the numerical observed information
    h = 1e-4 * np.maximum(1.0, np.abs(x))
    k = len(x)
    hess = np.empty((k, k))
    f0 = _nll(x, *args)
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            val = (_nll(x + ei + ej, *args) - _nll(x + ei - ej, *args) - _nll(x - ei + ej, *args)
                   + _nll(x - ei - ej, *args)) / (4 * h[i] * h[j]) if i != j else \
                (_nll(x + ei, *args) - 2 * f0 + _nll(x - ei, *args)) / h[i] ** 2
            hess[i, j] = hess[j, i] = val
    grad = np.array([(_pi(x + np.eye(k)[i] * h[i], tau) - _pi(x - np.eye(k)[i] * h[i], tau)) / (2 * h[i])
                     for i in range(k)])
    bound = float(pi * (1 - pi))  # the largest variance of any distribution on [0, 1] with mean pi
    try:
        var = float(grad @ np.linalg.inv(hess) @ grad)
    except np.linalg.LinAlgError:
        var = bound
    return MixtureFit(float(pi), min(var, bound) if np.isfinite(var) and var >= 0 else bound,
                      (float(x[3]), float(np.exp(x[4]))))
