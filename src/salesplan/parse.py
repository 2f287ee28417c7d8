"""Dates and numbers as exports write them: one reading per column, never a per-value guess; one time-zone rule.

:func:`to_naive_utc` is the one time-zone rule of the package: zone-aware values are converted to UTC, then made
naive, so that every date of every table compares on one clock. Naive values are taken as they are.

:func:`parse_dates` reads a column of date text. It infers **one** reading for the whole column from its distinct
values: ISO 8601 (with or without time and offset), year-first with slashes, named months ("05 Mar 2024",
"Mar 5, 2024"), and either month-first (US: ``03/25/2024 2:22 PM``) or day-first (``25/03/2024 14:22``,
``25.03.2024``) numeric dates, each with the usual times of day. ISO and named-month values are unambiguous and
combine with either order. When both the month-first and the day-first reading fit every value and give different
dates, the column is refused with a :class:`~salesplan.SchemaError` (check ``ambiguous_date``) that names the column,
shows examples and says how to choose (``dayfirst=True/False`` or ``date_format=``). A value that fits no format of
the chosen reading is reported as not a date; it is never guessed on its own.

:func:`parse_numbers` reads a column of amounts: plain numbers, thousands separators (``,`` ``.`` blank ``'``),
decimal commas, currency codes or symbols before or after the number ("USD 25,000.00", "1.234,56 EUR", "€ 25"),
accounting negatives ``(1,234.00)`` and trailing minus signs (``1.234,56-``, ERP exports). The decimal separator is
inferred per column from values that show it unambiguously (``1.234,56``, ``12,5``, ``1,234,567``); ``decimal=`` and
``thousands=`` say it when the values do not. A column holds one currency; values in a second one are failures.

Examples
--------
>>> import pandas as pd
>>> from salesplan.parse import parse_dates, parse_numbers, to_naive_utc
>>> to_naive_utc(pd.Timestamp("2026-01-01T00:00:00+02:00"))
Timestamp('2025-12-31 22:00:00')
>>> parse_dates(pd.Series(["25/03/2024 14:22", "05/03/2024 09:00"]), "CreatedDate").values.dt.day.tolist()
[25, 5]
>>> from salesplan.errors import SchemaError
>>> try:
...     parse_dates(pd.Series(["05/03/2024", "06/03/2024"]), "created_at")
... except SchemaError as err:
...     print(str(err)[:68])
created_at: the dates read both month-first and day-first, with diff
>>> parse_dates(pd.Series(["05/03/2024"]), "created_at", dayfirst=True).values.tolist()
[Timestamp('2024-03-05 00:00:00')]
>>> parse_numbers(pd.Series(["USD 25,000.00", "USD 1,250.50"]), "amount").values.tolist()
[25000.0, 1250.5]
>>> parse_numbers(pd.Series(["1.234,56 EUR", "5277,76 EUR", "100,00- EUR"]), "amount").values.tolist()
[1234.56, 5277.76, -100.0]
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import pandas as pd

from salesplan.errors import SchemaError

__all__ = ["to_naive_utc", "parse_dates", "parse_numbers", "ParsedDates", "ParsedNumbers", "blank_to_na"]


# ------------------------------------------------------------------------------------------------ time zones
@overload
def to_naive_utc(value: pd.Series) -> pd.Series: ...
@overload
def to_naive_utc(value: pd.DatetimeIndex) -> pd.DatetimeIndex: ...
@overload
def to_naive_utc(value: Any) -> pd.Timestamp: ...
def to_naive_utc(value: Any) -> Any:
    """The one time-zone rule: aware values are converted to UTC and made naive; naive values are kept.

    Parameters
    ----------
    value : scalar date-like, Series or DatetimeIndex
        A timestamp (``str``, ``datetime``, ``Timestamp``), or a datetime Series / index (aware or naive).

    Returns
    -------
    Timestamp, Series or DatetimeIndex
        Naive, in UTC where the input carried a zone; Series and indexes as ``datetime64[ns]``.

    Examples
    --------
    >>> to_naive_utc("2026-01-01T00:00:00+02:00"), to_naive_utc("2026-01-01")
    (Timestamp('2025-12-31 22:00:00'), Timestamp('2026-01-01 00:00:00'))
    >>> s = pd.Series(pd.to_datetime(["2024-06-01 12:00"]).tz_localize("Europe/Berlin"))
    >>> to_naive_utc(s).tolist()
    [Timestamp('2024-06-01 10:00:00')]
    """
    if isinstance(value, pd.Series):
        if isinstance(value.dtype, pd.DatetimeTZDtype):
            value = value.dt.tz_convert("UTC").dt.tz_localize(None)
        return value.astype("datetime64[ns]")
    if isinstance(value, pd.DatetimeIndex):
        if value.tz is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        return value.astype("datetime64[ns]")
    stamp = pd.Timestamp(value)
    if stamp is not pd.NaT and stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


# ------------------------------------------------------------------------------------------------ helpers
#: From this many rows on, :func:`salesplan.validate` converts columns concurrently and :func:`parse_dates` reads a
#: plain ISO column in two halves at once (smaller columns: threads cost more than they save).
CONCURRENT_ROWS = 500_000


def _cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _none(index: pd.Index) -> pd.Series:
    """An all-False mask on ``index``.

    Made with :func:`numpy.zeros`, whose memory the system zeroes lazily: a mask that is only asked ``.any()``
    costs no copy of its size (10 MB at 10M rows).
    """
    return pd.Series(np.zeros(len(index), dtype=bool), index=index, copy=False)


#: Stands for a mask that is False in every row in the results of the private readers (:func:`_parse_dates`,
#: :func:`_parse_numbers`), which then make none: :func:`salesplan.validate` asks ``mask is _ALL_FALSE`` instead of
#: building and scanning 10 MB per mask at 10M rows. The public functions return real masks (:func:`_filled`).
_ALL_FALSE = pd.Series([], dtype=bool)


def _filled(result: Any) -> Any:
    """A :class:`ParsedDates` or :class:`ParsedNumbers` with real all-False masks for :data:`_ALL_FALSE`."""
    for name in ("bad", "aware", "mixed_currency"):
        if getattr(result, name, None) is _ALL_FALSE:
            setattr(result, name, _none(result.values.index))
    return result


def _fresh(length: int, dtype: Any) -> np.ndarray:
    """An uninitialised, writable array of ``length`` values, in memory from Arrow's pool instead of NumPy's.

    NumPy advises the kernel to back arrays of 4 MB or more with transparent huge pages (``MADV_HUGEPAGE``). On a
    host whose memory is full of page cache, as after reading a large file, the kernel then compacts memory to
    find each huge page: validating 10M order lines cost about 1.3 s of system time for its two new 80 MB columns
    (dates, float quantities) on the development machine, 0.1 s with ordinary pages. pandas' reader does not
    ask for huge pages, so neither do the columns made here.
    """
    import pyarrow as pa

    kind = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(max(length, 1) * kind.itemsize), dtype=kind)[:length]


def blank_to_na(series: pd.Series) -> pd.Series:
    """Strings that are empty or only blanks become missing (exports are full of them); other values stay.

    Examples
    --------
    >>> blank_to_na(pd.Series(["a", " ", "", None])).isna().tolist()
    [False, True, True, True]
    """
    if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
        return series
    if isinstance(series.dtype, pd.StringDtype):
        blank_s = (series.str.strip() == "").to_numpy(dtype=bool, na_value=False)
        return series.where(~blank_s) if blank_s.any() else series
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    blank = np.fromiter((isinstance(v, str) and not v.strip() for v in uniques), dtype=bool, count=len(uniques))
    if not blank.any():
        return series
    out = series.astype(object).copy()
    out[(codes >= 0) & blank[np.maximum(codes, 0)]] = None
    return out


def _examples(values: Any, n: int = 3) -> str:
    return ", ".join(repr(str(v)) for v in list(values)[:n])


def _where(table: str, column: str) -> str:
    return f"{table}.{column}" if table else column


# ------------------------------------------------------------------------------------------------ dates
_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %H:%M:%S.%f", ", %H:%M", ", %I:%M %p")
_YEAR_FIRST = tuple(f"%Y/%m/%d{t}" for t in _TIMES) + tuple(f"%Y.%m.%d{t}" for t in _TIMES[:3])
_NAMED = tuple(f"{d}{t}" for d in ("%d %b %Y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%B %d, %Y", "%d %B %Y",
                                   "%d. %B %Y", "%d.%b.%Y", "%b %d %Y")
               for t in _TIMES[:5])
_MONTH_FIRST = tuple(f"{d}{t}" for d in ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y") for t in _TIMES)
_DAY_FIRST = tuple(f"{d}{t}" for d in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y") for t in _TIMES)
_ZONE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2}|[+-]\d{2})$")

#: The readings a column can get when ``dayfirst`` is not given (tried in this order).
READINGS = {"month-first": _MONTH_FIRST, "day-first": _DAY_FIRST}


@dataclass
class ParsedDates:
    """The result of :func:`parse_dates`.

    Attributes
    ----------
    values : Series
        Naive ``datetime64[ns]`` (UTC where the text carried an offset); NaT where missing or not a date.
    bad : Series of bool
        Present but not a date under the column's reading.
    aware : Series of bool
        The value carried a time zone (offset or ``Z``).
    reading : str
        The reading used (``"ISO 8601"``, ``"day-first"``, ``"month-first"``, ``"date_format='...'"``, ...).
    extent : tuple of int, optional
        The smallest and largest of ``values`` as int64 nanoseconds (NaT's integer, the smallest int64, first when
        a value is missing) when the parse found them on the way (Arrow-backed ISO 8601 text); None otherwise.
    """

    values: pd.Series
    bad: pd.Series
    aware: pd.Series
    reading: str = "ISO 8601"
    extent: tuple[int, int] | None = None


def _as_ns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``datetime64`` values of any unit as ``datetime64[ns]``, and where nanoseconds cannot hold them.

    pandas 3 keeps dates before 1677-09-21 or after 2262-04-11 in a coarser unit; NumPy's cast to nanoseconds
    would wrap them round silently (year 1600 becoming 2184). Such values become NaT here and are marked, so that
    they are named as not dates instead of misread.
    """
    values = np.asarray(values)
    unit, count = np.datetime_data(values.dtype)
    if unit in ("Y", "M"):
        values = values.astype("datetime64[D]")
        unit, count = np.datetime_data(values.dtype)
    factor = int(np.timedelta64(count, unit) // np.timedelta64(1, "ns")) if unit != "generic" else 1
    if factor <= 1:
        return values.astype("datetime64[ns]"), np.zeros(len(values), dtype=bool)
    ints = values.view(np.int64)
    limit = np.iinfo(np.int64).max // factor
    outside = ((ints > limit) | (ints < -limit)) & ~np.isnat(values)
    if outside.any():
        values = values.copy()
        values[outside] = np.datetime64("NaT")
    return values.astype("datetime64[ns]"), outside


def _try(texts: np.ndarray, fmt: str) -> np.ndarray:
    """datetime64[ns] (naive UTC) per text under one format; NaT where it does not fit or is out of range."""
    parsed = pd.to_datetime(pd.Series(texts, dtype=object), format=fmt, errors="coerce", utc=True)
    return _as_ns(parsed.dt.tz_localize(None).to_numpy())[0]


def _cover(texts: np.ndarray, formats: tuple[str, ...], out: np.ndarray | None = None) -> np.ndarray:
    """Parse ``texts`` with the first format of ``formats`` each fits; NaT where none fits.

    A format is tried on a small sample of the still unparsed values first and on all of them only when it fits
    one of the sample, so that a column costs about one parsing pass per format it really uses.
    """
    out = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[ns]") if out is None else out.copy()
    todo = np.flatnonzero(np.isnat(out))
    skipped: list[str] = []
    for fmt in formats:
        if len(todo) == 0:
            return out
        sample = todo[:64]
        if np.isnat(_try(texts[sample], fmt)).all():
            skipped.append(fmt)
            continue
        got = _try(texts[todo], fmt)
        ok = ~np.isnat(got)
        out[todo[ok]] = got[ok]
        todo = todo[~ok]
    for fmt in skipped:  # values the samples did not represent
        if len(todo) == 0:
            break
        got = _try(texts[todo], fmt)
        ok = ~np.isnat(got)
        out[todo[ok]] = got[ok]
        todo = todo[~ok]
    return out


def _ambiguity_error(table: str, column: str, texts: np.ndarray, mdy: np.ndarray, dmy: np.ndarray) -> SchemaError:
    differ = np.flatnonzero(mdy != dmy)
    shown = texts[differ[:3]]
    readings = "; ".join(
        f"{t!r} is {pd.Timestamp(a):%d %b %Y} month-first or {pd.Timestamp(b):%d %b %Y} day-first"
        for t, a, b in zip(shown, mdy[differ[:3]], dmy[differ[:3]], strict=True))
    where = _where(table, column)
    message = (f"{where}: the dates read both month-first and day-first, with different results ({readings}); "
               f"say which: dayfirst=True (day-first, e.g. en_GB and European exports), dayfirst=False "
               f"(month-first, US exports), or date_format= (e.g. date_format='%d/%m/%Y')")
    cases = pd.DataFrame({"table": table or "-", "column": column, "check": "ambiguous_date", "key": "-",
                          "value": [f"{t} (month-first or day-first; set dayfirst= or date_format=)"
                                    for t in shown]})
    return SchemaError(message, cases)


def parse_dates(
    series: pd.Series,
    column: str = "",
    table: str = "",
    *,
    dayfirst: bool | None = None,
    date_format: str | None = None,
) -> ParsedDates:
    """Parse a column of dates with one reading inferred from its distinct values (see the module docstring).

    Parameters
    ----------
    series : Series
        Text, datetime (aware or naive) or a mix of text and Python datetimes (Excel).
    column, table : str
        Names for messages.
    dayfirst : bool, optional
        Read numeric dates day-first (True) or month-first (False); default: infer, refuse when both fit.
    date_format : str, optional
        One :func:`~datetime.datetime.strptime` format for the whole column (``"ISO8601"`` also works).

    Returns
    -------
    ParsedDates

    Raises
    ------
    SchemaError
        Check ``ambiguous_date``: both readings fit every value and give different dates.

    Examples
    --------
    >>> parse_dates(pd.Series(["03/25/2024 2:22 PM", "3/5/2024 9:00 AM"])).values.tolist()
    [Timestamp('2024-03-25 14:22:00'), Timestamp('2024-03-05 09:00:00')]
    >>> r = parse_dates(pd.Series(["25.03.2024", "tomorrow", None]))
    >>> r.reading, r.bad.tolist()
    ('day-first', [False, True, False])
    >>> parse_dates(pd.Series([20240325, 42])).values.tolist()  # compact ISO dates; other numbers are not dates
    [Timestamp('2024-03-25 00:00:00'), NaT]
    """
    return _filled(_parse_dates(series, column, table, dayfirst=dayfirst, date_format=date_format))


def _parse_dates(series: pd.Series, column: str, table: str, *, dayfirst: bool | None,
                 date_format: str | None) -> ParsedDates:
    """:func:`parse_dates`, with :data:`_ALL_FALSE` for a mask that is False everywhere (none is made)."""
    index = series.index
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
        aware = isinstance(series.dtype, pd.DatetimeTZDtype)
        # to_naive_utc's rule, in the data's own unit first, so that dates nanoseconds cannot hold are named
        naive = series.dt.tz_convert("UTC").dt.tz_localize(None) if aware else series
        values, outside = _as_ns(naive.to_numpy())
        return ParsedDates(pd.Series(values, index=index, copy=False), pd.Series(outside, index=index, copy=False),
                           series.notna() if aware else _ALL_FALSE, "datetime")
    if date_format in (None, "ISO8601"):
        fast = _plain_iso(series)
        if fast is not None:
            return ParsedDates(pd.Series(fast[0], index=index, dtype="datetime64[ns]", copy=False), _ALL_FALSE,
                               _ALL_FALSE, "ISO 8601", fast[1])
    codes, uniques = pd.factorize(series, use_na_sentinel=True)  # each distinct value is read once
    if len(uniques) == 0:  # every value is missing
        nat = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[ns]")
        return ParsedDates(pd.Series(nat, index=index, copy=False), _ALL_FALSE, _ALL_FALSE)
    uniq = np.asarray(uniques, dtype=object)
    blank = np.fromiter((isinstance(v, str) and not v.strip() for v in uniq), dtype=bool, count=len(uniq))
    if blank.any():  # blank strings are missing values
        codes = np.where(blank[np.maximum(codes, 0)], -1, codes)
    out = np.full(len(uniq), np.datetime64("NaT"), dtype="datetime64[ns]")
    aware_u = np.zeros(len(uniq), dtype=bool)
    # 20240325 read as a number by a CSV reader is a compact ISO date, not nanoseconds since 1970
    uniq = np.array([str(int(v)) if isinstance(v, int | np.integer | float | np.floating) and not isinstance(v, bool)
                     and float(v).is_integer() and 19000101 <= v <= 21001231 else v for v in uniq] + [None],
                    dtype=object)[:-1]
    is_text = np.fromiter((isinstance(v, str) for v in uniq), dtype=bool, count=len(uniq))
    for i in np.flatnonzero(~is_text):  # Python / pandas datetimes (Excel cells); numbers are not dates
        v = uniq[i]
        if isinstance(v, dt.datetime | dt.date | pd.Timestamp | np.datetime64) and not pd.isna(v):
            stamp = pd.Timestamp(v)
            aware_u[i] = stamp.tzinfo is not None
            out[i] = _as_ns(np.array([to_naive_utc(stamp).to_datetime64()]))[0][0]  # NaT if out of range
    texts = np.array([v.strip() if isinstance(v, str) else "" for v in uniq], dtype=object)
    text_idx = np.flatnonzero(is_text)
    reading = "ISO 8601"
    if len(text_idx):
        t = texts[text_idx]
        aware_u[text_idx] = [bool(_ZONE.search(s)) and not _looks_plain_date(s) for s in t]
        if date_format is not None:
            got = _try(t, date_format)
            reading = f"date_format={date_format!r}"
        else:
            got = _try(t, "ISO8601")
            if np.isnat(got).any():
                left = pd.Series(t[np.isnat(got)], dtype=object)  # only formats these values could fit
                formats = (_YEAR_FIRST if left.str.match(r"\d{4}[/.]").any() else ()) + (
                    _NAMED if left.str.contains(r"[A-Za-z]{3}").any() else ())
                got = _cover(t, formats, got) if formats else got
            if np.isnat(got).any():
                got, reading = _ordered(t, got, column, table, dayfirst)
        out[text_idx] = got
    missing = codes < 0
    has_missing = bool(missing.any())
    safe = np.maximum(codes, 0) if has_missing else codes
    parsed = out.take(safe)
    if has_missing:
        parsed[missing] = np.datetime64("NaT")
    bad_u = np.isnat(out)
    bad = bad_u[safe] & ~missing if bad_u.any() else np.zeros(len(codes), dtype=bool)
    aware = aware_u[safe] & ~missing if aware_u.any() else np.zeros(len(codes), dtype=bool)
    # the arrays were made here: no copy (pandas 3 copies NumPy input by default)
    return ParsedDates(pd.Series(parsed, index=index, dtype="datetime64[ns]", copy=False),
                       pd.Series(bad, index=index, copy=False), pd.Series(aware, index=index, copy=False), reading)


#: Days from 1970-01-01 whose midnight a ``datetime64[ns]`` holds (1677-09-22 to 2262-04-11).
_NS_DAYS = 106_751
_DAY_NS = np.int64(86_400_000_000_000)


def _plain_iso(series: pd.Series) -> tuple[np.ndarray, tuple[int, int] | None] | None:
    """Naive ISO 8601 dates of an Arrow-backed text column in one vectorised pass, with their extent, or None.

    The extent is the smallest and largest value as int64 nanoseconds (None for an empty column).

    pandas 3 reads CSV text into Arrow-backed strings. When *every* present value is a naive ISO 8601 date or
    date-time (``2024-03-05``, ``2024-03-05 14:22:00``, ``2024-03-05T14:22:00.123``), Arrow's strict parser reads
    the whole column at once, which is several times cheaper than looking up each value. Anything else (an
    offset or ``Z``, blanks, padding, other orders, out-of-range years, invalid days) makes Arrow refuse, and the
    caller reads the distinct values with the full rules. Both paths give the same dates for such a column: it is
    ISO 8601 under either, and ISO 8601 is tried first.

    The column's Arrow chunks are read one by one into one result array (no second full-size copy). A chunk of
    plain dates (``YYYY-MM-DD``, the usual order export) is cast to Arrow's ``date32`` (days; a cheaper parser
    that accepts exactly the valid ``YYYY-MM-DD`` dates, a subset of what the timestamp cast accepts, with the
    same dates) and scaled to nanoseconds; days outside what nanoseconds hold, and chunks with times of day, go
    through the timestamp cast, which refuses what it cannot hold. From ``2 *`` :data:`CONCURRENT_ROWS` rows on,
    the column's pieces (its chunks, cut to at most :data:`_PIECE` rows) are read by this thread and one more,
    each taking the next piece when it is done with one, so that both end at about the same time even when one
    of them is slowed (by the conversions of other columns running beside them, say); a refused piece stops both.
    Each piece's smallest and largest value are taken while it is still in the cache.
    """
    if getattr(series.dtype, "storage", None) != "pyarrow":
        return None
    import pyarrow as pa

    array = pa.array(series.array)  # zero-copy view of the column's Arrow data (public protocol)
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        return None
    if _refused(array.slice(0, _PROBE), pa.timestamp("ns")):  # the first values already are not naive ISO 8601
        return None
    out = _fresh(len(array), np.int64)
    pieces: list[tuple[int, Any]] = []  # (first row, Arrow piece of at most _PIECE rows), in row order
    row = 0
    for chunk in getattr(array, "chunks", [array]):
        for first in range(0, len(chunk), _PIECE):
            pieces.append((row, chunk.slice(first, _PIECE)))
            row += len(pieces[-1][1])
    taken = itertools.count()  # the next piece to read (``next`` on it is atomic: threads never share a piece)
    refused = threading.Event()
    lows: list[int] = []
    highs: list[int] = []

    def read() -> None:  # pieces, one at a time, into their rows of ``out`` until none is left or one is refused
        while not refused.is_set() and (i := next(taken)) < len(pieces):
            start, piece = pieces[i]
            rows = out[start: start + len(piece)]
            if not _iso_chunk(piece, rows):
                refused.set()
            elif len(rows):
                lows.append(int(rows.min()))
                highs.append(int(rows.max()))

    if len(array) >= 2 * CONCURRENT_ROWS and _cores() >= 2:  # two threads (Arrow's cast releases the GIL)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesplan-dates") as pool:
            other = pool.submit(read)
            read()
            other.result()
    else:
        read()
    if refused.is_set():
        return None
    return out.view("datetime64[ns]"), ((min(lows), max(highs)) if lows else None)


#: Rows of a text column read at a time by :func:`_plain_iso` (Arrow chunks longer than this are cut).
_PIECE = 1 << 18


#: Values Arrow's cast is tried on before a whole text column or chunk: a cast that fails costs about 20 times one
#: that succeeds (0.23 s instead of 0.01 s for a million dates to ``date32``, measured), and a value refused among
#: the first ones is refused in the whole (the cast refuses a column when it refuses any of its values).
_PROBE = 64


def _refused(values: Any, kind: Any) -> bool:
    """Whether Arrow's cast of ``values`` (a short slice of a text column) to ``kind`` refuses one of them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(values, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return True
    return False


def _iso_chunk(chunk: Any, out: np.ndarray) -> bool:
    """Write one Arrow text chunk's ISO 8601 dates into ``out``; False when Arrow refuses a value.

    ``out`` holds int64 nanoseconds; missing values become NaT.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    days = None  # times of day (or not ISO at all): the timestamp cast decides
    if not _refused(chunk.slice(0, _PROBE), pa.date32()):
        try:
            days = pc.cast(chunk, pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if days is not None:
        values = np.frombuffer(days.buffers()[1], dtype=np.int32)[days.offset: days.offset + len(days)] \
            if len(days) and days.buffers()[1] is not None else np.zeros(len(days), dtype=np.int32)
        missing = np.asarray(days.is_null(), dtype=bool) if days.null_count else None
        present = values if missing is None else values[~missing]  # a missing slot's value is undefined
        if len(present) == 0 or (-_NS_DAYS <= present.min() and present.max() <= _NS_DAYS):
            np.multiply(values, _DAY_NS, out=out)
            if missing is not None:
                out[missing] = np.iinfo(np.int64).min  # NaT
            return True
    try:
        stamps = pc.cast(chunk, pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    out[:] = np.asarray(stamps.to_numpy(zero_copy_only=False), dtype="datetime64[ns]").view(np.int64)
    return True


def _looks_plain_date(text: str) -> bool:
    """``2024-01-05`` ends in digits after a dash but carries no zone."""
    return bool(re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{2,4}", text))


def _ordered(texts: np.ndarray, base: np.ndarray, column: str, table: str,
             dayfirst: bool | None) -> tuple[np.ndarray, str]:
    """Numeric dates with a month/day order for the whole column."""
    if dayfirst is not None:
        name = "day-first" if dayfirst else "month-first"
        return _cover(texts, READINGS[name], base), name
    mdy = _cover(texts, _MONTH_FIRST, base)
    dmy = _cover(texts, _DAY_FIRST, base)
    n_mdy, n_dmy = int((~np.isnat(mdy)).sum()), int((~np.isnat(dmy)).sum())
    if n_mdy == n_dmy == len(texts):
        if np.array_equal(mdy, dmy):
            return mdy, "month-first or day-first (same dates)"
        raise _ambiguity_error(table, column, texts, mdy, dmy)
    if n_dmy > n_mdy:
        return dmy, "day-first"
    if n_mdy == int((~np.isnat(base)).sum()):  # neither order fits any value: nothing was read by it
        return base, "ISO 8601"
    return mdy, "month-first"


# ------------------------------------------------------------------------------------------------ numbers
_CURRENCY_SYMBOLS = "$€£¥₹₽₩"
_NUMBER = re.compile(
    r"^(?P<pre>[A-Z]{3}|[" + _CURRENCY_SYMBOLS + r"]|[A-Z]{1,2}\$|CHF|Fr\.)?\s*"
    r"(?P<open>\()?\s*(?P<sign>[-+−])?\s*(?P<pre2>[" + _CURRENCY_SYMBOLS + r"])?\s*"
    r"(?P<body>\d[\d.,' \u00a0\u202f]*|[.,]\d+)\s*"
    r"(?P<close>\))?\s*(?P<trail>-)?\s*(?P<suf>[A-Z]{3}|[" + _CURRENCY_SYMBOLS + r"])?$"
)


@dataclass
class ParsedNumbers:
    """The result of :func:`parse_numbers`.

    Attributes
    ----------
    values : Series of float
        NaN where missing or not a number.
    bad : Series of bool
        Present but not a number under the column's reading.
    currency : str or None
        The one currency found in the column (code or symbol), if any.
    decimal : str
        The decimal separator used (``"."`` or ``","``).
    hint : str
        Why values failed and which option to set ('' when nothing failed).
    mixed_currency : Series of bool
        Values in a currency other than the column's.
    """

    values: pd.Series
    bad: pd.Series
    currency: str | None = None
    decimal: str = "."
    hint: str = ""
    mixed_currency: pd.Series = field(default_factory=lambda: pd.Series(dtype=bool))


def _split(text: str) -> tuple[str, str | None, float] | None:
    """(digits body, currency, sign) of one amount text; None when it is not shaped like an amount."""
    m = _NUMBER.match(text.strip().replace("\u2212", "-"))
    if m is None or (m.group("open") is None) != (m.group("close") is None):
        return None
    currencies = {c for c in (m.group("pre"), m.group("pre2"), m.group("suf")) if c}
    if len(currencies) > 1:
        return None
    negative = bool(m.group("open")) or m.group("sign") in ("-", "−") or bool(m.group("trail"))
    if m.group("sign") in ("-", "−") and (m.group("open") or m.group("trail")):
        return None
    body = m.group("body").strip()
    return body, (currencies.pop() if currencies else None), (-1.0 if negative else 1.0)


def _evidence(body: str) -> str | None:
    """The decimal separator a body shows unambiguously ('.' or ','), '?' when it could be either, None if none."""
    seps = [c for c in body if not c.isdigit()]
    marks = [c for c in seps if c in ".,"]
    if not marks:
        return None
    if len(set(marks)) == 2:
        return marks[-1]
    mark = marks[0]
    if len(marks) > 1:  # repeated: a thousands separator, so the decimal is the other one
        return "," if mark == "." else "."
    if any(c in " '\u00a0\u202f" for c in seps):  # blank or apostrophe groups: the mark is the decimal
        return mark
    head, _, tail = body.rpartition(mark)
    if len(tail) == 3 and 1 <= len(head) <= 3 and head != "0":
        return "?"
    return mark


_GROUPED = {".": re.compile(r"^\d{1,3}(?:([,' \u00a0\u202f])\d{3})?(?:\1\d{3})*(?:\.\d+)?$|^\d*\.\d+$|^\d+$"),
            ",": re.compile(r"^\d{1,3}(?:([.' \u00a0\u202f])\d{3})?(?:\1\d{3})*(?:,\d+)?$|^\d*,\d+$|^\d+$")}


def _value(body: str, decimal: str, thousands: str | None) -> float | None:
    if thousands is not None:
        body = body.replace(thousands, "")
    elif not _GROUPED[decimal].match(body):
        return None
    else:
        body = re.sub(r"[^\d" + re.escape(decimal) + "]", "", body)
    if decimal != ".":
        if "." in body:
            return None
        body = body.replace(decimal, ".")
    try:
        return float(body)
    except ValueError:
        return None


def parse_numbers(
    series: pd.Series,
    column: str = "",
    table: str = "",
    *,
    decimal: str | None = None,
    thousands: str | None = None,
) -> ParsedNumbers:
    """Parse a column of numbers or amounts with one decimal separator and one currency (module docstring).

    Parameters
    ----------
    series : Series
        Numbers, or text as exports write amounts.
    column, table : str
        Names for messages.
    decimal : {".", ","}, optional
        The decimal separator; default: inferred from the values that show it, ``"."`` when none does and no
        value could be read both ways.
    thousands : str, optional
        The thousands separator; default: any of ``,`` ``.`` blank ``'`` other than the decimal, in groups of 3.

    Returns
    -------
    ParsedNumbers

    Examples
    --------
    >>> parse_numbers(pd.Series(["25 000,00", "(1,50)", "€ 3"])).values.tolist()
    [25000.0, -1.5, 3.0]
    >>> r = parse_numbers(pd.Series(["1,234", "2,500"]))
    >>> r.bad.tolist(), r.hint  # doctest: +ELLIPSIS
    ([True, True], "values such as '1,234' read as thousands or decimals; set decimal=',' or decimal='.'...")
    """
    return _filled(_parse_numbers(series, column, table, decimal=decimal, thousands=thousands))


def _parse_numbers(series: pd.Series, column: str, table: str, *, decimal: str | None,
                   thousands: str | None) -> ParsedNumbers:
    """:func:`parse_numbers`, with :data:`_ALL_FALSE` for a mask that is False everywhere (none is made)."""
    index = series.index
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iub":  # integers: one new float column
        values = _fresh(len(series), np.float64)
        np.copyto(values, series.to_numpy(), casting="unsafe")
        return ParsedNumbers(pd.Series(values, index=index, copy=False), _ALL_FALSE, mixed_currency=_ALL_FALSE)
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        num = series.astype(float)
        return ParsedNumbers(num, _ALL_FALSE, mixed_currency=_ALL_FALSE)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)  # each distinct value is read once
    if len(uniques) == 0:  # every value is missing
        return ParsedNumbers(pd.Series(np.full(len(series), np.nan), index=index, copy=False), _ALL_FALSE,
                             mixed_currency=_ALL_FALSE)
    uniq = np.asarray(uniques, dtype=object)
    blank = np.fromiter((isinstance(v, str) and not v.strip() for v in uniq), dtype=bool, count=len(uniq))
    if blank.any():  # blank strings are missing values
        codes = np.where(blank[np.maximum(codes, 0)], -1, codes)
    plain = pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce").to_numpy(dtype=float)
    if decimal is None and thousands is None:
        if not np.isnan(plain).any():
            return _numbers_done(plain, codes, index, None, ".", "", np.zeros(len(uniq), bool))
    out = np.full(len(uniq), np.nan)
    parts: list[tuple[str, str | None, float] | None] = []
    for v in uniq:
        if isinstance(v, bool | np.bool_):
            parts.append(None)
        elif isinstance(v, int | float | np.integer | np.floating):
            parts.append((repr(float(v)), None, 1.0) if np.isfinite(v) else None)
        else:
            parts.append(_split(str(v)))
    numeric_given = np.array([isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
                              for v in uniq], dtype=bool)
    evidence = [(_evidence(p[0]) if p is not None and not numeric_given[i] else None) for i, p in enumerate(parts)]
    hint = ""
    if decimal is None:
        votes = {e for e in evidence if e in (".", ",")}
        if len(votes) == 1:
            decimal = votes.pop()
        elif len(votes) == 2:
            counts = {s: sum(e == s for e in evidence) for s in ".,"}
            decimal = max(counts, key=lambda s: (counts[s], s == "."))
            hint = (f"values use both '.' and ',' as the decimal separator (e.g. "
                    f"{_examples(uniq[[e == ('.' if decimal == ',' else ',') for e in evidence]])}); "
                    f"set decimal= (and thousands=) to say which")
        elif "?" in evidence:
            amb = uniq[[e == "?" for e in evidence]]
            hint = (f"values such as {_examples(amb, 1)} read as thousands or decimals; set decimal=',' or "
                    f"decimal='.' (and thousands=) to say which")
            decimal = "?"
        else:
            decimal = "."
    currencies = [p[1] if p is not None else None for p in parts]
    found = [c for c in currencies if c]
    currency = max(set(found), key=found.count) if found else None
    other = np.array([c is not None and c != currency for c in currencies], dtype=bool)
    for i, p in enumerate(parts):
        if p is None or other[i]:
            continue
        if numeric_given[i]:
            out[i] = float(p[0])
            continue
        if decimal == "?":
            if evidence[i] is None:
                out[i] = p[2] * float(p[0]) if p[0].isdigit() else np.nan
            continue
        val = _value(p[0], decimal, thousands)
        if val is not None:
            out[i] = p[2] * val
    # what Python reads as a number and the column's reading cannot misread ("inf", "1e5", "-3")
    unmarked = np.array([decimal == "." or not any(c in str(v) for c in ".,") for v in uniq], dtype=bool)
    fill = np.isnan(out) & ~np.isnan(plain) & ~other & unmarked
    out[fill] = plain[fill]
    if not hint:
        bad_u = np.isnan(out) & ~other
        if bad_u.any():
            hint = _number_hint(uniq[bad_u], decimal)
    if other.any():
        extra = f"one currency per column: {currency!r} and {sorted({c for c in currencies if c and c != currency})}"
        hint = f"{hint}; {extra}" if hint else extra
    return _numbers_done(out, codes, index, currency, decimal if decimal in ".," else ".", hint, other)


def _number_hint(bad: np.ndarray, decimal: str) -> str:
    texts = [str(v) for v in bad[:50]]
    if decimal == "." and any(re.fullmatch(r"\s*-?\d+,\d{1,2}\s*", t) for t in texts):
        return "looks like decimal commas: set decimal=','"
    if any(re.search(r"[A-Za-z" + _CURRENCY_SYMBOLS + "]", t) for t in texts):
        return ("amounts are written as '<number> <currency>' or '<currency> <number>' with one currency per "
                "column; other text is not a number")
    return ""


def _numbers_done(out: np.ndarray, codes: np.ndarray, index: pd.Index, currency: str | None, decimal: str,
                  hint: str, other: np.ndarray) -> ParsedNumbers:
    present = codes >= 0
    safe = np.maximum(codes, 0)
    num = np.where(present, out[safe], np.nan)
    bad = present & np.isnan(out[safe]) & ~other[safe]
    mixed = present & other[safe]
    return ParsedNumbers(pd.Series(num, index=index), pd.Series(bad, index=index), currency, decimal, hint,
                         pd.Series(mixed, index=index))
