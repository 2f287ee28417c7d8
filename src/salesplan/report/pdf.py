r"""Render a report as a printable PDF (A4) with reportlab: the same sections, figures, charts and tables as HTML.

reportlab's ``Paragraph`` understands a small XML markup, so every data string is escaped before it is put in
one. Output is reproducible: reportlab's ``invariant`` mode (fixed document id) with the data cut as creation
date.

Examples
--------
>>> import base64, re, zlib
>>> import pandas as pd
>>> from salesplan.report.model import KeyFigure, Report, Section
>>> from salesplan.report.pdf import render_pdf
>>> sec = Section("s", "S")
>>> _ = sec.add_figure(KeyFigure("Won", 3, low=2, high=5))
>>> pdf = render_pdf(Report("Demo <report>", as_of=pd.Timestamp("2025-12-31"), sections=[sec]))

The text drawn on the page (its content stream, ASCII85 and Flate encoded): the title's ``<report>`` is shown
as text, not read as a markup tag, and the key figure reads ``3 (2 – 5)`` (PDF escapes brackets, ``\226`` is the
en dash in the Windows-1252 encoding of the standard fonts):

>>> page = zlib.decompress(base64.a85decode(re.search(rb"stream\r?\n(.*?~>)", pdf, re.S).group(1), adobe=True))
>>> re.findall(rb"\((.*?)\) Tj", page)[2:5], re.findall(rb"\((.*?)\) Tj", page)[-2:]
([b'Demo <', b'report', b'>'], [b'Won', b'3 \\(2 \\226 5\\)'])
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd

from salesplan.report.html import display_cells
from salesplan.report.model import Chart, KeyFigure, Note, Report, Table

__all__ = ["render_pdf"]

MAX_PDF_ROWS = 30


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=18, leading=22, alignment=0),
        "meta": ParagraphStyle("m", parent=base["Normal"], fontSize=8.5, textColor=colors.HexColor("#5b6b7b")),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=13, spaceBefore=8, spaceAfter=3,
                             keepWithNext=1),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontSize=9.5, spaceBefore=4, spaceAfter=1.5,
                             keepWithNext=1),
        "intro": ParagraphStyle("i", parent=base["Normal"], fontSize=8.5, leading=10.5, spaceAfter=3,
                                keepWithNext=1),
        "action": ParagraphStyle("a", parent=base["Normal"], fontSize=9, leading=11.5, leftIndent=8,
                                 backColor=colors.HexColor("#fff5f5"), borderPadding=2,
                                 textColor=colors.HexColor("#7f1d1d")),
        "body": ParagraphStyle("b", parent=base["Normal"], fontSize=9, leading=11.5),
        "warn": ParagraphStyle("w", parent=base["Normal"], fontSize=8.5, leading=11,
                               backColor=colors.HexColor("#fff4e5"), borderPadding=3,
                               textColor=colors.HexColor("#8a3c00")),
        "cell": ParagraphStyle("c", parent=base["Normal"], fontSize=7, leading=8.5),
        "cellr": ParagraphStyle("cr", parent=base["Normal"], fontSize=7, leading=8.5, alignment=2),
        "cellh": ParagraphStyle("ch", parent=base["Normal"], fontName="Helvetica-Bold", fontSize=7, leading=8.5),
        "caption": ParagraphStyle("cap", parent=base["Normal"], fontSize=7.5, textColor=colors.HexColor("#5b6b7b")),
    }


def _p(text: Any, style: Any) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def _side_by_side(chart: Chart, figures: list[KeyFigure], st: dict[str, Any], width: float) -> Any:
    """A chart (left, 55% of the width) beside the key figures in two columns (right)."""
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    left = 0.55 * width
    right = width - left
    picture = _chart(chart, st, left - 6, 1.0)  # the image and its caption
    band = RLTable([[picture, _figure_table(figures, st, right, per_row=2)]],
                   colWidths=[left, right])
    band.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return band


def _figure_table(figures: list[KeyFigure], st: dict[str, Any], width: float, per_row: int = 4) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

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


def _column_widths(head: list[str], rows: list[list[str]], st: dict[str, Any], width: float) -> list[float]:
    """Natural width of each column (longest word of the header, longest cell), a column at most 40% wide."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    style = st["cell"]
    pad = 6.0
    out = []
    for j, name in enumerate(head):
        words = max((stringWidth(w, "Helvetica-Bold", style.fontSize) for w in name.replace("_", "_ ").split()),
                    default=0.0)
        cells = max((stringWidth(r[j], style.fontName, style.fontSize) for r in rows), default=0.0)
        out.append(min(max(words, cells) + pad, 0.4 * width))
    return out


def _column_parts(widths: list[float], width: float) -> list[list[int]]:
    """Split the columns into parts that fit ``width``, each repeating the first (key) column."""
    parts: list[list[int]] = [[0]]
    used = widths[0]
    for j in range(1, len(widths)):
        if used + widths[j] > width and len(parts[-1]) > 1:
            parts.append([0])
            used = widths[0]
        parts[-1].append(j)
        used += widths[j]
    return parts


def _data_table(table: Table, st: dict[str, Any], width: float, flags: dict[str, str] | None = None) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    frame = table.frame
    if table.show_rows <= 0:
        note = f"{table.note} {len(frame):,} rows: see report.xlsx, sheet {table.name}.".strip()
        return [_p(table.title, st["h3"]), _p(note, st["caption"])]
    max_rows = min(MAX_PDF_ROWS, table.show_rows)
    head, rows, right = display_cells(frame, max_rows)
    widths = _column_widths(head, rows, st, width)
    parts = _column_parts(widths, width)
    out: list[Any] = [_p(table.title, st["h3"])]
    for k, cols in enumerate(parts):
        data = [[_p(head[j], st["cellh"]) for j in cols]]
        for row in rows:
            data.append([_p(row[j], st["cellr"] if right[j] else st["cell"]) for j in cols])
        used = [widths[j] for j in cols]
        spare = (width - sum(used)) / len(used) if sum(used) < width and len(parts) > 1 else 0.0
        rl = RLTable(data, colWidths=[w + spare for w in used], repeatRows=1, hAlign="LEFT")
        rl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c5ccd3")),
                                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("TOPPADDING", (0, 0), (-1, -1), 1.2), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
                                ("LEFTPADDING", (0, 0), (-1, -1), 2.5), ("RIGHTPADDING", (0, 0), (-1, -1), 2.5)]))
        if k:
            out.append(_p(f"{table.title} (continued: columns {k + 1} of {len(parts)} parts)", st["caption"]))
        out.append(rl)
    cut = []
    if len(frame) > max_rows:
        cut.append(f"first {max_rows} of {len(frame):,} rows; all rows are in report.xlsx, sheet {table.name}")
    if len(parts) > 1:
        cut.append(f"the columns are split into {len(parts)} parts, each repeating the first column")
    note = table.note + (f" ({'; '.join(cut)}.)" if cut else "")
    if note.strip():
        out.append(_p(note.strip(), st["caption"]))
    return out


def _chart(chart: Chart, st: dict[str, Any], width: float, share: float = 0.85) -> list[Any]:
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    reader = ImageReader(io.BytesIO(chart.png))
    w, h = reader.getSize()
    draw_w = width * share
    image = Image(io.BytesIO(chart.png), width=draw_w, height=draw_w * h / w, hAlign="LEFT")
    caption = f"{chart.title}. {chart.caption}" if chart.caption else chart.title
    image.keepWithNext = 1  # a chain of keepWithNext (heading, intro, image) reaches the caption; a nested
    return [image, _p(caption, st["caption"])]  # KeepTogether would break it


#: Sections that start on a new page (the executive summary is page 1).
NEW_PAGE = ("forecast", "breakdowns")


def _timestamp(when: pd.Timestamp) -> Any:
    """A reportlab time stamp at ``when`` (UTC): the document's creation and modification date."""
    from reportlab.lib.utils import TimeStamp

    stamp = TimeStamp(invariant=True)
    stamp.YMDhms = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    stamp.t = when.timestamp()
    return stamp


def render_pdf(report: Report) -> bytes:
    """The report as PDF bytes (A4 portrait).

    Page 1 is the executive summary; the forecast, each process and the breakdowns start on a new page.
    Headings stay with what follows them; a table too wide for the page is split into column parts that each
    repeat its first column (never cut). The metadata carry the title, the author and the data cut as creation
    date, so the same data give byte-identical files.
    """
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import PageBreak, SimpleDocTemplate, Spacer

    st = _styles()
    buf = io.BytesIO()
    old_invariant = rl_config.invariant
    rl_config.invariant = 1
    cut = pd.Timestamp("2000-01-01") if report.as_of is None else pd.Timestamp(report.as_of)
    try:
        doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=1.4 * cm, rightMargin=1.4 * cm, topMargin=1.3 * cm,
                                bottomMargin=1.4 * cm, title=report.title, author=report.author or "salesplan",
                                creator=f"salesplan {report.meta.get('version', '')}".strip(),
                                subject=f"Sales control report {report.meta.get('period_label', report.period)}",
                                keywords=["sales control", str(report.period), report.level])
        width = doc.width
        as_of = "" if report.as_of is None else f"{pd.Timestamp(report.as_of):%Y-%m-%d}"
        story: list[Any] = [_p(report.title, st["title"])]
        if report.subtitle:
            story.append(_p(report.subtitle, st["meta"]))
        story.append(_p(f"Reporting period {report.meta.get('period_label', report.period)} · data cut {as_of} · "
                        f"salesplan {report.meta.get('version', '')} · seed {report.meta.get('seed', '')}",
                        st["meta"]))
        story.append(Spacer(1, 4))
        if report.key_figures:
            story += [_p("Key figures", st["h2"]), _figure_table(report.key_figures, st, width)]
        if report.brief:
            story.append(Spacer(1, 4))
            story.extend(_p(f"• {line}", st["body"]) for line in report.brief)
        for i, sec in enumerate(report.sections):
            if i > 0 and (sec.key.startswith("process_") or sec.key in NEW_PAGE):
                story.append(PageBreak())
            story.append(_p(sec.title, st["h2"]))
            if sec.intro:
                story.append(_p(sec.intro, st["intro"]))
            for w in sec.warnings:  # kept with the heading above and the content below
                story.append(_p(w, st["warn"]))
                story[-1].keepWithNext = 1
            blocks = list(sec.blocks)
            first = blocks[0] if blocks else None
            if sec.figures and isinstance(first, Chart):
                # the section's first chart beside its key figures: one band instead of two
                blocks.pop(0)
                story.append(_side_by_side(first, sec.figures, st, width))
            elif sec.figures:
                story.append(_figure_table(sec.figures, st, width))
            actions = [b.text for b in sec.blocks if isinstance(b, Note) and b.kind == "action"]
            if actions:
                story.append(_p("To act on", st["h3"]))
                story.extend(_p(f"{n}. {text}", st["action"]) for n, text in enumerate(actions, start=1))
            for block in blocks:
                if isinstance(block, Chart):
                    story.extend(_chart(block, st, width, 0.72))
                elif isinstance(block, Table):
                    story.extend(_data_table(block, st, width))
                elif isinstance(block, Note) and block.kind != "action":
                    story.append(_p(block.text, st["warn"] if block.kind == "warning" else st["body"]))

        def footer(canvas: Any, doc_: Any) -> None:
            canvas._doc._timeStamp = _timestamp(cut)  # creation date = the data cut: reproducible and meaningful
            canvas.saveState()
            canvas.setFont("Helvetica", 7)
            canvas.drawString(1.4 * cm, 0.8 * cm, f"{report.title[:90]} — {report.period}")
            canvas.drawRightString(A4[0] - 1.4 * cm, 0.8 * cm, f"page {doc_.page}")
            canvas.restoreState()

        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    finally:
        rl_config.invariant = old_invariant
    return buf.getvalue()
