"""Render a report as a printable PDF (A4) with reportlab: the same sections, figures, charts and tables as HTML.

reportlab's ``Paragraph`` understands a small XML markup, so every data string is escaped before it is put in
one. Output is reproducible (reportlab's ``invariant`` mode: no creation timestamp, fixed document id).

Examples
--------
>>> import pandas as pd
>>> from salesplan.report.model import Report, Section
>>> from salesplan.report.pdf import render_pdf
>>> pdf = render_pdf(Report("Demo <report>", as_of=pd.Timestamp("2025-12-31"), sections=[Section("s", "S")]))
>>> pdf[:5]
b'%PDF-'
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd

from salesplan.report.html import cell_text, is_percent_column
from salesplan.report.model import Chart, KeyFigure, Note, Report, Table

__all__ = ["render_pdf"]

MAX_PDF_ROWS = 30
MAX_PDF_COLS = 9


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=18, leading=22, alignment=0),
        "meta": ParagraphStyle("m", parent=base["Normal"], fontSize=8.5, textColor=colors.HexColor("#5b6b7b")),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=13, spaceBefore=10, spaceAfter=4),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontSize=10, spaceBefore=6, spaceAfter=2),
        "body": ParagraphStyle("b", parent=base["Normal"], fontSize=9, leading=11.5),
        "warn": ParagraphStyle("w", parent=base["Normal"], fontSize=8.5, leading=11,
                               backColor=colors.HexColor("#fff4e5"), borderPadding=3,
                               textColor=colors.HexColor("#8a3c00")),
        "cell": ParagraphStyle("c", parent=base["Normal"], fontSize=7, leading=8.5),
        "caption": ParagraphStyle("cap", parent=base["Normal"], fontSize=7.5, textColor=colors.HexColor("#5b6b7b")),
    }


def _p(text: Any, style: Any) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def _figure_table(figures: list[KeyFigure], st: dict[str, Any], width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    per_row = 4
    cells = []
    for f in figures:
        text = f"<font size=7 color='#5b6b7b'>{escape(f.label)}</font><br/><b>{escape(f.text())}</b>"
        if f.note:
            text += f"<br/><font size=6.5 color='#5b6b7b'>{escape(f.note)}</font>"
        from reportlab.platypus import Paragraph

        cells.append(Paragraph(text, st["body"]))
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    rows[-1] += [""] * (per_row - len(rows[-1]))
    table = RLTable(rows, colWidths=[width / per_row] * per_row)
    style = [("BOX", (0, 0), (-1, -1), 0.4, colors.HexColor("#d5dbe1")),
             ("INNERGRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#d5dbe1")),
             ("VALIGN", (0, 0), (-1, -1), "TOP")]
    palette = {"good": "#e8f5e9", "warn": "#fff8e1", "bad": "#ffebee"}
    for i, f in enumerate(figures):
        if f.status in palette:
            style.append(("BACKGROUND", (i % per_row, i // per_row), (i % per_row, i // per_row),
                          colors.HexColor(palette[f.status])))
    table.setStyle(TableStyle(style))
    return table


def _data_table(table: Table, st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    frame = table.frame
    if table.show_rows <= 0:
        note = f"{table.note} {len(frame):,} rows: see report.xlsx, sheet {table.name}.".strip()
        return [_p(table.title, st["h3"]), _p(note, st["caption"])]
    max_rows = min(MAX_PDF_ROWS, table.show_rows)
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    cols = list(frame.columns[:MAX_PDF_COLS])
    shown = frame[cols].head(max_rows)
    rows = [[_p(c, st["cell"]) for c in cols]]
    percent = [is_percent_column(c) for c in cols]
    for values in shown.itertuples(index=False, name=None):
        rows.append([_p(cell_text(v, pct)[0], st["cell"]) for v, pct in zip(values, percent, strict=True)])
    out = [_p(table.title, st["h3"])]
    rl = RLTable(rows, colWidths=[width / len(cols)] * len(cols), repeatRows=1)
    rl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c5ccd3")),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                            ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    out.append(rl)
    cut = []
    if len(frame) > max_rows:
        cut.append(f"first {max_rows} of {len(frame):,} rows")
    if len(frame.columns) > MAX_PDF_COLS:
        cut.append(f"first {MAX_PDF_COLS} of {len(frame.columns)} columns")
    note = table.note + (f" (Showing {' and '.join(cut)}; the full table is in report.xlsx, sheet {table.name}.)"
                         if cut else "")
    if note.strip():
        out.append(_p(note.strip(), st["caption"]))
    return out


def _chart(chart: Chart, st: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image, KeepTogether

    reader = ImageReader(io.BytesIO(chart.png))
    w, h = reader.getSize()
    draw_w = min(width, 16.5 * 28.35 * 0.85)
    image = Image(io.BytesIO(chart.png), width=draw_w, height=draw_w * h / w)
    caption = f"{chart.title}. {chart.caption}" if chart.caption else chart.title
    return [KeepTogether([image, _p(caption, st["caption"])])]


def render_pdf(report: Report) -> bytes:
    """The report as PDF bytes (A4 portrait)."""
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import PageBreak, SimpleDocTemplate, Spacer

    st = _styles()
    buf = io.BytesIO()
    old_invariant = rl_config.invariant
    rl_config.invariant = 1
    try:
        doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=1.6 * cm, rightMargin=1.6 * cm, topMargin=1.5 * cm,
                                bottomMargin=1.5 * cm, title=report.title, author="salesplan",
                                creator="salesplan", subject=f"Sales control report {report.period}")
        width = doc.width
        as_of = "" if report.as_of is None else f"{pd.Timestamp(report.as_of):%Y-%m-%d}"
        story: list[Any] = [_p(report.title, st["title"])]
        if report.subtitle:
            story.append(_p(report.subtitle, st["meta"]))
        story.append(_p(f"Reporting period {report.meta.get('period_label', report.period)} · data cut {as_of} · "
                        f"salesplan {report.meta.get('version', '')} · seed {report.meta.get('seed', '')}",
                        st["meta"]))
        story.append(Spacer(1, 6))
        if report.key_figures:
            story += [_p("Key figures", st["h2"]), _figure_table(report.key_figures, st, width)]
        if report.brief:
            story.append(Spacer(1, 4))
            story.extend(_p(f"• {line}", st["body"]) for line in report.brief)
        for i, sec in enumerate(report.sections):
            if i > 0 and sec.key.startswith("process_"):
                story.append(PageBreak())
            story.append(_p(sec.title, st["h2"]))
            if sec.intro:
                story.append(_p(sec.intro, st["body"]))
            story.extend(_p(w, st["warn"]) for w in sec.warnings)
            if sec.figures:
                story += [Spacer(1, 4), _figure_table(sec.figures, st, width)]
            for block in sec.blocks:
                if isinstance(block, Chart):
                    story.extend(_chart(block, st, width))
                elif isinstance(block, Table):
                    story.extend(_data_table(block, st, width))
                elif isinstance(block, Note):
                    story.append(_p(block.text, st["warn"] if block.kind == "warning" else st["body"]))

        def footer(canvas: Any, doc_: Any) -> None:
            canvas.saveState()
            canvas.setFont("Helvetica", 7)
            canvas.drawString(1.6 * cm, 0.9 * cm, f"{report.title[:90]} — {report.period}")
            canvas.drawRightString(A4[0] - 1.6 * cm, 0.9 * cm, f"page {doc_.page}")
            canvas.restoreState()

        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    finally:
        rl_config.invariant = old_invariant
    return buf.getvalue()
