"""The pipeline forecast on a lazy engine collects only the opportunity columns it reads (issue 13), and collected
text columns share one Python string per distinct value, with the same values and results as before."""

from __future__ import annotations

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd

import salesplan.reduce.states as states
from salesplan import SalesProcess
from salesplan.forecast.pipeline import FunnelParameters, pipeline
from salesplan.reduce.stages import _collect

N = 300


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    ids = [f"O{i:04d}" for i in range(N)]
    created = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 60, N), unit="D")
    stage = rng.choice(["lead", "offer", "won", "lost"], N, p=[0.4, 0.3, 0.2, 0.1])
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "lead", "entered_at": created})
    later = pd.DataFrame({"opportunity_id": ids, "stage": stage, "entered_at": created + pd.Timedelta(days=5)})
    ev = pd.concat([ev, later[later["stage"] != "lead"]], ignore_index=True)
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "created_at": created,
                         "amount": rng.integers(1, 100, N).astype(float), "owner": rng.choice(["ann", "bob"], N),
                         "customer_id": [f"C{i}" for i in range(N)], "notes": ["a long free text " * 4] * N})
    return ev, opps


def test_lazy_pipeline_asks_only_for_the_columns_it_reads(monkeypatch) -> None:
    ev, opps = _tables()
    proc = SalesProcess("p", ["lead", "offer"])
    params = FunnelParameters.from_values({"p": proc}, rates={("p", "lead"): (0.6, 100), ("p", "offer"): (0.5, 100)},
                                          advance_days={("p", "lead"): 10, ("p", "offer"): 20})
    asked: list[list[str]] = []
    real = states.deal_states

    def spy(*args, **kwargs):
        asked.append(list(kwargs["attributes"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(states, "deal_states", spy)
    con = duckdb.connect()
    kw = {"as_of": "2025-03-15", "horizon": "90D", "include_new": False, "n_draws": 100, "seed": 4}
    lazy = pipeline(con.from_df(ev), params, opportunities=con.from_df(opps), **kw)
    eager = pipeline(ev, params, opportunities=opps, **kw)
    assert asked == [["amount", "owner"], ["amount", "owner"]]  # not customer_id, notes, created_at
    assert list(lazy.deals.columns) == list(eager.deals.columns)
    assert "notes" not in lazy.deals.columns and lazy.deals["owner"].notna().all()
    pd.testing.assert_frame_equal(lazy.deals, eager.deals)
    np.testing.assert_array_equal(lazy.samples(), eager.samples())
    assert lazy.deals["expected_revenue"].sum() > 0


def test_collected_repeated_text_shares_one_string_per_value() -> None:
    rel = duckdb.sql("SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE 'rep' || CAST(i % 3 AS VARCHAR) END AS owner, "
                     "'O' || CAST(i AS VARCHAR) AS id FROM range(10000) t(i) ORDER BY i")
    out = _collect(nw.from_native(rel))
    assert out["owner"].dtype == object and out["id"].dtype == object
    assert len({id(v) for v in out["owner"]}) == 4  # rep0, rep1, rep2 and None
    assert out["owner"].iloc[:8].tolist() == [None, "rep1", "rep2", "rep0", "rep1", "rep2", "rep0", None]
    assert out["owner"].isna().sum() == len(range(0, 10000, 7))
    assert out["id"].tolist() == [f"O{i}" for i in range(10000)]
