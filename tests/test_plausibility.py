"""Plausibility checks: each on a case that must flag and one that must not, on hand-made data.

The causes behind the flags of the demo (delivery-rate value, cross-selling column, mix, backtest origins) are
tested on simulator truth in tests/segment/test_segment_assign.py and on the demo report in
tests/report/test_report_figures.py.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from salesplan.forecast.backtest import BacktestResult
from salesplan.plan import optimise_mix
from salesplan.plausibility import (
    check_backtest,
    check_expected_value,
    check_mix,
    check_rules,
    check_wallet,
    flags_table,
    forecasts_needed,
)
from salesplan.segment import DEFAULT_RULES, assign_processes


def _segments(**extra: list) -> pd.DataFrame:
    base = {"has_orders": [True, True, True, False], "value_class": ["A", "B", "A", None],
            "p_alive": [0.9, 0.95, 0.4, np.nan], "annual_spend": [100.0, 50.0, 80.0, 0.0],
            "share_of_wallet": [0.1, 0.5, 0.8, 0.0], "wallet": [1000.0, 100.0, 100.0, 500.0],
            "open_wallet": [900.0, 50.0, 20.0, 500.0], "typical_share": [0.4] * 4, "n_products": [2, 1, 3, 0],
            "resemblance": [np.nan] * 3 + [0.5]}
    base.update(extra)
    return pd.DataFrame(base, index=pd.Index(["a", "b", "c", "p"], name="customer_id"))


def test_expected_value_against_wallet_and_revenue(caplog) -> None:
    seg = _segments()
    asg = pd.DataFrame({"customer_id": ["a", "b", "c"], "process": ["delivery_rate", "delivery_rate", "retention"],
                        "potential": [1200.0, 40.0, 80.0], "expected_value": [1100.0, 20.0, 48.0]})
    with caplog.at_level(logging.WARNING, logger="salesplan.plausibility"):
        flags = check_expected_value(asg, seg, revenue=1000.0)
    # a: 1,100 against a wallet of 1,000; and the process total 1,120 above all revenue of 1,000
    assert [(f.process, f.value, f.reference) for f in flags] == [("delivery_rate", 1100.0, 1000.0),
                                                                   ("delivery_rate", 1120.0, 1000.0)]
    assert "above their whole wallet" in flags[0].reason and "a: 1,100" in flags[0].reason
    assert len(caplog.records) == 2 and all(r.levelname == "WARNING" for r in caplog.records)
    # within the wallet and the revenue: nothing
    ok = asg.assign(expected_value=[600.0, 20.0, 48.0])
    assert check_expected_value(ok, seg, revenue=1000.0) == []
    # a probability of about 1 for every customer (notebook 01: P(alive) >= 0.998): the expected value is the
    # potential to the cent; 599.5 + 20 of 620 is 99.92%, above 1 - 0.001
    same = asg.assign(potential=[600.0, 20.0, 48.0], expected_value=[599.5, 20.0, 48.0])
    (flag,) = check_expected_value(same, seg, revenue=1e6)
    assert flag.process == "delivery_rate" and (flag.value, flag.reference) == (619.5, 620.0)
    assert "99.92% of the potential over the 2 customers" in flag.reason
    assert check_expected_value(asg.assign(potential=[600.0, 20.0, 48.0], expected_value=[590.0, 20.0, 48.0]),
                                seg, revenue=1e6) == []  # 98.4%: discounted
    assert flags_table(flags)["figure"].tolist() == ["expected value"] * 2


def test_spend_above_wallet() -> None:
    (flag,) = check_wallet(_segments(annual_spend=[100.0, 50.0, 300.0, 0.0]))
    assert (flag.value, flag.reference) == (300.0, 100.0) and "1 customer(s)" in flag.reason
    assert check_wallet(_segments()) == []


def test_a_rule_whose_column_is_missing_is_flagged_and_logged(caplog) -> None:
    seg = _segments()
    with caplog.at_level(logging.WARNING):
        got = assign_processes(seg)
        flags = check_rules(seg)
    assert "cross_selling" not in set(got["process"])
    assert any("'cross_selling' assigns no one" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    assert [(f.process, f.value) for f in flags] == [("cross_selling", 0.0)]
    assert "['cross_sell_score'] missing" in flags[0].reason
    # present but empty: still no one, still flagged; with values: nothing to flag
    empty = seg.assign(cross_sell_score=np.nan)
    assert [f.process for f in check_rules(empty)] == ["cross_selling"]
    assert check_rules(seg.assign(cross_sell_score=[0.5, 0.0, 0.0, 0.0])) == []
    # only the reported processes
    assert check_rules(seg, DEFAULT_RULES, processes=["retention"]) == []


def test_mix_in_one_process_is_flagged_with_the_reason(caplog) -> None:
    # the notebook-03 inputs: retention is cheapest and 85 customers x 4 entries x 0.63 cover 200 contracts
    options = pd.DataFrame({"process": ["acquisition", "delivery_rate", "retention"],
                            "hours_per_contract": [32.2, 15.0, 6.0], "eligible": [190, 79, 85],
                            "win_rate": [0.09, 0.21, 0.63]})
    with caplog.at_level(logging.WARNING, logger="salesplan.plausibility"):
        mix = optimise_mix(200, options, entries_per_customer=4)
    assert mix["contracts"].tolist() == [0, 0, 200]  # the optimum of these inputs
    (flag,) = mix.attrs["flags"]
    assert flag.process == "retention" and flag.value == 200
    assert "lowest hours_per_contract (6.00; next delivery_rate at 15.00)" in flag.reason
    assert "its bound (214)" in flag.reason  # floor(85 * 4 * 0.63)
    assert caplog.records
    # one contract per customer a year: retention fills its 85, delivery rate its floor(79 * 4 * 0.21) = 66,
    # acquisition the remaining 49
    spread = optimise_mix(200, options.assign(max_contracts=[200, 200, 85]), entries_per_customer=4)
    assert spread["contracts"].tolist() == [49, 66, 85] and spread.attrs["flags"] == []
    assert check_mix(spread) == []


def _backtest(n: int, covered: int, level: float = 0.8) -> BacktestResult:
    return BacktestResult(pd.DataFrame({"origin": range(n), "method": "ets", "step": 1,
                                        "covered": [True] * covered + [False] * (n - covered)}), level)


def test_backtest_too_short_to_judge_coverage() -> None:
    assert forecasts_needed(0.8) == 14 and 0.8**14 < 0.05 < 0.8**13
    (flag,) = check_backtest(_backtest(3, 3))
    assert (flag.value, flag.reference) == (1.0, 0.8)
    assert flag.reason.startswith("3 one-step forecasts from 3 origins cannot judge a 80% interval")
    assert check_backtest(_backtest(40, 32)) == []  # 80% of 40, enough of them
    (low,) = check_backtest(_backtest(40, 20))  # half covered: the intervals are too narrow
    assert "too narrow" in low.reason and low.value == pytest.approx(0.5)
