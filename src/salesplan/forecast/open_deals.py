"""The open deals of a pipeline forecast simulated from a summary of them (cells), not deal by deal.

Method
    Under the pipeline model (:mod:`salesplan.forecast.pipeline`) an open deal's outcome, given the stage rates of
    one Monte Carlo draw, depends only on its process and group (rates and durations), its stage ``k``, its days in
    the stage ``a`` and, with a driver model, its log-odds shift. Deals that share these inputs are exchangeable,
    so they are simulated together as one *cell* of ``n`` deals:

    * the chance that a deal of the cell is won at all under draw ``s``'s rates ``r_s`` is
      ``A_s = p_s(a) * prod_{j > k} r_{s,j}`` with
      ``p_s(a) = r_{s,k} S_a(a) / (r_{s,k} S_a(a) + (1 - r_{s,k}) S_l(a))`` (``S_a``, ``S_l`` the log-normal
      survival functions of the days to advance and to loss; driver multipliers applied, capped at 1);
    * the time to that win (what is left of the current stage, a log-normal truncated at ``a``, plus a fresh
      log-normal time in each later stage) does not depend on the rates or on whether the deal wins, so the chance
      ``tau_t`` that it ends in period ``t`` of the window is computed once per cell (below);
    * in draw ``s`` the cell's wins inside the window are ``m ~ Binomial(n, A_s T)`` with ``T = sum_t tau_t``,
      and they split over the periods as ``Multinomial(m, tau / T)`` (multinomial by conditioning, Devroye 1986,
      ch. XI.1). This is the distribution of the per-deal simulation, exactly, for deals of equal inputs.

    Rows of (draw, cell) with at most ``PER_WIN`` wins place each win by the cell's alias table (Walker's method:
    one uniform per win); rows with more use one multinomial draw. Work is therefore bounded by draws x cells x max(``PER_WIN``, periods), and cells by
    groups x stages x age buckets: beyond this summary, time does not grow with the number of open deals (below
    the bound it grows with the wins per draw and cell), and memory is bounded by the chunks of at most
    ``chunk`` (draw, cell) pairs in which the draws are processed.

Age buckets (the one approximation in the counts)
    Ages are continuous, so cells gather deals whose ``log(1 + days in stage)`` falls in one bucket of width
    ``AGE_STEP`` (0.02: ages within about 2% of ``1 + age`` of each other, under a day for deals younger than 50
    days) and use the cell's mean age. Driver shifts are bucketed to ``SHIFT_STEP`` (0.01 in log-odds) the same
    way. Deals whose ages are whole days fall one day per cell up to about 50 days.

Timing
    ``P(R + D <= x)`` at the period ends, with ``R`` the rest of the current stage and ``D`` the later stages'
    sum, is computed numerically: ``D``'s distribution by convolving the later stages' log-normal masses on a grid
    of step ``h`` (at most 1/16 of the shortest whole period and 1/256 of the window), ``R`` from its closed form
    ``1 - S_a(a + x) / S_a(a)`` (log survival, so old deals do not underflow) on the same grid, and the sum's CDF
    at each period end as the grid sum of ``R``'s masses times ``D``'s piecewise-linear CDF (error of order
    ``h^2``). For the last stage (``D = 0``) the closed form is used directly.

Revenue
    In the per-deal model the won deals of a cell are a uniformly random subset of it. Here each cell's deals are
    put in one random order once, and the ``m`` wins of a draw are ``m`` consecutive deals in that order from a
    random start (cyclic), period after period. Every deal is in the block with probability ``m / n``, so the
    expected revenue is exact; the spread approximates sampling without replacement (it is exact when the cell's
    amounts are equal, or ``m <= 1``, or ``m >= n - 1``).

Reference: L. Devroye (1986), *Non-Uniform Random Variate Generation*, Springer, ch. III.4 (the alias method) and
XI.1 (multinomial); the model: Kalbfleisch & Prentice (2002), *The Statistical Analysis of Failure Time Data*,
ch. 8.

Examples
--------
Ten deals of one age in the last of two stages, rate 0.5 fixed, a window that every advance fits in: the wins
are Binomial(10, 0.5).

>>> import numpy as np
>>> table = {"rate": np.array([0.5, 0.5]), "mu_a": np.log([5.0, 5.0]), "sd_a": np.array([0.5, 0.5]),
...          "mu_l": np.log([5.0, 5.0]), "sd_l": np.array([0.5, 0.5])}
>>> cells = summarise(np.zeros(10, dtype=int), np.ones(10, dtype=int), np.zeros(10), seed=0)
>>> tau = timing(table, cells.stage, cells.age, np.array([1000.0]))
>>> rates = [np.full((4000, 2), 0.5)]
>>> sim = simulate_cells(1, cells, rates, [table], tau, np.full(10, 2.0))
>>> int(cells.size[0]), round(float(tau[0, 0]), 6)
(10, 1.0)
>>> x = sim.counts[:, 0, 0]
>>> bool(abs(x.mean() - 5) < 0.1), bool(abs(x.var() - 2.5) < 0.25), bool((sim.revenue[:, 0, 0] == 2 * x).all())
(True, True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal, special

__all__ = ["Cells", "CellDraws", "summarise", "timing", "arrival_timing", "survival_ratio", "curve_log_ratio",
           "advance_curve", "stage_log_sf", "advance_share", "alias_tables",
           "simulate_cells", "AGE_STEP", "SHIFT_STEP",
           "PER_WIN"]

#: width of an age bucket in ``log(1 + days in stage)``
AGE_STEP = 0.02
#: width of a driver-shift bucket in log-odds
SHIFT_STEP = 0.01
#: (draw, cell) rows with at most this many wins place each win by an alias table; more: one multinomial draw
PER_WIN = 16
#: default bound on the (draw, cell) pairs simulated at once
CHUNK = 250_000


@dataclass(frozen=True)
class Cells:
    """Open deals summarised into cells of equal simulation inputs.

    Attributes
    ----------
    group_index, stage : ndarray of int
        Per cell: the caller's group index (a process and group of the funnel) and the stage index.
    age, shift : ndarray of float
        Per cell: the mean days in stage and the mean driver log-odds shift of its deals.
    size : ndarray of int
        Deals per cell.
    of_deal : ndarray of int
        The cell of each deal (in the caller's order).
    order : ndarray of int
        Deal positions sorted by cell, in a random order within each cell (the revenue blocks).
    start : ndarray of int
        Where each cell's deals begin in ``order``.
    """

    group_index: np.ndarray
    stage: np.ndarray
    age: np.ndarray
    shift: np.ndarray
    size: np.ndarray
    of_deal: np.ndarray
    order: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        """Number of cells."""
        return len(self.size)


@dataclass(frozen=True)
class CellDraws:
    """What :func:`simulate_cells` returns.

    Attributes
    ----------
    counts : ndarray of int32, shape (draws, groups, periods)
        Wins per draw, group and period.
    revenue : ndarray of float, shape (draws, groups, periods)
        The won deals' amounts summed likewise.
    eventual : ndarray of float, shape (cells,)
        Mean over the draws of the chance that a deal of the cell is won at all (``A_s`` averaged).
    """

    counts: np.ndarray
    revenue: np.ndarray
    eventual: np.ndarray


def summarise(group_index: np.ndarray, stage: np.ndarray, age: np.ndarray, shift: np.ndarray | None = None, *,
              seed: int | np.random.Generator | None = None) -> Cells:
    """Cells of deals with the same group, stage, age bucket and shift bucket.

    Parameters
    ----------
    group_index, stage : array of int
        Per deal: the caller's group index and the stage index.
    age : array of float
        Days in stage per deal.
    shift : array of float, optional
        Driver log-odds shift per deal.
    seed : int or Generator, optional
        Randomness of the order of the deals within each cell (a Generator is used as it is).

    Returns
    -------
    Cells

    Examples
    --------
    >>> c = summarise(np.array([0, 0, 0, 1]), np.array([1, 1, 1, 1]), np.array([3.0, 3.01, 9.0, 3.0]),
    ...               seed=0)
    >>> c.size.tolist(), c.of_deal.tolist(), np.round(c.age, 3).tolist()
    ([2, 1, 1], [0, 0, 1, 2], [3.005, 9.0, 3.0])
    """
    rng = np.random.default_rng(seed)
    group = np.asarray(group_index, dtype=np.int64)
    stage = np.asarray(stage, dtype=np.int64)
    age = np.maximum(np.asarray(age, dtype=float), 0.0)
    n = len(age)
    bucket = np.minimum(np.floor(np.log1p(age) / AGE_STEP), 2**14 - 1).astype(np.int64)
    key = (group << 6 | stage) << 14 | bucket
    if shift is not None:
        sb = np.clip(np.round(np.asarray(shift, dtype=float) / SHIFT_STEP), -(2**19), 2**19 - 1).astype(np.int64)
        key = key << 20 | (sb + 2**19)
    _, first, of_deal, size = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    of_deal = of_deal.ravel()
    mean_age = np.bincount(of_deal, weights=age, minlength=len(size)) / size
    mean_shift = np.zeros(len(size)) if shift is None else \
        np.bincount(of_deal, weights=np.asarray(shift, dtype=float), minlength=len(size)) / size
    order = np.lexsort((rng.random(n), of_deal))
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    return Cells(group[first], stage[first], mean_age, mean_shift, size.astype(np.int64), of_deal, order, start)


def _log_sf(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Log of the log-normal survival function (stable far in the tail)."""
    with np.errstate(divide="ignore"):
        z = (np.log(np.maximum(x, 1e-300)) - mu) / sd
    return special.log_ndtr(-z)


def _rest_cdf(a: np.ndarray, x: np.ndarray, mu: np.ndarray, sd: np.ndarray, log_s_a: np.ndarray) -> np.ndarray:
    """``1 - S(a + x) / S(a)`` of a log-normal: rows of ages ``a`` (a column), columns of ``x`` (a row).

    Where ``S(a)`` is above about 1e-260 the ratio is taken in linear terms (``ndtr``, cheaper than its log); for
    ages that far in the tail, in logs (``log_ndtr``), so that old deals do not underflow. Both agree to rounding.

    Examples
    --------
    Median 10 days, sigma 0.2: a deal 10 days in (linear terms) and one 20,000 days in (``S`` about 1e-316,
    in logs), against scipy's log-normal:

    >>> from scipy import stats
    >>> mu, sd, a, x = np.log(10.0), 0.2, np.array([[10.0], [2e4]]), np.array([[5.0, 50.0]])
    >>> got = _rest_cdf(a, x, mu, sd, _log_sf(a, mu, sd))
    >>> d = stats.lognorm(sd, scale=10.0)
    >>> want = [[(d.sf(10) - d.sf(10 + v)) / d.sf(10) for v in (5, 50)],
    ...         [-np.expm1(d.logsf(2e4 + v) - d.logsf(2e4)) for v in (5, 50)]]
    >>> bool(np.allclose(got, want, rtol=1e-9, atol=0)), np.round(got, 4).tolist()
    (True, [[0.9574, 1.0], [0.0464, 0.378]])
    """
    lin = log_s_a[:, 0] > -600.0
    if lin.all():
        with np.errstate(divide="ignore"):
            z = (np.log(a + x) - mu) / sd
        return 1.0 - np.minimum(special.ndtr(-z) / np.exp(log_s_a), 1.0)
    out = -np.expm1(np.minimum(_log_sf(a + x, mu, sd) - log_s_a, 0.0))
    if lin.any():
        out[lin] = _rest_cdf(a[lin], x, mu, sd, log_s_a[lin])
    return out


def stage_log_sf(table: dict[str, Any], k: int, x: np.ndarray) -> np.ndarray:
    """``log S_a(x)``: the log chance that a stay of stage ``k`` which ends in an advance lasts longer than ``x``.

    From the funnel's own curve where the table holds one (``table["advance_curves"][k]``, made by
    :func:`advance_curve`): the Aalen-Johansen step function up to the horizon, and beyond it the log-normal's
    tail scaled to join it there; otherwise the log-normal.

    Examples
    --------
    >>> t = {"mu_a": np.log([10.0]), "sd_a": np.array([0.5]),
    ...      "advance_curves": [(np.array([5.0, 10.0]), np.log([0.5, 0.25]), 20.0)]}
    >>> np.round(np.exp(stage_log_sf(t, 0, np.array([1.0, 7.0, 15.0]))), 3).tolist()
    [1.0, 0.5, 0.25]
    """
    mu, sd = table["mu_a"][k], table["sd_a"][k]
    x = np.asarray(x, dtype=float)
    curves = table.get("advance_curves")
    curve = None if curves is None else curves[k]
    if curve is None:
        return _log_sf(x, mu, sd)
    times, log_s, horizon = curve
    idx = np.searchsorted(times, x, side="right") - 1
    inside = np.where(idx >= 0, log_s[np.clip(idx, 0, None)], 0.0)
    if not (x > horizon).any():
        return inside
    with np.errstate(invalid="ignore"):
        beyond = log_s[-1] + _log_sf(x, mu, sd) - _log_sf(np.array(horizon), mu, sd)
    return np.where(x <= horizon, inside, beyond)


def _stage_masses(table: dict[str, Any], k: int, grid_n: int, h: float) -> np.ndarray:
    """:func:`_lognormal_masses` of stage ``k``'s days to advance, from :func:`stage_log_sf`."""
    if table.get("advance_curves") is None or table["advance_curves"][k] is None:
        return _lognormal_masses(grid_n, h, float(table["mu_a"][k]), float(table["sd_a"][k]))
    upper = (np.arange(grid_n + 1) + 0.5) * h
    return np.diff(np.concatenate([[0.0], -np.expm1(stage_log_sf(table, k, upper))]))


def _stage_rest_cdf(table: dict[str, Any], k: int, a: np.ndarray, x: np.ndarray, log_s_a: np.ndarray) -> np.ndarray:
    """:func:`_rest_cdf` of stage ``k`` from :func:`stage_log_sf` (0 where no advance is left at age ``a``)."""
    if table.get("advance_curves") is None or table["advance_curves"][k] is None:
        return _rest_cdf(a, x, table["mu_a"][k], table["sd_a"][k], log_s_a)
    with np.errstate(invalid="ignore"):
        out = -np.expm1(np.minimum(stage_log_sf(table, k, a + x) - log_s_a, 0.0))
    return np.where(np.isfinite(log_s_a), out, 0.0)


def survival_ratio(table: dict[str, Any], stage: np.ndarray, age: np.ndarray) -> np.ndarray:
    """``S_l(a) / S_a(a)``: how much likelier a deal of this age is still open for a loss than for an advance.

    ``S_a`` and ``S_l`` are the survival functions of the days in the stage among stays that end in an advance
    and in a loss. Where the table holds the funnel's own curves for a stage (``table["ratio_curves"][k]``, from
    :func:`curve_log_ratio`), the ratio is read from them; otherwise from the log-normal durations.

    Examples
    --------
    >>> t = {"mu_a": np.log([5.0]), "sd_a": np.array([0.5]), "mu_l": np.log([5.0]), "sd_l": np.array([0.5])}
    >>> survival_ratio(t, np.array([0]), np.array([7.0])).tolist()
    [1.0]
    """
    stage = np.asarray(stage)
    age = np.asarray(age, dtype=float)
    log_ratio = _log_sf(age, table["mu_l"][stage], table["sd_l"][stage]) - \
        _log_sf(age, table["mu_a"][stage], table["sd_a"][stage])
    curves = table.get("ratio_curves")
    if curves is not None:
        for k, curve in enumerate(curves):
            here = stage == k
            if curve is None or not here.any():
                continue
            times, values = curve
            idx = np.searchsorted(times, age[here], side="right") - 1  # the step function just after each age
            log_ratio[here] = np.where(idx >= 0, values[np.clip(idx, 0, None)], 0.0)
    return np.exp(np.minimum(log_ratio, 690.0))


def curve_log_ratio(times: np.ndarray, cif_advance: np.ndarray, cif_loss: np.ndarray, rate: float,
                    horizon: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``log(S_l(t) / S_a(t))`` at the event times of a stage's Aalen-Johansen curves, or None.

    With ``F_1``, ``F_2`` the cumulative incidences of advance and loss and ``R`` the stage's rate (the share of
    stays that end in an advance, the unresolved ones included), the stays that end in an advance are still in the
    stage at ``t`` with probability ``S_a(t) = 1 - F_1(t) / R``, those that end in a loss with ``S_l(t) = 1 -
    F_2(t) / (1 - R)``. At the rate ``R`` itself the chance that a deal still in the stage after ``t`` days
    advances is then ``(R - F_1(t)) / (1 - F_1(t) - F_2(t))``, the funnel's own estimate (at the horizon: the
    share of the unresolved stays the rate counts as advancing). Past the horizon the curves hold their value
    there. The ratio is capped at ``exp(+-690)`` where one survival reaches 0.

    Examples
    --------
    Of four stays, one advanced on day 2, one was lost on day 10, two are open at the horizon (day 20) and
    counted as half advancing (``R = 0.5``): a deal 5 days in advances with probability (0.5 - 0.25) / 0.75 = 1/3.

    >>> t, lr = curve_log_ratio(np.array([2.0, 10.0]), np.array([0.25, 0.25]), np.array([0.0, 0.25]), 0.5, 20.0)
    >>> ratio = float(np.exp(lr[0]))
    >>> round(0.5 / (0.5 + 0.5 * ratio), 4)
    0.3333
    """
    advance = advance_curve(times, cif_advance, rate, horizon)
    if advance is None:
        return None
    at, log_s_a, _ = advance  # the times are ascending: those up to the horizon are the first ones
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s_l = np.log(np.maximum(1.0 - cif_loss[:len(at)] / (1.0 - rate), 0.0))
        log_ratio = np.where(np.isneginf(log_s_a) & np.isneginf(log_s_l), 0.0,
                             np.clip(log_s_l - log_s_a, -690.0, 690.0))
    return at, log_ratio


def advance_curve(times: np.ndarray, cif_advance: np.ndarray, rate: float,
                  horizon: float) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(times, log S_a(times), horizon)``: the stays that end in an advance, still in the stage, from the curves.

    ``S_a(t) = 1 - F_1(t) / R`` (see :func:`curve_log_ratio`) at the event times up to the horizon; what
    :func:`stage_log_sf` reads. None when the rate is not inside (0, 1) or nothing happened by the horizon.

    Examples
    --------
    >>> t, ls, h = advance_curve(np.array([2.0, 10.0]), np.array([0.25, 0.25]), 0.5, 20.0)
    >>> np.exp(ls).tolist(), h
    ([0.5, 0.5], 20.0)
    """
    if not (np.isfinite(rate) and 0.0 < rate < 1.0) or not len(times):
        return None
    keep = times <= horizon if np.isfinite(horizon) else np.ones(len(times), dtype=bool)
    if not keep.any():
        return None
    with np.errstate(divide="ignore"):
        log_s = np.log(np.maximum(1.0 - cif_advance[keep] / rate, 0.0))
    return (np.asarray(times[keep], dtype=float), log_s,
            float(horizon) if np.isfinite(horizon) else float(times[keep][-1]))


def _grid_step(bounds: np.ndarray) -> float:
    horizon = float(bounds[-1])
    widths = np.diff(np.concatenate([[0.0], bounds]))
    whole = widths[1:-1] if len(widths) > 2 else widths
    h = min(float(whole.min()) / 16, horizon / 256)
    return max(h, horizon / 8192)


def _lognormal_masses(grid_n: int, h: float, mu: float, sd: float) -> np.ndarray:
    """Masses at grid points ``g h`` (g = 0..grid_n) of a log-normal: the mass of ``((g - 1/2) h, (g + 1/2) h]``."""
    upper = (np.arange(grid_n + 1) + 0.5) * h
    cdf = special.ndtr((np.log(upper) - mu) / sd)
    return np.diff(np.concatenate([[0.0], cdf]))


def timing(table: dict[str, np.ndarray], stage: np.ndarray, age: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Chance that the time from now to a win ends in each period, per cell of one process and group.

    Parameters
    ----------
    table : dict
        ``mu_a``, ``sd_a`` per stage: log-normal days to advance; with ``advance_curves`` the funnel's own curve
        (:func:`stage_log_sf`).
    stage, age : array
        Per cell: stage index and (mean) days in stage.
    bounds : array of float
        Days from the cut to the end of each period; the last is the window's end.

    Returns
    -------
    ndarray, shape (cells, periods)
        ``P(R + D in period t)``; the rest of the mass (a row sums to ``T <= 1``) falls after the window.

    Examples
    --------
    One stage left, 10 days in it, median advance 10 days: the advance comes within 5 days with chance
    ``(F(15) - F(10)) / S(10)`` of the log-normal.

    >>> from scipy import stats
    >>> t = {"mu_a": np.log([10.0]), "sd_a": np.array([0.5])}
    >>> p = timing(t, np.array([0]), np.array([10.0]), np.array([5.0, 1e6]))
    >>> d = stats.lognorm(0.5, scale=10.0)
    >>> np.round(p, 4).tolist(), round(float((d.cdf(15) - d.cdf(10)) / d.sf(10)), 4)
    ([[0.5826, 0.4174]], 0.5826)
    """
    stage = np.asarray(stage, dtype=np.int64)
    age = np.asarray(age, dtype=float)
    bounds = np.asarray(bounds, dtype=float)
    n_k = len(table["mu_a"])
    out = np.zeros((len(stage), len(bounds)))
    if len(stage) == 0:
        return out
    h = _grid_step(bounds)
    grid_n = int(np.ceil(bounds[-1] / h))
    knots = (np.arange(-1, grid_n + 1) + 0.5) * h
    later = np.zeros(grid_n + 1)
    later[0] = 1.0  # D for the last stage: no later stage
    for k in range(n_k - 1, -1, -1):
        if k < n_k - 1:  # D_k = X_{k+1} + D_{k+1}
            x = _stage_masses(table, k + 1, grid_n, h)
            later = np.clip(signal.fftconvolve(x, later)[:grid_n + 1], 0.0, None)
        here = np.flatnonzero(stage == k)
        if len(here) == 0:
            continue
        a = age[here][:, None]
        log_s_age = stage_log_sf(table, k, a)
        if k == n_k - 1:
            cdf = _stage_rest_cdf(table, k, a, bounds[None, :], log_s_age)
        else:
            d_cdf = np.interp(bounds[None, :] - (np.arange(grid_n + 1) * h)[:, None],
                              knots, np.concatenate([[0.0], np.cumsum(later)]), left=0.0)
            step = max(1, 4_000_000 // (grid_n + 2))
            cdf = np.empty((len(here), len(bounds)))
            edges = np.concatenate([[0.0], knots[1:]])
            for lo in range(0, len(here), step):
                aa = a[lo:lo + step]
                r_cdf = _stage_rest_cdf(table, k, aa, edges[None, :], log_s_age[lo:lo + step])
                cdf[lo:lo + step] = np.diff(r_cdf, axis=1) @ d_cdf
        out[here] = np.diff(np.concatenate([np.zeros((len(here), 1)), np.maximum.accumulate(cdf, axis=1)], axis=1),
                            axis=1)
    return np.clip(out, 0.0, 1.0)


def arrival_timing(table: dict[str, np.ndarray], bounds: np.ndarray) -> np.ndarray:
    """Chance that a deal created at a uniform time in the window, and won, is won in each period.

    A deal created ``U ~ Uniform(0, H)`` days after the cut (``H = bounds[-1]``) and passing every stage is won
    after ``U + S`` days, ``S`` the sum of a fresh log-normal time to advance in each stage. For a period end
    ``x <= H``, ``P(U + S <= x) = (1 / H) * integral_0^x F_S(v) dv``; ``F_S`` is :func:`timing`'s for a deal of
    age 0 in the first stage (its grid sum taken as one FFT convolution for all points at once, equal to rounding)
    on a grid of 1024 steps plus the period ends, integrated by the trapezoid rule.

    Parameters
    ----------
    table : dict
        ``mu_a``, ``sd_a`` per stage: log-normal days to advance; with ``advance_curves`` the funnel's own curve
        (:func:`stage_log_sf`).
    bounds : array of float
        Days from the cut to the end of each period; the last is the window's end.

    Returns
    -------
    ndarray, shape (periods,)
        ``P(U + S in period t)``; the rest of the mass falls after the window.

    Examples
    --------
    One stage, median 10 days: against a Monte Carlo of a million deals.

    >>> t = {"mu_a": np.log([10.0]), "sd_a": np.array([0.5])}
    >>> q = arrival_timing(t, np.array([30.0, 60.0]))
    >>> rng = np.random.default_rng(0)
    >>> won = rng.uniform(0, 60, 10**6) + rng.lognormal(np.log(10), 0.5, 10**6)
    >>> np.round(q, 2).tolist(), [round(float(((won > a) & (won <= b)).mean()), 2) for a, b in [(0, 30), (30, 60)]]
    ([0.31, 0.5], [0.31, 0.5])
    """
    bounds = np.asarray(bounds, dtype=float)
    horizon = float(bounds[-1])
    grid = np.union1d(horizon * np.arange(1, 1025) / 1024, bounds)
    cdf = np.concatenate([[0.0], np.cumsum(_fresh_timing(table, grid))])
    at = np.concatenate([[0.0], grid])
    integral = np.concatenate([[0.0], np.cumsum((cdf[1:] + cdf[:-1]) / 2 * np.diff(at))])
    inside = np.interp(bounds, at, integral) / horizon
    return np.clip(np.diff(np.concatenate([[0.0], inside])), 0.0, 1.0)


def _fresh_timing(table: dict[str, np.ndarray], bounds: np.ndarray) -> np.ndarray:
    """:func:`timing` of one deal of age 0 in the first stage (equal to it to rounding), for many period ends.

    :func:`timing` evaluates the later stages' piecewise-linear CDF at every (grid point, period end) pair, which
    for the 1,000-odd ends of :func:`arrival_timing` is a (grid x ends) table of interpolations. The same sum is a
    discrete convolution: with the first stage's masses ``m_g`` on the grid, the CDF values ``C_i`` at the knots
    ``(i - 1/2) h`` and a period end ``b = (a + w - 1/2) h`` (``a`` whole, ``0 <= w < 1``),
    ``sum_g m_g D(b - g h) = (1 - w) (m * C)[a] + w (m * C)[a + 1]``, so one FFT convolution serves every end.
    """
    n_k = len(table["mu_a"])
    bounds = np.asarray(bounds, dtype=float)
    if n_k == 1:  # the closed form of the last stage: no grid
        return timing(table, np.array([0]), np.array([0.0]), bounds)[0]
    h = _grid_step(bounds)
    grid_n = int(np.ceil(bounds[-1] / h))
    knots = (np.arange(-1, grid_n + 1) + 0.5) * h
    later = np.zeros(grid_n + 1)
    later[0] = 1.0
    for k in range(n_k - 2, -1, -1):  # D_0 = X_1 + ... + X_{K-1}, as in timing()
        x = _stage_masses(table, k + 1, grid_n, h)
        later = np.clip(signal.fftconvolve(x, later)[:grid_n + 1], 0.0, None)
    edges = np.concatenate([[0.0], knots[1:]])
    masses = np.diff(-np.expm1(np.minimum(stage_log_sf(table, 0, edges), 0.0)))
    knot_cdf = np.concatenate([[0.0], np.cumsum(later)])  # C_i at knots[i]; 0 before the first
    conv = signal.fftconvolve(masses, knot_cdf)[:grid_n + 2]
    pos = bounds / h + 0.5  # in knot units
    a = np.clip(np.floor(pos).astype(np.int64), 0, grid_n)
    w = np.clip(pos - a, 0.0, 1.0)
    cdf = (1 - w) * conv[a] + w * conv[a + 1]
    return np.clip(np.diff(np.concatenate([[0.0], np.maximum.accumulate(cdf)])), 0.0, 1.0)


def advance_share(r: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """The chance a deal still in a stage with rate ``r`` leaves it forward.

    ``ratio`` is how much likelier the deal's age makes a loss than an advance (:func:`survival_ratio`); ``r`` and
    ``ratio`` broadcast: ``r / (r + (1 - r) ratio)``.

    Examples
    --------
    >>> advance_share(np.array([0.5, 0.5, 0.0]), np.array([1.0, 2.0, 1.0])).round(4).tolist()
    [0.5, 0.3333, 0.0]
    """
    with np.errstate(invalid="ignore", over="ignore"):
        rest = np.where(r < 1, (1 - r) * ratio, 0.0)
        return np.where(r > 0, r / np.where(r > 0, r + rest, 1.0), 0.0)


def _eventual(r_draw: np.ndarray, stage: np.ndarray, ratio: np.ndarray, mult: np.ndarray | None) -> np.ndarray:
    """(draws, cells): the chance a deal of each cell is won at all, under each draw's rates."""
    if mult is None:
        return _eventual_cells(r_draw[None], np.zeros(len(stage), dtype=np.intp), stage, ratio).T
    p = np.minimum(advance_share(r_draw[:, stage], ratio[None, :]) * mult[np.arange(len(stage)), stage][None, :],
                   1.0)
    for j in range(r_draw.shape[1]):
        later = stage < j
        if not later.any():
            continue
        r_j = np.minimum(r_draw[:, [j]] * mult[None, :, j], 1.0)
        p = np.where(later[None, :], p * r_j, p)
    return p


def _eventual_cells(rates: np.ndarray, group: np.ndarray, stage: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """(cells, draws): the chance a deal of each cell is won at all, for cells of several groups at once.

    Without driver multipliers. ``rates`` is (groups, draws, stages); each cell's chance to leave its stage forward
    times the product of the later stages' rates (one suffix product per group and draw, read at each cell's group
    and stage). Both are laid out stage-major, (groups, stages, draws), so that each cell reads one contiguous row.
    """
    by_stage = np.ascontiguousarray(rates.transpose(0, 2, 1))  # (groups, stages, draws): small
    after = np.ones_like(by_stage)
    after[:, :-1, :] = np.cumprod(by_stage[:, :0:-1, :], axis=1)[:, ::-1, :]
    r = by_stage[group, stage]
    if not ((rates > 0) & (rates < 1)).all():
        return advance_share(r, ratio[:, None]) * after[group, stage]
    # every rate inside (0, 1): advance_share's arithmetic without its guards, in place (the same values)
    p = 1 - r
    with np.errstate(over="ignore", invalid="ignore"):
        p *= ratio[:, None]
        p += r
        np.divide(r, p, out=p)
    p *= after[group, stage]
    return p


def alias_tables(share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias tables of each row of ``share`` (rows of probabilities summing to 1), built for all rows at once.

    A draw of row ``c`` takes a uniform ``x`` on ``[0, T)``, its column ``j = floor(x)``, and returns ``j`` when
    ``x - j < prob[c, j]``, else ``alias[c, j]`` (Vose's construction; Devroye 1986, ch. III.4). Rows of zeros
    (never drawn) get the identity table.

    Examples
    --------
    >>> prob, alias = alias_tables(np.array([[0.5, 0.25, 0.25]]))
    >>> chance = [(prob[0] * (np.arange(3) == t) + (1 - prob[0]) * (alias[0] == t)).sum() / 3 for t in range(3)]
    >>> np.round(chance, 12).tolist()
    [0.5, 0.25, 0.25]
    """
    n_c, n_t = share.shape
    total = share.sum(axis=1, keepdims=True)
    scaled = np.where(total > 0, share * n_t / np.where(total > 0, total, 1.0), 1.0)
    prob = np.ones((n_c, n_t))
    alias = np.broadcast_to(np.arange(n_t), (n_c, n_t)).copy()
    for _ in range(n_t - 1):  # each pass settles one small column per row against one large column
        # a settled column's scaled value is set to NaN: then neither small nor large
        small = scaled < 1.0
        large = scaled >= 1.0
        rows = np.flatnonzero(small.any(axis=1) & large.any(axis=1))
        if len(rows) == 0:
            break
        s_col, l_col = small.argmax(axis=1)[rows], large.argmax(axis=1)[rows]
        settled = scaled[rows, s_col]
        prob[rows, s_col] = settled
        alias[rows, s_col] = l_col
        scaled[rows, s_col] = np.nan
        scaled[rows, l_col] -= 1.0 - settled
    return prob, alias  # the columns left over keep probability 1 (rounding)


def simulate_cells(seed: int | np.random.Generator | None, cells: Cells, rate_draws: list[np.ndarray],
                   tables: list[dict[str, np.ndarray]], tau: np.ndarray, amounts: np.ndarray, *,
                   mult: np.ndarray | None = None, chunk: int = CHUNK) -> CellDraws:
    """Wins and revenue per draw, group and period of the open deals summarised in ``cells``.

    Parameters
    ----------
    seed : int or Generator
        Randomness (a Generator is used as it is, so a caller's stream continues).
    cells : Cells
        From :func:`summarise`.
    rate_draws : list of ndarray
        Per group, the stage rates of each draw, shape (draws, stages).
    tables : list of dict
        Per group, the stage table (``mu_a, sd_a, mu_l, sd_l`` per stage).
    tau : ndarray, shape (cells, periods)
        From :func:`timing`.
    amounts : ndarray
        Per deal (the caller's order), the amount a win brings.
    mult : ndarray, shape (cells, stages), optional
        Driver multipliers of the advance probabilities (capped at 1).
    chunk : int
        At most this many (draw, cell) pairs at once, and wins placed one by one in blocks of at most about this
        many.

    Returns
    -------
    CellDraws
    """
    rng = np.random.default_rng(seed)
    n_s = rate_draws[0].shape[0] if rate_draws else 0
    n_g, n_c, n_t = len(rate_draws), len(cells), tau.shape[1]
    counts = np.zeros((n_s, n_g, n_t), dtype=np.int32)
    revenue = np.zeros((n_s, n_g, n_t))
    eventual = np.zeros(n_c)
    if n_c == 0 or n_s == 0:
        return CellDraws(counts, revenue, eventual)
    in_window = tau.sum(axis=1)
    share = np.divide(tau, in_window[:, None], out=np.zeros_like(tau), where=in_window[:, None] > 0)
    alias_prob, alias_to = alias_tables(share)
    alias_prob, alias_to = alias_prob.ravel(), alias_to.ravel()
    ratio = np.empty(n_c)
    of_group = [np.flatnonzero(cells.group_index == g) for g in range(n_g)]
    for g, idx in enumerate(of_group):
        ratio[idx] = survival_ratio(tables[g], cells.stage[idx], cells.age[idx])
    sorted_amounts = np.asarray(amounts, dtype=float)[cells.order]
    cell_amount = sorted_amounts[cells.start]
    equal_amounts = bool((np.maximum.reduceat(sorted_amounts, cells.start) == cell_amount).all() and
                         (np.minimum.reduceat(sorted_amounts, cells.start) == cell_amount).all())
    size = cells.size
    step = max(1, chunk // n_c)
    # without driver multipliers and with one stage count, the groups' rate draws stacked: (groups, draws, stages)
    same_shape = len({r.shape for r in rate_draws}) == 1
    stacked = np.stack(rate_draws) if mult is None and same_shape else None
    prefix: np.ndarray | None = None
    for s0 in range(0, n_s, step):
        s1 = min(n_s, s0 + step)
        ns = s1 - s0
        if stacked is not None:  # every group at once, cell after cell: (cells, draws)
            a_cell = _eventual_cells(stacked[:, s0:s1], cells.group_index, cells.stage, ratio)
        else:
            a_win = np.empty((ns, n_c))
            for g, idx in enumerate(of_group):
                if len(idx):
                    a_win[:, idx] = _eventual(rate_draws[g][s0:s1], cells.stage[idx], ratio[idx],
                                              None if mult is None else mult[idx])
            a_cell = a_win.T
        eventual += a_cell.sum(axis=1)
        # cell after cell: the inverse-CDF look-ups below then read one cell's row at a time
        wins = rng.binomial(size[:, None], np.clip(a_cell * in_window[:, None], 0.0, 1.0)).ravel()
        rows = np.flatnonzero(wins)
        m = wins[rows]
        row_cell, row_draw = np.divmod(rows, ns)
        # where each row's block of won deals starts (not needed when every cell's amounts are equal)
        offset = np.zeros(len(rows), dtype=np.int64) if equal_amounts else rng.integers(0, size[row_cell])
        size_out = ns * n_g * n_t
        few = m <= PER_WIN
        if few.any():  # each win's period from the cell's alias table; its deal is the next in the cell's block
            fm, fc, fd = m[few], row_cell[few], row_draw[few]
            f_off = offset[few]
            row_key = (fd * n_g + cells.group_index[fc]) * n_t  # each row's first (draw, group, period) slot
            row_at = fc * n_t  # and its cell's first entry in the alias tables
            ends = np.cumsum(fm)
            lo = 0
            while lo < len(fm):  # blocks of rows with at most about `chunk` wins (the same random stream)
                hi = max(lo + 1, int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + chunk, side="right")))
                bm = fm[lo:hi]
                win_row = np.repeat(np.arange(lo, hi), bm)  # each win's row (one repeat, then look-ups)
                key = row_key[win_row]
                if n_t > 1:
                    x = rng.random(len(key))
                    x *= n_t
                    column = x.astype(np.int64)
                    np.minimum(column, n_t - 1, out=column)
                    at = row_at[win_row]
                    at += column
                    x -= column  # where x falls inside its column
                    key += np.where(x < alias_prob[at], column, alias_to[at])
                if equal_amounts:
                    amount = cell_amount[fc[win_row]]
                else:
                    cw = fc[win_row]
                    rank = np.arange(len(key)) - np.repeat(np.cumsum(bm) - bm, bm)
                    amount = sorted_amounts[cells.start[cw] + (f_off[win_row] + rank) % size[cw]]
                counts[s0:s1] += np.bincount(key, minlength=size_out).astype(np.int32).reshape(ns, n_g, n_t)
                revenue[s0:s1] += np.bincount(key, weights=amount, minlength=size_out).reshape(ns, n_g, n_t)
                lo = hi
        many = ~few
        if many.any():  # one multinomial per row; revenue from cyclic block sums
            mc = row_cell[many]
            split = rng.multinomial(m[many], share[mc])
            key = ((row_draw[many] * n_g + cells.group_index[mc])[:, None] * n_t + np.arange(n_t)[None, :]).ravel()
            if equal_amounts:
                amount = (split * cell_amount[mc][:, None]).ravel()
            else:
                before = np.cumsum(split, axis=1) - split
                begin = (offset[many][:, None] + before) % size[mc][:, None]
                if prefix is None:  # each cell's amounts twice in a row, so that a cyclic block is one slice
                    cell_of = np.repeat(np.arange(n_c), 2 * size)
                    local = np.arange(len(cell_of)) - np.repeat(2 * cells.start, 2 * size)
                    doubled = sorted_amounts[cells.start[cell_of] + local % size[cell_of]]
                    prefix = np.concatenate([[0.0], np.cumsum(doubled)])
                base = (2 * cells.start[mc])[:, None] + begin
                amount = (prefix[base + split] - prefix[base]).ravel()
            counts[s0:s1] += np.bincount(key, weights=split.ravel(), minlength=size_out).round().astype(
                np.int32).reshape(ns, n_g, n_t)
            revenue[s0:s1] += np.bincount(key, weights=amount, minlength=size_out).reshape(ns, n_g, n_t)
    return CellDraws(counts, revenue, eventual / n_s)
