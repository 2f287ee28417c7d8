"""Reduce raw stage events to per-stage spells and weighted pattern counts, on any engine.

This is the only code of the funnel that touches raw event rows. It is written once against narwhals, so the same
function runs on pandas, Polars (eager or lazy), PyArrow or DuckDB relations, and it collects only small pandas
summaries: counts per ``(process, groups..., stage, outcome, days)`` pattern with a ``weight`` column.

The path rules (see :mod:`salesplan.funnel.paths` for the full statement) are applied here:

* events after ``as_of`` are not yet known and are ignored (counted in ``issues``);
* exact duplicate events (same opportunity, stage and time) count once;
* only an opportunity's last event can close it; an earlier won/lost event followed by later events is void
  (a reopened deal or a corrected outcome);
* an opportunity has reached stage *k* once it has entered *k* or any later working stage, or won; the entry time
  of *k* is the first time that happened (so a skipped stage is entered and left at the same moment, and a move
  back does not undo an advance);
* an opportunity's last reached working stage is where it is lost (if its last event is the lost outcome) or where
  it is open (censored at ``as_of``);
* opportunities without events (when ``opportunities`` is given) are open in the first stage since their creation.

How it runs: one group-by per process over the raw events, keyed by opportunity, with conditional minima and maxima
per stage code (no window functions, no sort, no deduplication pass); the stage entries are then suffix minima
across those columns, one row per opportunity, evaluated once (``materialise``). Duplicates, reopened outcomes and
moves back are counted from the same aggregates; only opportunities where that cannot be exact (three or more
events of one stage, a stage seen again after a later one) are re-read. The spell rows are a lazy union of one
projection per stage of that table, so they are never held in memory at once. pandas input (the tables of one call
together) is first moved once to Polars when it is installed, else its ids are encoded as shared categorical codes
(``_entry``): pandas groups strings slowly, and the figures are the same either way.

Examples
--------
>>> import pandas as pd
>>> from salesplan import SalesProcess
>>> from salesplan.reduce.stages import reduce_stage_events
>>> proc = SalesProcess("p", ["lead", "offer"])
>>> ev = pd.DataFrame({"opportunity_id": ["a", "a", "a", "b", "b"],
...                    "stage": ["lead", "offer", "won", "lead", "lost"],
...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-10",
...                                                  "2024-01-02", "2024-01-12"])})
>>> red = reduce_stage_events(ev, proc, as_of="2024-02-01")
>>> red.spells[["stage", "outcome", "days", "weight"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'stage': 'lead', 'outcome': 'advance', 'days': 2.0, 'weight': 1},
 {'stage': 'lead', 'outcome': 'loss', 'days': 10.0, 'weight': 1},
 {'stage': 'offer', 'outcome': 'advance', 'days': 7.0, 'weight': 1}]
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from salesplan._validation import check_freq
from salesplan.engines import current_row_limit, materialise, parse_datetime, released_after, seconds_between
from salesplan.errors import ConfigError, ParameterError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.process import SalesProcess

__all__ = ["StageReduction", "reduce_stage_events", "reduce_activities", "reduce_snapshot", "normalise_processes",
           "SPELL_COLUMNS"]

logger = logging.getLogger(__name__)

#: The engine (narwhals ``dt.truncate``) spelling of each period alias ``freq`` takes.
TRUNCATE = {"W": "1w", "M": "1mo", "Q": "1q", "Y": "1y"}

SPELL_COLUMNS = ["process", "stage_idx", "stage", "outcome", "days", "implied", "weight"]
_OPP, _STAGE, _AT = "opportunity_id", "stage", "entered_at"


@dataclass
class StageReduction:
    """Small weighted summaries of a stage-event log (all pandas).

    Attributes
    ----------
    spells : DataFrame
        ``process, <by...>, stage_idx, stage, outcome ('advance' / 'loss' / 'open'), days, implied, weight``:
        per stage entered, how the stay ended and after how many days (``open`` = censored at ``as_of``);
        ``implied`` marks entries implied by a later stage (skipped stages, zero days; move-back cases).
    closes : DataFrame
        ``process, <by...>, stage_idx, stage, final ('won' / 'lost' / 'open'), days, weight``: per stage entered,
        the opportunity's final status and the days from entering the stage to closing (or to ``as_of``).
    outcomes : DataFrame
        ``process, <by...>, cohort, closed_period, final, weight``: opportunities by creation (first entry) period,
        close period (missing when open) and final status.
    issues : DataFrame
        ``rule, rows, action``: what the path rules changed or dropped (see :mod:`salesplan.funnel.paths`).
    opportunities : DataFrame or None
        With ``keep_opportunities=True``: one row per opportunity, ``opportunity_id, process, <by...>, stage_idx,
        stage, final, days_in_stage, entered_stage_at, first_entered_at`` (its furthest working stage).
    as_of : Timestamp
        The data cut used.
    by : list of str
        Group columns.
    stale_after_days : float or None
        The rule the reduction applied (a stay open this long counts as lost), so that what reads deal states later
        (the pipeline forecast's open deals) applies the same one.
    """

    spells: pd.DataFrame
    closes: pd.DataFrame
    outcomes: pd.DataFrame
    issues: pd.DataFrame
    as_of: pd.Timestamp
    by: list[str] = field(default_factory=list)
    opportunities: pd.DataFrame | None = None
    stale_after_days: float | None = None


def normalise_processes(processes: SalesProcess | Mapping[str, SalesProcess]) -> dict[str, SalesProcess]:
    """A ``{name: SalesProcess}`` dict from one process or a mapping of them.

    Examples
    --------
    >>> from salesplan import SalesProcess
    >>> sorted(normalise_processes(SalesProcess("x", ["a"])))
    ['x']
    """
    if isinstance(processes, SalesProcess):
        return {processes.name: processes}
    if isinstance(processes, Mapping) and processes and all(isinstance(p, SalesProcess) for p in processes.values()):
        return {str(k): v for k, v in processes.items()}
    raise ParameterError(f"processes must be a SalesProcess or a non-empty mapping of name to SalesProcess, "
                      f"got {type(processes).__name__}")


def _collect(frame: Any, *, keep_text: Sequence[str] = ()) -> pd.DataFrame:
    """Collect to pandas with engine-independent dtypes (object strings, int64 counts, datetime64[ns]).

    Under :func:`salesplan.engines.row_limit` a result with more rows than the limit raises ``SchemaError``.
    Text columns named in ``keep_text`` keep the dtype the engine gave them (e.g. Arrow strings: no Python object
    per row), for columns that are only sorted or compared and then dropped.
    """
    limit = current_row_limit()
    if limit is not None:
        frame = frame.head(limit + 1)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    out = frame.to_pandas()
    if limit is not None and len(out) > limit:
        raise SchemaError.from_cases([{"table": "summary", "column": "*", "check": "max_rows", "key": "-",
                                       "value": f"more than {limit} rows; a summary was expected, not raw rows"}])
    for col in out.columns:
        dtype = out[col].dtype
        if col in keep_text:
            continue
        if isinstance(dtype, pd.StringDtype | pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
            out[col] = _object_strings(out[col])
        elif isinstance(dtype, pd.DatetimeTZDtype):  # Spark TIMESTAMP results come back zone-aware
            out[col] = to_naive_utc(out[col])
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[col] = out[col].astype("datetime64[ns]")
        elif pd.api.types.is_integer_dtype(dtype):
            out[col] = out[col].astype("int64")
    return out


#: A collected text column whose first rows hold at most this many distinct values (of :data:`_SAMPLE`) is
#: turned into Python strings through its distinct values, so each value is one shared object (a process, a
#: stage, an owner), not one object per row (issue 13: millions of open deals).
_FEW, _SAMPLE = 256, 4096


def _object_strings(column: pd.Series) -> pd.Series:
    """The column as object dtype with ``None`` for missing values; repeated values share one Python string
    when its first :data:`_SAMPLE` rows hold few distinct values (the values are the same either way)."""
    text = isinstance(column.dtype, pd.StringDtype | pd.CategoricalDtype)  # not object: 1 == True would merge
    if text and len(column) > _SAMPLE and column.iloc[:_SAMPLE].nunique(dropna=True) <= _FEW:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        values = np.append(np.asarray(uniques, dtype=object), None)  # code -1 (missing) takes the last: None
        return pd.Series(values[codes], index=column.index, name=column.name, dtype=object)
    return column.astype(object).where(column.notna(), None)


def _materialise(frame: Any) -> Any:
    """Evaluate a lazy plan once (so later summaries do not re-run its window functions).

    pandas stays pandas; Polars is collected by Polars; DuckDB keeps the result in a temporary table (spilled to
    disk beyond its memory limit) and Spark checkpoints it, so large inputs stay in their engine
    (:func:`salesplan.engines.materialise`).
    """
    return materialise(frame)


def _lazy(native: Any, table: str) -> nw.LazyFrame:
    try:
        frame = nw.from_native(native)
    except TypeError as exc:
        raise SchemaError(f"{table}: expected a DataFrame (pandas, Polars, PyArrow, DuckDB), "
                          f"got {type(native).__name__}") from exc
    return frame.lazy() if isinstance(frame, nw.DataFrame) else frame


#: How pandas tables enter a reduction (internal switch, compared in tests/funnel/test_fast_entry.py):
#: ``"auto"`` Polars when installed, else ``"codes"``; ``"polars"``; ``"codes"`` (pandas with ids as shared
#: categorical codes); ``"off"`` (pandas as given).
FAST_ENTRY = "auto"

# Per table a reduction reads: the columns it needs, its key columns (value: the name of the id they share, so
# that joined tables are encoded together) and its date columns.
_ENTRY_TABLES: dict[str, tuple[list[str] | None, dict[str, str], list[str]]] = {
    "stage_events": ([_OPP, _STAGE, _AT], {_OPP: _OPP, _STAGE: _STAGE}, [_AT]),
    "opportunities": (None, {_OPP: _OPP, "customer_id": "customer_id"}, ["created_at"]),
    "customers": (None, {"customer_id": "customer_id"}, []),
    "activities": (["kind", "date", _OPP], {_OPP: _OPP, "kind": "kind"}, ["date"]),
}


def _entry_mode() -> str:
    if FAST_ENTRY != "auto":
        return FAST_ENTRY
    try:
        import polars  # noqa: F401
    except ImportError:  # polars is an optional extra; categorical codes measured slower than pandas 3 strings
        return "off"
    return "polars"


def _entry(**tables: Any) -> dict[str, Any]:
    """The pandas tables of one reduction, moved together to the fastest engine available.

    pandas groups and joins strings slowly (every group-by hashes the ids again), so pandas input is converted
    once, here, before any work: to Polars when it is installed (all tables, so they join on one engine), else
    the ids stay in pandas but as categorical codes shared by the tables that join on them (``opportunity_id``
    of events, opportunities and activities; ``customer_id`` of opportunities and customers). Key columns are
    cast to strings and text dates parsed on pandas first, so the values are exactly the ones pandas would have
    used; tables of other engines, and tables missing a column the reduction requires (so that its error is
    raised as before), are passed through unchanged. The caller's frames are never modified.

    Parameters
    ----------
    **tables
        ``stage_events``, ``opportunities``, ``customers``, ``activities``: native tables or None.

    Returns
    -------
    dict
        The same keys, each a native table (a Polars LazyFrame, a pandas DataFrame with categorical ids, or the
        input unchanged).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": ["lead", "won"],
    ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    >>> opp = pd.DataFrame({"opportunity_id": ["b", "c"]})
    >>> type(_entry(stage_events=ev, opportunities=opp)["opportunities"]).__name__  # Polars installed
    'LazyFrame'
    """
    mode = _entry_mode()
    given = {name: frame for name, frame in tables.items() if frame is not None}
    if mode == "off" or not any(isinstance(f, pd.DataFrame) for f in given.values()):
        return tables
    for name, frame in given.items():
        columns = _ENTRY_TABLES[name][0]
        if isinstance(frame, pd.DataFrame) and columns and not set(columns) <= set(frame.columns):
            return tables  # the reduction raises its missing-column error on the input as given
    if mode == "polars" and not all(isinstance(f, pd.DataFrame) or type(f).__module__.startswith("polars")
                                    for f in given.values()):
        return tables
    if mode == "codes" and not all(isinstance(f, pd.DataFrame) for f in given.values()):
        return tables
    ready = {name: _entry_prepare(frame, name) if isinstance(frame, pd.DataFrame) else frame
             for name, frame in given.items()}
    if mode == "polars":
        import polars as pl

        try:
            moved = {name: pl.from_pandas(frame, rechunk=False).lazy() if isinstance(frame, pd.DataFrame) else frame
                     for name, frame in ready.items()}
            return {**tables, **moved}
        except Exception as exc:  # noqa: BLE001 - e.g. an object column of mixed types Arrow cannot hold
            logger.debug("pandas input kept in pandas (not convertible to Polars: %s); ids encoded", exc)
    return {**tables, **_entry_codes(ready)}


def _entry_prepare(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Key columns as strings and text dates parsed, both as the pandas path does it (a new frame)."""
    columns, keys, dates = _ENTRY_TABLES[name]
    nwf = nw.from_native(frame[columns] if columns else frame, eager_only=True)
    schema = nwf.schema
    exprs = [nw.col(c).cast(nw.String) for c in keys if c in schema and not _string_codes(frame[c])]
    for c in dates:
        if c in schema and schema[c] == nw.String:
            exprs.append(parse_datetime(nw.col(c), nwf.implementation))
        elif c in schema and (schema[c] == nw.Datetime or schema[c] == nw.Date):
            exprs.append(nw.col(c).cast(nw.Datetime("us")))
    return nwf.with_columns(*exprs).to_native() if exprs else nwf.to_native()


def _string_codes(series: pd.Series) -> bool:
    """A categorical of strings (ids encoded by :func:`_entry_codes`, kept as they are)."""
    return isinstance(series.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(series.cat.categories)


def _entry_codes(ready: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """pandas tables whose key columns are categoricals with one set of categories per shared id.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": ["lead", "won"]})
    >>> opp = pd.DataFrame({"opportunity_id": ["b", "c"]})
    >>> out = _entry_codes({"stage_events": ev, "opportunities": opp})
    >>> out["opportunities"]["opportunity_id"].cat.codes.tolist()  # "b" is code 1 in both tables
    [1, 2]
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, frame in ready.items():
        for col, group in _ENTRY_TABLES[name][1].items():
            if col in frame.columns:
                groups.setdefault(group, []).append((name, col))
    out = dict(ready)
    for members in groups.values():
        series = [ready[name][col] for name, col in members]
        if all(isinstance(s.dtype, pd.CategoricalDtype) and s.dtype == series[0].dtype for s in series):
            continue  # encoded together already (a reduction calling another one)
        series = [s.astype(s.cat.categories.dtype) if isinstance(s.dtype, pd.CategoricalDtype) else s
                  for s in series]
        codes, uniques = pd.factorize(pd.concat(series, ignore_index=True) if len(series) > 1 else series[0])
        dtype = pd.CategoricalDtype(pd.Index(uniques))
        start = 0
        for (name, col), part in zip(members, series, strict=True):
            values = pd.Categorical.from_codes(codes[start:start + len(part)], dtype=dtype)
            out[name] = out[name].assign(**{col: values})
            start += len(part)
    return out


def _as_keys(frame: nw.LazyFrame, *columns: str) -> nw.LazyFrame:
    """Key columns as strings; pandas categoricals (ids encoded by :func:`_entry`) keep their codes."""
    schema = frame.collect_schema()
    native = frame.to_native() if frame.implementation.is_pandas_like() else None
    casts = [nw.col(c).cast(nw.String) for c in columns
             if not (native is not None and schema[c] == nw.Categorical and _string_codes(native[c]))]
    return frame.with_columns(*casts) if casts else frame


def _require(frame: nw.LazyFrame, table: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.collect_schema().names()]
    if missing:
        cases = pd.DataFrame({"table": table, "column": missing, "check": "required", "key": "-", "value": ""})
        raise SchemaError.from_cases(cases)


def _as_datetime(frame: nw.LazyFrame, column: str, table: str) -> nw.LazyFrame:
    dtype = frame.collect_schema()[column]
    if dtype == nw.Datetime or dtype == nw.Date:
        return frame.with_columns(nw.col(column).cast(nw.Datetime("us")))
    if dtype == nw.String:
        return frame.with_columns(parse_datetime(nw.col(column), frame.implementation))
    raise SchemaError.from_cases([{"table": table, "column": column, "check": "date", "key": "-",
                                   "value": f"dtype {dtype}"}])


def _code_expr(processes: Mapping[str, SalesProcess], single: str | None, n_stages: int) -> nw.Expr:
    """Stage code: 0..k-1 a process's k working stages, ``n_stages`` won, ``n_stages + 1`` lost, null unknown.

    ``n_stages`` is the largest number of working stages of any process, so the outcomes of every process share
    two codes and all processes are reduced in one layout (codes k..n_stages-1 stay unused by a shorter process).
    """
    expr = None
    for name, proc in processes.items():
        n_here = len(proc.stages)
        for index, stage in enumerate(proc.all_stages):
            code = index if index < n_here else n_stages + index - n_here
            cond = nw.col(_STAGE) == stage
            if single is None:
                cond = cond & (nw.col("process") == name)
            expr = nw.when(cond).then(nw.lit(code)) if expr is None else expr.when(cond).then(nw.lit(code))
    return expr.otherwise(None)


def _proc_expr(processes: Mapping[str, SalesProcess], value: Any) -> nw.Expr:
    """Per-row constant of each process (e.g. its number of working stages)."""
    expr = None
    for name, proc in processes.items():
        val = value(proc)
        cond = nw.col("process") == name
        expr = nw.when(cond).then(nw.lit(val)) if expr is None else expr.when(cond).then(nw.lit(val))
    return expr.otherwise(None)


def _seconds(later: nw.Expr, earlier: nw.Expr, impl: nw.Implementation | None = None) -> nw.Expr:
    """Seconds between two datetimes (float). The engine's own duration arithmetic where narwhals has it (same
    value as :func:`~salesplan.engines.seconds_between`, about 50x faster on Polars); that portable calendar
    arithmetic elsewhere ((later - earlier).dt.total_seconds() is missing for Spark)."""
    if impl is not None and (impl.is_polars() or impl.is_duckdb() or impl.is_pandas_like() or impl.is_pyarrow()):
        return (later - earlier).dt.total_microseconds().cast(nw.Float64) / 1_000_000
    return seconds_between(later, earlier)


def _days(later: nw.Expr, earlier: nw.Expr, resolution_hours: float,
          impl: nw.Implementation | None = None) -> nw.Expr:
    step = 3600.0 * resolution_hours
    return (_seconds(later, earlier, impl) // step) * (resolution_hours / 24.0)


@released_after
def reduce_stage_events(
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess],
    opportunities: Any = None,
    *,
    by: Sequence[str] | str | None = None,
    customers: Any = None,
    as_of: Any = None,
    resolution_hours: float = 1.0,
    cohort_freq: str = "M",
    keep_opportunities: bool = False,
    stale_after_days: float | None = None,
) -> StageReduction:
    """Reduce a stage-event log to weighted spell patterns (engine-agnostic, narwhals).

    Parameters
    ----------
    stage_events : DataFrame-like
        ``opportunity_id, stage, entered_at`` in pandas, Polars (eager or lazy), PyArrow or DuckDB.
    processes : SalesProcess or mapping of name to SalesProcess
        With a mapping, ``opportunities`` must give each opportunity's ``process``.
    opportunities : DataFrame-like, optional
        ``opportunity_id`` plus ``process``, ``created_at`` and group columns; same engine as the events.
        When given, opportunities without events are open in the first stage since ``created_at``, and events of
        unknown opportunities are an error.
    by : str or list of str, optional
        Group columns of ``opportunities`` (or of ``customers``, joined on ``customer_id``). The name
        ``"cohort"`` is the first-entry period (``cohort_freq``) and needs no column.
    customers : DataFrame-like, optional
        ``customer_id`` and attributes, for ``by`` columns that live on the customer.
    as_of : date-like, optional
        Data cut; events after it are ignored. Default: the latest event.
    resolution_hours : float
        Durations are floored to this many hours (default 1) so that patterns repeat; 24 gives whole days.
    cohort_freq : {"W", "M", "Q", "Y"}
        Period of the ``cohort`` and ``closed_period`` columns.
    keep_opportunities : bool
        Also return one row per opportunity (its furthest stage, status and days in that stage).
    stale_after_days : float, optional
        For data that never records losses (e.g. Olist): a stay still open after this many days counts as lost
        at that day (and the deal as lost). Events that did happen later still count. Default: no such rule.

    Returns
    -------
    StageReduction

    Raises
    ------
    SchemaError
        Missing columns, unknown stages (``known_stage``), events of unknown opportunities
        (``known_opportunity``), events before the opportunity's creation (``after_created``), an opportunity
        without a known process (``known_process``).
    """
    procs = normalise_processes(processes)
    cohort_freq = TRUNCATE[check_freq(cohort_freq, "cohort_freq")]
    by_cols = [by] if isinstance(by, str) else list(by or [])
    built = _build_rows(stage_events, procs, opportunities, by_cols, customers, as_of, resolution_hours,
                        cohort_freq, stale_after_days)
    rows, issues, as_of_ts = built["rows"], built["issues"], built["as_of"]
    cust_cols, opp = built["cust_cols"], built["opp"]
    if by_cols and cust_cols:
        rows = rows.join(opp.select(_OPP, *cust_cols), on=_OPP, how="left")
    keys = ["process", *by_cols, "code"]
    spells = _collect(rows.group_by(*keys, "outcome", "days", "implied").agg(nw.len().alias("weight")))
    closes = _collect(rows.group_by(*keys, "final", "close_days").agg(nw.len().alias("weight")))
    first_rows = rows.filter(nw.col("is_first")).with_columns(
        closed_period=nw.when(nw.col("final") != "open").then(nw.col("closed_at").dt.truncate(cohort_freq))
        .otherwise(None))
    okeys = ["process", *[c for c in by_cols if c != "cohort"], "cohort", "closed_period", "final"]
    outcomes = _collect(first_rows.group_by(*okeys).agg(nw.len().alias("weight")))
    n_implied = int(spells.loc[spells["implied"].astype(bool), "weight"].sum())
    issues["skipped or implied stage entry"] = (n_implied, "entered and advanced at the later stage's entry time "
                                                           "(zero days; excluded from durations)")
    per_opp = None
    if keep_opportunities:
        last = rows.filter(nw.col("is_last"))
        extra = [c for c in cust_cols]
        per_opp = _collect(last.select(_OPP, "process", *extra, "code", "final", "days", "t_entry",
                                       "first_entered_at"))
        per_opp = per_opp.rename(columns={"days": "days_in_stage", "t_entry": "entered_stage_at"})
        per_opp = _add_stage_names(per_opp, procs).sort_values(_OPP, kind="stable").reset_index(drop=True)

    spells = _finish(spells.rename(columns={"code": "stage_idx"}), procs, keys, ["outcome", "days", "implied"])
    spells["implied"] = spells["implied"].astype(bool)
    closes = _finish(closes.rename(columns={"code": "stage_idx", "close_days": "days"}), procs, keys,
                     ["final", "days"])
    outcomes = _normalise_dates(outcomes, ["cohort", "closed_period"])
    outcomes["weight"] = outcomes["weight"].astype("int64")
    outcomes = outcomes.sort_values(okeys, kind="stable", na_position="last").reset_index(drop=True)
    if by_cols and "cohort" in by_cols:
        spells = _normalise_dates(spells, ["cohort"])
        closes = _normalise_dates(closes, ["cohort"])
    issue_frame = pd.DataFrame([(k, v[0], v[1]) for k, v in issues.items()], columns=["rule", "rows", "action"])
    for rule, n_rows, action in issue_frame.itertuples(index=False):
        if n_rows and rule != "skipped or implied stage entry":
            logger.warning("stage_events: %d row(s) hit the rule %r: %s", n_rows, rule, action)
    return StageReduction(spells=spells, closes=closes, outcomes=outcomes, issues=issue_frame, as_of=as_of_ts,
                          by=by_cols, opportunities=per_opp, stale_after_days=stale_after_days)


def _normalise_dates(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    for c in cols:
        if c in frame.columns:
            frame[c] = pd.to_datetime(frame[c]).astype("datetime64[ns]")
    return frame


def _add_stage_names(frame: pd.DataFrame, procs: Mapping[str, SalesProcess]) -> pd.DataFrame:
    frame = frame.rename(columns={"code": "stage_idx"})
    frame["stage_idx"] = frame["stage_idx"].astype("int64")
    names = {(n, i): s for n, p in procs.items() for i, s in enumerate(p.stages)}
    frame.insert(frame.columns.get_loc("stage_idx") + 1, "stage",
                 [names[(p, i)] for p, i in zip(frame["process"], frame["stage_idx"], strict=True)])
    return frame


def _finish(frame: pd.DataFrame, procs: Mapping[str, SalesProcess], keys: Sequence[str],
            rest: Sequence[str]) -> pd.DataFrame:
    frame = frame.rename(columns={"code": "stage_idx"})
    frame = _add_stage_names(frame, procs)
    frame["days"] = frame["days"].astype(float)
    frame["weight"] = frame["weight"].astype("int64")
    order = [("stage_idx" if k == "code" else k) for k in keys] + list(rest)
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)
    cols = [("stage_idx" if k == "code" else k) for k in keys]
    cols = cols[:-1] + ["stage_idx", "stage", *rest, "weight"]
    return frame[cols]


def _group_source(opp: nw.LazyFrame | None, customers: Any, cols: Sequence[str]) -> nw.LazyFrame:
    if opp is None:
        raise ConfigError(f"by={list(cols)} needs the opportunities table (group columns live there or on the "
                          f"customer)")
    have = opp.collect_schema().names()
    missing = [c for c in cols if c not in have]
    if not missing:
        return opp
    if customers is None:
        raise SchemaError.from_cases([{"table": "opportunities", "column": c, "check": "required", "key": "-",
                                       "value": "by= column not in opportunities (pass customers=?)"}
                                      for c in missing])
    cust = _lazy(customers, "customers")
    _require(cust, "customers", ["customer_id", *missing])
    _require(opp, "opportunities", ["customer_id"])
    cust = _as_keys(cust.select("customer_id", *missing), "customer_id")
    return _as_keys(opp, "customer_id").join(cust, on="customer_id", how="left")


def _check_links(ev: nw.LazyFrame, opp: nw.LazyFrame | None, procs: Mapping[str, SalesProcess],
                 single: str | None) -> None:
    if opp is None:
        return
    known = opp.select(nw.col(_OPP).alias("_known"))
    missing = ev.join(known, left_on=_OPP, right_on="_known", how="anti")
    bad = _collect(missing.select(_OPP, _STAGE).head(20))
    if len(bad) and single is None:
        cases = pd.DataFrame({"table": "stage_events", "column": _OPP, "check": "known_opportunity",
                              "key": bad[_OPP].astype(str), "value": bad[_STAGE].astype(str)})
        raise SchemaError.from_cases(cases)
    if single is None:
        unknown = opp.filter(~nw.col("process").is_in(list(procs)) | nw.col("process").is_null())
        bad = _collect(unknown.select(_OPP, "process").head(20))
        if len(bad):
            cases = pd.DataFrame({"table": "opportunities", "column": "process", "check": "known_process",
                                  "key": bad[_OPP].astype(str), "value": bad["process"].astype(str)})
            raise SchemaError.from_cases(cases)


def as_datetime(value: Any) -> _dt.datetime:
    """A python datetime from any date-like value (helper for literals in narwhals expressions).

    Examples
    --------
    >>> as_datetime("2024-01-02").isoformat()
    '2024-01-02T00:00:00'
    """
    return pd.Timestamp(value).to_pydatetime()


def _per_opportunity(events: nw.LazyFrame, n: int, cut: _dt.datetime) -> nw.LazyFrame:
    """One row per opportunity: the path rules without window functions.

    ``events`` holds ``opportunity_id, process, code, entered_at`` rows (duplicates included), coded in one layout
    for all processes (:func:`_code_expr`: working stages from 0, ``n`` = won, ``n + 1`` = lost, ``n`` the most
    working stages of any process). One group-by gives, per opportunity (and its process) and stage code ``k``,
    the first and last time (``_f<k>``, ``_g<k>``; duplicates change neither) and the number of events. A process
    with fewer working stages has no events in the codes between its last working stage and ``n``, so every column
    below is the same as in a layout of its own. From these:

    * the last event time, and ``final_code``: the largest code seen at that time;
    * ``_e<k>``: entry of working stage ``k``, the suffix minimum over later stages (``_e<n>`` is the won entry
      when the deal ends won), so a skipped stage is entered with the next one and a move back undoes nothing;
    * ``_implied<k>``: the entry is implied by a later stage (stage ``k`` itself was first seen later or never);
    * ``_back``: some event of stage ``k`` came after the first entry of a later working stage (``_s<k>``);
    * ``_rows`` / ``_outcomes``: distinct events / distinct won-lost events, exact when every code has at most
      one event or two at different times (the event count equals that lower bound); otherwise ``_amb`` is set
      and the caller counts those opportunities exactly.
    """
    codes = range(n + 2)
    code, at = nw.col("code"), nw.col(_AT)
    src = {f"_a{k}": nw.when(code == k).then(at) for k in codes}
    impl = events.implementation
    if not (impl.is_polars() or impl.is_duckdb()):  # conditional aggregations only where the engine runs them
        events = events.with_columns(**src)  # (pandas and PyArrow group-bys take plain column aggregations)
        src = {name: nw.col(name) for name in src}
    wide = events.group_by(_OPP, "process").agg(
        *[src[f"_a{k}"].min().alias(f"_f{k}") for k in codes],
        *[src[f"_a{k}"].max().alias(f"_g{k}") for k in codes],
        nw.len().alias("_len"),
    )
    lower = {k: (~nw.col(f"_f{k}").is_null()).cast(nw.Int64) + (nw.col(f"_f{k}") < nw.col(f"_g{k}"))
             .fill_null(False).cast(nw.Int64) for k in codes}
    wide = wide.with_columns(_t_last=nw.max_horizontal(*[f"_g{k}" for k in codes]),
                             _rows=nw.sum_horizontal(*lower.values()), _outcomes=lower[n] + lower[n + 1])
    last_code = None
    for k in codes:  # the largest code at the last time
        hit = nw.col(f"_g{k}") == nw.col("_t_last")
        last_code = nw.when(hit).then(nw.lit(k)) if last_code is None else nw.when(hit).then(nw.lit(k)).otherwise(
            last_code)
    final_code = nw.col("final_code")
    wide = wide.with_columns(final_code=last_code, _amb=nw.col("_len") > nw.col("_rows")).with_columns(
        final=nw.when(final_code == n).then(nw.lit("won")).when(final_code == n + 1).then(nw.lit("lost"))
        .otherwise(nw.lit("open")),
        closed_at=nw.when(final_code >= n).then(nw.col("_t_last")).otherwise(nw.lit(cut)),
        **{f"_e{n}": nw.when(final_code == n).then(nw.col(f"_f{n}"))},
    )
    for k in range(n - 1, -1, -1):
        wide = wide.with_columns(nw.min_horizontal(f"_f{k}", f"_e{k + 1}").alias(f"_e{k}"))
    # a deal lost without any working-stage event entered the first stage (implied) when it was lost
    wide = wide.with_columns(nw.when(nw.col("_e0").is_null() & (final_code == n + 1)).then(nw.col(f"_f{n + 1}"))
                             .otherwise(nw.col("_e0")).alias("_e0"))
    if n >= 2:
        wide = wide.with_columns(nw.col(f"_f{n - 1}").alias(f"_s{n - 2}"))
        for k in range(n - 3, -1, -1):
            wide = wide.with_columns(nw.min_horizontal(f"_f{k + 1}", f"_s{k + 1}").alias(f"_s{k}"))
        back = nw.any_horizontal(*[(nw.col(f"_g{k}") > nw.col(f"_s{k}")).fill_null(False) for k in range(n - 1)],
                                 ignore_nulls=True)
    else:
        back = nw.lit(False)
    implied = {f"_implied{k}": nw.col(f"_f{k}").is_null() | (nw.col(f"_f{k}") > nw.col(f"_e{k}"))
               for k in range(n)}
    return wide.with_columns(_back=back, **implied).select(
        _OPP, "process", "final_code", "final", "closed_at", *[f"_e{k}" for k in range(n + 1)], *implied,
        *[f"_s{k}" for k in range(n - 1)], "_back", "_rows", "_outcomes", "_amb")


def _build_rows(stage_events: Any, procs: dict[str, SalesProcess], opportunities: Any, by_cols: list[str],
                customers: Any, as_of: Any, resolution_hours: float, cohort_freq: str,
                stale_after_days: float | None = None) -> dict[str, Any]:
    """Lazy per-(opportunity, stage) spell rows plus what the path rules did (shared by the reductions)."""
    if resolution_hours <= 0:
        raise ConfigError(f"resolution_hours must be > 0, got {resolution_hours}")
    entered = _entry(stage_events=stage_events, opportunities=opportunities, customers=customers)
    stage_events, opportunities, customers = (entered[k] for k in ("stage_events", "opportunities", "customers"))
    ev = _lazy(stage_events, "stage_events")
    _require(ev, "stage_events", [_OPP, _STAGE, _AT])
    ev = _as_datetime(ev.select(_OPP, _STAGE, _AT), _AT, "stage_events")
    ev = _as_keys(ev, _OPP, _STAGE)

    opp = opp_all = None
    issues: dict[str, tuple[int, str]] = {}
    if opportunities is not None:
        opp = _lazy(opportunities, "opportunities")
        need = [_OPP] + (["process"] if len(procs) > 1 else [])
        _require(opp, "opportunities", need)
        opp = opp_all = _as_keys(opp, _OPP)
        names = opp.collect_schema().names()
        if "process" in names and len(procs) == 1:
            only = next(iter(procs))
            opp = opp.filter(nw.col("process") == only)
        if "created_at" in names:
            opp = _as_datetime(opp, "created_at", "opportunities")
    elif len(procs) > 1:
        raise ConfigError("several processes given: pass `opportunities` with a `process` column so that each "
                          "event can be assigned to its process")
    cust_cols = [c for c in by_cols if c != "cohort"]
    if cust_cols:
        opp = _group_source(opp, customers, cust_cols)

    single = next(iter(procs)) if len(procs) == 1 else None
    if as_of is None:
        as_of_ts = pd.Timestamp(_collect(ev.select(nw.col(_AT).max())).iloc[0, 0])
        if pd.isna(as_of_ts):
            raise SchemaError.from_cases([{"table": "stage_events", "column": _AT, "check": "empty",
                                           "key": "-", "value": "no events"}])
    else:
        as_of_ts = to_naive_utc(as_of)
    cut = as_of_ts.to_pydatetime()

    # --- attach process, check links ------------------------------------------------------------------
    _check_links(ev, opp_all, procs, single)
    if single is not None:
        if opp is not None:  # events of other processes' (or unlisted) opportunities are not part of this funnel
            n_before = int(_collect(ev.select(nw.len())).iloc[0, 0])
            ev = ev.join(opp.select(_OPP), on=_OPP, how="inner")
            n_outside = n_before - int(_collect(ev.select(nw.len())).iloc[0, 0])
            issues["event of an opportunity outside the table or process"] = (n_outside, "ignored")
        ev = ev.with_columns(process=nw.lit(single))
    else:
        ev = ev.join(opp.select(_OPP, "process"), on=_OPP, how="left")
    n_stages = max(len(proc.stages) for proc in procs.values())
    ev = ev.with_columns(code=_code_expr(procs, single, n_stages))
    counts = _collect(ev.select(
        nw.len().alias("all"),
        (nw.col(_AT) > nw.lit(cut)).cast(nw.Int64).sum().alias("after"),
        nw.col("code").is_null().cast(nw.Int64).sum().alias("bad"),
    ))
    n_all, n_after, n_bad = (int(counts.iloc[0, i]) for i in range(3))
    if n_bad:
        bad = _collect(ev.filter(nw.col("code").is_null()).select(_OPP, "process", _STAGE).head(20))
        cases = pd.DataFrame({"table": "stage_events", "column": "stage", "check": "known_stage",
                              "key": bad[_OPP].astype(str),
                              "value": bad[_STAGE].astype(str) + " (process " + bad["process"].astype(str) + ")"})
        raise SchemaError(SchemaError.from_cases(cases).args[0] + f"\n  ({n_bad} event(s) in total; stages of "
                          + "; ".join(f"{k}: {list(p.all_stages)}" for k, p in procs.items()) + ")", cases)
    if opp is not None and "created_at" in opp.collect_schema().names():
        early = ev.join(opp.select(_OPP, "created_at"), on=_OPP, how="inner").filter(
            nw.col(_AT) < nw.col("created_at"))
        bad = _collect(early.select(_OPP, _STAGE, _AT, "created_at").head(20))
        if len(bad):
            cases = pd.DataFrame({"table": "stage_events", "column": _AT, "check": "after_created",
                                  "key": bad[_OPP].astype(str),
                                  "value": bad[_AT].astype(str) + " < created " + bad["created_at"].astype(str)})
            raise SchemaError.from_cases(cases)

    # --- cut, duplicates, void outcomes, moves back: one group-by per opportunity and process -----------------
    ev = ev.filter(nw.col(_AT) <= nw.lit(cut))
    n_kept = n_void = n_back = n_with_events = 0
    # every process in one pass, in one layout of codes (see _code_expr): a process with fewer working stages than
    # n never has the codes between its own and n, so its entries, suffix minima and flags are those of its own
    # layout, and one group-by, one set of expressions and one materialised table serve all processes
    n = n_stages
    sub = ev.select(_OPP, "process", "code", _AT)
    wide = _materialise(_per_opportunity(sub, n, cut))
    sure = ~nw.col("_amb")
    stats = _collect(wide.select(
        nw.when(sure).then(nw.col("_rows")).sum().alias("rows"),
        (nw.when(sure).then(nw.col("_outcomes") - (nw.col("final_code") >= n).cast(nw.Int64)).sum())
        .alias("void"),
        nw.col("_back").cast(nw.Int64).sum().alias("back"),
        nw.col("_amb").cast(nw.Int64).sum().alias("amb"),
        (~nw.col("_e0").is_null()).cast(nw.Int64).sum().alias("entered"),
    ))
    n_kept += int(stats.iloc[0, 0])
    n_void += int(stats.iloc[0, 1])
    n_with_events += int(stats.iloc[0, 4])
    if int(stats.iloc[0, 3]):  # distinct events of opportunities with 3+ events of one stage (rare: re-run)
        amb = wide.filter(nw.col("_amb")).select(_OPP, "final_code")
        exact = _collect(sub.join(amb, on=_OPP, how="inner").unique([_OPP, "code", _AT]).select(
            nw.len().alias("rows"),
            ((nw.col("code") >= n).cast(nw.Int64).sum()).alias("out")))
        closed = int(_collect(amb.select((nw.col("final_code") >= n).cast(nw.Int64).sum())).iloc[0, 0])
        n_kept += int(exact.iloc[0, 0])
        n_void += int(exact.iloc[0, 1]) - closed
    if int(stats.iloc[0, 2]):  # exact count of events behind a later stage's first entry (rare: re-run)
        suffix = [f"_s{c}" for c in range(n - 1)]
        cand = sub.filter(nw.col("code") < n - 1).join(
            wide.filter(nw.col("_back")).select(_OPP, *suffix), on=_OPP, how="inner").unique([_OPP, "code", _AT])
        behind = nw.sum_horizontal(*[((nw.col("code") == c) & (nw.col(_AT) > nw.col(f"_s{c}")))
                                     .fill_null(False).cast(nw.Int64) for c in range(n - 1)])
        n_back += int(_collect(cand.select(behind.sum())).iloc[0, 0])
    wide = wide.select(_OPP, "process", "final", "closed_at", *[f"_e{k}" for k in range(n + 1)],
                       *[f"_implied{k}" for k in range(n)], "_back")
    seen = [wide.select(_OPP)]
    parts: list[nw.LazyFrame] = []
    n_of = {name: len(proc.stages) for name, proc in procs.items()}
    for k in range(n):
        entry = nw.col(f"_e{k}")
        keep = ~entry.is_null()
        without = [name for name, m in n_of.items() if m <= k]  # processes that have no working stage k
        if without:
            keep = keep & ~nw.col("process").is_in(without)
        ends = [name for name, m in n_of.items() if m == k + 1]  # processes whose last working stage is k
        if len(ends) == len(n_of) - len(without):
            is_last = nw.lit(True)
        elif ends:
            is_last = nw.col(f"_e{k + 1}").is_null() | nw.col("process").is_in(ends)
        else:
            is_last = nw.col(f"_e{k + 1}").is_null()
        parts.append(wide.filter(keep).select(
            nw.col(_OPP), nw.col("process").cast(nw.String), nw.lit(k).cast(nw.Int64).alias("code"),
            nw.col("final"), nw.col("closed_at"), entry.alias("t_entry"),
            nw.col(f"_e{k + 1}").alias("t_next"), nw.col(f"_implied{k}").alias("implied"),
            nw.col("_e0").alias("first_entered_at"), nw.lit(k == 0).alias("is_first"),
            is_last.alias("is_last"),
            nw.all_horizontal(~nw.col(f"_implied{k}"), *[nw.col(f"_implied{j}") for j in range(k)],
                              ignore_nulls=True).alias("is_first_stay"),
            nw.col("_back").alias("moved_back"),
        ))
    issues["event after as_of"] = (n_after, "ignored (not yet known at the cut)")
    issues["duplicate event"] = (n_all - n_after - n_kept, "counted once")
    issues["void outcome (reopened)"] = (n_void, "ignored: only the last event can close a deal")
    issues["move back"] = (n_back, "furthest stage kept; a move back does not undo an advance")
    cols = [_OPP, "process", "code", "final", "closed_at", "t_entry", "t_next", "implied", "first_entered_at",
            "is_first", "is_last", "is_first_stay", "moved_back"]
    rows = nw.concat(parts, how="vertical")

    if opp is not None:
        opp = _materialise(opp)
    if opp is not None and "created_at" in opp.collect_schema().names():
        has_events = nw.concat(seen, how="vertical")
        quiet = opp.join(has_events, on=_OPP, how="anti")
        if single is not None:
            quiet = quiet.with_columns(process=nw.lit(single))
        late = quiet.filter(nw.col("created_at") > nw.lit(cut))
        n_late = int(_collect(late.select(nw.len())).iloc[0, 0])
        quiet = quiet.filter(nw.col("created_at") <= nw.lit(cut))
        n_quiet = int(_collect(quiet.select(nw.len())).iloc[0, 0])
        issues["opportunity without events"] = (n_quiet, "open in the first stage since created_at")
        issues["opportunity created after as_of"] = (n_late, "ignored")
        if n_quiet:
            created = nw.col("created_at").cast(nw.Datetime("us"))
            quiet_rows = quiet.select(
                nw.col(_OPP), nw.col("process").cast(nw.String), nw.lit(0).cast(nw.Int64).alias("code"),
                nw.lit("open").cast(nw.String).alias("final"), nw.lit(cut).alias("closed_at"), created.alias("t_entry"),
                nw.lit(None, dtype=nw.Datetime("us")).alias("t_next"), nw.lit(False).alias("implied"),
                created.alias("first_entered_at"), nw.lit(True).alias("is_first"), nw.lit(True).alias("is_last"),
                nw.lit(True).alias("is_first_stay"), nw.lit(False).alias("moved_back"),
            )
            rows = nw.concat([rows.select(cols), quiet_rows.select(cols)], how="vertical")
    elif opportunities is None:
        issues["opportunity without events"] = (0, "not checked: no opportunities table")
    if n_with_events == 0 and issues.get("opportunity without events", (0, ""))[0] == 0:
        raise SchemaError.from_cases([{"table": "stage_events", "column": _STAGE, "check": "empty",
                                       "key": "-", "value": f"no events on or before as_of {as_of_ts}"}])
    rows = rows.with_columns(
        outcome=nw.when(~nw.col("t_next").is_null()).then(nw.lit("advance"))
        .when(nw.col("final") == "lost").then(nw.lit("loss")).otherwise(nw.lit("open")),
    ).with_columns(
        exit_at=nw.when(~nw.col("t_next").is_null()).then(nw.col("t_next")).otherwise(nw.col("closed_at")),
    )
    rows = rows.with_columns(
        days=_days(nw.col("exit_at"), nw.col("t_entry"), resolution_hours, rows.implementation),
        close_days=_days(nw.col("closed_at"), nw.col("t_entry"), resolution_hours, rows.implementation),
        cohort=nw.col("first_entered_at").dt.truncate(cohort_freq),
    )
    if stale_after_days is not None:
        stale = (nw.col("outcome") == "open") & (nw.col("days") >= stale_after_days)
        stale_close = (nw.col("final") == "open") & (nw.col("close_days") >= stale_after_days)
        n_stale = int(_collect(rows.select(stale.cast(nw.Int64).sum())).iloc[0, 0])
        issues["open longer than stale_after_days"] = (n_stale, f"counted as lost at day {stale_after_days:g}")
        rows = rows.with_columns(
            outcome=nw.when(stale).then(nw.lit("loss")).otherwise(nw.col("outcome")),
            days=nw.when(stale).then(nw.lit(float(stale_after_days))).otherwise(nw.col("days")),
            final=nw.when(stale_close).then(nw.lit("lost")).otherwise(nw.col("final")),
            close_days=nw.when(stale_close).then(nw.lit(float(stale_after_days))).otherwise(nw.col("close_days")),
        )
    return {"rows": rows, "issues": issues, "as_of": as_of_ts, "cust_cols": cust_cols, "opp": opp}


@released_after
def reduce_activities(
    activities: Any,
    stage_events: Any,
    processes: SalesProcess | Mapping[str, SalesProcess],
    opportunities: Any = None,
    *,
    as_of: Any = None,
) -> dict[str, pd.DataFrame]:
    """Attribute activities to the stage their opportunity was in on the activity's date (engine-agnostic).

    A stage's stay runs from its entry (path rules as in :func:`reduce_stage_events`) to the entry of the next
    stage reached, the loss, or ``as_of``; activities dated before the first event belong to the first stage;
    activities after the deal closed, without an opportunity, or of unknown opportunities are not attributed
    (counted in ``unattributed``).

    Returns
    -------
    dict of DataFrame
        ``counts``: ``process, stage_idx, kind, resolved, count, weight`` (stays with ``count >= 1`` activities of
        the kind); ``entries``: ``process, stage_idx, resolved, weight`` (all stays actually entered; ``resolved``
        = advanced or lost, not open); ``unattributed``: ``reason, rows``.

    Examples
    --------
    >>> import pandas as pd
    >>> from salesplan import SalesProcess
    >>> proc = SalesProcess("p", ["lead", "offer"])
    >>> ev = pd.DataFrame({"opportunity_id": ["a", "a", "a"], "stage": ["lead", "offer", "won"],
    ...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09"])})
    >>> acts = pd.DataFrame({"kind": ["calls", "calls", "visits"], "opportunity_id": ["a", "a", "a"],
    ...                      "date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-06"])})
    >>> out = reduce_activities(acts, ev, proc)
    >>> out["counts"][["stage_idx", "kind", "count", "weight"]].to_dict("records")
    [{'stage_idx': 0, 'kind': 'calls', 'count': 2, 'weight': 1}, {'stage_idx': 1, 'kind': 'visits', 'count': 1, 'weight': 1}]
    """
    procs = normalise_processes(processes)
    entered = _entry(stage_events=stage_events, opportunities=opportunities, activities=activities)
    stage_events, opportunities, activities = (entered[k] for k in ("stage_events", "opportunities", "activities"))
    built = _build_rows(stage_events, procs, opportunities, [], None, as_of, 1.0, "1mo")
    rows, cut = built["rows"], built["as_of"].to_pydatetime()
    stays = rows.filter(~nw.col("implied")).with_columns(
        resolved=nw.col("outcome") != "open",
    ).select(_OPP, "process", "code", "t_entry", "exit_at", "outcome", "resolved", "is_first_stay")
    acts = _lazy(activities, "activities")
    _require(acts, "activities", ["kind", "date", _OPP])
    acts = _as_datetime(acts.select("kind", "date", _OPP), "date", "activities")
    acts = _as_keys(acts, _OPP, "kind")
    acts = _materialise(acts.filter(nw.col("date") <= nw.lit(cut)))
    n_total = int(_collect(acts.select(nw.len())).iloc[0, 0])
    n_no_opp = int(_collect(acts.select(nw.col(_OPP).is_null().cast(nw.Int64).sum())).iloc[0, 0])
    joined = acts.filter(~nw.col(_OPP).is_null()).join(stays, on=_OPP, how="inner")
    hit = joined.filter(
        ((nw.col("date") >= nw.col("t_entry")) | nw.col("is_first_stay"))
        & ((nw.col("date") < nw.col("exit_at")) | ((nw.col("outcome") == "open") & (nw.col("date") <= nw.col(
            "exit_at")))))
    per_stay = hit.group_by(_OPP, "process", "code", "kind", "resolved").agg(nw.len().alias("count"))
    counts = _collect(per_stay.group_by("process", "code", "kind", "resolved", "count")
                      .agg(nw.len().alias("weight")))
    entries = _collect(stays.group_by("process", "code", "resolved").agg(nw.len().alias("weight")))
    n_hit = int(counts["count"].mul(counts["weight"]).sum()) if len(counts) else 0
    unattributed = pd.DataFrame({"reason": ["no opportunity_id", "unknown opportunity, other process or after "
                                            "the deal closed"],
                                 "rows": [n_no_opp, n_total - n_no_opp - n_hit]})
    for reason, n_rows in unattributed.itertuples(index=False):
        if n_rows:
            logger.warning("activities: %d row(s) not attributed to a stage (%s)", n_rows, reason)
    counts = counts.rename(columns={"code": "stage_idx"}).sort_values(
        ["process", "stage_idx", "kind", "resolved", "count"], kind="stable")
    entries = entries.rename(columns={"code": "stage_idx"}).sort_values(["process", "stage_idx", "resolved"],
                                                                       kind="stable")
    return {"counts": counts.reset_index(drop=True)[["process", "stage_idx", "kind", "resolved", "count", "weight"]],
            "entries": entries.reset_index(drop=True), "unattributed": unattributed}


def reduce_snapshot(
    snapshot: Any,
    *,
    stage: str = "stage",
    entered: str | None = None,
    closed: str | None = None,
    by: Sequence[str] | str | None = None,
    as_of: Any = None,
    won: str = "won",
    lost: str = "lost",
    resolution_hours: float = 24.0,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Reduce a current-stage snapshot (one row per deal, no history) to weighted patterns.

    Returns ``(patterns, as_of)`` where ``patterns`` has ``<by...>, stage, final ('won'/'lost'/'open'), days,
    weight``; ``days`` runs from ``entered`` to ``closed`` (closed deals) or to ``as_of`` (open deals) and is
    NaN when ``entered`` is missing or not given.

    Examples
    --------
    >>> import pandas as pd
    >>> snap = pd.DataFrame({"deal_stage": ["Won", "Lost", "Engaging"], "engage_date": ["2024-01-01"] * 3,
    ...                      "close_date": ["2024-01-11", "2024-01-21", None]})
    >>> pat, cut = reduce_snapshot(snap, stage="deal_stage", entered="engage_date", closed="close_date",
    ...                            won="Won", lost="Lost")
    >>> pat[["stage", "final", "days"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'stage': 'Engaging', 'final': 'open', 'days': 20.0}, {'stage': 'Lost', 'final': 'lost', 'days': 20.0},
     {'stage': 'Won', 'final': 'won', 'days': 10.0}]
    """
    by_cols = [by] if isinstance(by, str) else list(by or [])
    snap = _lazy(snapshot, "snapshot")
    _require(snap, "snapshot", [stage, *by_cols, *[c for c in (entered, closed) if c]])
    snap = snap.with_columns(nw.col(stage).cast(nw.String).alias("stage"))
    for col in (entered, closed):
        if col:
            snap = _as_datetime(snap, col, "snapshot")
    if as_of is None:
        cands = [c for c in (closed, entered) if c]
        if not cands:
            as_of_ts = pd.NaT
        else:
            got = _collect(snap.select(*[nw.col(c).max().alias(c) for c in cands]))
            as_of_ts = pd.Timestamp(got.max(axis=1).iloc[0])
    else:
        as_of_ts = to_naive_utc(as_of)
    final = (nw.when(nw.col("stage") == won).then(nw.lit("won")).when(nw.col("stage") == lost)
             .then(nw.lit("lost")).otherwise(nw.lit("open")))
    snap = snap.with_columns(final=final)
    if entered and not pd.isna(as_of_ts):
        cut = as_of_ts.to_pydatetime()
        end = nw.when(nw.col("final") != "open").then(nw.col(closed) if closed else nw.lit(None)).otherwise(
            nw.lit(cut))
        snap = snap.with_columns(days=_days(end, nw.col(entered), resolution_hours, snap.implementation))
    else:
        snap = snap.with_columns(days=nw.lit(None, dtype=nw.Float64))
    out = _collect(snap.group_by(*by_cols, "stage", "final", "days").agg(nw.len().alias("weight")))
    out["days"] = out["days"].astype(float)
    return out.sort_values([*by_cols, "stage", "final", "days"], kind="stable").reset_index(drop=True), as_of_ts
