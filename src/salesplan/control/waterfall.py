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

import narwhals as nw
import numpy as np
import pandas as pd

from salesplan.engines import collect, engine_of, to_engine
from salesplan.errors import ConfigError, SchemaError
from salesplan.reduce.history import deal_values
from salesplan.reduce.states import DealRows, column_names, deal_states
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


def _taking_part(data: Any, t0: pd.Timestamp, t1: pd.Timestamp, lo: pd.Timestamp, hi: pd.Timestamp,
                 values: pd.DataFrame | None, deal_rows: DealRows | None) -> list[str]:
    """Ids of the deals that can be in the waterfall.

    Those whose expected close is in the period at either date (from the history's ``values``, else the
    opportunities' column), or closed after ``t0`` by ``t1`` inside the period.
    """
    in_period = (nw.col("closed_at") > nw.lit(t0.to_pydatetime())) & \
        (nw.col("closed_at") >= nw.lit(lo.to_pydatetime())) & (nw.col("closed_at") < nw.lit(hi.to_pydatetime()))
    if deal_rows is not None and deal_rows.as_of == t1:
        closed = deal_rows.ids(where=(nw.col("final") != "open") & in_period)
    else:
        with DealRows(data.stage_events, data.processes, data.opportunities, as_of=t1, attributes=()) as rows:
            closed = rows.ids(where=(nw.col("final") != "open") & in_period)
    if values is not None:
        close = pd.to_datetime(values["expected_close"]) if "expected_close" in values else None
        expected = values.loc[_in_period(close, lo, hi), "opportunity_id"].astype(str).tolist() \
            if close is not None else []
    elif "expected_close" in column_names(data.opportunities):
        opp = nw.from_native(data.opportunities)
        opp = opp.lazy() if isinstance(opp, nw.DataFrame) else opp
        close = nw.col("expected_close").cast(nw.Datetime("us"))
        expected = collect(opp.filter((close >= nw.lit(lo.to_pydatetime())) & (close < nw.lit(hi.to_pydatetime())))
                           .select(nw.col("opportunity_id").cast(nw.String)))["opportunity_id"].tolist()
    else:
        expected = []
    return sorted(set(closed) | set(expected))


def _only(frame: Any, ids: list[str]) -> Any:
    """The rows of ``frame`` (native, any engine) whose ``opportunity_id`` is one of ``ids``, in its engine."""
    if frame is None:
        return None
    if isinstance(frame, pd.DataFrame):
        return frame[frame["opportunity_id"].astype(str).isin(set(ids))]
    engine = engine_of(frame)
    keep = nw.from_native(to_engine(pd.DataFrame({"opportunity_id": pd.Series(ids, dtype=object)}),
                                    "polars-lazy" if engine == "polars" else engine))
    keep = keep.lazy() if isinstance(keep, nw.DataFrame) else keep
    lf = nw.from_native(frame)
    lazy = isinstance(lf, nw.LazyFrame)
    lf = lf.lazy() if not lazy else lf
    out = lf.with_columns(nw.col("opportunity_id").cast(nw.String)).join(keep, on="opportunity_id", how="semi")
    return nw.to_native(out if lazy else out.collect())


def _in_period(when: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    return (when >= lo) & (when < hi)


def pipeline_waterfall(data: Any, start: Any, end: Any, period: Any, *, by: str | Sequence[str] | None = None,
                       history: Any = None, deal_rows: DealRows | None = None) -> Waterfall:
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

    Notes
    -----
    Only the deals that can take part are reduced at the two dates: those whose expected close (at either date)
    falls in the period and those closed by ``end`` inside the window and the period, chosen in the engine. The
    rows read therefore grow with the period's deals, not with all deals.

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
    opp_cols = set(column_names(data.opportunities))
    hist_cols = set(column_names(history)) if history is not None else set()
    static = [g for g in groups if g in opp_cols and not (g == "owner" and "owner" in hist_cols)]
    values = None
    if history is not None:
        wanted = [c for c in ("amount", "expected_close") if c in hist_cols] + \
            (["owner"] if "owner" in groups and "owner" in hist_cols else [])
        values = deal_values(history, dates=[t0, t1], columns=wanted).drop(columns="last_changed_at")
    else:
        logger.warning("pipeline_waterfall: no opportunity_history; today's amount and expected close stand for "
                       "their values at %s (no close-date moves are seen)", t0.date())
    ids = _taking_part(data, t0, t1, lo, hi, values, deal_rows)
    states = deal_states(_only(data.stage_events, ids), data.processes, _only(data.opportunities, ids),
                         dates=[t0, t1],
                         attributes=("created_at", *static,
                                     *([c for c in ("amount", "expected_close", "owner") if c in opp_cols]
                                       if history is None else [])))
    states["as_of"] = pd.to_datetime(states["as_of"]).astype("datetime64[ns]")  # typed even when empty
    if values is not None:
        states = states.merge(values, on=["as_of", "opportunity_id"], how="left")
    missing = [g for g in groups if g not in states.columns]
    if missing:
        raise SchemaError.from_cases([{"table": "opportunities", "column": g, "check": "required", "key": "-",
                                       "value": "waterfall group not found"} for g in missing])
    s0 = states[states["as_of"] == t0].set_index("opportunity_id")
    s1 = states[states["as_of"] == t1].set_index("opportunity_id")
    in0 = (s0["status"] == "open") & _in_period(s0["expected_close"], lo, hi)
    in1 = (s1["status"] == "open") & _in_period(s1["expected_close"], lo, hi)
    closed_in_window = (s1["status"] != "open") & (s1["closed_at"] > t0) & _in_period(s1["closed_at"], lo, hi)
    through = closed_in_window & ~s1.index.isin(s0.index[in0])
    ids = s1.index[in1.to_numpy() | s1.index.isin(s0.index[in0]) | through.to_numpy()]
    d = pd.DataFrame(index=ids)
    d["process"] = s1.loc[ids, "process"]
    for g in groups:
        d[g] = s1.loc[ids, g]
    opening = pd.Series(ids.isin(s0.index[in0]), index=ids)
    status0 = s0["status"].reindex(ids)
    close0 = s0["expected_close"].reindex(ids)
    entry = np.select(
        [opening, status0.isna(), status0 != "open", close0 < lo],
        ["opening", "created", "reopened", "pushed_in"], default="pulled_in")
    status1, close1 = s1.loc[ids, "status"], s1.loc[ids, "expected_close"]
    exit_ = np.select(
        [in1.reindex(ids).fillna(False).astype(bool), status1 == "won", status1 == "lost", close1 < lo],
        ["closing", "won", "lost", "pulled_out"], default="pushed_out")
    d["entry"], d["exit"] = entry, exit_
    d["value_start"] = np.where(opening, s0["amount"].reindex(ids).astype(float), np.nan)
    d["value_end"] = s1.loc[ids, "amount"].astype(float).to_numpy()
    d["change"] = np.where(opening, d["value_end"].fillna(0) - d["value_start"].fillna(0), 0.0)
    deals = d.reset_index().rename(columns={"index": "opportunity_id"})
    rows = []
    keys = ["process", *groups]
    parts = [*deals.groupby(keys, dropna=False), (("(all)",) + ("(all)",) * len(groups), deals)]
    for key, g in parts:
        key = key if isinstance(key, tuple) else (key,)
        bars = {"opening": (int((g["entry"] == "opening").sum()),
                            float(g.loc[g["entry"] == "opening", "value_start"].sum()))}
        for c in ENTRIES:
            m = g["entry"] == c
            bars[c] = (int(m.sum()), float(g.loc[m, "value_end"].sum()))
        up, down = g["change"] > 0, g["change"] < 0
        bars["value_increased"] = (int(up.sum()), float(g.loc[up, "change"].sum()))
        bars["value_decreased"] = (int(down.sum()), float(-g.loc[down, "change"].sum()))
        for c in EXITS:
            m = g["exit"] == c
            bars[c] = (int(m.sum()), float(g.loc[m, "value_end"].sum()))
        m = g["exit"] == "closing"
        bars["closing"] = (int(m.sum()), float(g.loc[m, "value_end"].sum()))
        for cat in WATERFALL:
            rows.append({**dict(zip(keys, key, strict=True)), "category": cat, "count": bars[cat][0],
                         "value": round(bars[cat][1], 6) + 0.0, "sign": _SIGN.get(cat, 0)})
    table = pd.DataFrame(rows, columns=[*keys, "category", "count", "value", "sign"])
    return Waterfall(table, deals, t0, t1, label)
