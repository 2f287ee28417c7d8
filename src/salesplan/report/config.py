"""The report configuration: a documented TOML schema, strict validation and data loading.

A configuration is a TOML file (read with :mod:`tomllib`; nothing in it is executed or unpickled). Paths are
relative to the configuration file. Unknown keys, wrong types, out-of-range values and missing files raise
:class:`salesplan.ConfigError` naming the file and the dotted key. ``salesplan init`` writes a commented example
(:data:`EXAMPLE_CONFIG`).

Schema
------
``[report]``
    ``title`` (str), ``subtitle`` (str), ``company`` (str), ``as_of`` (date; default: the latest date in the data),
    ``freq`` (``"M"`` or ``"Q"``; the month or quarter reported, the one that ends at ``as_of``), ``currency`` (str),
    ``confidence`` (float in (0, 1); interval level used throughout), ``seed`` (int; every random step uses
    it), ``formats`` (list of ``"html"``, ``"pdf"``, ``"xlsx"``, ``"json"``), ``sections`` (list of section keys
    to include; default: the sections of the level), ``processes`` (list of process names to report; default all
    with data), ``level`` (``"summary"``: the executive summary and the data quality; ``"standard"``, the
    default: summary, forecast, one page per process, breakdowns, KPIs, data quality, and the detail tables in
    the Excel workbook only; ``"full"``: every section and chart, the detail tables in an appendix),
    ``breakdowns`` (list of opportunity or customer columns the results are broken down by; default
    ``["owner", "region", "industry", "size"]``, those missing in the data are skipped).
``[data]``
    One entry per canonical table (``customers``, ``orders``, ``opportunities``, ``stage_events``,
    ``activities``, ``targets``): either a path string or a table with ``path`` (str), ``columns`` (table of
    ``"their column" = "canonical column"``), ``sheet`` (str or int, Excel only), ``sep`` (str, CSV only; default
    sniffed among ``;``, ``,``, tab and ``|``), ``encoding`` (str, CSV only; default UTF-8, then cp1252),
    ``dayfirst`` (bool) or ``date_format`` (str): how to read numeric dates when a column reads both month-first
    and day-first (see :func:`salesplan.parse.parse_dates`; such a column is refused otherwise), ``decimal`` and
    ``thousands`` (str): separators of amounts (default inferred per column; a ``;`` file is read with decimal
    commas). Files are read as :func:`salesplan.io.read_table` reads them (:func:`salesplan.io.read_raw`): id
    columns as text, title rows above the header and a report footer below the data (Salesforce report exports)
    detected and skipped with a WARNING naming each skipped line.
    ``opportunities`` and ``stage_events`` are required.
    ``forecast_categories`` (list of str; default ``["commit", "best_case", "pipeline"]``): the categories a
    forecast call (``forecast_calls``) may name; a call in another category is an error naming this file, the key,
    the column ``category`` and the rows.
    ``engine`` (``"pandas"``, ``"duckdb"``, ``"polars"`` or ``"spark"``; default ``"pandas"``): the engine that
    runs the heavy reductions. With any engine but pandas, ``orders``, ``opportunities``, ``stage_events`` and
    ``activities`` must be Parquet (a file, a folder of part files or a glob) and are opened lazily with
    :func:`salesplan.io.read_table` (columns and types checked, links to the small tables checked in the engine);
    every figure of the report (segments, funnel, deal states, control actuals, KPIs, movement, the pipeline
    forecast) is then computed inside that engine (out of core with DuckDB), and only summaries come back. The
    small tables (``customers``, ``targets``) are validated in pandas and handed to the engine.
    ``[data.duckdb]`` (with ``engine = "duckdb"``): settings of DuckDB's default connection, set before the tables
    are opened: ``memory_limit`` (str, e.g. ``"3GB"``), ``threads`` (int), ``temp_directory`` (str, relative to
    this file; where DuckDB spills), ``preserve_insertion_order`` (bool), ``allocator_background_threads`` (bool)
    and ``allocator_flush_threshold`` (str, e.g. ``"32MB"``): with the last two DuckDB hands memory it frees back
    at once, which keeps a memory-bounded run near its limit.
``[processes]``
    ``file`` (str): a process TOML as written by :func:`salesplan.save_processes`; default the five defaults.
``[segments]``
    ``abc`` (list of two cumulative shares closing classes A and B, e.g. ``[0.8, 0.95]``), ``value``
    (``"clv"``: 12-month customer lifetime value, or ``"revenue"``: past net revenue).
``[funnel]``
    ``by`` (list of group columns, e.g. ``["segment"]``; rates, plan and forecast are then split by them).
``[plan]``
    ``target_probability`` (float; the probability of reaching the target the plan is sized for), ``horizon``
    (str, a pandas offset such as ``"1MS"``; the months after the reporting period that start within it list the
    activities needed), ``of_record`` (str; a plan saved with ``Plan.save``: plan against actual compares with
    it; without it the report says that the plan shown is reconstructed from the funnel at the cut).
``[forecast]``
    ``horizon`` (str, ``"3MS"`` or ``"90D"``; window of the pipeline forecast after the cut), ``backtest`` (bool;
    rolling-origin backtest of the monthly series forecast), ``win_model`` (``"stage"``, the default: each open
    deal's win probability from its stage and days in stage at the funnel's rates; ``"deal"``: from the calibrated
    per-deal model of :func:`salesplan.forecast.deal_win_probability`, see :func:`salesplan.forecast.pipeline`).

Keys renamed in 0.2 (an old key is an error naming the new one): ``[report] period`` -> ``freq`` (``"M"`` or
``"Q"``), ``[plan] confidence`` -> ``target_probability``, ``[forecast] horizon_months`` -> ``horizon``.

``[capacity]``
    ``hours_per_rep`` (float; selling hours per rep and month), ``team`` (str; a team file, ``.toml`` with one
    ``[[team]]`` table per rep or ``.csv``, see :func:`salesplan.plan.read_team`; default: every owner of
    opportunities in the year before the cut), ``reps`` (legacy: table process -> number of reps, one team per
    process; overrides ``team``), ``hours_per_activity`` (table kind -> float), ``hire_profile`` (table: a new
    hire's ``hours_per_week``, ``cost_per_month``, optional ``ramp_months``, ``ramp_fraction``, ``lead_months``,
    ``attrition``; for the headcount a plan that does not fit needs).
``[costs]``
    ``per_activity`` (table kind -> cost per activity; the plan's activity cost per process and contract).

Examples
--------
>>> from salesplan.report.config import parse_config
>>> cfg = parse_config({"report": {"title": "Sales control", "freq": "M"},
...                     "data": {"opportunities": "opps.csv", "stage_events": "events.csv"}}, source="<doc>")
>>> cfg.report.title, cfg.report.confidence, cfg.data["opportunities"].path.name
('Sales control', 0.9, 'opps.csv')
>>> parse_config({"report": {"titel": "x"}}, source="r.toml")
Traceback (most recent call last):
...
salesplan.errors.ConfigError: r.toml: unknown key 'report.titel'; allowed keys in [report]: as_of, author, breakdowns, company, confidence, currency, formats, freq, level, processes, sections, seed, subtitle, title
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from salesplan._toml import read_toml
from salesplan._validation import check_horizon, check_probability
from salesplan.analysis import AnalysisSettings
from salesplan.data import TABLE_ORDER, SalesData
from salesplan.errors import ConfigError, SalesplanError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.process import DEFAULT_PROCESSES, SalesProcess, load_processes
from salesplan.reduce.links import LAZY_TABLES, check_lazy_links, latest_date
from salesplan.schema import FORECAST_CATEGORIES

__all__ = [
    "ENGINES",
    "LAZY_TABLES",
    "open_lazy_tables",
    "ReportConfig",
    "ReportOptions",
    "TableSource",
    "load_config",
    "parse_config",
    "load_data",
    "demo_config",
    "EXAMPLE_CONFIG",
    "FORMATS",
    "SECTION_KEYS",
]

logger = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "xlsx", "json")
#: Values of ``[forecast] win_model``: the stage rates, or the calibrated per-deal model.
WIN_MODELS = ("stage", "deal")
#: Values of ``[data] engine``.
ENGINES = ("pandas", "duckdb", "polars", "spark")
#: Old TOML keys -> (new key, what it holds): an old key is an error naming the new one.
RENAMED_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("report", "period"): ("freq", '"M" or "Q"'),
    ("plan", "confidence"): ("target_probability", "the chance of reaching the target the plan is sized for"),
    ("forecast", "horizon_months"): ("horizon", 'an offset string such as "3MS"'),
}
#: Values of ``[report] freq``: monthly or quarterly reporting.
PERIODS = ("M", "Q")
#: The report's sections in order (``report.sections`` names a subset); ``salesplan.report.sections`` lays them out.
SECTION_KEYS: tuple[str, ...] = ("overview", "forecast", "accountability", "processes", "breakdowns", "kpis",
                                 "activity", "segments", "data_quality")
#: Values of ``[report] level``, shortest first.
LEVELS: tuple[str, ...] = ("summary", "standard", "full")
#: The sections each level shows when ``[report] sections`` is not given.
LEVEL_SECTIONS: dict[str, tuple[str, ...]] = {
    "summary": ("overview", "data_quality"),
    "standard": ("overview", "forecast", "accountability", "processes", "breakdowns", "kpis", "data_quality"),
    "full": SECTION_KEYS,
}
#: Default of ``[report] breakdowns``.
BREAKDOWNS: tuple[str, ...] = ("owner", "region", "industry", "size")


@dataclass(frozen=True)
class ReportOptions:
    """The ``[report]`` table."""

    title: str = "Sales control report"
    subtitle: str = ""
    company: str = ""
    as_of: pd.Timestamp | None = None
    freq: str = "M"
    currency: str = "EUR"
    confidence: float = 0.9
    seed: int = 0
    formats: tuple[str, ...] = FORMATS
    sections: tuple[str, ...] | None = None
    processes: tuple[str, ...] | None = None
    level: str = "standard"
    breakdowns: tuple[str, ...] = BREAKDOWNS
    author: str = ""

    @property
    def section_keys(self) -> tuple[str, ...]:
        """The sections shown: ``sections`` when given, else those of ``level`` (in report order)."""
        chosen = LEVEL_SECTIONS[self.level] if self.sections is None else self.sections
        return tuple(k for k in SECTION_KEYS if k in chosen)


@dataclass(frozen=True)
class TableSource:
    """Where one canonical table comes from."""

    table: str
    path: Path
    columns: Mapping[str, str] = field(default_factory=dict)
    sheet: str | int | None = None
    sep: str | None = None
    encoding: str | None = None
    dayfirst: bool | None = None
    date_format: str | None = None
    decimal: str | None = None
    thousands: str | None = None

    def parse_options(self) -> dict[str, Any]:
        """The date and number options given for this table (for :func:`salesplan.validate`)."""
        return {k: getattr(self, k) for k in ("dayfirst", "date_format", "decimal", "thousands")
                if getattr(self, k) is not None}


@dataclass(frozen=True)
class ReportConfig:
    """A validated report configuration (see the module docstring for the schema)."""

    source: str = "<built-in>"
    report: ReportOptions = field(default_factory=ReportOptions)
    data: Mapping[str, TableSource] = field(default_factory=dict)
    data_engine: str = "pandas"
    duckdb_settings: Mapping[str, Any] = field(default_factory=dict)
    forecast_categories: tuple[str, ...] | None = None
    processes_file: Path | None = None
    segments: Mapping[str, Any] = field(default_factory=dict)
    funnel: Mapping[str, Any] = field(default_factory=dict)
    plan: Mapping[str, Any] = field(default_factory=dict)
    forecast: Mapping[str, Any] = field(default_factory=dict)
    capacity: Mapping[str, Any] = field(default_factory=dict)
    costs: Mapping[str, Any] = field(default_factory=dict)

    def option(self, group: str, key: str) -> Any:
        """The value of ``[group] key`` (its default when not set)."""
        return getattr(self, group).get(key, _DEFAULTS[group][key])

    def settings(self) -> AnalysisSettings:
        """The analysis options of this configuration as :class:`salesplan.AnalysisSettings`.

        ``[report] confidence`` is the interval level, ``[plan] target_probability`` the target probability the
        plan is sized for, ``[forecast] horizon`` the forecast horizon, ``[capacity] reps`` the teams.
        ``[forecast] backtest`` runs only at ``[report] level = "full"``, the one level that shows it.

        Examples
        --------
        >>> s = demo_config().settings()
        >>> s.confidence, s.target_probability, s.horizon
        (0.9, 0.8, <3 * MonthBegins>)
        """
        return AnalysisSettings(
            as_of=self.report.as_of, freq=self.report.freq, confidence=float(self.report.confidence),
            target_probability=float(self.option("plan", "target_probability")),
            horizon=self.option("forecast", "horizon"),
            plan_horizon=self.option("plan", "horizon"), processes=self.report.processes,
            by=tuple(self.option("funnel", "by")), teams=dict(self.option("capacity", "reps")),
            team=self.option("capacity", "team"), plan_of_record=self.option("plan", "of_record"),
            hours_per_rep=float(self.option("capacity", "hours_per_rep")),
            hours_per_activity=dict(self.option("capacity", "hours_per_activity")),
            hire_profile=dict(self.option("capacity", "hire_profile")),
            cost_per_activity=dict(self.option("costs", "per_activity")),
            segment_value=str(self.option("segments", "value")), abc=tuple(self.option("segments", "abc")),
            backtest=bool(self.option("forecast", "backtest")) and self.report.level == "full",
            win_model=str(self.option("forecast", "win_model")),
            seed=int(self.report.seed),
            engine=self.data_engine, currency=self.report.currency, breakdowns=tuple(self.report.breakdowns))


# ---------------------------------------------------------------------------------------------- schema
# key -> (expected type(s), description). Types: "str", "int", "float", "bool", "date", "list[str]",
# "list[float]", "table[str]", "table[int]", "table[float]", "str|int".
_SCHEMA: dict[str, dict[str, str]] = {
    "report": {"title": "str", "subtitle": "str", "company": "str", "as_of": "date", "freq": "str",
               "currency": "str", "confidence": "float", "seed": "int", "formats": "list[str]",
               "sections": "list[str]", "processes": "list[str]", "level": "str", "breakdowns": "list[str]",
               "author": "str"},
    "processes": {"file": "str"},
    "segments": {"abc": "list[float]", "value": "str"},
    "funnel": {"by": "list[str]"},
    "plan": {"target_probability": "float", "horizon": "str", "of_record": "str"},
    "forecast": {"horizon": "str", "backtest": "bool", "win_model": "str"},
    "capacity": {"hours_per_rep": "float", "reps": "table[int]", "team": "str", "hours_per_activity": "table[float]",
                 "hire_profile": "table[float]"},
    "costs": {"per_activity": "table[float]"},
}
#: Keys of ``[data.duckdb]``: settings of DuckDB's default connection, applied before the tables are opened.
DUCKDB_KEYS: dict[str, str] = {"memory_limit": "str", "threads": "int", "temp_directory": "str",
                               "preserve_insertion_order": "bool", "allocator_background_threads": "bool",
                               "allocator_flush_threshold": "str"}
_TABLE_KEYS = {"path": "str", "columns": "table[str]", "sheet": "str|int", "sep": "str", "encoding": "str",
               "dayfirst": "bool", "date_format": "str", "decimal": "str", "thousands": "str"}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "segments": {"abc": [0.8, 0.95], "value": "clv"},
    "funnel": {"by": []},
    "plan": {"target_probability": 0.8, "horizon": "1MS", "of_record": None},
    "forecast": {"horizon": "3MS", "backtest": True, "win_model": "stage"},
    "capacity": {"hours_per_rep": 120.0, "reps": {}, "team": None, "hours_per_activity": {"calls": 0.25, "visits": 2.0,
                                                                              "offers": 3.0},
                 "hire_profile": {}},
    "costs": {"per_activity": {"calls": 20.0, "visits": 150.0, "offers": 300.0}},
}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, dt.date | str)
    if kind == "str|int":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    if kind.startswith("list["):
        inner = kind[5:-1]
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if kind.startswith("table["):
        inner = kind[6:-1]
        return isinstance(value, dict) and all(_type_ok(v, inner) for v in value.values())
    raise AssertionError(kind)  # pragma: no cover


def _describe(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown[:60]}"


def _check_table(raw: Mapping[str, Any], group: str, allowed: Mapping[str, str], source: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [{group}] must be a table, got {_describe(raw)}")
    out = {}
    for key, value in raw.items():
        if (group, key) in RENAMED_KEYS:
            new = RENAMED_KEYS[(group, key)]
            raise ConfigError(f"{source}: '{group}.{key}' was renamed to '{group}.{new[0]}' ({new[1]})")
        if key == "horizon" and isinstance(value, int | float) and not isinstance(value, bool):
            raise ConfigError(f"{source}: '{group}.horizon' must be a pandas offset or duration string such as "
                              f"'{int(value)}MS' ({int(value)} months) or '90D', got {value!r}")
        if key not in allowed:
            raise ConfigError(f"{source}: unknown key '{group}.{key}'; allowed keys in [{group}]: "
                              f"{', '.join(sorted(allowed))}")
        if not _type_ok(value, allowed[key]):
            raise ConfigError(f"{source}: '{group}.{key}' must be {allowed[key]}, got {_describe(value)}")
        out[key] = value
    return out


def _probability(value: Any, key: str, source: str) -> float:
    """A probability in (0, 1), as everywhere in salesplan (the same check as the functions' ``confidence``)."""
    try:
        return check_probability(value, f"'{key}'")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _date(value: Any, key: str, source: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: '{key}' is not a date: {value!r} ({exc})") from None
    if pd.isna(stamp):
        raise ConfigError(f"{source}: '{key}' is not a date: {value!r}")
    return to_naive_utc(stamp)  # an offset is converted to UTC, as everywhere in salesplan


def _check_lazy_sources(data: Mapping[str, TableSource], engine: str, source: str) -> None:
    """With a lazy engine the large tables must be Parquet sources without pandas-only reader options."""
    from salesplan.io.files import PARQUET_SUFFIXES

    for table in LAZY_TABLES:
        src = data.get(table)
        if src is None:
            continue
        name = src.path.name.lower()
        parquet = (src.path.is_dir() or any(ch in name for ch in "*?[") or name.endswith(PARQUET_SUFFIXES)
                   or (src.path.suffix == "" and not src.path.is_file()))
        if not parquet:
            raise ConfigError(f"{source}: 'data.engine' = {engine!r} opens '{table}' lazily from Parquet only (a "
                              f"file, a folder of part files or a glob), but 'data.{table}.path' names "
                              f"{src.path.name}; convert it to Parquet or set data.engine = \"pandas\"")
        pandas_only = [key for key in ("sheet", "sep", "encoding") if getattr(src, key) is not None]
        if pandas_only:
            raise ConfigError(f"{source}: 'data.{table}' sets {pandas_only}, which apply to CSV/Excel read in "
                              f"pandas only; 'data.engine' = {engine!r} reads Parquet")


def parse_config(raw: Mapping[str, Any], source: str = "<config>", base: Path | None = None) -> ReportConfig:
    """Validate a parsed TOML mapping and return a :class:`ReportConfig`.

    Parameters
    ----------
    raw : mapping
        The parsed TOML document.
    source : str
        Name used in error messages (the file name).
    base : Path, optional
        Folder that relative paths are resolved against (the config file's folder); default the current one.

    Raises
    ------
    ConfigError
        Naming ``source`` and the dotted key for an unknown key, a wrong type or an out-of-range value.
    """
    base = Path(base) if base is not None else Path.cwd()
    allowed_groups = set(_SCHEMA) | {"data"}
    for group in raw:
        if group not in allowed_groups:
            raise ConfigError(f"{source}: unknown table [{group}]; allowed tables: {', '.join(sorted(allowed_groups))}")
    groups = {g: _check_table(raw.get(g, {}), g, keys, source) for g, keys in _SCHEMA.items()}

    rep = groups["report"]
    confidence = float(rep.get("confidence", 0.9))
    _probability(confidence, "report.confidence", source)
    freq = rep.get("freq", "M")
    if freq not in PERIODS:
        raise ConfigError(f"{source}: 'report.freq' must be one of {list(PERIODS)}, got {freq!r}")
    formats = tuple(rep.get("formats", FORMATS))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"{source}: 'report.formats' must be a non-empty list of {list(FORMATS)}, got {list(formats)}")
    sections = rep.get("sections")
    if sections is not None:
        unknown = [s for s in sections if s not in SECTION_KEYS]
        if unknown:
            raise ConfigError(f"{source}: 'report.sections' names unknown section(s) {unknown}; "
                              f"known: {list(SECTION_KEYS)}")
    level = rep.get("level", "standard")
    if level not in LEVELS:
        raise ConfigError(f"{source}: 'report.level' must be one of {list(LEVELS)}, got {level!r}")
    options = ReportOptions(
        title=rep.get("title", ReportOptions.title), subtitle=rep.get("subtitle", ""),
        company=rep.get("company", ""),
        as_of=_date(rep["as_of"], "report.as_of", source) if "as_of" in rep else None,
        freq=freq, currency=rep.get("currency", "EUR"), confidence=confidence, seed=int(rep.get("seed", 0)),
        formats=formats, sections=tuple(sections) if sections is not None else None,
        processes=tuple(rep["processes"]) if "processes" in rep else None, level=level,
        breakdowns=tuple(rep.get("breakdowns", BREAKDOWNS)), author=rep.get("author", ""),
    )

    data_raw = raw.get("data", {})
    if not isinstance(data_raw, Mapping):
        raise ConfigError(f"{source}: [data] must be a table, got {_describe(data_raw)}")
    data: dict[str, TableSource] = {}
    engine = data_raw.get("engine", "pandas")
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ConfigError(f"{source}: 'data.engine' must be one of {list(ENGINES)}, got {_describe(engine)}")
    categories = data_raw.get("forecast_categories")
    if categories is not None and (not _type_ok(categories, "list[str]") or not categories):
        raise ConfigError(f"{source}: 'data.forecast_categories' must be a non-empty list of str, got "
                          f"{_describe(categories)}")
    duckdb_settings: dict[str, Any] = {}
    if "duckdb" in data_raw:
        if engine != "duckdb":
            raise ConfigError(f"{source}: [data.duckdb] sets DuckDB's connection, but 'data.engine' is {engine!r}; "
                              "set data.engine = \"duckdb\" or remove [data.duckdb]")
        duckdb_settings = _check_table(data_raw["duckdb"], "data.duckdb", DUCKDB_KEYS, source)
        if "temp_directory" in duckdb_settings:
            duckdb_settings["temp_directory"] = str(base / duckdb_settings["temp_directory"])
    for table, spec in data_raw.items():
        if table in ("engine", "forecast_categories", "duckdb"):
            continue
        if table not in TABLE_ORDER:
            raise ConfigError(f"{source}: unknown key 'data.{table}'; tables are {', '.join(TABLE_ORDER)} (other "
                              "keys: engine, forecast_categories, duckdb)")
        if isinstance(spec, str):
            spec = {"path": spec}
        entry = _check_table(spec, f"data.{table}", _TABLE_KEYS, source)
        if "path" not in entry:
            raise ConfigError(f"{source}: 'data.{table}.path' is required")
        data[table] = TableSource(table=table, path=(base / entry["path"]), columns=dict(entry.get("columns", {})),
                                  sheet=entry.get("sheet"), sep=entry.get("sep"), encoding=entry.get("encoding"),
                                  **{k: entry[k] for k in ("dayfirst", "date_format", "decimal", "thousands")
                                     if k in entry})
    if engine != "pandas":
        _check_lazy_sources(data, engine, source)

    for group, key in (("plan", "target_probability"),):
        if key in groups[group]:
            _probability(groups[group][key], f"{group}.{key}", source)
    if groups["forecast"].get("win_model", "stage") not in WIN_MODELS:
        raise ConfigError(f"{source}: 'forecast.win_model' must be one of {list(WIN_MODELS)}, got "
                          f"{groups['forecast']['win_model']!r}")
    if groups["segments"].get("value", "clv") not in ("clv", "revenue"):
        raise ConfigError(f"{source}: 'segments.value' must be 'clv' or 'revenue', got {groups['segments']['value']!r}")
    for group in ("plan", "forecast"):
        if "horizon" in groups[group]:
            try:
                check_horizon(groups[group]["horizon"], f"{group}.horizon")
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
    if "abc" in groups["segments"]:
        abc = groups["segments"]["abc"]
        if len(abc) != 2 or not 0 < abc[0] < abc[1] < 1:
            raise ConfigError(f"{source}: 'segments.abc' must be two increasing shares in (0, 1), got {abc}")
    for group, key in (("capacity", "reps"), ("capacity", "hours_per_activity"), ("capacity", "hire_profile"),
                       ("costs", "per_activity")):
        for name, value in groups[group].get(key, {}).items():
            if value < 0:
                raise ConfigError(f"{source}: '{group}.{key}.{name}' must be >= 0, got {value}")
    for group, key in (("capacity", "hours_per_rep"),):
        if key in groups[group] and groups[group][key] < 0:
            raise ConfigError(f"{source}: '{group}.{key}' must be >= 0, got {groups[group][key]}")

    for group, key in (("plan", "of_record"), ("capacity", "team")):
        if key in groups[group]:
            groups[group] = {**groups[group], key: str(base / groups[group][key])}
    proc_file = groups["processes"].get("file")
    return ReportConfig(
        source=source, report=options, data=data, data_engine=engine, duckdb_settings=duckdb_settings,
        forecast_categories=tuple(categories) if categories is not None else None,
        processes_file=(base / proc_file) if proc_file else None,
        **{g: groups[g] for g in ("segments", "funnel", "plan", "forecast", "capacity", "costs")},
    )


def load_config(path: str | Path) -> ReportConfig:
    """Read and validate a report configuration file.

    Raises
    ------
    ConfigError
        When the file is missing or not valid TOML (naming the line), or any key is unknown or ill-typed.
    """
    path = Path(path)
    raw = read_toml(path, "configuration file")
    cfg = parse_config(raw, source=str(path), base=path.resolve().parent)
    missing = [t for t in ("opportunities", "stage_events") if t not in cfg.data]
    if missing:
        raise ConfigError(f"{path}: [data] must name the tables {missing} (e.g. data.{missing[0]} = \"file.csv\")")
    return cfg


def demo_config(**report: Any) -> ReportConfig:
    """The built-in configuration of ``salesplan demo`` (data from :func:`salesplan.datasets.load_example`).

    Examples
    --------
    >>> demo_config().report.title
    'Sales control report — example company'
    """
    options = {"title": "Sales control report — example company", "company": "Example company (simulated)",
               "seed": 20240, **report}
    return ReportConfig(source="<demo>", report=ReportOptions(**options),
                        capacity={})


def _read_table(src: TableSource, cfg_source: str) -> pd.DataFrame:
    """Read one ``[data]`` source as it is with :func:`salesplan.io.read_raw`, the reader of ``read_table``.

    So the batch command reads what the library reads: separator sniffing, UTF-8 then cp1252, id and text columns
    as text (``00042`` and a segment ``01`` keep their zeros), title rows and a report footer detected and skipped
    (logged at WARNING), Excel title rows, plain amounts and numbers read as floats by the parser. ``sep``,
    ``encoding``, ``decimal`` and ``thousands`` of the entry go to the CSV reader; errors name the config key.
    """
    from salesplan.io.files import EXCEL_SUFFIXES, read_raw
    from salesplan.schema import AMOUNT, ID, NUMBER, TABLES, TEXT

    path = src.path
    key = f"data.{src.table}.path"
    if path.is_dir():
        raise ConfigError(f"{cfg_source}: '{key}' names a folder, not a file: {path}; name the CSV, Parquet or "
                          "Excel file (a folder of Parquet part files is read with data.engine = \"duckdb\", "
                          "\"polars\" or \"spark\")")
    if not path.is_file():
        raise ConfigError(f"{cfg_source}: '{key}' names a file that does not exist: {path}")
    inverse = {target: source for source, target in src.columns.items()}
    kinds = TABLES[src.table].columns.items()
    text_columns = [inverse.get(name, name) for name, kind in kinds if kind in (ID, TEXT)]
    number_columns = [inverse.get(name, name) for name, kind in kinds if kind in (AMOUNT, NUMBER)]
    options: dict[str, Any] = {}
    if not path.name.lower().endswith(EXCEL_SUFFIXES):
        options = {k: getattr(src, k) for k in ("sep", "encoding", "decimal", "thousands")
                   if getattr(src, k) is not None}
    try:
        return read_raw(path, text_columns=text_columns, number_columns=number_columns,
                        sheet=src.sheet if src.sheet is not None else 0, **options)
    except ConfigError as exc:
        raise ConfigError(f"{cfg_source}: '{key}': {exc}") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{cfg_source}: '{key}': cannot read {path}: {exc}") from None


def load_processes_for(cfg: ReportConfig) -> dict[str, SalesProcess]:
    """The sales processes named by ``[processes] file`` (default: the five defaults)."""
    if cfg.processes_file is None:
        return dict(DEFAULT_PROCESSES)
    if not cfg.processes_file.is_file():
        raise ConfigError(f"{cfg.source}: 'processes.file' names a file that does not exist: {cfg.processes_file}")
    try:
        return load_processes(cfg.processes_file)
    except ConfigError as exc:
        raise ConfigError(f"{cfg.source}: 'processes.file' ({cfg.processes_file}): {exc}") from None


def open_lazy_tables(cfg: ReportConfig, connection: Any = None) -> dict[str, Any]:
    """Open the large tables (:data:`LAZY_TABLES`) named in ``[data]`` lazily in ``data.engine``.

    Uses :func:`salesplan.io.read_table` with ``engine=cfg.data_engine``: columns are mapped and checked, no row
    is read. Empty for the pandas engine.

    Parameters
    ----------
    cfg : ReportConfig
        The configuration.
    connection : optional
        DuckDB connection or SparkSession (default as in :func:`salesplan.engines.to_engine`).

    Returns
    -------
    dict of str to native lazy frame
        DuckDB relations, Polars LazyFrames or Spark DataFrames by table name.

    Raises
    ------
    ConfigError
        A source that is missing or not Parquet (naming the file and the key).
    SchemaError
        Required columns missing after the column mapping.

    Examples
    --------
    >>> open_lazy_tables(demo_config())
    {}
    """
    if cfg.data_engine == "pandas":
        return {}
    from salesplan.io.files import read_table

    out = {}
    for table in LAZY_TABLES:
        src = cfg.data.get(table)
        if src is None:
            continue
        try:
            out[table] = read_table(src.path, table, dict(src.columns) or None, engine=cfg.data_engine,
                                    connection=connection)
        except ConfigError as exc:
            raise ConfigError(f"{cfg.source}: 'data.{table}.path' with data.engine = {cfg.data_engine!r}: "
                              f"{exc}") from None
    return out


def apply_duckdb_settings(cfg: ReportConfig) -> None:
    """Set ``[data.duckdb]`` on DuckDB's default connection (the one the report's tables are opened in).

    ``memory_limit`` bounds what DuckDB holds (it spills to ``temp_directory`` beyond it);
    ``allocator_background_threads = true`` with a small ``allocator_flush_threshold`` makes memory DuckDB frees
    leave the process at once, so that the report's peak stays near the limit plus what Python holds (the 100M
    benchmark: 3,811 MiB with them, 4,161 MiB without, at ``memory_limit = "3GB"``).

    Raises
    ------
    ConfigError
        DuckDB refuses a value (naming the key and DuckDB's message).

    Examples
    --------
    >>> import duckdb
    >>> cfg = ReportConfig(data_engine="duckdb", duckdb_settings={"threads": 2})
    >>> apply_duckdb_settings(cfg)
    >>> duckdb.default_connection().execute("SELECT current_setting('threads')").fetchall()[0][0]
    2
    """
    import duckdb

    con = duckdb.default_connection() if callable(duckdb.default_connection) else duckdb.default_connection
    for key, value in cfg.duckdb_settings.items():
        literal = str(value).lower() if isinstance(value, bool) else value if isinstance(value, int) else \
            "'" + str(value).replace("'", "''") + "'"
        try:
            con.execute(f"SET {key} = {literal}")
        except duckdb.Error as exc:
            raise ConfigError(f"{cfg.source}: 'data.duckdb.{key}' = {value!r}: DuckDB refuses it: {exc}") from None
        logger.info("DuckDB: %s = %s", key, value)


def load_data(cfg: ReportConfig) -> SalesData:
    """Read every table named in ``[data]``, map its columns and validate (:meth:`SalesData.from_frames`).

    With ``data.engine`` other than pandas, the large tables (:data:`LAZY_TABLES`) are opened lazily
    (:func:`open_lazy_tables`, DuckDB's default connection) and stay native frames of that engine in the returned
    :class:`SalesData`: no raw row of them is collected; every figure reads them through the reductions of
    :mod:`salesplan.reduce`. Their schema (columns, types) is checked when they are opened, and the links between
    tables are checked in the engine (:func:`salesplan.reduce.links.check_lazy_links`); the small tables are validated in pandas.

    Raises
    ------
    ConfigError
        A named file is missing or unreadable (naming the key).
    SchemaError
        The tables break validation rules (naming table, column, rule and rows).
    """
    if not cfg.data:
        raise SalesplanError(f"{cfg.source}: no [data] tables configured")
    lazy_tables = LAZY_TABLES if cfg.data_engine != "pandas" else ()
    if cfg.duckdb_settings:
        apply_duckdb_settings(cfg)
    frames = {t: _read_table(src, cfg.source) for t, src in cfg.data.items() if t not in lazy_tables}
    lazy = open_lazy_tables(cfg) if lazy_tables else {}
    for table, frame in frames.items():
        logger.info("read %s: %d rows from %s", table, len(frame), cfg.data[table].path)
    columns = {t: dict(src.columns) for t, src in cfg.data.items() if src.columns and t not in lazy_tables}
    for table, mapping in columns.items():
        absent = [c for c in mapping if c not in frames[table].columns]
        if absent:
            raise ConfigError(f"{cfg.source}: 'data.{table}.columns' maps column(s) {absent} that "
                              f"{cfg.data[table].path.name} does not have; it has {list(frames[table].columns)[:12]}")
    for table, src in cfg.data.items():  # date and number options: read those columns as told, then as usual
        if src.parse_options() and table in frames and table not in lazy_tables:
            from salesplan.schema import validate

            frames[table] = validate(frames[table], table, columns.pop(table, None), **src.parse_options())
    people = None
    if "forecast_calls" in frames and cfg.option("capacity", "team"):  # reps and managers of the team may call
        from salesplan.plan import read_team

        team = read_team(cfg.option("capacity", "team"))
        people = sorted(set(team["owner"]) | set(team["manager"].dropna()))
    try:
        data = SalesData.from_frames(**frames, processes=load_processes_for(cfg), columns=columns or None,
                                     as_of=cfg.report.as_of, forecast_categories=cfg.forecast_categories,
                                     people=people)
    except SchemaError as exc:
        raise _with_call_hints(exc, cfg) from None
    if not lazy:
        return data
    data = dataclasses.replace(data, **lazy)
    check_lazy_links(data, cfg.report.as_of)
    if cfg.report.as_of is None:  # the latest date of every table, the lazy ones spanned in their engine
        data = dataclasses.replace(data, as_of=latest_date(data))
    logger.info("data.engine = %r: %s stay in %s (read through summaries only)", cfg.data_engine,
                ", ".join(lazy), cfg.data_engine)
    return data


def _with_call_hints(exc: SchemaError, cfg: ReportConfig) -> SchemaError:
    """The error of :meth:`SalesData.from_frames`, naming the configuration's file and keys for forecast calls.

    The category list is the configuration's (``data.forecast_categories``); the people who may call are the deal
    owners and the team's (``capacity.team``).
    """
    cases = exc.failure_cases
    if not len(cases) or not (cases["table"] == "forecast_calls").any():
        return exc
    src = cfg.data.get("forecast_calls")
    where = f"'data.forecast_calls' ({src.path.name})" if src is not None else "forecast_calls"
    allowed = list(cfg.forecast_categories or FORECAST_CATEGORIES)
    hints = {("forecast_calls", "category", "known_category"):
             f"{cfg.source}: key 'data.forecast_categories' allows {allowed}; add the category there or correct "
             f"column 'category' of {where}",
             ("forecast_calls", "owner", "known_owner"):
             f"{cfg.source}: {where} names a person who owns no opportunity and is not in the team "
             "('capacity.team', owner or manager)"}
    err = SchemaError.from_cases(cases, hints=hints)
    return SchemaError(f"{cfg.source}: {err}", err.failure_cases)


EXAMPLE_CONFIG = '''\
# salesplan report configuration (TOML). Run:  salesplan report --config report.toml --out report
# Paths are relative to this file. Unknown keys are errors, so a typo never goes unnoticed.

[report]
title = "Monthly sales control report"
company = "Example company"
# as_of = 2025-12-31          # the data cut; default: the latest date found in the data
freq = "M"                    # "M" (month) or "Q" (quarter): the reporting period that ends at as_of
currency = "EUR"
confidence = 0.9              # level of every interval in the report
seed = 20240                  # random steps (simulation-based intervals) use this seed: same data, same report
formats = ["html", "pdf", "xlsx", "json"]
# processes = ["acquisition", "retention"]   # report only these processes (default: all with data)
level = "standard"            # "summary" (1-2 pages), "standard" (about 10 pages) or "full" (every chart and table)
# sections = ["overview", "data_quality"]    # include only these sections (default: those of the level)
# breakdowns = ["owner", "region", "industry", "size"]   # opportunity or customer columns to break results down by
# author = "Sales controlling"  # the PDF's author (default: the company)

# One entry per table: a path, or a table with path, columns (their name = canonical name), sheet, sep, encoding,
# dayfirst / date_format (numeric dates that read both ways), decimal / thousands (amount separators).
[data]
# engine = "duckdb"           # big Parquet tables: reduce orders, stage events, activities in DuckDB out of core
#                             # ("pandas" default, "duckdb", "polars", "spark"; those three need Parquet sources)
customers = "data/customers.csv"
orders = "data/orders.csv"
opportunities = "data/opportunities.csv"
stage_events = "data/stage_events.csv"
activities = "data/activities.csv"
targets = "data/targets.csv"
opportunity_history = "data/opportunity_history.csv"   # the deal history (optional; past amounts and close dates)
forecast_calls = "data/forecast_calls.csv"   # the reps' forecast calls (optional; forecast accountability)
# forecast_categories = ["commit", "best_case", "pipeline"]   # the categories a forecast call may name
# Example of a column mapping for a CRM export with its own column names:
# [data.opportunities]
# path = "crm/deals.xlsx"
# sheet = "Deals"
# columns = { "Deal ID" = "opportunity_id", "Account" = "customer_id", "Pipeline" = "process", "Created" = "created_at" }

[processes]
# file = "processes.toml"     # your own stages and activities (see salesplan.save_processes); default: built-in five

[segments]
abc = [0.8, 0.95]             # cumulative value shares that close the A and B classes
value = "clv"                 # "clv" (12-month customer lifetime value) or "revenue" (past net revenue)

[funnel]
by = []                       # group columns for conversion rates, e.g. ["segment"]

[plan]
target_probability = 0.8      # plan volumes so that the target is reached with this probability
horizon = "1MS"               # the months after the reporting period starting within it list the activities needed
# of_record = "plan-2026.json"  # the plan as set (salesplan.plan.Plan.save); without it plan vs actual is
                                # compared with a plan reconstructed from the funnel at the cut

[forecast]
horizon = "3MS"               # window of the pipeline forecast after the data cut ("3MS": to the third month start)
backtest = true               # rolling-origin backtest of the monthly forecast against naive baselines
win_model = "stage"           # "stage": win chances from stage rates; "deal": the calibrated per-deal model

[capacity]
hours_per_rep = 120.0         # selling hours per rep and month (reps derived from the data)
# team = "team.toml"          # one [[team]] table per rep: owner, processes = [...], hours_per_week, start,
                              # ramp_months, absences = [["2026-02-02", "2026-02-06"]], end, manager
                              # (optional; a manager may make forecast calls for the team) (or a .csv);
                              # default: every owner of opportunities in the last year
hours_per_activity = { calls = 0.25, visits = 2.0, offers = 3.0 }
# hire_profile = { hours_per_week = 30.0, cost_per_month = 6000.0, ramp_months = 3.0, lead_months = 2.0 }
                              # a new hire, for the headcount a plan that does not fit needs

[costs]
per_activity = { calls = 20.0, visits = 150.0, offers = 300.0 }
'''
