"""The content model of a control report: key figures, charts, tables, notes and sections.

A report is built once (:func:`salesplan.report.build_report`) and rendered many times: the HTML, PDF, Excel and
JSON writers all read the same :class:`Report`. Nothing here knows about a file format. Data strings are kept
raw in the model; every writer escapes them for its own format.

Examples
--------
>>> import pandas as pd

from salesplan.report.blocks import Block, Chart, KeyFigure, Note, Table, _jsonable, format_number
from salesplan.report.html import _brief, _figures, scoped_css, section_html
>>> from salesplan.report.model import KeyFigure, Report, Section, Table
>>> sec = Section("status", "Pipeline status")
>>> sec.add_table(Table("status", "Open, won and lost", pd.DataFrame({"process": ["acquisition"], "won": [3]})))
>>> _ = sec.add_figure(KeyFigure("Won", 3, low=2, high=5))
>>> rep = Report(title="Control report", as_of=pd.Timestamp("2025-12-31"), sections=[sec])
>>> [t.name for t in rep.tables()], rep.tables()[0].frame["won"].tolist()
(['status'], [3])
>>> rep.sections[0].figures[0].text()  # the value and its interval
'3 (2 – 5)'
>>> KeyFigure("Revenue", 1234567.8, low=1.1e6, high=1.4e6).text()  # rounded, with thousands separators
'1,234,568 (1,100,000 – 1,400,000)'
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from salesplan.report.blocks import Block, Chart, KeyFigure, Note, Table, _jsonable, format_number
from salesplan.report.html import _brief, _figures, scoped_css, section_html

__all__ = ["KeyFigure", "Chart", "Table", "Note", "Section", "Report", "DATA_QUALITY_COLUMNS", "format_number"]

#: Columns of the data-quality table (one row per problem found while building the report).
DATA_QUALITY_COLUMNS = ["section", "severity", "table", "rows", "message"]


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
    level : {"summary", "standard", "full"}
        The report level it was built at.
    workbook_tables : list of Table
        Detail tables that are only in the Excel workbook (the appendix of a ``standard`` report).
    author : str
        Author in the PDF and workbook properties.
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
    level: str = "standard"
    workbook_tables: list[Table] = field(default_factory=list)
    author: str = "salesplan"

    def charts(self) -> list[Chart]:
        """Every chart, in report order."""
        return [c for s in self.sections for c in s.charts]

    def tables(self) -> list[Table]:
        """Every table in report order, then the tables that are only in the workbook.

        The data-quality table is included when it is a section block.
        """
        return [t for s in self.sections for t in s.tables] + list(self.workbook_tables)

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
            "level": self.level,
            "as_of": None if self.as_of is None else f"{pd.Timestamp(self.as_of):%Y-%m-%d}",
            "period": self.period,
            "key_figures": [f.to_dict() for f in self.key_figures],
            "brief": list(self.brief),
            "headline": _jsonable(self.headline),
            "sections": [{"key": s.key, "title": s.title, "charts": len(s.charts), "tables": len(s.tables),
                          "figures": [f.to_dict() for f in s.figures], "warnings": list(s.warnings)}
                         for s in self.sections],
            "charts": len(self.charts()),
            "data_quality": [{k: _jsonable(v) for k, v in row.items()} for row in dq.to_dict("records")],
        }

    def _repr_html_(self) -> str:
        head = (f"<h3>{html.escape(self.title)}</h3><p>Period {html.escape(str(self.meta.get('period_label', self.period)))}"
                f", data cut {html.escape(str(self.as_of)[:16])}: {len(self.sections)} sections, "
                f"{len(self.charts())} charts, {len(self.data_quality)} data-quality finding(s).</p>")
        warn = "".join(f"<li>{html.escape(s.title)}: {html.escape(w)}</li>" for s in self.sections for w in s.warnings)
        return (f"<div class=\"salesplan-report\"><style>{scoped_css()}</style>{head}{_figures(self.key_figures)}"
                f"{_brief(self.brief)}" + (f"<p>Warnings:</p><ul>{warn}</ul>" if warn else "") + "</div>")

    def __repr__(self) -> str:
        return (f"Report({self.title!r}, period={self.period!r}, sections={len(self.sections)}, "
                f"charts={len(self.charts())}, data_quality_rows={len(self.data_quality)})")
