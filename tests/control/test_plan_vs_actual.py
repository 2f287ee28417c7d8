"""Plan against actual on the hand-worked company and with a real Plan on the example data."""

from __future__ import annotations

import pytest

from salesplan import PlanInputError
from salesplan.control import plan_vs_actual, variance


def test_tiny_company_plan_vs_actual(tiny, tiny_plan):
    pva = plan_vs_actual(tiny_plan, tiny).set_index(["period", "stage", "measure"])
    assert pva.loc[("2025-01", "lead", "entries"), "actual"] == 2  # o1, o2 (o4 entered in December)
    assert pva.loc[("2025-01", "offer", "entries"), "actual"] == 1  # o1
    assert pva.loc[("2025-01", "lead", "conversion"), "actual"] == 0.5  # o1 advanced, o2 lost
    assert pva.loc[("2025-01", "(process)", "contracts"), ["plan", "actual"]].tolist() == [2.0, 1.0]
    assert pva.loc[("2025-02", "(process)", "contracts"), "actual"] == 1.0
    assert pva.loc[("2025-01", "(process)", "revenue"), "actual"] == 300.0  # o4
    assert pva.loc[("2025-02", "(process)", "revenue"), "actual"] == 100.0  # o1
    assert pva.loc[("2025-01", "lead", "entries"), "attainment"] == 0.5
    assert pva.loc[("2025-01", "lead", "entries"), "difference"] == -2.0
    with pytest.raises(PlanInputError, match="basis"):
        plan_vs_actual(tiny_plan, tiny, basis="median")


def test_with_a_real_plan_on_example_data(example_data):
    from salesplan.plan import backward

    rates = __import__("salesplan").datasets.load_example_truth()
    rates = rates[rates["segment"] == "*"].assign(alpha=lambda r: r["rate"] * 400, beta=lambda r: (1 - r["rate"]) * 400)
    plan = backward(example_data.targets, rates[["process", "stage", "rate", "alpha", "beta"]])
    pva = plan_vs_actual(plan, example_data)
    # the plan's 2026 quarters start at or after the data cut and are left out
    assert sorted(pva["period"].unique()) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert set(pva["measure"]) == {"entries", "conversion", "contracts", "revenue", "activities"}
    contracts = pva[pva["measure"] == "contracts"].set_index(["process", "period"])["actual"]
    status = example_data.opportunity_status()
    won = status[status["status"] == "won"]
    q = won["closed_at"].dt.to_period("Q").astype(str).str.replace("Q", "-Q")
    expected = won.groupby(["process", q]).size()
    for (proc, per), n in contracts.items():
        assert n == expected.get((proc, per), 0)
    res = variance(plan, example_data)
    t = res.table
    assert ((t["volume_effect"] + t["conversion_effect"] + t["timing_effect"] - t["gap"]).abs() < 1e-9).all()
    assert len(t) == 20  # 5 processes x 4 quarters
