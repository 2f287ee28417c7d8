"""The simulator is deterministic for a seed and its data agree with its truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.datasets import CLV_PARAMS, simulate


@pytest.fixture(scope="module")
def big_world():
    return simulate(n_customers=300, years=3, seed=11, creation_scale=3.0)


def test_deterministic_for_seed() -> None:
    a, ta = simulate(n_customers=40, years=1, seed=5)
    b, tb = simulate(n_customers=40, years=1, seed=5)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(ta.latent_events, tb.latent_events)
    c, _ = simulate(n_customers=40, years=1, seed=6)
    assert not a.stage_events.equals(c.stage_events)


def test_tables_validate_and_link(small_world) -> None:
    data, truth = small_world
    assert set(data.opportunities["process"]) == set(data.processes)
    assert data.stage_events["entered_at"].max() <= data.as_of
    # every observed event is in the latent history, which also holds the future of open deals
    merged = data.stage_events.merge(truth.latent_events, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert len(truth.latent_events) > len(data.stage_events)
    status = data.opportunity_status()
    assert (status["status"] == "open").sum() > 0
    # acquisition targets prospects only: customers without orders
    buyers = set(data.orders["customer_id"])
    acq = data.opportunities.query("process == 'acquisition'")
    assert not set(acq["customer_id"]) & buyers


def _observed_advance(data) -> pd.DataFrame:
    """Per (process, segment, stage): entries and advances among opportunities old enough to be closed."""
    old = data.opportunities[data.opportunities["created_at"] < data.as_of - pd.Timedelta(days=365)]
    ev = data.stage_events.merge(old[["opportunity_id", "process", "segment"]], on="opportunity_id")
    rows = []
    for (proc, seg), grp in ev.groupby(["process", "segment"]):
        stages = data.processes[proc].stages
        reached = grp.groupby("stage")["opportunity_id"].nunique()
        won = reached.get(data.processes[proc].won, 0)
        for k, stage in enumerate(stages):
            nxt = stages[k + 1] if k + 1 < len(stages) else None
            entered = reached.get(stage, 0)
            advanced = reached.get(nxt, 0) if nxt else won
            rows.append((proc, seg, stage, entered, advanced))
    return pd.DataFrame(rows, columns=["process", "segment", "stage", "entered", "advanced"])


def test_observed_advance_share_matches_truth(big_world) -> None:
    data, truth = big_world
    obs = _observed_advance(data).merge(truth.stage_rates, on=["process", "segment", "stage"])
    obs = obs[obs["entered"] >= 30]
    assert len(obs) >= 30
    share = obs["advanced"] / obs["entered"]
    se = np.sqrt(obs["rate"] * (1 - obs["rate"]) / obs["entered"])
    z = (share - obs["rate"]) / se
    assert (z.abs() < 4).all(), obs.assign(z=z)[z.abs() >= 4]
    assert abs(z.mean()) < 0.6  # no systematic bias across ~45 cells


def test_losses_take_longer_than_advances(big_world) -> None:
    """In the generated events (not the truth table): days in a stage before a loss exceed those before an advance."""
    data, truth = big_world
    ev = data.stage_events.merge(data.opportunities[["opportunity_id", "process"]]).sort_values(
        ["opportunity_id", "entered_at"])
    nxt = ev.groupby("opportunity_id")[["stage", "entered_at"]].shift(-1)
    ev = ev.assign(days=(nxt["entered_at"] - ev["entered_at"]).dt.total_seconds() / 86400,
                   outcome=np.where(nxt["stage"] == "lost", "loss", "advance"))
    ev = ev[nxt["stage"].notna() & ~ev["stage"].isin(["won", "lost"])]
    med = ev.groupby(["process", "stage", "outcome"])["days"].agg(["median", "size"]).unstack("outcome")
    med = med[(med[("size", "loss")] >= 30) & (med[("size", "advance")] >= 30)]
    assert len(med) >= 10
    assert (med[("median", "loss")] > med[("median", "advance")]).all()
    assert set(med.index) <= set(truth.durations.set_index(["process", "stage"]).index)


def test_activity_ratios_match_truth(big_world) -> None:
    data, truth = big_world
    old = data.opportunities[data.opportunities["created_at"] < data.as_of - pd.Timedelta(days=365)]
    ids = set(old["opportunity_id"])
    ev = data.stage_events[data.stage_events["opportunity_id"].isin(ids)]
    entries = ev.merge(old[["opportunity_id", "process"]]).groupby(["process", "stage"]).size()
    acts = data.activities[data.activities["opportunity_id"].isin(ids)]
    # attribute each activity to its stage through the latent path: count per process and kind
    per_kind = acts.groupby(["process", "kind"]).size()
    expected = (truth.activity_ratios.set_index(["process", "stage"])
                .join(entries.rename("entries"))
                .assign(n=lambda f: f["per_entry"] * f["entries"])
                .groupby(["process", "kind"])["n"].sum())
    z = (per_kind - expected) / np.sqrt(expected)
    assert (z.abs() < 4).all(), z


def test_orders_follow_bgnbd_mean(big_world) -> None:
    """Mean repeat purchases per customer observed for t weeks equals the BG/NBD E[X(t)] within 4 SE."""
    from scipy.special import hyp2f1

    data, truth = big_world
    orders = data.orders[~data.orders["is_return"]]
    first = orders.groupby("customer_id")["order_date"].min()
    t_weeks = (data.as_of - first).dt.total_seconds() / (7 * 86400)
    repeats = orders.groupby("customer_id").size() - 1
    r, alpha, a, b = (CLV_PARAMS[k] for k in ("r", "alpha", "a", "b"))
    z_arg = t_weeks / (alpha + t_weeks)
    expected = (a + b - 1) / (a - 1) * (1 - ((alpha / (alpha + t_weeks)) ** r) * hyp2f1(r, b, a + b - 1, z_arg))
    diff = repeats - expected
    assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(len(diff))
    assert truth.share_of_wallet.between(0, 1).all()


def test_example_data_loads(example_data) -> None:
    counts = example_data.status_counts()
    assert set(counts.index) == {"acquisition", "new_product", "delivery_rate", "cross_selling", "retention"}
    assert counts["open"].sum() > 0 and counts["won"].sum() > 0 and counts["lost"].sum() > 0
    assert str(example_data.as_of.date()) == "2026-01-01"
