"""The one time-zone rule through the library functions and the report: an aware ``as_of`` means one instant.

``2025-03-01T01:00:00+02:00`` is 2025-02-28 23:00 UTC. One deal is won at 2025-03-01 00:00 (a naive date, UTC):
after the cut. Had the offset been dropped (01:00 naive), the deal would count as won; had the local wall time been
used, likewise. By hand: at the cut the deal is open in ``negotiation``, no contract is won, and its win is not
known yet.
"""

from __future__ import annotations

import pandas as pd
import pytest

import salesplan as sp
from salesplan.control.actuals import actual_volumes
from salesplan.forecast.evaluation import cut_data
from salesplan.forecast.pipeline import open_pipeline

AS_OF = "2025-03-01T01:00:00+02:00"
CUT = pd.Timestamp("2025-02-28 23:00")


@pytest.fixture(scope="module")
def data():
    opps = pd.DataFrame({"opportunity_id": ["o1", "o2"], "customer_id": ["c1", "c2"], "process": "acquisition",
                         "created_at": ["2025-01-10", "2025-01-12"]})
    events = pd.DataFrame({
        "opportunity_id": ["o1", "o1", "o1", "o2", "o2"],
        "stage": ["contacted", "negotiation", "won", "contacted", "lost"],
        "entered_at": ["2025-01-10", "2025-02-10", "2025-03-01", "2025-01-12", "2025-02-20"],
    })
    return sp.SalesData.from_frames(opportunities=opps, stage_events=events)


def test_aware_as_of_is_one_instant_in_every_entry_point(data):
    status = data.opportunity_status(as_of=AS_OF).set_index("opportunity_id")["status"]
    assert status.to_dict() == {"o1": "open", "o2": "lost"}
    naive_local = data.opportunity_status(as_of="2025-03-01 01:00").set_index("opportunity_id")["status"]
    assert naive_local["o1"] == "won"  # the reading the rule prevents: the test can fail

    volumes = actual_volumes(data, freq="M", as_of=AS_OF)
    assert volumes.loc[volumes["period"] == "2025-03", "contracts"].sum() == 0

    kpis = sp.control.kpis(data, freq="M", as_of=AS_OF)
    assert "2025-03" not in set(kpis["period"].astype(str))  # the cut lies in February

    opened = open_pipeline(data.stage_events, data.opportunities, data.processes, AS_OF)
    assert opened["opportunity_id"].tolist() == ["o1"]
    assert opened["stage"].tolist() == ["negotiation"]

    known = cut_data(data, AS_OF)
    assert known.as_of == CUT
    assert "won" not in set(known.stage_events["stage"])


def test_aware_as_of_through_the_report(data, tmp_path):
    from salesplan.report.config import load_config

    analysis = sp.Analysis(data, sp.AnalysisSettings(as_of=AS_OF))
    assert analysis.as_of == CUT
    states = analysis.states.set_index("opportunity_id")["status"]
    assert states["o1"] == "open"
    cfg = tmp_path / "report.toml"
    cfg.write_text(f'[report]\nas_of = {AS_OF}\n[data]\nopportunities = "o.csv"\nstage_events = "e.csv"\n')
    assert load_config(cfg).settings().as_of == CUT
