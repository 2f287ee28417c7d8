"""Hand-computed cases pin the counting rules (salesplan.funnel.paths) and the bad-input behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import salesplan as sp
from salesplan.funnel import estimate
from salesplan.reduce.stages import reduce_stage_events

PROC = sp.SalesProcess("p", ["lead", "qualified", "offer"])


def ev(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_at"]).assign(
        entered_at=lambda d: pd.to_datetime(d["entered_at"]))


def spells(rows, **kw) -> list[tuple]:
    red = reduce_stage_events(ev(rows), PROC, as_of=kw.pop("as_of", "2024-03-01"), resolution_hours=24, **kw)
    s = red.spells
    return [(r.stage, r.outcome, r.days, bool(r.implied), r.weight) for r in s.itertuples()]


def test_straight_path_and_open() -> None:
    got = spells([("a", "lead", "2024-01-01"), ("a", "qualified", "2024-01-03"), ("a", "offer", "2024-01-10"),
                  ("a", "won", "2024-01-20"), ("b", "lead", "2024-02-20")])
    assert got == [("lead", "advance", 2.0, False, 1), ("lead", "open", 10.0, False, 1),
                   ("qualified", "advance", 7.0, False, 1), ("offer", "advance", 10.0, False, 1)]


def test_skipped_stage_is_entered_and_advanced_at_zero_days() -> None:
    got = spells([("a", "lead", "2024-01-01"), ("a", "offer", "2024-01-05"), ("a", "lost", "2024-01-09")])
    assert got == [("lead", "advance", 4.0, False, 1), ("qualified", "advance", 0.0, True, 1),
                   ("offer", "loss", 4.0, False, 1)]
    f = estimate(ev([("a", "lead", "2024-01-01"), ("a", "offer", "2024-01-05"), ("a", "lost", "2024-01-09")]),
                 PROC, as_of="2024-03-01")
    dur = f.durations.set_index(["stage", "outcome"])
    assert dur.loc[("qualified", "advance"), "n"] == 0  # implied stays are not durations
    assert np.isnan(dur.loc[("qualified", "advance"), "median_days"])


def test_skip_to_won_from_first_stage() -> None:
    got = spells([("a", "lead", "2024-01-01"), ("a", "won", "2024-01-04")])
    assert got == [("lead", "advance", 3.0, False, 1), ("qualified", "advance", 0.0, True, 1),
                   ("offer", "advance", 0.0, True, 1)]


def test_move_back_keeps_the_furthest_stage() -> None:
    got = spells([("a", "lead", "2024-01-01"), ("a", "qualified", "2024-01-02"), ("a", "offer", "2024-01-05"),
                  ("a", "qualified", "2024-01-08"), ("a", "lost", "2024-01-15")])
    assert got == [("lead", "advance", 1.0, False, 1), ("qualified", "advance", 3.0, False, 1),
                   ("offer", "loss", 10.0, False, 1)]
    red = reduce_stage_events(ev([("a", "lead", "2024-01-01"), ("a", "offer", "2024-01-05"),
                                  ("a", "qualified", "2024-01-08")]), PROC, as_of="2024-03-01")
    assert red.issues.set_index("rule").loc["move back", "rows"] == 1


def test_reopened_deal_void_outcome() -> None:
    rows = [("a", "lead", "2024-01-01"), ("a", "lost", "2024-01-05"), ("a", "qualified", "2024-01-20")]
    got = spells(rows)
    assert got == [("lead", "advance", 19.0, False, 1), ("qualified", "open", 41.0, False, 1)]
    red = reduce_stage_events(ev(rows), PROC, as_of="2024-03-01")
    assert red.issues.set_index("rule").loc["void outcome (reopened)", "rows"] == 1


def test_duplicates_and_events_after_cut_and_row_order() -> None:
    rows = [("a", "qualified", "2024-01-03"), ("a", "lead", "2024-01-01"), ("a", "lead", "2024-01-01"),
            ("a", "offer", "2024-04-01")]
    got = spells(rows)
    assert got == [("lead", "advance", 2.0, False, 1), ("qualified", "open", 58.0, False, 1)]
    issues = reduce_stage_events(ev(rows), PROC, as_of="2024-03-01").issues.set_index("rule")["rows"]
    assert issues["duplicate event"] == 1
    assert issues["event after as_of"] == 1


def test_same_time_ties_follow_stage_order() -> None:
    got = spells([("a", "qualified", "2024-01-01"), ("a", "lead", "2024-01-01"), ("a", "lost", "2024-01-01")])
    assert got == [("lead", "advance", 0.0, False, 1), ("qualified", "loss", 0.0, False, 1)]


def test_opportunity_without_events_is_open_in_first_stage() -> None:
    opps = pd.DataFrame({"opportunity_id": ["a", "b", "late"], "process": "p",
                         "created_at": pd.to_datetime(["2024-01-01", "2024-02-10", "2024-06-01"])})
    red = reduce_stage_events(ev([("a", "lead", "2024-01-01"), ("a", "won", "2024-01-02")]), PROC, opps,
                              as_of="2024-03-01", resolution_hours=24)
    first = red.spells[red.spells["stage"] == "lead"]
    assert sorted(zip(first["outcome"], first["days"], strict=True)) == [("advance", 1.0), ("open", 20.0)]
    issues = red.issues.set_index("rule")["rows"]
    assert issues["opportunity without events"] == 1
    assert issues["opportunity created after as_of"] == 1


def test_hand_computed_rates() -> None:
    # lead: 4 entered: a adv (day 2), b lost (day 5), c open (day 3 at the cut), d adv (day 6)
    rows = [("a", "lead", "2024-01-01"), ("a", "qualified", "2024-01-03"), ("b", "lead", "2024-01-01"),
            ("b", "lost", "2024-01-06"), ("c", "lead", "2024-01-28"), ("d", "lead", "2024-01-01"),
            ("d", "qualified", "2024-01-07")]
    f = estimate(ev(rows), PROC, as_of="2024-01-31")
    lead = f.rates.set_index("stage").loc["lead"]
    assert (lead.entered, lead.advanced, lead.lost, lead.open) == (4, 2, 1, 1)
    # Aalen-Johansen: t=2 adv (4 at risk), t=3 c censored, t=5 loss (2 at risk), t=6 adv (1 at risk)
    # F_adv = 1/4 + (3/4)(1/2)(1/1) = 0.625, F_loss = (3/4)(1/2) = 0.375
    assert lead.rate == pytest.approx(0.625)
    assert lead.closed_only_rate == pytest.approx(2 / 3)
    assert lead.open_as_lost_rate == pytest.approx(0.5)
    assert lead.rate_low < lead.rate < lead.rate_high
    assert lead.alpha / (lead.alpha + lead.beta) == pytest.approx(0.625, abs=0.06)


def test_all_open_gives_nan_rate_and_full_interval(caplog) -> None:
    f = estimate(ev([("a", "lead", "2024-01-01"), ("b", "lead", "2024-01-02")]), PROC, as_of="2024-01-31")
    lead = f.rates.set_index("stage").loc["lead"]
    assert np.isnan(lead.rate) and (lead.rate_low, lead.rate_high) == (0.0, 1.0)
    assert (lead.alpha, lead.beta) == (0.5, 0.5)
    zero = f.rates.set_index("stage").loc["offer"]  # a stage nobody entered
    assert zero.entered == 0 and np.isnan(zero.rate)
    assert "all open" in caplog.text


def test_unknown_stage_is_a_schema_error() -> None:
    with pytest.raises(sp.SchemaError) as err:
        estimate(ev([("a", "lead", "2024-01-01"), ("a", "demo", "2024-01-02")]), PROC)
    assert "known_stage" in str(err.value) and "demo" in str(err.value)
    assert err.value.failure_cases["check"].eq("known_stage").all()


def test_event_before_creation_is_a_schema_error() -> None:
    opps = pd.DataFrame({"opportunity_id": ["a"], "process": "p", "created_at": pd.to_datetime(["2024-01-05"])})
    with pytest.raises(sp.SchemaError, match="after_created"):
        estimate(ev([("a", "lead", "2024-01-01")]), PROC, opps)


def test_unknown_opportunity_with_several_processes() -> None:
    other = sp.SalesProcess("q", ["x"])
    opps = pd.DataFrame({"opportunity_id": ["a"], "process": "p", "created_at": pd.to_datetime(["2024-01-01"])})
    with pytest.raises(sp.SchemaError, match="known_opportunity"):
        estimate(ev([("a", "lead", "2024-01-01"), ("zz", "x", "2024-01-02")]), {"p": PROC, "q": other}, opps)


def test_missing_column_and_no_events() -> None:
    with pytest.raises(sp.SchemaError, match="required"):
        estimate(pd.DataFrame({"opportunity_id": ["a"], "stage": ["lead"]}), PROC)
    with pytest.raises(sp.SchemaError, match="empty"):
        estimate(ev([("a", "lead", "2024-05-01")]), PROC, as_of="2024-01-01")


def test_caller_frame_unchanged() -> None:
    frame = ev([("a", "lead", "2024-01-01"), ("a", "won", "2024-01-02")])
    before = frame.copy()
    estimate(frame, PROC)
    pd.testing.assert_frame_equal(frame, before)
