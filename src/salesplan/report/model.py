"""The content model of a control report: key figures, charts, tables, notes and sections.

A report is built once (:func:`salesplan.report.build_report`) and rendered many times: the HTML, PDF, Excel and
JSON writers all read the same :class:`Report`. Nothing here knows about a file format. Data strings are kept
raw in the model; every writer escapes them for its own format.

Examples
--------
>>> import pandas as pd
>>> from salesplan.report.model import KeyFigure, Report, Section, Table
>>> sec = Section("status", "Pipeline status")
>>> sec.add_table(Table("status", "Open, won and lost", pd.DataFrame({"process": ["acquisition"], "won": [3]})))
>>> _ = sec.add_figure(KeyFigure("Won", 3, low=2, high=5))
>>> rep = Report(title="Control report", as_of=pd.Timestamp("2025-12-31"), sections=[sec])
>>> [t.name for t in rep.tables()]
['status']
>>> rep.sections[0].figures[0].text()
'3 (2 – 5)'
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["KeyFigure", "Chart", "Table", "Note", "Section", "Report", "DATA_QUALITY_COLUMNS", "format_number"]

#: Columns of the data-quality table (one row per problem found while building the report).
DATA_QUALITY_COLUMNS = ["section", "severity", "table", "rows", "message"]


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
    """A table of the report; each becomes one Excel sheet named ``name``."""

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    show_rows: int = 40


@dataclass
class Note:
    """A paragraph of text; ``kind`` is ``"text"`` or ``"warning"``."""

    text: str
    kind: str = "text"


Block = Note | Chart | Table


@dataclass
class Section:
    """A titled part of the report: key figures, then an ordered list of text, chart and table blocks.

    ``warnings`` collects problems of this section (a missing capability, a failed model); they are shown in
    the section and copied into the report's data-quality table.
    """

    key: str
    title: str
    intro: str = ""
    figures: list[KeyFigure] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    level: int = 2

    def add_figure(self, figure: KeyFigure) -> KeyFigure:
        """Append a key figure and return it."""
        self.figures.append(figure)
        return figure

    def add_text(self, text: str) -> None:
        """Append a paragraph."""
        self.blocks.append(Note(text))

    def add_chart(self, chart: Chart) -> None:
        """Append a chart."""
        self.blocks.append(chart)

    def add_table(self, table: Table) -> None:
        """Append a table."""
        self.blocks.append(table)

    def warn(self, message: str) -> None:
        """Record a problem of this section (shown in the section and in the data-quality table)."""
        self.warnings.append(message)

    @property
    def charts(self) -> list[Chart]:
        """The charts of this section."""
        return [b for b in self.blocks if isinstance(b, Chart)]

    @property
    def tables(self) -> list[Table]:
        """The tables of this section."""
        return [b for b in self.blocks if isinstance(b, Table)]

    def _repr_html_(self) -> str:
        from salesplan.report.html import scoped_css, section_html

        return f"<div class=\"salesplan-report\"><style>{scoped_css()}</style>{section_html(self)}</div>"

    def __repr__(self) -> str:
        return (f"Section({self.key!r}, figures={len(self.figures)}, charts={len(self.charts)}, "
                f"tables={len(self.tables)}, warnings={len(self.warnings)})")


@dataclass
class Report:
    """A complete control report, ready for the writers.

    Attributes
    ----------
    title, subtitle : str
    as_of : pandas.Timestamp
        The data cut.
    period : str
        The reporting period, e.g. ``"2025-12"``.
    key_figures : list of KeyFigure
        The figures at the top of the report.
    sections : list of Section
    data_quality : pandas.DataFrame
        One row per problem: ``section``, ``severity``, ``table``, ``rows``, ``message``.
    meta : dict
        Generator, version, seed, data sources (for summary.json).
    headline : dict
        Machine-readable headline numbers (forecast window, ...) for summary.json.
    brief : list of str
        Sentences summarising the period, shown under the key figures.
    """

    title: str
    as_of: pd.Timestamp | None = None
    subtitle: str = ""
    period: str = ""
    key_figures: list[KeyFigure] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    data_quality: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DATA_QUALITY_COLUMNS))
    meta: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    brief: list[str] = field(default_factory=list)

    def charts(self) -> list[Chart]:
        """Every chart, in report order."""
        return [c for s in self.sections for c in s.charts]

    def tables(self) -> list[Table]:
        """Every table, in report order (the data-quality table included when it is a section block)."""
        return [t for s in self.sections for t in s.tables]

    def iter_blocks(self) -> Iterator[tuple[Section, Block]]:
        """(section, block) pairs in report order."""
        for section in self.sections:
            for block in section.blocks:
                yield section, block

    @property
    def failed_sections(self) -> list[str]:
        """Keys of sections with at least one warning."""
        return [s.key for s in self.sections if s.warnings]

    def summary(self) -> dict[str, Any]:
        """The key figures and run facts as a JSON-ready dict (this is ``summary.json``)."""
        dq = self.data_quality
        return {
            "generator": "salesplan",
            **{k: _jsonable(v) for k, v in sorted(self.meta.items())},
            "title": self.title,
            "as_of": None if self.as_of is None else f"{pd.Timestamp(self.as_of):%Y-%m-%d}",
            "period": self.period,
            "key_figures": [f.to_dict() for f in self.key_figures],
            "brief": list(self.brief),
            "headline": _jsonable(self.headline),
            "sections": [{"key": s.key, "title": s.title, "charts": len(s.charts), "tables": len(s.tables),
                          "warnings": list(s.warnings)} for s in self.sections],
            "charts": len(self.charts()),
            "data_quality": [{k: _jsonable(v) for k, v in row.items()} for row in dq.to_dict("records")],
        }

    def _repr_html_(self) -> str:
        from salesplan.report.html import _brief, _figures, scoped_css

        head = (f"<h3>{html.escape(self.title)}</h3><p>Period {html.escape(str(self.meta.get('period_label', self.period)))}"
                f", data cut {html.escape(str(self.as_of)[:16])}: {len(self.sections)} sections, "
                f"{len(self.charts())} charts, {len(self.data_quality)} data-quality finding(s).</p>")
        warn = "".join(f"<li>{html.escape(s.title)}: {html.escape(w)}</li>" for s in self.sections for w in s.warnings)
        return (f"<div class=\"salesplan-report\"><style>{scoped_css()}</style>{head}{_figures(self.key_figures)}"
                f"{_brief(self.brief)}" + (f"<p>Warnings:</p><ul>{warn}</ul>" if warn else "") + "</div>")

    def __repr__(self) -> str:
        return (f"Report({self.title!r}, period={self.period!r}, sections={len(self.sections)}, "
                f"charts={len(self.charts())}, data_quality_rows={len(self.data_quality)})")


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
