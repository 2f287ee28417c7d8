"""backward(): funnel forms, targets tables, hand-computed plans, bad input naming the row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import salesplan as sp
from salesplan import ParameterError, PlanInputError, SchemaError
from salesplan.datasets import STAGE_RATES
from salesplan.plan import backward

ACQ = dict(zip(sp.DEFAULT_PROCESSES["acquisition"].stages, STAGE_RATES["acquisition"], strict=True))
ALL_RATES = {p: dict(zip(sp.DEFAULT_PROCESSES[p].stages, r, strict=True)) for p, r in STAGE_RATES.items()}


def test_single_number_known_rates_hand_computed() -> None:
    plan = backward(10, {"lead": 0.5, "offer": 0.4}, target_probability=0.8)
    vol = plan.volumes
    assert vol["stage"].tolist() == ["lead", "offer"]
    assert vol["win_rate"].round(12).tolist() == [0.2, 0.4]
    assert vol["expected_entries"].round(9).tolist() == [50.0, 25.0]
    # exact binomial: 61 leads give >= 10 wins with prob >= 0.8, 60 do not
    assert vol["required_entries"].tolist() == [61, 30]
    assert stats.binom.sf(9, 61, 0.2) >= 0.8 > stats.binom.sf(9, 60, 0.2)
    assert set(vol["method"]) == {"negative_binomial"}
    assert (vol["probability"] >= 0.8).all()


def test_uncertain_table_uses_beta_negative_binomial_and_widens() -> None:
    rates = pd.DataFrame({"stage": ["lead", "offer"], "alpha": [10.0, 4.0], "beta": [10.0, 6.0]})
    unc = backward(10, rates).volumes
    known = backward(10, {"lead": 0.5, "offer": 0.4}).volumes
    assert set(unc["method"]) == {"beta_negative_binomial"}
    assert np.allclose(unc["expected_entries"], known["expected_entries"])
    assert (unc["required_entries"] > known["required_entries"]).all()
    # exact check against the beta-binomial predictive of the moment-matched win rate
    a, b = unc["win_alpha"].iloc[0], unc["win_beta"].iloc[0]
    n = unc["required_entries"].iloc[0]
    assert stats.betabinom.sf(9, n, a, b) >= 0.8 > stats.betabinom.sf(9, n - 1, a, b)


def test_more_evidence_converges_to_known_plan() -> None:
    known = backward(20, {"lead": 0.5, "offer": 0.4}).volumes["required_entries"]
    big = pd.DataFrame({"stage": ["lead", "offer"], "alpha": [5e5, 4e5], "beta": [5e5, 6e5]})
    assert backward(20, big).volumes["required_entries"].tolist() == known.tolist()


def test_targets_table_multi_process_and_order() -> None:
    targets = pd.DataFrame({"process": ["acquisition", "retention", "acquisition"],
                            "period": ["2026-Q1", "2026-Q1", "2026-Q2"], "contracts": [8, 15, 0]})
    plan = backward(targets, ALL_RATES, 0.9)
    vol = plan.volumes
    assert len(vol) == 5 + 3 + 5
    first = vol.groupby(["process", "period"]).head(1).set_index(["process", "period"])
    win = float(np.prod(STAGE_RATES["acquisition"]))
    # exact binomial, computed here: the fewest entries giving >= 8 wins with probability >= 0.9
    n = first.loc[("acquisition", "2026-Q1"), "required_entries"]
    assert stats.binom.sf(7, n, win) >= 0.9 > stats.binom.sf(7, n - 1, win)
    assert first.loc[("acquisition", "2026-Q2"), "required_entries"] == 0
    assert list(vol[vol["process"] == "retention"]["stage"]) == list(sp.DEFAULT_PROCESSES["retention"].stages)
    assert plan.targets["contracts"].sum() == 23


def test_input_frames_not_mutated() -> None:
    targets = pd.DataFrame({"process": ["acquisition"], "period": ["2026-01"], "contracts": [4]})
    rates = pd.DataFrame({"process": "acquisition", "stage": list(ACQ), "rate": list(ACQ.values())})
    t0, r0 = targets.copy(), rates.copy()
    backward(targets, rates)
    pd.testing.assert_frame_equal(targets, t0)
    pd.testing.assert_frame_equal(rates, r0)


def test_segmented_rates_table() -> None:
    rows = [{"process": "p", "segment": seg, "stage": s, "rate": r}
            for seg, (r1, r2) in {"key": (0.6, 0.5), "standard": (0.4, 0.5)}.items()
            for s, r in (("a", r1), ("b", r2))]
    targets = pd.DataFrame({"process": ["p", "p"], "segment": ["key", "standard"], "period": ["2026-01"] * 2,
                            "contracts": [6, 6]})
    vol = backward(targets, pd.DataFrame(rows), processes={"p": sp.SalesProcess("p", ["a", "b"])}).volumes
    first = vol[vol["stage"] == "a"].set_index("segment")["expected_entries"]
    assert first["key"] == pytest.approx(20.0) and first["standard"] == pytest.approx(30.0)
    bad = targets.assign(segment=["key", "smb"])
    with pytest.raises(PlanInputError, match=r"targets row 1 .*segment='smb'"):
        backward(bad, pd.DataFrame(rows), processes={"p": sp.SalesProcess("p", ["a", "b"])})


# --- bad input -------------------------------------------------------------------------------------------

def test_target_for_unknown_process_names_row() -> None:
    targets = pd.DataFrame({"process": ["acquisition", "retention"], "period": ["2026-Q1"] * 2,
                            "contracts": [3, 4]})
    with pytest.raises(SchemaError) as err:
        backward(targets, {"acquisition": ACQ})
    cases = err.value.failure_cases
    assert cases[["column", "check", "key", "value"]].values.tolist() == [["process", "known_process", "row 1",
                                                                           "retention"]]


def test_rate_of_zero_names_stage() -> None:
    with pytest.raises(PlanInputError, match=r"stage='offer'.*rate=0\.0"):
        backward(5, {"lead": 0.5, "offer": 0.0})


def test_negative_targets() -> None:
    with pytest.raises(PlanInputError, match="whole number"):
        backward(-3, {"lead": 0.5})
    targets = pd.DataFrame({"process": ["acquisition", "acquisition"], "period": ["2026-Q1", "2026-Q2"],
                            "contracts": [3, -2]})
    with pytest.raises(SchemaError) as err:
        backward(targets, {"acquisition": ACQ})
    assert err.value.failure_cases[["check", "key"]].values.tolist() == [["non_negative", "row 1"]]


@pytest.mark.parametrize("c", [0, 1, -0.5, 1.01, "high"])
def test_target_probability_outside_unit_interval(c) -> None:
    with pytest.raises(ParameterError, match="target_probability"):
        backward(5, {"lead": 0.5}, target_probability=c)


def test_other_bad_funnels() -> None:
    with pytest.raises(PlanInputError, match="outside"):
        backward(5, {"lead": 1.5})
    with pytest.raises(PlanInputError, match="no rate for stage"):
        backward(5, pd.DataFrame({"process": "acquisition", "stage": ["prospect_selected"], "rate": [0.5]}))
    with pytest.raises(PlanInputError, match="one-process funnel"):
        backward(5, ALL_RATES)
    with pytest.raises(PlanInputError, match="Beta parameters"):
        backward(5, pd.DataFrame({"stage": ["a"], "alpha": [-1.0], "beta": [2.0]}))
    with pytest.raises(PlanInputError, match="funnel must be"):
        backward(5, 0.3)


stage_rates = st.lists(st.floats(min_value=0.05, max_value=0.95), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(rates=stage_rates, x=st.integers(min_value=1, max_value=80), c=st.floats(min_value=0.1, max_value=0.95))
def test_plan_monotone_in_target_confidence_and_along_stages(rates, x, c) -> None:
    funnel = {f"s{i}": r for i, r in enumerate(rates)}
    base = backward(x, funnel, c).volumes["required_entries"].to_numpy()
    more = backward(x + 3, funnel, c).volumes["required_entries"].to_numpy()
    surer = backward(x, funnel, min(0.99, c + 0.04)).volumes["required_entries"].to_numpy()
    assert (more >= base).all() and (surer >= base).all()
    # later stages win more often, so they need no more entries than earlier ones
    assert (np.diff(base) <= 0).all()


@settings(max_examples=60, deadline=None)
@given(rates=stage_rates, x=st.integers(min_value=1, max_value=300))
def test_plan_at_median_close_to_x_over_product(rates, x) -> None:
    vol = backward(x, {f"s{i}": r for i, r in enumerate(rates)}, 0.5).volumes
    win = np.cumprod(np.asarray(rates)[::-1])[::-1]
    assert np.allclose(vol["win_rate"], win)
    assert (np.abs(vol["required_entries"] - x / win) <= 1 / win + 1).all()
