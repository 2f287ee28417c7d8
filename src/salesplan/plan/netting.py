"""Net a plan against the open pipeline: the new entries still needed once the open deals have done their part.

Method
    For a target of ``x`` contracts in period ``T`` and a stage ``k``, let ``W`` be the contracts the deals open at
    the cut win inside ``T`` and ``q`` the probability that a new entry into ``k`` is won (the product of the
    stage rates from ``k`` on). The pipeline forecast (:func:`salesplan.forecast.pipeline`) simulates ``W`` in
    ``S`` Monte Carlo draws, each with its own draw ``r_s`` of the stage rates; the same draw gives
    ``q_s = prod_{j >= k} r_{s, j}``. The new entries needed are the smallest ``n`` with

    .. math:: \\frac{1}{S} \\sum_s P\\big(W_s + \\text{Binomial}(n, q_s) \\ge x\\big) \\ge \\text{target probability}

    so that open deals and new entries share one draw of the rates per simulation: when the rates are lower than
    estimated, both the pipeline and the new entries bring less, and the plan carries that correlation (treating
    the two parts as independent would understate the risk). ``P(Binomial(n, q) >= m)`` is the regularised
    incomplete beta ``I_q(m, n - m + 1)``; the smallest ``n`` is found by bisection on every row at once.

    The netted entries are never more than the gross plan's (the open deals only add wins; a simulated answer
    above the exact gross one is Monte Carlo error). Expected entries are ``max(x - E[W], 0) / E[q]``. A row whose open deals win nothing in every draw (no open
    pipeline) keeps the gross plan's figures exactly (the beta-negative-binomial of
    :mod:`salesplan.plan.volumes`), which is the same question without a pipeline, answered in closed form.

Assumptions
    The wins of new entries land in the target period (the plan's flow convention, as in
    :mod:`salesplan.plan.schedule`); the forecast was made from the same funnel and at the cut the plan is made
    from; contracts already won in a period that has begun are not counted (plan periods after the cut).

Reference
    Kalbfleisch & Prentice (2002), *The Statistical Analysis of Failure Time Data*, 2nd ed., ch. 8 (competing
    risks behind the pipeline forecast); Johnson, Kemp & Kotz (2005), *Univariate Discrete Distributions*, 3rd
    ed., section 3.7 (binomial tail as an incomplete beta function).

Examples
--------
Three open deals that are won for sure cover three of ten contracts; a win rate of 0.5 known exactly:

>>> import numpy as np
>>> n, p = net_entries(np.array([10]), np.full((1, 500), 3), np.full((1, 500), 0.5), 0.8)
>>> int(n[0]), bool(p[0] >= 0.8)
(17, True)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from salesplan.errors import PlanInputError
from salesplan.plan._inputs import ALL, FunnelView

__all__ = ["net_entries", "net_volumes", "NET_COLUMNS"]

logger = logging.getLogger(__name__)

#: Columns a netted plan adds to ``Plan.volumes``.
NET_COLUMNS = ["open_contracts", "new_contracts", "open_contracts_probability", "gross_expected_entries",
               "gross_required_entries"]


class _Reach:
    """``mean_s P(wins_s + Binomial(n, q_s) >= x)`` per row, for any ``n``, from the (row, draw) pairs that need it.

    The pairs whose open wins reach the target alone (tail 1) are counted once; only the others are kept (flat),
    and each evaluation computes the binomial tail on them alone.
    """

    def __init__(self, x: np.ndarray, wins: np.ndarray, q: np.ndarray) -> None:
        pos = wins < x[:, None]  # wins still needed from the new entries in the draw (x - wins > 0)
        self.n_draws = max(wins.shape[1], 1)
        per_row = pos.sum(axis=1)
        self.reached = (wins.shape[1] - per_row).astype(float)  # reached by the open deals alone
        self.row, col = np.nonzero(pos)  # row by row, so each row's pairs are one slice
        self.need = x[self.row] - wins[self.row, col]
        self.q = np.clip(q[self.row, col], 1e-12, 1.0)
        self.n_rows = len(x)
        self.first = np.concatenate([[0], np.cumsum(per_row)])

    def __call__(self, n: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Per row (all rows, or the True ones of ``rows``; the others are NaN) at ``n`` entries (one per row)."""
        if rows is None or rows.all():
            row, need, q = self.row, self.need, self.q
        else:  # the pairs of the chosen rows: one slice per row, gathered once
            chosen = np.flatnonzero(rows)
            size = self.first[chosen + 1] - self.first[chosen]
            at = np.repeat(self.first[chosen] - np.cumsum(size) + size, size) + np.arange(int(size.sum()))
            row, need, q = self.row[at], self.need[at], self.q[at]
        nn = np.asarray(n, dtype=float)[row]
        # fewer entries than wins needed: tail 0 (not evaluated; a zero adds nothing to its row's sum)
        tail = np.zeros(len(row))
        special.betainc(need, nn - need + 1.0, q, out=tail, where=nn >= need)
        total = self.reached + np.bincount(row, weights=tail, minlength=self.n_rows)
        out = total / self.n_draws
        return out if rows is None else np.where(rows, out, np.nan)


def net_entries(contracts: np.ndarray, open_wins: np.ndarray, win_rate: np.ndarray,
                target_probability: float, upper: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smallest new entries per row with ``mean_s P(open_wins_s + Bin(n, win_rate_s) >= contracts) >= p``.

    Parameters
    ----------
    contracts : array (rows,)
        Target contracts per row.
    open_wins : array (rows, draws)
        Contracts the open deals win in the period, per Monte Carlo draw.
    win_rate : array (rows, draws)
        Win rate of a new entry in the same draw (the shared rate draw).
    target_probability : float
        Chance of reaching the target, in (0, 1).
    upper : array (rows,), optional
        A known upper bound of the answer (the gross plan's entries): the search stops there.

    Returns
    -------
    tuple of arrays
        Entries needed (int64) and the probability they give.

    Examples
    --------
    >>> n, p = net_entries(np.array([2]), np.zeros((1, 100)), np.full((1, 100), 1.0), 0.9)
    >>> int(n[0]), float(p[0])
    (2, 1.0)
    """
    x = np.asarray(contracts, dtype=float)
    w = np.asarray(open_wins, dtype=float)
    q = np.asarray(win_rate, dtype=float)  # clipped to [1e-12, 1] where read
    lo = np.zeros(len(x), dtype=np.int64)
    reach = _Reach(x, w, q)
    p_lo = reach(lo)
    done = p_lo >= target_probability
    if upper is not None:
        hi = np.maximum(np.asarray(upper, dtype=np.int64), 1)
        # tighten the bracket around the gross answer scaled by the share of the target left to new entries:
        # a guess, then a step of 3% to the side the guess points to
        share = np.clip(1.0 - w.mean(axis=1) / np.maximum(x, 1.0), 0.0, 1.0)
        guess = np.clip(np.ceil(hi * share), 0, hi).astype(np.int64)
        p_hi = np.full(len(x), np.nan)  # known where hi moved to an evaluated point
        p_guess = reach(guess, ~done)
        ok = ~done & (p_guess >= target_probability)
        hi = np.where(ok, guess, hi)
        p_hi = np.where(ok, p_guess, p_hi)
        lo = np.where(~done & ~ok, np.maximum(guess, lo), lo)
        # then steps away from the guess, to the side it points to (1 at first, doubling), until a point on the
        # other side of the answer brackets it (the answer is the guess or next to it in most rows: 84% of the
        # benchmark's)
        step = np.ones(len(x), dtype=np.int64)
        down, up = ok.copy(), ~done & ~ok
        while True:
            probe = np.where(down, hi - step, lo + step)
            go = (down & (probe > lo)) | (up & (probe < hi))
            if not go.any():
                break
            p_probe = reach(probe, go)
            ok2 = go & (p_probe >= target_probability)
            hi = np.where(ok2, probe, hi)
            p_hi = np.where(ok2, p_probe, p_hi)
            lo = np.where(go & ~ok2, probe, lo)
            down, up = down & ok2, up & go & ~ok2
            step = step * 2
        unknown = ~done & np.isnan(p_hi)
        if unknown.any():
            p_hi = np.where(unknown, reach(hi, unknown), p_hi)
        p_hi = np.where(done, p_lo, p_hi)
    else:  # double from the mean need until the target probability is reached
        q_mean = np.clip(q, 1e-12, 1.0).mean(axis=1)
        hi = np.maximum(np.ceil(np.maximum(x - w.mean(axis=1), 1.0) / q_mean), 1).astype(np.int64)
        p_hi = np.where(done, p_lo, reach(hi, ~done))
    for _ in range(40):
        short = ~done & (p_hi < target_probability)
        if not short.any() or upper is not None:
            break
        hi = np.where(short, hi * 2, hi)
        if hi.max() > 50_000_000:
            row = int(np.flatnonzero(short)[0])
            raise PlanInputError(f"netting row {row}: more than 50,000,000 new entries needed; the target cannot be "
                                 "reached at this probability")
        p_hi = np.where(short, reach(hi, short), p_hi)
    if upper is None:
        lo = np.where(done, 0, np.maximum(hi // 2 - 1, 0))
        lo = np.where(~done & (reach(lo) >= target_probability), 0, lo)
    # invariant: reach(lo) < p <= reach(hi) on rows still open (with an upper bound: hi is the answer if short)
    while True:
        open_ = ~done & (hi - lo > 1) & (p_hi >= target_probability)
        if not open_.any():
            break
        mid = (lo + hi) // 2
        p_mid = reach(mid, open_)
        up = open_ & (p_mid >= target_probability)
        hi = np.where(up, mid, hi)
        p_hi = np.where(up, p_mid, p_hi)
        lo = np.where(open_ & ~up, mid, lo)
    n = np.where(done, 0, hi)
    prob = np.where(done, p_lo, p_hi)
    return n.astype(np.int64), prob


def _period_columns(forecast: Any, period: str, spans: list[tuple[str, pd.Timestamp, pd.Timestamp]] | None = None
                    ) -> list[int]:
    """Indices of the forecast's periods that fall inside the target period (which must be covered whole).

    ``spans``: the forecast's periods as ``(label, start, end)`` (computed here when not given).
    """
    if spans is None:
        spans = [(str(label), pd.Period(str(label)).start_time, pd.Period(str(label)).end_time)
                 for label in forecast.periods]
    target = pd.Period(str(period))
    starts, ends = target.start_time, target.end_time
    if forecast.end < ends.normalize():
        raise PlanInputError(
            f"netting: the pipeline forecast ends {forecast.end.date()}, before the end of target period "
            f"{period!r} ({ends.date()}); forecast with a horizon that covers the plan's periods")
    if forecast.as_of > starts:
        logger.warning("netting: target period %s began before the cut %s; contracts already won in it are not "
                       "counted", period, forecast.as_of.date())
    cols = []
    for i, (label, p_start, p_end) in enumerate(spans):
        if p_start >= starts and p_end <= ends:
            cols.append(i)
        elif p_start <= ends and p_end >= starts:
            raise PlanInputError(f"netting: forecast period {label!r} straddles target period {period!r}; "
                                 "forecast with freq='M' (or the targets' own period length)")
    return cols


def net_volumes(volumes: pd.DataFrame, view: FunnelView, forecast: Any, target_probability: float) -> pd.DataFrame:
    """The plan's stage volumes net of the open pipeline (see the module docstring).

    Rows of target periods that end before the forecast's cut are left out (logged): nothing can be done for them
    any more. Adds ``open_contracts`` (expected wins of the open deals in the period), ``new_contracts`` (the rest
    of the target, expected from new entries),
    ``open_contracts_probability`` (the chance the open deals alone reach the target) and the gross plan's
    ``gross_expected_entries`` / ``gross_required_entries``.
    """
    for attr in ("rate_draws", "group_draws", "periods", "as_of", "end"):
        if not hasattr(forecast, attr):
            raise PlanInputError("net_of: give a salesplan.forecast.PipelineForecast (from salesplan.forecast.pipeline)")
    cut = pd.Timestamp(forecast.as_of)
    period_end = {p: pd.Period(str(p)).end_time for p in volumes["period"].unique()}
    ends = volumes["period"].map(period_end)
    past = ends < cut
    if past.any():
        logger.warning("net_of: %d plan row(s) of periods ended before the cut %s are left out",
                       int(past.sum()), cut.date())
    vol = volumes[~past].reset_index(drop=True).copy()
    if vol.empty:
        raise PlanInputError(f"net_of: every target period ends before the forecast's cut {cut.date()}")
    n_draws = next(iter(forecast.draws.values())).shape[0] if forecast.draws else 0
    by_keys = {len(k) for k in forecast.rate_draws}
    wins = np.zeros((len(vol), max(n_draws, 1)))
    q = np.empty((len(vol), max(n_draws, 1)))  # read only on the rows with draws (set below)
    has_draws = np.zeros(len(vol), dtype=bool)
    spans = [(str(label), pd.Period(str(label)).start_time, pd.Period(str(label)).end_time)
             for label in forecast.periods]
    period_cols = {p: _period_columns(forecast, p, spans) for p in vol["period"].unique()}
    # forecast keys are (process, *group values); the plan's segment is the values joined with " | "
    labels = {(k[0], " | ".join(str(v) for v in k[1:])) if len(k) > 1 else (k[0], ALL): k for k in forecast.rate_draws}
    rows_of: dict[tuple, list[int]] = {}
    columns = [vol[c].to_numpy(dtype=object) for c in ("process", "segment")]
    for i, (process, segment) in enumerate(zip(*columns, strict=True)):
        rows_of.setdefault((process, segment), []).append(i)
    row_period, row_stage = vol["period"].to_numpy(dtype=object), vol["stage"].to_numpy(dtype=object)
    for (process, segment), rows in rows_of.items():
        key: tuple = labels.get((process, segment), (process, segment))
        if key not in forecast.rate_draws and segment == ALL and by_keys - {1}:
            raise PlanInputError(f"net_of: the forecast is split by groups but target row (process={process!r}, "
                                 "segment='all') is not; net segment targets against a forecast grouped by segment")
        draws = forecast.group_draws.get(key)
        if draws is None:
            continue
        stages = list(view.processes[process].stages)
        rates = forecast.rate_draws[key]
        from_stage = np.cumprod(rates[:, ::-1], axis=1)[:, ::-1]  # win rate of an entry into each stage, per draw
        rows_a = np.asarray(rows, dtype=np.int64)
        # the rows of every period with forecast draws, at once: each row reads its period's total wins
        here = row_period[rows_a]
        covered = [p for p in dict.fromkeys(here) if period_cols[p]]
        if not covered:
            continue
        code = {p: i for i, p in enumerate(covered)}
        per_row = np.array([code.get(p, -1) for p in here], dtype=np.int64)
        at = rows_a[per_row >= 0]
        wins[at] = np.stack([draws[:, period_cols[p]].sum(axis=1) for p in covered])[per_row[per_row >= 0]]
        q[at] = from_stage[:, [stages.index(stage) for stage in row_stage[at]]].T
        has_draws[at] = True
    with_pipeline = has_draws & (wins.max(axis=1) > 0)
    x = vol["contracts"].to_numpy(float)
    vol["gross_expected_entries"] = vol["expected_entries"]
    vol["gross_required_entries"] = vol["required_entries"]
    vol["open_contracts"] = np.where(has_draws, wins.mean(axis=1), 0.0)
    vol["new_contracts"] = np.maximum(x - vol["open_contracts"].to_numpy(float), 0.0)
    vol["open_contracts_probability"] = np.where(has_draws, (wins >= x[:, None]).mean(axis=1), (x <= 0) * 1.0)
    if with_pipeline.any():
        idx = np.flatnonzero(with_pipeline)
        every = len(idx) == len(vol)  # then the draws are read as they are (no copies of the large arrays)
        n, prob = net_entries(x[idx], wins if every else wins[idx], q if every else q[idx], target_probability,
                              upper=vol.loc[idx, "gross_required_entries"].to_numpy(np.int64))
        need = np.maximum(x[idx] - (vol["open_contracts"].to_numpy(float) if every else wins[idx].mean(axis=1)),
                          0.0)
        vol.loc[idx, "expected_entries"] = need / vol.loc[idx, "win_rate"].to_numpy(float)
        gross = vol.loc[idx, "gross_required_entries"].to_numpy(np.int64)
        # the pipeline only adds wins: a simulated answer above the exact gross one is Monte Carlo error
        vol.loc[idx, "required_entries"] = np.minimum(n, gross)
        vol.loc[idx, "probability"] = np.where(n <= gross, prob, vol.loc[idx, "probability"].to_numpy(float))
        vol.loc[idx, "method"] = "netted_monte_carlo"
    vol["required_entries"] = vol["required_entries"].astype(np.int64)
    logger.info("net_of: %d of %d plan row(s) netted against %d open deal(s)", int(with_pipeline.sum()), len(vol),
                len(getattr(forecast, "deals", [])))
    return vol
