"""Fixtures of the report tests.

The full demo report is built once per session, end to end, by running ``salesplan demo`` as a real process (the
console script, its exit code and its output); tests read the files it wrote. Reports on hostile data are
built in-process on a small simulated company.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Customer names and owners that would break an unescaped HTML page, a reportlab paragraph or an Excel cell.
HOSTILE_NAMES = [
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.body.dataset.pwned='1'\">",
    "<b>Bold & Co</b>",
    "=1+2",
    "Müller & Söhne <GmbH>",
]
HOSTILE_PROCESSES = ("acquisition", "retention")




@pytest.fixture(scope="session")
def hostile_names() -> list[str]:
    """The hostile customer names (see HOSTILE_NAMES)."""
    return list(HOSTILE_NAMES)


@pytest.fixture(scope="session")
def shown_hostile_names(hostile_data) -> set[str]:
    """Hostile names the report must show: customers with open deals in the reported processes."""
    return open_deals_names(hostile_data) & set(HOSTILE_NAMES)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``salesplan demo --out DIR`` run once as a process: (completed process, output folder)."""
    out = tmp_path_factory.mktemp("demo") / "demo-report"
    exe = Path(sys.executable).with_name("salesplan")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "salesplan.cli"]
    done = subprocess.run([*cmd, "demo", "--out", str(out)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    return done, out


@pytest.fixture(scope="session")
def demo_out(demo_run) -> Path:
    """The folder the demo wrote."""
    return demo_run[1]


@pytest.fixture(scope="session")
def demo_summary(demo_out) -> dict:
    """The demo's summary.json."""
    return json.loads((demo_out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def demo_sheets(demo_out) -> dict:
    """Every sheet of the demo's report.xlsx as a DataFrame."""
    import pandas as pd

    return pd.read_excel(demo_out / "report.xlsx", sheet_name=None)


@pytest.fixture(scope="session")
def hostile_data():
    """A small simulated company whose customer names and owners contain HTML markup and a formula."""
    import salesplan as sp
    from salesplan.datasets import simulate

    data, _ = simulate(n_customers=80, years=1.5, seed=11)
    customers = data.customers.copy()
    customers["name"] = [HOSTILE_NAMES[i % len(HOSTILE_NAMES)] for i in range(len(customers))]
    opps = data.opportunities.copy()
    opps["owner"] = "<i>rep</i> " + opps["owner"].astype(str)
    calls = data.forecast_calls.copy()  # the calls name the same (renamed) reps
    calls["owner"] = "<i>rep</i> " + calls["owner"].astype(str)
    history = data.opportunity_history.copy()
    history["owner"] = "<i>rep</i> " + history["owner"].astype(str)
    tables = {k: v.drop(columns=["is_return"], errors="ignore") for k, v in data.tables.items()}
    tables.update(customers=customers, opportunities=opps, forecast_calls=calls, opportunity_history=history)
    return sp.SalesData.from_frames(**tables, processes=data.processes, as_of=data.as_of)


@pytest.fixture(scope="session")
def hostile_report(hostile_data):
    """The report of ``hostile_data`` (two processes, the sections that list customers and owners)."""
    from salesplan.report import build_report, demo_config

    cfg = demo_config(title="Report <for> \"hostile\" & data", processes=HOSTILE_PROCESSES,
                      sections=("overview", "processes", "segments", "data_quality"))
    return build_report(hostile_data, cfg)


def open_deals_names(data, processes=HOSTILE_PROCESSES) -> set[str]:
    """Customer names of the open opportunities of ``processes`` (the report lists them)."""
    st = data.opportunity_status()
    open_ids = st.loc[(st["status"] == "open") & st["process"].isin(processes), "opportunity_id"]
    customer_ids = data.opportunities.loc[data.opportunities["opportunity_id"].isin(open_ids), "customer_id"]
    return set(data.customers.loc[data.customers["customer_id"].isin(customer_ids), "name"])
