"""Sales-control KPIs per process and period.

Per (process, period):

``created``, ``won``, ``lost``
    Opportunities created, won and lost in the period (by date).
``snapshot_win_rate``
    ``won / (won + lost)`` of the deals closed in the period.
``cohort_win_rate``, ``cohort_open_share``, ``cohort_mature``
    Of the opportunities created in the period, the share won by the data cut and the share still open (a
    recent cohort's win rate is a lower bound until it closes). ``cohort_mature`` is False while the cohort is too
    young to have closed: the cut comes before the period's end plus the median days from creation to win of the
    process's wins closed by the cut (or, with no wins yet, before the period's end); its win rate then says
    little (a cohort created this month shows ~0%).
``cycle_days``
    Median days from creation to win of the period's wins.
``open_count``, ``open_value``
    Pipeline open at the start of the period.
``expected_wins``
    Sum over the open deals of their stage's measured win rate (the funnel's ``win_rate`` when given, else the
    share won among closed deals that passed through the stage before the period: no look-ahead).
``target``
    Target contracts of the period, pro-rated by time from the targets' own periods
    (:func:`salesplan.control.attainment.target_between`, the one pro-rating of salesplan).
``coverage``, ``required_coverage``
    ``coverage = open_count / target contracts``; ``required_coverage = open_count / expected_wins``, the coverage
    the measured conversion of *this* pipeline needs to reach the target (instead of a fixed rule such as 3x).
    ``coverage >= required_coverage`` exactly when the expected wins reach the target.
``velocity``
    Pipeline velocity (revenue per day): ``open_count * mean win rate * mean won deal size / mean cycle days``.
``activities``, ``activities_planned``, ``activity_attainment``
    Activities done, planned (from a Plan, basis ``expected``) and their ratio.

Examples
--------
>>> from salesplan.datasets import load_example
>>> k = kpis(load_example(), freq="Q")
>>> row = k.query("process == 'retention' and period == '2025-Q2'").iloc[0]
>>> int(row["won"]), int(row["lost"]), round(float(row["snapshot_win_rate"]), 3)  # 26 / (26 + 13)
(26, 13, 0.667)
>>> int(row["open_count"]), float(row["target"]), round(float(row["coverage"]), 3)  # 9 open deals for a target of 23
(9, 23.0, 0.391)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from salesplan._validation import check_freq
from salesplan.control.actuals import actual_activities, flows, period_labels
from salesplan.control.attainment import cohort_mature, median_cycle_days, target_between
from salesplan.errors import ConfigError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.reduce.states import DealRows, StageFlows, column_names, state_counts, time_span

__all__ = ["kpis", "KPI_COLUMNS"]

logger = logging.getLogger(__name__)

KPI_COLUMNS = ["process", "period", "created", "won", "lost", "snapshot_win_rate", "cohort_win_rate",
               "cohort_open_share", "cohort_mature", "cycle_days", "open_count", "open_value", "expected_wins", "target",
               "coverage", "required_coverage", "velocity", "activities", "activities_planned",
               "activity_attainment"]


def kpis(data: Any, *, freq: str = "M", funnel: Any = None, plan: Any = None, start: Any = None,
         as_of: Any = None, stage_flows: StageFlows | None = None, deal_rows: DealRows | None = None
         ) -> pd.DataFrame:
    """KPIs per process and period (see the module docstring for the definitions).

    Parameters
    ----------
    data : SalesData
        Needs opportunities and stage_events; targets (contracts) for coverage; activities for attainment.
    freq : {"M", "Q", "Y"}
        Period length.
    funnel : Funnel, optional
        Its ``win_rate`` (process-level rows) replaces the stage win rates measured on closed deals.
    plan : Plan, optional
        Planned activities for the attainment (``plan.activities``) and targets when ``data.targets`` is absent.
    start : date-like, optional
        First period to report (default: the first full period after the first opportunity).
    as_of : date-like, optional
        Data cut (default ``data.as_of``); the last period may be partial.
    stage_flows : StageFlows, optional
        The stage flows of ``data`` at ``freq`` and this cut when already reduced
        (:func:`salesplan.control.actuals.flows`); reduced here otherwise.
    deal_rows : DealRows, optional
        The deals' rows at the cut (:class:`salesplan.reduce.states.DealRows`). With a ``funnel`` (whose win
        rates replace the measured ones, so only the open deals at each period start are counted), the snapshots
        count only open deals and skip the input checks that reduction already made (``state_counts(later=)``).

    Returns
    -------
    DataFrame
        Columns :data:`KPI_COLUMNS`.

    Raises
    ------
    ParameterError
        ``freq`` not one of M/Q/Y.
    ConfigError
        ``start`` after the cut or before the data.
    SchemaError
        Missing opportunities or stage events.
    """
    freq = check_freq(freq, choices=("M", "Q", "Y"))
    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("kpis needs the opportunities and stage_events tables")
    cut = to_naive_utc(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    first_date, _ = time_span(data.opportunities, "created_at", "opportunities")
    if pd.isna(first_date):
        raise SchemaError("kpis needs the opportunities and stage_events tables (opportunities is empty)")
    t_start = pd.Timestamp(start) if start is not None else first_date
    if t_start < first_date:
        raise ConfigError(f"kpis: start {t_start.date()} is before the data (first opportunity {first_date.date()})")
    if t_start >= cut:
        raise ConfigError(f"kpis: start {t_start.date()} is not before the data cut {cut.date()}")
    periods = pd.period_range(t_start.to_period(freq), (cut - pd.Timedelta(seconds=1)).to_period(freq), freq=freq)
    if start is None and len(periods) > 1:
        periods = periods[1:]  # the first period is partial: its pipeline starts empty
    fl = flows(data, freq, cut, given=stage_flows)
    cohorts = fl.cohorts.groupby(["process", "period", "status"])["deals"].sum()
    created = fl.cohorts.groupby(["process", "period"])["deals"].sum()
    closes = fl.closes
    present = set(fl.cohorts["process"])
    has_amount = "amount" in column_names(data.opportunities)
    starts = [per.start_time - pd.Timedelta(seconds=1) for per in periods if per.start_time > first_date]
    funnel_win = _funnel_win(funnel)
    later = deal_rows if funnel_win is not None and deal_rows is not None and deal_rows.as_of == cut else None
    snaps = state_counts(data.stage_events, data.processes, data.opportunities, dates=starts, later=later) \
        if starts else pd.DataFrame()
    snaps = dict(tuple(snaps.groupby("as_of"))) if len(snaps) else {}
    targets = _targets(data, plan, periods)
    won_closes = closes[closes["status"] == "won"]
    median_cycle = median_cycle_days(won_closes)
    acts = None
    if data.activities is not None:
        acts = actual_activities(data, freq=freq, as_of=cut).groupby(["process", "period"])["count"].sum()
    planned_acts = _planned_activities(plan)
    rows = []
    for per in periods:
        label = period_labels(pd.Series([per])).iloc[0]
        snap = snaps.get(per.start_time - pd.Timedelta(seconds=1))
        if funnel_win is not None:
            stage_win = funnel_win
        else:
            stage_win = _measured_win_rates(snap, data.processes) if snap is not None else {}
        for proc_name in data.processes:
            if proc_name not in present:
                continue
            c = closes[(closes["process"] == proc_name) & (closes["period"] == label)]
            wins = c[c["status"] == "won"]
            won, lost = int(wins["deals"].sum()), int(c.loc[c["status"] == "lost", "deals"].sum())
            n_created = int(created.get((proc_name, label), 0))
            co_won = int(cohorts.get((proc_name, label, "won"), 0))
            co_open = int(cohorts.get((proc_name, label, "open"), 0))
            if snap is not None:
                open_now = snap[(snap["process"] == proc_name) & (snap["status"] == "open")]
            else:
                open_now = pd.DataFrame({"stage": [], "deals": [], "value": []})
            p_win = np.array([stage_win.get((proc_name, s), np.nan) for s in open_now["stage"]], dtype=float)
            expected = float(np.sum(p_win * open_now["deals"].to_numpy(dtype=float))) if len(p_win) else 0.0
            open_value = float(open_now["value"].sum()) if has_amount else np.nan
            target = targets.get((proc_name, label), np.nan)
            n_open = int(open_now["deals"].sum())
            n_wins = int(wins["deals"].sum())
            mean_size = float(wins["value"].sum() / n_wins) if n_wins and wins["value"].notna().any() else np.nan
            cycle = np.repeat(wins["cycle_days"].to_numpy(dtype=float), wins["deals"].to_numpy(dtype=int))
            mean_cycle = float(cycle.mean()) if len(cycle) else np.nan
            velocity = n_open * (expected / n_open if n_open else 0.0) * mean_size / mean_cycle \
                if mean_cycle and np.isfinite(mean_cycle) and mean_cycle > 0 else np.nan
            n_act = float(acts.get((proc_name, label), 0.0)) if acts is not None else np.nan
            n_plan = planned_acts.get((proc_name, label), np.nan)
            rows.append({
                "process": proc_name, "period": label, "created": n_created, "won": won, "lost": lost,
                "snapshot_win_rate": won / (won + lost) if won + lost else np.nan,
                "cohort_win_rate": co_won / n_created if n_created else np.nan,
                "cohort_open_share": co_open / n_created if n_created else np.nan,
                "cohort_mature": cohort_mature(per, cut, median_cycle.get(proc_name, np.nan)),
                "cycle_days": float(np.median(cycle)) if len(cycle) else np.nan,
                "open_count": n_open, "open_value": open_value, "expected_wins": expected, "target": target,
                "coverage": n_open / target if target and np.isfinite(target) and target > 0 else np.nan,
                "required_coverage": n_open / expected if expected > 0 else np.nan,
                "velocity": velocity, "activities": n_act, "activities_planned": n_plan,
                "activity_attainment": n_act / n_plan if np.isfinite(n_plan) and n_plan > 0 else np.nan,
            })
    return pd.DataFrame(rows, columns=KPI_COLUMNS)


def _targets(data: Any, plan: Any, periods: pd.PeriodIndex) -> dict[tuple[str, str], float]:
    t = data.targets if getattr(data, "targets", None) is not None else getattr(plan, "targets", None)
    if t is None or len(t) == 0:
        return {}
    out = {}
    for per in periods:
        label = period_labels(pd.Series([per])).iloc[0]
        for proc, val in target_between(t, per.start_time, (per + 1).start_time).items():
            if np.isfinite(val):
                out[(proc, label)] = float(val)
    return out


def _planned_activities(plan: Any) -> dict[tuple[str, str], float]:
    if plan is None:
        return {}
    acts = plan.activities
    a = acts.assign(period=period_labels(acts["period"]))
    return {k: float(v) for k, v in a.groupby(["process", "period"])["expected"].sum().items()}


def _funnel_win(funnel: Any) -> dict[tuple[str, str], float] | None:
    if funnel is None:
        return None
    w = funnel.win_rate
    by = list(getattr(funnel, "by", []) or [])
    if by:
        logger.info("kpis: the funnel is grouped by %s; using the mean win rate over groups", by)
        w = w.groupby(["process", "stage"], as_index=False)["win_rate"].mean()
    return {(p, s): float(r) for p, s, r in zip(w["process"], w["stage"], w["win_rate"], strict=True)}


def _measured_win_rates(snap: pd.DataFrame, processes: Any) -> dict[tuple[str, str], float]:
    """Share won among the deals closed by the snapshot that passed each stage (closed-only, no look-ahead).

    A deal passed working stage ``k`` when its furthest working stage is ``k`` or later, or it was won.
    """
    closed = snap[snap["status"] != "open"]
    out: dict[tuple[str, str], float] = {}
    for proc_name, g in closed.groupby("process"):
        proc = processes[proc_name]
        reach = np.where(g["status"] == "won", len(proc.stages), g["work_index"].to_numpy())
        won = np.where(g["status"] == "won", g["deals"].to_numpy(), 0)
        deals = g["deals"].to_numpy()
        for k, stage in enumerate(proc.stages):
            passed = reach >= k
            if deals[passed].sum():
                out[(proc_name, stage)] = float(won[passed].sum() / deals[passed].sum())
    return out
