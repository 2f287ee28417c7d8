"""Fixtures of the report tests: the demo report (built once per session) and data with hostile strings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

#: Customer names and owners that would break an unescaped HTML page, a reportlab paragraph or an Excel cell.
HOSTILE_NAMES = [
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.body.dataset.pwned='1'\">",
    "<b>Bold & Co</b>",
    "=1+2",
    "Müller & Söhne <GmbH>",
]


@pytest.fixture(scope="session")
def demo_report(example_data):
    """The full control report of the example company, as ``salesplan demo`` builds it."""
    from salesplan.report import build_report, demo_config

    return build_report(example_data, demo_config())


@pytest.fixture(scope="session")
def demo_out(demo_report, tmp_path_factory) -> Path:
    """The demo report written to a folder (all four formats)."""
    from salesplan.report import write_report

    out = tmp_path_factory.mktemp("demo") / "report"
    write_report(demo_report, out)
    return out


@pytest.fixture(scope="session")
def hostile_data():
    """A small simulated company whose customer names and owners contain HTML markup and a formula."""
    import salesplan as sp
    from salesplan.datasets import simulate

    data, _ = simulate(n_customers=80, years=1.5, seed=11)
    customers = data.customers.copy()
    customers["name"] = [HOSTILE_NAMES[i % len(HOSTILE_NAMES)] for i in range(len(customers))]
    opps = data.opportunities.copy()
    if "owner" in opps.columns:
        opps["owner"] = "<i>rep</i> " + opps["owner"].astype(str)
    tables = {k: v.drop(columns=["is_return"], errors="ignore") for k, v in data.tables.items()}
    tables.update(customers=customers, opportunities=opps)
    return sp.SalesData.from_frames(**tables, processes=data.processes, as_of=data.as_of)


@pytest.fixture(scope="session")
def hostile_report(hostile_data):
    """The report of ``hostile_data``."""
    from salesplan.report import build_report, demo_config

    return build_report(hostile_data, demo_config(title="Report <for> \"hostile\" & data"))


def open_deals_names(data) -> set[str]:
    """Customer names of open opportunities (the ones the report lists)."""
    st = data.opportunity_status()
    ids = data.opportunities.loc[data.opportunities["opportunity_id"].isin(st.loc[st["status"] == "open",
                                                                                   "opportunity_id"]),
                                 "customer_id"]
    return set(data.customers.loc[data.customers["customer_id"].isin(ids), "name"])


__all__ = ["HOSTILE_NAMES", "open_deals_names", "pd"]
