"""The ``salesplan`` command: exit codes, messages, quiet / verbose, progress only on a terminal, init."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from salesplan.cli import main

ROOT = Path(__file__).resolve().parents[1]
SALESPLAN = Path(sys.executable).with_name("salesplan")


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_quiet_prints_only_the_paths(tmp_path):
    code, out, err = run("-q", "demo", "--out", str(tmp_path / "r"), "--formats", "json", "--sections", "overview,activity")
    assert code == 0 and err == ""
    assert [line.strip() for line in out.strip().splitlines()] == [f"json: {tmp_path / 'r' / 'summary.json'}"]


def test_verbose_logs_progress_and_flags_after_the_command(tmp_path):
    code, out, err = run("demo", "-v", "--out", str(tmp_path / "r"), "--formats", "json", "--sections", "overview,activity")
    assert code == 0
    assert "salesplan: INFO: loading the example data" in err


def test_progress_bar_only_on_a_terminal(tmp_path):
    tty = TTY()
    code, _, _ = run("demo", "--out", str(tmp_path / "r"), "--formats", "json", "--sections", "overview,activity", err=tty)
    assert code == 0
    assert "\r[" in tty.getvalue() and "overview" in tty.getvalue()
    code, _, err = run("demo", "--out", str(tmp_path / "r2"), "--formats", "json", "--sections", "overview,activity")
    assert code == 0 and "\r" not in err


def test_bad_config_exits_2_naming_file_and_key(tmp_path):
    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nconfidense = 0.9\n[data]\nopportunities = "o.csv"\nstage_events = "e.csv"\n')
    code, out, err = run("report", "--config", str(cfg), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.startswith(f"salesplan: error: {cfg}: unknown key 'report.confidense'")
    assert not (tmp_path / "out").exists()


def test_missing_config_and_data_files_exit_2(tmp_path):
    code, _, err = run("report", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o"))
    assert code == 2 and "none.toml: configuration file not found" in err
    cfg = tmp_path / "report.toml"
    cfg.write_text('[data]\nopportunities = "o.csv"\nstage_events = "e.csv"\n')
    code, _, err = run("report", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert code == 2 and "'data.opportunities.path' names a file that does not exist" in err


def test_bad_data_exits_2_naming_column(tmp_path):
    assert run("-q", "init", str(tmp_path / "report.toml"), "--example-data")[0] == 0
    orders = tmp_path / "data" / "orders.csv"
    lines = orders.read_text().splitlines()
    head = lines[0].split(",")
    row = lines[5].split(",")
    row[head.index("amount")] = "lots"
    lines[5] = ",".join(row)
    orders.write_text("\n".join(lines) + "\n")
    code, out, err = run("report", "--config", str(tmp_path / "report.toml"), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "orders.amount [numeric]" in err


def test_usage_error_exits_2():
    code, _, _ = run("report", "--out", "x")  # --config missing
    assert code == 2
    assert run("frobnicate")[0] == 2
    assert run("--version")[0] == 0


def test_unexpected_error_exits_1(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("a real bug")

    monkeypatch.setattr("salesplan.report.build_report", boom)
    code, out, err = run("demo", "--out", str(tmp_path / "r"), "--sections", "overview")
    assert code == 1
    assert "salesplan: unexpected error: RuntimeError: a real bug" in err
    assert not (tmp_path / "r").exists()


def test_strict_exits_1_when_a_section_failed(tmp_path, monkeypatch):
    from salesplan.report import sections

    def broken(ctx):
        raise RuntimeError("no luck")

    monkeypatch.setitem(sections.SECTIONS, "activity", broken)
    code, out, err = run("demo", "--out", str(tmp_path / "r"), "--formats", "json", "--sections", "overview,activity")
    assert code == 0 and "Sections with warnings: activity" in out
    code, out, err = run("demo", "--strict", "--out", str(tmp_path / "r"), "--formats", "json", "--sections", "overview,activity")
    assert code == 1 and "--strict" in err
    assert (tmp_path / "r" / "summary.json").exists()  # the report is still written


def test_init_refuses_to_overwrite(tmp_path):
    path = tmp_path / "report.toml"
    assert run("init", str(path))[0] == 0
    path.write_text("# mine\n")
    code, _, err = run("init", str(path))
    assert code == 2 and "already exist" in err and path.read_text() == "# mine\n"
    assert run("-q", "init", str(path), "--force")[0] == 0
    assert path.read_text().startswith("# salesplan report configuration")


def test_init_with_example_data_then_report(tmp_path):
    code, out, _ = run("init", str(tmp_path / "report.toml"), "--example-data")
    assert code == 0 and "next: salesplan report" in out
    code, out, err = run("-q", "report", "--config", str(tmp_path / "report.toml"), "--out", str(tmp_path / "o"),
                         "--formats", "json,html", "--sections", "overview,data_quality")
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["as_of"] == "2026-01-01" and summary["period"] == "2025-12"
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith(".")) == [
        "report.html", "summary.json"]


def test_bad_formats_sections_and_as_of(tmp_path):
    assert run("demo", "--formats", "html,docx", "--out", str(tmp_path / "o"))[0] == 2
    code, _, err = run("demo", "--sections", "overview,gossip", "--out", str(tmp_path / "o"))
    assert code == 2 and "gossip" in err
    assert run("-q", "init", str(tmp_path / "report.toml"), "--example-data")[0] == 0
    code, _, err = run("report", "--config", str(tmp_path / "report.toml"), "--out", str(tmp_path / "o"),
                       "--as-of", "someday")
    assert code == 2 and "--as-of" in err


def test_no_prompt_when_stdin_is_closed(tmp_path):
    """Batch use: the command never reads stdin."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "salesplan.cli", "-q", "init", str(tmp_path / "r.toml")],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0 and (tmp_path / "r.toml").exists()


def test_model_warnings_reach_the_report_even_when_quiet(tmp_path, monkeypatch):
    """-q silences the console, not the data-quality table: the same data give the same report."""
    import logging
    import warnings

    from salesplan.errors import DataQualityWarning
    from salesplan.report import sections
    from salesplan.report.model import Section

    def chatty(ctx):
        logging.getLogger("salesplan.fake").warning("dropped 3 rows without a date")
        warnings.warn("7 amounts repaired", DataQualityWarning, stacklevel=1)
        return Section("activity", "Activity")

    monkeypatch.setitem(sections.SECTIONS, "activity", chatty)
    findings = {}
    for flag in ("-q", "-v"):
        out = tmp_path / flag.strip("-")
        code, _, err = run(flag, "demo", "--out", str(out), "--formats", "json", "--sections", "activity")
        assert code == 0
        rows = json.loads((out / "summary.json").read_text())["data_quality"]
        findings[flag] = sorted(r["message"] for r in rows if r["section"] == "activity")
        assert ("dropped 3 rows" in err) == (flag == "-v")
    assert findings["-q"] == findings["-v"] == ["7 amounts repaired", "[fake] dropped 3 rows without a date"]
