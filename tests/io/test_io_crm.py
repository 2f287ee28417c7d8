"""Salesforce and HubSpot adapters on hand-written exports in the documented shapes."""

from __future__ import annotations

import io

import pandas as pd
import polars as pl
import pytest

from salesplan.errors import ConfigError, SchemaError
from salesplan.io import (
    HUBSPOT_STAGE_MAP,
    REPORT_COLUMNS,
    SALESFORCE_STAGE_MAP,
    from_hubspot,
    from_salesforce,
)
from salesplan.process import SalesProcess

OPPORTUNITY_HISTORY = """\
Id,OpportunityId,CreatedById,CreatedDate,StageName,Amount,ExpectedRevenue,CloseDate,Probability,ForecastCategory,IsDeleted
008A1,006A,005X,2024-01-02T09:00:00.000+0000,Prospecting,10000,1000,2024-03-31,10,Pipeline,false
008A2,006A,005X,2024-01-09T10:00:00.000+0000,Prospecting,12000,1200,2024-03-31,10,Pipeline,false
008A3,006A,005X,2024-01-15T11:00:00.000+0000,Qualification,12000,2400,2024-03-31,20,Pipeline,false
008A4,006A,005X,2024-02-01T12:00:00.000+0000,Proposal/Price Quote,14000,10500,2024-03-15,75,Commit,false
008A5,006A,005X,2024-02-20T08:30:00.000+0000,Closed Won,15000,15000,2024-02-20,100,Closed,false
008B1,006B,005Y,2024-01-05T09:00:00.000+0000,Prospecting,5000,500,2024-04-30,10,Pipeline,false
008B2,006B,005Y,2024-02-10T16:00:00.000+0000,Negotiation/Review,5000,4500,2024-04-30,90,Commit,false
008B3,006B,005Y,2024-03-01T10:00:00.000+0000,Closed Lost,5000,0,2024-03-01,0,Omitted,false
008C1,006C,005Y,2024-02-01T09:00:00.000+0000,Prospecting,800,80,2024-06-30,10,Pipeline,false
008C2,006C,005Y,2024-02-15T09:00:00.000+0000,Qualification,900,180,2024-06-30,20,Pipeline,false
008C3,006C,005Y,2024-02-16T09:00:00.000+0000,Closed Won,900,900,2024-02-16,100,Closed,true
"""

OPPORTUNITY = """\
Id,Name,AccountId,OwnerId,CreatedDate,StageName,Amount,CloseDate
006A,Big deal,001K,005X,2024-01-02T08:00:00.000+0000,Closed Won,15000,2024-02-20
006B,Lost deal,001L,005Y,2024-01-06T09:00:00.000+0000,Closed Lost,5000,2024-03-01
006C,Open deal,001K,005Y,2024-02-01T09:00:00.000+0000,Qualification,900,2024-06-30
006D,Quiet deal,001M,005X,2024-03-01T09:00:00.000+0000,Prospecting,300,2024-09-30
"""

FIELD_HISTORY = """\
Id,OpportunityId,CreatedById,CreatedDate,Field,DataType,OldValue,NewValue
017A,006A,005X,2024-01-02T09:00:00.000+0000,created,Text,,
017B,006A,005X,2024-01-15T11:00:00.000+0000,StageName,Picklist,Prospecting,Qualification
017C,006A,005X,2024-01-20T11:00:00.000+0000,Amount,Currency,1000,2000
017D,006A,005X,2024-02-20T08:30:00.000+0000,StageName,Picklist,Qualification,Closed Won
017E,006B,005Y,2024-01-10T09:00:00.000+0000,StageName,Picklist,Prospecting,Closed Lost
"""

HUBSPOT = '''\
Record ID,Deal Name,Deal Stage,Pipeline,Create Date,Close Date,Amount,Deal owner,Associated Company IDs,\
"Date entered ""Appointment Scheduled (Sales Pipeline)""","Date entered ""Qualified To Buy (Sales Pipeline)""",\
"Date entered ""Presentation Scheduled (Sales Pipeline)""","Date entered ""Closed Won (Sales Pipeline)""",\
"Date entered ""Closed Lost (Sales Pipeline)""","Date entered ""Onboarding (Customer Pipeline)"""
101,Alpha,Closed Won,Sales Pipeline,2024-01-02 09:00,2024-02-01 15:00,5000,Ann Lee,9001,2024-01-02 09:00,\
2024-01-10 10:00,,2024-02-01 15:00,,
102,Beta,Closed Lost,Sales Pipeline,2024-01-05 09:00,2024-01-30 00:00,1000,Bob Ray,,2024-01-05 09:00,,,,,
103,Gamma,Qualified To Buy,Sales Pipeline,2024-01-20 10:00,,2000,Ann Lee,9002;9003,2024-01-20 10:00,\
2024-01-25 12:00,2024-01-28 12:00,,,
'''


def csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str)


def event_list(events: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(o, s, t.strftime("%Y-%m-%d %H:%M")) for o, s, t in events[["opportunity_id", "stage", "entered_at"]]
            .itertuples(index=False)]


def issues(report: pd.DataFrame) -> list[tuple[str, str, str]]:
    return sorted(zip(report["key"], report["issue"], report["action"], strict=True))


def test_opportunity_history_without_opportunity_export():
    history = csv(OPPORTUNITY_HISTORY)
    before = history.copy()
    opps, events, report = from_salesforce(history, SALESFORCE_STAGE_MAP)
    pd.testing.assert_frame_equal(history, before)
    assert event_list(events) == [
        ("006A", "contacted", "2024-01-02 09:00"), ("006A", "qualified", "2024-01-15 11:00"),
        ("006A", "offer", "2024-02-01 12:00"), ("006A", "won", "2024-02-20 08:30"),
        ("006B", "contacted", "2024-01-05 09:00"), ("006B", "negotiation", "2024-02-10 16:00"),
        ("006B", "lost", "2024-03-01 10:00"),
        ("006C", "contacted", "2024-02-01 09:00"), ("006C", "qualified", "2024-02-15 09:00"),
    ]
    opps = opps.set_index("opportunity_id")
    assert opps.loc["006A", "amount"] == 15000.0 and opps.loc["006C", "amount"] == 900.0
    assert opps.loc["006A", "expected_close"] == pd.Timestamp("2024-02-20")
    assert opps.loc["006B", "created_at"] == pd.Timestamp("2024-01-05 09:00")
    assert opps.loc["006A", "customer_id"] == "006A" and set(opps["process"]) == {"acquisition"}
    assert list(report.columns) == REPORT_COLUMNS
    assert issues(report) == [("006A", "no_account", "repaired"), ("006A", "repeated_stage", "dropped"),
                              ("006B", "no_account", "repaired"), ("006C", "deleted_row", "dropped"),
                              ("006C", "no_account", "repaired")]


def test_opportunity_history_with_opportunity_export():
    history = pd.concat([csv(OPPORTUNITY_HISTORY), csv(
        "OpportunityId,CreatedDate,StageName\n006Z,2024-01-01T00:00:00.000+0000,Prospecting\n")])
    opps, events, report = from_salesforce(history, SALESFORCE_STAGE_MAP, opportunities=csv(OPPORTUNITY))
    opps = opps.set_index("opportunity_id")
    assert opps["customer_id"].to_dict() == {"006A": "001K", "006B": "001L", "006C": "001K", "006D": "001M"}
    assert opps.loc["006A", "owner"] == "005X"
    # creation comes from the Opportunity export (08:00); 006B was created after its first history row: moved back
    assert opps.loc["006A", "created_at"] == pd.Timestamp("2024-01-02 08:00")
    assert opps.loc["006B", "created_at"] == pd.Timestamp("2024-01-05 09:00")
    assert event_list(events[events["opportunity_id"] == "006D"]) == [("006D", "contacted", "2024-03-01 09:00")]
    assert "006Z" not in set(events["opportunity_id"])
    assert issues(report) == [("006A", "repeated_stage", "dropped"), ("006B", "event_before_created", "repaired"),
                              ("006C", "deleted_row", "dropped"), ("006D", "no_history", "repaired"),
                              ("006Z", "unknown_opportunity", "dropped")]


def test_field_history_shape():
    opps, events, report = from_salesforce(pl.from_pandas(csv(FIELD_HISTORY)), SALESFORCE_STAGE_MAP)
    assert event_list(events) == [
        ("006A", "contacted", "2024-01-02 09:00"), ("006A", "qualified", "2024-01-15 11:00"),
        ("006A", "won", "2024-02-20 08:30"),
        ("006B", "contacted", "2024-01-10 09:00"), ("006B", "lost", "2024-01-10 09:00"),
    ]
    assert opps.set_index("opportunity_id").loc["006A", "created_at"] == pd.Timestamp("2024-01-02 09:00")
    assert ("006B", "creation_unknown", "repaired") in issues(report)


def test_unmapped_stage_names_are_listed():
    history = csv(OPPORTUNITY_HISTORY)
    history.loc[2, "StageName"] = "Discovery"
    history.loc[7, "StageName"] = "Closed - No Budget"
    with pytest.raises(SchemaError) as info:
        from_salesforce(history, SALESFORCE_STAGE_MAP)
    message = str(info.value)
    assert "stage names not in stage_map: 'Closed - No Budget', 'Discovery'" in message
    cases = info.value.failure_cases
    assert cases["check"].tolist() == ["stage_map", "stage_map"]
    assert cases["key"].tolist() == ["006B", "006A"]


def test_stage_map_to_none_drops_and_bad_targets_raise():
    stage_map = {**SALESFORCE_STAGE_MAP, "Negotiation/Review": None}
    _, events, report = from_salesforce(csv(OPPORTUNITY_HISTORY), stage_map)
    assert "negotiation" not in set(events["stage"])
    assert ("006B", "stage_mapped_to_none", "dropped") in issues(report)
    with pytest.raises(ConfigError, match=r"maps to \['proposal'\], which are not stages of process"):
        from_salesforce(csv(OPPORTUNITY_HISTORY), {**SALESFORCE_STAGE_MAP, "Proposal/Price Quote": "proposal"})
    with pytest.raises(ConfigError, match="unknown process 'upsell'"):
        from_salesforce(csv(OPPORTUNITY_HISTORY), SALESFORCE_STAGE_MAP, process="upsell")


def test_custom_process_and_missing_columns():
    simple = SalesProcess("simple", ["open"])
    stage_map = {name: ("won" if name == "Closed Won" else "lost" if name == "Closed Lost" else "open")
                 for name in SALESFORCE_STAGE_MAP}
    opps, events, _ = from_salesforce(csv(OPPORTUNITY_HISTORY), stage_map, process=simple)
    assert set(opps["process"]) == {"simple"}
    assert events.groupby("opportunity_id")["stage"].agg(list).to_dict() == {
        "006A": ["open", "won"], "006B": ["open", "lost"], "006C": ["open"]}
    with pytest.raises(SchemaError, match=r"salesforce OpportunityHistory.StageName \[required\]"):
        from_salesforce(csv(OPPORTUNITY_HISTORY).drop(columns="StageName"), SALESFORCE_STAGE_MAP)


def test_hubspot_deals_export(tmp_path):
    path = tmp_path / "hubspot-deals.csv"
    path.write_text(HUBSPOT)
    opps, events, report = from_hubspot(path, HUBSPOT_STAGE_MAP)
    assert event_list(events) == [
        ("101", "contacted", "2024-01-02 09:00"), ("101", "qualified", "2024-01-10 10:00"),
        ("101", "won", "2024-02-01 15:00"),
        ("102", "contacted", "2024-01-05 09:00"), ("102", "lost", "2024-01-30 00:00"),
        ("103", "contacted", "2024-01-20 10:00"), ("103", "qualified", "2024-01-25 12:00"),
    ]
    opps = opps.set_index("opportunity_id")
    assert opps["customer_id"].to_dict() == {"101": "9001", "102": "102", "103": "9002"}
    assert opps.loc["101", "amount"] == 5000.0 and opps.loc["103", "owner"] == "Ann Lee"
    assert issues(report) == [("102", "current_stage_undated", "repaired"), ("102", "no_company", "repaired"),
                              ("103", "repeated_stage", "dropped")]


def test_hubspot_unmapped_stage_and_missing_id():
    deals = csv(HUBSPOT)
    stage_map = {k: v for k, v in HUBSPOT_STAGE_MAP.items() if k != "Closed Lost"}
    with pytest.raises(SchemaError, match="stage names not in stage_map: 'Closed Lost'"):
        from_hubspot(deals, stage_map)
    with pytest.raises(SchemaError, match=r"hubspot deals.Deal ID \[required\]"):
        from_hubspot(deals.drop(columns="Record ID"), HUBSPOT_STAGE_MAP)
