"""Canonical tables, column mapping and validation.

salesplan works on six canonical tables (see the README): ``customers``, ``orders``, ``opportunities``,
``stage_events``, ``activities`` and ``targets``. :func:`validate` maps a user's column names onto the canonical
ones, coerces types and checks every rule, collecting all failures before it raises one :class:`SchemaError`
whose ``failure_cases`` table lists each (table, column, check, key, value). The caller's frame is never changed.

Type coercion
    ids become strings (a float id ``12345.0`` becomes ``"12345"``); dates become ``datetime64[ns]``; amounts and
    other numbers become float. Time-zone-aware dates are converted to UTC and stored naive, so every date column
    of every table compares on one clock; a column mixing naive and aware values, or two columns of one table in
    different zones, is a ``timezone`` failure.

Rules (the ``check`` names in ``failure_cases``)
    ``required`` a required column is missing; ``mapping`` the ``columns=`` mapping names a column the frame lacks;
    ``empty`` the table has no rows; ``not_null`` a required value is missing; ``unique`` a key repeats;
    ``date`` a value is not a parseable date; ``timezone`` see above; ``not_in_future`` a date lies after
    ``as_of`` (planned dates such as ``expected_close`` and target periods are exempt); ``numeric`` a value is not
    a number; ``finite`` a number is infinite; ``non_negative`` a count, potential, hour or cost is negative;
    ``integer`` a target number of contracts is not whole; ``return_sign`` an order line has a negative amount but
    a positive quantity (returns carry both negative); ``period`` a target period is not a month, quarter or year;
    ``known_process`` a process name is not defined; ``known_opportunity`` a stage event or activity names an
    unknown opportunity; ``known_stage`` a stage is not a stage of that opportunity's process;
    ``after_created`` a stage event lies before the opportunity's creation.

Negative order amounts are kept: they are returns or credit notes, flagged in the added boolean column
``is_return`` so that revenue figures can include or exclude them explicitly.

Examples
--------
>>> import pandas as pd
>>> import salesplan as sp
>>> raw = pd.DataFrame({"Kunde": [1, 2], "Datum": ["2024-01-05", "2024-02-01"], "Betrag": [100, -20]})
>>> orders = sp.validate(raw, "orders", columns={"Kunde": "customer_id", "Datum": "order_date",
...                                              "Betrag": "amount"})
>>> orders.dtypes.astype(str).to_dict()
{'customer_id': 'object', 'order_date': 'datetime64[ns]', 'amount': 'float64', 'is_return': 'bool'}
>>> list(raw.columns)  # the caller's frame is unchanged
['Kunde', 'Datum', 'Betrag']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import SchemaError
from salesplan.process import DEFAULT_PROCESSES, SalesProcess

__all__ = ["TableSpec", "TABLES", "validate", "to_pandas", "normalise_period"]

logger = logging.getLogger(__name__)

ID, TEXT, DATE, AMOUNT, NUMBER = "id", "text", "date", "amount", "number"


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
}


def to_pandas(frame: Any, table: str = "table") -> pd.DataFrame:
    """Return a pandas copy of any eager frame narwhals understands (pandas, Polars, PyArrow, ...).

    Lazy frames (Polars LazyFrame, DuckDB relation) are collected. The input is never modified.

    Examples
    --------
    >>> to_pandas(pd.DataFrame({"a": [1]})).shape
    (1, 1)
    """
    if isinstance(frame, pd.DataFrame):
        return frame.copy()
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

    Examples
    --------
    >>> normalise_period("2026-q1"), normalise_period("2026-03"), normalise_period(2026), normalise_period("x")
    ('2026-Q1', '2026-03', '2026', None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Period):
        return str(value)
    text = str(value).strip().upper().replace(" ", "")
    for freq in ("Q", "M", "Y"):
        try:
            if freq == "Q" and "Q" not in text:
                continue
            if freq == "M" and not (len(text) in (6, 7) and text[:4].isdigit()):
                continue
            if freq == "Y" and not (len(text) == 4 and text.isdigit()):
                continue
            return str(pd.Period(text, freq=freq))
        except (ValueError, TypeError):
            continue
    return None


class _Collector:
    """Collects failures for one table."""

    def __init__(self, table: str, keys: pd.Series) -> None:
        self.table = table
        self.keys = keys
        self.rows: list[dict[str, Any]] = []

    def add(self, column: str, check: str, mask: pd.Series | None = None, values: pd.Series | None = None,
            *, key: str = "-", value: str = "") -> None:
        if mask is None:
            self.rows.append({"table": self.table, "column": column, "check": check, "key": key, "value": value})
            return
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        idx = mask[mask].index
        vals = values.loc[idx] if values is not None else pd.Series("", index=idx)
        self.rows.extend(
            {"table": self.table, "column": column, "check": check, "key": k, "value": _show(v)}
            for k, v in zip(self.keys.loc[idx], vals, strict=True)
        )


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "missing"
    return str(value)[:60]


def _as_id(series: pd.Series) -> pd.Series:
    """Ids as strings; integral floats lose their '.0'; missing stays missing (None)."""
    out = series.copy()
    if pd.api.types.is_float_dtype(series):
        finite = series.notna() & np.isfinite(series.astype(float))
        integral = finite & (series.astype(float) % 1 == 0)
        text = series.astype(object)
        text[integral] = series[integral].astype("int64").astype(str)
        text[finite & ~integral] = series[finite & ~integral].astype(str)
        out = text
    elif pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
        out = series.astype(str).astype(object)
        if series.isna().any():
            out[series.isna()] = None
    else:
        out = series.astype(object)
        notna = out.notna()
        out[notna] = out[notna].map(lambda v: str(v).strip())
        out[notna & (out == "")] = None
    out = out.where(out.notna(), None)
    return out.astype(object)


def _as_text(series: pd.Series) -> pd.Series:
    out = series.astype(object)
    notna = out.notna()
    out[notna] = out[notna].map(str)
    return out.where(notna, None)


def _as_date(series: pd.Series, column: str, col: _Collector) -> tuple[pd.Series, str | None]:
    """Parse dates; returns naive UTC-or-local timestamps and the source time zone (None if naive)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]"), str(series.dt.tz)
    if pd.api.types.is_datetime64_dtype(series):
        return series.astype("datetime64[ns]"), None
    present = series.notna()
    try:
        parsed = pd.to_datetime(series, errors="coerce", format="mixed")
    except (ValueError, TypeError) as exc:
        # Mixed naive and aware values, or several offsets: parse per value to find which.
        if "timezone" not in str(exc).lower() and "tz" not in str(exc).lower():
            raise
        stamps = series.map(lambda v: pd.to_datetime(v, errors="coerce"))
        aware = stamps.map(lambda t: t is not pd.NaT and t is not None and getattr(t, "tzinfo", None) is not None)
        zones = stamps[aware].map(lambda t: str(t.utcoffset()))
        minority = aware if aware.sum() <= (~aware & present).sum() else (~aware & present)
        if zones.nunique() > 1 and aware.all():
            minority = aware & (zones.reindex(series.index) != zones.mode().iloc[0])
        col.add(column, "timezone", minority, series)
        utc = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
        return utc.dt.tz_localize(None).astype("datetime64[ns]"), "mixed"
    tz = None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        tz = str(parsed.dt.tz)
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    elif parsed.dtype == object:  # several fixed offsets
        parsed = pd.to_datetime(series, errors="coerce", utc=True, format="mixed").dt.tz_localize(None)
        tz = "UTC"
    col.add(column, "date", present & parsed.isna(), series)
    return parsed.astype("datetime64[ns]"), tz


def _as_number(series: pd.Series, column: str, col: _Collector) -> pd.Series:
    present = series.notna()
    if pd.api.types.is_bool_dtype(series):
        num = series.astype(float)
    else:
        num = pd.to_numeric(series, errors="coerce").astype(float)
    col.add(column, "numeric", present & num.isna(), series)
    col.add(column, "finite", np.isinf(num), series)
    return num


def validate(
    frame: Any,
    table: str,
    columns: Mapping[str, str] | None = None,
    *,
    as_of: Any = None,
    processes: Mapping[str, SalesProcess] | None = None,
    opportunities: pd.DataFrame | None = None,
    raise_errors: bool = True,
) -> pd.DataFrame:
    """Map, coerce and check one canonical table; return a new, clean pandas frame.

    Parameters
    ----------
    frame : DataFrame
        The user's table (pandas, or anything narwhals reads: Polars, PyArrow, DuckDB relation).
    table : {"customers", "orders", "opportunities", "stage_events", "activities", "targets"}
        Which canonical table ``frame`` holds.
    columns : mapping, optional
        ``{"their column": "canonical column"}``. Unmapped columns keep their names.
    as_of : date-like, optional
        The data cut. Dates after it (other than planned dates) are ``not_in_future`` failures.
    processes : mapping of str to SalesProcess, optional
        Known processes (default: the five defaults). Checks ``process`` columns and, for stage events with
        ``opportunities``, that each stage belongs to the opportunity's process.
    opportunities : DataFrame, optional
        A *validated* opportunities table, for the cross-table rules of ``stage_events`` and ``activities``.
    raise_errors : bool
        When False, return the frame with the failures in ``result.attrs["failure_cases"]`` instead of raising.

    Returns
    -------
    pandas.DataFrame
        Canonical column names and types; ``orders`` gains a boolean ``is_return``.

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
    ...     print(sorted(err.failure_cases["check"]))
    ['date', 'not_null', 'not_null', 'unique', 'unique']
    """
    if table not in TABLES:
        raise SchemaError(f"unknown table {table!r}; canonical tables are {sorted(TABLES)}")
    spec = TABLES[table]
    processes = dict(DEFAULT_PROCESSES if processes is None else processes)
    df = to_pandas(frame, table)
    original_columns = set(df.columns)
    if columns:
        df = df.rename(columns=dict(columns))
    df = df.reset_index(drop=True)
    # Row keys for messages: the table key where it is a single id column, else the row position.
    keys = pd.Series([f"row {i}" for i in range(len(df))], index=df.index, dtype=object)
    if len(spec.key) == 1 and spec.key[0] in df.columns:
        keys = df[spec.key[0]].astype(str)
    col = _Collector(table, keys)

    for source, target in dict(columns or {}).items():
        if source not in original_columns:
            col.add(target, "mapping", key="-", value=f"columns= maps {source!r}, which the frame does not have")
    missing = [c for c in spec.required if c not in df.columns]
    for c in missing:
        col.add(c, "required", key="-", value=f"missing column; frame has {list(df.columns)[:12]}")
    if len(df) == 0:
        col.add("*", "empty", key="-", value="table has no rows")
    if missing or len(df) == 0:
        return _finish(df, col, raise_errors)

    as_of_ts = None if as_of is None else pd.Timestamp(as_of)
    if as_of_ts is not None and as_of_ts.tzinfo is not None:
        as_of_ts = as_of_ts.tz_convert("UTC").tz_localize(None)
    zones: dict[str, str] = {}
    for name, kind in spec.columns.items():
        if name not in df.columns:
            continue
        raw = df[name]
        if kind == ID:
            df[name] = _as_id(raw)
        elif kind == TEXT:
            df[name] = _as_text(raw)
        elif kind == DATE:
            df[name], tz = _as_date(raw, name, col)
            if tz is not None:
                zones[name] = tz
            if as_of_ts is not None and name not in spec.future_ok:
                col.add(name, "not_in_future", df[name] > as_of_ts, raw)
        else:
            df[name] = _as_number(raw, name, col)
        if name in spec.required:
            missing_value = raw.isna() if kind in (DATE, AMOUNT, NUMBER) else df[name].isna()
            col.add(name, "not_null", missing_value, raw)
    date_cols = [c for c, k in spec.columns.items() if k == DATE and c in df.columns]
    naive = [c for c in date_cols if c not in zones]
    if zones and (len(set(zones.values())) > 1 or naive):
        detail = ", ".join(f"{c}={zones.get(c, 'naive')}" for c in date_cols)
        col.add(",".join(date_cols), "timezone", key="-", value=f"date columns use different time zones: {detail}")

    for name in spec.non_negative:
        if name in df.columns:
            col.add(name, "non_negative", df[name] < 0, df[name])
    if spec.key and table != "targets" and all(k in df.columns for k in spec.key):
        dup = df.duplicated(list(spec.key), keep=False)
        col.add(spec.key[0] if len(spec.key) == 1 else "+".join(spec.key), "unique", dup,
                df[list(spec.key)].astype(str).agg("|".join, axis=1))

    _table_rules(table, df, col, processes, opportunities)
    return _finish(df, col, raise_errors)


def _table_rules(table: str, df: pd.DataFrame, col: _Collector, processes: dict[str, SalesProcess],
                 opportunities: pd.DataFrame | None) -> None:
    if table == "orders":
        df["is_return"] = (df["amount"] < 0).fillna(False).astype(bool)
        if "quantity" in df.columns:
            col.add("amount", "return_sign", (df["amount"] < 0) & (df["quantity"] > 0), df["amount"])
    if table in ("opportunities", "targets") or (table == "activities" and "process" in df.columns):
        known = df["process"].notna() & ~df["process"].isin(list(processes))
        col.add("process", "known_process", known, df["process"])
    if table == "targets":
        periods = df["period"].map(normalise_period)
        col.add("period", "period", df["period"].notna() & periods.isna(), df["period"])
        df["period"] = periods.where(periods.notna(), df["period"])
        contracts = df["contracts"]
        col.add("contracts", "integer", contracts.notna() & np.isfinite(contracts) & (contracts % 1 != 0), contracts)
        key = [c for c in ("process", "period", "segment") if c in df.columns]
        dup = df.duplicated(key, keep=False)
        col.add("+".join(key), "unique", dup, df[key].astype(str).agg("|".join, axis=1))
    if table in ("stage_events", "activities") and opportunities is not None and "opportunity_id" in df.columns:
        opp = opportunities.set_index("opportunity_id")
        has = df["opportunity_id"].notna()
        known = df["opportunity_id"].isin(opp.index)
        col.add("opportunity_id", "known_opportunity", has & ~known, df["opportunity_id"])
        if table == "stage_events":
            proc = df["opportunity_id"].map(opp["process"])
            allowed = {name: set(p.all_stages) for name, p in processes.items()}
            ok = pd.Series([st in allowed.get(pr, set()) if isinstance(pr, str) else True
                            for st, pr in zip(df["stage"], proc, strict=True)], index=df.index)
            col.add("stage", "known_stage", known & proc.isin(list(processes)) & ~ok,
                    df["stage"].astype(str) + " (process " + proc.astype(str) + ")")
            created = df["opportunity_id"].map(opp["created_at"])
            col.add("entered_at", "after_created", known & (df["entered_at"] < created),
                    df["entered_at"].astype(str) + " < created " + created.astype(str))


def _finish(df: pd.DataFrame, col: _Collector, raise_errors: bool) -> pd.DataFrame:
    if col.rows:
        err = SchemaError.from_cases(col.rows)
        if raise_errors:
            raise err
        df.attrs["failure_cases"] = err.failure_cases
    return df
