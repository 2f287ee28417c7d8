"""Aalen-Johansen cumulative incidence for competing outcomes on weighted patterns, with intervals.

A stay in a stage ends in one of two competing outcomes, *advance* (code 1) or *loss* (code 2), or is still open at
the data cut (code 0, right-censored). The Aalen-Johansen estimator (Aalen & Johansen 1978) gives the cumulative
incidence ``F_k(t) = P(outcome k by day t)`` without treating open stays as lost or ignoring them:

    F_k(t) = sum over event times t_j <= t of S(t_j-) * d_kj / Y_j,

where ``S`` is the Kaplan-Meier probability of still being in the stage, ``d_kj`` the weight of outcome ``k`` at
``t_j`` and ``Y_j`` the weight still at risk.

Horizon
    Eventual conversion is only identified up to the longest observed follow-up. The rate is reported at a horizon
    ``tau`` (default: the last observed advance or loss) as ``R = F_1(tau) / (F_1(tau) + F_2(tau))``: the share of
    stays that advance among those resolved by ``tau``. When every stay is resolved by ``tau`` (``S(tau) = 0``)
    this is exactly ``F_1(tau)``; otherwise it assumes that stays still open after ``tau`` split like those that
    resolved, and ``unresolved = S(tau)`` says how much mass that assumption concerns.

Variance and intervals
    The variance of ``R`` comes from the influence function of the estimator (the delta method applied to the
    Nelson-Aalen increments; e.g. Andersen, Borgan, Gill & Keiding 1993, ch. IV.4), summed over patterns with
    their weights. It is turned into an effective sample size ``n_eff = R (1 - R) / var(R)``, a Wilson score
    interval on ``n_eff`` (Wilson 1927), and an effective ``Beta(R n_eff + 1/2, (1 - R) n_eff + 1/2)`` for
    propagating the uncertainty (Jeffreys-type half counts keep it proper at 0 and 1).

Examples
--------
>>> import numpy as np
>>> fit = aalen_johansen(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 1, 0]), np.ones(4))
>>> round(fit.rate, 4), round(float(fit.cif_advance[-1]), 4)
(0.6667, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["AJFit", "aalen_johansen", "wilson_interval", "effective_beta", "beta_interval"]


@dataclass(frozen=True)
class AJFit:
    """Result of :func:`aalen_johansen` (curves at the distinct event times, and the rate at the horizon).

    Attributes
    ----------
    times : ndarray
        Distinct times (days) at which an advance or loss happened, ascending.
    surv, cif_advance, cif_loss : ndarray
        ``S(t)``, ``F_1(t)``, ``F_2(t)`` just after each time.
    horizon : float
        The horizon ``tau`` of the rate (days; NaN when nothing resolved).
    rate, var : float
        ``R`` at the horizon and its delta-method variance (NaN when nothing resolved).
    unresolved : float
        ``S(tau)``, the estimated share still in the stage at the horizon.
    n, n_advance, n_loss, n_open : float
        Weights entered, advanced, lost and open (censored).
    tail : float
        With ``tail="parametric"``: the probability that a stay unresolved at the horizon advances (NaN when
        the split assumption was kept).
    tail_loss_log : tuple of float
        With the parametric tail: mean and standard deviation of the log of the days to loss of the tail model
        (:class:`salesplan.funnel.tail.MixtureFit`), which :meth:`quantiles_with_tail` uses beyond the horizon;
        NaN otherwise.
    """

    times: np.ndarray
    surv: np.ndarray
    cif_advance: np.ndarray
    cif_loss: np.ndarray
    horizon: float
    rate: float
    var: float
    unresolved: float
    n: float
    n_advance: float
    n_loss: float
    n_open: float
    tail: float = float("nan")
    tail_loss_log: tuple[float, float] = (float("nan"), float("nan"))

    def cif(self, days: np.ndarray | float, outcome: int = 1) -> np.ndarray:
        """``F_outcome(d)`` at each of ``days`` (step function, right-continuous)."""
        curve = self.cif_advance if outcome == 1 else self.cif_loss
        d = np.atleast_1d(np.asarray(days, dtype=float))
        idx = np.searchsorted(self.times, d, side="right") - 1
        return np.where(idx >= 0, curve[np.clip(idx, 0, None)] if len(curve) else 0.0, 0.0)

    def quantiles(self, probs: np.ndarray | Sequence[float], outcome: int = 1) -> np.ndarray:
        """Quantiles of the time to ``outcome`` among stays that end in it (``F_k(t) / F_k(tau)``).

        NaN when no stay ended in ``outcome``.
        """
        curve = self.cif_advance if outcome == 1 else self.cif_loss
        probs = np.asarray(probs, dtype=float)
        if not len(curve):
            return np.full(probs.shape, np.nan)
        keep = self.times <= self.horizon
        total = curve[keep][-1] if keep.any() else 0.0
        if not total > 0:
            return np.full(probs.shape, np.nan)
        cond = curve[keep] / total
        idx = np.searchsorted(cond, probs - 1e-12, side="left")
        return np.where(idx < keep.sum(), self.times[keep][np.clip(idx, 0, keep.sum() - 1)], np.nan)

    def quantiles_with_tail(self, probs: np.ndarray | Sequence[float], share: float,
                            log_mean: float, log_sd: float, outcome: int = 2) -> np.ndarray:
        """Quantiles of the time to ``outcome`` counting the stays still open at the horizon.

        :meth:`quantiles` sees only the stays that ended by the horizon, so with slow losses and a short history
        the time to loss comes out too short. Here the stays unresolved at the horizon (mass ``S(tau)``) end in
        ``outcome`` with probability ``share``, after a log-normal time (``log_mean``, ``log_sd``) conditioned to
        exceed the horizon: the distribution is the Aalen-Johansen ``F_k`` up to the horizon plus
        ``S(tau) share`` spread beyond it. Where little is unresolved this is :meth:`quantiles`; the model only
        decides the part that was not observed.

        Examples
        --------
        Half the stays lost within 10 days, a quarter advanced, a quarter still open at day 20 and (by the model)
        all of those lost later, after about 25 days: of the six losses (four seen, two to come) the median is the
        third, on day 8 (:meth:`quantiles`, among the four seen only, says day 5), and the 75% quantile lies
        beyond the horizon.

        >>> fit = aalen_johansen(np.array([2, 5, 8, 10, 3, 6, 20, 20.0]), np.array([2, 2, 2, 2, 1, 1, 0, 0]),
        ...                      horizon=20.0)
        >>> [round(float(q), 1) for q in fit.quantiles_with_tail([0.5, 0.75], 1.0, np.log(25.0), 0.5)]
        [8.0, 24.9]
        >>> [float(q) for q in fit.quantiles([0.5], 2)]
        [5.0]
        """
        curve = self.cif_advance if outcome == 1 else self.cif_loss
        probs = np.asarray(probs, dtype=float)
        keep = self.times <= self.horizon
        seen = float(curve[keep][-1]) if keep.any() and len(curve) else 0.0
        extra = float(self.unresolved) * float(share)
        if not (np.isfinite(extra) and extra > 0 and np.isfinite(log_mean) and log_sd > 0
                and np.isfinite(self.horizon) and self.horizon > 0):
            return self.quantiles(probs, outcome)
        level = probs * (seen + extra)
        out = np.empty(probs.shape)
        inside = level <= seen
        if inside.any():
            idx = np.searchsorted(curve[keep], level[inside] - 1e-12, side="left")
            out[inside] = self.times[keep][np.clip(idx, 0, keep.sum() - 1)]
        if (~inside).any():
            lo = stats.norm.cdf((np.log(self.horizon) - log_mean) / log_sd)
            u = lo + (level[~inside] - seen) / extra * (1 - lo)
            out[~inside] = np.exp(log_mean + log_sd * stats.norm.ppf(np.clip(u, 0.0, 1 - 1e-12)))
        return out


def aalen_johansen(days: np.ndarray, outcome: np.ndarray, weight: np.ndarray | None = None,
                   horizon: float | None = None, tail: str = "split") -> AJFit:
    """Aalen-Johansen estimate of advance vs loss on weighted ``(days, outcome)`` patterns.

    Parameters
    ----------
    days : array of float
        Time in the stage until the outcome or the cut (>= 0).
    outcome : array of int
        1 advance, 2 loss, 0 open (censored).
    weight : array of float, optional
        Pattern weights (counts); default 1.
    horizon : float, optional
        Horizon ``tau`` in days; default the last advance or loss.
    tail : {"split", "parametric"}
        How stays unresolved at the horizon end: ``"split"`` like the resolved ones (``R = F_1 / (F_1 + F_2)``);
        ``"parametric"``: by the mixture-cure model of :mod:`salesplan.funnel.tail` (``R = F_1 + S(tau) pi``,
        its variance added), where the data carry it (else split).

    Returns
    -------
    AJFit

    Examples
    --------
    Without censoring the rate is the plain share and the variance the binomial one:

    >>> fit = aalen_johansen(np.array([1.0, 2, 3, 4, 5]), np.array([1, 1, 2, 1, 2]))
    >>> round(fit.rate, 3), round(fit.var, 5), round(0.6 * 0.4 / 5, 5)
    (0.6, 0.048, 0.048)
    """
    days = np.asarray(days, dtype=float)
    outcome = np.asarray(outcome, dtype=int)
    w = np.ones_like(days) if weight is None else np.asarray(weight, dtype=float)
    n = float(w.sum())
    n_adv, n_loss = float(w[outcome == 1].sum()), float(w[outcome == 2].sum())
    n_open = float(w[outcome == 0].sum())
    event = outcome > 0
    if not event.any():
        empty = np.empty(0)
        return AJFit(empty, empty, empty, empty, np.nan, np.nan, np.nan, 1.0 if n > 0 else np.nan, n, n_adv,
                     n_loss, n_open)
    times = np.unique(days[event])
    # weights per distinct time: at-risk uses every pattern with days >= t
    pos = np.searchsorted(times, days, side="left")  # index of the first event time >= days
    d1 = np.bincount(pos[outcome == 1], weights=w[outcome == 1], minlength=len(times) + 1)[: len(times)].astype(float)
    d2 = np.bincount(pos[outcome == 2], weights=w[outcome == 2], minlength=len(times) + 1)[: len(times)].astype(float)
    # at risk at t_j: weight with days >= t_j
    order = np.sort(days)
    cum_w = np.concatenate([[0.0], np.cumsum(w[np.argsort(days, kind="stable")])])
    first_ge = np.searchsorted(order, times, side="left")
    at_risk = n - cum_w[first_ge]
    d = d1 + d2
    hazard = np.divide(d, at_risk, out=np.zeros_like(d), where=at_risk > 0)
    surv = np.cumprod(1.0 - hazard)
    surv_prev = np.concatenate([[1.0], surv[:-1]])
    f1 = np.cumsum(surv_prev * np.divide(d1, at_risk, out=np.zeros_like(d1), where=at_risk > 0))
    f2 = np.cumsum(surv_prev * np.divide(d2, at_risk, out=np.zeros_like(d2), where=at_risk > 0))
    tau = float(times[-1]) if horizon is None else float(horizon)
    k = np.searchsorted(times, tau, side="right") - 1
    if k < 0:
        return AJFit(times, surv, f1, f2, tau, np.nan, np.nan, 1.0, n, n_adv, n_loss, n_open)
    F1, F2 = f1[k], f2[k]
    # influence functions of F1(tau) and F2(tau), per pattern
    inside = slice(0, k + 1)
    # discrete-time delta method: a perturbation of the hazard at s scales S after s by 1 / (1 - dLambda(s)),
    # hence Y (Y - d) where a continuous-time derivation has Y^2 (zero when everyone left: then F - f = 0 too)
    y2 = np.where(at_risk > 0, at_risk**2, np.inf)
    y_rest = at_risk - d
    yy = np.where(y_rest > 0, at_risk * y_rest, np.inf)
    comp1 = np.cumsum((surv_prev * d1 / y2 - (F1 - f1) * d / yy)[inside])
    comp2 = np.cumsum((surv_prev * d2 / y2 - (F2 - f2) * d / yy)[inside])
    idx_t = np.minimum(np.searchsorted(times, days, side="right") - 1, k)  # last event time <= min(T, tau)
    a1 = np.where(idx_t >= 0, comp1[np.clip(idx_t, 0, None)], 0.0)
    a2 = np.where(idx_t >= 0, comp2[np.clip(idx_t, 0, None)], 0.0)
    jump = event & (days <= tau)
    pj = np.clip(pos, 0, len(times) - 1)
    y_at = np.where(at_risk[pj] > 0, at_risk[pj], np.inf)
    y_rest_at = np.where(y_rest[pj] > 0, y_rest[pj], np.inf)
    if1 = np.where(jump, (outcome == 1) * surv_prev[pj] / y_at - (F1 - f1[pj]) / y_rest_at, 0.0) - a1
    if2 = np.where(jump, (outcome == 2) * surv_prev[pj] / y_at - (F2 - f2[pj]) / y_rest_at, 0.0) - a2
    total = F1 + F2
    if total <= 0:
        return AJFit(times, surv, f1, f2, tau, np.nan, np.nan, float(surv[k]), n, n_adv, n_loss, n_open)
    unresolved = float(surv[k])
    if tail == "parametric" and unresolved > 1e-3:
        from salesplan.funnel.tail import mixture_fit

        mix = mixture_fit(days, outcome, w, tau)
        pi, var_pi = mix.pi, mix.var
        if np.isfinite(pi):
            # F_1 + S pi with S = 1 - F_1 - F_2: influence (1 - pi) IF_1 - pi IF_2, plus the model's variance
            if_t = (1 - pi) * if1 - pi * if2
            var_t = float(np.sum(w * if_t**2)) + unresolved**2 * (var_pi if np.isfinite(var_pi) else 0.0)
            return AJFit(times, surv, f1, f2, tau, float(F1 + unresolved * pi), var_t, unresolved, n, n_adv,
                         n_loss, n_open, float(pi), mix.loss_log)
    elif tail not in ("split", "parametric"):
        raise ValueError(f"tail must be 'split' or 'parametric', got {tail!r}")
    rate = F1 / total
    if_r = (F2 * if1 - F1 * if2) / total**2
    var = float(np.sum(w * if_r**2))
    return AJFit(times, surv, f1, f2, tau, float(rate), var, unresolved, n, n_adv, n_loss, n_open)


def effective_n(rate: float, var: float, fallback: float, cap: float) -> float:
    """``R (1 - R) / var`` (the binomial size with the same variance), ``fallback`` when undefined, <= ``cap``.

    Examples
    --------
    >>> effective_n(0.5, 0.0025, 10, 1000)
    100.0
    """
    if not np.isfinite(rate):
        return 0.0
    if var > 0 and 0 < rate < 1:
        n_eff = rate * (1 - rate) / var
    else:
        n_eff = fallback
    return float(min(n_eff, cap))


def wilson_interval(rate: np.ndarray | float, n: np.ndarray | float,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion ``rate`` on (effective) size ``n``; ``[0, 1]`` when ``n == 0``.

    Examples
    --------
    >>> lo, hi = wilson_interval(0.5, 100)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.4038, 0.5962)
    """
    p = np.asarray(rate, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        lo = np.where(n > 0, np.clip(centre - half, 0, 1), 0.0)
        hi = np.where(n > 0, np.clip(centre + half, 0, 1), 1.0)
    return lo, hi


def effective_beta(rate: np.ndarray | float, n_eff: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Effective ``Beta(alpha, beta)``: ``alpha = R n_eff + 1/2``, ``beta = (1 - R) n_eff + 1/2``.

    A rate with no information (NaN) gets ``Beta(1/2, 1/2)``.

    Examples
    --------
    >>> a, b = effective_beta(0.25, 40)
    >>> float(a), float(b)
    (10.5, 30.5)
    """
    r = np.asarray(rate, dtype=float)
    n = np.asarray(n_eff, dtype=float)
    known = np.isfinite(r) & np.isfinite(n)
    alpha = np.where(known, np.nan_to_num(r) * np.nan_to_num(n) + 0.5, 0.5)
    beta = np.where(known, (1 - np.nan_to_num(r)) * np.nan_to_num(n) + 0.5, 0.5)
    return alpha, beta


def beta_interval(alpha: np.ndarray | float, beta: np.ndarray | float,
                  confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of ``Beta(alpha, beta)``.

    Examples
    --------
    >>> lo, hi = beta_interval(1, 1, 0.9)
    >>> round(float(lo), 2), round(float(hi), 2)
    (0.05, 0.95)
    """
    tail = (1 - confidence) / 2
    return stats.beta.ppf(tail, alpha, beta), stats.beta.ppf(1 - tail, alpha, beta)
