"""Actual volumes per process, period and stage from the stage events: entries, cohort wins, contracts, revenue.

Definitions (one opportunity counts once per stage: its first entry)
    ``entries``     opportunities entering the stage during the period;
    ``advanced``    of those, how many reached a later stage or the won outcome by the data cut (cohort);
    ``won_cohort``  of those, how many are won by the data cut (cohort wins);
    ``contracts``   won outcomes dated in the period (wins by close date), only on the ``won`` row;
    ``revenue``     ``amount`` of those wins (NaN when ``opportunities`` has no ``amount``).

The ``won`` outcome appears as a stage row so that entries and contracts share one table.

Examples
--------
>>> from salesplan.datasets import simulate
>>> data, _ = simulate(n_customers=30, years=1, seed=2)
>>> act = actual_volumes(data, freq="Q")
>>> sorted(act.columns)[:4]
['advanced', 'contracts', 'entries', 'period']
>>> bool((act["won_cohort"] <= act["entries"]).all())
True
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.schema import normalise_period

__all__ = ["actual_volumes", "actual_activities", "period_freq", "period_labels", "first_entries"]

logger = logging.getLogger(__name__)


def period_freq(periods: Any) -> str:
    """Frequency code (``"M"``, ``"Q"`` or ``"Y"``) of period labels such as ``"2024-Q1"``, ``"2024-03"``.

    Examples
    --------
    >>> period_freq(["2024-Q1", "2024-Q2"]), period_freq(["2024-03"]), period_freq(["2024"])
    ('Q', 'M', 'Y')
    """
    kinds = set()
    for p in periods:
        if isinstance(p, pd.Period):
            kinds.add(p.freqstr[0])
            continue
        text = str(p).upper()
        kinds.add("Q" if "Q" in text else ("M" if "-" in text else "Y"))
    if len(kinds) != 1:
        raise ConfigError(f"periods mix frequencies {sorted(kinds)}; use one of month, quarter or year")
    return kinds.pop()


def period_labels(periods: pd.Series) -> pd.Series:
    """Canonical labels (``2024-Q1``, ``2024-03``, ``2024``) of a Series of pandas Periods or period strings."""
    uniq = {p: normalise_period(p) for p in pd.unique(periods)}
    return periods.map(uniq)


def _need(data: Any, table: str) -> pd.DataFrame:
    frame = getattr(data, table, None)
    if frame is None or len(frame) == 0:
        raise SchemaError(f"{table}: this needs the {table} table, which is missing or empty")
    return frame


def first_entries(data: Any) -> pd.DataFrame:
    """First entry of every opportunity into every stage: ``opportunity_id, process, stage, stage_index,
    entered_at, is_won, is_lost`` (``stage_index`` counts working stages 0.., won/lost after the last)."""
    ev = _need(data, "stage_events")
    opps = _need(data, "opportunities")
    ev = ev[["opportunity_id", "stage", "entered_at"]].merge(
        opps[["opportunity_id", "process"]], on="opportunity_id", how="left")
    ev = ev.sort_values(["opportunity_id", "entered_at"], kind="stable")
    ev = ev.drop_duplicates(["opportunity_id", "stage"], keep="first")
    idx, won, lost = [], [], []
    for proc_name, stage in zip(ev["process"], ev["stage"], strict=True):
        proc = data.processes.get(proc_name)
        if proc is None or stage not in proc.all_stages:
            idx.append(-1)
            won.append(False)
            lost.append(False)
            continue
        idx.append(proc.index(stage))
        won.append(stage == proc.won)
        lost.append(stage == proc.lost)
    ev["stage_index"] = idx
    ev["is_won"] = won
    ev["is_lost"] = lost
    return ev.reset_index(drop=True)


def actual_volumes(data: Any, freq: str = "Q", as_of: Any = None) -> pd.DataFrame:
    """Actual entries, cohort advances and wins, contracts and revenue per (process, period, stage).

    Parameters
    ----------
    data : SalesData
        Needs ``opportunities`` and ``stage_events``.
    freq : {"M", "Q", "Y"}
        Period length.
    as_of : date-like, optional
        Only events up to this date count (default ``data.as_of``).

    Returns
    -------
    DataFrame
        ``process, period (str), stage, stage_index, entries, advanced, won_cohort, contracts, revenue``.
    """
    cut = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    fe = first_entries(data)
    fe = fe[fe["entered_at"] <= cut]
    if fe.empty:
        raise SchemaError(f"stage_events: no events on or before {cut.date()}")
    working = fe[~fe["is_won"] & ~fe["is_lost"] & (fe["stage_index"] >= 0)]
    per_opp = pd.DataFrame({"max_work": working.groupby("opportunity_id")["stage_index"].max(),
                            "won": fe.groupby("opportunity_id")["is_won"].any()})
    fe = fe.join(per_opp, on="opportunity_id")
    fe["period"] = period_labels(fe["entered_at"].dt.to_period(freq))
    work = fe[~fe["is_won"] & ~fe["is_lost"] & (fe["stage_index"] >= 0)]
    advanced = work["won"].astype(bool) | (work["max_work"] > work["stage_index"])
    g = work.assign(advanced=advanced, won_cohort=work["won"].astype(bool)).groupby(
        ["process", "period", "stage", "stage_index"], sort=True)
    out = g.agg(entries=("opportunity_id", "size"), advanced=("advanced", "sum"), won_cohort=("won_cohort", "sum"))
    out = out.reset_index()
    wins = fe[fe["is_won"]].copy()
    amount = data.opportunities.set_index("opportunity_id")["amount"] if "amount" in data.opportunities else None
    wins["revenue"] = wins["opportunity_id"].map(amount) if amount is not None else np.nan
    wg = wins.groupby(["process", "period", "stage", "stage_index"]).agg(
        entries=("opportunity_id", "size"), revenue=("revenue", "sum"))
    wg = wg.reset_index()
    wg["contracts"] = wg["entries"]
    wg["advanced"] = 0
    wg["won_cohort"] = wg["entries"]
    out["contracts"] = 0
    out["revenue"] = 0.0
    out = pd.concat([out, wg], ignore_index=True)
    for col in ("entries", "advanced", "won_cohort", "contracts"):
        out[col] = out[col].astype(int)
    return out.sort_values(["process", "period", "stage_index"], kind="stable").reset_index(drop=True)


def actual_activities(data: Any, freq: str = "Q", as_of: Any = None) -> pd.DataFrame:
    """Activities per (process, period, kind): ``count`` (and ``hours``, ``cost`` when present).

    The process comes from the activity's ``process`` column or, failing that, its opportunity. Activities with
    neither are counted under process ``"(none)"`` and logged.
    """
    acts = _need(data, "activities")
    cut = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    acts = acts[acts["date"] <= cut]
    proc = acts["process"] if "process" in acts.columns else pd.Series(None, index=acts.index, dtype=object)
    if "opportunity_id" in acts.columns and data.opportunities is not None:
        via = acts["opportunity_id"].map(data.opportunities.set_index("opportunity_id")["process"])
        proc = proc.where(proc.notna(), via)
    missing = proc.isna()
    if missing.any():
        logger.warning("activities: %d row(s) have no process (no process column and no known opportunity); "
                       "counted under '(none)'", int(missing.sum()))
    frame = pd.DataFrame({"process": proc.fillna("(none)"), "period": period_labels(acts["date"].dt.to_period(freq)),
                          "kind": acts["kind"]})
    for col in ("hours", "cost"):
        if col in acts.columns:
            frame[col] = acts[col].to_numpy()
    agg = {"count": ("kind", "size")}
    agg.update({c: (c, "sum") for c in ("hours", "cost") if c in frame.columns})
    return frame.groupby(["process", "period", "kind"]).agg(**agg).reset_index()
