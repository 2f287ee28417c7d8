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
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from salesplan._validation import check_freq
from salesplan.engines import TempTables, materialise, released_after
from salesplan.errors import ConfigError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.process import SalesProcess
from salesplan.reduce.stages import (
    TRUNCATE,
    _as_datetime,
    _as_keys,
    _build_rows,
    _code_expr,
    _collect,
    _entry,
    _lazy,
    _proc_expr,
    _require,
    _seconds,
    normalise_processes,
)
from salesplan.schema import normalise_period

__all__ = ["DealRows", "movement_deals", "movement_counts", "MOVEMENT_CATEGORIES", "deal_states", "state_counts", "stage_flows", "close_counts", "activity_counts", "time_span", "distinct",
           "known_by", "opportunity_amounts", "column_names", "row_count", "unmatched_count", "StageFlows", "period_label",
           "STATE_COLUMNS", "FREQS"]

logger = logging.getLogger(__name__)

_OPP = "opportunity_id"
_STAGE, _AT = "stage", "entered_at"
STATE_COLUMNS = ["as_of", _OPP, "process", "status", "stage", "stage_index", "work_stage", "work_index",
                 "entered_stage_at", "days_in_stage", "first_entered_at", "created_at", "closed_at", "moved_back"]
FREQS = TRUNCATE
_DAY = 86400.0
_SEP = "\x1f"  # joins an opportunity id and a cut index in a stacked reduction
_STACKED_ROWS = 20_000_000  # stage events x cuts reduced together in one stacked pass (bounds its memory)
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


@contextmanager
def _one_pass() -> Iterator[None]:
    """The temporary tables of one stacked pass, dropped when the pass ends (not kept until the last pass)."""
    tables = TempTables()
    try:
        with tables.active():
            yield
    finally:
        tables.drop()


def _dates_per_pass(stage_events: Any, n_cuts: int) -> int:
    """How many cuts one stacked reduction takes: as many as keep ``events x cuts`` within :data:`_STACKED_ROWS`
    (all of them for small data: one reduction instead of one per cut; one at a time for very large data)."""
    if n_cuts <= 1:
        return 1
    n_events = int(_collect(_lazy(stage_events, "stage_events").select(nw.len().alias("n"))).iloc[0, 0])
    return int(max(1, min(n_cuts, _STACKED_ROWS // max(n_events, 1))))


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


def _days_in_stage(entered: pd.Series, end: Any) -> pd.Series:
    """Days (fractional) from entering the stage to ``end``: the close for a closed deal, the cut for an open one."""
    return (end - entered).dt.total_seconds() / _DAY


def _finish_states(frame: pd.DataFrame, procs: Mapping[str, SalesProcess], cut: pd.Timestamp) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = list(procs)
    # every process's working stages, then its won and lost outcome, in one flat table read at (process, code)
    names = np.array([s for p in order for s in (*procs[p].stages, procs[p].won, procs[p].lost)], dtype=object)
    n_work = np.array([len(procs[p].stages) for p in order], dtype=np.int64)
    which = pd.Index(order).get_indexer(frame["process"])
    start = (np.cumsum(n_work + 2) - (n_work + 2))[which]
    work_index = frame.pop("code").to_numpy(dtype=np.int64)
    frame["work_index"] = work_index
    frame["work_stage"] = names[start + work_index]
    status = frame.pop("final").astype(object)
    frame["status"] = status
    values = status.to_numpy()
    n_here = n_work[which]
    stage_index = np.where(values == "won", n_here, np.where(values == "lost", n_here + 1, work_index))
    frame["stage"] = names[start + stage_index]
    frame["stage_index"] = stage_index.astype("int64")
    closed = status != "open"
    frame["closed_at"] = frame["closed_at"].where(closed)
    end = frame["closed_at"].where(closed, cut)
    frame["entered_stage_at"] = frame.pop("t_entry")
    frame["days_in_stage"] = _days_in_stage(frame["entered_stage_at"], end)
    frame["moved_back"] = frame["moved_back"].fillna(False).astype(bool)
    frame.insert(0, "as_of", cut)
    return frame


def _finish_counts(frame: pd.DataFrame, procs: Mapping[str, SalesProcess], has_amount: bool) -> pd.DataFrame:
    """Stage names and outcome names of grouped ``process, final, code, deals, value`` rows (:func:`state_counts`)."""
    cols = ["as_of", "process", "status", "work_index", "work_stage", "stage", "deals", "value"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame["work_index"] = frame.pop("code").astype("int64")
    frame["status"] = frame.pop("final").astype(object)
    names = {p: list(proc.stages) for p, proc in procs.items()}
    frame["work_stage"] = [names[p][k] for p, k in zip(frame["process"], frame["work_index"], strict=True)]
    outcome = {"won": {p: proc.won for p, proc in procs.items()}, "lost": {p: proc.lost for p, proc in procs.items()}}
    frame["stage"] = frame["work_stage"]
    for status, by_proc in outcome.items():
        hit = frame["status"] == status
        frame.loc[hit, "stage"] = frame.loc[hit, "process"].map(by_proc)
    frame["value"] = _stable_sum(frame["value"]) if has_amount else np.nan
    frame["deals"] = frame["deals"].astype("int64")
    return frame[cols].sort_values(["as_of", "process", "status", "work_index"], kind="stable").reset_index(drop=True)


class DealRows:
    """Every deal's rows after the path rules at one cut, evaluated once in the engine; the cut's summaries read
    them.

    The counts of a report at its cut (deals per state, closes per day, stage entries and creation cohorts per
    period, the largest open deals) are all summaries of the same reduction. Reducing once and keeping the
    per-deal result in the engine (a DuckDB temporary table, spilled to disk beyond ``memory_limit``; a collected
    Polars frame; a checkpointed Spark frame) lets each summary be one query instead of a whole reduction with its
    checks. :func:`deal_states` (one cut), :func:`state_counts` (one date), :func:`close_counts` and
    :func:`stage_flows` are this class used once; :class:`salesplan.Analysis` keeps one for its cut.

    The engine's temporary tables are dropped by :meth:`close` (or ``with``), else when the object is garbage
    collected.

    Parameters
    ----------
    stage_events, processes, opportunities
        As for :func:`deal_states`.
    as_of : date-like, optional
        The cut (default the latest event).
    attributes : sequence of str
        Opportunity columns kept with each deal when present (``created_at`` always is).

    Examples
    --------
    >>> import pandas as pd
    >>> from salesplan import SalesProcess
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "b"], "stage": ["lead", "lead", "won"],
    ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"])})
    >>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "amount": [10.0, 20.0],
    ...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    >>> with DealRows(ev, SalesProcess("p", ["lead"]), opps, as_of="2024-03-01") as rows:
    ...     counts, closes = rows.counts(), rows.closes()
    >>> counts[["status", "deals", "value"]].values.tolist()
    [['open', 1, 10.0], ['won', 1, 20.0]]
    >>> closes[["status", "deals"]].values.tolist()
    [['won', 1]]
    """

    def __init__(
        self,
        stage_events: Any,
        processes: SalesProcess | Mapping[str, SalesProcess],
        opportunities: Any,
        *,
        as_of: Any = None,
        attributes: Sequence[str] = ("created_at", "amount", "owner", "expected_close", "customer_id"),
    ) -> None:
        procs = normalise_processes(processes)
        moved = _entry(stage_events=stage_events, opportunities=opportunities)  # pandas -> fastest engine
        stage_events, opportunities = moved["stage_events"], moved["opportunities"]
        if opportunities is None:
            raise ConfigError("deal states need the opportunities table (process and created_at of every deal)")
        if as_of is None:
            ev = _lazy(stage_events, "stage_events")
            as_of = _collect(ev.select(nw.col("entered_at").max())).iloc[0, 0]
        self.as_of: pd.Timestamp = to_naive_utc(as_of)
        self.processes = procs
        attrs, self.attributes = _attributes(opportunities, ["created_at", *attributes])
        self._tables = TempTables()
        weakref.finalize(self, self._tables.drop)
        self.rows: nw.LazyFrame | None = None
        self.last: nw.LazyFrame | None = None
        with self._tables.active():
            rows = _rows_at(stage_events, opportunities, self.as_of, procs)
            if rows is not None:
                last = rows.filter(nw.col("is_last")).select(_OPP, "process", "code", "final", "closed_at",
                                                             "t_entry", "first_entered_at", "moved_back")
                if attrs is not None and self.attributes:
                    last = last.join(attrs, on=_OPP, how="left")
                self.rows, self.last = rows, materialise(last)

    def close(self) -> None:
        """Drop the engine's temporary tables (the object cannot be read afterwards)."""
        self._tables.drop()
        self.rows = self.last = None

    def __enter__(self) -> DealRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _has_amount(self) -> bool:
        return "amount" in self.attributes

    def _value(self) -> nw.Expr:
        return nw.col("amount").cast(nw.Float64) if self._has_amount else nw.lit(0.0)

    def states(self, *, status: Sequence[str] | None = None, process: str | None = None,
               largest: int | None = None) -> pd.DataFrame:
        """The per-deal states of :func:`deal_states` at the cut (filters and ``largest`` as there)."""
        cols = STATE_COLUMNS + [c for c in self.attributes if c not in STATE_COLUMNS]
        if self.last is None:
            return pd.DataFrame(columns=cols)
        last = self.last
        if status is not None:
            last = last.filter(nw.col("final").is_in(list(status)))
        if process is not None:
            last = last.filter(nw.col("process") == process)
        if largest is not None:
            last = self._largest(last, largest)
        elif last.implementation.is_polars():  # Polars sorts the ids faster than pandas; the order is then kept
            last = last.sort(_OPP)
        frame = _finish_states(_collect(last), self.processes, self.as_of).reindex(columns=cols)
        if frame.empty or not frame[_OPP].is_monotonic_increasing:  # one cut: the order of the ids
            frame = frame.sort_values(["as_of", _OPP], kind="stable")
        return frame.reset_index(drop=True)

    def open_positions(self, processes: Sequence[str], columns: Sequence[str] = ()) -> pd.DataFrame:
        """The open deals of ``processes`` at the cut, in opportunity-id order, with only what a simulation of
        their outcomes reads: ``process, stage_index, days_in_stage`` and the attribute ``columns`` kept with the
        deals (those present).

        The same state as :meth:`states` (``stage_index`` and ``days_in_stage`` of an open deal are its working
        stage and the days since it entered it), without the per-deal text: the ids are collected in the engine's
        own string type only to order the rows and then dropped, so the frame holds numbers and a few shared
        strings per deal (issue 13: millions of open deals on DuckDB).

        Examples
        --------
        >>> import pandas as pd
        >>> from salesplan import SalesProcess
        >>> ev = pd.DataFrame({"opportunity_id": ["b", "a", "c", "c"], "stage": ["lead", "lead", "lead", "won"],
        ...                    "entered_at": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-01",
        ...                                                  "2024-01-05"])})
        >>> opps = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "process": "p", "amount": [10.0, 20.0, 5.0],
        ...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
        >>> with DealRows(ev, SalesProcess("p", ["lead"]), opps, as_of="2024-01-11") as rows:
        ...     rows.open_positions(["p"], ["amount"]).values.tolist()
        [['p', 0, 10.0, 10.0], ['p', 0, 9.0, 20.0]]
        """
        cols = [c for c in dict.fromkeys(columns) if c in self.attributes and c not in ("process",)]
        out_cols = ["process", "stage_index", "days_in_stage", *cols]
        if self.last is None or not processes:
            return pd.DataFrame(columns=out_cols)
        open_ = self.last.filter((nw.col("final") == "open") & nw.col("process").is_in(list(processes)))
        frame = _collect(open_.select(_OPP, "process", "code", "t_entry", *cols), keep_text=(_OPP,))
        if frame.empty:
            return pd.DataFrame(columns=out_cols)
        frame = frame.take(np.asarray(frame.pop(_OPP).argsort(kind="stable"))).reset_index(drop=True)
        frame["stage_index"] = frame.pop("code").to_numpy(dtype=np.int64)
        frame["days_in_stage"] = _days_in_stage(frame.pop("t_entry"), self.as_of)  # open: until the cut
        return frame[out_cols]

    def ids(self, *, where: nw.Expr) -> list[str]:
        """The ids of the deals whose state at the cut satisfies ``where`` (an expression over the columns
        ``final`` (status), ``code``, ``closed_at``, ``t_entry``, ``process`` and the attributes), chosen in the
        engine; only the ids are collected.

        Examples
        --------
        >>> import pandas as pd
        >>> from salesplan import SalesProcess
        >>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "b"], "stage": ["lead", "lead", "won"],
        ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"])})
        >>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p",
        ...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
        >>> with DealRows(ev, SalesProcess("p", ["lead"]), opps, as_of="2024-03-01") as rows:
        ...     rows.ids(where=nw.col("final") == "won")
        ['b']
        """
        if self.last is None:
            return []
        return _collect(self.last.filter(where).select(_OPP))[_OPP].astype(str).tolist()

    def dimension_counts(self, by: str, windows: Mapping[str, tuple[Any, Any]], *,
                         customers: pd.DataFrame | None = None) -> pd.DataFrame:
        """Deals and their amount per value of ``by``, process, status and stage, and whether they closed in each
        window: the per-deal breakdown of :func:`salesplan.control.breakdowns.breakdown` summarised in the engine.

        Parameters
        ----------
        by : str
            An attribute of the deals (kept when the rows were reduced) or a column of ``customers`` (joined on
            ``customer_id`` in the engine).
        windows : mapping
            Name to ``(start, end)``: a boolean column ``name`` says whether the deal closed in ``[start, end)``.
        customers : DataFrame, optional
            The customers table (pandas) when ``by`` is one of its columns.

        Returns
        -------
        DataFrame
            ``by, process, status, work_index, work_stage, <windows>, deals, amount`` (amount summed, missing
            amounts counting 0; rounded to 1e-6).

        Examples
        --------
        >>> import pandas as pd
        >>> from salesplan import SalesProcess
        >>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "b"], "stage": ["lead", "lead", "won"],
        ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"])})
        >>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "amount": [10.0, 20.0],
        ...                      "owner": ["x", "y"], "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
        >>> with DealRows(ev, SalesProcess("p", ["lead"]), opps, as_of="2024-03-01") as rows:
        ...     t = rows.dimension_counts("owner", {"in_feb": ("2024-02-01", "2024-03-01")})
        >>> t[["owner", "status", "in_feb", "deals", "amount"]].values.tolist()
        [['x', 'open', False, 1, 10.0], ['y', 'won', True, 1, 20.0]]
        """
        names = list(windows)
        cols = [by, "process", "status", "work_index", "work_stage", *names, "deals", "amount"]
        if self.last is None:
            return pd.DataFrame(columns=cols)
        last = self.last
        if by not in self.attributes:
            if customers is None or by not in customers.columns or "customer_id" not in self.attributes:
                raise ConfigError(f"dimension_counts: {by!r} is neither a deal attribute nor a customer column")
            from salesplan.engines import engine_of, to_engine

            engine = engine_of(nw.to_native(last))
            table = customers[["customer_id", by]].drop_duplicates("customer_id")
            table = table.assign(customer_id=table["customer_id"].astype(str))
            other = nw.from_native(to_engine(table, "polars-lazy" if engine == "polars" else engine))
            other = other.lazy() if isinstance(other, nw.DataFrame) else other
            last = last.with_columns(nw.col("customer_id").cast(nw.String)).join(other, on="customer_id", how="left")
        closed = nw.col("closed_at")
        flags = {n: ~closed.is_null() & (closed >= nw.lit(pd.Timestamp(a).to_pydatetime()))
                 & (closed < nw.lit(pd.Timestamp(b).to_pydatetime())) for n, (a, b) in windows.items()}
        amount = nw.col("amount").cast(nw.Float64).fill_null(0.0) if self._has_amount else nw.lit(0.0)
        frame = _collect(last.with_columns(_dim=nw.col(by).cast(nw.String), _amount=amount, **flags)
                         .group_by("_dim", "process", "final", "code", *names)
                         .agg(nw.len().alias("deals"), nw.col("_amount").sum().alias("amount")))
        frame = frame.rename(columns={"_dim": by, "final": "status", "code": "work_index"})
        frame["work_index"] = frame["work_index"].astype("int64")
        stages = {p: list(proc.stages) for p, proc in self.processes.items()}
        frame["work_stage"] = [stages[p][k] for p, k in zip(frame["process"], frame["work_index"], strict=True)]
        frame["deals"] = frame["deals"].astype("int64")
        frame["amount"] = _stable_sum(frame["amount"])
        for n in names:
            frame[n] = frame[n].astype(bool)
        return frame[cols].sort_values([by, "process", "status", "work_index", *names], kind="stable",
                                       na_position="last").reset_index(drop=True)

    def _largest(self, last: nw.LazyFrame, top: int) -> nw.LazyFrame:
        order = ["amount", _OPP] if self._has_amount else ["created_at", _OPP]
        return last.sort(order, descending=[order[0] == "amount", False], nulls_last=True).head(int(top))

    def largest_open(self, processes: Sequence[str], top: int) -> dict[str, pd.DataFrame]:
        """The ``top`` open deals of each process (largest ``amount`` first, else the oldest), in one query.

        Returns
        -------
        dict
            Process name to its rows of :meth:`states` (only ``top`` rows per process are collected).
        """
        cols = STATE_COLUMNS + [c for c in self.attributes if c not in STATE_COLUMNS]
        names = list(processes)
        if self.last is None or not names:
            return {p: pd.DataFrame(columns=cols) for p in names}
        open_ = self.last.filter(nw.col("final") == "open")
        parts = [self._largest(open_.filter(nw.col("process") == p), top) for p in names]
        frame = _collect(nw.concat(parts, how="vertical") if len(parts) > 1 else parts[0])
        frame = _finish_states(frame, self.processes, self.as_of).reindex(columns=cols)
        return {p: frame[frame["process"] == p].sort_values(["as_of", _OPP], kind="stable").reset_index(drop=True)
                for p in names}

    def counts(self) -> pd.DataFrame:
        """Deals and their amount per process, status and stage at the cut (:func:`state_counts` of one date)."""
        if self.last is None:
            return _finish_counts(pd.DataFrame(), self.processes, self._has_amount)
        frame = _collect(self.last.with_columns(_value=self._value()).group_by("process", "final", "code").agg(
            nw.len().alias("deals"), nw.col("_value").sum().alias("value")))
        frame["as_of"] = self.as_of
        return _finish_counts(frame, self.processes, self._has_amount)

    def closes(self) -> pd.DataFrame:
        """Deals closed per process, status and day by the cut (:func:`close_counts`)."""
        cols = ["process", "status", "closed_on", "deals", "value"]
        if self.last is None:
            return pd.DataFrame(columns=cols)
        closed = self.last.filter(nw.col("final") != "open")
        out = _collect(closed.with_columns(closed_on=nw.col("closed_at").dt.truncate("1d"), _value=self._value())
                       .group_by("process", "final", "closed_on").agg(nw.len().alias("deals"),
                                                                      nw.col("_value").sum().alias("value")))
        out = out.rename(columns={"final": "status"})
        out["deals"] = out["deals"].astype("int64")
        out["value"] = _stable_sum(out["value"]) if self._has_amount else np.nan
        return out[cols].sort_values(["process", "status", "closed_on"], kind="stable").reset_index(drop=True)

    def flows(self, freq: str = "M") -> StageFlows:
        """Entries, closes and creation cohorts per (process, period of ``freq``) at the cut (:func:`stage_flows`)."""
        trunc = _check_freq(freq)
        procs, cut = self.processes, self.as_of
        if self.rows is None or self.last is None:
            return StageFlows(
                pd.DataFrame(columns=["process", "period", "stage_index", "stage", "entries", "implied", "advanced",
                                      "won", "lost"]),
                pd.DataFrame(columns=["process", "period", "status", "cycle_days", "deals", "value"]),
                pd.DataFrame(columns=["process", "period", "status", "reach", "deals", "value"]), cut, freq)
        entries = _collect(self.rows.with_columns(
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
        last = self.last.with_columns(_value=self._value())
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
        entries["stage"] = [stage_names[(p, k)] for p, k in zip(entries["process"], entries["stage_index"],
                                                                strict=True)]
        entries["period"] = period_label(entries["period"], freq)
        entries = entries[["process", "period", "stage_index", "stage", "entries", "implied", "advanced", "won",
                           "lost"]]
        closes, cohorts = (frame.rename(columns={"final": "status"}) for frame in (closes, cohorts))
        for frame in (closes, cohorts):
            frame["period"] = period_label(frame["period"], freq)
            frame["value"] = _stable_sum(frame["value"]) if self._has_amount else np.nan
        closes = closes[["process", "period", "status", "cycle_days", "deals", "value"]]
        cohorts = cohorts[["process", "period", "status", "reach", "deals", "value"]]
        return StageFlows(
            entries=entries.sort_values(["process", "period", "stage_index"], kind="stable").reset_index(drop=True),
            closes=closes.sort_values(["process", "period", "status", "cycle_days"], kind="stable")
            .reset_index(drop=True),
            cohorts=cohorts.sort_values(["process", "period", "status", "reach"], kind="stable")
            .reset_index(drop=True),
            as_of=cut, freq=freq)


#: The movement categories of :func:`movement_counts`: the bridge, then the moves of deals open at both dates.
MOVEMENT_CATEGORIES = ("open_at_start", "new", "reopened", "won", "lost", "open_at_end",
                       "advanced", "regressed", "pushed", "slipped", "unchanged")


def _stage_of(procs: Mapping[str, SalesProcess]) -> tuple[nw.Expr, nw.Expr]:
    """Engine expressions of a deal's ``stage`` (name) and ``stage_index`` from ``process, final, code``."""
    name: nw.Expr = nw.lit(None, dtype=nw.String)
    index: nw.Expr = nw.col("code")
    for p, proc in procs.items():
        here = nw.col("process") == p
        n = len(proc.stages)
        for k, stage in enumerate(proc.stages):
            name = nw.when(here & (nw.col("final") == "open") & (nw.col("code") == k)).then(nw.lit(stage)) \
                .otherwise(name)
        name = nw.when(here & (nw.col("final") == "won")).then(nw.lit(proc.won)).otherwise(name)
        name = nw.when(here & (nw.col("final") == "lost")).then(nw.lit(proc.lost)).otherwise(name)
        index = nw.when(here & (nw.col("final") == "won")).then(nw.lit(n)).when(
            here & (nw.col("final") == "lost")).then(nw.lit(n + 1)).otherwise(index)
    return name, index.cast(nw.Int64)


def movement_deals(start: DealRows, end: DealRows, *, pushed: Any = None) -> nw.LazyFrame | None:
    """The deals taking part in the pipeline movement from ``start.as_of`` to ``end.as_of``, classified in the
    engine (lazy; see :mod:`salesplan.control.movement` for the categories).

    Columns ``opportunity_id, process, stage_start, stage_end, status_start, status_end, amount, flow, move``
    (``move`` only for deals open at both dates). A deal takes part when it was open at the start, created in the
    window, or closed at the start and reopened since (open at the end or closed again otherwise).

    Parameters
    ----------
    start, end : DealRows
        The deal rows at the two dates (same engine; ``end`` with ``amount`` and ``expected_close`` when the
        opportunities have them).
    pushed : DataFrame-like, optional
        ``opportunity_id`` of the deals whose expected close moved later in the window (same engine); without it
        no deal is ``pushed``.

    Returns
    -------
    narwhals.LazyFrame or None
        None when no deal exists at ``end``.
    """
    if end.last is None:
        return None
    stage, index = _stage_of(end.processes)
    attrs = end.attributes
    amount = nw.col("amount").cast(nw.Float64) if "amount" in attrs else nw.lit(None, dtype=nw.Float64)
    expected = nw.col("expected_close") if "expected_close" in attrs else nw.lit(None, dtype=nw.Datetime("us"))
    s1 = end.last.select(_OPP, "process", stage.alias("stage_end"), index.alias("_i1"), nw.col("final").alias("_f1"),
                         nw.col("closed_at").alias("_c1"), nw.col("moved_back").alias("_b1"), amount.alias("amount"),
                         expected.alias("_expected"))
    if start.last is not None:
        stage0, index0 = _stage_of(start.processes)
        s0 = start.last.select(_OPP, stage0.alias("stage_start"), index0.alias("_i0"), nw.col("final").alias("_f0"),
                               nw.col("closed_at").alias("_c0"), nw.col("moved_back").alias("_b0"))
        both_sides = s1.join(s0, on=_OPP, how="left")
    else:
        both_sides = s1.with_columns(stage_start=nw.lit(None, dtype=nw.String), _i0=nw.lit(None, dtype=nw.Int64),
                                     _f0=nw.lit(None, dtype=nw.String), _c0=nw.lit(None, dtype=nw.Datetime("us")),
                                     _b0=nw.lit(None, dtype=nw.Boolean))
    f0, f1 = nw.col("_f0"), nw.col("_f1")
    reopened = ~f0.is_null() & (f0 != "open") & ~((f1 == f0) & (nw.col("_c1") == nw.col("_c0"))).fill_null(False)
    frame = both_sides.with_columns(
        status_start=nw.when(reopened).then(nw.lit("reopened")).when(f0.is_null()).then(nw.lit("not_created"))
        .otherwise(f0), status_end=f1)
    frame = frame.filter(nw.col("status_start").is_in(["open", "not_created", "reopened"]))
    if pushed is not None:
        marks = nw.from_native(pushed).lazy().select(nw.col(_OPP).cast(nw.String)).unique().with_columns(
            _pushed=nw.lit(True))
        frame = frame.join(marks, on=_OPP, how="left").with_columns(nw.col("_pushed").fill_null(False))
    else:
        frame = frame.with_columns(_pushed=nw.lit(False))
    both = (nw.col("status_start") == "open") & (f1 == "open")
    regressed = nw.col("_b1").fill_null(False) & ~nw.col("_b0").fill_null(False)
    slipped = ~nw.col("_expected").is_null() & (nw.col("_expected") <= nw.lit(end.as_of.to_pydatetime()))
    frame = frame.with_columns(
        flow=nw.when(f1 == "won").then(nw.lit("won")).when(f1 == "lost").then(nw.lit("lost"))
        .when(nw.col("status_start") == "not_created").then(nw.lit("new_open"))
        .when(nw.col("status_start") == "reopened").then(nw.lit("reopened_open")).otherwise(nw.lit("carried")),
        move=nw.when(~both).then(nw.lit(None, dtype=nw.String))
        .when(nw.col("_i1") > nw.col("_i0")).then(nw.lit("advanced"))
        .when(regressed).then(nw.lit("regressed"))
        .when(nw.col("_pushed")).then(nw.lit("pushed"))
        .when(slipped).then(nw.lit("slipped")).otherwise(nw.lit("unchanged")),
    )
    return frame.select(_OPP, "process", "stage_start", "stage_end", "status_start", "status_end", "amount", "flow",
                        "move")


def movement_counts(start: DealRows, end: DealRows, *, pushed: Any = None) -> pd.DataFrame:
    """Deals and their amount per process and movement category (:data:`MOVEMENT_CATEGORIES`), counted in the
    engine from :func:`movement_deals`; only this table is collected.

    Returns
    -------
    DataFrame
        ``process`` (each process with deals taking part, sorted, then ``"(all)"``), ``category``, ``count``,
        ``value`` (sum of ``amount``, missing amounts counting 0).

    Examples
    --------
    >>> import pandas as pd
    >>> from salesplan import SalesProcess
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "b", "b"], "stage": ["lead", "lead", "won"],
    ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01"])})
    >>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "amount": [10.0, 20.0],
    ...                      "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    >>> proc = SalesProcess("p", ["lead"])
    >>> with DealRows(ev, proc, opps, as_of="2024-01-15") as t0, DealRows(ev, proc, opps, as_of="2024-03-01") as t1:
    ...     table = movement_counts(t0, t1)
    >>> table[table["process"] == "p"].set_index("category")["count"].loc[["open_at_start", "won", "open_at_end"]].tolist()
    [2, 1, 1]
    """
    cols = ["process", "category", "count", "value"]
    frame = movement_deals(start, end, pushed=pushed)
    marks = {
        "open_at_start": nw.col("status_start") == "open",
        "new": nw.col("status_start") == "not_created",
        "reopened": nw.col("status_start") == "reopened",
        "won": nw.col("status_end") == "won",
        "lost": nw.col("status_end") == "lost",
        "open_at_end": nw.col("status_end") == "open",
        **{m: nw.col("move") == m for m in MOVEMENT_CATEGORIES[6:]},
    }
    if frame is None:
        got = pd.DataFrame(columns=["process"])
    else:
        got = _collect(frame.with_columns(_amount=nw.col("amount").fill_null(0.0)).group_by("process").agg(
            *[mark.fill_null(False).cast(nw.Int64).sum().alias(f"n_{cat}") for cat, mark in marks.items()],
            *[nw.when(mark.fill_null(False)).then(nw.col("_amount")).otherwise(nw.lit(0.0)).sum().alias(f"v_{cat}")
              for cat, mark in marks.items()]))
    got = got.sort_values("process", kind="stable").set_index("process")
    rows = []
    for proc in [*got.index, "(all)"]:
        part = got if proc == "(all)" else got.loc[[proc]]
        for cat in MOVEMENT_CATEGORIES:
            count = int(part[f"n_{cat}"].sum()) if len(part) else 0
            value = float(part[f"v_{cat}"].astype(float).sum()) if len(part) else 0.0
            rows.append({"process": proc, "category": cat, "count": count, "value": round(value, 6)})
    return pd.DataFrame(rows, columns=cols)


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
    if len(cuts) == 1:
        with DealRows(stage_events, procs, opportunities, as_of=cuts[0], attributes=attributes) as one:
            return one.states(status=status, process=process, largest=largest)
    out = []
    per_pass = _dates_per_pass(stage_events, len(cuts))
    for lo in range(0, len(cuts), per_pass):
        with _one_pass():  # its temporary tables go when its summary is collected
            chunk = cuts[lo:lo + per_pass]
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
    later: DealRows | None = None,
) -> pd.DataFrame:
    """How many deals (and how much ``amount``) are in each state at each of ``dates``: the summary of
    :func:`deal_states`, aggregated in the engine.

    Parameters
    ----------
    stage_events, processes, opportunities
        As for :func:`deal_states`.
    dates : sequence of date-like
        The cuts.
    later : DealRows, optional
        The same deals' rows reduced at a cut no earlier than every date. Then only the *open* deals are counted,
        and the input checks that reduction made (known stages, links, events after creation) are not repeated.

    Returns
    -------
    DataFrame
        ``as_of, process, status, work_index, work_stage, stage, deals, value`` (``value`` sums ``amount``; NaN
        without that column). Cuts before the first deal have no rows.

    Notes
    -----
    Several dates are counted from each deal's state intervals in one pass over the events
    (:func:`_interval_counts`): the work grows with the events, not with events x dates.

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
    if not cuts:
        return _finish_counts(pd.DataFrame(), procs, False)
    if later is not None:
        if later.as_of < max(cuts):
            raise ConfigError(f"state_counts: later= is at {later.as_of}, before the date {max(cuts)}")
        if later.last is None:
            return _finish_counts(pd.DataFrame(), procs, False)
    elif len(cuts) == 1:
        with DealRows(stage_events, procs, opportunities, as_of=cuts[0], attributes=("amount",)) as one:
            return one.counts()
    if later is None:  # the checks of a reduction at the latest date (links, known stages, created before events)
        with _one_pass():
            if _rows_at(stage_events, opportunities, max(cuts), procs) is None:
                return _finish_counts(pd.DataFrame(), procs, False)
    frame, has_amount = _interval_counts(stage_events, opportunities, procs, cuts, open_only=later is not None)
    return _finish_counts(frame, procs, has_amount)


def _interval_counts(stage_events: Any, opportunities: Any, procs: dict[str, SalesProcess],
                     cuts: Sequence[pd.Timestamp], *, open_only: bool) -> tuple[pd.DataFrame, bool]:
    """Deals per (date, process, state) from each deal's state *intervals*: events, not events x dates.

    A deal's state at a cut (the path rules of :func:`salesplan.reduce.stages.reduce_stage_events` applied to the
    events known by then) changes only at its own events:

    * status: the outcome of its last event by the cut (the largest code at that time: won, lost, else open);
    * working stage: the furthest working stage seen by the cut (a running maximum; a skipped stage is entered
      with the next one, a move back undoes nothing); a won deal stands at its process's last working stage, a
      deal lost without a working-stage event at the first;
    * from ``created_at`` to its first event it is open in the first stage.

    So each (deal, distinct event time) starts a state that holds until the deal's next event time: one window
    pass over the events in the engine (a running maximum and the next time per deal). An interval
    ``[t, next)`` counts at the sorted dates ``d_i`` with ``t <= d_i < next``; it adds +1 at the first such
    index and -1 after the last, these deltas are summed per (process, status, stage, index) in the engine, and
    a cumulative sum over the indices gives the counts, so the work grows with the events, not with events x
    dates. Same counts as one reduction per date (tests/reduce/test_state_intervals.py).

    Returns
    -------
    (DataFrame, bool)
        ``as_of, process, final, code, deals, value`` rows with at least one deal; whether ``amount`` exists.
    """
    dates = sorted(set(cuts))
    last = dates[-1].to_pydatetime()
    n_dates = len(dates)
    ev = _lazy(stage_events, "stage_events")
    ev = _as_keys(_as_datetime(ev.select(_OPP, _STAGE, _AT), _AT, "stage_events"), _OPP, _STAGE)
    opp = _lazy(opportunities, "opportunities")
    names = opp.collect_schema().names()
    _require(opp, "opportunities", [_OPP, "created_at"] + (["process"] if len(procs) > 1 else []))
    opp = _as_datetime(_as_keys(opp, _OPP), "created_at", "opportunities")
    single = next(iter(procs)) if len(procs) == 1 else None
    has_amount = "amount" in names
    cols = [nw.col(_OPP), nw.col("created_at"),
            (nw.col("amount").cast(nw.Float64) if has_amount else nw.lit(0.0, dtype=nw.Float64)).alias("_v")]
    if single is None:
        opp = opp.filter(nw.col("process").is_in(list(procs))).select(*cols, nw.col("process").cast(nw.String))
    else:
        if "process" in names:
            opp = opp.filter(nw.col("process") == single)
        opp = opp.select(*cols, nw.lit(single).alias("process"))
    opp = opp.filter(nw.col("created_at") <= nw.lit(last))
    n = max(len(proc.stages) for proc in procs.values())
    code = nw.col("code")
    ev = ev.filter(nw.col(_AT) <= nw.lit(last)).join(opp.select(_OPP, "process", "_v"), on=_OPP, how="inner")
    points = ev.with_columns(code=_code_expr(procs, single, n)).group_by(_OPP, "process", "_v", _AT).agg(
        code.max().alias("_top"), nw.when(code < n).then(code).otherwise(nw.lit(-1)).max().alias("_work"))
    top = nw.col("_top")
    points = points.with_columns(
        _reach=nw.col("_work").cum_max().over(_OPP, order_by=_AT),
        _next=nw.col(_AT).shift(-1).over(_OPP, order_by=_AT),
    ).select(
        "process", "_v", nw.col(_AT).alias("_t"), "_next",
        nw.when(top == n).then(nw.lit("won")).when(top == n + 1).then(nw.lit("lost")).otherwise(nw.lit("open"))
        .alias("final"),
        nw.when(top == n).then(_proc_expr(procs, lambda p: len(p.stages) - 1))
        .otherwise(nw.max_horizontal(nw.col("_reach"), nw.lit(0))).cast(nw.Int64).alias("code"),
    )
    first = ev.group_by(_OPP).agg(nw.col(_AT).min().alias("_first"))
    before = opp.join(first, on=_OPP, how="left").filter(
        nw.col("_first").is_null() | (nw.col("created_at") < nw.col("_first"))).select(
        "process", "_v", nw.col("created_at").alias("_t"), nw.col("_first").alias("_next"),
        nw.lit("open").alias("final"), nw.lit(0).cast(nw.Int64).alias("code"))
    spans = nw.concat([points, before.select(points.collect_schema().names())], how="vertical")
    if open_only:
        spans = spans.filter(nw.col("final") == "open")

    def index(column: str) -> nw.Expr:  # how many dates come before the time: the first date it counts at
        return nw.sum_horizontal(*[(nw.col(column) > nw.lit(d.to_pydatetime())).cast(nw.Int64) for d in dates])

    spans = spans.with_columns(
        _i0=index("_t"),
        _i1=nw.when(nw.col("_next").is_null()).then(nw.lit(n_dates)).otherwise(index("_next")).cast(nw.Int64),
    ).filter(
        nw.col("_i0") < nw.col("_i1"))
    keys = ["process", "final", "code"]
    deltas = nw.concat([
        spans.select(*keys, nw.col("_i0").alias("_i"), nw.lit(1).cast(nw.Int64).alias("_d"), nw.col("_v")),
        spans.filter(nw.col("_i1") < n_dates).select(*keys, nw.col("_i1").alias("_i"),
                                                      nw.lit(-1).cast(nw.Int64).alias("_d"), -nw.col("_v")),
    ], how="vertical")
    got = _collect(deltas.group_by(*keys, "_i").agg(nw.col("_d").sum().alias("deals"),
                                                     nw.col("_v").sum().alias("value")))
    cols_out = ["as_of", *keys, "deals", "value"]
    if got.empty:
        return pd.DataFrame(columns=cols_out), has_amount
    got["value"] = _stable_sum(got["value"].fillna(0.0))  # the engine adds in varying order: fix the last bits
    grid = pd.MultiIndex.from_product([range(n_dates)], names=["_i"])
    wide = {}
    for what in ("deals", "value"):
        table = got.pivot_table(index=keys, columns="_i", values=what, aggfunc="sum", fill_value=0)
        wide[what] = table.reindex(columns=grid.get_level_values(0), fill_value=0).cumsum(axis=1)
    deals = wide["deals"].stack().rename("deals")
    value = wide["value"].stack().rename("value")
    out = pd.concat([deals, value], axis=1).reset_index()
    out = out[out["deals"] > 0]
    out["as_of"] = np.array(dates, dtype="datetime64[ns]")[out.pop("_i").to_numpy(dtype=np.int64)]
    out["value"] = _stable_sum(out["value"])
    out["process"] = out["process"].astype(object)
    out["final"] = out["final"].astype(object)
    return out[cols_out].reset_index(drop=True), has_amount


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
    with DealRows(stage_events, processes, opportunities, as_of=pd.Timestamp(as_of), attributes=("amount",)) as one:
        return one.closes()


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
    _check_freq(freq)
    with DealRows(stage_events, processes, opportunities, as_of=as_of, attributes=("created_at", "amount")) as one:
        return one.flows(freq)


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


#: Relative width of the amount bins of :func:`opportunity_amounts` beyond ``max_values`` (0.01%).
AMOUNT_BIN = 1e-4


def opportunity_amounts(opportunities: Any, *, as_of: Any, start: Any = None,
                        by: Sequence[str] = (), max_values: int | None = None,
                        count_only: bool = False) -> pd.DataFrame:
    """Distinct deal amounts per process (and ``by`` groups) with their weights, of the deals created in
    ``(start, as_of]``.

    ``process, *by, amount, weight`` (``amount`` NaN counts the deals without an amount). The empirical amount
    distribution of past deals, for valuing new deals and deals without an amount, without reading raw rows.

    ``max_values``: when the table would have more rows than this (millions of deals with amounts to the cent),
    the amounts are pooled in the engine into bins of relative width :data:`AMOUNT_BIN` on a log scale (sign
    kept; zero and missing amounts each their own bin), each bin standing for its deals at their mean amount.
    Weights and each group's total amount are kept (to rounding at 1e-6); a quantile moves by at most the bin
    width, 0.01%. Only the binned table is collected, so the collection does not grow with the number of deals.

    ``count_only``: only the deals per process and group (``process, *by, weight``), for callers that share work
    by the deals' count and not by their amounts.

    Examples
    --------
    >>> o = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "process": "p", "amount": [5.0, 5.0, None],
    ...                   "created_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    >>> opportunity_amounts(o, as_of="2024-12-31").to_dict("records")
    [{'process': 'p', 'amount': 5.0, 'weight': 2}, {'process': 'p', 'amount': nan, 'weight': 1}]
    >>> o2 = o.assign(amount=[100.0, 100.001, 300.0])
    >>> opportunity_amounts(o2, as_of="2024-12-31", max_values=2).to_dict("records")
    [{'process': 'p', 'amount': 100.0005, 'weight': 2}, {'process': 'p', 'amount': 300.0, 'weight': 1}]
    """
    opp = _lazy(opportunities, "opportunities")
    names = opp.collect_schema().names()
    opp = opp.filter(nw.col("created_at") <= nw.lit(to_naive_utc(as_of).to_pydatetime()))
    if start is not None:
        opp = opp.filter(nw.col("created_at") > nw.lit(pd.Timestamp(start).to_pydatetime()))
    amount = nw.col("amount").cast(nw.Float64) if "amount" in names else nw.lit(None, dtype=nw.Float64)
    by = list(by)
    if count_only:
        out = _collect(opp.group_by("process", *by).agg(nw.len().alias("weight")))
        return out.sort_values(["process", *by], kind="stable", na_position="last").reset_index(drop=True)
    opp = opp.with_columns(_amount=amount)
    grouped = opp.group_by("process", *by, "_amount").agg(nw.len().alias("weight"))
    if max_values is not None and int(_collect(grouped.select(nw.len().alias("n"))).iloc[0, 0]) > max_values:
        a = nw.col("_amount")
        # bin number: sign x (1e6 + round(ln|a| / width)), |a| floored at 1e-9 (ln of 0: zero has its own bin);
        # a missing amount (null or NaN) is bin 0
        mag = (a.abs().clip(lower_bound=1e-9).log() / AMOUNT_BIN).round(0) + 1e6
        missing = a.is_null() | a.is_nan()
        key = nw.when(missing).then(nw.lit(0.0)).otherwise(nw.when(a < 0).then(-mag).otherwise(mag))
        binned = opp.with_columns(_bin=key, _known=nw.when(missing).then(nw.lit(0.0)).otherwise(a))
        out = _collect(binned.group_by("process", *by, "_bin").agg(nw.len().alias("weight"),
                                                                     nw.col("_known").sum().alias("_sum")))
        out["amount"] = (out.pop("_sum").astype(float) / out["weight"]).round(6).where(out.pop("_bin") != 0)
        out = out[["process", *by, "amount", "weight"]]
    else:
        out = _collect(grouped).rename(columns={"_amount": "amount"})
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
