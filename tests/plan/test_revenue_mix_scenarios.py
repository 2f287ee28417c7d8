"""Revenue targets, the least-effort mix, and scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import salesplan as sp
from salesplan import PlanInputError
from salesplan.plan import (
    backward,
    compare_scenarios,
    contracts_for_revenue,
    mix_options,
    optimise_mix,
    targets_from_revenue,
)


def test_constant_deal_size_gives_exact_contracts() -> None:
    req, exp, prob = contracts_for_revenue(100_000.0, np.full(5, 10_000.0), 0.9)
    assert (req, exp, prob) == (10, 10.0, 1.0)


def test_revenue_contracts_reach_revenue_by_simulation() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.lognormal(np.log(12_000), 0.6, 400)
    req, exp, prob = contracts_for_revenue(600_000.0, sizes, 0.8, seed=1)
    assert exp == pytest.approx(600_000 / sizes.mean())
    assert req > exp and prob >= 0.8
    # forward check: deals drawn from the empirical distribution reach the revenue about 80% of the time
    sims = rng.choice(sizes, size=(20_000, req)).sum(axis=1)
    assert np.mean(sims >= 600_000) >= 0.8 - 0.02
    fewer = rng.choice(sizes, size=(20_000, req - 2)).sum(axis=1)
    assert np.mean(fewer >= 600_000) < 0.8
    # fewer observed deals -> more parameter uncertainty -> at least as many contracts at 90%
    few = contracts_for_revenue(600_000.0, sizes[:10], 0.9, seed=1)[0]
    many = contracts_for_revenue(600_000.0, sizes, 0.9, seed=1)[0]
    assert few >= many - 1


def test_targets_from_revenue_then_backward() -> None:
    targets = pd.DataFrame({"process": ["retention"], "period": ["2026-Q1"], "contracts": [1],
                            "revenue": [200_000.0]})
    deals = pd.DataFrame({"process": "retention", "amount": [18_000.0, 20_000.0, 22_000.0] * 10})
    out = targets_from_revenue(targets, deals, 0.8)
    assert out["contracts_given"].iloc[0] == 1
    assert out["expected_contracts"].iloc[0] == pytest.approx(10.0)
    assert out["contracts"].iloc[0] in (10, 11)
    rates = {"retention": dict(zip(sp.DEFAULT_PROCESSES["retention"].stages, [0.9, 0.85, 0.8], strict=True))}
    plan = backward(out, rates)
    assert plan.targets["contracts"].iloc[0] == out["contracts"].iloc[0]
    with pytest.raises(PlanInputError, match=r"targets row 0 \(process='retention'\): no deal sizes"):
        targets_from_revenue(targets, {"acquisition": [1.0, 2.0]})


def test_mix_picks_cheapest_within_bounds_and_capacity() -> None:
    options = pd.DataFrame({"process": ["a", "b", "c"], "hours_per_contract": [10.0, 4.0, 6.0],
                            "eligible": [1000, 50, 100], "win_rate": [0.1, 0.2, 0.25], "team": ["x", "y", "y"]})
    mix = optimise_mix(40, options).set_index("process")
    # bounds: b <= 10, c <= 25, a <= 100; cheapest first: b 10, c 25, a 5
    assert mix["contracts"].to_dict() == {"a": 5, "b": 10, "c": 25}
    assert mix.attrs["objective"] == pytest.approx(5 * 10 + 10 * 4 + 25 * 6)
    # team y limited to 100 hours: b 10 (40 h) + c 10 (60 h), the rest from a
    capped = optimise_mix(40, options, capacity={"y": 100.0}).set_index("process")
    assert capped["contracts"].to_dict() == {"a": 20, "b": 10, "c": 10}
    with pytest.raises(PlanInputError, match="at most 135"):
        optimise_mix(200, options)
    with pytest.raises(PlanInputError, match="capacity"):
        optimise_mix(40, options, capacity=10.0)
    with pytest.raises(PlanInputError, match="capacity of team 'y' must be positive"):
        optimise_mix(40, options, capacity={"y": 0})


def test_revenue_mix_respects_potential() -> None:
    options = pd.DataFrame({"process": ["a", "b"], "cost_per_contract": [100.0, 40.0],
                            "deal_size": [10_000.0, 5_000.0], "potential": [1e6, 20_000.0]})
    mix = optimise_mix(100_000, options, objective="cost", measure="revenue").set_index("process")
    assert mix.loc["b", "contracts"] == 4  # potential 20k / 5k
    assert (mix["revenue"].sum()) >= 100_000
    assert mix.loc["a", "contracts"] == 8


def test_mix_options_from_funnel_and_eligible_table() -> None:
    rates = {"a": {"s1": 0.5, "s2": 0.5}, "b": {"t1": 0.8}}
    ratios = {"a": {"s1": {"calls": 2}, "s2": {"visits": 1}}, "b": {"t1": {"calls": 1}}}
    eligible = pd.DataFrame({"process": ["a", "b"], "customers": [100, 10], "potential": [1e6, 1e5]})
    opts = mix_options(rates, hours={"calls": 0.5, "visits": 2.0}, activity_ratios=ratios, eligible=eligible,
                       deal_sizes={"a": 1000.0, "b": 500.0}).set_index("process")
    # a: calls 2/0.25 = 8 per contract (4 h), visits 1/0.5 = 2 (4 h) -> 8 h; b: calls 1/0.8 -> 0.625 h
    assert opts.loc["a", "hours_per_contract"] == pytest.approx(8.0)
    assert opts.loc["b", "hours_per_contract"] == pytest.approx(0.625)
    assert opts.loc["a", "eligible"] == 100 and opts.loc["b", "deal_size"] == 500.0
    mix = optimise_mix(20, opts.reset_index()).set_index("process")
    assert mix.loc["b", "contracts"] == 8  # 10 eligible x 0.8


def test_scenarios_side_by_side() -> None:
    targets = pd.DataFrame({"process": ["p"], "period": ["2026-03"], "contracts": [10]})
    teams = pd.DataFrame({"team": ["t"], "process": ["p"], "people": [1], "hours": [10.0]})
    table = compare_scenarios(
        targets, {"p": {"lead": 0.5, "offer": 0.4}},
        {"qual +5": {"rates": {"lead": 0.05}}, "one more rep": {"people": {"t": 1}},
         "conf 70%": {"target_probability": 0.7}, "more": {"contracts": 1.5}},
        teams=teams, hours={"calls": 0.5}, unit_costs={"calls": 20.0},
        activity_ratios={"p": {"lead": {"calls": 1.0}}}, processes={"p": sp.SalesProcess("p", ["lead", "offer"])},
    ).set_index("scenario")
    base = table.loc["baseline"]
    assert base["required_entries"] == 61
    # exact binomial, computed here: fewest leads with P(>= 10 wins) >= the target probability
    for name, win, prob in (("qual +5", 0.55 * 0.4, 0.8), ("conf 70%", 0.5 * 0.4, 0.7)):
        n = table.loc[name, "required_entries"]
        assert stats.binom.sf(9, n, win) >= prob > stats.binom.sf(9, n - 1, win), name
    assert table.loc["more", "contracts"] == 15
    assert table.loc["one more rep", "largest_shortfall"] < base["largest_shortfall"]
    assert base["cost"] == pytest.approx(61 * 20.0)
    with pytest.raises(PlanInputError, match="unknown key"):
        compare_scenarios(targets, {"p": {"lead": 0.5}}, {"x": {"rate": 1}})
    with pytest.raises(PlanInputError, match="outside"):
        compare_scenarios(targets, {"p": {"lead": 0.5}}, {"x": {"rates": {"lead": 0.6}}})


def test_uncertain_rate_change_keeps_evidence() -> None:
    from salesplan.plan._inputs import funnel_view

    view = funnel_view(pd.DataFrame({"stage": ["a", "b"], "alpha": [30.0, 20.0], "beta": [70.0, 20.0]}))
    new = view.with_rate_change({"a": 0.1})
    row = new.rates.set_index("stage").loc["a"]
    assert row["rate"] == pytest.approx(0.4)
    assert row["alpha"] + row["beta"] == pytest.approx(100.0)
    assert new.win.set_index("stage").loc["a", "win_rate"] == pytest.approx(0.2)
