"""Engines: accept a table in any supported dataframe engine, reduce it there, collect only the summary.

salesplan's reductions (:mod:`salesplan.reduce`) are written once against narwhals. This module is the door to
them: :func:`to_narwhals` wraps a native table of a supported engine (and refuses anything else with a
:class:`~salesplan.SchemaError` that names the supported engines), :func:`collect` brings a *small* result back as
pandas with engine-independent dtypes (and refuses to pull more rows than the caller said a summary may have),
:func:`scan_parquet` opens Parquet data lazily in DuckDB, Polars or Spark without loading it, and
:func:`to_engine` converts a pandas frame into any engine (for tests, examples and trying an engine out).

Supported engines
    ``pandas`` (DataFrame), ``polars`` (DataFrame), ``polars-lazy`` (LazyFrame), ``pyarrow`` (Table),
    ``duckdb`` (DuckDBPyRelation) and ``spark`` (pyspark.sql.DataFrame, classic or Spark Connect).

Dates and time zones
    salesplan stores dates as naive UTC timestamps (see :mod:`salesplan.schema`). :func:`collect` converts zone-aware
    results (Spark ``TIMESTAMP`` columns come back zone-aware) to naive UTC. Spark users should run their session
    with ``spark.sql.session.timeZone=UTC`` (or use ``TIMESTAMP_NTZ`` columns) so that Spark's date parts (year,
    day of year) and the cut-off comparisons agree with pandas.

Examples
--------
>>> import pandas as pd
>>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [1.0, 2.0, 5.0]})
>>> rel = to_engine(orders, "duckdb")
>>> engine_of(rel)
'duckdb'
>>> frame = to_narwhals(rel)
>>> import narwhals as nw
>>> per_customer = frame.group_by("customer_id").agg(nw.col("amount").sum())
>>> collect(per_customer, max_rows=10).sort_values("customer_id").to_dict("list")
{'customer_id': ['a', 'b'], 'amount': [3.0, 5.0]}
>>> to_narwhals([1, 2])
Traceback (most recent call last):
...
salesplan.errors.SchemaError: table: expected a table in a supported engine (pandas DataFrame, polars DataFrame, polars LazyFrame, pyarrow Table, duckdb DuckDBPyRelation, spark pyspark.sql.DataFrame), got list
"""

from __future__ import annotations

import contextvars
import ctypes
import ctypes.util
import functools
import gc
import glob as _glob
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import narwhals as nw
import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.schema import AMOUNT, DATE, ID, NUMBER, TABLES, TEXT

__all__ = ["ENGINES", "LAZY_ENGINES", "engine_of", "to_narwhals", "collect", "count_rows", "to_engine",
           "scan_parquet", "scan_table", "parquet_files", "parse_datetime", "materialise", "released_after", "TempTables", "epoch_days", "epoch_microseconds", "seconds_between"]

logger = logging.getLogger(__name__)

#: Every engine salesplan accepts, with the native type it stands for.
ENGINES: dict[str, str] = {
    "pandas": "pandas DataFrame",
    "polars": "polars DataFrame",
    "polars-lazy": "polars LazyFrame",
    "pyarrow": "pyarrow Table",
    "duckdb": "duckdb DuckDBPyRelation",
    "spark": "spark pyspark.sql.DataFrame",
}

#: Engines :func:`scan_parquet` (and ``read_table(engine=...)``) can open lazily, by their user-facing name.
LAZY_ENGINES = ("duckdb", "polars", "spark")

_IMPL = {
    nw.Implementation.PANDAS: "pandas",
    nw.Implementation.POLARS: "polars",
    nw.Implementation.PYARROW: "pyarrow",
    nw.Implementation.DUCKDB: "duckdb",
    nw.Implementation.PYSPARK: "spark",
    nw.Implementation.PYSPARK_CONNECT: "spark",
}


def _unsupported(frame: Any, table: str) -> SchemaError:
    supported = ", ".join(ENGINES.values())
    return SchemaError(f"{table}: expected a table in a supported engine ({supported}), got {type(frame).__name__}")


def _wrap(frame: Any, table: str) -> nw.DataFrame | nw.LazyFrame:
    if isinstance(frame, nw.DataFrame | nw.LazyFrame):
        wrapped = frame
    else:
        try:
            wrapped = nw.from_native(frame)
        except TypeError as exc:
            raise _unsupported(frame, table) from exc
        if not isinstance(wrapped, nw.DataFrame | nw.LazyFrame):  # a Series
            raise _unsupported(frame, table)
    if wrapped.implementation not in _IMPL:
        raise _unsupported(frame, table)
    return wrapped


def engine_of(frame: Any, table: str = "table") -> str:
    """The salesplan name of a table's engine (a key of :data:`ENGINES`).

    Raises
    ------
    SchemaError
        ``frame`` is not a table of a supported engine.

    Examples
    --------
    >>> import pandas as pd, polars as pl
    >>> engine_of(pd.DataFrame({"a": [1]})), engine_of(pl.DataFrame({"a": [1]})), engine_of(pl.LazyFrame())
    ('pandas', 'polars', 'polars-lazy')
    """
    wrapped = _wrap(frame, table)
    name = _IMPL[wrapped.implementation]
    if name == "polars" and isinstance(wrapped, nw.LazyFrame):
        return "polars-lazy"
    return name


def to_narwhals(frame: Any, table: str = "table", *, lazy: bool = False) -> nw.DataFrame | nw.LazyFrame:
    """Wrap a native table of a supported engine for engine-agnostic code; nothing is computed or copied.

    Parameters
    ----------
    frame : DataFrame-like
        A table of one of :data:`ENGINES` (or an already wrapped narwhals frame).
    table : str
        Name of the table, for error messages.
    lazy : bool
        Return a :class:`narwhals.LazyFrame` also for eager input (pandas, Polars DataFrame, PyArrow), so one
        code path serves every engine. DuckDB relations, Polars LazyFrames and Spark DataFrames are always lazy.

    Returns
    -------
    narwhals.DataFrame or narwhals.LazyFrame

    Raises
    ------
    SchemaError
        Any other type (a list, a NumPy array, a Series, an engine salesplan does not test against); the message
        names the supported engines.

    Examples
    --------
    >>> import pyarrow as pa
    >>> type(to_narwhals(pa.table({"a": [1]}), lazy=True)).__name__
    'LazyFrame'
    """
    wrapped = _wrap(frame, table)
    if lazy and isinstance(wrapped, nw.DataFrame):
        return wrapped.lazy()
    return wrapped


def _normalise(out: pd.DataFrame) -> pd.DataFrame:
    """Engine-independent pandas dtypes: object strings (None for missing), int64, naive datetime64[ns]."""
    out = out.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            out[col] = to_naive_utc(out[col])
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[col] = out[col].astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(dtype):
            if out[col].isna().any():
                out[col] = out[col].astype(object).where(out[col].notna(), None)
            else:
                out[col] = out[col].astype(bool)
        elif pd.api.types.is_integer_dtype(dtype):
            out[col] = out[col].astype("float64" if out[col].isna().any() else "int64")
        elif pd.api.types.is_float_dtype(dtype):
            out[col] = out[col].astype("float64")
    return out


_ROW_LIMIT: ContextVar[int | None] = ContextVar("salesplan_row_limit", default=None)


@contextmanager
def row_limit(max_rows: int | None) -> Iterator[None]:
    """Within the block, every summary salesplan collects from an engine may have at most ``max_rows`` rows.

    A guard for tests and for users who want proof that nothing pulls raw rows: run a job on engine inputs under
    a limit below the raw tables' row counts, and any collect of raw rows raises
    :class:`~salesplan.SchemaError` (rule ``max_rows``) instead of quietly moving the data into pandas.

    Examples
    --------
    >>> import polars as pl
    >>> with row_limit(2):
    ...     collect(pl.LazyFrame({"a": [1, 2, 3]}))
    Traceback (most recent call last):
    ...
    salesplan.errors.SchemaError: 1 validation failure(s):
      summary.* [max_rows]: 1 row(s), e.g. - (more than 2 rows; a summary was expected, not raw rows)
    """
    token = _ROW_LIMIT.set(max_rows)
    try:
        yield
    finally:
        _ROW_LIMIT.reset(token)


def current_row_limit() -> int | None:
    """The limit set by :func:`row_limit` (None outside such a block)."""
    return _ROW_LIMIT.get()


def collect(frame: Any, *, max_rows: int | None = None, table: str = "summary") -> pd.DataFrame:
    """Run a (lazy) query in its engine and return the result as pandas with engine-independent dtypes.

    Strings become ``object`` with ``None`` for missing values, integers ``int64`` (``float64`` when missing values
    occur), booleans ``bool``, dates naive ``datetime64[ns]`` in UTC (zone-aware results are converted), so results
    of different engines compare equal.

    Parameters
    ----------
    frame : DataFrame-like
        A narwhals frame or a native table of a supported engine.
    max_rows : int, optional
        The most rows a summary may have. The engine is asked for ``max_rows + 1`` rows at most; if it has more,
        nothing more is pulled and :class:`~salesplan.SchemaError` is raised (a guard against collecting raw rows
        by mistake: a reduction that should return patterns must not return a billion rows).
    table : str
        Name for error messages.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    SchemaError
        Unsupported engine, or more than ``max_rows`` rows.

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"a": [1, 2, 3]})
    >>> collect(lf)["a"].tolist()
    [1, 2, 3]
    >>> collect(lf, max_rows=2, table="patterns")
    Traceback (most recent call last):
    ...
    salesplan.errors.SchemaError: 1 validation failure(s):
      patterns.* [max_rows]: 1 row(s), e.g. - (more than 2 rows; a summary was expected, not raw rows)
    """
    wrapped = _wrap(frame, table)
    limit = _ROW_LIMIT.get()
    if limit is not None:
        max_rows = limit if max_rows is None else min(max_rows, limit)
    if max_rows is not None:
        if max_rows < 0:
            raise ConfigError(f"max_rows must be >= 0, got {max_rows}")
        wrapped = wrapped.head(max_rows + 1)
    if isinstance(wrapped, nw.LazyFrame):
        wrapped = wrapped.collect()
    out = wrapped.to_pandas()
    if max_rows is not None and len(out) > max_rows:
        raise SchemaError.from_cases([{"table": table, "column": "*", "check": "max_rows", "key": "-",
                                       "value": f"more than {max_rows} rows; a summary was expected, not raw rows"}])
    return _normalise(out.reset_index(drop=True))


def count_rows(frame: Any, table: str = "table") -> int:
    """Number of rows, counted inside the engine (only one number comes back).

    Examples
    --------
    >>> import pandas as pd
    >>> count_rows(to_engine(pd.DataFrame({"a": range(5)}), "duckdb"))
    5
    """
    wrapped = to_narwhals(frame, table, lazy=True)
    return int(collect(wrapped.select(nw.len().alias("n")))["n"].iloc[0])


def _duckdb_connection(connection: Any) -> Any:
    import duckdb

    if connection is None:
        return duckdb.default_connection()
    if not isinstance(connection, duckdb.DuckDBPyConnection):
        raise ConfigError(f"engine='duckdb' needs a duckdb connection, got {type(connection).__name__}")
    return connection


def _spark_session(connection: Any) -> Any:
    if connection is not None:
        return connection
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("engine='spark' needs pyspark: pip install 'salesplan[spark]'") from exc
    session = SparkSession.getActiveSession()
    if session is None:
        logger.info("no active Spark session; starting a local one")
        session = SparkSession.builder.getOrCreate()
    return session


def to_engine(frame: pd.DataFrame, engine: str, *, connection: Any = None) -> Any:
    """Convert a pandas frame into a native table of ``engine`` (a key of :data:`ENGINES`).

    Meant for tests, examples and trying an engine out on small data; large data should be read by the engine
    itself (:func:`scan_parquet`). The caller's frame is not changed.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data.
    engine : str
        ``pandas``, ``polars``, ``polars-lazy``, ``pyarrow``, ``duckdb`` or ``spark``.
    connection : optional
        DuckDB connection (default: DuckDB's default connection) or SparkSession (default: the active one, else
        a new local session).

    Examples
    --------
    >>> import pandas as pd
    >>> type(to_engine(pd.DataFrame({"a": [1]}), "polars-lazy")).__name__
    'LazyFrame'
    """
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"to_engine: expected a pandas DataFrame, got {type(frame).__name__}")
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; supported engines are {list(ENGINES)}")
    if engine == "pandas":
        return frame.copy()
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if engine == "pyarrow":
        return table
    if engine in ("polars", "polars-lazy"):
        import polars as pl

        out = pl.from_arrow(table)
        assert isinstance(out, pl.DataFrame)  # a table, not a single column
        return out.lazy() if engine == "polars-lazy" else out
    if engine == "duckdb":
        con = _duckdb_connection(connection)
        return con.from_arrow(table)
    session = _spark_session(connection)
    out = session.createDataFrame(frame)
    naive = [c for c in frame.columns if pd.api.types.is_datetime64_dtype(frame[c].dtype)
             and not isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if naive:  # pandas' naive datetimes are wall-clock times: Spark's TIMESTAMP_NTZ, whatever the session zone
        from pyspark.sql import functions as F

        out = out.withColumns({c: F.col(c).cast("timestamp_ntz") for c in naive})
    return out


def parquet_files(path: str | Path) -> list[str]:
    """The Parquet files behind a file, a folder (searched recursively, e.g. hive partitions) or a glob.

    Raises
    ------
    ConfigError
        Nothing exists at ``path`` or nothing matches.

    Examples
    --------
    >>> parquet_files("/no/such/folder")
    Traceback (most recent call last):
    ...
    salesplan.errors.ConfigError: /no/such/folder: no Parquet file found (a file, a folder of part files or a glob)
    """
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = sorted(_glob.glob(text, recursive=True))
    elif Path(text).is_dir():
        files = sorted(str(p) for p in Path(text).rglob("*") if p.is_file()
                       and p.suffix.lower() in (".parquet", ".pq", ".parq"))
    else:
        files = [text] if Path(text).is_file() else []
    if not files:
        raise ConfigError(f"{text}: no Parquet file found (a file, a folder of part files or a glob)")
    return files


def scan_parquet(path: str | Path, engine: str = "duckdb", *, connection: Any = None,
                 hive_partitioning: bool = True) -> Any:
    """Open Parquet data lazily in DuckDB, Polars or Spark, without reading the rows.

    Parameters
    ----------
    path : str or Path
        A Parquet file, a folder of part files (``key=value`` sub-folders are hive partitions and become
        columns) or a glob such as ``"orders/*.parquet"``.
    engine : {"duckdb", "polars", "spark"}
        The engine that will run the query.
    connection : optional
        DuckDB connection or SparkSession (defaults as in :func:`to_engine`).
    hive_partitioning : bool
        Read ``key=value`` folder names as columns (DuckDB and Polars; Spark always does).

    Returns
    -------
    duckdb.DuckDBPyRelation, polars.LazyFrame or pyspark.sql.DataFrame
        Lazy: rows are read when a query runs, and only the columns and row groups it needs.

    Raises
    ------
    ConfigError
        Unknown engine or no Parquet file at ``path``.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for year in (2023, 2024):
    ...     (folder / f"year={year}").mkdir()
    ...     pd.DataFrame({"amount": [1.0, 2.0]}).to_parquet(folder / f"year={year}" / "part-0.parquet")
    >>> rel = scan_parquet(folder, "duckdb")
    >>> count_rows(rel), sorted(collect(rel)["year"].unique().tolist())
    (4, [2023, 2024])
    """
    if engine not in LAZY_ENGINES:
        raise ConfigError(f"scan_parquet: engine must be one of {list(LAZY_ENGINES)}, got {engine!r}")
    text = str(path)
    files = parquet_files(text)
    is_dir = Path(text).is_dir()
    if engine == "duckdb":
        con = _duckdb_connection(connection)
        source: str | list[str] = str(Path(text) / "**" / "*.parquet") if is_dir else text
        if is_dir and not any(f.endswith(".parquet") for f in files):
            source = files
        return con.read_parquet(source, hive_partitioning=hive_partitioning)
    if engine == "polars":
        import polars as pl

        return pl.scan_parquet(text, hive_partitioning=hive_partitioning)
    return _spark_session(connection).read.parquet(text)


def scan_table(path: str | Path, table: str, columns: Mapping[str, str] | None = None, *, engine: str = "duckdb",
               connection: Any = None) -> Any:
    """Open a canonical table stored as Parquet lazily: map the column names, check and cast the columns.

    This is the out-of-core counterpart of :func:`salesplan.io.read_table` (which reads into pandas and validates
    every row). Only the schema is inspected here; no row is read. The query that later runs on the result (a
    reduction such as :func:`salesplan.reduce.customers.customer_summary`) reads the rows in the engine.

    What is done lazily: ``columns=`` renames; every required column of the table must exist (else
    :class:`~salesplan.SchemaError` listing all of them); id columns that are not text are cast to text; text date
    columns are parsed to datetimes; amounts and numbers are cast to Float64. What is *not* done: the row rules of
    :func:`salesplan.validate` (missing values, duplicates, future dates, ...). Validate a sample in pandas when
    the source is new.

    Parameters
    ----------
    path : str or Path
        Parquet file, folder (hive partitions become columns) or glob.
    table : str
        Canonical table name (see :data:`salesplan.TABLES`).
    columns : mapping, optional
        ``{"their column": "canonical column"}``.
    engine : {"duckdb", "polars", "spark"}
        The engine that will run the queries.
    connection : optional
        DuckDB connection or SparkSession.

    Returns
    -------
    duckdb.DuckDBPyRelation, polars.LazyFrame or pyspark.sql.DataFrame

    Raises
    ------
    ConfigError
        Unknown table or engine, no Parquet file at ``path``.
    SchemaError
        Required columns missing after mapping, or a mapping names a column the data lack.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"Kunde": [42, 7], "Datum": ["2024-01-05", "2024-02-01"], "Betrag": [10, -2]}).to_parquet(
    ...     folder / "orders.parquet")
    >>> rel = scan_table(folder / "orders.parquet", "orders",
    ...                  {"Kunde": "customer_id", "Datum": "order_date", "Betrag": "amount"}, engine="duckdb")
    >>> collect(rel).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'customer_id': ['42', '7'], 'order_date': [Timestamp('2024-01-05 00:00:00'), Timestamp('2024-02-01 00:00:00')],
     'amount': [10.0, -2.0]}
    """
    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; canonical tables are {sorted(TABLES)}")
    spec = TABLES[table]
    frame = to_narwhals(scan_parquet(path, engine, connection=connection), table, lazy=True)
    have = list(frame.collect_schema().names())
    mapping = dict(columns or {})
    cases = [{"table": table, "column": target, "check": "mapping", "key": "-",
              "value": f"columns= maps {source!r}, which the data do not have"}
             for source, target in mapping.items() if source not in have]
    renamed = [mapping.get(c, c) for c in have]
    cases += [{"table": table, "column": c, "check": "mapping", "key": "-",
               "value": "two columns have this name after mapping"}
              for c in sorted({c for c in renamed if renamed.count(c) > 1})]
    cases += [{"table": table, "column": c, "check": "required", "key": "-",
               "value": f"missing column; data have {renamed[:12]}"} for c in spec.required if c not in renamed]
    if cases:
        raise SchemaError.from_cases(cases)
    usable = {k: v for k, v in mapping.items() if k in have}
    if usable:
        frame = frame.rename(usable)
    schema = frame.collect_schema()
    casts = []
    for name, kind in spec.columns.items():
        if name not in schema:
            continue
        dtype = schema[name]
        if kind in (ID, TEXT) and dtype != nw.String:
            casts.append(nw.col(name).cast(nw.String))
        elif kind == DATE and dtype == nw.String:
            casts.append(parse_datetime(nw.col(name), frame.implementation))
        elif kind == DATE and dtype == nw.Date:
            casts.append(nw.col(name).cast(nw.Datetime("us")))
        elif kind in (AMOUNT, NUMBER) and dtype != nw.Float64:
            casts.append(nw.col(name).cast(nw.Float64))
    if casts:
        frame = frame.with_columns(*casts)
    logger.info("opened %s lazily in %s from %s (schema checked; rows are not validated)", table, engine, path)
    return frame.to_native()


def parse_datetime(expr: nw.Expr, implementation: nw.Implementation) -> nw.Expr:
    """Parse ISO-8601 text (``2024-01-05`` or ``2024-01-05 10:30:00``) to a naive datetime, on every engine.

    Polars parses with ``str.to_datetime`` (it no longer casts text to datetimes); DuckDB, Spark and the eager
    engines parse in a cast, which (unlike ``str.to_datetime`` in DuckDB) needs no format.

    Examples
    --------
    >>> import duckdb, narwhals as nw
    >>> rel = nw.from_native(duckdb.sql("select '2024-01-05 10:30:00' as d"))
    >>> collect(rel.select(parse_datetime(nw.col("d"), rel.implementation)))["d"].tolist()
    [Timestamp('2024-01-05 10:30:00')]
    """
    if implementation == nw.Implementation.POLARS:
        return expr.str.to_datetime().cast(nw.Datetime("us"))
    return expr.cast(nw.Datetime("us"))


_SCOPE: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar("salesplan_scope",
                                                                                           default=None)


def materialise(frame: nw.LazyFrame) -> nw.LazyFrame:
    """Evaluate a lazy plan once, *inside its engine*, so that several summaries can read the result.

    pandas and Polars results are collected (they are in memory anyway). DuckDB results go to a temporary table on
    the relation's connection, which DuckDB spills to its temp directory when it exceeds ``memory_limit``, so data
    larger than memory stay out of core. Spark results are checkpointed locally (``localCheckpoint``: kept by the
    executors, lineage cut). Other lazy engines are collected to Polars (or pandas).

    Inside :func:`released_after` (or a function decorated with it), the temporary tables are dropped when the
    outermost call returns; otherwise they live as long as the connection.

    Examples
    --------
    >>> import duckdb, narwhals as nw
    >>> rel = nw.from_native(duckdb.connect().sql("select range as a from range(5)"))
    >>> done = materialise(rel.filter(nw.col("a") > 1))
    >>> count_rows(done), engine_of(done)
    (3, 'duckdb')
    """
    if not isinstance(frame, nw.LazyFrame):
        return frame
    impl = frame.implementation
    if impl.is_pandas_like() or impl.is_polars() or impl == nw.Implementation.PYARROW:
        return frame.collect().lazy()
    if impl == nw.Implementation.DUCKDB:
        rel = frame.to_native()
        name = f"__salesplan_{uuid.uuid4().hex}"
        rel.query("__salesplan_src", f'CREATE TEMP TABLE "{name}" AS SELECT * FROM __salesplan_src')
        con = _temp_table_connection(name)
        if con is not None:  # a fresh relation over the table: later queries no longer carry the plan's text
            done = con.table(name)
        else:  # a connection of the caller's: read through the relation
            done = rel.query("__salesplan_src", f'SELECT * FROM "{name}"')

        def drop() -> None:
            if con is not None:
                con.sql(f'DROP TABLE IF EXISTS "{name}"')
            else:
                rel.query("__salesplan_src", f'DROP TABLE IF EXISTS "{name}"')

        scope = _SCOPE.get()
        if scope is not None:
            scope.append(drop)
        return nw.from_native(done)
    if impl in (nw.Implementation.PYSPARK, nw.Implementation.PYSPARK_CONNECT):
        native = frame.to_native()
        checkpoint = getattr(native, "localCheckpoint", None)
        if checkpoint is not None:
            try:
                return nw.from_native(checkpoint(eager=True))
            except Exception:  # noqa: BLE001 - Spark Connect may not support it; cache instead
                logger.debug("localCheckpoint unavailable; caching the Spark plan instead")
        return nw.from_native(native.cache())
    try:
        import polars  # noqa: F401

        return frame.collect(backend="polars").lazy()
    except ImportError:  # pragma: no cover - polars is a dev dependency
        return frame.collect(backend="pandas").lazy()


def _temp_table_connection(name: str) -> Any:
    """DuckDB's default connection when the temporary table ``name`` lives there (else None).

    Temporary tables are private to their connection, and the names :func:`materialise` gives are unique, so the
    table being visible on the default connection proves it was made there.
    """
    import duckdb

    con = duckdb.default_connection() if callable(duckdb.default_connection) else duckdb.default_connection
    try:
        found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
                            [name]).fetchall()
    except duckdb.Error:  # pragma: no cover - a closed default connection
        return None
    return con if found and found[0][0] else None


class TempTables:
    """The temporary tables :func:`materialise` creates while :meth:`active`; :meth:`drop` removes them.

    For results that outlive one call (a reduction kept by :class:`salesplan.Analysis` and read by several
    summaries); :func:`released_after` covers the common case of tables that live for one call.

    Examples
    --------
    >>> import duckdb, narwhals as nw
    >>> con = duckdb.connect()
    >>> tables = TempTables()
    >>> with tables.active():
    ...     done = materialise(nw.from_native(con.sql("select range as a from range(3)")))
    >>> count_rows(done)
    3
    >>> tables.drop()
    >>> con.sql("select count(*) from duckdb_tables() where table_name like '__salesplan_%'").fetchall()[0][0]
    0
    """

    def __init__(self) -> None:
        self._cleanups: list[Callable[[], None]] = []

    @contextmanager
    def active(self) -> Iterator[None]:
        """Within the block, tables :func:`materialise` creates are kept here (not in an enclosing scope)."""
        token = _SCOPE.set(self._cleanups)
        try:
            yield
        finally:
            _SCOPE.reset(token)

    def drop(self) -> None:
        """Drop the tables (a failed drop is logged at DEBUG, never raised)."""
        cleanups, self._cleanups[:] = list(self._cleanups), []
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - a failed drop must not hide the result or the error
                logger.debug("could not drop a temporary table: %s", exc)


def released_after(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: temporary tables :func:`materialise` creates during the call are dropped when it returns.

    Nested decorated calls share the outermost scope, so a reduction that calls another one keeps its tables until
    it is done itself.

    Examples
    --------
    >>> import duckdb, narwhals as nw
    >>> con = duckdb.connect()
    >>> @released_after
    ... def total(rel):
    ...     return int(collect(materialise(nw.from_native(rel)).select(nw.col("a").sum()))["a"].iloc[0])
    >>> total(con.sql("select range as a from range(4)"))
    6
    >>> con.sql("select count(*) from duckdb_tables() where table_name like '__salesplan_%'").fetchall()[0][0]
    0
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _SCOPE.get() is not None:
            return func(*args, **kwargs)
        tables = TempTables()
        try:
            with tables.active():
                return func(*args, **kwargs)
        finally:
            tables.drop()

    return wrapper


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to trim
        return None


def release_memory() -> None:
    """Give memory freed by Python back to the operating system.

    A garbage collection, then glibc's ``malloc_trim(0)`` where it exists (Linux).

    Large steps (the pipeline forecast's simulation, each report section) free hundreds of megabytes of NumPy and
    pandas buffers; glibc keeps freed blocks in the middle of its heap for reuse, so the process's resident memory
    stays high while a DuckDB query that follows fills its own ``memory_limit``. Trimming after such a step keeps
    the peak of a report on large data near DuckDB's limit plus what Python really holds. Costs a few
    milliseconds; a no-op where the C library has no ``malloc_trim``.

    Examples
    --------
    >>> release_memory()
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def epoch_days(expr: nw.Expr) -> nw.Expr:
    """Whole days from 1970-01-01 to the date of a datetime expression, on every engine (Int64).

    Computed from the year and the day of the year (proleptic Gregorian calendar) because some engines (Spark
    through narwhals) have no duration arithmetic.

    Examples
    --------
    >>> import pandas as pd, narwhals as nw
    >>> df = nw.from_native(pd.DataFrame({"d": pd.to_datetime(["1970-01-02", "2024-03-01"])}))
    >>> df.select(days=epoch_days(nw.col("d"))).to_native()["days"].tolist()
    [1, 19783]
    """
    year = expr.dt.year().cast(nw.Int64)
    return (365 * (year - 1970) + (year - 1969) // 4 - (year - 1901) // 100 + (year - 1601) // 400
            + expr.dt.ordinal_day().cast(nw.Int64) - 1)


def epoch_microseconds(expr: nw.Expr) -> nw.Expr:
    """Microseconds from 1970-01-01 00:00 to a (naive) datetime expression, on every engine (Int64).

    Examples
    --------
    >>> import pandas as pd, narwhals as nw
    >>> df = nw.from_native(pd.DataFrame({"d": pd.to_datetime(["1970-01-01 00:00:01.5"])}))
    >>> df.select(us=epoch_microseconds(nw.col("d"))).to_native()["us"].tolist()
    [1500000]
    """
    seconds = (epoch_days(expr) * 86400 + expr.dt.hour().cast(nw.Int64) * 3600
               + expr.dt.minute().cast(nw.Int64) * 60 + expr.dt.second().cast(nw.Int64))
    return seconds * 1_000_000 + expr.dt.microsecond().cast(nw.Int64)


def seconds_between(later: nw.Expr, earlier: nw.Expr) -> nw.Expr:
    """Seconds from ``earlier`` to ``later`` (Float64), exact to the microsecond, on every engine.

    A replacement for ``(later - earlier).dt.total_seconds()``, which narwhals does not offer for Spark.

    Examples
    --------
    >>> import pandas as pd, narwhals as nw
    >>> df = nw.from_native(pd.DataFrame({"a": pd.to_datetime(["2024-01-01 09:00:00.5"]),
    ...                                   "b": pd.to_datetime(["2024-01-02 10:00:00.2"])}))
    >>> df.select(s=seconds_between(nw.col("b"), nw.col("a"))).to_native()["s"].tolist()
    [89999.7]
    """
    return (epoch_microseconds(later) - epoch_microseconds(earlier)).cast(nw.Float64) / 1_000_000
