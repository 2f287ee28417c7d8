"""How many entries a stage needs so that at least ``x`` of them are won with a given probability.

Method
    Each entry into a stage is won independently with probability ``p`` (the product of the stage rates from
    that stage on). With ``n`` entries the wins are ``W ~ Binomial(n, p)``. The number of entries needed is the
    smallest ``n`` with ``P(W >= x | n) >= target_probability``. Because ``P(W >= x | n) = P(F <= n - x)`` where ``F``
    is the number of losses before the ``x``-th win, ``F ~ NegativeBinomial(x, p)``, the answer is
    ``x + F.ppf(target_probability)``.

    When ``p`` itself is uncertain, ``p ~ Beta(alpha, beta)`` (the funnel's effective Beta of the win rate), the
    same identity holds for the predictive distribution: ``W | n`` is beta-binomial and ``F`` is
    beta-negative-binomial, so the answer is ``x + F.ppf(target_probability)`` under the beta-negative-binomial. Rate
    uncertainty widens the plan: the lower the evidence behind a rate, the more entries are needed for the same
    target_probability.

    The beta-negative-binomial quantile is computed by :func:`required_entries` with a vectorised scan of the
    cumulative distribution over all targets at once (log-pmf via ``scipy.special.gammaln``/``betaln``), which
    is exact (no approximation) and plans thousands of targets in milliseconds.

Assumptions
    Entries are exchangeable and independent given the rate; all entries share one rate (no mix of segments
    inside a row: plan per segment for that). Timing is handled by :mod:`salesplan.plan.schedule`.

Reference
    Johnson, Kemp & Kotz (2005), *Univariate Discrete Distributions*, 3rd ed., sections 5.1 (negative
    binomial) and 6.2.3 (beta-negative-binomial).

Examples
--------
Known rate: 10 contracts at a 25% win rate need 40 entries on average, 49 for an 80% target probability. If the 25% is only
an estimate from 20 wins in 80 deals (``Beta(20, 60)``), an 80% target probability needs more:

>>> from salesplan.plan.volumes import required_entries, win_probability
>>> int(required_entries(10, 0.25, 0.8))
49
>>> int(required_entries(10, 0.25, 0.8, alpha=20, beta=60))
52
>>> round(float(win_probability(49, 10, 0.25)), 3), round(float(win_probability(48, 10, 0.25)), 3)
(0.817, 0.795)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from salesplan._validation import check_probability
from salesplan.errors import ParameterError, PlanInputError

__all__ = ["required_entries", "win_probability", "check_target_probability"]

#: Upper bound on the entries any single row may need; beyond it the rate is too uncertain to plan with.
MAX_ENTRIES = 50_000_000


def check_target_probability(target_probability: float) -> float:
    """Return ``target_probability`` as float or raise :class:`~salesplan.ParameterError` if it is not in (0, 1).

    Examples
    --------
    >>> check_target_probability(0.8)
    0.8
    """
    return check_probability(target_probability, "target_probability")


def _broadcast(contracts: ArrayLike, win_rate: ArrayLike, target_probability: ArrayLike,
               alpha: ArrayLike | None, beta: ArrayLike | None) -> tuple[np.ndarray, ...]:
    x = np.asarray(contracts, dtype=float)
    p = np.asarray(win_rate, dtype=float)
    c = np.asarray(target_probability, dtype=float)
    a = np.full_like(p, np.nan) if alpha is None else np.asarray(alpha, dtype=float)
    b = np.full_like(p, np.nan) if beta is None else np.asarray(beta, dtype=float)
    x, p, c, a, b = np.broadcast_arrays(x, p, c, a, b)
    with np.errstate(invalid="ignore"):  # inf % 1 is nan (flagged by ~isfinite), not a warning for the user
        not_whole = ~np.isfinite(x) | (x < 0) | (x % 1 != 0)
    if np.any(not_whole):
        bad = np.flatnonzero(not_whole.ravel())[:5]
        raise PlanInputError(f"contracts must be whole numbers >= 0; bad at position(s) {bad.tolist()}")
    if np.any(~((c > 0) & (c < 1))):
        bad = np.flatnonzero((~((c > 0) & (c < 1))).ravel())[:5]
        raise ParameterError(f"target_probability must lie strictly between 0 and 1; bad at position(s) "
                             f"{bad.tolist()}")
    if np.any(~((p > 0) & (p <= 1))):
        bad = np.flatnonzero((~((p > 0) & (p <= 1))).ravel())[:5]
        raise PlanInputError(f"win rates must lie in (0, 1]; bad at position(s) {bad.tolist()}")
    uncertain = np.isfinite(a) & np.isfinite(b)
    if np.any(uncertain & ~((a > 0) & (b >= 0))):
        bad = np.flatnonzero((uncertain & ~((a > 0) & (b >= 0))).ravel())[:5]
        raise PlanInputError(f"Beta parameters must be alpha > 0, beta >= 0; bad at position(s) {bad.tolist()}")
    return x, p, c, a, b, uncertain


def _bnb_logpmf(k: np.ndarray, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (special.gammaln(x + k) - special.gammaln(k + 1.0) - special.gammaln(x)
            + special.betaln(a + x, b + k) - special.betaln(a, b))


def _bnb_quantile(x: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                  positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest k with P(F <= k) >= c for F ~ BetaNegBinomial(x, a, b), all rows at once.

    A row whose k exceeds :data:`MAX_ENTRIES` is refused, named by its entry in ``positions`` (the rows' places
    in the caller's input).

    The CDF is summed exactly from 0 in blocks. Each block is anchored at its first k with the closed-form log-pmf
    and continued with the pmf ratio ``(x+k)(b+k) / ((k+1)(a+b+x+k))``; rows are grouped by a normal-approximation
    guess of their quantile so each row scans about as far as it needs.
    """
    out = np.zeros(x.shape, dtype=np.int64)
    prob = np.ones(x.shape)
    active = np.flatnonzero((x > 0) & (b > 0))  # b == 0 means p == 1: no losses
    if active.size == 0:
        return out, prob
    xs, as_, bs, cs = x[active], a[active], b[active], c[active]
    # guess: mean + 3 sd of F where the moments exist, else a generous fallback. The guess, the block widths and
    # the grouping of rows decide only how far each pass scans, never the answer (each row continues from where it
    # stopped, and the cap is checked on the answer): "no mutate" keeps their mutants, equivalent in value, out of
    # the mutation score (benchmarks/MUTATION.md lists them)
    with np.errstate(divide="ignore", invalid="ignore"):  # pragma: no mutate
        mean = xs * bs / (as_ - 1)  # pragma: no mutate
        var = xs * bs * (xs + as_ - 1) * (bs + as_ - 1) / ((as_ - 2) * (as_ - 1) ** 2)  # pragma: no mutate
        guess = np.where(as_ > 2, mean + 3 * np.sqrt(var), 64 * (xs + 1) * (bs + 1) / as_)  # pragma: no mutate
    width = np.clip(np.ceil(guess) + 16, 16, 1 << 16).astype(np.int64)  # pragma: no mutate
    cdf = np.zeros(active.size)
    start = np.zeros(active.size, dtype=np.int64)
    todo = np.argsort(width, kind="stable")  # pragma: no mutate
    while todo.size:
        rest_parts = []
        pos = 0
        while pos < todo.size:
            # rows are sorted by width: take those within a factor 1.25 of the first, at most ~2M cells
            w0 = int(width[todo[pos]])
            end = int(np.searchsorted(width[todo], w0 * 1.25, side="right"))  # pragma: no mutate
            end = max(pos + 1, min(end, pos + max(1, 2_000_000 // max(w0, 1))))  # pragma: no mutate
            rows = todo[pos:end]
            w = int(width[rows].max())
            pos = end
            k0 = start[rows].astype(float)[:, None]
            xr, ar, br = xs[rows, None], as_[rows, None], bs[rows, None]
            j = k0 + np.arange(w - 1)[None, :]
            logratio = np.log(((xr + j) * (br + j)) / ((j + 1.0) * (ar + br + xr + j)))
            logpmf = np.empty((rows.size, w))
            logpmf[:, :1] = _bnb_logpmf(k0, xr, ar, br)
            logpmf[:, 1:] = logpmf[:, :1] + np.cumsum(logratio, axis=1)
            run = cdf[rows, None] + np.cumsum(np.exp(logpmf), axis=1)
            hit = run >= cs[rows, None]
            found = hit.any(axis=1)
            first_hit = np.argmax(hit[found], axis=1)
            out[active[rows[found]]] = start[rows[found]] + first_hit
            prob[active[rows[found]]] = run[found][np.arange(first_hit.size), first_hit]
            left = rows[~found]
            cdf[left] = run[~found, -1]
            start[left] += w
            width[left] *= 2
            rest_parts.append(left)
        todo = np.concatenate(rest_parts)
        if todo.size:
            todo = todo[np.argsort(width[todo], kind="stable")]  # pragma: no mutate
            if start[todo].max() > MAX_ENTRIES:  # stop scanning: these rows need more than the cap
                _too_uncertain(active[todo[np.argmax(start[todo])]], a, b, positions)
    # a row found in the pass that crossed the cap needs more than the cap too (the cap does not depend on how far
    # each pass scanned)
    if out[active].max() > MAX_ENTRIES:
        _too_uncertain(active[np.argmax(out[active])], a, b, positions)
    return out, prob


def _too_uncertain(worst: int, a: np.ndarray, b: np.ndarray, positions: np.ndarray) -> None:
    where = int(positions[worst])
    raise PlanInputError(
        f"rate too uncertain to plan: more than {MAX_ENTRIES:,} entries needed at position "
        f"{where} (alpha={float(a.ravel()[worst]):.3g}, beta={float(b.ravel()[worst]):.3g}); "
        "gather more data or lower the target probability"
    )


def required_entries(contracts: ArrayLike, win_rate: ArrayLike, target_probability: ArrayLike = 0.8, *,
                     alpha: ArrayLike | None = None, beta: ArrayLike | None = None,
                     return_probability: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Smallest number of entries with ``P(at least contracts wins) >= target_probability`` (vectorised).

    Parameters
    ----------
    contracts : array-like of int
        Target wins ``x`` (whole numbers >= 0).
    win_rate : array-like of float
        Probability that one entry is won, in (0, 1]. Used when ``alpha``/``beta`` are missing.
    target_probability : array-like of float
        Probability, in (0, 1), of reaching the target.
    alpha, beta : array-like of float, optional
        Beta distribution of the win rate. Where both are finite the beta-negative-binomial (predictive) quantile
        is used; where NaN or omitted the rate is treated as known (negative binomial).

    return_probability : bool
        Also return ``P(at least contracts wins | required entries)`` (at least ``target_probability``).

    Returns
    -------
    numpy.ndarray of int64
        Required entries, broadcast over the inputs (and the probabilities with ``return_probability``).

    Raises
    ------
    PlanInputError
        Contracts not whole or negative, target_probability outside (0, 1), rate outside (0, 1], bad Beta parameters.

    Examples
    --------
    >>> required_entries([1, 5, 10], 0.5, 0.5).tolist()
    [1, 9, 19]
    >>> required_entries(5, 0.5, [0.5, 0.9]).tolist()
    [9, 14]
    """
    x, p, c, a, b, uncertain = _broadcast(contracts, win_rate, target_probability, alpha, beta)
    out = np.zeros(x.shape, dtype=np.int64)
    prob = np.ones(x.shape)
    known = ~uncertain & (x > 0)
    if known.any():
        fails = np.asarray(stats.nbinom.ppf(c[known], x[known], p[known]), dtype=np.int64)
        out[known] = x[known].astype(np.int64) + fails
        if return_probability:
            prob[known] = stats.nbinom.cdf(fails, x[known], p[known])
    unc = uncertain & (x > 0)
    if unc.any():
        fails, prob[unc] = _bnb_quantile(x[unc], a[unc], b[unc], c[unc], np.flatnonzero(unc.ravel()))
        out[unc] = x[unc].astype(np.int64) + fails
    return (out, prob) if return_probability else out


def win_probability(entries: ArrayLike, contracts: ArrayLike, win_rate: ArrayLike, *,
                    alpha: ArrayLike | None = None, beta: ArrayLike | None = None) -> np.ndarray:
    """``P(at least contracts wins | entries)``: binomial for a known rate, beta-binomial for a Beta rate.

    Examples
    --------
    >>> round(float(win_probability(20, 10, 0.5)), 4)
    0.5881
    >>> round(float(win_probability(20, 10, 0.5, alpha=5, beta=5)), 4)
    0.55
    """
    n = np.asarray(entries, dtype=float)
    x, p, _, a, b, uncertain = _broadcast(contracts, win_rate, 0.5, alpha, beta)
    n, x, p, a, b, uncertain = np.broadcast_arrays(n, x, p, a, b, uncertain)
    known_sf = stats.binom.sf(x - 1, n, p)
    if not uncertain.any():
        return np.asarray(known_sf, dtype=float)
    safe_a = np.where(uncertain, a, 1.0)
    safe_b = np.where(uncertain, np.maximum(b, 1e-300), 1.0)
    # P(W >= x | n) = P(F <= n - x) with F beta-negative-binomial
    unc_sf = np.where(n >= x, stats.betanbinom.cdf(np.maximum(n - x, 0), np.maximum(x, 1), safe_a, safe_b), 0.0)
    unc_sf = np.where(x == 0, 1.0, unc_sf)
    return np.where(uncertain, unc_sf, known_sf).astype(float)
