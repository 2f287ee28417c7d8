"""The pipeline waterfall of a period: how the pipeline expected to close in it changed between two dates.

A period's pipeline at a date ``t`` is the deals open at ``t`` (:func:`salesplan.reduce.states.deal_states`)
whose expected close *as known at t* (:func:`salesplan.reduce.history.deal_values`) falls in the period; its value
sums their amounts as known at ``t``. Between ``start`` and ``end`` every deal that was in it at either date, or
closed in the window with a close date in the period (created and won in it, say), takes part once, with

entry (deals not in the opening pipeline)
    ``created`` (created after ``start``), ``reopened`` (closed at ``start``), ``pulled_in`` (open at ``start``
    with an expected close after the period, or none), ``pushed_in`` (open at ``start`` with an expected close
    before the period);
value change (deals in the opening pipeline)
    ``value_increased`` / ``value_decreased``: amount at ``end`` minus amount at ``start``;
exit (deals not in the closing pipeline)
    ``won`` / ``lost`` (closed by ``end``), ``pushed_out`` (expected close moved after the period, or removed),
    ``pulled_out`` (moved before the period).

Entries and exits are valued at the amount known at ``end`` (the opening deals' changes are their own bars), so
``opening + created + reopened + pulled_in + pushed_in + value_increased - value_decreased - pushed_out -
pulled_out - won - lost = closing`` holds exactly for values, and without the value bars for counts.

Examples
--------
>>> import pandas as pd
>>> import salesplan as sp
>>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": "c", "process": "acquisition",
...                      "created_at": ["2025-01-02", "2025-02-10"]})
>>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "a"], "stage": ["contacted", "contacted", "won"],
...                    "entered_at": ["2025-01-02", "2025-02-10", "2025-03-05"]})
>>> hist = pd.DataFrame({"opportunity_id": ["a", "b", "a"], "changed_at": ["2025-01-02", "2025-02-10", "2025-03-05"],
...                      "amount": [100.0, 50.0, 120.0],
...                      "expected_close": ["2025-03-15", "2025-03-20", "2025-03-05"]})
>>> data = sp.SalesData.from_frames(opportunities=opps, stage_events=ev, opportunity_history=hist,
...                                 as_of="2025-03-31")
>>> w = pipeline_waterfall(data, "2025-01-31", "2025-03-31", "2025-03")
>>> w.table.query("process == '(all)'").set_index("category")["value"].to_dict()  # doctest: +NORMALIZE_WHITESPACE
{'opening': 100.0, 'created': 50.0, 'reopened': 0.0, 'pulled_in': 0.0, 'pushed_in': 0.0,
 'value_increased': 20.0, 'value_decreased': 0.0, 'pushed_out': 0.0, 'pulled_out': 0.0, 'won': 120.0, 'lost': 0.0,
 'closing': 50.0}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.reduce.states import DealRows
from salesplan.reduce.waterfall import waterfall_groups
from salesplan.schema import normalise_period

__all__ = ["pipeline_waterfall", "Waterfall", "WATERFALL", "ENTRIES", "EXITS"]

logger = logging.getLogger(__name__)

ENTRIES = ("created", "reopened", "pulled_in", "pushed_in")
EXITS = ("pushed_out", "pulled_out", "won", "lost")
#: The bars in order; entries and increases add, decreases and exits subtract.
WATERFALL = ("opening", *ENTRIES, "value_increased", "value_decreased", *EXITS, "closing")
_SIGN = {**{c: 1 for c in ENTRIES}, "value_increased": 1, "value_decreased": -1, **{c: -1 for c in EXITS}}


@dataclass
class Waterfall:
    """Result of :func:`pipeline_waterfall`.

    Attributes
    ----------
    table : DataFrame
        ``process`` (``"(all)"`` for the total), the ``by`` groups, ``category`` (:data:`WATERFALL` order),
        ``count``, ``value`` (positive; ``sign`` says whether the bar adds (+1) or subtracts (-1)).
    deals : DataFrame
        The deals behind the bars: ``opportunity_id, process, *by, entry, exit, value_start, value_end, change``
        (``entry`` is ``opening`` or an entry category, ``exit`` ``closing`` or an exit category).
    start, end : Timestamp
    period : str
    """

    table: pd.DataFrame
    deals: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    period: str

    def summary(self) -> pd.DataFrame:
        """Counts and values of the total per bar."""
        return self.table[self.table["process"] == "(all)"].set_index("category")[["count", "value", "sign"]]

    def plot(self, *, ax: Any = None, process: str = "(all)") -> Any:
        """Waterfall chart of one process (default the total); returns the Axes."""
        from salesplan.plot.waterfall import waterfall_chart

        return waterfall_chart(self.table[self.table["process"] == process], ax=ax,
                               title=f"Pipeline closing in {self.period}: {self.start.date()} to {self.end.date()}")


def pipeline_waterfall(data: Any, start: Any, end: Any, period: Any, *, by: str | Sequence[str] | None = None,
                       history: Any = None, deal_rows: DealRows | None = None,
                       max_deals: int | None = None) -> Waterfall:
    """How the pipeline expected to close in ``period`` changed between ``start`` and ``end`` (module docstring).

    Parameters
    ----------
    data : SalesData
        ``opportunities``, ``stage_events`` and, for past values, ``opportunity_history``.
    start, end : date-like
        The two dates, ``start < end``.
    period : str
        The period whose pipeline is followed: ``"2026-03"``, ``"2026-Q1"``, ``"2026"``.
    by : str or list of str, optional
        Further groups besides ``process``: opportunity columns (``owner`` is read as of ``end`` from the history
        when it has one, ``segment``...).
    history : DataFrame, optional
        The ``opportunity_history`` table (default ``data.opportunity_history``). Without one the opportunities'
        current amount and expected close stand for every date (logged at WARNING): no close-date moves can be
        seen then.
    deal_rows : DealRows, optional
        The deals' rows at ``end`` already reduced (what :class:`salesplan.Analysis` keeps for its cut); reduced
        here when not given or of another date.
    max_deals : int, optional
        :attr:`Waterfall.deals` holds every deal taking part up to this many (default: all); beyond it, the 1,000
        largest of each bar (the bars always count every deal).

    Notes
    -----
    Only the deals that can take part are reduced at the two dates: those whose expected close (at either date)
    falls in the period and those closed by ``end`` inside the window and the period, chosen in the engine. The
    deals are classified and the bars summed in the engine (:func:`salesplan.reduce.waterfall.waterfall_groups`):
    only the bars, and the deals asked for, are collected.

    Raises
    ------
    ConfigError
        ``start`` not before ``end``, or ``period`` not a month, quarter or year.
    SchemaError
        Missing tables or columns.
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if t0 >= t1:
        raise ConfigError(f"pipeline_waterfall: start {t0.date()} must be before end {t1.date()}")
    label = normalise_period(period)
    if label is None:
        raise ConfigError(f"pipeline_waterfall: period must be a month, quarter or year such as '2026-03' or "
                          f"'2026-Q1', got {period!r}")
    span = pd.Period(label.replace("-Q", "Q"), freq="Q" if "Q" in label else "M" if "-" in label else "Y")
    lo, hi = span.start_time, (span + 1).start_time
    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("pipeline_waterfall needs the opportunities and stage_events tables")
    groups = [by] if isinstance(by, str) else list(by or [])
    history = data.opportunity_history if history is None else history
    if history is None:
        logger.warning("pipeline_waterfall: no opportunity_history; today's amount and expected close stand for "
                       "their values at %s (no close-date moves are seen)", t0.date())
    got = waterfall_groups(data.stage_events, data.processes, data.opportunities, history, start=t0, end=t1,
                           period=(lo, hi), by=groups, deal_rows=deal_rows, max_deals=max_deals)
    g = got.bars
    rows = []
    keys = ["process", *groups]
    parts = [*g.groupby(keys, dropna=False), (("(all)",) + ("(all)",) * len(groups), g)]
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        bars = {"opening": _bar(part, "entry", "opening", "value_start")}
        for c in ENTRIES:
            bars[c] = _bar(part, "entry", c, "value_end")
        bars["value_increased"] = (int(part["n_up"].sum()), float(part["v_up"].sum()))
        bars["value_decreased"] = (int(part["n_down"].sum()), float(-part["v_down"].sum()))
        for c in (*EXITS, "closing"):
            bars[c] = _bar(part, "exit", c, "value_end")
        for cat in WATERFALL:
            rows.append({**dict(zip(keys, key, strict=True)), "category": cat, "count": bars[cat][0],
                         "value": round(bars[cat][1], 6) + 0.0, "sign": _SIGN.get(cat, 0)})
    table = pd.DataFrame(rows, columns=[*keys, "category", "count", "value", "sign"])
    return Waterfall(table, got.deals, t0, t1, label)


def _bar(part: pd.DataFrame, side: str, category: str, value: str) -> tuple[int, float]:
    """Deals and summed value of the grouped rows whose ``side`` (entry or exit) is ``category``."""
    hit = part[side] == category
    return int(part.loc[hit, "deals"].sum()), float(part.loc[hit, value].sum())
