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
(['contents', 'key_figures', 'names'], '=1+2', 's')
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


#: Column-name parts that mark money (formatted with thousands separators, no decimals).
MONEY_WORDS = ("amount", "revenue", "value", "potential", "clv", "cost", "spend", "wallet", "price")


def number_format(column: Any, value: Any) -> str | None:
    """The Excel number format of a numeric cell.

    Rates as %, counts as integers, money and other numbers with thousands separators (money without decimals,
    others with one).

    Examples
    --------
    >>> number_format("win_rate", 0.25), number_format("won", 3), number_format("amount", 12.5)
    ('0.0%', '#,##0', '#,##0')
    >>> number_format("plan", 2.69), number_format("name", "x") is None
    ('#,##0.0', True)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and is_percent_column(column):
        return "0.0%"
    if isinstance(value, int):
        return "#,##0"
    text = str(column).lower()
    return "#,##0" if any(w in text for w in MONEY_WORDS) else "#,##0.0"


def _write(ws: Any, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    fill = PatternFill("solid", fgColor="EEF2F6")
    for j, column in enumerate(frame.columns, start=1):
        cell = ws.cell(row=1, column=j, value=str(column))
        cell.data_type = "s"
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, values in enumerate(frame.itertuples(index=False, name=None), start=2):
        for j, v in enumerate(values, start=1):
            value = _value(v)
            cell = ws.cell(row=i, column=j, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm" if value.time() != dt.time() else "yyyy-mm-dd"
            else:
                fmt = number_format(frame.columns[j - 1], value)
                if fmt is not None:
                    cell.number_format = fmt
    for j, column in enumerate(frame.columns, start=1):
        shown = [len(f"{v:,.1f}") if isinstance(v, float) else len(str(v)) for v in frame.iloc[:200, j - 1]]
        width = max([len(str(column))] + shown) + 2
        ws.column_dimensions[get_column_letter(j)].width = min(max(width, 8), 50)
    ws.freeze_panes = "A2"
    if len(frame.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{max(len(frame), 1) + 1}"


def _contents(report: Report, names: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """The contents sheet: one row per sheet with its title, section and row count."""
    return pd.DataFrame(names, columns=["sheet", "title", "section", "rows"])


def render_xlsx(report: Report) -> bytes:
    """The report's key figures and tables as an .xlsx workbook (bytes).

    The first sheet lists every sheet (title, section, rows); then the key figures; then one sheet per table,
    in report order (the sheets follow the report level). Every sheet has typed number formats, an autofilter,
    a frozen header and column widths from its content.
    """
    from openpyxl import Workbook
    from openpyxl.worksheet.hyperlink import Hyperlink

    wb = Workbook()
    taken: set[str] = set()
    contents = wb.active
    contents.title = sheet_name("contents", taken)
    ws = wb.create_sheet(sheet_name("key_figures", taken))
    figures = pd.DataFrame([{"figure": f.label, "value": f.value, "low": f.low, "high": f.high, "unit": f.unit,
                             "note": f.note} for f in report.key_figures],
                           columns=["figure", "value", "low", "high", "unit", "note"])
    _write(ws, figures)
    listed = [(ws.title, "Key figures", "", len(figures))]
    section_of = {id(t): sec.title for sec in report.sections for t in sec.tables}
    for table in report.tables():
        sheet = wb.create_sheet(sheet_name(table.name, taken))
        _write(sheet, table.frame)
        listed.append((sheet.title, table.title, section_of.get(id(table), "Appendix (workbook only)"),
                       len(table.frame)))
    _write(contents, _contents(report, listed))
    for i, (name, *_rest) in enumerate(listed, start=2):
        cell = contents.cell(row=i, column=1)
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{name}'!A1", display=name)
        cell.style = "Hyperlink"
    stamp = (pd.Timestamp(report.as_of).to_pydatetime() if report.as_of is not None
             else dt.datetime(2000, 1, 1))
    wb.properties.creator = "salesplan"
    wb.properties.title = report.title
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
