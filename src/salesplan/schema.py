"""Canonical tables, column mapping and validation.

salesplan works on eight canonical tables (see the README): ``customers``, ``orders``, ``opportunities``,
``stage_events``, ``activities``, ``targets``, ``opportunity_history`` (each deal's values after every change:
expected close, amount, forecast category, stage, owner; the CRM's field history) and ``forecast_calls`` (the
forecasts reps and managers called: ``owner, period, as_of, category`` and ``amount`` or ``contracts``). :func:`validate` maps a user's column names onto the canonical
ones, coerces types and checks every rule, collecting all failures before it raises one :class:`SchemaError`
whose ``failure_cases`` table lists each (table, column, check, key, value). The caller's frame is never changed.

Type coercion
    ids become strings (a float id ``12345.0`` becomes ``"12345"``, surrounding blanks are stripped, an empty id
    is missing); dates become ``datetime64[ns]`` with one reading per column (:func:`salesplan.parse.parse_dates`:
    ISO, month-first or day-first, never a guess per value); amounts and other numbers become float
    (:func:`salesplan.parse.parse_numbers`: thousands separators, decimal commas, one currency per column); blank
    strings in date, number, stage, process, kind and period columns count as missing. Time-zone-aware dates are
    converted to UTC and stored naive (:func:`salesplan.parse.to_naive_utc`), so every
    date column of every table compares on one clock. Aware values in different zones or offsets (summer and
    winter time, say) are therefore fine. A ``timezone`` failure is a column mixing naive and aware values, or a
    table with one column of aware timestamps and another of naive timestamps with a time of day: the naive ones
    are on an unknown clock. Naive columns holding plain dates (all at midnight) mix with aware ones.

Rules (the ``check`` names in ``failure_cases``)
    ``required`` a required column is missing; ``mapping`` the ``columns=`` mapping names a column the frame lacks
    or gives two columns one name; ``empty`` the table has no rows; ``not_null`` a required value is missing;
    ``unique`` a key repeats (missing keys are ``not_null`` only); ``date`` a value is not a date under the
    column's reading; ``ambiguous_date`` the column's dates read both month-first and day-first with different
    results (say which with ``dayfirst=`` or ``date_format=``); ``currency`` an amount in a second currency;
    ``timezone`` see above; ``not_in_future`` a date lies after
    ``as_of`` (planned dates such as ``expected_close`` and target periods are exempt); ``numeric`` a value is not
    a number; ``finite`` a number is infinite; ``non_negative`` a count, potential, hour or cost is negative;
    ``integer`` a target number of contracts is not whole; ``return_sign`` an order line's amount and quantity
    have opposite signs (returns carry both negative); ``period`` a target period is not a month, quarter or year;
    ``known_process`` a process name is not defined; ``known_opportunity`` a stage event or activity names an
    unknown opportunity; ``known_stage`` a stage is not a stage of that opportunity's process;
    ``after_created`` a stage event or a history row lies before the opportunity's creation; for
    ``forecast_calls``: ``known_category`` a category outside the configured list (``forecast_categories``,
    default :data:`FORECAST_CATEGORIES`), ``known_owner`` a call by a person who owns no opportunity (checked
    with ``opportunities``) and is not among ``people`` (the team's reps and managers), ``period`` a period that
    is not a month, quarter or year, ``value`` a call with neither ``amount`` nor ``contracts``.

Negative order amounts are kept: they are returns or credit notes, flagged in the added boolean column
``is_return`` so that revenue figures can include or exclude them explicitly.

Examples
--------
>>> import pandas as pd
>>> import salesplan as sp
>>> raw = pd.DataFrame({"Kunde": [1, 2], "Datum": ["2024-01-05", "2024-02-01"], "Betrag": [100, -20]})
>>> orders = sp.validate(raw, "orders", columns={"Kunde": "customer_id", "Datum": "order_date",
...                                              "Betrag": "amount"})
>>> orders.dtypes.astype(str).to_dict()  # ids and text: pandas' ``str`` dtype (``object`` on pandas 2)
{'customer_id': 'str', 'order_date': 'datetime64[ns]', 'amount': 'float64', 'is_return': 'bool'}
>>> list(raw.columns)  # the caller's frame is unchanged
['Kunde', 'Datum', 'Betrag']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from salesplan.errors import SchemaError
from salesplan.parse import (
    _ALL_FALSE,
    CONCURRENT_ROWS,
    ParsedDates,
    ParsedNumbers,
    _cores,
    _none,
    _parse_dates,
    _parse_numbers,
    blank_to_na,
    to_naive_utc,
)
from salesplan.process import DEFAULT_PROCESSES, SalesProcess

__all__ = ["TableSpec", "TABLES", "FORECAST_CATEGORIES", "validate", "to_pandas", "normalise_period"]

logger = logging.getLogger(__name__)

ID, TEXT, DATE, AMOUNT, NUMBER = "id", "text", "date", "amount", "number"
#: Text columns in which a blank string is a missing value (a blank stage or process name names nothing).
_BLANK_IS_MISSING = ("stage", "process", "kind", "period", "category")


@dataclass(frozen=True)
class TableSpec:
    """Specification of one canonical table.

    Attributes
    ----------
    name : str
        Table name.
    required : dict
        Required columns and their kinds (``id``, ``text``, ``date``, ``amount``, ``number``).
    optional : dict
        Optional columns the library understands; any other column is passed through untouched.
    key : tuple of str
        Columns whose combination must be unique (empty: no key).
    non_negative : tuple of str
        Numeric columns that must be >= 0.
    future_ok : tuple of str
        Date columns exempt from the ``not_in_future`` rule (planned dates).
    """

    name: str
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    future_ok: tuple[str, ...] = ()

    @property
    def columns(self) -> dict[str, str]:
        """All known columns with their kinds."""
        return {**self.required, **self.optional}


TABLES: dict[str, TableSpec] = {
    "customers": TableSpec(
        "customers",
        {"customer_id": ID},
        {"name": TEXT, "industry": TEXT, "region": TEXT, "size": TEXT, "segment": TEXT, "potential": AMOUNT},
        key=("customer_id",),
        non_negative=("potential",),
    ),
    "orders": TableSpec(
        "orders",
        {"customer_id": ID, "order_date": DATE, "amount": AMOUNT},
        {"order_id": ID, "product": TEXT, "quantity": NUMBER, "margin": AMOUNT},
    ),
    "opportunities": TableSpec(
        "opportunities",
        {"opportunity_id": ID, "customer_id": ID, "process": TEXT, "created_at": DATE},
        {"amount": AMOUNT, "owner": TEXT, "product": TEXT, "segment": TEXT, "expected_close": DATE},
        key=("opportunity_id",),
        non_negative=("amount",),
        future_ok=("expected_close",),
    ),
    "stage_events": TableSpec(
        "stage_events",
        {"opportunity_id": ID, "stage": TEXT, "entered_at": DATE},
        {"owner": TEXT},
    ),
    "activities": TableSpec(
        "activities",
        {"kind": TEXT, "date": DATE},
        {"opportunity_id": ID, "customer_id": ID, "owner": TEXT, "process": TEXT, "hours": NUMBER, "cost": AMOUNT},
        non_negative=("hours", "cost"),
    ),
    "targets": TableSpec(
        "targets",
        {"process": TEXT, "period": TEXT, "contracts": NUMBER},
        {"segment": TEXT, "revenue": AMOUNT},
        key=("process", "period", "segment"),
        non_negative=("contracts", "revenue"),
    ),
    # One row per change of a deal, with the values *after* the change; a missing value means "not recorded in
    # this row" (a field-history export records one field per row), not "blanked".
    "opportunity_history": TableSpec(
        "opportunity_history",
        {"opportunity_id": ID, "changed_at": DATE},
        {"expected_close": DATE, "amount": AMOUNT, "forecast_category": TEXT, "stage": TEXT, "owner": TEXT,
         "probability": NUMBER},
        key=("opportunity_id", "changed_at"),
        non_negative=("amount", "probability"),
        future_ok=("expected_close",),
    ),
    # The forecast calls of reps and managers: who called what for which period, when, in which category.
    "forecast_calls": TableSpec(
        "forecast_calls",
        {"owner": TEXT, "period": TEXT, "as_of": DATE, "category": TEXT},
        {"amount": AMOUNT, "contracts": NUMBER, "process": TEXT},
        key=("owner", "period", "as_of", "category", "process"),
        non_negative=("amount", "contracts"),
    ),
}

#: The forecast categories a call may name unless configured otherwise (Salesforce's, in salesplan's spelling).
FORECAST_CATEGORIES: tuple[str, ...] = ("commit", "best_case", "pipeline")


_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3  # pandas 3: copy-on-write always on
_STR_DTYPE = _COPY_ON_WRITE  # pandas 3: the ``str`` text dtype (Arrow-backed, missing values NaN)
#: The dtype of id and text columns after :func:`validate`: pandas' ``str`` dtype (pandas 3; missing values are
#: NaN, as pandas' own readers return text), ``object`` on pandas 2 (missing values None).
TEXT_DTYPE: Any = pd.StringDtype(na_value=np.nan) if _STR_DTYPE else object


def to_pandas(frame: Any, table: str = "table") -> pd.DataFrame:
    """Return a pandas copy of any eager frame narwhals understands (pandas, Polars, PyArrow, ...).

    Lazy frames (Polars LazyFrame, DuckDB relation) are collected. The input is never modified.

    Examples
    --------
    >>> to_pandas(pd.DataFrame({"a": [1]})).shape
    (1, 1)
    """
    if isinstance(frame, pd.DataFrame):
        return frame.copy(deep=not _COPY_ON_WRITE)  # with copy-on-write a shallow copy cannot change the input
    import narwhals as nw

    try:
        nw_frame = nw.from_native(frame)
    except TypeError as exc:
        raise SchemaError(
            f"{table}: expected a DataFrame (pandas, Polars, PyArrow, DuckDB, Spark), got {type(frame).__name__}"
        ) from exc
    if isinstance(nw_frame, nw.LazyFrame):
        nw_frame = nw_frame.collect()
    return nw_frame.to_pandas()


def normalise_period(value: Any) -> str | None:
    """Normalise a target period to ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``; None when it is not one.

    Accepts pandas Periods and the usual spellings (``2026Q1``, ``2026-q1``, ``Q1 2026``, ``2026-3``, ``2026``).
    ``pd.Period(result)`` reads every result back.

    Examples
    --------
    >>> normalise_period("2026-q1"), normalise_period("2026-03"), normalise_period(2026), normalise_period("x")
    ('2026-Q1', '2026-03', '2026', None)
    >>> normalise_period(pd.Period("2026Q2", freq="Q")), normalise_period("Q3 2026")
    ('2026-Q2', '2026-Q3')
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().upper().replace(" ", "")
    if match := re.fullmatch(r"(\d{4})-?Q([1-4])|Q([1-4])-?(\d{4})", text):
        year = match.group(1) or match.group(4)
        quarter = match.group(2) or match.group(3)
        return f"{year}-Q{quarter}"
    if (match := re.fullmatch(r"(\d{4})-(\d{1,2})", text)) and 1 <= int(match.group(2)) <= 12:
        return f"{match.group(1)}-{int(match.group(2)):02d}"
    if re.fullmatch(r"\d{4}", text):
        return text
    return None


class _Collector:
    """Collects failures for one table; ``keys`` names each row in messages."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.keys: pd.Series | None = None
        self.rows: list[dict[str, Any]] = []
        self.hints: dict[tuple[str, str, str], str] = {}
        self.failed: dict[str, Any] = {}  # per column: values present but unreadable (not missing)

    def add(self, column: str, check: str, mask: pd.Series | None = None,
            values: pd.Series | Callable[[pd.Index], pd.Series] | None = None,
            *, key: str = "-", value: str = "") -> None:
        """Record the rows where ``mask`` holds; ``values`` may be a function of the failing index, so that
        costly descriptions are only built for failing rows."""
        if mask is None:
            self.rows.append({"table": self.table, "column": column, "check": check, "key": key, "value": value})
            return
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        idx = mask[mask].index
        keys = self.keys.loc[idx] if self.keys is not None else pd.Series([f"row {i}" for i in idx], index=idx)
        if callable(values):
            vals = values(idx)
        else:
            vals = values.loc[idx] if values is not None else pd.Series("", index=idx)
        self.rows.extend(
            {"table": self.table, "column": column, "check": check, "key": k, "value": _show(v)}
            for k, v in zip(keys, vals, strict=True)
        )


def _show(value: Any) -> str:
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    return str(value)[:60]


def _blank_to_na(series: pd.Series) -> pd.Series:
    """Strings that are empty or only blanks become missing (CSV and Excel exports are full of them)."""
    return blank_to_na(series)


def _as_id(series: pd.Series) -> pd.Series:
    """Ids as text (:data:`TEXT_DTYPE`); integral floats lose their '.0'; blanks and missing values are missing.

    Text read by pandas' CSV reader is stripped in one vectorised pass; other values (numbers, Python objects)
    are converted once per distinct value (ids repeat: customers in orders, opportunities in stage events)."""
    def one(v: Any) -> str | None:
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, float | np.floating):
            if np.isnan(v):
                return None
            return str(int(v)) if float(v).is_integer() and abs(v) < 2**63 else str(v)
        text = str(v).strip()
        return text or None

    if _STR_DTYPE and isinstance(series.dtype, pd.StringDtype):  # pandas' text dtype: vectorised
        if not _may_have_blanks(series):  # nothing to strip and no empty text: already clean
            return series.astype(TEXT_DTYPE)
        stripped = series.str.strip()
        blank = (stripped == "").to_numpy(dtype=bool, na_value=False)
        if blank.any():
            stripped = stripped.mask(blank)
        return stripped.astype(TEXT_DTYPE)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    converted = np.array([one(v) for v in np.asarray(uniques, dtype=object)] + [None], dtype=object)
    return pd.Series(converted[codes], index=series.index, dtype=TEXT_DTYPE)


_BLOCK = 1 << 20  # values per step of the block-wise checks


def _may_have_blanks(series: pd.Series) -> bool:
    """Whether a text column may hold empty values or values with surrounding blanks.

    For Arrow-backed text the first and last byte of every value decide (read through the column's offsets, no
    copy of the text): a value that starts or ends with a byte <= 32 (blanks, control characters) or >= 128
    (non-ASCII, such as a no-break space) may need stripping, and a present value of length 0 is empty. Without
    either, no value changes under strip-and-blank-to-missing. Otherwise (or for other storage) True. When no
    byte of a chunk's text is <= 32 or >= 128 at all (codes such as ``C000123``: one pass of ``min``/``max``
    over the bytes, no temporaries), no first or last byte can be, and only the lengths are looked at."""
    if getattr(series.dtype, "storage", None) != "pyarrow":
        return True
    import pyarrow as pa

    arrow = pa.array(series.array)  # zero-copy view of the column's Arrow data
    for chunk in getattr(arrow, "chunks", [arrow]):
        if chunk.null_count == len(chunk):
            continue
        if chunk.type not in (pa.string(), pa.large_string()) or chunk.buffers()[2] is None:
            return True  # another layout (views, every value empty): the strip pass decides
        width = np.int64 if chunk.type == pa.large_string() else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        valid = np.asarray(chunk.is_valid(), dtype=bool) if chunk.null_count else None
        text = data[offsets[0]: offsets[-1]]  # every byte of the chunk's values (and of missing slots, if any)
        plain = len(text) == 0 or (text.min() > 32 and text.max() < 128)  # no blank or non-ASCII byte anywhere
        for lo in range(0, len(chunk), _BLOCK):  # block by block: the temporaries stay small and are reused
            hi = min(lo + _BLOCK, len(chunk))
            starts, ends = offsets[lo: hi], offsets[lo + 1: hi + 1]
            if valid is None:
                if (ends == starts).any():
                    return True  # an empty text
                if plain:
                    continue
                first, last = data[starts], data[ends - 1]
            else:
                present = valid[lo: hi]  # a missing value's bytes, if any, are not read
                if (present & (ends == starts)).any():
                    return True  # an empty text
                if plain:
                    continue
                first, last = data[starts[present]], data[ends[present] - 1]
            for edge in (first, last):
                if len(edge) and (edge.min() <= 32 or edge.max() >= 128):
                    return True
    return False


def _as_text(series: pd.Series, blank_is_missing: bool = False) -> pd.Series:
    """Text as :data:`TEXT_DTYPE`: non-text values become their ``str``; missing values stay missing."""
    src = blank_to_na(series) if blank_is_missing else series
    if isinstance(src.dtype, pd.StringDtype):  # already text: at most a change of missing-value marker
        return src.astype(TEXT_DTYPE)
    notna = src.notna()
    out = src.astype(object)
    if not (series.dtype == object and all(isinstance(v, str) for v in pd.unique(out[notna]))):
        out = out.where(~notna, out[notna].map(str))
    return out.where(notna, None).astype(TEXT_DTYPE)


class _Summary(NamedTuple):
    """What the rules after a conversion ask of a converted date or number column as a whole.

    Computed by :func:`_summary` in the conversion's own thread (:func:`_conversions`), so that these full passes
    overlap with the other columns' conversions instead of following them, and asked instead of building masks
    that would find nothing: ``missing`` for ``not_null``, ``low`` for ``non_negative`` and returns, ``high`` for
    ``not_in_future`` and ``finite``.
    """

    missing: bool  # some value is missing (NaN, NaT)
    low: float  # the smallest present value (numbers: NaN when none; dates: nanoseconds, NaT's integer if missing)
    high: float  # the largest present value (numbers: NaN when none; dates: nanoseconds)


def _summary(values: pd.Series) -> _Summary | None:
    """The :class:`_Summary` of a float64 or datetime64[ns] column in two reductions; None for other columns.

    Examples
    --------
    >>> _summary(pd.Series([2.0, np.nan, -1.0]))
    _Summary(missing=True, low=-1.0, high=2.0)
    """
    if len(values) == 0:
        return None
    if values.dtype == np.float64:
        array = values.to_numpy()
        low, high = _extent(array)  # NaN propagates: no mask of the column's length
        if np.isnan(low):
            return _Summary(True, float(np.fmin.reduce(array)), float(np.fmax.reduce(array)))  # NaN if all are
        return _Summary(False, float(low), float(high))
    if values.dtype == "datetime64[ns]":
        first, last = _extent(values.to_numpy().view(np.int64))  # NaT is the smallest integer
        return _Summary(int(first) == np.iinfo(np.int64).min, int(first), int(last))
    return None


def _extent(array: np.ndarray) -> tuple[Any, Any]:
    """The smallest and largest value of a non-empty array (NaN propagates), block by block: each block's second
    reduction reads it from the cache instead of memory (about a third cheaper than two passes at 10M values)."""
    lows, highs = [], []
    for start in range(0, len(array), _BLOCK // 16):
        block = array[start: start + _BLOCK // 16]
        lows.append(block.min())
        highs.append(block.max())
    return np.min(lows), np.max(highs)


def _rows(mask: pd.Series) -> pd.Series | None:
    """A mask of the readers' results, or None when it flags no row (all False, or none made).

    :data:`salesplan.parse._ALL_FALSE` stands for a mask the reader did not make at all.
    """
    return None if mask is _ALL_FALSE or not mask.any() else mask


def _as_date(series: pd.Series, column: str, col: _Collector,
             parsed: Callable[[], tuple[ParsedDates, _Summary | None]]) -> tuple[pd.Series, bool, _Summary | None]:
    """Record the failures of a date column parsed by ``parsed()`` (:func:`salesplan.parse.parse_dates`: naive
    UTC timestamps, one reading per column, and their :class:`_Summary`); return the dates, whether the source
    values were zone-aware and the summary."""
    try:
        result, summary = parsed()
    except SchemaError as err:  # both month-first and day-first fit: refused, with the choice to make
        col.rows.extend(err.failure_cases.to_dict("records"))
        col.hints[(col.table, column, "ambiguous_date")] = str(err).split(": ", 1)[-1]
        col.failed[column] = blank_to_na(series).notna()
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]"), False, None
    aware = _rows(result.aware)
    if aware is not None:
        naive = ~aware & result.values.notna()
        if naive.any():
            minority = aware if aware.sum() <= naive.sum() else naive
            col.add(column, "timezone", minority, series)
    bad = _rows(result.bad)
    col.failed[column] = bad
    if bad is not None:
        col.add(column, "date", bad, series)
        if result.reading not in ("ISO 8601", "datetime"):
            col.hints[(col.table, column, "date")] = (f"the column reads {result.reading}; values that do not fit "
                                                      "it are not dates (set dayfirst= or date_format= if this is "
                                                      "wrong)")
    return result.values, aware is not None, summary


def _as_number(series: pd.Series, column: str, col: _Collector,
               parsed: Callable[[], tuple[ParsedNumbers, _Summary | None]]) -> tuple[pd.Series, _Summary | None]:
    """Record the failures of a number column parsed by ``parsed()`` (:func:`salesplan.parse.parse_numbers`, and
    the :class:`_Summary` of its values); return the numbers and the summary."""
    result, summary = parsed()
    num = result.values
    bad, mixed = _rows(result.bad), _rows(result.mixed_currency)
    if bad is not None:
        col.add(column, "numeric", bad, series)
    col.failed[column] = bad if mixed is None else mixed if bad is None else bad | mixed
    if mixed is not None:
        col.add(column, "currency", mixed, series)
    if result.hint:
        col.hints[(col.table, column, "numeric" if bad is not None else "currency")] = result.hint
    if summary is None or summary.high == np.inf or summary.low == -np.inf:  # no mask when nothing is infinite
        col.add(column, "finite", np.isinf(num), series)
    return num, summary


def _conversions(df: pd.DataFrame, kinds: Mapping[str, str], table: str, options: Mapping[str, Any]
                 ) -> dict[str, Callable[[], Any]]:
    """The per-column conversions of :func:`validate` (ids, dates, numbers): for each column a function giving
    its result, or raising its error. Dates and numbers come with the :class:`_Summary` of their values.

    They depend on nothing but their own column, and their heavy parts (Arrow's date cast, NumPy's casts and
    reductions) release the GIL. On tables of :data:`salesplan.parse.CONCURRENT_ROWS` rows or more they are therefore started at
    once in a small thread pool (the longest, the dates, first), so that their wall times overlap on a machine
    with several cores; each result is then taken in column order, and failures are recorded in that order as
    before, so the outcome does not depend on the threads. Below that size each runs when it is asked for.
    """
    tasks: dict[str, Callable[[], Any]] = {}
    for name, kind in sorted(kinds.items(), key=lambda item: item[1] != DATE):
        series = df[name]
        if kind == ID:
            tasks[name] = lambda s=series: _as_id(s)
        elif kind == DATE:
            tasks[name] = lambda s=series, n=name: _summarised(_parse_dates(
                s, n, table, dayfirst=_option(options["dayfirst"], n), date_format=_option(options["date_format"], n)))
        elif kind in (AMOUNT, NUMBER):
            tasks[name] = lambda s=series, n=name: _summarised(_parse_numbers(
                s, n, table, decimal=_option(options["decimal"], n), thousands=_option(options["thousands"], n)))
    workers = min(len(tasks), _cores(), 4)
    if len(df) < CONCURRENT_ROWS or workers < 2:
        return tasks
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="salesplan-validate")
    futures = {name: pool.submit(task) for name, task in tasks.items()}
    pool.shutdown(wait=False)  # the submitted conversions still run; the pool ends with the last of them
    return {name: future.result for name, future in futures.items()}


def _summarised(result: Any) -> tuple[Any, _Summary | None]:
    """A parsed date or number column with the :class:`_Summary` of its values (from the extent the date parse
    found on the way when it did)."""
    if isinstance(result, ParsedDates) and result.extent is not None:
        first, last = result.extent
        return result, _Summary(first == np.iinfo(np.int64).min, first, last)
    return result, _summary(result.values)


def _option(value: Any, column: str) -> Any:
    """A per-column option: one value for every column, or a mapping column -> value."""
    if isinstance(value, Mapping):
        return value.get(column)
    return value


def validate(
    frame: Any,
    table: str,
    columns: Mapping[str, str] | None = None,
    *,
    as_of: Any = None,
    processes: Mapping[str, SalesProcess] | None = None,
    opportunities: pd.DataFrame | None = None,
    raise_errors: bool = True,
    dayfirst: bool | Mapping[str, bool] | None = None,
    date_format: str | Mapping[str, str] | None = None,
    decimal: str | Mapping[str, str] | None = None,
    thousands: str | Mapping[str, str] | None = None,
    forecast_categories: Sequence[str] | None = None,
    people: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Map, coerce and check one canonical table; return a new, clean pandas frame.

    Parameters
    ----------
    frame : DataFrame
        The user's table (pandas, or anything narwhals reads: Polars, PyArrow, DuckDB relation).
    table : {"customers", "orders", "opportunities", "stage_events", "activities", "targets", \
"opportunity_history", "forecast_calls"}
        Which canonical table ``frame`` holds.
    columns : mapping, optional
        ``{"their column": "canonical column"}``. Unmapped columns keep their names.
    as_of : date-like, optional
        The data cut. Dates after it (other than planned dates) are ``not_in_future`` failures.
    processes : mapping of str to SalesProcess, optional
        Known processes (default: the five defaults). Checks ``process`` columns and, for stage events with
        ``opportunities``, that each stage belongs to the opportunity's process.
    opportunities : DataFrame, optional
        A *validated* opportunities table, for the cross-table rules of ``stage_events``, ``activities`` and
        ``opportunity_history``.
    raise_errors : bool
        When False, return the frame with the failures in ``result.attrs["failure_cases"]`` instead of raising.
    dayfirst : bool or mapping of canonical column to bool, optional
        Read numeric dates day-first (True) or month-first (False). Default: one reading per column inferred from
        its distinct values; a column that reads both ways with different dates is refused (``ambiguous_date``).
    date_format : str or mapping of canonical column to str, optional
        A :func:`~datetime.datetime.strptime` format for the date columns (see :func:`salesplan.parse.parse_dates`).
    decimal, thousands : str or mapping of canonical column to str, optional
        Decimal and thousands separators of text amounts (default: inferred per column; see
        :func:`salesplan.parse.parse_numbers`). Currency codes and symbols around amounts are understood, one
        currency per column (``currency`` failures otherwise).
    forecast_categories : sequence of str, optional
        The categories a forecast call may name (default :data:`FORECAST_CATEGORIES`).
    people : sequence of str, optional
        People who may make forecast calls besides the owners of opportunities: the team's reps and managers
        (``owner`` and ``manager`` of :func:`salesplan.plan.read_team`).

    Returns
    -------
    pandas.DataFrame
        Canonical column names and types; ``orders`` gains a boolean ``is_return``. Rows are renumbered from 0;
        failure keys name a row by its table key (single-column keys) or as ``row <position>``.

    Raises
    ------
    SchemaError
        With every failure of the table at once (see the module docstring for the rules).

    Examples
    --------
    >>> import pandas as pd
    >>> bad = pd.DataFrame({"opportunity_id": ["a", "a"], "customer_id": ["c", None],
    ...                     "process": ["acquisition", "acquisition"], "created_at": ["2024-01-01", "nope"]})
    >>> try:
    ...     validate(bad, "opportunities")
    ... except SchemaError as err:
    ...     print(err.failure_cases[["column", "check", "key"]].to_string(index=False))
            column    check key
       customer_id not_null   a
        created_at     date   a
    opportunity_id   unique   a
    opportunity_id   unique   a
    """
    if table not in TABLES:
        raise SchemaError(f"unknown table {table!r}; canonical tables are {sorted(TABLES)}")
    spec = TABLES[table]
    processes = dict(DEFAULT_PROCESSES if processes is None else processes)
    df = to_pandas(frame, table).reset_index(drop=True)
    col = _Collector(table)

    mapping = dict(columns or {})
    for source, target in mapping.items():
        if source not in df.columns:
            col.add(target, "mapping", key="-", value=f"columns= maps {source!r}, which the frame does not have")
    if mapping:
        df = df.rename(columns=mapping)
    clashes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    for name in clashes:
        col.add(name, "mapping", key="-", value="two columns have this name after mapping")
    missing = [c for c in spec.required if c not in df.columns]
    for c in missing:
        col.add(c, "required", key="-", value=f"missing column; frame has {list(df.columns)[:12]}")
    if len(df) == 0:
        col.add("*", "empty", key="-", value="table has no rows")
    if missing or clashes or len(df) == 0:
        return _finish(df, col, raise_errors)

    as_of_ts = None if as_of is None else to_naive_utc(as_of)
    kinds = {name: kind for name, kind in spec.columns.items() if name in df.columns}
    converted = _conversions(df, kinds, table, {"dayfirst": dayfirst, "date_format": date_format,
                                                "decimal": decimal, "thousands": thousands})
    for name, kind in kinds.items():  # ids first: a single-column key names the rows in messages
        if kind == ID:
            df[name] = converted[name]()
    if len(spec.key) == 1 or table == "opportunity_history":  # history rows are named by their deal
        key = df[spec.key[0]]
        col.keys = key.where(key.notna(), pd.Series([f"row {i}" for i in df.index], index=df.index))
    aware: dict[str, bool] = {}
    summaries: dict[str, _Summary | None] = {}
    for name, kind in kinds.items():
        raw = df[name]
        if kind == TEXT:
            df[name] = _as_text(raw, blank_is_missing=name in _BLANK_IS_MISSING)
        elif kind == DATE:
            df[name], aware[name], summaries[name] = _as_date(raw, name, col, converted[name])
            if as_of_ts is not None and name not in spec.future_ok and _may_exceed(summaries[name], as_of_ts):
                col.add(name, "not_in_future", df[name] > as_of_ts, raw)
        elif kind in (AMOUNT, NUMBER):
            df[name], summaries[name] = _as_number(raw, name, col, converted[name])
        failed = col.failed.pop(name, None)
        if name in spec.required and (missing_value := _missing(df[name], summaries.get(name))) is not None:
            if failed is not None and failed.any():  # missing, not unreadable (those failed their own check)
                missing_value &= ~failed
            col.add(name, "not_null", missing_value, raw)
    timed_naive = [c for c, a in aware.items() if not a and (df[c].dropna() != df[c].dropna().dt.normalize()).any()] \
        if any(aware.values()) else []
    if timed_naive:
        detail = ", ".join(f"{c}={'aware' if a else 'naive'}" for c, a in aware.items())
        col.add(",".join(aware), "timezone", key="-",
                value=f"zone-aware and naive timestamps in one table: {detail}")

    for name in spec.non_negative:
        if name in df.columns and _may_be_negative(summaries.get(name)):
            col.add(name, "non_negative", df[name] < 0, df[name])
    _table_rules(table, df, col, processes, opportunities, summaries)
    if table == "forecast_calls":
        _call_rules(df, col, opportunities, forecast_categories, people)
    key_cols = [k for k in spec.key if k in df.columns]
    if key_cols:
        dup = df.duplicated(key_cols, keep=False) & df[key_cols[0]].notna()
        col.add("+".join(key_cols), "unique", dup,
                lambda i: df.loc[i, key_cols].apply(lambda c: c.map(_show)).agg("|".join, axis=1))
    return _finish(df, col, raise_errors)


def _may_be_negative(summary: _Summary | None) -> bool:
    """Whether a number column may hold a negative value (True when its summary is unknown)."""
    return summary is None or bool(summary.low < 0)


def _may_exceed(summary: _Summary | None, as_of: pd.Timestamp) -> bool:
    """Whether a date column may hold a date after ``as_of`` (True when its summary is unknown)."""
    return summary is None or bool(pd.Timestamp(summary.high) > as_of)  # Timestamps compare across units


def _missing(series: pd.Series, summary: _Summary | None = None) -> pd.Series | None:
    """The missing values of a converted column as a mask, or None when no value is missing.

    Whether any is missing is first asked without a mask of the column's length where the storage allows it: the
    column's :class:`_Summary` (dates and numbers; made here when not given), Arrow's null count (text)."""
    summary = summary if summary is not None else _summary(series)
    if summary is not None:
        if not summary.missing:
            return None
    elif len(series) and getattr(series.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa

        if pa.array(series.array).null_count == 0:
            return None
    mask = series.isna()
    return mask if mask.any() else None


def _table_rules(table: str, df: pd.DataFrame, col: _Collector, processes: dict[str, SalesProcess],
                 opportunities: pd.DataFrame | None, summaries: Mapping[str, _Summary | None] | None = None) -> None:
    summaries = summaries or {}
    if table == "orders":
        negative = _may_be_negative(summaries.get("amount"))
        df["is_return"] = (df["amount"] < 0).fillna(False).astype(bool) if negative else _none(df.index)
        if "quantity" in df.columns and len(df) and (
                (negative and df["is_return"].any()) or _may_be_negative(summaries.get("quantity"))):
            opposite = ((df["amount"] < 0) & (df["quantity"] > 0)) | ((df["amount"] > 0) & (df["quantity"] < 0))
            col.add("amount", "return_sign", opposite,
                    lambda i: df.loc[i, "amount"].astype(str) + " with quantity " + df.loc[i, "quantity"].astype(str))
    if "process" in df.columns and "process" in TABLES[table].columns:
        unknown = df["process"].notna() & ~df["process"].isin(list(processes))
        col.add("process", "known_process", unknown, df["process"])
    if table == "targets":
        periods = df["period"].map(normalise_period)
        col.add("period", "period", df["period"].notna() & periods.isna(), df["period"])
        df["period"] = periods.where(periods.notna(), df["period"])
        contracts = df["contracts"]
        col.add("contracts", "integer", np.isfinite(contracts) & (contracts % 1 != 0), contracts)
    if table in ("stage_events", "activities", "opportunity_history") and _usable_opportunities(opportunities) \
            and "opportunity_id" in df.columns:
        opp = opportunities.drop_duplicates("opportunity_id").set_index("opportunity_id")
        known = df["opportunity_id"].notna() & df["opportunity_id"].isin(opp.index)
        col.add("opportunity_id", "known_opportunity", df["opportunity_id"].notna() & ~known, df["opportunity_id"])
        if table in ("stage_events", "opportunity_history") and "stage" in df.columns:
            proc = df["opportunity_id"].map(opp["process"])
            allowed = pd.MultiIndex.from_tuples(
                [(name, stage) for name, p in processes.items() for stage in p.all_stages])
            pairs = pd.MultiIndex.from_arrays([proc, df["stage"]])
            bad_stage = pd.Series(~pairs.isin(allowed), index=df.index) & df["stage"].notna() \
                & proc.isin(list(processes))
            col.add("stage", "known_stage", known & bad_stage,
                    lambda i: df.loc[i, "stage"].astype(str) + " (process " + proc.loc[i].astype(str) + ")")
        when = {"stage_events": "entered_at", "opportunity_history": "changed_at"}.get(table)
        if when is not None and when in df.columns:
            created = df["opportunity_id"].map(opp["created_at"])
            col.add(when, "after_created", known & (df[when] < created),
                    lambda i: df.loc[i, when].astype(str) + " < created " + created.loc[i].astype(str))


def _call_rules(df: pd.DataFrame, col: _Collector, opportunities: pd.DataFrame | None,
                categories: Sequence[str] | None, people: Sequence[str] | None = None) -> None:
    """The rules of ``forecast_calls``: period, category, a known person, a value."""
    periods = df["period"].map(normalise_period)
    col.add("period", "period", df["period"].notna() & periods.isna(),
            lambda i: df.loc[i, "period"].astype(str) + " (not a month, quarter or year such as 2026-Q1)")
    df["period"] = periods.where(periods.notna(), df["period"])
    allowed = list(FORECAST_CATEGORIES if categories is None else categories)
    col.add("category", "known_category", df["category"].notna() & ~df["category"].isin(allowed),
            lambda i: df.loc[i, "category"].astype(str) + f" (configured: {', '.join(allowed)})")
    values = [c for c in ("amount", "contracts") if c in df.columns]
    if not values:
        col.add("amount", "value", key="-", value="a call needs an amount or a number of contracts; neither column")
    else:
        col.add(",".join(values), "value", df[values].isna().all(axis=1),
                lambda i: pd.Series("no amount and no contracts", index=i))
    if opportunities is not None and "owner" in opportunities.columns and len(opportunities):
        known = set(opportunities["owner"].dropna().astype(str)) | {str(p) for p in people or ()}
        what = " (owns no opportunity, not in the team)" if people else " (owns no opportunity)"
        col.add("owner", "known_owner", df["owner"].notna() & ~df["owner"].astype(str).isin(known),
                lambda i: df.loc[i, "owner"].astype(str) + what)


def _usable_opportunities(opportunities: pd.DataFrame | None) -> bool:
    """Cross-table rules need a validated opportunities table; one that failed its own checks (missing columns,
    no rows) is reported on its own and not used here."""
    if opportunities is None or len(opportunities) == 0:
        return False
    if not {"opportunity_id", "process", "created_at"} <= set(opportunities.columns):
        return False
    return pd.api.types.is_datetime64_dtype(opportunities["created_at"])


def _finish(df: pd.DataFrame, col: _Collector, raise_errors: bool) -> pd.DataFrame:
    if col.rows:
        err = SchemaError.from_cases(col.rows, hints=col.hints)
        if raise_errors:
            raise err
        df.attrs["failure_cases"] = err.failure_cases
    return df
