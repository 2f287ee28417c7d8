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
    for slot in ("Hidden A", "Title A", "Intro A", "Warn A", "Label A", "Value A", "Note A", "Table A", "Cell A", "TNote A",
                 "Para A", "Caveat A", "Report", "Sub", "Top", "TopNote", "Brief", "Dec", "col"):
        assert f"{slot} {EVIL}" in text, slot
    assert f"Chart A {EVIL}. Caption A {EVIL}" in text  # the caption: title. caption
    assert f"HNote A {EVIL} 2 rows: see report.xlsx, sheet hA." in text
    assert "Top 25.0% (20.0% – 30.0%)" in "".join(parsed.text).replace(EVIL, "")
    assert "data cut 2025-12-31 · salesplan 1 · seed 7 · intervals at 80%" in text
    # each string in its element, escaped as html.escape does (quotes included)
    esc = html.escape
    for fragment in (f'<section id="keyA"><h2>{esc("Title A " + EVIL)}</h2>', f'<p>{esc("Para A " + EVIL)}</p>',
                     f'<p class="warning">{esc("Caveat A " + EVIL)}</p>', f"<li>{esc('Brief ' + EVIL)}</li>",
                     f'<div class="warning">{esc("Warn A " + EVIL)}</div>', f"<title>{esc('Report ' + EVIL)}</title>",
                     f"<h1>{esc('Report ' + EVIL)}</h1>", f'<li><a href="#keyA">{esc("Title A " + EVIL)}</a></li>'):
        assert fragment in page, fragment
    assert page.count("<section") == page.count("</section>") == 1
    assert imgs[0]["src"] == "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
    assert set(imgs[0]) == {"class", "alt", "src"}  # no size given: none written
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


def test_figure_status_classes_brief_and_empty_parts() -> None:
    figs = [KeyFigure(s or "none", 1, status=s) for s in ("good", "warn", "bad", "", "odd")]
    sec = Section("k", "T", figures=figs)
    frag = section_html(sec)
    classes = [a["class"] for t, a in _parse(frag).tags if t == "div" and "fig" in a.get("class", "")]
    assert classes == ["figures", "fig good", "fig warn", "fig bad", "fig", "fig"]
    assert 'class="note"' not in frag  # figures without a note have no note element
    assert ('<div class="fig good"><div class="label">good</div><div class="value">1</div></div>'
            '<div class="fig warn"><div class="label">warn</div>') in frag
    bare = section_html(Section("k", "T"))  # no intro, figures, warnings or blocks: the heading alone
    assert bare == '<section id="k"><h2>T</h2>\n\n</section>'
    page = render_html(Report(title="R", period="2025-12", brief=["one", "two <b>"]))
    assert '<ul class="brief"><li>one</li><li>two &lt;b&gt;</li></ul>' in page
    plain = render_html(Report(title="R", period="2025-12"))
    assert "<ul" not in plain and 'class="figures"' not in plain
    assert "<h2>Key figures</h2>\n\n\n<nav>" in plain  # no figures, no brief: nothing between
    assert plain.count('class="meta"') == 1  # no subtitle paragraph without a subtitle
    assert '<header><h1>R</h1><p class="meta">Reporting period' in plain
    two = render_html(Report(title="R", sections=[Section("a", "A"), Section("b", "B")]))
    assert '<ol><li><a href="#a">A</a></li><li><a href="#b">B</a></li></ol>' in two
    assert "</section>\n<section" in two
    assert "Reporting period 2025-12 · data cut  · salesplan  · seed  · intervals at –" in plain
    assert """<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:;""" in plain
    assert plain.startswith('<!DOCTYPE html>\n<html lang="en">') and plain.rstrip().endswith("</html>")


def test_long_tables_say_how_many_rows_are_shown() -> None:
    sec = Section("k", "T")
    sec.add_table(Table("big", "Big", pd.DataFrame({"v": [1, 2, 3]}), note="Counts.", show_rows=1))
    sec.add_table(Table("all", "All", pd.DataFrame({"v": [1, 2]}), show_rows=2))
    sec.add_table(Table("one", "One more", pd.DataFrame({"v": [1, 2]}), show_rows=1))
    out = section_html(sec)
    assert '<p class="tnote">Counts. Showing 1 of 3 rows; all rows are in report.xlsx, sheet big.</p>' in out
    assert out.count('class="tnote"') == 2  # a table shown whole without a note has none
    assert '<p class="tnote">Showing 1 of 2 rows; all rows are in report.xlsx, sheet one.</p>' in out
    assert '<h3>Big</h3><div class="tablewrap"><table><thead><tr><th>v</th></tr></thead><tbody><tr><td class="num">1' \
           '</td></tr></tbody></table></div><p class="tnote">' in out  # only the first row of "big"
    assert '<tbody><tr><td class="num">1</td></tr><tr><td class="num">2</td></tr></tbody></table></div>\n' in out


@pytest.mark.parametrize("value, shown, numeric", [
    (999.5, "999.5", True), (1000.0, "1,000", True), (-1000.0, "-1,000", True), (-999.5, "-999.5", True),
    (0.123456, "0.1235", True), (np.float64(2.0), "2", True), (1234567, "1,234,567", True),
    (np.int64(-5), "-5", True), (np.bool_(True), "True", False), (pd.NaT, "–", False), (None, "–", False),
    (pd.Timestamp("2025-03-04"), "2025-03-04", False), (pd.Timestamp("2025-03-04 00:00:01"), "2025-03-04 00:00", False),
    ("x", "x", False), ("(all)", "Total", False), ("(all) ", "(all) ", False),  # the library's total-row marker
])
def test_cell_text(value, shown, numeric) -> None:
    from salesplan.report.html import cell_text

    assert cell_text(value) == (shown, numeric)


@pytest.mark.parametrize("value, shown", [(0.5, "50.0%"), (np.float64(0.0123), "1.2%"), (3, "3"), (np.nan, "–")])
def test_percent_cells(value, shown) -> None:
    from salesplan.report.html import cell_text

    assert cell_text(value, percent=True)[0] == shown


def test_percent_columns_by_name() -> None:
    from salesplan.report.html import is_percent_column

    names = ["win_rate", "Attainment_Q", "share", "utilisation", "p_win_probability", "won", "amount", 3]
    assert [is_percent_column(n) for n in names] == [True, True, True, True, True, False, False, False]


def test_scoped_css_limits_every_rule_to_the_scope() -> None:
    from salesplan.report.html import CSS, scoped_css

    assert scoped_css().startswith(".salesplan-report header{")  # the default scope, the first kept rule
    out = scoped_css("#r")
    rules = [r for r in out.split("}") if r]
    # every selector is inside the scope; page-level rules (body, main) are dropped; bodies are kept as written
    selectors = [s for r in rules for s in r.split("{")[0].split(",")]
    assert selectors and all(s.startswith("#r ") for s in selectors)
    assert "#r body" not in selectors and "#r main" not in selectors
    flat = CSS.replace("\n", "")
    assert all(r.split("{", 1)[1] in flat for r in rules)
    assert "#r h1{font-size:26px;margin:0 0 4px}" in out
    assert "#r th,#r td{border:1px solid #d5dbe1;" in out
    assert "#r .fig.good{border-left-color:#2e7d32}" in out
    screen = flat.split("@media print")[0]  # print rules stay with the standalone page, not a notebook cell
    assert "@media" not in out and "@page" not in out and "@media print" in flat
    n_css = screen.count("}") - sum(screen.count(x) for x in ("body{", "main{"))
    assert len(rules) == n_css


def test_intervals_shown_in_one_column() -> None:
    from salesplan.report.html import display_cells

    frame = pd.DataFrame({"stage": ["a", "b", "c", "d"], "rate_high": [0.6, 0.7, np.nan, 0.9],
                          "rate": [0.5, np.nan, 0.55, 0.8], "rate_low": [0.4, 0.3, 0.5, np.nan],
                          "won_low": [1, 2, 3, 4], "n": [10, 20, 30, 40]})
    head, rows, right = display_cells(frame)
    # x_low and x_high anywhere beside x: one column "x (low – high)"; a missing part leaves the value alone;
    # a _low column without its value and _high column is shown as it is
    assert head == ["stage", "rate", "won low", "n"]
    assert [r[1] for r in rows] == ["50.0% (40.0% – 60.0%)", "–", "55.0%", "80.0%"]
    assert [r[2] for r in rows] == ["1", "2", "3", "4"] and right == [False, True, True, True]
    # without the _high column nothing is merged
    head, rows, _ = display_cells(frame.drop(columns="rate_high"))
    assert head == ["stage", "rate", "rate low", "won low", "n"] and rows[0][:3] == ["a", "50.0%", "40.0%"]
    head, rows, _ = display_cells(frame.drop(columns="rate_low"))
    assert head == ["stage", "rate high", "rate", "won low", "n"] and rows[0][:3] == ["a", "60.0%", "50.0%"]
    # bounds without their value column stay two columns
    head, _, _ = display_cells(pd.DataFrame({"p_low": [1], "p_high": [2]}))
    assert head == ["p low", "p high"]
    # numbers that are not shares keep their own format inside the brackets
    head, rows, _ = display_cells(pd.DataFrame({"won": [1234.0], "won_low": [1000.0], "won_high": [1500.0]}),
                                  max_rows=1)
    assert (head, rows) == (["won"], [["1,234 (1,000 – 1,500)"]])


def test_things_to_act_on_come_first_and_escaped() -> None:
    sec = Section("s", "S")
    sec.blocks.append(Note("plain <text>"))
    sec.blocks.append(Note("call <ACME> today", kind="action"))
    sec.blocks.append(Note("careful", kind="warning"))
    sec.blocks.append(Note("renew & grow", kind="action"))
    page = section_html(sec)
    assert ('<div class="actions"><strong>To act on</strong><ol><li>call &lt;ACME&gt; today</li>'
            '<li>renew &amp; grow</li></ol></div>') in page
    # the actions are listed once, before the other notes, which keep their order
    assert page.count("today") == 1
    assert page.index("To act on") < page.index("<p>plain &lt;text&gt;</p>") < page.index(
        '<p class="warning">careful</p>')
    assert 'class="actions"' not in section_html(Section("t", "T"))
