"""Actual volumes per process, period and stage from the stage events: entries, cohort wins, contracts, revenue.

Definitions (one opportunity counts once per stage: its first entry, after the path rules of
:mod:`salesplan.funnel.paths`, from :func:`salesplan.reduce.states.stage_flows`)
    ``entries``     opportunities entering the stage during the period (a skipped stage is entered, as in the funnel);
    ``advanced``    of those, how many reached a later stage or the won outcome by the data cut (cohort);
    ``won_cohort``  of those, how many are won by the data cut (cohort wins);
    ``contracts``   deals whose last event by the cut is the won outcome, dated in the period, only on the ``won`` row;
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
>>> q1 = act[(act["process"] == "acquisition") & (act["period"] == "2023-Q1")]
>>> q1[["stage", "entries", "advanced", "contracts"]].values.tolist()[:2]
[['prospect_selected', 124, 75, 0], ['contacted', 71, 43, 0]]

The 124 entries are the first-stage events of the quarter, counted straight from the table:

>>> ev = data.stage_events
>>> int(((ev["stage"] == "prospect_selected") & (ev["entered_at"].dt.to_period("Q") == "2023Q1")).sum())
124
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.reduce.states import StageFlows, activity_counts, column_names, stage_flows
from salesplan.schema import normalise_period

__all__ = ["actual_volumes", "actual_activities", "period_freq", "period_labels", "flows"]

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


def _need(data: Any, table: str) -> Any:
    frame = getattr(data, table, None)
    if frame is None:
        raise SchemaError(f"{table}: this needs the {table} table, which is missing or empty")
    return frame


def flows(data: Any, freq: str = "Q", as_of: Any = None, *, given: StageFlows | None = None) -> StageFlows:
    """:func:`salesplan.reduce.states.stage_flows` of a SalesData at ``as_of`` (default ``data.as_of``).

    ``given``: flows already reduced (e.g. cached by :class:`salesplan.Analysis`); returned as they are after
    checking that their ``freq`` and cut are the ones asked for, so one reduction serves every control table.
    """
    cut = to_naive_utc(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    if given is not None:
        if given.freq != freq or pd.Timestamp(given.as_of) != cut:
            raise ConfigError(f"flows: the given flows are for freq {given.freq!r} at {given.as_of}, but freq "
                              f"{freq!r} at {cut} is needed")
        return given
    return stage_flows(_need(data, "stage_events"), data.processes, _need(data, "opportunities"), freq=freq,
                       as_of=cut)


def actual_volumes(data: Any, freq: str = "Q", as_of: Any = None, *, stage_flows: StageFlows | None = None
                   ) -> pd.DataFrame:
    """Actual entries, cohort advances and wins, contracts and revenue per (process, period, stage).

    Every count follows the path rules (:mod:`salesplan.funnel.paths`) through
    :func:`salesplan.reduce.states.stage_flows`, so the entries are the funnel's entries (a skipped stage is
    entered), and a contract is a deal whose *last* event by the cut is the won outcome, counted in the period of
    that event (a deal won, reopened and lost is no contract).

    Parameters
    ----------
    data : SalesData
        Needs ``opportunities`` and ``stage_events`` (any engine).
    freq : {"W", "M", "Q", "Y"}
        Period length.
    as_of : date-like, optional
        Only events up to this date count (default ``data.as_of``).
    stage_flows : StageFlows, optional
        The flows of ``data`` at this ``freq`` and cut when already reduced (:func:`flows`).

    Returns
    -------
    DataFrame
        ``process, period (str), stage, stage_index, entries, advanced, won_cohort, contracts, revenue``.
    """
    fl = flows(data, freq, as_of, given=stage_flows)
    if fl.entries.empty and fl.closes.empty:
        raise SchemaError(f"stage_events: no events on or before {fl.as_of.date()}")
    work = fl.entries.assign(won_cohort=fl.entries["won"], contracts=0, revenue=0.0)
    work = work[["process", "period", "stage", "stage_index", "entries", "advanced", "won_cohort", "contracts",
                 "revenue"]]
    wins = fl.closes[fl.closes["status"] == "won"].groupby(["process", "period"], as_index=False).agg(
        entries=("deals", "sum"), revenue=("value", "sum"))
    wins["stage"] = wins["process"].map({n: p.won for n, p in data.processes.items()})
    wins["stage_index"] = wins["process"].map({n: len(p.stages) for n, p in data.processes.items()})
    wins["advanced"] = 0
    wins["won_cohort"] = wins["entries"]
    wins["contracts"] = wins["entries"]
    has_amount = "amount" in column_names(data.opportunities)
    if not has_amount:
        wins["revenue"] = np.nan
    out = pd.concat([work, wins[work.columns]], ignore_index=True)
    for col in ("entries", "advanced", "won_cohort", "contracts"):
        out[col] = out[col].astype(int)
    return out.sort_values(["process", "period", "stage_index"], kind="stable").reset_index(drop=True)


def actual_activities(data: Any, freq: str = "Q", as_of: Any = None) -> pd.DataFrame:
    """Activities per (process, period, kind): ``count`` (and ``hours``, ``cost`` when present).

    The process comes from the activity's ``process`` column or, failing that, its opportunity. Activities with
    neither are counted under process ``"(none)"`` and logged (:func:`salesplan.reduce.states.activity_counts`).
    """
    acts = _need(data, "activities")
    cut = to_naive_utc(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    return activity_counts(acts, getattr(data, "opportunities", None), freq=freq, as_of=cut)
