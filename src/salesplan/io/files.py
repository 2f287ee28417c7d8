"""Read a canonical table from a CSV, Parquet or Excel file.

:func:`read_table` picks the reader from the file name, reads id columns as text (so ``00042`` keeps its leading
zeros), and returns the table validated by :func:`salesplan.validate`.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "orders.csv").write_text("Kunde;Datum;Betrag\\n00042;2024-01-05;100,50\\n")
>>> orders = read_table(folder / "orders.csv", "orders",
...                     columns={"Kunde": "customer_id", "Datum": "order_date", "Betrag": "amount"})
>>> orders["customer_id"].tolist(), orders["amount"].tolist()
(['00042'], [100.5])
"""

from __future__ import annotations

import csv
import glob
import gzip
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from salesplan.errors import ConfigError
from salesplan.process import SalesProcess
from salesplan.schema import ID, TABLES, validate

__all__ = ["read_table", "read_raw", "sniff_separator"]

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
_SEPARATORS = ";,\t|"


def sniff_separator(sample: str) -> str:
    """Guess the field separator of CSV text among ``;``, ``,``, tab and ``|``.

    Uses :class:`csv.Sniffer` on the sample; when it cannot decide, the candidate that occurs most often in the
    header line wins, and ``,`` when none does.

    Examples
    --------
    >>> sniff_separator("a;b;c\\n1,5;2;3\\n"), sniff_separator("a,b\\n1,2\\n"), sniff_separator("single\\n1\\n")
    (';', ',', ',')
    """
    try:
        return csv.Sniffer().sniff(sample, delimiters=_SEPARATORS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {sep: header.count(sep) for sep in _SEPARATORS}
        best = max(counts, key=lambda s: counts[s])
        return best if counts[best] > 0 else ","


def _kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir() or any(name.endswith(s) for s in PARQUET_SUFFIXES):
        return "parquet"
    if any(name.endswith(s) for s in CSV_SUFFIXES):
        return "csv"
    if any(name.endswith(s) for s in EXCEL_SUFFIXES):
        return "excel"
    raise ConfigError(
        f"{path}: unknown file type; read_table reads CSV ({', '.join(CSV_SUFFIXES)}), Parquet "
        f"({', '.join(PARQUET_SUFFIXES)}, a folder or a glob) and Excel ({', '.join(EXCEL_SUFFIXES)})"
    )


def _read_csv(path: Path, text_columns: list[str], options: dict[str, Any]) -> pd.DataFrame:
    options = dict(options)
    encoding = options.pop("encoding", None)
    if "sep" not in options and "delimiter" not in options:
        with _open_text(path, encoding or "utf-8-sig") as handle:
            sample = handle.read(64_000)
        options["sep"] = sniff_separator(sample)
        if options["sep"] == ";" and "decimal" not in options:
            options["decimal"] = ","  # the usual partner of ';' (European locales); dotted numbers still parse
    dtype = {c: str for c in text_columns}
    dtype.update(options.pop("dtype", None) or {})
    try:
        return pd.read_csv(path, dtype=dtype, encoding=encoding or "utf-8-sig", **options)
    except UnicodeDecodeError:
        if encoding is not None:
            raise
        logger.warning("%s is not UTF-8; reading it as cp1252 (Windows Western European)", path)
        return pd.read_csv(path, dtype=dtype, encoding="cp1252", **options)


def _open_text(path: Path, encoding: str) -> TextIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, errors="replace")
    return open(path, encoding=encoding, errors="replace")  # noqa: SIM115 - closed by the caller's with


def read_raw(path: str | Path, *, text_columns: list[str] | None = None, sheet: str | int = 0,
             **reader_options: Any) -> pd.DataFrame:
    """Read a file as it is (no mapping, no validation): CSV, Parquet (file, folder or glob) or Excel.

    Parameters
    ----------
    path : str or Path
        The file; for Parquet also a folder of part files or a glob such as ``"orders/*.parquet"``.
    text_columns : list of str, optional
        Columns to read as text (CSV and Excel), so ids keep leading zeros.
    sheet : str or int
        Excel sheet name or position.
    **reader_options
        Passed to :func:`pandas.read_csv`, :func:`pandas.read_parquet` or :func:`pandas.read_excel`.

    Raises
    ------
    ConfigError
        The file does not exist, a glob matches nothing, or the type is unknown.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_text("id,v\\n007,1\\n")
    >>> read_raw(p, text_columns=["id"])["id"].tolist()
    ['007']
    """
    text = str(path)
    text_columns = list(text_columns or [])
    if any(ch in text for ch in "*?["):
        parts = sorted(glob.glob(text))
        if not parts:
            raise ConfigError(f"{text}: no file matches this pattern")
        kinds = {_kind(Path(p)) for p in parts}
        if kinds != {"parquet"}:
            return pd.concat([read_raw(p, text_columns=text_columns, sheet=sheet, **reader_options)
                              for p in parts], ignore_index=True)
        return pd.concat([pd.read_parquet(p, **reader_options) for p in parts], ignore_index=True)
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"{file}: file not found")
    kind = _kind(file)
    if kind == "csv":
        return _read_csv(file, text_columns, reader_options)
    if kind == "parquet":
        return pd.read_parquet(file, **reader_options)
    dtype = {c: str for c in text_columns}
    dtype.update(reader_options.pop("dtype", None) or {})
    return pd.read_excel(file, sheet_name=sheet, dtype=dtype, **reader_options)


def read_table(
    path: str | Path,
    table: str,
    columns: Mapping[str, str] | None = None,
    *,
    sheet: str | int = 0,
    as_of: Any = None,
    processes: Mapping[str, SalesProcess] | None = None,
    engine: str = "pandas",
    connection: Any = None,
    **reader_options: Any,
) -> Any:
    """Read one canonical table from CSV, Parquet or Excel and validate it (or open Parquet lazily).

    CSV files: the separator (``;``, ``,``, tab, ``|``) is sniffed unless ``sep=`` is given; a ``;`` file is read
    with ``decimal=","`` unless told otherwise; UTF-8 (with or without BOM) is tried first, then cp1252. Id
    columns (canonical or mapped onto one) are read as text, so leading zeros survive.

    Parameters
    ----------
    path : str or Path
        The file; for Parquet also a folder of part files or a glob.
    table : str
        The canonical table the file holds (see :data:`salesplan.TABLES`).
    columns : mapping, optional
        ``{"their column": "canonical column"}``.
    sheet : str or int
        Excel sheet name or position (default the first).
    as_of, processes
        Passed to :func:`salesplan.validate` (pandas engine only).
    engine : {"pandas", "duckdb", "polars", "spark"}
        ``"pandas"`` (default) reads everything into memory and validates every row. ``"duckdb"``, ``"polars"``
        and ``"spark"`` open a Parquet file, folder (hive partitions) or glob *lazily* and return a DuckDB
        relation, Polars LazyFrame or Spark DataFrame: columns are mapped, required columns checked and types cast,
        but no row is read until a reduction runs on it, so the data may be larger than memory (see
        :func:`salesplan.engines.scan_table`; the row rules of :func:`salesplan.validate` are not applied).
    connection : optional
        DuckDB connection or SparkSession for the lazy engines (default: DuckDB's default connection, the active
        Spark session).
    **reader_options
        Passed to the pandas reader (``sep``, ``encoding``, ``decimal``, ``skiprows``, ...; pandas engine only).

    Returns
    -------
    pandas.DataFrame, or a lazy DuckDB relation / Polars LazyFrame / Spark DataFrame
        The validated canonical table (pandas), or the lazily opened one.

    Raises
    ------
    ConfigError
        Missing file, no match for a glob, unknown file type, unknown table, unknown engine, a lazy engine asked
        to read a file that is not Parquet or given pandas reader options.
    SchemaError
        The table breaks validation rules (every failure listed; lazy engines: missing columns only).

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"customer_id": ["a"], "order_date": pd.to_datetime(["2024-01-05"]),
    ...               "amount": [10.0]}).to_parquet(folder / "orders.parquet")
    >>> rel = read_table(folder / "orders.parquet", "orders", engine="duckdb")
    >>> type(rel).__name__
    'DuckDBPyRelation'
    """
    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; canonical tables are {sorted(TABLES)}")
    if engine != "pandas":
        return _read_lazy(path, table, columns, engine, connection, reader_options, sheet, as_of, processes)
    spec = TABLES[table]
    inverse = {target: source for source, target in dict(columns or {}).items()}
    text_columns = [inverse.get(name, name) for name, kind in spec.columns.items() if kind == ID]
    frame = read_raw(path, text_columns=text_columns, sheet=sheet, **reader_options)
    logger.info("read %d rows from %s as %s", len(frame), path, table)
    return validate(frame, table, columns, as_of=as_of, processes=processes)


def _read_lazy(path: str | Path, table: str, columns: Mapping[str, str] | None, engine: str, connection: Any,
               reader_options: dict[str, Any], sheet: str | int, as_of: Any,
               processes: Mapping[str, SalesProcess] | None) -> Any:
    from salesplan.engines import LAZY_ENGINES, scan_table

    if engine not in LAZY_ENGINES:
        raise ConfigError(f"read_table: unknown engine {engine!r}; choose 'pandas' or one of {list(LAZY_ENGINES)}")
    text = str(path)
    if not (Path(text).is_dir() or any(ch in text for ch in "*?[") or _kind(Path(text)) == "parquet"):
        raise ConfigError(f"{text}: engine={engine!r} reads Parquet (a file, a folder or a glob); read CSV and "
                          "Excel files with engine='pandas' or convert them to Parquet first")
    ignored = sorted(reader_options) + (["sheet"] if sheet != 0 else []) + (["as_of"] if as_of is not None else [])
    ignored += ["processes"] if processes is not None else []
    if ignored:
        raise ConfigError(f"read_table: {ignored} only apply to engine='pandas' (reading and validating in "
                          f"pandas); engine={engine!r} opens the Parquet data lazily without validating rows")
    return scan_table(path, table, columns, engine=engine, connection=connection)
