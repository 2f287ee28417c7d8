"""Stage conversion with open deals right-censored: :func:`estimate` and the :class:`Funnel` result.

Method
    The raw stage events are reduced (engine-agnostic, :func:`salesplan.reduce.stages.reduce_stage_events`) to
    weighted stays per stage: advanced after *d* days, lost after *d* days, or still open *d* days after entering
    (censored at ``as_of``). Per (process, group, stage) the Aalen-Johansen estimator with advance and loss as
    competing outcomes gives the conversion ``rate`` at the horizon (see
    :mod:`salesplan.funnel.aalen_johansen` for the horizon, the delta-method variance, the Wilson interval on an
    effective size and the effective Beta). The win rate from a stage is the product of the stage rates from it on;
    its Beta is moment-matched to that product of independent Betas.

Naive figures shown beside it
    ``closed_only_rate = advanced / (advanced + lost)`` ignores stays still open (biased up when losses take
    longer than advances); ``open_as_lost_rate = advanced / entered`` counts them as lost (biased down).

Path rules
    See :mod:`salesplan.funnel.paths`.

Reference: Aalen, O. O. & Johansen, S. (1978), An empirical transition matrix for non-homogeneous Markov chains
based on censored observations, Scand. J. Statist. 5, 141-150.

Examples
--------
>>> import pandas as pd
>>> import salesplan as sp
>>> from salesplan.funnel import estimate
>>> proc = sp.SalesProcess("p", ["lead", "offer"])
>>> ev = pd.DataFrame({"opportunity_id": list("aabbbccd"),
...                    "stage": ["lead", "lost", "lead", "offer", "won", "lead", "offer", "lead"],
...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-02", "2024-01-05",
...                                                  "2024-01-09", "2024-01-03", "2024-01-04", "2024-01-25"])})
>>> f = estimate(ev, proc, as_of="2024-02-01")
>>> f.rates[["stage", "entered", "advanced", "lost", "open"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'stage': 'lead', 'entered': 4, 'advanced': 2, 'lost': 1, 'open': 1},
 {'stage': 'offer', 'entered': 2, 'advanced': 1, 'lost': 0, 'open': 1}]
>>> round(float(f.rates["rate"].iloc[0]), 3), round(float(f.rates["closed_only_rate"].iloc[0]), 3)
(0.5, 0.667)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result, rounded
from salesplan._validation import check_choice, check_horizon, check_probability
from salesplan._validation import horizon_days as days_of
from salesplan.errors import ConfigError, SalesplanError
from salesplan.funnel.aalen_johansen import (
    AJFit,
    aalen_johansen,
    beta_interval,
    effective_beta,
    effective_n,
    wilson_interval,
)
from salesplan.funnel.win_rate import win_rate_beta
from salesplan.process import SalesProcess
from salesplan.reduce.stages import StageReduction, normalise_processes, reduce_stage_events
from salesplan.reduce.states import distinct

__all__ = ["Funnel", "estimate", "fit_reduction", "stage_table_from_fits"]

#: Default of ``tail=``: how the stage rates treat stays unresolved at the horizon
#: (:func:`salesplan.funnel.aalen_johansen.aalen_johansen`): ``"parametric"`` (a mixture-cure tail,
#: :mod:`salesplan.funnel.tail`) or ``"split"`` (like the resolved ones).
RATE_TAIL = "parametric"

logger = logging.getLogger(__name__)

_OUTCOME_CODE = {"advance": 1, "loss": 2, "open": 0}
_FINAL_CODE = {"won": 1, "lost": 2, "open": 0}
QUARTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True, repr=False)
class Funnel(Result):
    """Measured stage conversion and timing (the result of :func:`estimate`; immutable).

    Attributes
    ----------
    processes : dict of str to SalesProcess
    by : list of str
        Group columns (empty: one group per process).
    as_of : Timestamp
        The data cut.
    confidence : float
        Level of every interval.
    rates : DataFrame
        Per (process, groups, stage): ``stage_idx, stage, next_stage, entered, advanced, lost, open, rate,
        rate_low, rate_high, alpha, beta, closed_only_rate, open_as_lost_rate, n_eff, horizon_days,
        unresolved``.
    win_rate : DataFrame
        Per (process, groups, stage): ``win_rate, win_rate_low, win_rate_high, alpha, beta`` (moment-matched Beta
        of the product of stage rates from that stage on), ``direct_win_rate`` (Aalen-Johansen probability of a
        win from entering the stage), ``closed_only_win_rate`` and ``open_as_lost_win_rate``.
    durations : DataFrame
        Per (process, groups, stage, outcome in {"advance", "loss"}): ``n, median_days, q25_days, q75_days``
        (quantiles of the time to that outcome among stays ending in it, censoring-aware; NaN where not reached;
        entries implied by skipped stages are left out). Where the parametric tail was fitted (stays unresolved
        at the horizon), the time to loss also counts those stays, lost after the horizon by the tail model
        (:meth:`salesplan.funnel.aalen_johansen.AJFit.quantiles_with_tail`): the losses seen before the horizon
        alone would make slow losses look fast.
    time_to_close : DataFrame
        Per (process, groups, stage): days from entering the stage to a win: ``n`` (wins), ``median_days,
        q25_days, q75_days``; curves via :meth:`time_to_win_cdf`.
    activity_ratios : DataFrame or None
        Per (process, stage, kind) when ``activities`` were given; see :func:`salesplan.funnel.activity_ratios`.
    shrinkage : DataFrame or None
        With ``by``: raw and empirical-Bayes shrunk rates side by side, with the prior's parameters.
    parent_rates : DataFrame
        The process-level rates (no groups), the parent of the shrinkage.
    issues : DataFrame
        What the path rules changed or dropped (``rule, rows, action``).
    reduction : StageReduction
        The weighted summaries the estimates were computed from.
    """

    processes: dict[str, SalesProcess]
    by: list[str]
    as_of: pd.Timestamp
    confidence: float
    rates: pd.DataFrame
    win_rate: pd.DataFrame
    durations: pd.DataFrame
    time_to_close: pd.DataFrame
    parent_rates: pd.DataFrame
    issues: pd.DataFrame
    reduction: StageReduction
    activity_ratios: pd.DataFrame | None = None
    shrinkage: pd.DataFrame | None = None
    #: ``stale_after_days`` of :func:`estimate`: stays open this long were counted as lost (the pipeline forecast
    #: leaves such open deals out, by the same rule)
    stale_after_days: float | None = None
    stay_curves: dict[tuple, AJFit] = field(default_factory=dict, repr=False)
    win_curves: dict[tuple, AJFit] = field(default_factory=dict, repr=False)

    def _key(self, process: str, stage: str, group: Any) -> tuple:
        if process not in self.processes:
            raise ConfigError(f"unknown process {process!r}; the funnel covers {list(self.processes)}")
        if stage not in self.processes[process].stages:
            raise ConfigError(f"process {process!r} has no working stage {stage!r}; stages are "
                              f"{list(self.processes[process].stages)}")
        if group is None:
            return (process, (), stage)
        if isinstance(group, Mapping):
            group = tuple(group[c] for c in self.by)
        elif not isinstance(group, tuple):
            group = (group,)
        if len(group) != len(self.by):
            raise ConfigError(f"group must give a value for each of by={self.by}, got {group!r}")
        return (process, tuple(group), stage)

    def time_to_win_cdf(self, process: str, stage: str, days: Any, group: Any = None) -> np.ndarray:
        """P(won within ``days`` days | entered ``stage``), for an array of days (Aalen-Johansen, censoring-aware).

        It rises to the direct win rate of the stage; divide by its last value for the timing among wins.
        ``group`` (a value, tuple or ``{column: value}``) picks a group; default the whole process.

        Examples
        --------
        >>> import salesplan as sp
        >>> from salesplan.datasets import simulate
        >>> data, _ = simulate(n_customers=40, years=1, seed=2)
        >>> f = estimate(data.stage_events, data.processes, data.opportunities)
        >>> cdf = f.time_to_win_cdf("retention", "review_scheduled", [0, 30, 365])
        >>> bool(cdf[0] == 0 and cdf[1] < cdf[2])
        True
        """
        key = self._key(process, stage, group)
        fit = self.win_curves.get(key)
        d = np.atleast_1d(np.asarray(days, dtype=float))
        if fit is None:
            return np.full(d.shape, np.nan)
        return fit.cif(d, 1)

    def stay_curve(self, process: str, stage: str, group: Any = None) -> pd.DataFrame:
        """Aalen-Johansen curves of one stage: ``days, still_in_stage, advanced, lost`` (for time-in-stage plots).

        Examples
        --------
        >>> from salesplan.datasets import simulate
        >>> data, _ = simulate(n_customers=40, years=1, seed=2)
        >>> f = estimate(data.stage_events, data.processes, data.opportunities)
        >>> list(f.stay_curve("retention", "review_held").columns)
        ['days', 'still_in_stage', 'advanced', 'lost']
        """
        fit = self.stay_curves.get(self._key(process, stage, group))
        if fit is None or not len(fit.times):
            return pd.DataFrame({"days": [0.0], "still_in_stage": [1.0], "advanced": [0.0], "lost": [0.0]})
        return pd.DataFrame({"days": np.concatenate([[0.0], fit.times]),
                             "still_in_stage": np.concatenate([[1.0], fit.surv]),
                             "advanced": np.concatenate([[0.0], fit.cif_advance]),
                             "lost": np.concatenate([[0.0], fit.cif_loss])})

    def title(self) -> str:
        """What the funnel is: processes, cut, interval level and groups."""
        by = f", by {', '.join(self.by)}" if self.by else ""
        return (f"Funnel of {', '.join(self.processes)} as of {self.as_of}{by}: stage rates and win rates with "
                f"{self.confidence:.0%} intervals")

    def summary(self) -> pd.DataFrame:
        """The rates table with the naive figures and the win rate side by side (rounded for display)."""
        keys = ["process", *self.by, "stage"]
        cols = [*keys, "entered", "advanced", "lost", "open", "rate", "rate_low", "rate_high", "closed_only_rate",
                "open_as_lost_rate"]
        out = self.rates[cols].merge(self.win_rate[[*keys, "win_rate", "win_rate_low", "win_rate_high"]],
                                     on=keys, how="left")
        return rounded(out)


def estimate(
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess] | None = None,
    opportunities: Any = None,
    by: Sequence[str] | str | None = None,
    as_of: Any = None,
    confidence: float = 0.95,
    *,
    customers: Any = None,
    activities: Any = None,
    horizon: Any = None,
    resolution_hours: float = 1.0,
    stale_after_days: float | None = None,
    tail: str = "parametric",
) -> Funnel:
    """Measure stage conversion, win rates and timing with open deals right-censored.

    Parameters
    ----------
    stage_events : DataFrame-like or SalesData
        ``opportunity_id, stage, entered_at`` in any engine narwhals reads (pandas, Polars, DuckDB, ...). A
        :class:`~salesplan.SalesData` supplies the events, processes, opportunities, customers, activities and
        ``as_of`` at once.
    processes : SalesProcess or mapping of name to SalesProcess
        With a mapping, the process of each opportunity comes from ``opportunities.process``.
    opportunities : DataFrame-like, optional
        Needed with several processes or ``by``; opportunities without events count as open in the first stage.
    by : str or list of str, optional
        Opportunity or customer columns to split on (``"cohort"``: the month of first entry).
    as_of : date-like, optional
        The data cut (default: the latest event). Later events are ignored.
    confidence : float
        Interval level (default 0.95).
    customers : DataFrame-like, optional
        For ``by`` columns on the customer (joined on ``customer_id``).
    activities : DataFrame-like, optional
        ``kind, date, opportunity_id``: adds :attr:`Funnel.activity_ratios`.
    horizon : str, Timedelta or DateOffset, optional
        Horizon of every rate after entering the stage (``"180D"``; an offset such as ``"6MS"`` is measured from
        ``as_of``); default, per stage, the last observed advance or loss.
    resolution_hours : float
        Durations are floored to this many hours before counting patterns.
    stale_after_days : float, optional
        For data without loss records: stays open longer than this count as lost at that day (see
        :func:`~salesplan.reduce.stages.reduce_stage_events`). Without it, such data have no losses and every
        rate is 1 at the horizon.
    tail : {"parametric", "split"}
        How stays still open at the horizon end: as a mixture-cure model of the times to advance and to loss
        predicts (:mod:`salesplan.funnel.tail`; default), or split like the resolved stays (biased upward when
        losses are slower than advances).

    Returns
    -------
    Funnel

    Raises
    ------
    SchemaError
        Bad tables (missing columns, unknown stages, events before creation, unknown opportunities).
    ConfigError
        Bad arguments (confidence outside (0, 1), several processes without opportunities, ...).
    """
    from salesplan.data import SalesData

    if isinstance(stage_events, SalesData):
        data = stage_events
        processes = data.processes if processes is None else processes
        opportunities = data.opportunities if opportunities is None else opportunities
        customers = data.customers if customers is None else customers
        activities = data.activities if activities is None else activities
        as_of = data.as_of if as_of is None else as_of
        stage_events = data.stage_events
        if stage_events is None:
            raise SalesplanError("SalesData has no stage_events table")
        if opportunities is not None and processes is data.processes:
            used = set(distinct(opportunities, "process", "opportunities"))
            processes = {k: v for k, v in data.processes.items() if k in used} or data.processes
    if processes is None:
        raise ConfigError("estimate needs `processes` (a SalesProcess or a mapping of them)")
    check_probability(confidence, "confidence")
    if horizon is not None:
        check_horizon(horizon)
    procs = normalise_processes(processes)
    red = reduce_stage_events(stage_events, procs, opportunities, by=by, customers=customers, as_of=as_of,
                              resolution_hours=resolution_hours, stale_after_days=stale_after_days)
    funnel = fit_reduction(red, procs, confidence=confidence, horizon=horizon, tail=tail)
    if activities is not None:
        from salesplan.funnel.activities import activity_ratios

        ratios = activity_ratios(activities, stage_events, procs, opportunities, as_of=red.as_of,
                                 confidence=confidence)
        funnel = dataclasses.replace(funnel, activity_ratios=ratios)
    return funnel


def _groups(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, pd.DataFrame]:
    if frame.empty:
        return {}
    return {(k if isinstance(k, tuple) else (k,)): g for k, g in frame.groupby(keys, sort=True, dropna=False)}


def stage_table_from_fits(fits: Mapping[tuple, AJFit], procs: Mapping[str, SalesProcess], by: list[str],
                          confidence: float) -> pd.DataFrame:
    """The ``rates`` table from Aalen-Johansen fits keyed by ``(process, group tuple, stage)``."""
    rows = []
    for (pname, group, stage), fit in fits.items():
        proc = procs[pname]
        n_eff = effective_n(fit.rate, fit.var, fallback=fit.n_advance + fit.n_loss, cap=fit.n)
        rows.append({"process": pname, **dict(zip(by, group, strict=True)), "stage_idx": proc.index(stage),
                     "stage": stage, "next_stage": proc.next_stage(stage), "entered": int(fit.n),
                     "advanced": int(fit.n_advance), "lost": int(fit.n_loss), "open": int(fit.n_open),
                     "rate": fit.rate, "n_eff": n_eff, "horizon_days": fit.horizon, "unresolved": fit.unresolved,
                     "var": fit.var})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    lo, hi = wilson_interval(table["rate"].to_numpy(), table["n_eff"].to_numpy(), confidence)
    alpha, beta = effective_beta(table["rate"].to_numpy(), table["n_eff"].to_numpy())
    closed = table["advanced"] + table["lost"]
    table["rate_low"] = np.where(table["rate"].notna(), lo, 0.0)
    table["rate_high"] = np.where(table["rate"].notna(), hi, 1.0)
    table["alpha"], table["beta"] = alpha, beta
    table["closed_only_rate"] = (table["advanced"] / closed.where(closed > 0)).astype(float)
    table["open_as_lost_rate"] = (table["advanced"] / table["entered"].where(table["entered"] > 0)).astype(float)
    cols = ["process", *by, "stage_idx", "stage", "next_stage", "entered", "advanced", "lost", "open", "rate",
            "rate_low", "rate_high", "alpha", "beta", "closed_only_rate", "open_as_lost_rate", "n_eff",
            "horizon_days", "unresolved"]
    return table[cols].sort_values(["process", *by, "stage_idx"], kind="stable").reset_index(drop=True)


def _fit_all(spells: pd.DataFrame, closes: pd.DataFrame, procs: Mapping[str, SalesProcess], by: list[str],
             horizon_days: float | None, tail: str = RATE_TAIL) -> tuple[dict, dict, list, list]:
    keys = ["process", *by]
    sp_groups, cl_groups = _groups(spells, keys), _groups(closes, keys)
    fits, win_fits, dur_rows, ttc_rows = {}, {}, [], []
    for gkey in sorted(set(sp_groups) | set(cl_groups), key=str):
        pname, group = gkey[0], tuple(gkey[1:])
        proc = procs[pname]
        sg = sp_groups.get(gkey, spells.iloc[:0])
        cg = cl_groups.get(gkey, closes.iloc[:0])
        sg_by = dict(tuple(sg.groupby("stage_idx"))) if len(sg) else {}
        cg_by = dict(tuple(cg.groupby("stage_idx"))) if len(cg) else {}
        for k, stage in enumerate(proc.stages):
            s = sg_by.get(k, sg.iloc[:0])
            code = s["outcome"].map(_OUTCOME_CODE).to_numpy()
            fit = aalen_johansen(s["days"].to_numpy(), code, s["weight"].to_numpy(), horizon_days, tail=tail)
            fits[(pname, group, stage)] = fit
            real = ~s["implied"].to_numpy(dtype=bool)
            dfit = aalen_johansen(s["days"].to_numpy()[real], code[real], s["weight"].to_numpy()[real],
                                  horizon_days)
            for outcome, oc in (("advance", 1), ("loss", 2)):
                if oc == 2 and np.isfinite(fit.tail) and np.all(np.isfinite(fit.tail_loss_log)):
                    # stays unresolved at the horizon end in a loss after it (by the tail model), so the time to
                    # loss is not cut short there; what was observed stays as observed
                    q = dfit.quantiles_with_tail(QUARTILES, 1 - fit.tail, *fit.tail_loss_log)
                else:
                    q = dfit.quantiles(QUARTILES, oc)
                n_out = dfit.n_advance if oc == 1 else dfit.n_loss
                dur_rows.append({"process": pname, **dict(zip(by, group, strict=True)), "stage_idx": k,
                                 "stage": stage, "outcome": outcome, "n": int(n_out), "median_days": q[1],
                                 "q25_days": q[0], "q75_days": q[2]})
            c = cg_by.get(k, cg.iloc[:0])
            wfit = aalen_johansen(c["days"].to_numpy(), c["final"].map(_FINAL_CODE).to_numpy(),
                                  c["weight"].to_numpy())
            win_fits[(pname, group, stage)] = wfit
            q = wfit.quantiles(QUARTILES, 1)
            won = float(c.loc[c["final"] == "won", "weight"].sum())
            lost = float(c.loc[c["final"] == "lost", "weight"].sum())
            entered = float(c["weight"].sum())
            direct = float(wfit.cif_advance[-1]) if len(wfit.times) else (0.0 if entered else np.nan)
            ttc_rows.append({"process": pname, **dict(zip(by, group, strict=True)), "stage_idx": k,
                             "stage": stage, "n": int(won), "median_days": q[1], "q25_days": q[0],
                             "q75_days": q[2], "_direct": direct,
                             "_closed_only": won / (won + lost) if won + lost else np.nan,
                             "_open_as_lost": won / entered if entered else np.nan})
    return fits, win_fits, dur_rows, ttc_rows


def _win_table(rates: pd.DataFrame, ttc: pd.DataFrame, by: list[str], confidence: float) -> pd.DataFrame:
    keys = ["process", *by]
    win = win_rate_beta(rates, keys, order=rates["stage_idx"])
    lo, hi = beta_interval(win["alpha"].to_numpy(), win["beta"].to_numpy(), confidence)
    point = win["win_rate"].to_numpy()
    out = rates[[*keys, "stage_idx", "stage"]].copy()
    out["win_rate"] = point
    out["win_rate_low"] = np.where(np.isfinite(point), lo, 0.0)
    out["win_rate_high"] = np.where(np.isfinite(point), hi, 1.0)
    out["alpha"], out["beta"] = win["alpha"].to_numpy(), win["beta"].to_numpy()
    extra = ttc[[*keys, "stage", "_direct", "_closed_only", "_open_as_lost"]].rename(
        columns={"_direct": "direct_win_rate", "_closed_only": "closed_only_win_rate",
                 "_open_as_lost": "open_as_lost_win_rate"})
    out = out.merge(extra, on=[*keys, "stage"], how="left")
    return out.sort_values([*keys, "stage_idx"], kind="stable").reset_index(drop=True)


def fit_reduction(red: StageReduction, processes: Mapping[str, SalesProcess], confidence: float = 0.95,
                  horizon: Any = None, tail: str = RATE_TAIL) -> Funnel:
    """Fit the funnel models on a :class:`~salesplan.reduce.stages.StageReduction` (no raw rows needed).

    This is the model half of :func:`estimate`; use it when the reduction ran elsewhere (a warehouse, Spark).
    ``confidence``, ``horizon`` and ``tail`` are as in :func:`estimate`.

    Examples
    --------
    >>> import pandas as pd
    >>> import salesplan as sp
    >>> from salesplan.reduce.stages import reduce_stage_events
    >>> proc = sp.SalesProcess("p", ["lead"])
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "a", "b"], "stage": ["lead", "won", "lead"],
    ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02"])})
    >>> f = fit_reduction(reduce_stage_events(ev, proc), {"p": proc})
    >>> f.rates[["entered", "advanced", "open", "rate"]].to_dict("records")
    [{'entered': 2, 'advanced': 1, 'open': 1, 'rate': 1.0}]
    """
    check_probability(confidence, "confidence")
    procs = dict(processes)
    by = list(red.by)
    horizon_days = None if horizon is None else days_of(red.as_of, horizon)
    check_choice(tail, "tail", ("parametric", "split"))
    fits, win_fits, dur_rows, ttc_rows = _fit_all(red.spells, red.closes, procs, by, horizon_days, tail)
    rates = stage_table_from_fits(fits, procs, by, confidence)
    no_info = rates["entered"].gt(0) & (rates["advanced"] + rates["lost"]).eq(0)
    if no_info.any():
        logger.warning("funnel: %d (group, stage) row(s) have entries but no advance or loss yet (all open): "
                       "rate is NaN with the interval [0, 1]", int(no_info.sum()))
    ttc = pd.DataFrame(ttc_rows)
    win = _win_table(rates, ttc, by, confidence)
    durations = pd.DataFrame(dur_rows)
    time_to_close = ttc.drop(columns=["_direct", "_closed_only", "_open_as_lost"])
    if by:
        pooled_sp = red.spells.groupby(["process", "stage_idx", "stage", "outcome", "days", "implied"],
                                       as_index=False)["weight"].sum()
        pooled_cl = red.closes.groupby(["process", "stage_idx", "stage", "final", "days"],
                                       as_index=False)["weight"].sum()
        pfits, pwin, _, _ = _fit_all(pooled_sp, pooled_cl, procs, [], horizon_days)
        parent = stage_table_from_fits(pfits, procs, [], confidence)
        win_fits = {**win_fits, **pwin}
        fits = {**fits, **pfits}
    else:
        parent = rates
    shrinkage = None
    if by:
        from salesplan.funnel.shrinkage import shrink_rates

        shrinkage = shrink_rates(rates, parent, by=by, confidence=confidence)
    return Funnel(processes=procs, by=by, as_of=red.as_of, confidence=confidence, rates=rates, win_rate=win,
                  durations=durations, time_to_close=time_to_close, parent_rates=parent, issues=red.issues,
                  reduction=red, shrinkage=shrinkage, stale_after_days=getattr(red, "stale_after_days", None),
                  stay_curves=fits, win_curves=win_fits)
