"""Values of the snapshot funnel, the stay curve of a fitted funnel and the lead-time pmf, on hand-worked data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from salesplan import ConfigError, SalesProcess, SchemaError
from salesplan.funnel import estimate, snapshot_funnel
from salesplan.plan._inputs import funnel_view
from salesplan.plan.schedule import lead_time_pmf

SNAP = pd.DataFrame({
    "deal_stage": ["Won", "Lost", "Engaging", "Prospecting", "Won", "Lost"],
    "engage_date": ["2024-01-01", "2024-01-01", "2024-01-05", None, "2024-01-02", "2024-01-10"],
    "close_date": ["2024-01-11", "2024-01-21", None, None, "2024-01-30", "2024-01-15"],
})


def test_snapshot_funnel_counts_rates_and_censored_win_probability() -> None:
    s = snapshot_funnel(SNAP, stages=["Prospecting", "Engaging"], stage="deal_stage", won="Won", lost="Lost",
                        entered="engage_date", closed="close_date", confidence=0.9)
    assert s.stage_counts["stage"].tolist() == ["Prospecting", "Engaging", "Won", "Lost"]
    assert s.stage_counts["deals"].tolist() == [1, 1, 2, 2]
    np.testing.assert_allclose(s.stage_counts["share"], [1 / 6, 1 / 6, 2 / 6, 2 / 6])
    w = s.win_rate
    assert w.loc["closed_only", "win_rate"] == 0.5 and w.loc["closed_only", "n"] == 4
    assert w.loc["open_as_lost", "win_rate"] == pytest.approx(2 / 6) and w.loc["open_as_lost", "n"] == 6
    for method, (won, n) in {"closed_only": (2, 4), "open_as_lost": (2, 6)}.items():
        lo, hi = proportion_confint(won, n, alpha=0.1, method="wilson")
        assert (w.loc[method, "win_rate_low"], w.loc[method, "win_rate_high"]) == pytest.approx((lo, hi))
    # dated stays (days from engage to close, the open deal censored at the latest date, 2024-01-30):
    # lost 5, won 10, lost 20, open 25, won 28. Aalen-Johansen: F2 = 1/5 + (3/5)(1/3) = 2/5,
    # F1 = (4/5)(1/4) + (2/5)(1/1) = 3/5; everyone resolved by day 28, so the rate is 3/5.
    cens = w.loc["censored_from_Engaging"]
    assert cens["win_rate"] == pytest.approx(0.6) and cens["n"] == 5
    assert cens["win_rate_low"] < 0.6 < cens["win_rate_high"]
    assert s.as_of == pd.Timestamp("2024-01-30")
    ttc = s.time_to_close.set_index("outcome")
    # wins: 1/3 of F1 on day 10, 2/3 on day 28; losses: half on day 5, half on day 20
    assert ttc.loc["won", ["q25_days", "median_days", "q75_days"]].tolist() == [10.0, 28.0, 28.0]
    assert ttc.loc["lost", ["q25_days", "median_days", "q75_days"]].tolist() == [5.0, 5.0, 20.0]
    assert ttc["n"].tolist() == [2, 2]
    with pytest.raises(SchemaError):
        snapshot_funnel(SNAP.assign(deal_stage="Nope"), stages=["Prospecting", "Engaging"], stage="deal_stage",
                        won="Won", lost="Lost")


PROC = SalesProcess("p", ["lead", "offer"])
START = pd.Timestamp("2024-01-01")


def _events() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four deals enter ``lead`` on day 0: d1 advances on day 2, d2 is lost on day 5, d3 advances on day 5,
    d4 is still open at the cut (day 30). In ``offer``: d1 is won on day 12 (10 days), d3 on day 9 (4 days)."""
    rows = [("d1", "lead", 0), ("d1", "offer", 2), ("d1", "won", 12), ("d2", "lead", 0), ("d2", "lost", 5),
            ("d3", "lead", 0), ("d3", "offer", 5), ("d3", "won", 9), ("d4", "lead", 0)]
    ev = pd.DataFrame({"opportunity_id": [r[0] for r in rows], "stage": [r[1] for r in rows],
                       "entered_at": [START + pd.Timedelta(days=r[2]) for r in rows]})
    opps = pd.DataFrame({"opportunity_id": ["d1", "d2", "d3", "d4"], "customer_id": ["c1", "c2", "c3", "c4"],
                         "process": "p", "created_at": START})
    return ev, opps


def test_stay_curve_of_a_stage() -> None:
    ev, opps = _events()
    f = estimate(ev, {"p": PROC}, opps, as_of=START + pd.Timedelta(days=30))
    c = f.stay_curve("p", "lead")
    # at risk 4 on day 2 (1 advance), 3 on day 5 (1 advance, 1 loss); d4 open
    assert c["days"].tolist() == [0.0, 2.0, 5.0]
    np.testing.assert_allclose(c["still_in_stage"], [1.0, 0.75, 0.25])
    np.testing.assert_allclose(c["advanced"], [0.0, 0.25, 0.5])
    np.testing.assert_allclose(c["lost"], [0.0, 0.0, 0.25])
    offer = f.stay_curve("p", "offer")
    assert offer["days"].tolist() == [0.0, 4.0, 10.0]
    np.testing.assert_allclose(offer["advanced"], [0.0, 0.5, 1.0])
    with pytest.raises(ConfigError):  # no by= columns: a group is a mistake, not an empty curve
        f.stay_curve("p", "lead", group="nope")


def test_lead_time_pmf_from_a_fitted_funnel_and_from_durations() -> None:
    ev, opps = _events()
    f = estimate(ev, {"p": PROC}, opps, as_of=START + pd.Timedelta(days=30))
    view = funnel_view(f)
    pmf = lead_time_pmf(view, "p", "offer", max_days=30)
    # from offer: half the wins after 4 days, half after 10
    assert len(pmf) == 31 and pmf.sum() == pytest.approx(1.0)
    assert np.flatnonzero(pmf).tolist() == [4, 10] and pmf[[4, 10]].tolist() == pytest.approx([0.5, 0.5])
    # from lead: d1 won 12 days after entering lead, d3 after 9; the open deal does not shift the timing
    lead = lead_time_pmf(view, "p", "lead", max_days=30)
    assert np.flatnonzero(lead).tolist() == [9, 12] and lead[[9, 12]].tolist() == pytest.approx([0.5, 0.5])
    # given durations: one point mass at their sum
    fixed = lead_time_pmf(view, "p", "lead", durations={"lead": 3, "offer": 4.4})
    assert len(fixed) == 8 and fixed[-1] == 1.0 and fixed[:-1].sum() == 0.0


def test_driver_odds_ratio_is_the_cross_product_ratio() -> None:
    """One binary attribute: the logistic MLE odds ratio is (a d) / (b c) of the 2x2 table and its Wald standard
    error on the log scale sqrt(1/a + 1/b + 1/c + 1/d) (e.g. Agresti 2013, sec. 5.3)."""
    from scipy import stats

    from salesplan.funnel import drivers

    cells = {("key", "won"): 12, ("key", "lost"): 8, ("small", "won"): 10, ("small", "lost"): 30}
    rows, ev = [], []
    for (seg, outcome), n in cells.items():
        for i in range(n):
            oid = f"{seg}-{outcome}-{i}"
            rows.append({"opportunity_id": oid, "customer_id": oid, "process": "p", "created_at": START,
                         "segment": seg})
            ev += [(oid, "lead", START), (oid, outcome, START + pd.Timedelta(days=5 + i % 7))]
    rows.append({"opportunity_id": "open", "customer_id": "o", "process": "p", "created_at": START,
                 "segment": "key"})
    ev.append(("open", "lead", START))
    events = pd.DataFrame(ev, columns=["opportunity_id", "stage", "entered_at"])
    m = drivers(events, {"p": SalesProcess("p", ["lead"])}, pd.DataFrame(rows), attributes=["segment"],
                as_of=START + pd.Timedelta(days=40), confidence=0.9)
    o = m.odds_ratios
    assert list(o.index) == ["intercept", "segment[key]"]  # the most frequent level is the reference
    log_or, se = np.log(12 * 30 / (8 * 10)), np.sqrt(1 / 12 + 1 / 8 + 1 / 10 + 1 / 30)
    z = stats.norm.ppf(0.95)
    assert o.loc["segment[key]", "odds_ratio"] == pytest.approx(4.5, rel=1e-6)
    assert o.loc["segment[key]", "low"] == pytest.approx(np.exp(log_or - z * se), rel=1e-5)
    assert o.loc["segment[key]", "high"] == pytest.approx(np.exp(log_or + z * se), rel=1e-5)
    assert o.loc["segment[key]", "p_value"] == pytest.approx(2 * stats.norm.sf(log_or / se), rel=1e-4)
    assert o.loc["intercept", "odds_ratio"] == pytest.approx(10 / 30, rel=1e-6)  # odds of the reference level
    assert len(m.open_deals) == 1 and 0 < m.open_deals["p_win"].iloc[0] < 1


def test_drivers_a_deal_older_than_every_outcome_is_not_scored_as_new() -> None:
    """Wins come after 5-9 days, losses after 20-38: a deal open 60 days (older than every outcome of its stage)
    is almost surely a future loss. It used to fall back to the stage's overall rate (0.5), as if it had just
    entered; it gets the parametric tail's chance now, and a 2-day-old deal keeps about the overall rate."""
    from salesplan.funnel import drivers

    rows, ev = [], []
    for i in range(40):
        oid, won = f"d{i}", i % 2 == 0
        rows.append({"opportunity_id": oid, "customer_id": oid, "process": "p", "created_at": START,
                     "segment": "a" if i % 4 < 2 else "b"})
        ev += [(oid, "lead", START), (oid, "won" if won else "lost",
                                      START + pd.Timedelta(days=(5 + i % 5) if won else (20 + i % 19)))]
    for oid, age in (("old", 60), ("young", 2)):
        rows.append({"opportunity_id": oid, "customer_id": oid, "process": "p",
                     "created_at": START + pd.Timedelta(days=60 - age), "segment": "a"})
        ev.append((oid, "lead", START + pd.Timedelta(days=60 - age)))
    events = pd.DataFrame(ev, columns=["opportunity_id", "stage", "entered_at"])
    m = drivers(events, {"p": SalesProcess("p", ["lead"])}, pd.DataFrame(rows), attributes=["segment"],
                as_of=START + pd.Timedelta(days=60))
    p = m.open_deals.set_index("opportunity_id")["p_win_base"]
    assert p["old"] < 0.05, p
    assert 0.4 < p["young"] < 0.6, p
