"""Render a report as one self-contained HTML file: inline CSS, charts as base64 PNG, no scripts, no network.

Every string that may come from data (customer names, stage names, owners, products, messages) is escaped with
:func:`html.escape`. A Content-Security-Policy meta tag forbids scripts and any network request, so even a bug in
escaping could not make the page fetch or run anything.

Examples
--------
>>> import pandas as pd
>>> from salesplan.report.html import frame_to_html
>>> print(frame_to_html(pd.DataFrame({"name": ["<b>ACME</b>"], "won": [3]})))
<table><thead><tr><th>name</th><th>won</th></tr></thead><tbody><tr><td>&lt;b&gt;ACME&lt;/b&gt;</td><td class="num">3</td></tr></tbody></table>
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesplan.report.blocks import Chart, KeyFigure, Note, Table, format_number

if TYPE_CHECKING:
    from salesplan.report.model import Report, Section

__all__ = ["render_html", "frame_to_html", "display_cells", "section_html", "cell_text", "CSP", "CSS"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:#1d2733;margin:0;
background:#f4f6f8;line-height:1.4}
main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff}
header{border-bottom:3px solid #1565c0;margin-bottom:16px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:28px 0 8px;border-bottom:1px solid #d5dbe1;
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#5b6b7b;font-size:13px;margin:0 0 10px}
.figures{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.fig{border:1px solid #d5dbe1;border-left:5px solid #90a4ae;border-radius:4px;padding:6px 10px;min-width:150px;
background:#fafbfc}
.fig.good{border-left-color:#2e7d32}.fig.warn{border-left-color:#f9a825}.fig.bad{border-left-color:#c62828}
.fig .label{font-size:12px;color:#5b6b7b}.fig .value{font-size:20px;font-weight:600}
.fig .note{font-size:11px;color:#5b6b7b}
figure{margin:12px 0;page-break-inside:avoid}figure img{max-width:100%;height:auto;border:1px solid #eceff1}
figcaption{font-size:12px;color:#5b6b7b}
table{border-collapse:collapse;font-size:12px;margin:6px 0 4px;max-width:100%}th,td{border:1px solid #d5dbe1;
padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#eef2f6;
word-break:break-word}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tablewrap{max-width:100%}.tnote{font-size:11px;color:#5b6b7b;margin:0 0 10px}
.actions{border-left:5px solid #c62828;background:#fff5f5;padding:6px 12px;margin:8px 0}
.actions li{margin:2px 0}
.warning{background:#fff4e5;border-left:4px solid #ef6c00;padding:6px 10px;margin:6px 0;font-size:13px}
nav ol{columns:2;font-size:13px}ul.brief{font-size:14px;margin:4px 0 12px;padding-left:20px}
@media print{@page{size:A4;margin:14mm 12mm}body{background:#fff;font-size:10pt}main{max-width:none;padding:0}
nav{display:none}h2{break-after:avoid;page-break-after:avoid}h3{break-after:avoid;page-break-after:avoid}
section[id^="process_"],section#forecast,section#breakdowns{break-before:page;page-break-before:always}
table,figure,.fig{break-inside:avoid;page-break-inside:avoid}table{font-size:8pt}th,td{padding:1px 3px}
figure img{max-height:90mm;width:auto}.figures{gap:4px}.fig{min-width:120px;padding:3px 6px}
.fig .value{font-size:14px}}
"""


def scoped_css(scope: str = ".salesplan-report") -> str:
    """The report CSS with every rule limited to elements inside ``scope`` (for notebooks).

    Examples
    --------
    >>> scoped_css().startswith(".salesplan-report header{")
    True
    """
    rules = []
    screen = CSS.split("@media print")[0]  # print rules belong to the standalone page, not to a notebook cell
    for rule in screen.replace("\n", "").split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        kept = [f"{scope} {sel.strip()}" for sel in selectors.split(",") if sel.strip() not in ("body", "main")]
        if kept:
            rules.append(",".join(kept) + "{" + body + "}")
    return "".join(rules)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def is_percent_column(name: Any) -> bool:
    """Whether a column holds shares shown as percentages (rates, attainment, shares, utilisation).

    Examples
    --------
    >>> [is_percent_column(c) for c in ("win_rate_low", "attainment_year", "share_of_wallet", "velocity")]
    [True, True, True, False]
    """
    text = str(name).lower()
    return any(k in text for k in ("rate", "attainment", "share", "utilisation", "probability"))


def cell_text(value: Any, percent: bool = False) -> tuple[str, bool]:
    """Display text of one table cell and whether it is numeric.

    The library marks a total row with ``"(all)"`` in its group columns; people read it as ``Total``.

    Examples
    --------
    >>> cell_text(0.125, percent=True), cell_text(12345.6), cell_text("(all)")
    (('12.5%', True), ('12,346', True), ('Total', False))
    """
    if isinstance(value, str) and value == "(all)":
        return "Total", False
    if percent and isinstance(value, float | np.floating) and np.isfinite(value):
        return f"{float(value) * 100:.1f}%", True
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "–", False
    if isinstance(value, bool | np.bool_):
        return str(bool(value)), False
    if isinstance(value, int | np.integer):
        return f"{int(value):,}", True
    if isinstance(value, float | np.floating):
        v = float(value)
        text = f"{v:,.0f}" if abs(v) >= 1000 else (f"{v:.4g}" if v != int(v) else f"{v:.0f}")
        return text, True
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.strftime("%Y-%m-%d %H:%M"), False
    return str(value), False


def display_cells(frame: pd.DataFrame, max_rows: int | None = None) -> tuple[list[str], list[list[str]],
                                                                              list[bool]]:
    """Header, cell texts and right-alignment of a table as people read it (HTML and PDF).

    A column ``x`` followed anywhere by ``x_low`` and ``x_high`` is shown as one column ``x`` reading
    ``value (low – high)``, so intervals never widen a table threefold; the workbook keeps the three columns.
    Underscores in headers become spaces. The index is dropped unless it is named.

    Examples
    --------
    >>> head, rows, right = display_cells(pd.DataFrame({"stage": ["a"], "rate": [0.5], "rate_low": [0.4],
    ...                                                 "rate_high": [0.6]}))
    >>> head, rows
    (['stage', 'rate'], [['a', '50.0% (40.0% – 60.0%)']])
    >>> display_cells(pd.DataFrame({"won_period": [3]}))[0]
    ['won period']
    """
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    shown = frame if max_rows is None else frame.head(max_rows)
    names = [str(c) for c in shown.columns]
    bounds = {c for c in names if (c.endswith("_low") and c[:-4] in names and f"{c[:-4]}_high" in names)
              or (c.endswith("_high") and c[:-5] in names and f"{c[:-5]}_low" in names)}
    kept = [i for i, c in enumerate(names) if c not in bounds]
    percent = [is_percent_column(c) for c in names]
    position = {c: i for i, c in enumerate(names)}
    head = [names[i].replace("_", " ") for i in kept]  # headers wrap between words, not inside them
    rows: list[list[str]] = []
    right = [False] * len(kept)
    for values in shown.itertuples(index=False, name=None):
        row = []
        for j, i in enumerate(kept):
            text, numeric = cell_text(values[i], percent[i])
            low, high = position.get(f"{names[i]}_low"), position.get(f"{names[i]}_high")
            if low is not None and high is not None and names[i] not in bounds:
                lo, _ = cell_text(values[low], percent[i])
                hi, _ = cell_text(values[high], percent[i])
                if text != "–" and lo != "–" and hi != "–":
                    text = f"{text} ({lo} – {hi})"
            right[j] = right[j] or numeric
            row.append(text)
        rows.append(row)
    return head, rows, right


def frame_to_html(frame: pd.DataFrame, max_rows: int | None = None) -> str:
    """An escaped HTML table of ``frame``; numbers right-aligned.

    The index is dropped unless named; intervals are shown in one column (see :func:`display_cells`).
    """
    head, rows, right = display_cells(frame, max_rows)
    th = "".join(f"<th>{_esc(c)}</th>" for c in head)
    body = []
    for row in rows:
        cells = [f'<td class="num">{_esc(t)}</td>' if r else f"<td>{_esc(t)}</td>" for t, r in zip(row, right,
                                                                                                   strict=True)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figures(figures: list[KeyFigure]) -> str:
    if not figures:
        return ""
    items = []
    for f in figures:
        cls = f"fig {f.status}" if f.status in ("good", "warn", "bad") else "fig"
        note = f'<div class="note">{_esc(f.note)}</div>' if f.note else ""
        items.append(f'<div class="{cls}"><div class="label">{_esc(f.label)}</div>'
                     f'<div class="value">{_esc(f.text())}</div>{note}</div>')
    return f'<div class="figures">{"".join(items)}</div>'


def _chart(chart: Chart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    size = f' width="{chart.width_px}" height="{chart.height_px}"' if chart.width_px else ""
    caption = f"{chart.title}. {chart.caption}" if chart.caption else chart.title
    return (f'<figure><img class="chart" alt="{_esc(chart.title)}" src="data:image/png;base64,{data}"{size}>'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _table(table: Table) -> str:
    if table.show_rows <= 0:
        note = f"{table.note} {len(table.frame):,} rows: see report.xlsx, sheet {table.name}.".strip()
        return f"<h3>{_esc(table.title)}</h3><p class=\"tnote\">{_esc(note)}</p>"
    more = len(table.frame) - table.show_rows
    note = table.note + (f" Showing {table.show_rows} of {len(table.frame):,} rows; all rows are in report.xlsx, "
                         f"sheet {table.name}." if more > 0 else "")
    return (f"<h3>{_esc(table.title)}</h3><div class=\"tablewrap\">{frame_to_html(table.frame, table.show_rows)}"
            f"</div>" + (f'<p class="tnote">{_esc(note.strip())}</p>' if note.strip() else ""))


def section_html(sec: Section) -> str:
    """One section as an HTML fragment (escaped; used by the page and by ``Section._repr_html_``)."""
    parts = [f'<section id="{_esc(sec.key)}"><h2>{_esc(sec.title)}</h2>']
    if sec.intro:
        parts.append(f"<p>{_esc(sec.intro)}</p>")
    parts.extend(f'<div class="warning">{_esc(w)}</div>' for w in sec.warnings)
    parts.append(_figures(sec.figures))
    actions = [b.text for b in sec.blocks if isinstance(b, Note) and b.kind == "action"]
    if actions:
        parts.append('<div class="actions"><strong>To act on</strong><ol>'
                     + "".join(f"<li>{_esc(t)}</li>" for t in actions) + "</ol></div>")
    for block in sec.blocks:
        if isinstance(block, Note) and block.kind == "action":
            continue
        if isinstance(block, Chart):
            parts.append(_chart(block))
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Note):
            cls = ' class="warning"' if block.kind == "warning" else ""
            parts.append(f"<p{cls}>{_esc(block.text)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _brief(lines: list[str]) -> str:
    if not lines:
        return ""
    return '<ul class="brief">' + "".join(f"<li>{_esc(line)}</li>" for line in lines) + "</ul>"


def render_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    as_of = "" if report.as_of is None else f"{pd.Timestamp(report.as_of):%Y-%m-%d}"
    meta = (f"Reporting period {_esc(report.meta.get('period_label', report.period))} · data cut {_esc(as_of)} · "
            f"salesplan {_esc(report.meta.get('version', ''))} · seed {_esc(report.meta.get('seed', ''))} · "
            f"intervals at {_esc(format_number(report.meta.get('confidence'), '%', 0))}")
    toc = "".join(f'<li><a href="#{_esc(s.key)}">{_esc(s.title)}</a></li>' for s in report.sections)
    body = "\n".join(section_html(s) for s in report.sections)
    subtitle = f'<p class="meta">{_esc(report.subtitle)}</p>' if report.subtitle else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="salesplan">
<title>{_esc(report.title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header><h1>{_esc(report.title)}</h1>{subtitle}<p class="meta">{meta}</p></header>
<h2>Key figures</h2>
{_figures(report.key_figures)}
{_brief(report.brief)}
<nav><h3>Contents</h3><ol>{toc}</ol></nav>
{body}
</main>
</body>
</html>
"""
