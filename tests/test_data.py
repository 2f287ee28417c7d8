"""SalesData: cross-table checks in one error, opportunity status, summaries and notebook display."""

from __future__ import annotations

import pandas as pd
import pytest

import salesplan as sp
from salesplan.errors import SchemaError


def tables():
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "name": ["Alpha", "<b>Beta</b>"]})
    opportunities = pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3", "o4"], "customer_id": ["c1", "c2", "c1", "c2"],
        "process": ["acquisition", "acquisition", "retention", "acquisition"],
        "created_at": ["2024-01-01", "2024-01-10", "2024-02-01", "2024-03-01"]})
    events = pd.DataFrame({
        "opportunity_id": ["o1", "o1", "o2", "o2", "o2", "o3", "o3"],
        "stage": ["prospect_selected", "won", "contacted", "lost", "offer", "review_scheduled", "lost"],
        "entered_at": ["2024-01-01", "2024-02-01", "2024-01-10", "2024-02-01", "2024-03-01", "2024-02-01",
                       "2024-02-20"]})
    orders = pd.DataFrame({"customer_id": ["c1", "c2"], "order_date": ["2024-02-05", "2024-03-05"],
                           "amount": [1000.0, -50.0]})
    return {"customers": customers, "opportunities": opportunities, "stage_events": events, "orders": orders}


def test_from_frames_validates_and_sets_as_of():
    data = sp.SalesData.from_frames(**tables())
    assert data.as_of == pd.Timestamp("2024-03-05")
    assert list(data.tables) == ["customers", "orders", "opportunities", "stage_events"]
    assert data.orders["is_return"].tolist() == [False, True]
    assert sp.SalesData.from_frames(**tables(), as_of="2024-06-30").as_of == pd.Timestamp("2024-06-30")


def test_all_cross_table_failures_in_one_error():
    raw = tables()
    raw["orders"].loc[1, "customer_id"] = "ghost"
    raw["opportunities"].loc[3, "customer_id"] = "nobody"
    raw["stage_events"] = pd.concat([raw["stage_events"], pd.DataFrame({
        "opportunity_id": ["o9", "o1", "o4"], "stage": ["won", "renewal_offer", "contacted"],
        "entered_at": ["2024-01-05", "2024-01-05", "2024-02-01"]})], ignore_index=True)
    before = {k: v.copy() for k, v in raw.items()}
    with pytest.raises(SchemaError) as info:
        sp.SalesData.from_frames(**raw)
    cases = info.value.failure_cases
    got = sorted(zip(cases["table"], cases["column"], cases["check"], cases["key"], strict=True))
    assert got == sorted([
        ("orders", "customer_id", "known_customer", "row 1"),
        ("opportunities", "customer_id", "known_customer", "o4"),
        ("stage_events", "opportunity_id", "known_opportunity", "row 7"),
        ("stage_events", "stage", "known_stage", "row 8"),
        ("stage_events", "entered_at", "after_created", "row 9"),
    ])
    message = str(info.value)
    assert message.startswith("5 validation failure(s):")
    for part in ("orders.customer_id [known_customer]", "stage_events.stage [known_stage]",
                 "renewal_offer (process acquisition)", "stage_events.entered_at [after_created]"):
        assert part in message
    for name, frame in raw.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_unknown_columns_table_is_an_error():
    with pytest.raises(SchemaError, match=r"unknown table\(s\) \['deals'\]"):
        sp.SalesData.from_frames(**tables(), columns={"deals": {"a": "b"}})


def test_opportunity_status_rules():
    data = sp.SalesData.from_frames(**tables())
    status = data.opportunity_status().set_index("opportunity_id")
    assert status.loc["o1", ["status", "stage"]].tolist() == ["won", "won"]
    assert status.loc["o1", "closed_at"] == pd.Timestamp("2024-02-01")
    # o2 was lost, then reopened into "offer": open again, no close date
    assert status.loc["o2", ["status", "stage"]].tolist() == ["open", "offer"]
    assert pd.isna(status.loc["o2", "closed_at"])
    assert status.loc["o3", "status"] == "lost"
    # o4 has no events: open in the first stage of its process
    assert status.loc["o4", ["status", "stage"]].tolist() == ["open", "prospect_selected"]
    counts = data.status_counts()
    assert counts.loc["acquisition"].tolist() == [2, 1, 0, 3]
    assert counts.loc["retention"].tolist() == [0, 0, 1, 1]


def test_status_without_opportunities_is_an_error():
    data = sp.SalesData.from_frames(customers=tables()["customers"])
    with pytest.raises(SchemaError, match="needs the opportunities table"):
        data.opportunity_status()


def test_summary_repr_and_escaped_html():
    data = sp.SalesData.from_frames(**tables())
    summary = data.summary().set_index("table")
    assert summary.loc["stage_events", "rows"] == 7
    assert summary.loc["orders", "first_date"] == pd.Timestamp("2024-02-05")
    text = repr(data)
    assert "stage_events" in text and "2024-01-01 .. 2024-03-01" in text
    custom = {"<script>": sp.SalesProcess("<script>", ["a"])}
    shown = sp.SalesData(processes=custom, as_of=pd.Timestamp("2024-01-01"))._repr_html_()
    assert "&lt;script&gt;" in shown and "<script>" not in shown
