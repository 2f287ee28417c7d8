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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result
from salesplan.errors import ConfigError, SchemaError
from salesplan.reduce.states import deal_states, time_span

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
        category: new / won / lost / carried) and ``move`` (for deals open at both dates).
    waterfall : Waterfall or None
        The pipeline waterfall of ``period`` when one was asked for.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    table: pd.DataFrame
    deals: pd.DataFrame
    waterfall: Any = None

    def title(self) -> str:
        """The window of the movement."""
        return f"Pipeline movement {self.start.date()} to {self.end.date()}"

    def summary(self) -> pd.DataFrame:
        """Counts and values per category (rows) and process (columns) as a wide table."""
        return self.table.pivot_table(index="category", columns="process", values=["count", "value"],
                                      sort=False, aggfunc="sum")


def pipeline_movement(data: Any, start: Any, end: Any, *, close_dates: pd.DataFrame | None = None,
                      period: Any = None, by: str | list[str] | None = None) -> Movement:
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
    states = deal_states(data.stage_events, data.processes, data.opportunities, dates=[t0, t1],
                         attributes=("created_at", "amount", "expected_close"))
    s0 = states[states["as_of"] == t0].set_index("opportunity_id")
    s1 = states[states["as_of"] == t1].set_index("opportunity_id")
    closed0 = s0["closed_at"].reindex(s1.index)
    reopened = s1.index.isin(s0.index[s0["status"] != "open"]) & ~(
        (s1["status"] == s0["status"].reindex(s1.index)) & (s1["closed_at"] == closed0)).to_numpy()
    ids = s1.index[(s1["status"] == "open").to_numpy() | s1.index.isin(s0.index[s0["status"] == "open"]) |
                   ~s1.index.isin(s0.index) | reopened]
    d = pd.DataFrame(index=ids)
    d["process"] = s1.loc[ids, "process"]
    d["stage_start"] = s0["stage"].reindex(ids)
    d["stage_end"] = s1.loc[ids, "stage"]
    d["status_start"] = s0["status"].reindex(ids).fillna("not_created")
    d.loc[d.index.isin(s1.index[reopened]), "status_start"] = "reopened"
    d["status_end"] = s1.loc[ids, "status"]
    d["amount"] = s1.loc[ids, "amount"].to_numpy(dtype=float) if "amount" in s1.columns else np.nan
    idx0, idx1 = s0["stage_index"].reindex(ids), s1.loc[ids, "stage_index"]
    back0 = s0["moved_back"].reindex(ids).fillna(False).astype(bool)
    back1 = s1.loc[ids, "moved_back"].astype(bool)
    # only deals open at start, created in the window or reopened in it take part
    d = d[d["status_start"].isin(["open", "not_created", "reopened"])]
    idx0, idx1 = idx0.loc[d.index], idx1.loc[d.index]
    regressed = (back1 & ~back0).loc[d.index]
    flow = np.select([d["status_end"] == "won", d["status_end"] == "lost", d["status_start"] == "not_created",
                      d["status_start"] == "reopened"], ["won", "lost", "new_open", "reopened_open"],
                     default="carried")
    d["flow"] = flow
    both = (d["status_start"] == "open") & (d["status_end"] == "open")
    pushed = pd.Series(False, index=d.index)
    history = getattr(data, "opportunity_history", None)
    if close_dates is None and history is not None and "expected_close" in history.columns:
        close_dates = history.loc[history["expected_close"].notna(), ["opportunity_id", "changed_at",
                                                                     "expected_close"]].rename(
            columns={"changed_at": "recorded_at"})
    if close_dates is not None:
        need = {"opportunity_id", "recorded_at", "expected_close"}
        if not need <= set(close_dates.columns):
            raise SchemaError(f"close_dates: missing column(s) {sorted(need - set(close_dates.columns))}")
        cd = close_dates.assign(recorded_at=pd.to_datetime(close_dates["recorded_at"]),
                                expected_close=pd.to_datetime(close_dates["expected_close"]))
        cd = cd.sort_values("recorded_at", kind="stable")
        c0 = cd[cd["recorded_at"] <= t0].groupby("opportunity_id")["expected_close"].last()
        c1 = cd[cd["recorded_at"] <= t1].groupby("opportunity_id")["expected_close"].last()
        pushed = (c1.reindex(d.index) > c0.reindex(d.index)).fillna(False).astype(bool)
    elif both.any():
        logger.info("pipeline_movement: no close_dates history given, so no deal is classed as 'pushed'")
    expected = s1["expected_close"].reindex(d.index) if "expected_close" in s1.columns else \
        pd.Series(pd.NaT, index=d.index)
    slipped = expected.notna() & (expected <= t1)
    move = np.select([idx1 > idx0, regressed, pushed, slipped], ["advanced", "regressed", "pushed", "slipped"],
                     default="unchanged")
    d["move"] = np.where(both, move, None)
    rows = []
    for proc, g in [*d.groupby("process"), ("(all)", d)]:
        cats = {
            "open_at_start": g["status_start"] == "open",
            "new": g["status_start"] == "not_created",
            "reopened": g["status_start"] == "reopened",
            "won": g["status_end"] == "won",
            "lost": g["status_end"] == "lost",
            "open_at_end": g["status_end"] == "open",
        }
        cats.update({m: g["move"] == m for m in MOVES})
        for cat, mask in cats.items():
            rows.append({"process": proc, "category": cat, "count": int(mask.sum()),
                         "value": float(g.loc[mask, "amount"].sum())})
    table = pd.DataFrame(rows)
    waterfall = None
    if period is not None:
        from salesplan.control.waterfall import pipeline_waterfall

        waterfall = pipeline_waterfall(data, t0, t1, period, by=by)
    return Movement(t0, t1, table, d.reset_index().rename(columns={"index": "opportunity_id"}), waterfall)
