"""Why contracts differ from plan: a volume, a conversion and a timing effect that add up to the gap.

For one process and period let ``E_p`` be the planned new opportunities (entries into the first stage),
``C_p`` the planned contracts and ``c_p = C_p / E_p`` the planned conversion. Actually ``E_a`` opportunities
were created in the period, ``W_a`` of them are won by the data cut (cohort wins) and ``C_a`` contracts were
closed in the period (by close date, whatever their creation date). Then

* volume effect     ``(E_a - E_p) * c_p``       more or fewer opportunities than planned, at plan conversion;
* conversion effect ``W_a - E_a * c_p``         the period's cohort converted better or worse than planned;
* timing effect     ``C_a - W_a``               contracts closed in the period that came from other periods'
  cohorts, minus this cohort's wins that close later (or not yet: for recent periods the cohort is immature,
  which shows as a negative conversion and a positive timing effect),

and ``volume + conversion + timing = C_a - C_p`` identically (exact algebra; in floating point to rounding).

The conversion effect splits over the stages by sequential substitution of the stage rates (first stage first):
stage ``k`` contributes ``E_a * (prod_{j<=k} a_j prod_{j>k} r_j - prod_{j<k} a_j prod_{j>=k} r_j)`` with cohort
rates ``a_j`` (share of the cohort reaching stage ``j+1`` among those reaching ``j``) and plan rates ``r_j``
(rescaled geometrically so that their product is ``c_p``); the stage parts telescope to the conversion effect.
A period whose cohort is too young to have closed (``mature`` False: the cut is less than the process's median
days from creation to win past the period's end, :func:`salesplan.control.attainment.cohort_mature`) is flagged:
its conversion and timing effects are not yet separable (``cohort_open`` of its deals are still open), so read
only ``volume_effect`` and ``gap - volume_effect`` for it.

This is the chain-substitution method of variance analysis in management accounting (e.g. Horngren, Datar &
Rajan, *Cost Accounting*, ch. 7 and 14, sales-volume and sales-mix variances).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"process": ["acq"], "period": ["2025-Q1"], "planned_entries": [100.0],
...                   "planned_contracts": [20.0], "actual_entries": [80], "cohort_wins": [12],
...                   "actual_contracts": [15]})
>>> d = decompose_gap(t)
>>> d[["gap", "volume_effect", "conversion_effect", "timing_effect"]].iloc[0].tolist()
[-5.0, -4.0, -4.0, 3.0]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result
from salesplan.control.actuals import flows, period_freq, period_labels
from salesplan.control.attainment import cohort_mature, median_cycle_days
from salesplan.errors import PlanInputError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.reduce.states import StageFlows, time_span

__all__ = ["decompose_gap", "variance", "VarianceResult", "plan_volumes_frame"]

logger = logging.getLogger(__name__)

_GAP_COLUMNS = ["planned_entries", "planned_contracts", "actual_entries", "cohort_wins", "actual_contracts"]


def decompose_gap(table: pd.DataFrame, keys: tuple[str, ...] = ("process", "period")) -> pd.DataFrame:
    """Split each row's contract gap into volume, conversion and timing effects (see the module docstring).

    Parameters
    ----------
    table : DataFrame
        ``keys`` plus ``planned_entries``, ``planned_contracts``, ``actual_entries``, ``cohort_wins``,
        ``actual_contracts``.
    keys : tuple of str
        Identifying columns, copied to the output.

    Returns
    -------
    DataFrame
        The keys, the inputs, ``planned_conversion``, ``actual_conversion`` (``W_a / E_a``), ``gap`` and the three
        effects. A new frame; ``table`` is not changed.

    Raises
    ------
    PlanInputError
        Missing columns, negative or non-finite values, cohort wins above entries, or planned contracts with no
        planned entries (the conversion would be undefined).
    """
    missing = [c for c in (*keys, *_GAP_COLUMNS) if c not in table.columns]
    if missing:
        raise PlanInputError(f"decompose_gap: missing column(s) {missing}; have {list(table.columns)}")
    out = table[[*keys, *_GAP_COLUMNS]].copy()
    vals = out[_GAP_COLUMNS].astype(float)
    bad = ~np.isfinite(vals).all(axis=1) | (vals < 0).any(axis=1)
    if bad.any():
        raise PlanInputError(f"decompose_gap: negative or missing values in rows {out.loc[bad, list(keys)].to_dict('records')[:5]}")
    undefined = (vals["planned_entries"] <= 0) & (vals["planned_contracts"] > 0)
    if undefined.any():
        raise PlanInputError("decompose_gap: planned contracts without planned entries (conversion undefined) in "
                             f"rows {out.loc[undefined, list(keys)].to_dict('records')[:5]}")
    over = vals["cohort_wins"] > vals["actual_entries"]
    if over.any():
        raise PlanInputError("decompose_gap: cohort_wins exceed actual_entries in rows "
                             f"{out.loc[over, list(keys)].to_dict('records')[:5]}")
    e_p, c_p_total = vals["planned_entries"].to_numpy(), vals["planned_contracts"].to_numpy()
    e_a, w_a, c_a = (vals[c].to_numpy() for c in ("actual_entries", "cohort_wins", "actual_contracts"))
    with np.errstate(invalid="ignore", divide="ignore"):
        conv_p = np.where(e_p > 0, c_p_total / np.where(e_p > 0, e_p, 1), 0.0)
        conv_a = np.where(e_a > 0, w_a / np.where(e_a > 0, e_a, 1), np.nan)
    expected_at_plan = e_a * conv_p
    out["planned_conversion"] = conv_p
    out["actual_conversion"] = conv_a
    out["gap"] = c_a - c_p_total
    out["volume_effect"] = expected_at_plan - c_p_total
    out["conversion_effect"] = w_a - expected_at_plan
    out["timing_effect"] = c_a - w_a
    return out


def plan_volumes_frame(plan: Any) -> pd.DataFrame:
    """The plan's per-stage volumes as a DataFrame (from a ``Plan`` or a DataFrame), segments summed.

    Needs ``process``, ``period``, ``stage`` and ``contracts``, ``expected_entries`` (and ``rate`` for the stage
    split). Periods are normalised to ``2025-Q1`` / ``2025-03`` / ``2025`` labels.
    """
    vol = getattr(plan, "volumes", plan)
    if not isinstance(vol, pd.DataFrame):
        raise PlanInputError(f"expected a salesplan Plan or its volumes DataFrame, got {type(plan).__name__}")
    need = ["process", "period", "stage", "contracts", "expected_entries"]
    missing = [c for c in need if c not in vol.columns]
    if missing:
        raise PlanInputError(f"plan volumes: missing column(s) {missing}; have {list(vol.columns)}")
    if vol.empty:
        raise PlanInputError("plan volumes: the plan has no rows")
    v = vol.copy()
    v["period"] = period_labels(v["period"])
    if v["period"].isna().any():
        raise PlanInputError(f"plan volumes: unreadable period(s) {list(vol.loc[v['period'].isna(), 'period'])[:5]}")
    agg = {"contracts": ("contracts", "sum"), "expected_entries": ("expected_entries", "sum")}
    if "rate" in v.columns:
        # segment-weighted plan rate: advances planned / entries planned
        v["_adv"] = v["expected_entries"] * v["rate"]
        agg["_adv"] = ("_adv", "sum")
    g = v.groupby(["process", "period", "stage"], sort=False).agg(**agg).reset_index()
    if "_adv" in g:
        g["rate"] = g["_adv"] / g["expected_entries"].where(g["expected_entries"] > 0)
        g = g.drop(columns="_adv")
    return g


@dataclass(frozen=True, repr=False)
class VarianceResult(Result):
    """Result of :func:`variance`.

    Attributes
    ----------
    table : DataFrame
        Per (process, period): plan and actual, ``gap`` and ``volume_effect``, ``conversion_effect``,
        ``timing_effect`` (their sum equals ``gap``), ``cohort_open`` (the period's cohort deals still open at the
        cut) and ``mature`` (False: the cohort is too young to have closed; conversion and timing not separable).
    by_stage : DataFrame
        Per (process, period, stage): ``planned_rate`` (rescaled), ``actual_rate`` (cohort), ``reached`` and
        the stage's share ``conversion_effect`` of the conversion effect.
    """

    table: pd.DataFrame
    by_stage: pd.DataFrame

    def title(self) -> str:
        """What the table decomposes."""
        return "Contract gap: volume, conversion and timing effects per process"

    def summary(self) -> pd.DataFrame:
        """Effects per process summed over the periods."""
        cols = ["planned_contracts", "actual_contracts", "gap", "volume_effect", "conversion_effect", "timing_effect"]
        return self.table.groupby("process")[cols].sum()


def variance(plan: Any, data: Any, *, periods: Any = None, as_of: Any = None,
             stage_flows: StageFlows | None = None) -> VarianceResult:
    """Decompose the contract gap of every (process, period) of a plan against the actuals in ``data``.

    Parameters
    ----------
    plan : Plan or DataFrame
        A :class:`salesplan.plan.Plan` (its ``volumes``) or a frame with ``process, period, stage, contracts,
        expected_entries`` (and ``rate``); planned entries are ``expected_entries`` of each process's first stage.
    data : SalesData
        Needs ``opportunities`` and ``stage_events``.
    periods : list, optional
        Periods to compare (default: the plan's periods that have started by the data cut).
    as_of : date-like, optional
        Data cut (default ``data.as_of``).
    stage_flows : StageFlows, optional
        The stage flows of ``data`` at the plan's period length and this cut when already reduced
        (:func:`salesplan.control.actuals.flows`); reduced here otherwise.

    Raises
    ------
    PlanInputError
        Plan processes unknown to the data, requested periods not in the plan, or no period in common.
    SchemaError
        A compared period has no opportunities or stage events at all (an empty period: the data do not
        cover it).

    Examples
    --------
    >>> import pandas as pd
    >>> from salesplan.datasets import load_example
    >>> data = load_example()
    >>> plan = pd.DataFrame({"process": "retention", "period": ["2025-Q1", "2025-Q2"],
    ...                      "stage": "review_scheduled", "contracts": 20.0, "expected_entries": 40.0})
    >>> t = variance(plan, data).table.set_index("period")
    >>> cols = ["actual_entries", "cohort_wins", "actual_contracts", "volume_effect", "conversion_effect",
    ...         "timing_effect", "gap"]
    >>> t.loc["2025-Q1", cols].tolist()
    [30.0, 18.0, 20.0, -5.0, 3.0, 2.0, 0.0]

    In the first quarter 30 reviews were scheduled (plan 40), 18 of them renewed and 20 renewals closed: volume
    ``(30 - 40) * 0.5 = -5``, conversion ``18 - 30 * 0.5 = +3``, timing ``20 - 18 = +2``, together the gap
    ``20 - 20 = 0``. The 30 are the quarter's retention opportunities in the raw table:

    >>> o = data.opportunities
    >>> q1 = (o["created_at"] >= "2025-01-01") & (o["created_at"] < "2025-04-01")
    >>> int((q1 & (o["process"] == "retention")).sum())
    30
    """
    cut = to_naive_utc(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    pv = plan_volumes_frame(plan)
    freq = period_freq(pv["period"].unique())
    fl = flows(data, freq, cut, given=stage_flows)
    selected = _select_periods(pv, data, periods, cut, freq, fl)
    pv = pv[pv["period"].isin(selected)]
    cohorts = fl.cohorts
    won_closes = fl.closes[fl.closes["status"] == "won"]
    wins = won_closes.groupby(["process", "period"])["deals"].sum()
    median_cycle = median_cycle_days(won_closes)
    maturity = []
    rows, stage_rows = [], []
    for (proc_name, period), grp in pv.groupby(["process", "period"], sort=True):
        proc = data.processes[proc_name]
        first = grp[grp["stage"] == proc.stages[0]]
        if first.empty:
            raise PlanInputError(f"plan volumes: process {proc_name!r} period {period}: no row for the first stage "
                                 f"{proc.stages[0]!r}, so planned entries are unknown")
        e_p = float(first["expected_entries"].iloc[0])
        c_p = float(grp["contracts"].max())
        cohort = cohorts[(cohorts["process"] == proc_name) & (cohorts["period"] == period)]
        e_a = int(cohort["deals"].sum())
        w_a = int(cohort.loc[cohort["status"] == "won", "deals"].sum())
        c_a = int(wins.get((proc_name, period), 0))
        rows.append({"process": proc_name, "period": period, "planned_entries": e_p, "planned_contracts": c_p,
                     "actual_entries": e_a, "cohort_wins": w_a, "actual_contracts": c_a})
        maturity.append((int(cohort.loc[cohort["status"] == "open", "deals"].sum()),
                         cohort_mature(pd.Period(period, freq=freq), cut, median_cycle.get(proc_name, np.nan))))
        # stage split of the conversion effect
        k_stages = len(proc.stages)
        reach = cohort["reach"].to_numpy()
        n_deals = cohort["deals"].to_numpy()
        reached = np.array([n_deals[reach >= k].sum() for k in range(k_stages + 1)], dtype=float)
        rates_plan = grp.set_index("stage")["rate"].reindex(list(proc.stages)) if "rate" in grp else None
        rp = _plan_rates(rates_plan, c_p / e_p if e_p > 0 else 0.0, k_stages)
        ra = np.empty(k_stages)
        for k in range(k_stages):
            ra[k] = reached[k + 1] / reached[k] if reached[k] > 0 else rp[k]
        for k, stage in enumerate(proc.stages):
            after = np.prod(ra[:k + 1]) * np.prod(rp[k + 1:])
            before = np.prod(ra[:k]) * np.prod(rp[k:])
            stage_rows.append({"process": proc_name, "period": period, "stage": stage, "reached": int(reached[k]),
                               "planned_rate": rp[k], "actual_rate": ra[k] if reached[k] > 0 else np.nan,
                               "conversion_effect": e_a * (after - before)})
    table = decompose_gap(pd.DataFrame(rows))
    table["cohort_open"] = [m[0] for m in maturity]
    table["mature"] = [m[1] for m in maturity]
    return VarianceResult(table=table, by_stage=pd.DataFrame(stage_rows))


def _plan_rates(rates: pd.Series | None, conversion: float, k: int) -> np.ndarray:
    """Plan stage rates rescaled geometrically so that their product equals the plan conversion."""
    if rates is None or rates.isna().any() or (rates <= 0).any() or conversion <= 0:
        return np.full(k, conversion ** (1 / k)) if conversion > 0 else np.zeros(k)
    r = rates.to_numpy(dtype=float)
    scale = (conversion / np.prod(r)) ** (1 / k)
    return r * scale


def _select_periods(pv: pd.DataFrame, data: Any, periods: Any, cut: pd.Timestamp, freq: str,
                    fl: StageFlows) -> list[str]:
    unknown_proc = sorted(set(pv["process"]) - set(data.processes))
    if unknown_proc:
        raise PlanInputError(f"plan names process(es) {unknown_proc} that the actuals do not have; actual "
                             f"processes are {sorted(data.processes)}")
    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("opportunities: plan against actual needs the opportunities and stage_events tables")
    present = set(fl.cohorts["process"])
    absent = sorted(set(pv["process"]) - present)
    if absent:
        raise PlanInputError(f"plan names process(es) {absent} with no opportunities in the actuals; processes "
                             f"with opportunities are {sorted(present)}")
    plan_periods = sorted(pv["period"].unique())
    if periods is not None:
        wanted = [p for p in (periods if isinstance(periods, list | tuple) else [periods])]
        labels = period_labels(pd.Series(wanted, dtype=object))
        if labels.isna().any():
            raise PlanInputError(f"periods={wanted}: unreadable period label(s)")
        not_in_plan = sorted(set(labels) - set(plan_periods))
        if not_in_plan:
            raise PlanInputError(f"period(s) {not_in_plan} are not in the plan; plan periods are {plan_periods}")
        chosen = list(labels)
    else:
        chosen = [p for p in plan_periods if pd.Period(p, freq=freq).start_time < cut]
        skipped = sorted(set(plan_periods) - set(chosen))
        if skipped:
            logger.warning("plan periods %s start after the data cut %s and are not compared", skipped, cut.date())
        if not chosen:
            raise PlanInputError(f"no plan period has started by the data cut {cut.date()}: plan periods are "
                                 f"{plan_periods}; actuals end there")
    after = [p for p in chosen if pd.Period(p, freq=freq).start_time >= cut]
    if after:
        raise PlanInputError(f"period(s) {after} start after the data cut {cut.date()}: no actuals yet")
    first_date, _ = time_span(data.opportunities, "created_at", "opportunities")
    early = [p for p in chosen if pd.Period(p, freq=freq).end_time < first_date]
    if early:
        raise SchemaError(f"period(s) {early} end before the first opportunity ({first_date.date()}): the actuals "
                          "do not cover them (empty period)")
    ev_period = pd.concat([fl.entries["period"], fl.closes["period"]], ignore_index=True)
    empty = [p for p in chosen if not (ev_period == p).any()]
    if empty:
        raise SchemaError(f"stage_events: period(s) {empty} have no stage events at all (empty period); the actuals "
                          "do not cover them")
    return chosen
