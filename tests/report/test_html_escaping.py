"""The HTML writer escapes every data string in every slot and formats table cells as people read them.

A hostile string is put in each place a data string can reach (section, figure, chart title and caption, table
title, note, column and cell, brief line, report title); the page is parsed with the standard library's HTML
parser, which must find no element that the writer did not make, and find each hostile string back as text.
"""

from __future__ import annotations

import base64
import html
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from salesplan.report.blocks import Chart, KeyFigure, Note, Table
from salesplan.report.html import frame_to_html, render_html, section_html
from salesplan.report.model import Report, Section

EVIL = "<script>alert('x')</script> & \"q\" <img src=x onerror=y>"
ALLOWED = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3", "p", "div",
           "figure", "img", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "section", "nav", "ol", "li",
           "a", "ul"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


def _hostile_section(tag: str) -> Section:
    sec = Section(f"key{tag}", f"Title {tag} {EVIL}", intro=f"Intro {tag} {EVIL}", warnings=[f"Warn {tag} {EVIL}"])
    sec.add_figure(KeyFigure(f"Label {tag} {EVIL}", f"Value {tag} {EVIL}", note=f"Note {tag} {EVIL}", status="bad"))
    sec.add_chart(Chart(title=f"Chart {tag} {EVIL}", png=b"\x89PNG", caption=f"Caption {tag} {EVIL}"))
    sec.add_table(Table(f"t{tag}", f"Table {tag} {EVIL}",
                        pd.DataFrame({f"col {EVIL}": [f"Cell {tag} {EVIL}"], "n": [3]}), note=f"TNote {tag} {EVIL}"))
    sec.add_table(Table(f"h{tag}", f"Hidden {tag} {EVIL}", pd.DataFrame({"a": [1, 2]}), show_rows=0,
                        note=f"HNote {tag} {EVIL}"))
    sec.blocks.append(Note(f"Para {tag} {EVIL}"))
    sec.blocks.append(Note(f"Caveat {tag} {EVIL}", kind="warning"))
    return sec


def test_every_data_string_is_escaped_in_the_page() -> None:
    report = Report(title=f"Report {EVIL}", subtitle=f"Sub {EVIL}", as_of=pd.Timestamp("2025-12-31"),
                    period="2025-12", sections=[_hostile_section("A")],
                    key_figures=[KeyFigure(f"Top {EVIL}", 0.25, unit="%", low=0.2, high=0.3, note=f"TopNote {EVIL}")],
                    brief=[f"Brief {EVIL}"], meta={"period_label": f"Dec {EVIL}", "version": "1", "seed": 7,
                                                   "confidence": 0.8})
    page = render_html(report)
    parsed = _parse(page)
    tags = [t for t, _ in parsed.tags]
    assert set(tags) <= ALLOWED and "script" not in tags
    imgs = [a for t, a in parsed.tags if t == "img"]
    assert len(imgs) == 1 and imgs[0]["class"] == "chart" and "onerror" not in imgs[0]
    assert imgs[0]["alt"] == f"Chart A {EVIL}" and imgs[0]["src"].startswith("data:image/png;base64,")
    text = "".join(parsed.text)
    for slot in ("Title A", "Intro A", "Warn A", "Label A", "Value A", "Note A", "Table A", "Cell A", "TNote A",
                 "Para A", "Caveat A", "Report", "Sub", "Top", "TopNote", "Brief", "Dec", "col"):
        assert f"{slot} {EVIL}" in text, slot
    assert f"Chart A {EVIL}. Caption A {EVIL}" in text  # the caption: title. caption
    assert f"HNote A {EVIL} 2 rows: see report.xlsx, sheet hA." in text
    assert "Top 25.0% (20.0% – 30.0%)" in "".join(parsed.text).replace(EVIL, "")
    assert "intervals at 80%" in text and "data cut 2025-12-31" in text and "seed 7" in text
    # each string in its element, escaped as html.escape does (quotes included)
    esc = html.escape
    for fragment in (f'<section id="keyA"><h2>{esc("Title A " + EVIL)}</h2>', f'<p>{esc("Para A " + EVIL)}</p>',
                     f'<p class="warning">{esc("Caveat A " + EVIL)}</p>', f"<li>{esc('Brief ' + EVIL)}</li>",
                     f'<div class="warning">{esc("Warn A " + EVIL)}</div>', f"<title>{esc('Report ' + EVIL)}</title>"):
        assert fragment in page, fragment
    assert page.count("<section") == page.count("</section>") == 1
    assert imgs[0]["src"] == "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
    assert "width" not in imgs[0] and "height" not in imgs[0]  # no size given: none written
    # the table of contents links to the section by its key
    assert ("a", {"href": "#keyA"}) in parsed.tags
    assert ("div", {"class": "fig bad"}) in parsed.tags


def test_section_fragment_and_caption_escaped() -> None:
    frag = section_html(_hostile_section("B"))
    assert "<script>" not in frag and "<img src=x" not in frag
    parsed = _parse(frag)
    caps = [i for i, (t, _) in enumerate(parsed.tags) if t == "figcaption"]
    assert len(caps) == 1
    assert f"Chart B {EVIL}. Caption B {EVIL}" in "".join(parsed.text)
    assert {t for t, _ in parsed.tags} <= ALLOWED
    warnings = [a for t, a in parsed.tags if a.get("class") == "warning"]
    assert len(warnings) == 2  # the section warning and the warning note
    # a chart without caption shows its title alone; a sized chart carries its size
    plain = Section("k", "t")
    plain.add_chart(Chart(title="Only <title>", png=b"x", width_px=640, height_px=480))
    out = section_html(plain)
    assert "<figcaption>Only &lt;title&gt;</figcaption>" in out and 'width="640" height="480"' in out


def test_table_cells_are_formatted_for_people() -> None:
    frame = pd.DataFrame({"name": ["<b>A</b>", None], "won": [1234, 5], "win_rate": [0.1234, np.nan],
                          "amount": [1234.5, 2.5], "flag": [True, False], "n": [3.0, 12.0],
                          "when": [pd.Timestamp("2025-01-02"), pd.Timestamp("2025-01-02 13:45")]})
    parsed = _parse(frame_to_html(frame))
    cells = [d for d in parsed.text]
    assert cells == ["name", "won", "win rate", "amount", "flag", "n", "when",
                     "<b>A</b>", "1,234", "12.3%", "1,234", "True", "3", "2025-01-02",
                     "–", "5", "–", "2.5", "False", "12", "2025-01-02 13:45"]
    numeric = [a.get("class") for t, a in parsed.tags if t == "td"]
    # a column is right-aligned when it holds numbers, its blanks ("–") included
    assert numeric == [None, "num", "num", "num", None, "num", None] * 2
    # max_rows cuts, a named index becomes a column
    two = _parse(frame_to_html(pd.DataFrame({"v": [1, 2, 3]}, index=pd.Index(["x", "y", "z"], name="k")), 2))
    assert two.text == ["k", "v", "x", "1", "y", "2"]


@pytest.mark.parametrize("value, shown", [(0.5, "0.5"), (12345.0, "12,345"), (7.0, "7"), (1e-5, "1e-05")])
def test_float_cells(value, shown) -> None:
    assert _parse(frame_to_html(pd.DataFrame({"x": [value]}))).text == ["x", shown]
