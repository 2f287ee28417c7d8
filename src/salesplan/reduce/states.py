"""Deal state: every opportunity's path and state at any date, and the per-period counts built on them.

This module is the one definition of "what happened to a deal" in salesplan. The path rules
(:mod:`salesplan.funnel.paths`: order and ties, duplicates counted once, skipped stages implied, moves back that
do not undo an advance, reopened deals where only the last event closes, events after the cut ignored,
opportunities without events open in the first stage) are applied once, by the same reduction the funnel uses
(:func:`salesplan.reduce.stages.reduce_stage_events`), and everything that counts deals reads the results of this
module: ``SalesData.status_counts``, the control actuals, KPIs, pipeline movement, variance, the open pipeline of
the forecast and the backtests. So a deal that was won, reopened and lost is lost everywhere, a skipped stage is
entered everywhere, and the close is the last event everywhere.

Like every reduction it is written against narwhals: the inputs may be pandas, Polars, PyArrow, DuckDB or
PySpark frames, and only summaries are collected (one row per deal for :func:`deal_states`, one row per
(process, period, stage) pattern for :func:`stage_flows`).

Definitions (at a cut ``as_of``)

``status``
    ``won`` / ``lost`` when the deal's last event on or before the cut is its process's won / lost outcome,
    else ``open``.
``work_stage``, ``work_index``
    The furthest working stage reached (0-based index in ``process.stages``): where the deal is open, where it
    was lost, or the last working stage before a win (implied when the win skipped it).
``stage``, ``stage_index``
    ``work_stage`` for open deals, the outcome name (``won`` / ``lost``) for closed ones; ``stage_index`` is the
    index in ``process.all_stages`` (working stages, then won, then lost).
``entered_stage_at``, ``days_in_stage``
    When the deal entered ``work_stage`` and the days from then to the cut (open) or to the close (closed).
``closed_at``
    The time of the closing event (NaT while open).
``moved_back``
    Some event returned the deal to an earlier working stage (it stays counted at its furthest stage).

Examples
--------
>>> import pandas as pd
>>> from salesplan import SalesProcess
>>> proc = SalesProcess("p", ["lead", "offer"])
>>> ev = pd.DataFrame({"opportunity_id": ["a", "a", "a", "a", "b"],
...                    "stage": ["lead", "won", "offer", "lost", "offer"],
...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09", "2024-01-20",
...                                                  "2024-01-03"])})
>>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p",
...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
>>> st = deal_states(ev, {"p": proc}, opps, dates=["2024-01-06", "2024-02-01"])
>>> st[["as_of", "opportunity_id", "status", "stage"]].astype(str).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'as_of': '2024-01-06', 'opportunity_id': 'a', 'status': 'won', 'stage': 'won'},
 {'as_of': '2024-01-06', 'opportunity_id': 'b', 'status': 'open', 'stage': 'offer'},
 {'as_of': '2024-02-01', 'opportunity_id': 'a', 'status': 'lost', 'stage': 'lost'},
 {'as_of': '2024-02-01', 'opportunity_id': 'b', 'status': 'open', 'stage': 'offer'}]
>>> flows = stage_flows(ev, {"p": proc}, opps, freq="M", as_of="2024-02-01")
>>> flows.entries[["stage", "entries", "implied", "advanced"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'stage': 'lead', 'entries': 2, 'implied': 1, 'advanced': 2},
 {'stage': 'offer', 'entries': 2, 'implied': 0, 'advanced': 0}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from salesplan._validation import check_freq
from salesplan.engines import released_after
from salesplan.errors import ConfigError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.process import SalesProcess
from salesplan.reduce.stages import (
    TRUNCATE,
    _build_rows,
    _collect,
    _entry,
    _lazy,
    _seconds,
    normalise_processes,
)
from salesplan.schema import normalise_period

__all__ = ["deal_states", "state_counts", "stage_flows", "close_counts", "activity_counts", "time_span", "distinct",
           "known_by", "opportunity_amounts", "column_names", "row_count", "unmatched_count", "StageFlows", "period_label",
           "STATE_COLUMNS", "FREQS"]

logger = logging.getLogger(__name__)

_OPP = "opportunity_id"
STATE_COLUMNS = ["as_of", _OPP, "process", "status", "stage", "stage_index", "work_stage", "work_index",
                 "entered_stage_at", "days_in_stage", "first_entered_at", "created_at", "closed_at", "moved_back"]
FREQS = TRUNCATE
_DAY = 86400.0
_SEP = "\x1f"  # joins an opportunity id and a cut index in a stacked reduction
_DATES_PER_PASS = 12
_CUT_DIGITS = 4  # the cut index is the last digits of a stacked key


def _check_freq(freq: str) -> str:
    """The engine's truncation unit of a period alias, checked by the shared vocabulary check."""
    return FREQS[check_freq(freq, choices=FREQS)]


def _stable_sum(values: pd.Series) -> pd.Series:
    """Sums from an engine, rounded to 1e-6: parallel group-bys (Polars, DuckDB) add in varying order, and the
    last bits of a float sum must not change a report from one run to the next."""
    return values.astype(float).round(6)


def period_label(stamps: pd.Series, freq: str) -> pd.Series:
    """Calendar labels of timestamps: ``2026-03`` (M), ``2026-Q1`` (Q), ``2026`` (Y), the Monday ``2026-03-02`` (W).

    Examples
    --------
    >>> period_label(pd.Series(pd.to_datetime(["2026-02-11", "2026-05-01"])), "Q").tolist()
    ['2026-Q1', '2026-Q2']
    """
    _check_freq(freq)
    stamps = pd.to_datetime(stamps)
    if freq == "W":
        return stamps.dt.to_period("W").dt.start_time.dt.strftime("%Y-%m-%d").where(stamps.notna(), None)
    uniq = {p: normalise_period(p) for p in pd.unique(stamps.dt.to_period(freq).dropna())}
    return stamps.dt.to_period(freq).map(uniq).where(stamps.notna(), None)


def _attributes(opportunities: Any, wanted: Sequence[str]) -> tuple[nw.LazyFrame | None, list[str]]:
    if opportunities is None:
        return None, []
    opp = _lazy(opportunities, "opportunities")
    names = opp.collect_schema().names()
    cols = [c for c in dict.fromkeys(wanted) if c in names and c not in (_OPP, "process")]
    return opp.select(nw.col(_OPP).cast(nw.String), *cols), cols


def _stacked(stage_events: Any, opportunities: Any, cuts: Sequence[pd.Timestamp]) -> tuple[Any, Any, pd.Timestamp]:
    """Events and opportunities as known at each cut, stacked, keyed ``<opportunity_id><SEP><cut index>``.

    One reduction of the stacked rows gives every deal's state at every cut (each copy sees only what was known
    at its cut), instead of one reduction per cut.
    """
    ev = _lazy(stage_events, "stage_events")
    opp = _lazy(opportunities, "opportunities")
    ev_names = ev.collect_schema().names()
    opp_names = opp.collect_schema().names()
    ev_parts, opp_parts = [], []
    for i, cut in enumerate(cuts):
        lit_cut = nw.lit(cut.to_pydatetime())
        key = nw.concat_str([nw.col(_OPP).cast(nw.String), nw.lit(f"{_SEP}{i:0{_CUT_DIGITS}d}")]).alias(_OPP)
        ev_parts.append(ev.filter(nw.col("entered_at") <= lit_cut).select(
            key, *[c for c in ev_names if c != _OPP]))
        opp_parts.append(opp.filter(nw.col("created_at") <= lit_cut).select(
            key, *[c for c in opp_names if c != _OPP]))
    return (nw.to_native(nw.concat(ev_parts, how="vertical")), nw.to_native(nw.concat(opp_parts, how="vertical")),
            max(cuts))


def _rows_at(stage_events: Any, opportunities: Any, cut: pd.Timestamp, procs: dict[str, SalesProcess]
             ) -> nw.LazyFrame | None:
    """The lazy per-(deal, stage) rows of the path rules at ``cut``; None when nothing exists yet."""
    try:
        built = _build_rows(stage_events, procs, opportunities, [], None, cut, 1.0, "1mo")
    except SchemaError as exc:
        cases = exc.failure_cases
        if len(cases) and set(cases["check"]) == {"empty"}:
            return None
        raise
    return built["rows"]


def _finish_states(frame: pd.DataFrame, procs: Mapping[str, SalesProcess], cut: pd.Timestamp) -> pd.DataFrame:
    if frame.empty:
        return frame
    names = {p: list(proc.stages) for p, proc in procs.items()}
    outcome = {p: (proc.won, proc.lost) for p, proc in procs.items()}
    frame["work_index"] = frame.pop("code").astype("int64")
    frame["work_stage"] = [names[p][k] for p, k in zip(frame["process"], frame["work_index"], strict=True)]
    status = frame.pop("final").astype(object)
    frame["status"] = status
    n_work = frame["process"].map({p: len(s) for p, s in names.items()})
    frame["stage"] = np.where(status == "won", frame["process"].map({p: o[0] for p, o in outcome.items()}),
                              np.where(status == "lost", frame["process"].map({p: o[1] for p, o in outcome.items()}),
                                       frame["work_stage"]))
    frame["stage_index"] = np.where(status == "won", n_work, np.where(status == "lost", n_work + 1,
                                                                      frame["work_index"])).astype("int64")
    closed = status != "open"
    frame["closed_at"] = frame["closed_at"].where(closed)
    end = frame["closed_at"].where(closed, cut)
    frame["entered_stage_at"] = frame.pop("t_entry")
    frame["days_in_stage"] = (end - frame["entered_stage_at"]).dt.total_seconds() / _DAY
    frame["moved_back"] = frame["moved_back"].fillna(False).astype(bool)
    frame.insert(0, "as_of", cut)
    return frame


@released_after
def deal_states(
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess],
    opportunities: Any,
    *,
    dates: Sequence[Any] | None = None,
    as_of: Any = None,
    attributes: Sequence[str] = ("created_at", "amount", "owner", "expected_close", "customer_id"),
    status: Sequence[str] | None = None,
    process: str | None = None,
    largest: int | None = None,
) -> pd.DataFrame:
    """The state of every deal at each of ``dates`` (or at ``as_of``), after the path rules.

    Parameters
    ----------
    stage_events : DataFrame-like
        ``opportunity_id, stage, entered_at`` in any engine narwhals reads.
    processes : SalesProcess or mapping of name to SalesProcess
    opportunities : DataFrame-like
        ``opportunity_id, process, created_at`` and the ``attributes`` wanted; same engine as the events.
    dates : sequence of date-like, optional
        The cuts; each is applied on its own (events after it are not yet known). Default ``[as_of]``.
    as_of : date-like, optional
        The single cut when ``dates`` is not given; default the latest event.
    attributes : sequence of str
        Opportunity columns carried into the result when present (``created_at`` always is).
    status : sequence of str, optional
        Keep only deals in these states (``"open"``, ``"won"``, ``"lost"``), filtered in the engine.
    process : str, optional
        Keep only the deals of this process, filtered in the engine.
    largest : int, optional
        Keep only the ``largest`` deals per cut by ``amount`` (descending, then ``opportunity_id``; without an
        ``amount`` column, the oldest by ``created_at``), chosen in the engine: the collected rows do not grow
        with the number of deals.

    Returns
    -------
    DataFrame
        One row per (cut, deal created by then): :data:`STATE_COLUMNS` plus the attributes, sorted by cut and
        ``opportunity_id``.

    Notes
    -----
    Method: the funnel's reduction (:func:`salesplan.reduce.stages.reduce_stage_events`) is run once per cut and
    its last row per deal is kept, so a state here is by construction the state the funnel counts.
    """
    procs = normalise_processes(processes)
    moved = _entry(stage_events=stage_events, opportunities=opportunities)  # pandas -> fastest engine, together
    stage_events, opportunities = moved["stage_events"], moved["opportunities"]
    if opportunities is None:
        raise ConfigError("deal_states needs the opportunities table (process and created_at of every deal)")
    if dates is None:
        dates = [as_of] if as_of is not None else [None]
    attrs, attr_cols = _attributes(opportunities, ["created_at", *attributes])
    cuts = []
    for when in dates:
        if when is None:
            ev = _lazy(stage_events, "stage_events")
            when = _collect(ev.select(nw.col("entered_at").max())).iloc[0, 0]
        cuts.append(to_naive_utc(when))
    out = []
    for lo in range(0, len(cuts), _DATES_PER_PASS):
        chunk = cuts[lo:lo + _DATES_PER_PASS]
        if len(chunk) == 1:
            chunk_attrs = attrs
            rows = _rows_at(stage_events, opportunities, chunk[0], procs)
        else:
            stacked_events, stacked_opps, latest = _stacked(stage_events, opportunities, chunk)
            chunk_attrs = _attributes(stacked_opps, attr_cols)[0]
            try:
                rows = _rows_at(stacked_events, stacked_opps, latest, procs)
            except SchemaError:  # name the real rows: re-run the latest cut on its own, which raises clearly
                _rows_at(stage_events, opportunities, latest, procs)
                raise
        if rows is None:
            continue
        last = rows.filter(nw.col("is_last")).select(_OPP, "process", "code", "final", "closed_at", "t_entry",
                                                     "first_entered_at", "moved_back")
        if status is not None:
            last = last.filter(nw.col("final").is_in(list(status)))
        if process is not None:
            last = last.filter(nw.col("process") == process)
        if chunk_attrs is not None and attr_cols:
            last = last.join(chunk_attrs, on=_OPP, how="left")
        if largest is not None:
            if len(chunk) > 1:
                raise ConfigError("deal_states: largest= works on one cut at a time")
            order = ["amount", _OPP] if "amount" in attr_cols else ["created_at", _OPP]
            last = last.sort(order, descending=[order[0] == "amount", False], nulls_last=True).head(int(largest))
        frame = _collect(last)
        if len(chunk) == 1:
            frame["_cut"] = 0
        else:
            parts = frame[_OPP].str.rsplit(_SEP, n=1, expand=True)
            frame[_OPP] = parts[0].to_numpy() if len(frame) else frame[_OPP]
            frame["_cut"] = parts[1].astype("int64").to_numpy() if len(frame) else np.zeros(0, dtype="int64")
        for i, cut in enumerate(chunk):
            part = frame[frame["_cut"] == i].drop(columns="_cut").reset_index(drop=True)
            out.append(_finish_states(part, procs, cut))
    cols = STATE_COLUMNS + [c for c in attr_cols if c not in STATE_COLUMNS]
    if not out:
        return pd.DataFrame(columns=cols)
    frame = pd.concat(out, ignore_index=True)
    frame = frame.reindex(columns=cols)
    return frame.sort_values(["as_of", _OPP], kind="stable").reset_index(drop=True)


@released_after
def state_counts(
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess],
    opportunities: Any,
    *,
    dates: Sequence[Any],
) -> pd.DataFrame:
    """How many deals (and how much ``amount``) are in each state at each of ``dates``: the summary of
    :func:`deal_states`, aggregated in the engine.

    Returns
    -------
    DataFrame
        ``as_of, process, status, work_index, work_stage, stage, deals, value`` (``value`` sums ``amount``; NaN
        without that column). Cuts before the first deal have no rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from salesplan import SalesProcess
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "b"], "stage": ["lead", "lead", "won"],
    ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"])})
    >>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "amount": [10.0, 20.0],
    ...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    >>> c = state_counts(ev, {"p": SalesProcess("p", ["lead"])}, opps, dates=["2024-01-15", "2024-03-01"])
    >>> c[["as_of", "status", "stage", "deals", "value"]].astype(str).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['2024-01-15', 'open', 'lead', '2', '30.0'], ['2024-03-01', 'open', 'lead', '1', '10.0'],
     ['2024-03-01', 'won', 'won', '1', '20.0']]
    """
    procs = normalise_processes(processes)
    moved = _entry(stage_events=stage_events, opportunities=opportunities)  # pandas -> fastest engine, together
    stage_events, opportunities = moved["stage_events"], moved["opportunities"]
    cuts = [pd.Timestamp(d) for d in dates]
    attrs, attr_cols = _attributes(opportunities, ["amount"])
    value = nw.col("amount").cast(nw.Float64) if "amount" in attr_cols else nw.lit(0.0)
    out = []
    for lo in range(0, len(cuts), _DATES_PER_PASS):
        chunk = cuts[lo:lo + _DATES_PER_PASS]
        if len(chunk) == 1:
            rows, chunk_attrs, cut_expr = _rows_at(stage_events, opportunities, chunk[0], procs), attrs, nw.lit(0)
        else:
            stacked_events, stacked_opps, latest = _stacked(stage_events, opportunities, chunk)
            chunk_attrs = _attributes(stacked_opps, attr_cols)[0]
            rows = _rows_at(stacked_events, stacked_opps, latest, procs)
            cut_expr = nw.col(_OPP).str.tail(_CUT_DIGITS).cast(nw.Int64)
        if rows is None:
            continue
        last = rows.filter(nw.col("is_last")).select(_OPP, "process", "code", "final")
        if chunk_attrs is not None and attr_cols:
            last = last.join(chunk_attrs, on=_OPP, how="left")
        frame = _collect(last.with_columns(_cut=cut_expr, _value=value).group_by("_cut", "process", "final", "code")
                         .agg(nw.len().alias("deals"), nw.col("_value").sum().alias("value")))
        frame["as_of"] = frame.pop("_cut").map(dict(enumerate(chunk)))
        out.append(frame)
    cols = ["as_of", "process", "status", "work_index", "work_stage", "stage", "deals", "value"]
    if not out:
        return pd.DataFrame(columns=cols)
    frame = pd.concat(out, ignore_index=True)
    frame["work_index"] = frame.pop("code").astype("int64")
    frame["status"] = frame.pop("final").astype(object)
    names = {p: list(proc.stages) for p, proc in procs.items()}
    frame["work_stage"] = [names[p][k] for p, k in zip(frame["process"], frame["work_index"], strict=True)]
    outcome = {"won": {p: proc.won for p, proc in procs.items()}, "lost": {p: proc.lost for p, proc in procs.items()}}
    frame["stage"] = frame["work_stage"]
    for status, by_proc in outcome.items():
        hit = frame["status"] == status
        frame.loc[hit, "stage"] = frame.loc[hit, "process"].map(by_proc)
    frame["value"] = _stable_sum(frame["value"]) if "amount" in attr_cols else np.nan
    frame["deals"] = frame["deals"].astype("int64")
    return frame[cols].sort_values(["as_of", "process", "status", "work_index"], kind="stable").reset_index(drop=True)


@released_after
def close_counts(
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess],
    opportunities: Any,
    *,
    as_of: Any,
) -> pd.DataFrame:
    """Deals closed per (process, status, day of the closing event) at the cut: the closes of
    :func:`deal_states` summed in the engine.

    A deal counts once, on the day of its last event by the cut, when that event is its process's won or lost
    outcome. Any window of whole days (a month, a quarter, a year to date) sums these rows, so wins in a window
    never need the per-deal table.

    Returns
    -------
    DataFrame
        ``process, status, closed_on`` (midnight of the closing day), ``deals``, ``value`` (sum of ``amount``;
        NaN without that column), sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> from salesplan import SalesProcess
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "stage": ["won", "won", "lost"],
    ...                    "entered_at": pd.to_datetime(["2024-01-05 10:00", "2024-01-05 16:00", "2024-02-01 00:00"])})
    >>> opps = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "process": "p",
    ...                      "created_at": pd.to_datetime(["2024-01-01"] * 3)})
    >>> c = close_counts(ev, {"p": SalesProcess("p", ["lead"])}, opps, as_of="2024-03-01")
    >>> c[["status", "closed_on", "deals"]].astype(str).values.tolist()
    [['lost', '2024-02-01', '1'], ['won', '2024-01-05', '2']]
    """
    procs = normalise_processes(processes)
    moved = _entry(stage_events=stage_events, opportunities=opportunities)  # pandas -> fastest engine, together
    stage_events, opportunities = moved["stage_events"], moved["opportunities"]
    cut = pd.Timestamp(as_of)
    cols = ["process", "status", "closed_on", "deals", "value"]
    rows = _rows_at(stage_events, opportunities, cut, procs)
    if rows is None:
        return pd.DataFrame(columns=cols)
    attrs, attr_cols = _attributes(opportunities, ["amount"])
    last = rows.filter(nw.col("is_last") & (nw.col("final") != "open")).select(_OPP, "process", "final",
                                                                                "closed_at")
    if "amount" in attr_cols and attrs is not None:
        last = last.join(attrs, on=_OPP, how="left")
    value = nw.col("amount").cast(nw.Float64) if "amount" in attr_cols else nw.lit(0.0)
    out = _collect(last.with_columns(closed_on=nw.col("closed_at").dt.truncate("1d"), _value=value)
                   .group_by("process", "final", "closed_on").agg(nw.len().alias("deals"),
                                                                  nw.col("_value").sum().alias("value")))
    out = out.rename(columns={"final": "status"})
    out["deals"] = out["deals"].astype("int64")
    out["value"] = _stable_sum(out["value"]) if "amount" in attr_cols else np.nan
    return out[cols].sort_values(["process", "status", "closed_on"], kind="stable").reset_index(drop=True)


def column_names(frame: Any) -> list[str]:
    """Column names of a frame in any engine (nothing is computed).

    Examples
    --------
    >>> column_names(pd.DataFrame({"a": [1], "b": [2]}))
    ['a', 'b']
    """
    return list(nw.from_native(frame).collect_schema().names())


def row_count(frame: Any, table: str = "table", where: Any = None) -> int:
    """The number of rows of a frame (optionally those where the narwhals expression ``where`` holds), counted in
    the frame's engine.

    Examples
    --------
    >>> row_count(pd.DataFrame({"a": [1, -2, 3]}), where=nw.col("a") < 0)
    1
    """
    lazy = _lazy(frame, table)
    if where is not None:
        lazy = lazy.filter(where)
    return int(_collect(lazy.select(nw.len().alias("n"))).iloc[0, 0])


def unmatched_count(frame: Any, other: Any, on: str, table: str = "table") -> int:
    """Rows of ``frame`` whose ``on`` value does not occur in ``other`` (an anti-join counted in the engine).

    Examples
    --------
    >>> unmatched_count(pd.DataFrame({"k": ["a", "b", "c"]}), pd.DataFrame({"k": ["a", "a"]}), "k")
    2
    """
    moved = _entry(opportunities=frame, stage_events=other) if on == _OPP else {"opportunities": frame,
                                                                                   "stage_events": other}
    left = _lazy(moved["opportunities"], table).select(nw.col(on).cast(nw.String))
    right = _lazy(moved["stage_events"], table).select(nw.col(on).cast(nw.String)).unique()
    return int(_collect(left.join(right, on=on, how="anti").select(nw.len().alias("n"))).iloc[0, 0])


@dataclass(frozen=True)
class StageFlows:
    """Per-period counts of stage entries, closes and creation cohorts at one cut (from :func:`stage_flows`).

    Attributes
    ----------
    entries : DataFrame
        ``process, period, stage_index, stage, entries, implied, advanced, won, lost``: deals entering the stage
        in the period (its first entry; implied entries of skipped stages included, as in the funnel) and, of
        those, how many left it forward, were won or lost by the cut.
    closes : DataFrame
        ``process, period, status ('won'/'lost'), cycle_days, deals, value``: deals closed in the period (by
        their closing event), per whole-hour cycle time from ``created_at`` to the close; ``value`` sums
        ``amount`` (NaN when there is none).
    cohorts : DataFrame
        ``process, period, status, reach, deals, value``: deals created in the period by their status at the
        cut and ``reach`` (the number of working stages they passed: the furthest working index, or the number of
        working stages when won).
    as_of : Timestamp
    freq : str
    """

    entries: pd.DataFrame
    closes: pd.DataFrame
    cohorts: pd.DataFrame
    as_of: pd.Timestamp
    freq: str


@released_after
def stage_flows(
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess],
    opportunities: Any,
    *,
    freq: str = "M",
    as_of: Any = None,
) -> StageFlows:
    """Entries, closes and creation cohorts per (process, period) at the cut ``as_of``, after the path rules.

    Parameters
    ----------
    stage_events, processes, opportunities
        As for :func:`deal_states`.
    freq : {"W", "M", "Q", "Y"}
        Calendar period of the counts.
    as_of : date-like, optional
        Data cut (default the latest event).

    Returns
    -------
    StageFlows
    """
    trunc = _check_freq(freq)
    procs = normalise_processes(processes)
    moved = _entry(stage_events=stage_events, opportunities=opportunities)  # pandas -> fastest engine, together
    stage_events, opportunities = moved["stage_events"], moved["opportunities"]
    if opportunities is None:
        raise ConfigError("stage_flows needs the opportunities table (process and created_at of every deal)")
    if as_of is None:
        ev = _lazy(stage_events, "stage_events")
        as_of = _collect(ev.select(nw.col("entered_at").max())).iloc[0, 0]
    cut = to_naive_utc(as_of)
    rows = _rows_at(stage_events, opportunities, cut, procs)
    empty_e = pd.DataFrame(columns=["process", "period", "stage_index", "stage", "entries", "implied", "advanced",
                                    "won", "lost"])
    empty_c = pd.DataFrame(columns=["process", "period", "status", "cycle_days", "deals", "value"])
    empty_h = pd.DataFrame(columns=["process", "period", "status", "reach", "deals", "value"])
    if rows is None:
        return StageFlows(empty_e, empty_c, empty_h, cut, freq)
    attrs, attr_cols = _attributes(opportunities, ["created_at", "amount"])
    value = nw.col("amount").cast(nw.Float64) if "amount" in attr_cols else nw.lit(0.0)
    entries = _collect(rows.with_columns(
        period=nw.col("t_entry").dt.truncate(trunc),
        _implied=nw.col("implied").cast(nw.Int64),
        _advanced=(~nw.col("t_next").is_null()).cast(nw.Int64),
        _won=(nw.col("final") == "won").cast(nw.Int64),
        _lost=(nw.col("final") == "lost").cast(nw.Int64),
    ).group_by("process", "code", "period").agg(
        nw.len().alias("entries"), nw.col("_implied").sum().alias("implied"),
        nw.col("_advanced").sum().alias("advanced"), nw.col("_won").sum().alias("won"),
        nw.col("_lost").sum().alias("lost"),
    ))
    last = rows.filter(nw.col("is_last")).select(_OPP, "process", "code", "final", "closed_at")
    last = last.join(attrs, on=_OPP, how="left").with_columns(_value=value)
    closed = last.filter(nw.col("final") != "open").with_columns(
        period=nw.col("closed_at").dt.truncate(trunc),
        cycle_days=(_seconds(nw.col("closed_at"), nw.col("created_at"), last.implementation) // 3600) / 24.0)
    closes = _collect(closed.group_by("process", "period", "final", "cycle_days").agg(
        nw.len().alias("deals"), nw.col("_value").sum().alias("value")))
    reach_expr = nw.col("code")
    for p, proc in procs.items():
        reach_expr = nw.when((nw.col("process") == p) & (nw.col("final") == "won")).then(
            nw.lit(len(proc.stages))).otherwise(reach_expr)
    cohorts = _collect(last.with_columns(period=nw.col("created_at").dt.truncate(trunc), reach=reach_expr)
                       .group_by("process", "period", "final", "reach").agg(
        nw.len().alias("deals"), nw.col("_value").sum().alias("value")))
    stage_names = {(p, k): s for p, proc in procs.items() for k, s in enumerate(proc.stages)}
    entries = entries.rename(columns={"code": "stage_index"})
    entries["stage"] = [stage_names[(p, k)] for p, k in zip(entries["process"], entries["stage_index"], strict=True)]
    entries["period"] = period_label(entries["period"], freq)
    entries = entries[["process", "period", "stage_index", "stage", "entries", "implied", "advanced", "won", "lost"]]
    closes, cohorts = (frame.rename(columns={"final": "status"}) for frame in (closes, cohorts))
    for frame in (closes, cohorts):
        frame["period"] = period_label(frame["period"], freq)
        frame["value"] = _stable_sum(frame["value"]) if "amount" in attr_cols else np.nan
    closes = closes[["process", "period", "status", "cycle_days", "deals", "value"]]
    cohorts = cohorts[["process", "period", "status", "reach", "deals", "value"]]
    return StageFlows(
        entries=entries.sort_values(["process", "period", "stage_index"], kind="stable").reset_index(drop=True),
        closes=closes.sort_values(["process", "period", "status", "cycle_days"], kind="stable").reset_index(drop=True),
        cohorts=cohorts.sort_values(["process", "period", "status", "reach"], kind="stable").reset_index(drop=True),
        as_of=cut, freq=freq)


def activity_counts(activities: Any, opportunities: Any = None, *, freq: str = "M", as_of: Any = None,
                    by: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Activities per (process, period, kind[, by...]): ``count`` and, when present, ``hours`` and ``cost``.

    An activity's process is its own ``process`` column or, failing that, its opportunity's; activities with
    neither count under ``"(none)"`` (logged at WARNING). Activities after ``as_of`` are not counted.

    Parameters
    ----------
    activities : DataFrame-like
        ``kind, date`` and optionally ``process``, ``opportunity_id``, ``owner``, ``hours``, ``cost``.
    opportunities : DataFrame-like, optional
        ``opportunity_id, process`` (same engine), for activities without their own process.
    freq : {"W", "M", "Q", "Y"}
    as_of : date-like, optional
    by : str or list of str, optional
        Further activity columns to group by (e.g. ``"owner"``).

    Examples
    --------
    >>> acts = pd.DataFrame({"kind": ["calls", "calls", "visits"], "process": "p",
    ...                      "date": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-02-06"])})
    >>> activity_counts(acts, freq="M")[["period", "kind", "count"]].to_dict("records")
    [{'period': '2024-01', 'kind': 'calls', 'count': 1}, {'period': '2024-02', 'kind': 'calls', 'count': 1}, \
{'period': '2024-02', 'kind': 'visits', 'count': 1}]
    """
    trunc = _check_freq(freq)
    by_cols = [by] if isinstance(by, str) else list(by or [])
    acts = _lazy(activities, "activities")
    names = acts.collect_schema().names()
    missing = [c for c in ("kind", "date", *by_cols) if c not in names]
    if missing:
        raise SchemaError.from_cases([{"table": "activities", "column": c, "check": "required", "key": "-",
                                       "value": "missing column"} for c in missing])
    if as_of is not None:
        acts = acts.filter(nw.col("date") <= nw.lit(to_naive_utc(as_of).to_pydatetime()))
    proc = nw.col("process").cast(nw.String) if "process" in names else nw.lit(None, dtype=nw.String)
    if "opportunity_id" in names and opportunities is not None:
        opp = _lazy(opportunities, "opportunities").select(nw.col(_OPP).cast(nw.String),
                                                           nw.col("process").cast(nw.String).alias("_via"))
        acts = acts.with_columns(nw.col(_OPP).cast(nw.String)).join(opp, on=_OPP, how="left")
        proc = nw.when(proc.is_null()).then(nw.col("_via")).otherwise(proc)
    extra = [c for c in ("hours", "cost") if c in names]
    acts = acts.with_columns(_process=proc, period=nw.col("date").dt.truncate(trunc),
                             **{f"_{c}": nw.col(c).cast(nw.Float64) for c in extra})
    out = _collect(acts.group_by("_process", "period", "kind", *by_cols).agg(
        nw.len().alias("count"), *[nw.col(f"_{c}").sum().alias(c) for c in extra]))
    out = out.rename(columns={"_process": "process"})
    none = out["process"].isna()
    if none.any():
        logger.warning("activities: %d row(s) have no process (no process column and no known opportunity); "
                       "counted under '(none)'", int(out.loc[none, "count"].sum()))
    out["process"] = out["process"].where(~none, "(none)")
    out["period"] = period_label(out["period"], freq)
    keys = ["process", "period", "kind", *by_cols]
    return out[[*keys, "count", *extra]].sort_values(keys, kind="stable").reset_index(drop=True)


def time_span(frame: Any, column: str, table: str = "table") -> tuple[pd.Timestamp, pd.Timestamp]:
    """The earliest and latest value of a date column, computed in the frame's engine.

    Examples
    --------
    >>> f = pd.DataFrame({"d": pd.to_datetime(["2024-03-01", "2024-01-01"])})
    >>> [str(t.date()) for t in time_span(f, "d")]
    ['2024-01-01', '2024-03-01']
    """
    lazy = _lazy(frame, table)
    if column not in lazy.collect_schema().names():
        raise SchemaError.from_cases([{"table": table, "column": column, "check": "required", "key": "-",
                                       "value": "missing column"}])
    out = _collect(lazy.select(nw.col(column).min().alias("lo"), nw.col(column).max().alias("hi")))
    return pd.Timestamp(out.iloc[0, 0]), pd.Timestamp(out.iloc[0, 1])


def opportunity_amounts(opportunities: Any, *, as_of: Any, start: Any = None,
                        by: Sequence[str] = ()) -> pd.DataFrame:
    """Distinct deal amounts per process (and ``by`` groups) with their weights, of the deals created in
    ``(start, as_of]``.

    ``process, *by, amount, weight`` (``amount`` NaN counts the deals without an amount). The empirical amount
    distribution of past deals, for valuing new deals and deals without an amount, without reading raw rows.

    Examples
    --------
    >>> o = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "process": "p", "amount": [5.0, 5.0, None],
    ...                   "created_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    >>> opportunity_amounts(o, as_of="2024-12-31").to_dict("records")
    [{'process': 'p', 'amount': 5.0, 'weight': 2}, {'process': 'p', 'amount': nan, 'weight': 1}]
    """
    opp = _lazy(opportunities, "opportunities")
    names = opp.collect_schema().names()
    opp = opp.filter(nw.col("created_at") <= nw.lit(to_naive_utc(as_of).to_pydatetime()))
    if start is not None:
        opp = opp.filter(nw.col("created_at") > nw.lit(pd.Timestamp(start).to_pydatetime()))
    amount = nw.col("amount").cast(nw.Float64) if "amount" in names else nw.lit(None, dtype=nw.Float64)
    by = list(by)
    out = _collect(opp.with_columns(_amount=amount).group_by("process", *by, "_amount").agg(
        nw.len().alias("weight")))
    out = out.rename(columns={"_amount": "amount"})
    out["amount"] = out["amount"].astype(float)
    return out.sort_values(["process", *by, "amount"], kind="stable", na_position="last").reset_index(drop=True)


def distinct(frame: Any, column: str, table: str = "table") -> list[Any]:
    """The distinct non-missing values of a column, computed in the frame's engine (sorted).

    Examples
    --------
    >>> distinct(pd.DataFrame({"process": ["b", "a", "b", None]}), "process")
    ['a', 'b']
    """
    lazy = _lazy(frame, table)
    out = _collect(lazy.select(nw.col(column)).unique().filter(~nw.col(column).is_null()))
    return sorted(out[column].tolist())


def known_by(frame: Any, column: str, as_of: Any) -> Any:
    """The rows of ``frame`` dated on or before ``as_of`` (lazily, in the frame's own engine and type).

    A pandas frame comes back as a new pandas frame with a fresh index; other engines get a lazy filter.

    Examples
    --------
    >>> f = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-03-01"])})
    >>> len(known_by(f, "d", "2024-02-01"))
    1
    """
    if isinstance(frame, pd.DataFrame):
        return frame[frame[column] <= to_naive_utc(as_of)].reset_index(drop=True)
    wrapped = nw.from_native(frame)
    return nw.to_native(wrapped.filter(nw.col(column) <= nw.lit(to_naive_utc(as_of).to_pydatetime())))
