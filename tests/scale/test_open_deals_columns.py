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
    lazy = pipeline(con.from_df(ev), params, opportunities=con.from_df(opps), per_deal=True, **kw)
    eager = pipeline(ev, params, opportunities=opps, **kw)
    assert asked == [["amount", "owner"], ["amount", "owner"]]  # not customer_id, notes, created_at
    assert list(lazy.deals.columns) == list(eager.deals.columns)
    assert "notes" not in lazy.deals.columns and lazy.deals["owner"].notna().all()
    pd.testing.assert_frame_equal(lazy.deals, eager.deals)
    np.testing.assert_array_equal(lazy.samples(), eager.samples())
    assert lazy.deals["expected_revenue"].sum() > 0
    # by default a lazy engine's open deals are cells: no id or text per deal, the same draws and totals
    cells = pipeline(con.from_df(ev), params, opportunities=con.from_df(opps), **kw)
    assert len(asked) == 2  # reduced once in the engine, not through the per-deal states
    assert {"opportunity_id", "owner", "notes"}.isdisjoint(cells.deals.columns)
    assert cells.deals["deals"].sum() == len(eager.deals) and len(cells.deals) < len(eager.deals)
    np.testing.assert_array_equal(cells.samples(), eager.samples())
    np.testing.assert_allclose(cells.samples(revenue=True), eager.samples(revenue=True))
    for col in ("amount", "expected_revenue", "p_win"):
        total = (eager.deals[col] if col != "p_win" else eager.deals["p_win"]).sum()
        got = cells.deals[col].sum() if col != "p_win" else (cells.deals["p_win"] * cells.deals["deals"]).sum()
        assert np.isclose(got, total), col
    assert cells.title() == eager.title()


def test_many_distinct_amounts_are_pooled_in_the_engine_keeping_weights_and_totals() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    opps = pd.DataFrame({"opportunity_id": [f"O{i}" for i in range(n)], "process": rng.choice(["a", "b"], n),
                         "created_at": pd.Timestamp("2025-01-01"),
                         "amount": np.round(rng.lognormal(8, 1, n), 2) * rng.choice([1, 1, 1, -1], n)})
    opps.loc[:9, "amount"] = np.nan
    opps.loc[10:14, "amount"] = 0.0
    exact = states.opportunity_amounts(opps, as_of="2025-02-01")
    pooled = {e: states.opportunity_amounts(f, as_of="2025-02-01", max_values=1000)
              for e, f in (("pandas", opps), ("duckdb", duckdb.connect().from_df(opps)))}
    pd.testing.assert_frame_equal(pooled["pandas"], pooled["duckdb"])
    counts = states.opportunity_amounts(opps, as_of="2025-02-01", count_only=True)
    assert counts.set_index("process")["weight"].to_dict() == exact.groupby("process")["weight"].sum().to_dict()
    p = pooled["pandas"]
    assert len(exact) > 4000 and len(p) < len(exact)
    for proc in ("a", "b"):
        e, q = exact[exact["process"] == proc], p[p["process"] == proc]
        assert q["weight"].sum() == e["weight"].sum()
        assert np.isclose((q["amount"] * q["weight"]).sum(), (e["amount"] * e["weight"]).sum(), rtol=1e-12)
        assert q.loc[q["amount"].isna(), "weight"].sum() == e.loc[e["amount"].isna(), "weight"].sum()
        assert q.loc[q["amount"] == 0, "weight"].sum() == e.loc[e["amount"] == 0, "weight"].sum()
        # every pooled amount lies within 0.01% of the amounts it stands for: quantiles move by at most that
        qe = np.repeat(e["amount"].dropna(), e["weight"][e["amount"].notna()])
        qp = np.repeat(q["amount"].dropna(), q["weight"][q["amount"].notna()])
        assert np.allclose(np.sort(qp.to_numpy()), np.sort(qe.to_numpy()), rtol=2e-4, atol=0)


def test_collected_repeated_text_shares_one_string_per_value() -> None:
    rel = duckdb.sql("SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE 'rep' || CAST(i % 3 AS VARCHAR) END AS owner, "
                     "'O' || CAST(i AS VARCHAR) AS id FROM range(10000) t(i) ORDER BY i")
    out = _collect(nw.from_native(rel))
    assert out["owner"].dtype == object and out["id"].dtype == object
    assert len({id(v) for v in out["owner"]}) == 4  # rep0, rep1, rep2 and None
    assert out["owner"].iloc[:8].tolist() == [None, "rep1", "rep2", "rep0", "rep1", "rep2", "rep0", None]
    assert out["owner"].isna().sum() == len(range(0, 10000, 7))
    assert out["id"].tolist() == [f"O{i}" for i in range(10000)]
