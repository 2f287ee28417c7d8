"""The building blocks of a report: key figures, charts, tables, notes and number formatting.

Nothing here knows about a file format or about sections; :mod:`salesplan.report.model` assembles blocks into
sections and reports, and the writers render them.

Examples
--------
>>> KeyFigure("Won", 3, low=2, high=5).text()
'3 (2 – 5)'
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["KeyFigure", "Chart", "Table", "Note", "Block", "format_number"]


def format_number(value: Any, unit: str = "", digits: int | None = None) -> str:
    """Format a number for people: thousands separators, percentages for ``unit="%"`` (value is a share).

    Examples
    --------
    >>> format_number(1234567.8), format_number(0.1234, "%"), format_number(None), format_number(12.5, "EUR")
    ('1,234,568', '12.3%', '–', '12.5 EUR')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if unit == "%":
        return f"{number * 100:.{1 if digits is None else digits}f}%"
    if digits is None:
        digits = 0 if abs(number) >= 100 or number == int(number) else (1 if abs(number) >= 10 else 2)
    text = f"{number:,.{digits}f}"
    return f"{text} {unit}" if unit else text


@dataclass
class KeyFigure:
    """One headline number with its interval, e.g. "Contracts won: 17 (target 20)".

    Attributes
    ----------
    label : str
    value : float or str or None
    unit : str
        ``"%"`` means ``value`` is a share shown as a percentage.
    low, high : float, optional
        Interval bounds (shown as "value (low – high)").
    note : str
        Short context ("target 20", "90% interval").
    status : {"", "good", "warn", "bad"}
        Traffic light used by the HTML writer.
    key : str
        Machine name for summary.json (default: derived from the label).
    """

    label: str
    value: Any
    unit: str = ""
    low: float | None = None
    high: float | None = None
    note: str = ""
    status: str = ""
    key: str = ""
    digits: int | None = None

    def text(self) -> str:
        """The value (and interval) as display text."""
        out = format_number(self.value, self.unit, self.digits)
        if self.low is not None and self.high is not None:
            out += f" ({format_number(self.low, self.unit)} – {format_number(self.high, self.unit)})"
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (numbers rounded to 6 significant digits)."""
        return {"key": self.key or _slug(self.label), "label": self.label, "value": _jsonable(self.value),
                "low": _jsonable(self.low), "high": _jsonable(self.high), "unit": self.unit, "note": self.note,
                "status": self.status}


@dataclass
class Chart:
    """A rendered chart: PNG bytes plus its title and a caption (alt text)."""

    title: str
    png: bytes
    caption: str = ""
    width_px: int = 0
    height_px: int = 0

    @classmethod
    def from_figure(cls, fig: Any, title: str, caption: str = "", dpi: int = 110) -> Chart:
        """Render a matplotlib Figure to PNG (no timestamp metadata, so the bytes are reproducible)."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        width, height = fig.get_size_inches()
        return cls(title=title, png=buf.getvalue(), caption=caption, width_px=int(round(width * dpi)),
                   height_px=int(round(height * dpi)))


@dataclass
class Table:
    """A table of the report; each becomes one Excel sheet named ``name``.

    ``show_rows`` rows are shown in HTML and PDF (0: the table is in the workbook only). An ``appendix`` table is
    a detail table: the report builder moves it to the appendix (level ``full``) or to the workbook only (level
    ``standard``).
    """

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    show_rows: int = 40
    appendix: bool = False


@dataclass
class Note:
    """A paragraph of text; ``kind`` is ``"text"``, ``"warning"`` or ``"action"`` (a thing to act on)."""

    text: str
    kind: str = "text"


Block = Note | Chart | Table


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in text)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


def _jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON types (floats to 6 significant digits)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, bool):
        return value
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return float(f"{value:.6g}")
    if isinstance(value, int | str):
        return value
    if value is pd.NaT or value is pd.NA:
        return None
    return str(value)
