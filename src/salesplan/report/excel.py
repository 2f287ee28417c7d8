"""Write the report's tables to an Excel workbook: a key-figures sheet, then one sheet per table.

Text cells are stored as text, never as formulas: a customer called ``=1+2`` (or ``=HYPERLINK(...)``) stays the
literal string. Sheet names are cut to Excel's 31 characters, cleaned of ``[]:*?/\\`` and made unique. Workbook
properties carry the data cut instead of the wall-clock time, so the same data gives the same content.

Examples
--------
>>> import io, pandas as pd
>>> from openpyxl import load_workbook
>>> from salesplan.report.excel import render_xlsx
>>> from salesplan.report.model import Report, Section, Table
>>> sec = Section("s", "S", blocks=[Table("names", "Names", pd.DataFrame({"name": ["=1+2"], "n": [1]}))])
>>> wb = load_workbook(io.BytesIO(render_xlsx(Report("R", as_of=pd.Timestamp("2025-12-31"), sections=[sec]))))
>>> wb.sheetnames, wb["names"]["A2"].value, wb["names"]["A2"].data_type
(['key_figures', 'names'], '=1+2', 's')
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import numpy as np
import pandas as pd

from salesplan.report.html import is_percent_column
from salesplan.report.model import Report

__all__ = ["render_xlsx", "sheet_name"]

_BAD = re.compile(r"[\[\]:*?/\\]")
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name derived from ``name``.

    Examples
    --------
    >>> taken = set()
    >>> sheet_name("conversion/acquisition:stage rates by segment", taken), sheet_name("x" * 40, taken)
    ('conversion_acquisition_stage ra', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')
    >>> sheet_name("x" * 40, taken)
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxx_2'
    """
    base = _BAD.sub("_", name).strip("'") or "sheet"
    candidate = base[:31]
    i = 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f"_{i}"
        candidate = base[: 31 - len(suffix)] + suffix
        i += 1
    taken.add(candidate)
    return candidate


def _value(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value
    text = _ILLEGAL.sub("\ufffd", str(value))
    return text if len(text) <= 32767 else text[:32766] + "…"


def _write(ws: Any, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Font

    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    for j, column in enumerate(frame.columns, start=1):
        cell = ws.cell(row=1, column=j, value=str(column))
        cell.data_type = "s"
        cell.font = Font(bold=True)
    percent = [is_percent_column(c) for c in frame.columns]
    for i, values in enumerate(frame.itertuples(index=False, name=None), start=2):
        for j, v in enumerate(values, start=1):
            value = _value(v)
            cell = ws.cell(row=i, column=j, value=value)
            if isinstance(value, float) and percent[j - 1]:
                cell.number_format = "0.0%"
            elif isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm" if value.time() != dt.time() else "yyyy-mm-dd"
    for j, column in enumerate(frame.columns, start=1):
        width = max([len(str(column))] + [len(str(v)) for v in frame.iloc[:200, j - 1]]) + 2
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = min(max(width, 8), 50)
    ws.freeze_panes = "A2"


def render_xlsx(report: Report) -> bytes:
    """The report's key figures and tables as an .xlsx workbook (bytes)."""
    from openpyxl import Workbook

    wb = Workbook()
    taken: set[str] = set()
    ws = wb.active
    ws.title = sheet_name("key_figures", taken)
    figures = pd.DataFrame([{"figure": f.label, "value": f.value, "low": f.low, "high": f.high, "unit": f.unit,
                             "note": f.note} for f in report.key_figures],
                           columns=["figure", "value", "low", "high", "unit", "note"])
    _write(ws, figures)
    for table in report.tables():
        _write(wb.create_sheet(sheet_name(table.name, taken)), table.frame)
    stamp = (pd.Timestamp(report.as_of).to_pydatetime() if report.as_of is not None
             else dt.datetime(2000, 1, 1))
    wb.properties.creator = "salesplan"
    wb.properties.title = report.title
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
