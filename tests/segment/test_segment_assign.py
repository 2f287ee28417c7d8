"""Share of wallet, portfolio matrix, cross-selling and process assignment on simulated and hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tomli_w

from salesplan import ConfigError
from salesplan.datasets import simulate
from salesplan.reduce.customers import customer_summary
from salesplan.segment import (
    AssignmentRule,
    CrossSell,
    assign_processes,
    assignment_summary,
    customer_segments,
    load_rules,
    portfolio_matrix,
    portfolio_summary,
    share_of_wallet,
)


@pytest.fixture(scope="module")
def world():
    return simulate(n_customers=1200, years=3, seed=4, n_prospects=200)


@pytest.fixture(scope="module")
def segments(world):
    data, _ = world
    cs = CrossSell(min_buyers=5).fit(data.orders, as_of="2025-06-30", end=data.as_of)
    return customer_segments(data.orders, data.customers, as_of=data.as_of,
                             cross_sell=cs.score(data.orders, data.as_of))


def test_share_of_wallet_from_potential_tracks_truth(world) -> None:
    data, truth = world
    s = customer_summary(data.orders, as_of=data.as_of)
    w = share_of_wallet(s, data.customers, as_of=data.as_of)
    pot = data.customers.set_index("customer_id")["potential"].reindex(w.index)
    assert (w.loc[pot > 0, "basis"] == "potential").all()  # potential 0 (a rounded-down wallet) is not used
    np.testing.assert_allclose(w.loc[pot > 0, "wallet"], pot[pot > 0])
    assert w["share_of_wallet"].between(0, 1).all()
    buyers = w.index[w["has_orders"]]
    # long-tenured customers: annual spend over tenure is a fair estimate of expected spend
    old = s.index[(data.as_of - s["first_order"]).dt.days > 365]
    idx = buyers.intersection(old)
    rho = pd.Series(w.loc[idx, "share_of_wallet"]).corr(truth.share_of_wallet.loc[idx], method="spearman")
    assert rho > 0.3
    assert (w.loc[~w["has_orders"], "share_of_wallet"] == 0).all()


def test_quantile_regression_wallet_recovers_group_quantile() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    size = rng.choice(["S", "L"], n)
    wallet = np.where(size == "L", 100_000.0, 10_000.0) * rng.lognormal(0, 0.2, n)
    share = rng.uniform(0.05, 1.0, n)
    revenue = wallet * share * 2  # two years of tenure
    s = pd.DataFrame({"revenue": revenue, "first_order": pd.Timestamp("2022-01-01")},
                     index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))
    customers = pd.DataFrame({"customer_id": s.index, "size": size, "industry": rng.choice(["x", "y"], n)})
    w = share_of_wallet(s, customers, as_of="2024-01-01", quantile=0.9)
    assert set(w["basis"]) == {"quantreg_q90"}
    for grp, base in (("S", 10_000.0), ("L", 100_000.0)):
        est = w.loc[s.index[size == grp], "wallet"].median()
        # the 90% quantile of wallet * U(0.05, 1) is about 0.9 * wallet
        assert est == pytest.approx(0.9 * base, rel=0.15)
    assert np.corrcoef(w["share_of_wallet"], share)[0, 1] > 0.8
    # mixed bases: potential where given, else the regression
    customers["potential"] = np.where(np.arange(n) < 100, 50_000.0, np.nan)
    w2 = share_of_wallet(s, customers, as_of="2024-01-01")
    assert (w2["basis"].iloc[:100] == "potential").all() and (w2["basis"].iloc[100:] == "quantreg_q90").all()


def test_portfolio_quadrants() -> None:
    f = pd.DataFrame({"clv": [1.0, 2.0, 3.0, 4.0], "share_of_wallet": [0.9, 0.1, 0.8, 0.2]}, index=list("abcd"))
    m = portfolio_matrix(f, attractiveness_split=2.5, position_split=0.5)
    assert m["quadrant"].to_dict() == {"a": "maintain", "b": "review", "c": "core", "d": "develop"}
    assert portfolio_summary(m)["customers"].sum() == 4


def test_cross_sell_beats_chance_out_of_time(world) -> None:
    data, _ = world
    cs = CrossSell(min_buyers=5).fit(data.orders, as_of="2024-12-31", end="2025-06-30")
    ev = cs.evaluate(data.orders, as_of="2025-06-30", end=data.as_of)
    pooled = ev.loc["(pooled)"]
    assert pooled["buyers"] > 50
    assert pooled["auc"] > 0.6 and pooled["lift_top"] > 1.5
    scores = cs.score(data.orders, as_of=data.as_of)
    owned = set(zip(data.orders["customer_id"], data.orders["product"], strict=True))
    assert not any((c, p) in owned for c, p in zip(scores["customer_id"], scores["product"], strict=True))


def test_segments_and_default_assignment(segments, world) -> None:
    data, _ = world
    assert len(segments) == len(data.customers)
    prospects = segments[~segments["has_orders"]]
    assert len(prospects) == 200 and prospects["resemblance"].between(0, 1).all()
    a = assign_processes(segments)
    assert a["customer_id"].is_unique  # exclusive by default
    assert set(a["process"]) <= {"retention", "delivery_rate", "new_product", "cross_selling", "acquisition"}
    acq = a[a["process"] == "acquisition"]
    assert set(acq["customer_id"]) <= set(prospects.index)
    ret = a[a["process"] == "retention"].merge(segments, left_on="customer_id", right_index=True)
    assert (ret["p_alive"] < 0.7).all() and ret["value_class_x"].isin(["A", "B"]).all()
    np.testing.assert_allclose(ret["expected_value"], ret["annual_spend"] * (1 - ret["p_alive"]))
    # ranks count 1..n within each process by expected value
    for _, grp in a.groupby("process"):
        assert sorted(grp["rank"]) == list(range(1, len(grp) + 1))
        assert grp.sort_values("rank")["expected_value"].is_monotonic_decreasing
    summ = assignment_summary(a)
    for proc, grp in a.groupby("process"):
        assert summ.loc[(proc, "all"), "customers"] == grp["customer_id"].nunique()
        assert summ.loc[(proc, "all"), "potential"] == pytest.approx(grp["potential"].sum())


def test_non_exclusive_and_toml_rules(segments, tmp_path) -> None:
    both = assign_processes(segments, exclusive=False)
    assert len(both) >= len(assign_processes(segments))
    rules = {"rules": [{"process": "retention", "when": "has_orders and p_alive < 0.5",
                        "potential": "clv", "probability": "1 - p_alive", "priority": 1}]}
    path = tmp_path / "rules.toml"
    path.write_text(tomli_w.dumps(rules))
    a = assign_processes(segments, path)
    expected = segments.query("has_orders and p_alive < 0.5")
    assert set(a["customer_id"]) == set(expected.index)
    assert load_rules(path)[0].when == "has_orders and p_alive < 0.5"


def test_bad_rules_are_config_errors(segments, tmp_path) -> None:
    with pytest.raises(ConfigError, match="no_such_column"):
        assign_processes(segments, [AssignmentRule("retention", "no_such_column > 1", "clv")])
    with pytest.raises(ConfigError, match="unknown key"):
        load_rules({"rules": [{"process": "x", "when": "a", "potential": "b", "colour": "red"}]})
    with pytest.raises(ConfigError, match="non-empty"):
        AssignmentRule("retention", "", "clv")
    # a rule needing an absent optional column is skipped, not an error
    seg = segments.drop(columns=["cross_sell_score"])
    assert "cross_selling" not in set(assign_processes(seg)["process"])


def test_delivery_rate_value_is_the_gain_to_the_typical_share_on_simulator_truth(segments, world) -> None:
    """The delivery-rate expected value against the simulator's truth: each assigned customer's true wallet times
    the gap between the true typical share (median over buyers) and its true share, if it is truly alive.

    The former definition (the whole open wallet times P(alive)) gave 3.8 times this truth here (and 5.72M
    against 3.32M of yearly revenue in the demo); the estimate must be within 25% of it and below a year's
    revenue.
    """
    data, truth = world
    a = assign_processes(segments).set_index("customer_id")
    dr = a[a["process"] == "delivery_rate"]
    buyers = segments.index[segments["has_orders"]]
    share = truth.share_of_wallet
    typical = float(share.loc[buyers].median())
    alive = truth.customer_params.set_index("customer_id")["alive"].reindex(dr.index).astype(float)
    wallet = segments.loc[dr.index, "wallet"]  # = customers.potential, the true wallet (rounded to 100)
    true_value = float((wallet * (typical - share.loc[dr.index]).clip(lower=0) * alive).sum())
    assert len(dr) > 100
    assert dr["expected_value"].sum() == pytest.approx(true_value, rel=0.25)
    last_year = data.orders.loc[data.orders["order_date"] > data.as_of - pd.DateOffset(years=1), "amount"].sum()
    assert dr["expected_value"].sum() < last_year
    # hand computation per customer: wallet x (typical share - share) x P(alive), never above the wallet
    seg = segments.loc[dr.index]
    np.testing.assert_allclose(dr["expected_value"], seg["wallet"] * (seg["typical_share"] - seg["share_of_wallet"])
                               * seg["p_alive"])
    assert (dr["expected_value"] < seg["wallet"]).all()
