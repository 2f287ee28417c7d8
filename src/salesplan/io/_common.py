"""Helpers shared by the adapters: the repair report, input reading, date parsing, process resolution."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from salesplan.errors import ConfigError
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


def as_frame(data: Any, name: str, text_columns: list[str] | None = None) -> pd.DataFrame:
    """A pandas copy of a frame (anything narwhals reads) or of a file read with :func:`read_raw`."""
    if isinstance(data, str | Path):
        from salesplan.io.files import read_raw

        return read_raw(data, text_columns=text_columns)
    return to_pandas(data, name)


def utc_naive(values: pd.Series) -> pd.Series:
    """Parse dates; aware values go to UTC, every result is naive ``datetime64[ns]``; unparseable -> NaT."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(values):
        return values.astype("datetime64[ns]")
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


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
