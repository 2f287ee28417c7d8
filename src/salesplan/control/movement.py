"""Pipeline movement between two dates: what came in, what moved, what closed, with values.

For each opportunity the state at a date is the one definition of :func:`salesplan.reduce.states.deal_states`
(the path rules: its furthest working stage while open; only the last event by that date closes it). Between
``start`` and ``end``:

Bridge (counts and values add up: ``open_at_start + new + reopened - won - lost = open_at_end``)
    ``open_at_start``, ``new`` (created in ``(start, end]``), ``reopened`` (closed at ``start``, reopened in the
    window: open at ``end`` or closed again later), ``won`` and ``lost`` (closed in the window, from the start
    pipeline, new or reopened), ``open_at_end``.
Moves of the opportunities open at both dates (exclusive, first match wins)
    ``advanced`` (later stage at ``end``), ``regressed`` (moved back to an earlier stage during the window; it
    stays counted at its furthest stage), ``pushed`` (still in the same stage and
    its expected close date moved later: from ``data.opportunity_history`` or ``close_dates``), ``slipped``
    (same stage, expected to close by ``end`` but still open), ``unchanged``.
Waterfall of a period (``period=``)
    How the pipeline expected to close in the period changed: :func:`salesplan.control.waterfall.pipeline_waterfall`
    (opening, created, reopened, pulled in, pushed in, value up / down, pushed out, pulled out, won, lost,
    closing), in :attr:`Movement.waterfall`.

Examples
--------
>>> from salesplan.datasets import load_example
>>> data = load_example()
>>> mv = pipeline_movement(data, "2025-09-30", "2025-12-31")
>>> t = mv.table.query("process == '(all)'").set_index("category")
>>> {c: int(t.loc[c, "count"]) for c in ("open_at_start", "new", "reopened", "won", "lost", "open_at_end")}
{'open_at_start': 62, 'new': 167, 'reopened': 0, 'won': 42, 'lost': 120, 'open_at_end': 67}

(62 + 167 + 0 - 42 - 120 = 67: every deal open at the start or opened since is won, lost or still open.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from salesplan._results import Result
from salesplan.engines import collect, engine_of, to_engine
from salesplan.errors import ConfigError, SchemaError
from salesplan.reduce.states import DealRows, deal_states, movement_counts, movement_deals, time_span

__all__ = ["pipeline_movement", "Movement", "BRIDGE", "MOVES", "state_at"]

logger = logging.getLogger(__name__)

BRIDGE = ("open_at_start", "new", "reopened", "won", "lost", "open_at_end")
MOVES = ("advanced", "regressed", "pushed", "slipped", "unchanged")


def state_at(data: Any, when: Any) -> pd.DataFrame:
    """Each opportunity created by ``when``: its state at that date after the path rules.

    ``opportunity_id, process, stage, stage_index, status, work_index, moved_back, amount, expected_close`` from
    :func:`salesplan.reduce.states.deal_states` (``stage`` is the furthest working stage of an open deal, the
    outcome of a closed one; only the last event by ``when`` closes a deal).
    """
    out = deal_states(data.stage_events, data.processes, data.opportunities, dates=[pd.Timestamp(when)],
                      attributes=("created_at", "amount", "expected_close"))
    return out.drop(columns="as_of")


@dataclass(frozen=True, repr=False)
class Movement(Result):
    """Result of :func:`pipeline_movement`.

    Attributes
    ----------
    start, end : Timestamp
    table : DataFrame
        ``process`` (``"(all)"`` for the total), ``category``, ``count``, ``value`` (sum of ``amount``).
    deals : DataFrame
        Per opportunity: ``process, stage_start, stage_end, status_start, status_end, amount, flow`` (bridge
        category: new / won / lost / carried) and ``move`` (for deals open at both dates). Computed when first
        read (the constructor takes the frame or a function returning it), so a report that shows only the table
        never holds one row per deal.
    waterfall : Waterfall or None
        The pipeline waterfall of ``period`` when one was asked for.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    table: pd.DataFrame
    deals_of: pd.DataFrame | Callable[[], pd.DataFrame] = field(default_factory=pd.DataFrame)
    waterfall: Any = None

    @cached_property
    def deals(self) -> pd.DataFrame:
        """The deals behind the table (see the class docstring)."""
        return self.deals_of() if callable(self.deals_of) else self.deals_of

    def title(self) -> str:
        """The window of the movement."""
        return f"Pipeline movement {self.start.date()} to {self.end.date()}"

    def summary(self) -> pd.DataFrame:
        """Counts and values per category (rows) and process (columns) as a wide table."""
        return self.table.pivot_table(index="category", columns="process", values=["count", "value"],
                                      sort=False, aggfunc="sum")


def pipeline_movement(data: Any, start: Any, end: Any, *, close_dates: pd.DataFrame | None = None,
                      period: Any = None, by: str | list[str] | None = None,
                      deal_rows: DealRows | None = None) -> Movement:
    """Classify the pipeline's movement between ``start`` and ``end`` (see the module docstring).

    Parameters
    ----------
    data : SalesData
        ``opportunities`` (``amount`` for values, ``expected_close`` for slipped deals) and ``stage_events``.
    start, end : date-like
        The two snapshot dates, ``start < end <= data.as_of``.
    close_dates : DataFrame, optional
        History of expected close dates: ``opportunity_id, recorded_at, expected_close``; enables ``pushed``.
        Default: the ``expected_close`` rows of ``data.opportunity_history`` when there is one.
    period : str, optional
        A month, quarter or year (``"2026-Q1"``): also compute the pipeline waterfall of that period
        (:func:`salesplan.control.waterfall.pipeline_waterfall`, in ``Movement.waterfall``).
    by : str or list of str, optional
        Groups of the waterfall besides ``process`` (``owner``, ``segment``).
    deal_rows : DealRows, optional
        The deal rows at ``end`` when they are reduced already (:attr:`salesplan.Analysis.deal_rows`), with
        ``amount`` and ``expected_close``.

    Notes
    -----
    Method: the deals' states at both dates (:class:`salesplan.reduce.states.DealRows`) are joined and classified
    in the engine and only the table of counts is collected (:func:`salesplan.reduce.states.movement_counts`);
    :attr:`Movement.deals` reduces again when it is read.

    Raises
    ------
    ConfigError
        ``start`` not before ``end``, ``end`` after the data cut, or ``start`` before the first opportunity.
    SchemaError
        Missing tables or columns.
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("pipeline_movement needs the opportunities and stage_events tables")
    if t0 >= t1:
        raise ConfigError(f"pipeline_movement: start {t0.date()} must be before end {t1.date()}")
    if data.as_of is not None and t1 > pd.Timestamp(data.as_of):
        raise ConfigError(f"pipeline_movement: end {t1.date()} is after the data cut {pd.Timestamp(data.as_of).date()}")
    first, _ = time_span(data.opportunities, "created_at", "opportunities")
    if t0 < first:
        raise ConfigError(f"pipeline_movement: start {t0.date()} is before the data (first opportunity "
                          f"{first.date()})")
    history = getattr(data, "opportunity_history", None)
    if close_dates is None and history is not None and "expected_close" in history.columns:
        close_dates = history.loc[history["expected_close"].notna(), ["opportunity_id", "changed_at",
                                                                     "expected_close"]].rename(
            columns={"changed_at": "recorded_at"})
    pushed = _pushed_ids(close_dates, t0, t1)
    attributes = ("created_at", "amount", "expected_close")
    if deal_rows is not None and pd.Timestamp(deal_rows.as_of) != t1:
        raise ConfigError(f"pipeline_movement: deal_rows are at {deal_rows.as_of}, not at end {t1}")
    procs = data.processes
    with DealRows(data.stage_events, procs, data.opportunities, as_of=t0, attributes=attributes) as rows0:
        rows1 = deal_rows if deal_rows is not None else DealRows(data.stage_events, procs, data.opportunities,
                                                                as_of=t1, attributes=attributes)
        try:
            table = movement_counts(rows0, rows1, pushed=_on_engine_of(pushed, rows1))
        finally:
            if rows1 is not deal_rows:
                rows1.close()
    moves = table[(table["process"] == "(all)") & table["category"].isin(MOVES)]["count"].sum()
    if close_dates is None and moves:
        logger.info("pipeline_movement: no close_dates history given, so no deal is classed as 'pushed'")
    stage_events, opportunities = data.stage_events, data.opportunities

    def deals() -> pd.DataFrame:  # per deal, on demand: reduced again, so nothing per deal is kept meanwhile
        with DealRows(stage_events, procs, opportunities, as_of=t0, attributes=attributes) as r0, \
                DealRows(stage_events, procs, opportunities, as_of=t1, attributes=attributes) as r1:
            frame = movement_deals(r0, r1, pushed=_on_engine_of(pushed, r1))
            cols = ["opportunity_id", "process", "stage_start", "stage_end", "status_start", "status_end", "amount",
                    "flow", "move"]
            out = collect(frame) if frame is not None else pd.DataFrame(columns=cols)
        return out.sort_values("opportunity_id", kind="stable").reset_index(drop=True)

    waterfall = None
    if period is not None:
        from salesplan.control.waterfall import pipeline_waterfall

        waterfall = pipeline_waterfall(data, t0, t1, period, by=by)
    return Movement(t0, t1, table, deals, waterfall)


def _pushed_ids(close_dates: pd.DataFrame | None, t0: pd.Timestamp, t1: pd.Timestamp) -> pd.DataFrame | None:
    """Ids of the deals whose latest expected close by ``t1`` is later than their latest by ``t0``."""
    if close_dates is None:
        return None
    need = {"opportunity_id", "recorded_at", "expected_close"}
    if not need <= set(close_dates.columns):
        raise SchemaError(f"close_dates: missing column(s) {sorted(need - set(close_dates.columns))}")
    cd = close_dates.assign(recorded_at=pd.to_datetime(close_dates["recorded_at"]),
                            expected_close=pd.to_datetime(close_dates["expected_close"]))
    cd = cd.sort_values("recorded_at", kind="stable")
    c0 = cd[cd["recorded_at"] <= t0].groupby("opportunity_id")["expected_close"].last()
    c1 = cd[cd["recorded_at"] <= t1].groupby("opportunity_id")["expected_close"].last()
    later = (c1 > c0.reindex(c1.index)).fillna(False)
    return pd.DataFrame({"opportunity_id": c1.index[later.to_numpy(dtype=bool)].astype(str)})


def _on_engine_of(frame: pd.DataFrame | None, rows: DealRows) -> Any:
    """``frame`` in the engine of the deal rows (so that it joins with them)."""
    if frame is None or rows.last is None:
        return frame
    engine = engine_of(rows.last)
    return to_engine(frame, "polars-lazy" if engine == "polars" else engine)
