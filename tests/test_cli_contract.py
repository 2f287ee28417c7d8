"""The exit-code contract of ``salesplan report``: every problem with the user's input or configuration exits 2
with a message naming the configuration file and key (and the data file), never a traceback; exit 1 only for bugs.

The catalogue runs ``cli.main`` in-process on a tiny hand-made company, so each case costs only the loading step.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from salesplan.cli import main

TABLES = {
    "customers": "customer_id,name,potential\nC1,Alpha,1000\nC2,Beta,2000\n",
    "orders": "customer_id,order_date,amount\nC1,2025-01-10,100\nC2,2025-02-11,250\nC1,2025-03-12,80\n",
    "opportunities": "opportunity_id,customer_id,process,created_at,amount\n"
                     "O1,C1,acquisition,2025-01-02,500\nO2,C2,acquisition,2025-01-05,700\n",
    "stage_events": "opportunity_id,stage,entered_at\nO1,contacted,2025-01-02\nO1,won,2025-02-01\n"
                    "O2,contacted,2025-01-05\nO2,qualified,2025-03-20\n",
    "activities": "kind,date,opportunity_id\ncalls,2025-01-03,O1\nvisits,2025-01-20,O2\n",
    "targets": "process,period,contracts\nacquisition,2025-Q1,2\n",
}
REQUIRED = {"customers": "customer_id", "orders": "amount", "opportunities": "process",
            "stage_events": "stage", "activities": "kind", "targets": "period"}


def write_company(folder: Path, config_extra: str = "", **replace: str) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name, text in {**TABLES, **replace}.items():
        (folder / "data" / f"{name}.csv").write_text(text)
    cfg = folder / "report.toml"
    data = "\n".join(f'{t} = "data/{t}.csv"' for t in TABLES)
    cfg.write_text(f"{config_extra}\n[data]\n{data}\n" if "[data]" not in config_extra else config_extra)
    return cfg


def run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["-q", *argv], stdout=out, stderr=err)
    return code, err.getvalue()


def assert_input_error(code: int, err: str, *named: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "unexpected error" not in err, err
    assert err.startswith("salesplan: error: "), err
    for name in named:
        assert name in err, (name, err)


def report(cfg: Path, out: Path, *extra: str) -> tuple[int, str]:
    return run("report", "--config", str(cfg), "--out", str(out), "--formats", "json", "--sections", "overview",
               *extra)


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("shape", ["header_only", "empty", "missing_column"])
def test_bad_table_exits_2_naming_config_key_and_file(tmp_path, table, shape):
    header, *rows = TABLES[table].splitlines()
    if shape == "header_only":
        text = header + "\n"
    elif shape == "empty":
        text = ""
    else:
        cols = header.split(",")
        drop = cols.index(REQUIRED[table])
        text = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop)
                         for line in [header, *rows]) + "\n"
    cfg = write_company(tmp_path, **{table: text})
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), f"data.{table}", f"{table}.csv")
    if shape == "missing_column":
        assert f"{table}.{REQUIRED[table]} [required]" in err
    if shape == "header_only":
        assert "[empty]" in err
    assert not (tmp_path / "out").exists()


WRONG_TYPES = {
    "report": '[report]\nconfidence = "high"\n',
    "processes": "[processes]\nfile = 3\n",
    "segments": '[segments]\nabc = "80/95"\n',
    "funnel": '[funnel]\nby = "segment"\n',
    "plan": '[plan]\nhorizon = "one"\n',
    "forecast": '[forecast]\nbacktest = "yes"\n',
    "capacity": '[capacity]\nreps = { acquisition = "one" }\n',
    "costs": "[costs]\nper_activity = 300\n",
    "data": '[data]\nopportunities = { path = "data/opportunities.csv", sep = 1 }\nstage_events = "data/stage_events.csv"\n',
}
KEYS = {"report": "report.confidence", "processes": "processes.file", "segments": "segments.abc",
        "funnel": "funnel.by", "plan": "plan.horizon", "forecast": "forecast.backtest", "capacity": "capacity.reps",
        "costs": "costs.per_activity", "data": "data.opportunities.sep"}


@pytest.mark.parametrize("section", list(WRONG_TYPES))
def test_wrong_type_in_every_config_section_exits_2(tmp_path, section):
    cfg = write_company(tmp_path, WRONG_TYPES[section])
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), KEYS[section])


def test_as_of_before_and_after_the_data_get_their_own_message(tmp_path):
    cfg = write_company(tmp_path)
    code, err = report(cfg, tmp_path / "out", "--as-of", "2020-01-01")
    assert_input_error(code, err, "--as-of", "lies before all the data", "2025-01-02 to 2025-03-20")
    assert "not_in_future" not in err  # one sentence, not thousands of failures
    code, err = report(cfg, tmp_path / "out", "--as-of", "2027-06-30")
    assert_input_error(code, err, "--as-of", "lies after all the data")
    cfg.write_text('[report]\nas_of = 2025-02-15\n' + cfg.read_text())
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), "'report.as_of' = 2025-02-15", "not_in_future", "data.stage_events")


def test_data_path_that_is_a_folder(tmp_path):
    cfg = write_company(tmp_path)
    (tmp_path / "data" / "orders.csv").unlink()
    (tmp_path / "data" / "orders.csv").mkdir()
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), "'data.orders.path' names a folder")


def test_bad_values_and_output_checked_first(tmp_path):
    cfg = write_company(tmp_path, stage_events="opportunity_id,stage,entered_at\nO1,contacted,2025-01-02\n"
                                               "O1, ,2025-02-01\nO2,contacted,05/01/2025\n")
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), "'data.stage_events.path'", "stage_events.stage [not_null]",
                       "stage_events.entered_at [ambiguous_date]", "05/01/2025", "dayfirst=")
    cfg = write_company(tmp_path / "amounts", orders='customer_id,order_date,amount\nC1,2025-01-10,"1,234"\n'
                                                     'C2,2025-02-11,"2,500"\n')
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), "'data.orders.path'", "orders.amount [numeric]", "decimal=")
    (tmp_path / "taken").write_text("a file")
    code, err = report(write_company(tmp_path / "ok"), tmp_path / "taken")
    assert_input_error(code, err, "--out", "is not a folder")


def test_a_bug_exits_1_with_a_pointer_to_report_it(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("process")

    monkeypatch.setattr("salesplan.report.build_report", boom)
    code, err = report(write_company(tmp_path), tmp_path / "out")
    assert code == 1 and "Traceback" not in err
    assert "this is a bug in salesplan" in err and "-vv" in err


def test_day_first_export_refused_then_read_with_the_config_option(tmp_path):
    events = ("opportunity_id,stage,entered_at\nO1,contacted,02/01/2025\nO1,won,01/02/2025\n"
              "O2,contacted,05/01/2025\nO2,qualified,03/03/2025\n")
    cfg = write_company(tmp_path, stage_events=events)
    code, err = report(cfg, tmp_path / "out")
    assert_input_error(code, err, str(cfg), "'data.stage_events.path'", "[ambiguous_date]", "dayfirst=True")
    data = "\n".join(f'{t} = "data/{t}.csv"' for t in TABLES if t != "stage_events")
    cfg.write_text(f'[data]\n{data}\nstage_events = {{ path = "data/stage_events.csv", dayfirst = true }}\n')
    from salesplan.report import load_config, load_data

    loaded = load_data(load_config(cfg))
    assert loaded.stage_events["entered_at"].tolist() == [pd.Timestamp(d) for d in (
        "2025-01-02", "2025-02-01", "2025-01-05", "2025-03-03")]


def test_exports_as_they_come_through_the_config(tmp_path, caplog):
    """The batch command reads with the library's reader: a Salesforce-style report (quoted, ISO-8859-1, footer)
    and a German ERP export (';', cp1252, title rows, dotted dates, thousands dots, decimal commas, currency)."""
    events = ['"Opportunity ID","Stage","Edit Date"', '"O1","contacted","2025-01-02"', '"O1","won","2025-02-01"',
              '"O2","contacted","2025-01-05"', '"O2","qualified","2025-03-20"', "", '"Opportunity History"',
              '"Copyright © 2000-2025 salesforce.com, inc. All rights reserved."',
              '"Confidential Information - Do Not Distribute"', '"Generated By:  Jane Doe  4/1/2025 3:01 PM"']
    orders = ("Umsatzliste Verkauf 2025;;\nMandant 100 – Müller GmbH;;\nKundennr.;Belegdatum;Betrag\n"
              "C1;10.01.2025;1.234,56 EUR\nC2;11.02.2025;5277,76 EUR\nC1;12.03.2025;100,00- EUR\n")
    cfg = write_company(tmp_path)
    (tmp_path / "data" / "history.csv").write_bytes(("\r\n".join(events) + "\r\n").encode("iso-8859-1"))
    (tmp_path / "data" / "Umsatzliste.csv").write_bytes(orders.encode("cp1252"))
    data = "\n".join(f'{t} = "data/{t}.csv"' for t in TABLES if t not in ("stage_events", "orders"))
    cfg.write_text(f'[data]\n{data}\n'
                   '[data.stage_events]\npath = "data/history.csv"\n'
                   'columns = { "Opportunity ID" = "opportunity_id", "Stage" = "stage", "Edit Date" = "entered_at" }\n'
                   '[data.orders]\npath = "data/Umsatzliste.csv"\n'
                   'columns = { "Kundennr." = "customer_id", "Belegdatum" = "order_date", "Betrag" = "amount" }\n')
    code, err = run("report", "--config", str(cfg), "--out", str(tmp_path / "out"), "--formats", "json",
                    "--sections", "data_quality")
    assert code == 0, err
    from salesplan.report import load_config, load_data

    with caplog.at_level("WARNING"):
        loaded = load_data(load_config(cfg))
    assert loaded.stage_events["entered_at"].tolist() == [pd.Timestamp(d) for d in (
        "2025-01-02", "2025-02-01", "2025-01-05", "2025-03-20")]
    assert loaded.orders["amount"].tolist() == [1234.56, 5277.76, -100.0]
    assert loaded.orders["order_date"].tolist() == [pd.Timestamp(d) for d in ("2025-01-10", "2025-02-11",
                                                                              "2025-03-12")]
    assert "Confidential Information - Do Not Distribute" in caplog.text
    assert "title row above the header" in caplog.text and "cp1252" in caplog.text
