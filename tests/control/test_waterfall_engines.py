"""The pipeline waterfall computed inside DuckDB and Polars equals the pandas one, and a capped deals table keeps
the largest deals of each bar without changing the bars (issue 13)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

import salesplan as sp
import salesplan.reduce.waterfall as reduce_waterfall
from salesplan.control.waterfall import pipeline_waterfall

DAY0 = pd.Timestamp("2025-01-01")
STAGES = ["contacted", "qualified", "offer", "won", "lost"]


def random_data(seed: int, n: int) -> sp.SalesData:
    """Deals with random paths and a history of amounts (some missing) and expected closes moving both ways."""
    rng = np.random.default_rng(seed)
    opps, events, hist = [], [], []
    for i in range(n):
        t = DAY0 + pd.Timedelta(days=int(rng.integers(0, 120)))
        opps.append((f"o{i}", "c", "acquisition", t, f"rep{rng.integers(2)}"))
        for _ in range(int(rng.integers(1, 6))):
            events.append((f"o{i}", STAGES[rng.integers(len(STAGES))], t))
            hist.append((f"o{i}", t, float(rng.choice([np.nan, 10.0, 20.0, 35.0])),
                         t + pd.Timedelta(days=int(rng.integers(-20, 90))) if rng.random() < 0.9 else pd.NaT))
            t = t + pd.Timedelta(days=int(rng.integers(1, 40)))
    return sp.SalesData.from_frames(
        opportunities=pd.DataFrame(opps, columns=["opportunity_id", "customer_id", "process", "created_at", "owner"]),
        stage_events=pd.DataFrame(events, columns=["opportunity_id", "stage", "entered_at"]),
        opportunity_history=pd.DataFrame(hist, columns=["opportunity_id", "changed_at", "amount", "expected_close"]),
        as_of=DAY0 + pd.Timedelta(days=400))


def _on(data: sp.SalesData, engine: str) -> sp.SalesData:
    def move(frame: pd.DataFrame):
        return duckdb.from_df(frame) if engine == "duckdb" else pl.from_pandas(frame).lazy()

    return sp.SalesData.from_frames(opportunities=move(data.opportunities), stage_events=move(data.stage_events),
                                    opportunity_history=move(data.opportunity_history), as_of=data.as_of,
                                    processes=data.processes)


@pytest.fixture(scope="module")
def world() -> sp.SalesData:
    return random_data(5, 60)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_waterfall_in_the_engine_equals_pandas(world, engine):
    t0, t1 = DAY0 + pd.Timedelta(days=40), DAY0 + pd.Timedelta(days=130)
    want = pipeline_waterfall(world, t0, t1, "2025-04", by="owner")
    got = pipeline_waterfall(_on(world, engine), t0, t1, "2025-04", by="owner")
    assert want.summary()["count"].sum() > 10 and want.summary().loc["opening", "count"] > 0
    pd.testing.assert_frame_equal(got.table, want.table)
    pd.testing.assert_frame_equal(got.deals, want.deals, check_dtype=False)


def test_a_capped_deals_table_keeps_the_largest_of_each_bar(world, monkeypatch):
    t0, t1 = DAY0 + pd.Timedelta(days=40), DAY0 + pd.Timedelta(days=130)
    full = pipeline_waterfall(world, t0, t1, "2025-04")
    monkeypatch.setattr(reduce_waterfall, "_TOP_PER_BAR", 2)
    capped = pipeline_waterfall(_on(world, "duckdb"), t0, t1, "2025-04", max_deals=5)
    pd.testing.assert_frame_equal(capped.table, full.table)  # the bars still count every deal
    assert 5 < len(full.deals) and len(capped.deals) < len(full.deals)
    kept = set(capped.deals["opportunity_id"])
    size = full.deals["value_start"].where(full.deals["entry"] == "opening", full.deals["value_end"])
    for side in ("entry", "exit"):
        for _, bar in full.deals.assign(_size=size).groupby(side):
            top = bar.sort_values("_size", ascending=False, na_position="last")
            # the two largest of the bar are kept (ties at the second place: one of them)
            assert top["opportunity_id"].iloc[0] in kept
            if len(top) > 1:
                second = top["_size"].iloc[1]
                tied = top.loc[(top["_size"] == second) | (top["_size"].isna() & pd.isna(second)), "opportunity_id"]
                assert kept & set(tied)
