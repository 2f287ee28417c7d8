"""The report content and its writers: escaping, Excel text cells, summary.json, determinism, atomic writes."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.report import build_report, demo_config, write_report
from salesplan.report.excel import render_xlsx
from salesplan.report.html import CSP, render_html
from salesplan.report.pdf import render_pdf
from salesplan.report.writer import MARKER

# ------------------------------------------------------------------------------------------------ content


def test_demo_prints_summary_headline_and_paths(demo_run, demo_summary, example_data):
    done, out = demo_run
    for name in ("report.html", "report.pdf", "report.xlsx", "summary.json"):
        assert (out / name).stat().st_size > 1000
        assert str(out / name) in done.stdout
    lines = done.stdout.splitlines()
    # the validated-data summary: every table with its row count, and open / won / lost per process
    for table, frame in example_data.tables.items():
        assert any(line.split()[:2] == [table, str(len(frame))] for line in lines if line.strip())
    for proc, row in example_data.status_counts().iterrows():
        line = next(line for line in lines if line.startswith(proc + " "))
        assert line.split()[1:] == [str(row["open"]), str(row["won"]), str(row["lost"]), str(row["total"])]
    assert "2023-01-01" in done.stdout and "December 2025" in done.stdout
    # the headline figures, as in summary.json
    assert "Headline figures:" in done.stdout
    for fig in demo_summary["key_figures"]:
        assert fig["label"] in done.stdout
    # stderr is a pipe, not a terminal: no progress bar
    assert "\r" not in done.stderr and "[#" not in done.stderr


def test_demo_report_reads_as_a_control_report(demo_summary, demo_sheets, example_data):
    assert demo_summary["period"] == "2025-12"  # the cut is 2026-01-01 00:00: December just closed
    keys = [s["key"] for s in demo_summary["sections"]]
    assert keys[0] == "overview" and keys[-2:] == ["data_quality", "appendix"]
    assert [k for k in keys if k.startswith("process_")] == [f"process_{p}" for p in example_data.processes]
    assert {f["key"] for f in demo_summary["key_figures"]} >= (
        {f"won_quarter_{p}" for p in example_data.processes} | {"forecast_total", "open_opportunities"})
    assert len(demo_summary["brief"]) >= 4
    # the overview table matches a hand count of wins and the targets pro-rated by days
    att = demo_sheets["attainment"].set_index("process")
    st = example_data.opportunity_status()
    won_q4 = st[(st["status"] == "won") & (st["closed_at"] >= "2025-10-01") & (st["closed_at"] < "2026-01-01")]
    assert att["won_quarter"].to_dict() == won_q4.groupby("process").size().reindex(att.index, fill_value=0).to_dict()
    won_dec = won_q4[won_q4["closed_at"] >= "2025-12-01"]
    assert att["won_period"].to_dict() == won_dec.groupby("process").size().reindex(att.index, fill_value=0).to_dict()
    targets = example_data.targets
    q4 = targets[targets["period"] == "2025-Q4"].set_index("process")["contracts"].reindex(att.index)
    assert att["target_quarter"].to_dict() == pytest.approx(q4.to_dict())
    assert att["target_period"].to_dict() == pytest.approx((q4 * 31 / 92).to_dict())  # December: 31 of 92 days
    by_key = {f["key"]: f for f in demo_summary["key_figures"]}
    for proc, won in att["won_quarter"].items():
        assert by_key[f"won_quarter_{proc}"]["value"] == won


def test_standard_report_shows_a_few_charts_that_matter(demo_summary):
    """The standard level shows the funnel of each process and the forecast against target, not every chart."""
    assert demo_summary["level"] == "standard"
    assert sum(s["charts"] for s in demo_summary["sections"]) == demo_summary["charts"]
    per_process = [s["charts"] for s in demo_summary["sections"] if s["key"].startswith("process_")]
    assert per_process == [1] * 5
    assert 6 <= demo_summary["charts"] <= 12


def test_every_section_of_the_demo_is_complete(demo_summary):
    """Every capability exists: no section of the demo report may carry a warning."""
    problems = {s["key"]: s["warnings"] for s in demo_summary["sections"] if s["warnings"]}
    assert not problems
    assert not [r for r in demo_summary["data_quality"] if r["severity"] in ("error", "missing")]


def test_forecast_headline_is_consistent(demo_summary, demo_sheets):
    fc = demo_summary["headline"]["forecast"]
    assert fc["low"] <= fc["contracts"] <= fc["high"]
    assert 0 <= fc["p_reach_target"] <= 1
    table = demo_sheets["forecast"]
    total = table[(table["component"] == "total") & (table["process"] == "(all)")].iloc[0]
    assert total["contracts"] == pytest.approx(fc["contracts"], rel=1e-5)
    per_process = table[(table["component"] == "total") & (table["process"] != "(all)")]
    assert per_process["contracts"].sum() == pytest.approx(fc["contracts"], rel=1e-4)
    # the window target is the first quarter of 2026
    assert fc["target"] == pytest.approx(per_process["target"].sum())


def test_variance_effects_add_up_in_the_excel_sheets(demo_sheets, example_data):
    for proc in example_data.processes:
        v = demo_sheets[f"variance_{proc}"]
        mature = v["cohort"] == "mature"
        total = v["volume_effect"] + v["conversion_effect"] + v["timing_effect"]
        assert (total - v["gap"])[mature].abs().max() < 1e-9
        assert ((v["actual_contracts"] - v["planned_contracts"]) == v["gap"]).all()
        # the quarter that ended at the cut is too young to have closed: flagged, no conversion effect shown
        last = v.iloc[-1]
        assert last["period"] == "2025-Q4" and last["cohort"].startswith("immature:")
        assert pd.isna(last["conversion_effect"]) and pd.isna(last["timing_effect"])
        assert mature.iloc[:-1].all()


def test_data_quality_lists_flagged_returns(demo_summary, example_data):
    n_returns = int(example_data.orders["is_return"].sum())
    assert n_returns > 0
    rows = [r for r in demo_summary["data_quality"] if r["table"] == "orders" and "return" in r["message"]]
    assert [r["rows"] for r in rows] == [n_returns]


def test_open_deals_table_matches_status(demo_sheets, example_data):
    st = example_data.opportunity_status()
    for proc in example_data.processes:
        table = demo_sheets[f"open_{proc}"]
        expected = set(st.loc[(st["process"] == proc) & (st["status"] == "open"), "opportunity_id"])
        assert set(table["opportunity_id"]) == expected
        assert table["amount"].is_monotonic_decreasing


def test_failing_section_becomes_a_warning_and_a_data_quality_row(example_data, monkeypatch):
    from salesplan.report import sections

    def broken(ctx):
        raise RuntimeError("boom in activity")

    monkeypatch.setitem(sections.SECTIONS, "activity", broken)
    rep = build_report(example_data, demo_config(sections=("overview", "activity", "data_quality")))
    assert [s.key for s in rep.sections] == ["overview", "activity", "data_quality", "appendix"]
    assert rep.sections[1].warnings == ["section failed: RuntimeError: boom in activity"]
    dq = rep.data_quality
    row = dq[dq["section"] == "activity"].iloc[0]
    assert row["severity"] == "error" and "boom in activity" in row["message"]
    assert rep.failed_sections == ["activity"]
    assert "data_quality" in [t.name for t in rep.tables()]  # the findings are also an Excel sheet


def test_reported_processes_limit_models_and_targets(example_data):
    import dataclasses

    cfg = dataclasses.replace(demo_config(processes=("retention",), sections=("forecast",)),
                              forecast={"backtest": False})
    rep = build_report(example_data, cfg)
    fc = rep.headline["forecast"]
    q1 = example_data.targets.query("process == 'retention' and period == '2026-Q1'")["contracts"].sum()
    assert fc["target"] == pytest.approx(q1)  # the window is exactly the first quarter of 2026
    table = next(t for t in rep.tables() if t.name == "forecast").frame
    assert set(table["process"]) == {"retention", "(all)"}
    total = table.query("component == 'total'").set_index("process")["contracts"]
    assert total["(all)"] == pytest.approx(total["retention"])


def test_missing_figure_becomes_a_warning(example_data):
    import dataclasses

    no_targets = dataclasses.replace(example_data, targets=None)
    rep = build_report(no_targets, demo_config(sections=("activity", "data_quality"), processes=("retention",)))
    activity = rep.sections[0]
    assert activity.warnings == ["plan cost: not available — no targets for the reported processes: nothing to plan "
                                 "against"]
    assert len(activity.charts) == 3  # the rest of the section is there
    dq = rep.data_quality
    assert dq.loc[dq["severity"] == "missing", "message"].tolist() == activity.warnings
    assert "no targets table: the parts of the report that need it are missing" in dq["message"].tolist()


# ------------------------------------------------------------------------------------------------ escaping


def test_html_shows_markup_as_text(hostile_report, shown_hostile_names):
    page = render_html(hostile_report)
    shown = shown_hostile_names
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


def test_pdf_escapes_markup_and_renders(hostile_report, shown_hostile_names):
    """The PDF's extracted text shows the hostile names literally, the title, every section and key figure."""
    from pypdf import PdfReader

    pdf = render_pdf(hostile_report)
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    # text extraction breaks lines anywhere: compare with all whitespace removed
    text = re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    assert shown_hostile_names
    for name in shown_hostile_names:  # markup shown as text, not interpreted (a bold tag would vanish)
        assert squash(name) in text, name
    assert squash(hostile_report.title) in text
    for sec in hostile_report.sections:
        assert squash(sec.title) in text, sec.title
    for fig in hostile_report.key_figures:
        assert squash(fig.label) in text and squash(fig.text()) in text, fig.label
    assert len(reader.pages) >= len(hostile_report.sections)


def test_excel_keeps_formulas_as_text(hostile_report, shown_hostile_names):
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(render_xlsx(hostile_report)))
    assert wb.sheetnames[:2] == ["contents", "key_figures"]
    assert len(wb.sheetnames) == len(hostile_report.tables()) + 2
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == "=1+2"]
    assert "=1+2" in shown_hostile_names and cells
    assert all(c.data_type == "s" for c in cells)
    assert not [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"]


def test_summary_json_and_excel_agree(demo_summary, demo_sheets, example_data):
    assert demo_summary["generator"] == "salesplan"
    assert demo_summary["as_of"] == "2026-01-01" and demo_summary["seed"] == 20240
    figures = demo_sheets["key_figures"]
    assert figures["figure"].tolist() == [f["label"] for f in demo_summary["key_figures"]]
    assert figures["value"].astype(float).tolist() == pytest.approx(
        [float(f["value"]) for f in demo_summary["key_figures"]], rel=1e-5)
    # the numbers themselves, counted here from the raw example tables at the demo's cut
    cut = pd.Timestamp(demo_summary["as_of"])
    opps = example_data.opportunities[example_data.opportunities["created_at"] < cut]
    ev = example_data.stage_events[example_data.stage_events["entered_at"] < cut]
    closed = set(ev.loc[ev["stage"].isin(["won", "lost"]), "opportunity_id"])
    values = {f["key"]: f["value"] for f in demo_summary["key_figures"]}
    assert values["open_opportunities"] == int((~opps["opportunity_id"].isin(closed)).sum())
    won = ev[ev["stage"] == "won"].merge(opps[["opportunity_id", "process"]])
    quarter = won[won["entered_at"] >= pd.Timestamp("2025-10-01")].groupby("process").size()
    for proc, n in quarter.items():
        assert values[f"won_quarter_{proc}"] == n, proc


# ------------------------------------------------------------------------------------------- determinism


def test_same_data_and_seed_give_the_same_files(example_data, tmp_path):
    """The random parts (pipeline simulation, CLV fits) and every writer are reproducible."""
    import dataclasses

    cfg = dataclasses.replace(demo_config(sections=("overview", "forecast", "segments")),
                              forecast={"backtest": False})
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
