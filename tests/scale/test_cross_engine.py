"""The same analysis on every engine: results equal to pandas (and to hand-computed values) on all of them.

Engines: pandas, Polars eager, Polars lazy, PyArrow, DuckDB and Spark (local mode). The reductions run inside each
engine and only their small summaries are collected; the models then run on those summaries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.funnel import activity_ratios, estimate, fit_reduction
from salesplan.reduce.customers import customer_patterns, customer_summary
from salesplan.reduce.stages import reduce_stage_events
from salesplan.segment import abc_classes, rfm_scores

#: Hand-computed case (daily periods, as_of 2024-01-31): customer a buys on 01-01 (two lines, 15.0) and 01-11
#: (20.0) and returns 4.0 on 01-20; b buys once on 01-05 (7.0); c only returns (dropped from the summary).
HAND_ORDERS = pd.DataFrame({
    "customer_id": ["a", "a", "a", "a", "b", "c"],
    "order_date": pd.to_datetime(["2024-01-01", "2024-01-01 15:30", "2024-01-11", "2024-01-20", "2024-01-05",
                                  "2024-01-07"], format="ISO8601"),
    "amount": [10.0, 5.0, 20.0, -4.0, 7.0, -3.0],
    "product": ["P", "Q", "P", "P", "R", "P"],
})
HAND_SUMMARY = {
    "a": {"frequency": 1, "recency": 10.0, "T": 30.0, "monetary_value": 20.0, "revenue": 35.0, "returns": -4.0,
          "n_returns": 1, "net_revenue": 31.0, "n_lines": 4, "n_products": 2},
    "b": {"frequency": 0, "recency": 0.0, "T": 26.0, "monetary_value": 0.0, "revenue": 7.0, "returns": 0.0,
          "n_returns": 0, "net_revenue": 7.0, "n_lines": 1, "n_products": 1},
}


def _spells(red):
    return {name: getattr(red, name) for name in ("spells", "closes", "outcomes", "issues")}


@pytest.fixture(scope="module")
def pandas_results(world):
    """The reference: every reduction and model on pandas."""
    data, _ = world
    summary = customer_summary(data.orders, as_of=data.as_of)
    red = reduce_stage_events(data.stage_events, data.processes, data.opportunities, as_of=data.as_of)
    return {
        "summary": summary,
        "patterns": customer_patterns(data.orders, as_of=data.as_of, time_unit="W"),
        "reduction": _spells(red),
        "rates": fit_reduction(red, data.processes).rates,
        "activities": activity_ratios(data.activities, data.stage_events, data.processes, data.opportunities,
                                      as_of=data.as_of),
    }


def test_hand_computed_customer_summary(to_native, engine):
    orders = to_native(HAND_ORDERS)
    summary = customer_summary(orders, as_of="2024-01-31")
    assert list(summary.index) == ["a", "b"], engine
    got = summary[list(HAND_SUMMARY["a"])].to_dict("index")
    assert got == HAND_SUMMARY, engine
    assert summary.loc["a", "first_order"] == pd.Timestamp("2024-01-01")
    assert summary.loc["a", "last_order"] == pd.Timestamp("2024-01-11")
    assert summary.attrs["dropped"].index.tolist() == ["c"]
    assert HAND_ORDERS["customer_id"].tolist()[0] == "a"  # the caller's frame is untouched


def test_customer_summary_and_patterns_equal_pandas(world, pandas_results, to_native, engine):
    data, _ = world
    orders = to_native(data.orders)
    summary = customer_summary(orders, as_of=data.as_of)
    pd.testing.assert_frame_equal(summary, pandas_results["summary"], obj=f"summary on {engine}")
    assert len(summary) > 30 and summary["frequency"].sum() > 0  # a real test: repeat buyers exist
    patterns = customer_patterns(orders, as_of=data.as_of, time_unit="W")
    pd.testing.assert_frame_equal(patterns, pandas_results["patterns"], obj=f"patterns on {engine}")
    assert patterns["weight"].sum() == len(summary)
    # the models only see the summary: RFM and ABC are then identical by construction, checked anyway
    pd.testing.assert_frame_equal(rfm_scores(summary), rfm_scores(pandas_results["summary"]))
    abc = abc_classes(summary, "revenue")
    assert abc["abc_class"].eq("A").any() and abc.attrs["gini"] == pytest.approx(
        abc_classes(pandas_results["summary"], "revenue").attrs["gini"], abs=1e-12)


def test_funnel_reduction_and_rates_equal_pandas(world, pandas_results, to_native, engine):
    data, truth = world
    events, opps = to_native(data.stage_events), to_native(data.opportunities)
    red = reduce_stage_events(events, data.processes, opps, as_of=data.as_of)
    for name, expected in pandas_results["reduction"].items():
        pd.testing.assert_frame_equal(_spells(red)[name], expected, obj=f"{name} on {engine}")
    rates = fit_reduction(red, data.processes).rates
    pd.testing.assert_frame_equal(rates, pandas_results["rates"], obj=f"rates on {engine}")
    assert rates["entered"].sum() > 100 and rates["open"].sum() > 0  # censoring is present


def test_activity_ratios_equal_pandas(world, pandas_results, to_native, engine):
    data, _ = world
    got = activity_ratios(to_native(data.activities), to_native(data.stage_events), data.processes,
                          to_native(data.opportunities), as_of=data.as_of)
    expected = pandas_results["activities"]
    pd.testing.assert_frame_equal(got, expected, obj=f"activity ratios on {engine}")
    pd.testing.assert_frame_equal(got.attrs["unattributed"], expected.attrs["unattributed"])
    assert got["activities"].sum() > 0


def test_reference_is_right(world, pandas_results):
    """The pandas reference itself agrees with the simulator's truth and with an independent computation."""
    data, truth = world
    summary = pandas_results["summary"]
    purchases = data.orders[~data.orders["is_return"] & (data.orders["order_date"] <= data.as_of)]
    days = purchases.groupby("customer_id")["order_date"].apply(lambda d: d.dt.normalize().nunique())
    assert (summary["frequency"] == days.loc[summary.index] - 1).all()
    np.testing.assert_allclose(summary["revenue"], purchases.groupby("customer_id")["amount"].sum()
                               .loc[summary.index])
    rates = pandas_results["rates"]
    first = rates[(rates["process"] == "acquisition") & (rates["stage"] == "prospect_selected")].iloc[0]
    assert first["rate_low"] <= first["rate"] <= first["rate_high"]


def test_spark_timestamp_columns_with_utc_session(spark):
    """Spark TIMESTAMP (zone-aware) columns give the same summary as naive pandas dates in a UTC session."""
    frame = spark.createDataFrame(HAND_ORDERS)  # TIMESTAMP, not TIMESTAMP_NTZ
    assert dict(frame.dtypes)["order_date"] == "timestamp"
    summary = customer_summary(frame, as_of="2024-01-31")
    assert summary[list(HAND_SUMMARY["a"])].to_dict("index") == HAND_SUMMARY
    assert summary.loc["a", "first_order"] == pd.Timestamp("2024-01-01")


def test_estimate_accepts_engine_frames(world, pandas_results):
    """The public entry point takes a lazy frame directly (DuckDB here; Spark is covered above)."""
    import duckdb

    data, _ = world
    con = duckdb.connect()
    funnel = estimate(con.from_df(data.stage_events), data.processes, con.from_df(data.opportunities),
                      as_of=data.as_of)
    pd.testing.assert_frame_equal(funnel.rates, pandas_results["rates"])
    leftover = con.sql("select count(*) from duckdb_tables() where table_name like '__salesplan_%'").fetchall()
    assert leftover[0][0] == 0  # temporary tables of the reduction are dropped
