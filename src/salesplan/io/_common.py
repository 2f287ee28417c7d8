"""Helpers shared by the adapters: the repair report, input reading, date parsing, process resolution."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.parse import parse_dates
from salesplan.process import DEFAULT_PROCESSES, SalesProcess
from salesplan.schema import to_pandas

REPORT_COLUMNS = ["source", "table", "key", "column", "issue", "action", "value"]
"""Columns of every adapter's report: one row per record repaired, dropped or kept despite a problem."""


class Report:
    """Collects what an adapter repaired or dropped, and logs one WARNING per issue."""

    def __init__(self, source: str, logger: logging.Logger) -> None:
        self.source = source
        self.logger = logger
        self.parts: list[pd.DataFrame] = []

    def add(self, table: str, keys: Iterable[Any], column: str, issue: str, action: str,
            values: Iterable[Any] | str = "", *, why: str = "") -> None:
        keys = [str(k) for k in keys]
        if not keys:
            return
        vals = [values] * len(keys) if isinstance(values, str) else [str(v) for v in values]
        self.parts.append(pd.DataFrame({"source": self.source, "table": table, "key": keys, "column": column,
                                        "issue": issue, "action": action, "value": vals}))
        self.logger.warning("%s: %s %d %s row(s) (%s%s)", self.source, action, len(keys), table, issue,
                            f": {why}" if why else "")

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in REPORT_COLUMNS})
        return pd.concat(self.parts, ignore_index=True)[REPORT_COLUMNS]


def as_frame(data: Any, name: str, text_columns: list[str] | None = None, report: Report | None = None,
             **reader_options: Any) -> pd.DataFrame:
    """A pandas copy of a frame (anything narwhals reads) or of a file read with :func:`read_raw`.

    ``reader_options`` (``sep``, ``encoding``, ``skiprows``, ``skipfooter``, ``sheet``, ...) apply to a path only;
    lines skipped as title rows or report footer are added to ``report``.
    """
    if isinstance(data, str | Path):
        from salesplan.io.files import read_raw

        frame = read_raw(data, text_columns=text_columns, **reader_options)
        if report is not None:
            for line in frame.attrs.get("skipped_lines", []):
                report.add(name, [line["line"]], "-", "export_" + ("title" if "title" in line["why"] else "footer"),
                           "skipped", [line["text"]], why=f"{line['why']} of {Path(data).name}")
        return frame
    if reader_options:
        raise ConfigError(f"{name}: reader options {sorted(reader_options)} apply when reading a file; a "
                          f"{type(data).__name__} was given")
    return to_pandas(data, name)


def export_dates(frame: pd.DataFrame, columns: list[str], keys: pd.Series, source: str, table: str, *,
                 dayfirst: bool | None = None, date_format: str | None = None) -> dict[str, pd.Series]:
    """Parse the date columns of one export with one reading for all of them (an export has one locale).

    Returns naive ``datetime64[ns]`` columns (UTC where the text carried an offset, see
    :func:`salesplan.parse.to_naive_utc`); missing stays NaT.

    Raises
    ------
    SchemaError
        A value that is not a date under the reading (check ``date``, naming column, key and value), or dates
        that read both month-first and day-first (check ``ambiguous_date``; set ``dayfirst=`` or
        ``date_format=``).
    """
    columns = [c for c in columns if c is not None and c in frame.columns]
    if not columns:
        return {}
    stacked = pd.concat([frame[c].astype(object) for c in columns], ignore_index=True)
    try:
        parsed = parse_dates(stacked, ", ".join(str(c) for c in columns), f"{source} {table}",
                             dayfirst=dayfirst, date_format=date_format)
    except SchemaError as err:
        raise SchemaError(f"{source}: {err}", err.failure_cases) from None
    n = len(frame)
    out: dict[str, pd.Series] = {}
    rows = []
    key_list = keys.astype(str).to_numpy()
    for i, c in enumerate(columns):
        part = slice(i * n, (i + 1) * n)
        out[c] = pd.Series(parsed.values.to_numpy()[part], index=frame.index, dtype="datetime64[ns]")
        bad = parsed.bad.to_numpy()[part]
        rows += [{"table": table, "column": c, "check": "date", "key": k, "value": str(v)}
                 for k, v in zip(key_list[bad], frame[c].to_numpy()[bad], strict=True)]
    if rows:
        hint = (f"one reading for all date columns of the export ({parsed.reading}); values that do not fit it are "
                "not dates (set dayfirst= or date_format= if the reading is wrong)")
        err = SchemaError.from_cases(rows, hints={(table, c, "date"): hint for c in columns})
        raise SchemaError(f"{source}: {err}", err.failure_cases)
    return out


def resolve_process(process: str | SalesProcess,
                    processes: Mapping[str, SalesProcess] | None) -> tuple[SalesProcess, dict[str, SalesProcess]]:
    """The process object and the process dict to validate with."""
    procs = dict(DEFAULT_PROCESSES if processes is None else processes)
    if isinstance(process, SalesProcess):
        procs[process.name] = process
        return process, procs
    if process not in procs:
        raise ConfigError(f"unknown process {process!r}; known are {sorted(procs)} (or pass a SalesProcess)")
    return procs[process], procs


def check_stage_map(stage_map: Mapping[str, str | None], process: SalesProcess) -> dict[str, str | None]:
    """Every target must be a stage or outcome of ``process`` (or None: drop that source stage)."""
    bad = {k: v for k, v in stage_map.items() if v is not None and v not in process.all_stages}
    if bad:
        raise ConfigError(
            f"stage_map maps to {sorted(set(bad.values()))}, which are not stages of process {process.name!r}; "
            f"its stages are {list(process.all_stages)} (map a stage to None to drop it)"
        )
    return dict(stage_map)


def find_column(frame: pd.DataFrame, *candidates: str) -> str | None:
    """The first column of ``frame`` whose name equals one of ``candidates``, ignoring case and blanks."""
    norm = {str(c).strip().lower(): c for c in frame.columns}
    for cand in candidates:
        if cand.lower() in norm:
            return norm[cand.lower()]
    return None


def collapse_repeats(events: pd.DataFrame, report: Report, process: SalesProcess, *, why: str) -> pd.DataFrame:
    """Sort events per opportunity by time (ties in process order) and drop repeats of the previous stage."""
    order = {stage: i for i, stage in enumerate(process.all_stages)}
    events = (events.assign(_order=events["stage"].map(order))
              .sort_values(["opportunity_id", "entered_at", "_order"], kind="stable")
              .drop(columns="_order").reset_index(drop=True))
    repeat = (events["opportunity_id"] == events["opportunity_id"].shift()) & (
        events["stage"] == events["stage"].shift())
    report.add("stage_events", events.loc[repeat, "opportunity_id"], "stage", "repeated_stage", "dropped",
               events.loc[repeat, "stage"], why=why)
    return events.loc[~repeat].reset_index(drop=True)
