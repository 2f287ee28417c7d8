"""Variance decomposition through the stage reduction, the exact-sum invariant (hypothesis), errors.

The rest of the hand-worked cases, on flows written out by hand: test_variance_by_hand.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesplan import PlanInputError, SalesplanError, SchemaError
from salesplan.control import decompose_gap, variance
from salesplan.control.actuals import flows


def test_reduction_gives_the_flows_worked_by_hand(tiny, tiny_flows):
    # the monthly flows of the five-deal company at its cut, as written out in conftest.py (and used by
    # test_variance_by_hand.py)
    got = flows(tiny, "M")
    assert (got.as_of, got.freq) == (tiny_flows.as_of, tiny_flows.freq)
    for name in ("entries", "closes", "cohorts"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(tiny_flows, name), check_dtype=False, obj=name)


def test_tiny_company_by_hand(tiny, tiny_plan):
    res = variance(tiny_plan, tiny)
    t = res.table.set_index("period")
    # January: 2 created (plan 4), 1 of them won (o1, in Feb), 1 contract closed (o4, created in Dec)
    jan = t.loc["2025-01"]
    assert (jan["actual_entries"], jan["cohort_wins"], jan["actual_contracts"]) == (2, 1, 1)
    assert (jan["gap"], jan["volume_effect"], jan["conversion_effect"], jan["timing_effect"]) == (-1, -1, 0, 0)
    # February: 2 created, none won yet, 1 contract (o1): volume -1, conversion -1, timing +1
    feb = t.loc["2025-02"]
    assert (feb["gap"], feb["volume_effect"], feb["conversion_effect"], feb["timing_effect"]) == (-1, -1, -1, 1)
    # stage split of January: cohort rates (0.5, 1.0) against plan (0.8, 0.625)
    st_jan = res.by_stage[res.by_stage["period"] == "2025-01"].set_index("stage")
    assert st_jan.loc["lead", "conversion_effect"] == pytest.approx(2 * (0.5 * 0.625 - 0.5))
    assert st_jan.loc["offer", "conversion_effect"] == pytest.approx(2 * (0.5 - 0.5 * 0.625))
    assert st_jan.loc["lead", "actual_rate"] == 0.5
    by_period = res.by_stage.groupby("period")["conversion_effect"].sum()
    np.testing.assert_allclose(by_period.to_numpy(), res.table["conversion_effect"].to_numpy(), atol=1e-12)


counts = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=200, deadline=None)
@given(e_p=st.floats(min_value=0.5, max_value=1e5), conv=st.floats(min_value=0, max_value=1),
       e_a=counts, share=st.floats(min_value=0, max_value=1), c_a=counts)
def test_effects_add_up_to_the_gap(e_p, conv, e_a, share, c_a):
    w_a = int(np.floor(share * e_a))
    t = pd.DataFrame({"process": ["x"], "period": ["2025-Q1"], "planned_entries": [e_p],
                      "planned_contracts": [e_p * conv], "actual_entries": [e_a], "cohort_wins": [w_a],
                      "actual_contracts": [c_a]})
    d = decompose_gap(t).iloc[0]
    parts = d["volume_effect"] + d["conversion_effect"] + d["timing_effect"]
    assert d["gap"] == c_a - e_p * conv
    assert abs(parts - d["gap"]) <= 1e-9 * max(1.0, abs(e_p), abs(c_a))
    # actuals at plan give zero effects
    same = decompose_gap(t.assign(actual_entries=e_p, cohort_wins=e_p * conv, actual_contracts=e_p * conv)).iloc[0]
    assert abs(same["volume_effect"]) + abs(same["conversion_effect"]) + abs(same["timing_effect"]) < 1e-6 * max(1, e_p)


def test_decompose_gap_rejects_bad_rows():
    good = dict(process=["x"], period=["2025-Q1"], planned_entries=[10.0], planned_contracts=[2.0],
                actual_entries=[5], cohort_wins=[1], actual_contracts=[1])
    with pytest.raises(PlanInputError, match="cohort_wins exceed"):
        decompose_gap(pd.DataFrame({**good, "cohort_wins": [9]}))
    with pytest.raises(PlanInputError, match="without planned entries"):
        decompose_gap(pd.DataFrame({**good, "planned_entries": [0.0]}))
    with pytest.raises(PlanInputError, match="without planned entries"):  # half a contract is a contract
        decompose_gap(pd.DataFrame({**good, "planned_entries": [0.0], "planned_contracts": [0.5]}))
    with pytest.raises(PlanInputError, match="negative or missing"):
        decompose_gap(pd.DataFrame({**good, "actual_contracts": [-1]}))
    with pytest.raises(PlanInputError, match="missing column"):
        decompose_gap(pd.DataFrame(good).drop(columns="cohort_wins"))


def test_plan_and_actuals_must_match(tiny, tiny_plan):
    with pytest.raises(PlanInputError, match="process"):
        variance(tiny_plan.assign(process="zz"), tiny)
    with pytest.raises(PlanInputError, match="not in the plan"):
        variance(tiny_plan, tiny, periods=["2025-03"])
    with pytest.raises(PlanInputError, match="no plan period has started"):
        variance(tiny_plan.assign(period=tiny_plan["period"].str.replace("2025", "2031")), tiny)
    early = tiny_plan.assign(period=tiny_plan["period"].str.replace("2025-0", "2024-0"))
    with pytest.raises(SchemaError, match="empty period"):
        variance(early, tiny)
    with pytest.raises(PlanInputError, match="first stage"):
        variance(tiny_plan[tiny_plan["stage"] == "offer"], tiny)
    assert issubclass(PlanInputError, SalesplanError)


def test_decompose_gap_names_only_the_bad_rows():
    rows = pd.DataFrame({"process": "x", "period": [f"2025-{m:02d}" for m in range(1, 9)], "planned_entries": 10.0,
                         "planned_contracts": 2.0, "actual_entries": 5, "cohort_wins": 1, "actual_contracts": 1})
    with pytest.raises(PlanInputError, match=r"rows \[\{'process': 'x', 'period': '2025-02'\}\]$"):
        decompose_gap(rows.assign(actual_contracts=[1, np.nan, 1, 1, 1, 1, 1, 1]))
    with pytest.raises(PlanInputError, match=r"rows \[\{'process': 'x', 'period': '2025-03'\}\]$"):
        decompose_gap(rows.assign(cohort_wins=[1, 1, -1, 1, 1, 1, 1, 1]))
    with pytest.raises(PlanInputError) as err:  # at most five rows named
        decompose_gap(rows.assign(cohort_wins=-1))
    assert str(err.value).count("'period'") == 5 and "2025-05" in str(err.value) and "2025-06" not in str(err.value)
    # the full messages, at most five rows each
    with pytest.raises(PlanInputError, match=r"^decompose_gap: planned contracts without planned entries \(conversion "
                                             r"undefined\) in rows \[\{'process': 'x', 'period': '2025-01'\}, .*"
                                             r"'2025-05'\}\]$"):
        decompose_gap(rows.assign(planned_entries=0.0))
    with pytest.raises(PlanInputError, match=r"^decompose_gap: cohort_wins exceed actual_entries in rows "
                                             r"\[\{'process': 'x', 'period': '2025-01'\}, .*'2025-05'\}\]$"):
        decompose_gap(rows.assign(cohort_wins=9))
