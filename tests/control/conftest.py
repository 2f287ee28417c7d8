"""A five-deal company whose control figures are worked out by hand in the tests."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan import SalesData, SalesProcess
from salesplan.reduce.states import StageFlows

PROC = SalesProcess("p", ["lead", "offer"], activities={"lead": {"calls": 2.0}})


def tiny_company() -> SalesData:
    """o4: Dec lead/offer, won 15 Jan; o1: Jan lead/offer, won 10 Feb; o2: Jan lead, lost 25 Jan;
    o3: Feb lead/offer, open; o5: Feb lead, open. Data cut 1 Mar 2025."""
    opps = pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3", "o4", "o5"], "customer_id": ["c1", "c2", "c3", "c4", "c5"],
        "process": "p",
        "created_at": pd.to_datetime(["2025-01-05", "2025-01-10", "2025-02-03", "2024-12-20", "2025-02-20"]),
        "amount": [100.0, 50.0, 200.0, 300.0, 80.0], "owner": ["a", "a", "b", "b", "a"],
        "expected_close": pd.to_datetime(["2025-02-15", "2025-02-15", "2025-02-25", "2025-01-20", "2025-04-01"]),
    })
    ev = pd.DataFrame({
        "opportunity_id": ["o1", "o1", "o1", "o2", "o2", "o3", "o3", "o4", "o4", "o4", "o5"],
        "stage": ["lead", "offer", "won", "lead", "lost", "lead", "offer", "lead", "offer", "won", "lead"],
        "entered_at": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-02-10", "2025-01-10", "2025-01-25",
                                      "2025-02-03", "2025-02-15", "2024-12-20", "2024-12-28", "2025-01-15",
                                      "2025-02-20"]),
    })
    acts = pd.DataFrame({"kind": ["calls"] * 5, "date": pd.to_datetime(["2025-01-06", "2025-01-07", "2025-01-11",
                                                                        "2025-02-04", "2025-02-21"]),
                         "opportunity_id": ["o1", "o1", "o2", "o3", "o5"]})
    targets = pd.DataFrame({"process": "p", "period": ["2025-01", "2025-02"], "contracts": [2, 2],
                            "revenue": [400.0, 400.0]})
    return SalesData.from_frames(opportunities=opps, stage_events=ev, activities=acts, targets=targets,
                                 processes={"p": PROC}, as_of="2025-03-01")


@pytest.fixture(scope="session")
def tiny() -> SalesData:
    """The five-deal company (:func:`tiny_company`)."""
    return tiny_company()


@pytest.fixture(scope="session")
def tiny_flows() -> StageFlows:
    """The monthly stage flows of :func:`tiny_company` at its cut, 1 March 2025, written out by hand (what
    :func:`salesplan.control.actuals.flows` must give: checked in test_variance.py). Cycle days run from
    creation to the close: o2 10 -> 25 Jan (15), o4 20 Dec -> 15 Jan (26), o1 5 Jan -> 10 Feb (36). ``reach`` is
    the furthest working stage index, 2 (both stages) when won."""
    p3 = ["2024-12", "2025-01", "2025-02"]
    entries = pd.DataFrame({"process": "p", "period": [m for m in p3 for _ in (0, 1)], "stage_index": [0, 1] * 3,
                            "stage": ["lead", "offer"] * 3, "entries": [1, 1, 2, 1, 2, 1],
                            "implied": 0, "advanced": [1, 1, 1, 1, 1, 0], "won": [1, 1, 1, 1, 0, 0],
                            "lost": [0, 0, 1, 0, 0, 0]})
    closes = pd.DataFrame({"process": "p", "period": ["2025-01", "2025-01", "2025-02"],
                           "status": ["lost", "won", "won"], "cycle_days": [15.0, 26.0, 36.0], "deals": 1,
                           "value": [50.0, 300.0, 100.0]})
    cohorts = pd.DataFrame({"process": "p", "period": ["2024-12", "2025-01", "2025-01", "2025-02", "2025-02"],
                            "status": ["won", "lost", "won", "open", "open"], "reach": [2, 0, 2, 0, 1],
                            "deals": 1, "value": [300.0, 50.0, 100.0, 80.0, 200.0]})
    return StageFlows(entries=entries, closes=closes, cohorts=cohorts, as_of=pd.Timestamp("2025-03-01"), freq="M")


@pytest.fixture()
def tiny_plan():
    """Plan: 4 new leads and 2 contracts a month; lead rate 0.8, offer rate 0.625 (win rate 0.5)."""
    return pd.DataFrame({"process": "p", "period": ["2025-01", "2025-01", "2025-02", "2025-02"],
                         "stage": ["lead", "offer", "lead", "offer"], "contracts": 2.0,
                         "expected_entries": [4.0, 3.2, 4.0, 3.2], "rate": [0.8, 0.625, 0.8, 0.625]})
