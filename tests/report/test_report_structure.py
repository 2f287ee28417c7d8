"""The control report a head of sales reads: its structure, PDF pages, workbook formats and new figures.

The demo report is the one ``salesplan demo`` wrote once per session (``demo_out``); every page of its PDF is
rendered with pdftoppm and measured. The new figures (comparisons, weighted pipeline, activities per rep,
breakdowns) are checked against counts made by hand from the raw example tables.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from salesplan.report import demo_config, parse_config
from salesplan.report.blocks import Table
from salesplan.report.build import _appendix
from salesplan.report.model import Report, Section
from salesplan.report.pdf import render_pdf

#: A page whose content ends above this share of the printable height is "under-filled".
MIN_FILL = 0.30


def _pages(pdf: Path, tmp: Path) -> list[np.ndarray]:
    """Every page as a grey-scale array (pdftoppm at 30 dpi)."""
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "30", "-gray", "-png", str(pdf), str(tmp / "p")], check=True)
    return [np.asarray(Image.open(p)) for p in sorted(tmp.glob("p-*.png"))]


def _fill(page: np.ndarray) -> float:
    """Share of the printable height (margins and footer excluded) down to the lowest ink."""
    h = page.shape[0]
    top, bottom = int(h * 0.045), int(h * 0.935)  # 1.3 cm top margin; the footer sits below 1.4 cm
    ink = np.where((page[top:bottom] < 200).any(axis=1))[0]
    return 0.0 if ink.size == 0 else float(ink[-1] + 1) / (bottom - top)


@pytest.fixture(scope="module")
def pdf_pages(demo_out, tmp_path_factory):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from pypdf import PdfReader

    reader = PdfReader(demo_out / "report.pdf")
    texts = [p.extract_text() for p in reader.pages]
    return _pages(demo_out / "report.pdf", tmp_path_factory.mktemp("pages")), texts, reader


def test_standard_pdf_is_about_ten_pages_and_every_page_is_used(pdf_pages, demo_summary) -> None:
    images, texts, _ = pdf_pages
    assert 8 <= len(images) <= 12
    titles = [s["key"] for s in demo_summary["sections"]]
    # every process has its page, and page 1 is the executive summary
    assert "Executive summary" in texts[0] and "To act on" in texts[0]
    starts = [i for i, t in enumerate(texts) if re.search(r"^\s*Process: \w+", t.split("\n", 3)[-1], re.M)]
    assert len([k for k in titles if k.startswith("process_")]) == 5
    fills = [_fill(p) for p in images]
    for i, fill in enumerate(fills):
        # a page may be short only when it ends a section: the next page starts a new one, or it is the last
        last_of_section = i == len(images) - 1 or i + 1 in starts or "Breakdowns" in texts[i + 1][:400] \
            or "Forecast" in texts[i + 1][:200]
        assert fill >= MIN_FILL or last_of_section, f"page {i + 1} is {fill:.0%} filled"
    assert sum(fills) / len(fills) > 0.6


def test_headings_stay_with_what_follows(pdf_pages, demo_summary) -> None:
    """No page ends with a heading: the last line of every page is not a section or table title, and no
    section title sits in the last lines of a page (its intro alone, the content on the next page)."""
    _, texts, _ = pdf_pages
    titles = [s["title"] for s in demo_summary["sections"]]
    for i, text in enumerate(texts):
        lines = [ln.strip() for ln in text.split("\n") if ln.strip() and not ln.strip().startswith("page ")]
        lines = [ln for ln in lines if "Sales control report — example company — 2025-12" not in ln]
        assert not [t for t in titles if any(ln.startswith(t) for ln in lines[-6:])], (i + 1, lines[-6:])
        last = lines[-1]
        assert not re.match(r"^(Process: |Breakdowns|Forecast|KPIs|Data and|Appendix|By |\w+: (conversion|plan "
                            r"against|activities per rep|targets per rep|largest open))", last), (i + 1, last)


def test_wide_tables_are_split_never_cut(pdf_pages) -> None:
    _, texts, _ = pdf_pages
    text = "\n".join(texts)
    assert "first 9 of" not in text and "columns" not in re.findall(r"first \d+ of \d+ (\w+)", text)
    for process in ("acquisition", "retention"):
        page = next(t for t in texts if f"{process}: conversion per stage" in t)
        assert "win rate" in page and "closed" in page  # the win-rate columns are on the page, with intervals
        assert re.search(r"\d+\.\d% \(\d+\.\d% – \d+\.\d%\)", page)


def test_pdf_metadata_carry_the_data_cut_and_are_reproducible(pdf_pages) -> None:
    _, _, reader = pdf_pages
    meta = reader.metadata
    assert meta["/CreationDate"].startswith("D:20260101000000")
    assert meta["/Title"] == "Sales control report — example company"
    assert meta["/Author"] == "Example company (simulated)"
    report = Report("R", as_of=pd.Timestamp("2025-06-30 12:00"), sections=[Section("s", "S")], author="Me")
    one, two = render_pdf(report), render_pdf(report)
    assert one == two and b"D:20250630120000" in one and b"(Me)" in one


def test_workbook_has_contents_formats_and_filters(demo_out) -> None:
    wb = load_workbook(demo_out / "report.xlsx")
    assert wb.sheetnames[:2] == ["contents", "key_figures"]
    contents = wb["contents"]
    assert [c.value for c in contents[1]] == ["sheet", "title", "section", "rows"]
    assert [r[0].value for r in contents.iter_rows(min_row=2)] == wb.sheetnames[1:]
    assert contents["A2"].hyperlink.location == "'key_figures'!A1"
    for ws in wb.worksheets:
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert ws.freeze_panes == "A2"
    att = wb["attainment"]
    header = [c.value for c in att[1]]
    row = {h: c for h, c in zip(header, att[2], strict=True)}
    assert row["won_period"].number_format == "#,##0" and isinstance(row["won_period"].value, int)
    assert row["attainment_period"].number_format == "0.0%"
    assert row["target_period"].number_format == "#,##0.0"
    deals = wb["open_acquisition"]
    header = [c.value for c in deals[1]]
    assert deals.cell(row=2, column=header.index("amount") + 1).number_format == "#,##0"
    # the standard workbook holds the detail tables (appendix) but not the full level's extra sections
    assert {"variance_acquisition", "pva_acquisition", "kpis", "forecast_by_month"} <= set(wb.sheetnames)
    assert "assignment_all" not in wb.sheetnames and "trend_forecast" not in wb.sheetnames


def test_levels_choose_sections_and_where_detail_tables_go() -> None:
    cfg = parse_config({"report": {"level": "summary"}, "data": {"opportunities": "o.csv",
                                                                  "stage_events": "e.csv"}})
    assert cfg.report.section_keys == ("overview", "data_quality")
    assert demo_config().report.section_keys == ("overview", "forecast", "accountability", "processes",
                                                 "breakdowns", "kpis", "data_quality")
    assert demo_config(level="full").report.section_keys[-3:] == ("activity", "segments", "data_quality")
    from salesplan.errors import ConfigError

    with pytest.raises(ConfigError, match="report.level"):
        parse_config({"report": {"level": "long"}})

    def sections() -> list[Section]:
        sec = Section("s", "S")
        sec.add_table(Table("main", "Main", pd.DataFrame({"x": [1]})))
        sec.add_table(Table("detail", "Detail", pd.DataFrame({"x": [1, 2]}), appendix=True))
        return [sec]

    for level, appendix_tables, workbook in (("summary", None, []), ("standard", [], ["detail"]),
                                              ("full", ["detail"], [])):
        secs = sections()
        app, only_workbook = _appendix(secs, level)
        assert [t.name for t in secs[0].tables] == ["main"]
        assert (None if app is None else [t.name for t in app.tables]) == appendix_tables
        assert [t.name for t in only_workbook] == workbook
    app, _ = _appendix(sections(), "standard")
    assert "Detail (sheet detail, 2 rows)" in app.intro


def test_comparisons_match_a_hand_count(demo_sheets, example_data) -> None:
    c = demo_sheets["comparisons_all"]
    won = c[c["figure"] == "contracts won"].set_index("process")
    st = example_data.opportunity_status()
    closed = st[st["status"] == "won"]
    month = closed["closed_at"].dt.to_period("M")
    for period, column in (("2025-12", "actual"), ("2025-11", "last_month"), ("2024-12", "same_month_last_year")):
        hand = closed[month == period].groupby("process").size()
        assert won[column].drop("(all)").to_dict() == hand.reindex(won.index.drop("(all)"), fill_value=0)\
            .astype(float).to_dict(), period
        assert won.loc["(all)", column] == len(closed[month == period])
    # plan = December's pro-rated target; attainment = actual / plan
    q4 = example_data.targets.query("period == '2025-Q4'").set_index("process")["contracts"]
    assert won["plan"].drop("(all)").to_dict() == pytest.approx((q4 * 31 / 92).to_dict())
    assert won["vs_plan"].to_numpy() == pytest.approx((won["actual"] / won["plan"]).to_numpy())
    created = c[(c["figure"] == "opportunities created") & (c["process"] == "(all)")].iloc[0]
    opps = example_data.opportunities
    assert created["actual"] == (opps["created_at"].dt.to_period("M") == "2025-12").sum()
    acts = example_data.activities
    calls = c[c["figure"] == "activities: calls"].iloc[0]
    dec = acts[(acts["kind"] == "calls") & (acts["date"].dt.to_period("M") == "2025-12")]
    assert calls["actual"] == len(dec)


def test_weighted_pipeline_and_breakdowns_match_the_deals(demo_sheets, example_data) -> None:
    wp = demo_sheets["weighted_pipeline"].set_index("process")
    st = example_data.opportunity_status()
    open_now = st[st["status"] == "open"].merge(example_data.opportunities[["opportunity_id", "amount"]],
                                                on="opportunity_id")
    assert wp["open_deals"].drop("(all)").to_dict() == open_now.groupby("process").size()\
        .reindex(wp.index.drop("(all)"), fill_value=0).to_dict()
    assert wp.loc["(all)", "open_amount"] == pytest.approx(open_now["amount"].sum())
    assert (wp["weighted_amount_low"] <= wp["weighted_amount"]).all()
    assert (wp["weighted_amount"] <= wp["weighted_amount_high"]).all()
    assert (wp["weighted_amount"] < wp["open_amount"]).all()
    # the stage win rates of the conversion sheets value each open deal
    rates = pd.concat([demo_sheets[f"conversion_{p}"].assign(process=p) for p in wp.index.drop("(all)")])
    valued = open_now.merge(rates[["process", "stage", "win_rate"]], on=["process", "stage"], how="left")
    by_hand = (valued["amount"] * valued["win_rate"]).groupby(valued["process"]).sum()
    assert wp["weighted_amount"].drop("(all)").to_dict() == pytest.approx(by_hand.to_dict(), rel=1e-9)
    owner = demo_sheets["by_owner"]
    assert owner["open_deals"].sum() == len(open_now)
    assert owner["weighted_amount"].sum() == pytest.approx(wp.loc["(all)", "weighted_amount"])
    won_dec = st[(st["status"] == "won") & (st["closed_at"].dt.to_period("M") == "2025-12")]
    assert owner["won_period"].sum() == len(won_dec)
    for dim in ("region", "industry", "size"):
        t = demo_sheets[f"by_{dim}"]
        assert t["won_period"].sum() == len(won_dec) and t["open_deals"].sum() == len(open_now), dim
        inside = t.dropna(subset=["win_rate_12m"])
        assert ((inside["win_rate_12m_low"] <= inside["win_rate_12m"])
                & (inside["win_rate_12m"] <= inside["win_rate_12m_high"])).all()


def test_activities_per_rep_match_the_log(demo_sheets, example_data) -> None:
    acts = example_data.activities
    dec = acts[(acts["date"].dt.to_period("M") == "2025-12") & (acts["process"] == "acquisition")]
    reps = demo_sheets["rep_activities_acquisition"].set_index("owner")
    hand = dec.groupby(["owner", "kind"]).size()
    for (owner, kind), n in hand.items():
        assert reps.loc[owner, f"{kind}_actual"] == n
    # the month's plan is split over the reps and adds up to the process's plan for December
    plan = demo_sheets["comparisons_all"]
    calls_plan = plan[plan["figure"] == "activities: calls"]["plan"].iloc[0]
    total = sum(demo_sheets[f"rep_activities_{p}"]["calls_plan"].sum() for p in
                ("acquisition", "new_product", "delivery_rate", "cross_selling", "retention"))
    assert total == pytest.approx(calls_plan)
    targets = demo_sheets["rep_targets_acquisition"]
    assert list(targets["owner"]) == sorted(reps.index) and (targets["weeks"] >= 4).all()
    assert (targets[["new entries", "calls"]] > 0).all().all()


def test_html_prints_and_wraps(demo_out) -> None:
    page = (demo_out / "report.html").read_text(encoding="utf-8")
    assert "@media print" in page and "break-after:avoid" in page and "overflow-wrap:anywhere" in page
    assert 'class="actions"' in page and "Executive summary" in page
    assert "overflow-x:auto" not in page  # tables wrap instead of scrolling out of a printed page
    assert io.StringIO(page).read().count("<section") >= 10
