"""The Olist and Maven loaders on the real files (figures counted on the raw CSVs)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from salesplan.errors import ConfigError, SchemaError
from salesplan.io import MAVEN_PROCESS, OLIST_PROCESS, SNAPSHOT_COLUMNS, load_maven, load_olist

BAD_WIN = "b91cf8812365f50ff4bda4bcd6206b05"  # won 2018-03-06 19:38:55, first contact 2018-03-08


@pytest.fixture(scope="module")
def olist(shared_data):
    return load_olist(shared_data / "olist-marketing-funnel")


@pytest.fixture(scope="module")
def maven(shared_data):
    return load_maven(shared_data / "maven-crm-opportunities")


def test_olist_counts_and_shape(olist):
    opps, events, _ = olist
    assert len(opps) == 8000 and opps["opportunity_id"].is_unique
    assert events["stage"].value_counts().to_dict() == {"mql": 8000, "won": 842}
    assert set(opps["process"]) == {"olist"} and OLIST_PROCESS.stages == ("mql",)
    won = opps[opps["seller_id"].notna()]
    assert len(won) == 842 and won["sdr_id"].notna().all() and (won["owner"] == won["sr_id"]).all()
    assert opps["origin"].isna().sum() == 60 and (opps["origin"] == "organic_search").sum() == 2296
    assert won["business_segment"].notna().sum() == 841
    # the published 10.5 % MQL -> won, from the loaded tables (every won event belongs to a loaded MQL)
    won_ids = set(events.loc[events["stage"] == "won", "opportunity_id"])
    assert len(won_ids & set(opps["opportunity_id"])) / len(opps) == pytest.approx(0.105, abs=0.0005)


def test_olist_time_to_close(olist):
    opps, events, _ = olist
    won = events[events["stage"] == "won"].set_index("opportunity_id")["entered_at"]
    created = opps.set_index("opportunity_id")["created_at"]
    days = (won - created.loc[won.index]).dt.days
    assert days.min() == 0 and days.median() == 14  # the data card's median 14 days; no negative after clamping
    assert events["entered_at"].max() == pd.Timestamp("2018-11-14 18:04:19")


def test_olist_bad_win_dates_reported_in_every_mode(olist, shared_data, caplog):
    _, events, report = olist
    assert report[["key", "issue", "action"]].values.tolist() == [[BAD_WIN, "won_before_first_contact",
                                                                   "repaired"]]
    assert "2018-03-06 19:38:55 < first contact 2018-03-08" in report.loc[0, "value"]
    clamped = events[(events["opportunity_id"] == BAD_WIN) & (events["stage"] == "won")]["entered_at"]
    assert clamped.tolist() == [pd.Timestamp("2018-03-08")]

    folder = shared_data / "olist-marketing-funnel"
    with caplog.at_level("WARNING"):
        opps, events, report = load_olist(folder, bad_win_dates="drop")
    assert "won_before_first_contact" in caplog.text
    assert len(opps) == 7999 and (events["stage"] == "won").sum() == 841 and BAD_WIN not in set(opps["opportunity_id"])
    assert report["action"].tolist() == ["dropped"]
    with pytest.raises(SchemaError, match=r"stage_events.entered_at \[after_created\]: 1 row"):
        load_olist(folder, bad_win_dates="raise")
    with pytest.raises(ConfigError, match="bad_win_dates"):
        load_olist(folder, bad_win_dates="ignore")


def test_olist_win_dates_one_reading_and_the_wins_coverage_said(tmp_path, shared_data, caplog):
    """The closed deals' won_date is read by the package's date parser (one reading per column, never per value): a
    value that is no date is refused with the deal named (it was a NaT before, and then a bare not_null); an amount
    that is no number is reported; the late start of the recorded wins is logged with both dates."""
    folder = shared_data / "olist-marketing-funnel"
    with caplog.at_level("WARNING"):
        load_olist(folder)
    assert "wins are recorded from 2017-12-05 only, MQLs from 2017-06-14" in caplog.text
    shutil.copy(folder / "olist_marketing_qualified_leads_dataset.csv", tmp_path)
    deals = pd.read_csv(folder / "olist_closed_deals_dataset.csv", dtype=str)
    deals.loc[5, "won_date"] = "2018-02-30 19:58:00"  # no such day
    deals.loc[6, "declared_monthly_revenue"] = "about 5000"
    deals.to_csv(tmp_path / "olist_closed_deals_dataset.csv", index=False)
    with pytest.raises(SchemaError, match=r"stage_events.won_date \[date\]: 1 row") as err:
        load_olist(tmp_path)
    assert err.value.failure_cases["key"].tolist() == [deals.loc[5, "mql_id"]]
    deals.loc[5, "won_date"] = "2018-02-26 19:58:00"
    deals.to_csv(tmp_path / "olist_closed_deals_dataset.csv", index=False)
    opps, _, report = load_olist(tmp_path)
    assert report.loc[report["issue"] == "not_a_number", ["key", "value"]].values.tolist() == \
        [[deals.loc[6, "mql_id"], "about 5000"]]
    assert pd.isna(opps.set_index("opportunity_id").loc[deals.loc[6, "mql_id"], "declared_monthly_revenue"])


def test_olist_missing_file(tmp_path, shared_data):
    shutil.copy(shared_data / "olist-marketing-funnel" / "olist_closed_deals_dataset.csv", tmp_path)
    with pytest.raises(ConfigError, match="olist_marketing_qualified_leads_dataset.csv: file not found"):
        load_olist(tmp_path)


def test_maven_snapshot(maven):
    opps, snapshot, _ = maven
    assert list(snapshot.columns) == SNAPSHOT_COLUMNS and len(snapshot) == len(opps) == 8800
    assert snapshot["stage"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "engaging": 1589,
                                                          "prospecting": 500}
    assert snapshot["status"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "open": 2089}
    assert set(snapshot["stage"]) <= set(MAVEN_PROCESS.all_stages)
    assert snapshot["engaged_at"].isna().sum() == 500
    assert snapshot.loc[snapshot["status"] == "open", "closed_at"].isna().all()
    assert snapshot.loc[snapshot["status"] != "open", "closed_at"].notna().all()
    assert snapshot.attrs["as_of"] == pd.Timestamp("2017-12-31")
    assert (snapshot["opportunity_id"] == opps["opportunity_id"]).all()


def test_maven_opportunities_and_repairs(maven):
    opps, snapshot, report = maven
    assert "GTXPro" not in set(opps["product"]) and (opps["product"] == "GTX Pro").sum() == 1480
    assert opps["list_price"].notna().all() and opps["manager"].notna().all()
    assert "technolgy" not in set(opps["sector"].dropna()) and "technology" in set(opps["sector"])
    assert opps["customer_id"].isna().sum() == 1425
    assert (snapshot.loc[opps["customer_id"].isna(), "status"] == "open").all()
    assert opps["customer_id"].nunique() == 85 and opps["owner"].nunique() == 30
    assert float(opps["amount"].sum()) == 10_005_534.0
    assert opps.loc[snapshot["status"] != "won", "amount"].isna().all()
    counts = report.groupby(["issue", "action"]).size().to_dict()
    assert counts == {("no_account", "kept"): 1425, ("product_name_typo", "repaired"): 1480,
                      ("sector_typo", "repaired"): 12}
