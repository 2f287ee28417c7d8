"""The report content and its writers: escaping, Excel text cells, summary.json, determinism, atomic writes."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import HOSTILE_NAMES, open_deals_names

from salesplan.errors import ConfigError
from salesplan.report import build_report, demo_config, write_report
from salesplan.report.excel import render_xlsx
from salesplan.report.html import CSP, render_html
from salesplan.report.pdf import render_pdf
from salesplan.report.writer import MARKER

# ------------------------------------------------------------------------------------------------ content


def test_demo_report_reads_as_a_control_report(demo_report, example_data):
    rep = demo_report
    assert rep.period == "2025-12"  # the cut is 2026-01-01 00:00: December is the month just closed
    keys = [s.key for s in rep.sections]
    assert keys[0] == "overview" and keys[-1] == "data_quality"
    assert [k for k in keys if k.startswith("process_")] == [f"process_{p}" for p in example_data.processes]
    # key figures at the top name every process, and the overview table matches a hand count
    assert {f.key for f in rep.key_figures} >= {f"won_quarter_{p}" for p in example_data.processes}
    att = next(t for t in rep.tables() if t.name == "attainment").frame.set_index("process")
    st = example_data.opportunity_status()
    won_q4 = st[(st["status"] == "won") & (st["closed_at"] >= "2025-10-01") & (st["closed_at"] < "2026-01-01")]
    assert att["won_quarter"].to_dict() == won_q4.groupby("process").size().reindex(att.index, fill_value=0).to_dict()
    targets = example_data.targets.assign(period=example_data.targets["period"].astype(str))
    q4 = targets[targets["period"].str.replace("-", "").isin(["2025Q4"])].set_index("process")["contracts"]
    assert att["target_quarter"].to_dict() == pytest.approx(q4.reindex(att.index).to_dict())
    # December is 31 of the quarter's 92 days
    assert att["target_period"].to_dict() == pytest.approx((q4.reindex(att.index) * 31 / 92).to_dict())


def test_report_has_at_least_twelve_charts(demo_report):
    assert len(demo_report.charts()) >= 12, [(s.key, len(s.charts), s.warnings) for s in demo_report.sections]


def test_every_section_of_the_demo_is_complete(demo_report):
    """Once every capability exists, no section of the demo report may carry a warning."""
    problems = {s.key: s.warnings for s in demo_report.sections if s.warnings}
    assert not problems


def test_failing_section_becomes_a_warning_and_a_data_quality_row(example_data, monkeypatch):
    from salesplan.report import sections

    def broken(ctx):
        raise RuntimeError("boom in activity")

    monkeypatch.setitem(sections.SECTIONS, "activity", broken)
    rep = build_report(example_data, demo_config(sections=("overview", "activity", "data_quality")))
    assert [s.key for s in rep.sections] == ["overview", "activity", "data_quality"]
    assert rep.sections[1].warnings == ["section failed: RuntimeError: boom in activity"]
    dq = rep.data_quality
    row = dq[dq["section"] == "activity"].iloc[0]
    assert row["severity"] == "error" and "boom in activity" in row["message"]
    assert rep.failed_sections == ["activity"]
    # the data-quality table is also a table of the report (one Excel sheet)
    assert "data_quality" in [t.name for t in rep.tables()]


def test_data_quality_lists_flagged_returns(demo_report, example_data):
    n_returns = int(example_data.orders["is_return"].sum())
    assert n_returns > 0
    dq = demo_report.data_quality
    row = dq[(dq["table"] == "orders") & dq["message"].str.contains("return")]
    assert row["rows"].tolist() == [n_returns]


def test_open_deals_table_matches_status(demo_report, example_data):
    st = example_data.opportunity_status()
    for proc in example_data.processes:
        table = next(t for t in demo_report.tables() if t.name == f"open_{proc}").frame
        expected = set(st.loc[(st["process"] == proc) & (st["status"] == "open"), "opportunity_id"])
        assert set(table["opportunity_id"]) == expected
        assert table["amount"].is_monotonic_decreasing


# ------------------------------------------------------------------------------------------------ escaping


def test_html_shows_markup_as_text(hostile_report, hostile_data):
    page = render_html(hostile_report)
    shown = open_deals_names(hostile_data) & set(HOSTILE_NAMES)
    assert shown, "the fixture must put hostile names on open deals"
    for name in shown:
        assert html.escape(name) in page
    assert "<script" not in page.lower()
    assert "<img src=x" not in page
    assert "<b>Bold" not in page and "<i>rep</i>" not in page
    assert html.escape("Report <for> \"hostile\" & data") in page
    # the page can never fetch or run anything
    assert f'content="{CSP}"' in page and "script-src" not in CSP and "default-src 'none'" in CSP
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page)


def test_pdf_escapes_markup_and_renders(hostile_report):
    pdf = render_pdf(hostile_report)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000


def test_excel_keeps_formulas_as_text(hostile_report, hostile_data):
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(render_xlsx(hostile_report)))
    assert wb.sheetnames[0] == "key_figures"
    assert len(wb.sheetnames) == len(hostile_report.tables()) + 1
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == "=1+2"]
    if "=1+2" in open_deals_names(hostile_data):
        assert cells
    assert all(c.data_type == "s" for c in cells)
    assert not [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"]


def test_summary_json_holds_the_key_figures(demo_out, demo_report):
    summary = json.loads((demo_out / "summary.json").read_text())
    assert summary["generator"] == "salesplan"
    assert summary["as_of"] == "2026-01-01" and summary["period"] == "2025-12"
    assert len(summary["key_figures"]) == len(demo_report.key_figures)
    assert summary["charts"] == len(demo_report.charts())
    by_key = {f["key"]: f for f in summary["key_figures"]}
    att = next(t for t in demo_report.tables() if t.name == "attainment").frame.set_index("process")
    for proc, won in att["won_quarter"].items():
        assert by_key[f"won_quarter_{proc}"]["value"] == won


# ------------------------------------------------------------------------------------------- determinism


def test_same_data_and_seed_give_the_same_files(example_data, tmp_path):
    cfg = demo_config()
    first = build_report(example_data, cfg)
    second = build_report(example_data, cfg)
    a = write_report(first, tmp_path / "a")
    b = write_report(second, tmp_path / "b")
    for fmt in ("html", "json", "pdf"):
        assert a[fmt].read_bytes() == b[fmt].read_bytes(), fmt
    from openpyxl import load_workbook

    wa, wb = load_workbook(a["xlsx"]), load_workbook(b["xlsx"])
    assert wa.sheetnames == wb.sheetnames
    for name in wa.sheetnames:
        assert [[c.value for c in r] for r in wa[name].iter_rows()] == [[c.value for c in r] for r in wb[name].iter_rows()]


# --------------------------------------------------------------------------------------------- atomicity


def _small_report():
    from salesplan.report.model import Report, Section

    return Report("Small", as_of=pd.Timestamp("2025-12-31"), sections=[Section("s", "S", intro="first")])


def test_failed_write_keeps_the_previous_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_report(_small_report(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def explode(report):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("salesplan.report.pdf.render_pdf", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_report(build_report_like_changed(), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left behind


def build_report_like_changed():
    rep = _small_report()
    rep.title = "Changed"
    return rep


def test_rewrite_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "out"
    write_report(_small_report(), out)
    (out / "stale.txt").write_text("old")
    paths = write_report(build_report_like_changed(), out, formats=("html",))
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "report.html"])
    assert "Changed" in paths["html"].read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    with pytest.raises(ConfigError, match="not written by salesplan"):
        write_report(_small_report(), foreign)
    assert (foreign / "thesis.docx").read_text() == "precious"
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        write_report(_small_report(), afile)


def test_fallback_swap_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr("salesplan.report.writer._exchange", lambda a, b: False)
    out = tmp_path / "out"
    write_report(_small_report(), out, formats=("json",))
    write_report(build_report_like_changed(), out, formats=("json",))
    assert json.loads((out / "summary.json").read_text())["title"] == "Changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_all_four_files_written(demo_out: Path):
    assert sorted(p.name for p in demo_out.iterdir()) == sorted(
        [MARKER, "report.html", "report.pdf", "report.xlsx", "summary.json"])
