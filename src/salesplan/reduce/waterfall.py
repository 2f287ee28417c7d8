"""The pipeline waterfall's deals, classified inside the engine: only the bars (and the deals asked for) are
collected.

:func:`salesplan.control.waterfall.pipeline_waterfall` defines the bars; this module reads the raw tables for it.
Per deal that takes part (its expected close falls in the period at ``start`` or at ``end``, or it closed after
``start`` by ``end`` with a close in the period) the deal's state at both dates comes from the path rules
(:class:`~salesplan.reduce.states.DealRows` on those deals only) and its amount and expected close as known at
each date from ``opportunity_history`` (the last value recorded on or before the date, as
:func:`~salesplan.reduce.history.deal_values`; missing when none was), or from the opportunities when there is no
history. The classification (entry, exit, value change) is a handful of column expressions, and the bars are one
group-by: the rows collected do not grow with the number of deals.

Examples
--------
>>> import pandas as pd
>>> from salesplan import SalesProcess
>>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "amount": [100.0, 50.0],
...                      "created_at": pd.to_datetime(["2025-01-02", "2025-02-10"]),
...                      "expected_close": pd.to_datetime(["2025-03-15", "2025-03-20"])})
>>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "a"], "stage": ["lead", "lead", "won"],
...                    "entered_at": pd.to_datetime(["2025-01-02", "2025-02-10", "2025-03-05"])})
>>> got = waterfall_groups(ev, SalesProcess("p", ["lead"]), opps, None, start="2025-01-31", end="2025-03-31",
...                        period=("2025-03-01", "2025-04-01"))
>>> got.bars[["entry", "exit", "deals"]].values.tolist()
[['created', 'closing', 1], ['opening', 'won', 1]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import pandas as pd

from salesplan.engines import engine_of, to_engine
from salesplan.errors import SchemaError
from salesplan.reduce.stages import _as_datetime, _as_keys, _collect, _entry, _lazy, normalise_processes
from salesplan.reduce.states import DealRows

__all__ = ["waterfall_groups", "WaterfallGroups", "DEAL_COLUMNS"]

logger = logging.getLogger(__name__)

_OPP = "opportunity_id"
_CHANGED = "changed_at"
#: The columns of :attr:`WaterfallGroups.deals` after the groups.
DEAL_COLUMNS = ("entry", "exit", "value_start", "value_end", "change")
_TOP_PER_BAR = 1_000


@dataclass
class WaterfallGroups:
    """Result of :func:`waterfall_groups`.

    Attributes
    ----------
    bars : DataFrame
        One row per (``process``, groups, ``entry``, ``exit``): ``deals``, ``value_start`` (sum over the deals in
        the opening pipeline), ``value_end``, ``n_up``/``v_up`` and ``n_down``/``v_down`` (deals whose value went
        up / down and the summed change, down as a negative sum).
    deals : DataFrame
        ``opportunity_id, process``, groups, :data:`DEAL_COLUMNS`, sorted by id: every deal taking part, or, when
        more than ``max_deals`` take part, the largest deals of each entry and exit category.
    n_deals : int
        Deals taking part (all of them, also when :attr:`deals` holds only the largest).
    """

    bars: pd.DataFrame
    deals: pd.DataFrame
    n_deals: int


def _same_engine(history: Any, like: Any) -> Any:
    """A pandas ``history`` moved to the engine of ``like`` (the entered opportunities) so that the two join."""
    if history is None or not isinstance(history, pd.DataFrame):
        return history
    engine = engine_of(like, "opportunities")
    if engine == "pandas":
        return history
    return to_engine(history, "polars-lazy" if engine.startswith("polars") else engine)


def _values_at(opp: nw.LazyFrame, history: nw.LazyFrame | None, cut: pd.Timestamp,
               columns: Sequence[str]) -> nw.LazyFrame:
    """``opp`` with each of ``columns`` as known at ``cut``: from ``history`` the last value recorded on or before
    it (missing when none was), else the opportunities' own column (missing when absent)."""
    out = opp
    if history is None:
        names = opp.collect_schema().names()
        absent = [nw.lit(None).alias(c) for c in columns if c not in names]
        return out.with_columns(*absent) if absent else out
    upto = history.filter(nw.col(_CHANGED) <= nw.lit(cut.to_pydatetime()))
    names = history.collect_schema().names()
    for c in columns:
        if c not in names:
            out = out.with_columns(nw.lit(None).alias(c))
            continue
        recorded = upto.filter(~nw.col(c).is_null()).select(_OPP, _CHANGED, c)
        last = recorded.group_by(_OPP).agg(nw.col(_CHANGED).max().alias("_t"))
        then = recorded.join(last, left_on=[_OPP, _CHANGED], right_on=[_OPP, "_t"], how="inner").select(_OPP, c)
        out = out.join(then, on=_OPP, how="left")
    return out


def _typed(frame: nw.LazyFrame, table: str) -> nw.LazyFrame:
    """``amount`` as float, ``expected_close`` as a datetime (text parsed as the reductions parse it)."""
    schema = frame.collect_schema()
    if schema["expected_close"] == nw.String:
        frame = _as_datetime(frame, "expected_close", table)
    return frame.with_columns(nw.col("amount").cast(nw.Float64),
                              nw.col("expected_close").cast(nw.Datetime("us")))


def waterfall_groups(stage_events: Any, processes: Any, opportunities: Any, history: Any, *, start: Any, end: Any,
                     period: tuple[Any, Any], by: Sequence[str] = (), deal_rows: DealRows | None = None,
                     max_deals: int | None = None) -> WaterfallGroups:
    """The waterfall's deals between ``start`` and ``end`` for the pipeline closing in ``period``, grouped.

    Parameters
    ----------
    stage_events, processes, opportunities
        As for :class:`~salesplan.reduce.states.DealRows` (any engine narwhals reads, all the same engine).
    history : DataFrame-like or None
        ``opportunity_history`` (amount, expected close and owner as known at each date); None: the
        opportunities' own columns stand for both dates.
    start, end : Timestamp
        The two dates.
    period : (Timestamp, Timestamp)
        The period's ``[lo, hi)``.
    by : sequence of str
        Groups besides ``process``: opportunity columns; ``owner`` as known at ``end`` when the history has it.
    deal_rows : DealRows, optional
        Every deal's rows at ``end`` already reduced (same engine): the deals closed in the window are read from it
        instead of a reduction of every deal at ``end``.
    max_deals : int, optional
        Collect every deal taking part only up to this many (default: all); beyond it, the 1,000 largest of each
        entry and exit category.

    Returns
    -------
    WaterfallGroups
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    lo, hi = (pd.Timestamp(p).to_pydatetime() for p in period)
    procs = normalise_processes(processes)
    entered = _entry(stage_events=stage_events, opportunities=opportunities)
    ev_native, opp_native = entered["stage_events"], entered["opportunities"]
    history = _same_engine(history, opp_native)
    ev = _as_keys(_lazy(ev_native, "stage_events"), _OPP)
    opp = _as_keys(_lazy(opp_native, "opportunities"), _OPP)
    hist = None
    if history is not None:
        hist = _as_datetime(_as_keys(_lazy(history, "opportunity_history"), _OPP), _CHANGED, "opportunity_history")
    opp_names = opp.collect_schema().names()
    hist_names = hist.collect_schema().names() if hist is not None else []
    groups = list(by)
    from_history = ["owner"] if "owner" in groups and "owner" in hist_names else []
    static = [g for g in groups if g not in from_history]
    missing = [g for g in static if g not in opp_names]
    if missing:
        raise SchemaError.from_cases([{"table": "opportunities", "column": g, "check": "required", "key": "-",
                                       "value": "waterfall group not found"} for g in missing])
    values = ["amount", "expected_close", *from_history]
    own = [c for c in values if hist is None and c in opp_names]
    base = opp.select(_OPP, *[c for c in opp_names if c != _OPP and c not in values], *own)
    at = {t: _typed(_values_at(base, hist, t, values), "opportunity_history" if hist is not None else "opportunities")
          for t in (t0, t1)}
    in_period = {t: (nw.col("expected_close") >= nw.lit(lo)) & (nw.col("expected_close") < nw.lit(hi)) for t in at}
    closed_in = (nw.col("final") != "open") & (nw.col("closed_at") > nw.lit(t0.to_pydatetime())) & \
        (nw.col("closed_at") >= nw.lit(lo)) & (nw.col("closed_at") < nw.lit(hi))
    reuse = deal_rows is not None and deal_rows.as_of == t1 and deal_rows.last is not None and \
        deal_rows.last.implementation == ev.implementation
    full = None if reuse else DealRows(ev_native, procs, opp_native, as_of=t1, attributes=())
    try:
        rows_end = deal_rows if reuse else full
        parts = [frame.filter(in_period[t]).select(_OPP) for t, frame in at.items()]
        if rows_end is not None and rows_end.last is not None:
            parts.append(rows_end.last.filter(closed_in).select(nw.col(_OPP).cast(nw.String)))
        ids = nw.concat(parts, how="vertical").unique()
        ev_part = ev.join(ids, on=_OPP, how="semi")
        attrs = ("created_at", "amount", "expected_close", *groups)
        with DealRows(nw.to_native(ev_part), procs, nw.to_native(at[t0].join(ids, on=_OPP, how="semi")), as_of=t0,
                      attributes=attrs) as r0, \
            DealRows(nw.to_native(ev_part), procs, nw.to_native(at[t1].join(ids, on=_OPP, how="semi")), as_of=t1,
                     attributes=attrs) as r1:
            return _classify(r0, r1, t0, (lo, hi), groups, max_deals)
    finally:
        if full is not None:
            full.close()


def _classify(r0: DealRows, r1: DealRows, t0: pd.Timestamp, period: tuple[Any, Any], groups: list[str],
              max_deals: int | None) -> WaterfallGroups:
    keys = ["process", *groups]
    empty = pd.DataFrame(columns=[*keys, "entry", "exit", "deals", "value_start", "value_end", "n_up", "v_up",
                                  "n_down", "v_down"])
    if r1.last is None:
        return WaterfallGroups(empty, pd.DataFrame(columns=[_OPP, *keys, *DEAL_COLUMNS]), 0)
    lo, hi = (nw.lit(p) for p in period)
    s1 = r1.last.select(_OPP, *keys, "final", "closed_at", nw.col("amount").alias("_a1"),
                        nw.col("expected_close").alias("_c1"))
    if r0.last is not None:
        s0 = r0.last.select(_OPP, nw.col("final").alias("_f0"), nw.col("amount").alias("_a0"),
                            nw.col("expected_close").alias("_c0"))
        d = s1.join(s0, on=_OPP, how="left")
    else:
        d = s1.with_columns(_f0=nw.lit(None, dtype=nw.String), _a0=nw.lit(None, dtype=nw.Float64),
                            _c0=nw.lit(None, dtype=nw.Datetime("us")))
    f0, f1, c0, c1 = nw.col("_f0"), nw.col("final"), nw.col("_c0"), nw.col("_c1")
    in0 = ((f0 == "open") & (c0 >= lo) & (c0 < hi)).fill_null(False)
    in1 = ((f1 == "open") & (c1 >= lo) & (c1 < hi)).fill_null(False)
    closed_in = ((f1 != "open") & (nw.col("closed_at") > nw.lit(t0.to_pydatetime())) & (nw.col("closed_at") >= lo)
                 & (nw.col("closed_at") < hi)).fill_null(False)
    d = d.with_columns(_in0=in0, _in1=in1, _closed=closed_in).filter(
        nw.col("_in0") | nw.col("_in1") | nw.col("_closed"))
    opening = nw.col("_in0")
    d = d.with_columns(
        entry=nw.when(opening).then(nw.lit("opening")).when(f0.is_null()).then(nw.lit("created"))
        .when(f0 != "open").then(nw.lit("reopened")).when((c0 < lo).fill_null(False)).then(nw.lit("pushed_in"))
        .otherwise(nw.lit("pulled_in")),
        exit=nw.when(nw.col("_in1")).then(nw.lit("closing")).when(f1 == "won").then(nw.lit("won"))
        .when(f1 == "lost").then(nw.lit("lost")).when((c1 < lo).fill_null(False)).then(nw.lit("pulled_out"))
        .otherwise(nw.lit("pushed_out")),
        value_start=nw.when(opening).then(nw.col("_a0")),
        value_end=nw.col("_a1"),
        change=nw.when(opening).then(nw.col("_a1").fill_null(0.0) - nw.col("_a0").fill_null(0.0))
        .otherwise(nw.lit(0.0)),
    )
    change = nw.col("change")
    bars = _collect(d.group_by(*keys, "entry", "exit").agg(
        nw.len().alias("deals"), nw.col("value_start").sum().alias("value_start"),
        nw.col("value_end").sum().alias("value_end"),
        (change > 0).cast(nw.Int64).sum().alias("n_up"), nw.when(change > 0).then(change).otherwise(0.0).sum()
        .alias("v_up"),
        (change < 0).cast(nw.Int64).sum().alias("n_down"), nw.when(change < 0).then(change).otherwise(0.0).sum()
        .alias("v_down")))
    for c in ("value_start", "value_end", "v_up", "v_down"):
        bars[c] = bars[c].astype(float).fillna(0.0)
    for c in ("deals", "n_up", "n_down"):
        bars[c] = bars[c].astype("int64")
    bars = bars.sort_values([*keys, "entry", "exit"], kind="stable").reset_index(drop=True)
    n_deals = int(bars["deals"].sum())
    cols = [_OPP, *keys, *DEAL_COLUMNS]
    deals = d.select(*cols)
    if max_deals is not None and n_deals > max_deals:
        size = nw.when(nw.col("entry") == "opening").then(nw.col("value_start")).otherwise(nw.col("value_end"))
        tops = []
        for column, values in (("entry", set(bars["entry"])), ("exit", set(bars["exit"]))):
            for v in sorted(values):
                tops.append(deals.filter(nw.col(column) == v).with_columns(_size=size)
                            .sort("_size", descending=True, nulls_last=True).head(_TOP_PER_BAR).select(*cols))
        logger.info("pipeline waterfall: %d deals take part; the deals table holds the %d largest of each bar",
                    n_deals, _TOP_PER_BAR)
        deals = nw.concat(tops, how="vertical").unique(_OPP)
    table = _collect(deals, keep_text=(_OPP,))
    table[_OPP] = table[_OPP].astype(str).astype(object)
    table = table.sort_values(_OPP, kind="stable").reset_index(drop=True)
    return WaterfallGroups(bars, table[cols], n_deals)
