"""Pipeline forecast: hand-computed probabilities, rate uncertainty, new opportunities, simulator coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan import ConfigError, SalesplanError, SalesProcess, SchemaError
from salesplan.forecast import FunnelParameters, pipeline
from salesplan.funnel import estimate

PROC = SalesProcess("p", ["lead", "offer"])
AS_OF = pd.Timestamp("2025-01-01")


def _deals(n: int, stage: str, entered: str, created: str = "2024-06-01"):
    ids = [f"o{i}" for i in range(n)]
    ev = pd.DataFrame({"opportunity_id": ids, "stage": stage, "entered_at": pd.Timestamp(entered)})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 100.0,
                         "created_at": pd.Timestamp(created)})
    return ev, opps


def _funnel(rate_offer=0.6, n=1e7, adv=10.0, loss=30.0, sigma=0.5, rate_lead=0.5):
    return FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (rate_lead, n), ("p", "offer"): (rate_offer, n)},
                                        advance_days={("p", "lead"): adv, ("p", "offer"): adv},
                                        loss_days={("p", "lead"): loss, ("p", "offer"): loss}, sigma=sigma)


def test_probability_given_time_in_stage_matches_formula():
    ev, opps = _deals(300, "offer", "2024-12-27")  # 5 days in the last stage
    fc = pipeline(ev, _funnel(), opportunities=opps, as_of=AS_OF, horizon="7D", include_new=False, n_draws=3000,
                  seed=4)
    adv, loss = stats.lognorm(0.5, scale=10.0), stats.lognorm(0.5, scale=30.0)
    t, h, r = 5.0, 7.0, 0.6
    p_adv = r * adv.sf(t) / (r * adv.sf(t) + (1 - r) * loss.sf(t))
    p_win = p_adv * (adv.cdf(t + h) - adv.cdf(t)) / adv.sf(t)
    np.testing.assert_allclose(fc.deals["p_advance_now"], p_adv, rtol=1e-9)
    assert fc.deals["p_win"].mean() == pytest.approx(p_win, abs=0.004)
    assert fc.expected == pytest.approx(300 * p_win, rel=0.01)
    # per-period probabilities add up to the window probability
    per = fc.deals.filter(like="p_20").sum(axis=1)
    np.testing.assert_allclose(per, fc.deals["p_win"])
    assert fc.periods == ["2025-01"]
    summ = fc.summary().query("process == '(all)' and period == '(window)'").iloc[0]
    assert summ["revenue"] == pytest.approx(100 * summ["contracts"])


def test_rate_uncertainty_is_shared_across_deals():
    """Fixed rate: binomial spread; Beta(6, 4) rate shared by all deals: beta-binomial spread (far wider)."""
    n = 200
    ev, opps = _deals(n, "offer", "2025-01-01")
    kwargs = dict(opportunities=opps, as_of=AS_OF, horizon="3650D", freq="Y", include_new=False, n_draws=4000, seed=1)
    fixed = pipeline(ev, _funnel(0.6, 1e9), **kwargs)
    shared = pipeline(ev, _funnel(0.6, 10), **kwargs)
    x_fixed = fixed.samples("pipeline")
    x_shared = shared.samples("pipeline")
    assert x_fixed.mean() == pytest.approx(120, abs=0.5)
    assert x_fixed.var() == pytest.approx(stats.binom(n, 0.6).var(), rel=0.1)
    assert x_shared.var() == pytest.approx(stats.betabinom(n, 6, 4).var(), rel=0.1)
    lo, hi = shared.interval(0.8)
    assert (lo, hi) == pytest.approx(stats.betabinom(n, 6, 4).ppf([0.1, 0.9]), abs=3)


def test_new_opportunities_are_a_separate_component():
    # 200 opportunities created over the 100 days before as_of, none open: the creation rate is 2 per day
    created = pd.Timestamp("2024-09-23") + pd.to_timedelta(np.linspace(0.1, 99.9, 200), unit="D")
    ids = [f"o{i}" for i in range(200)]
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 50.0, "created_at": created})
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "lost", "entered_at": created})
    fun = _funnel(rate_offer=1.0 - 1e-9, adv=0.01, rate_lead=0.5)
    fc = pipeline(ev, fun, opportunities=opps, as_of=AS_OF, horizon="100D", creation_window=100, n_draws=2000, seed=3)
    window = 100 - 0.1  # days from the first creation to as_of
    assert fc.creation["per_day"].iloc[0] == pytest.approx(200 / window)
    assert fc.interval(component="pipeline") == (0.0, 0.0)
    new = fc.samples("new")
    # Gamma(200.5, rate=99.9) per day x 100 days x win rate 0.5
    assert new.mean() == pytest.approx(200.5 / window * 100 * 0.5, rel=0.03)
    assert fc.expected == pytest.approx(new.mean())
    assert set(fc.summary()["component"]) == {"pipeline", "new", "total"}


def test_bad_input_errors():
    ev, opps = _deals(3, "offer", "2024-12-01")
    f = _funnel()
    with pytest.raises(ConfigError, match="before the data"):
        pipeline(ev, f, opportunities=opps, as_of="2020-01-01")
    with pytest.raises(ConfigError, match="horizon"):
        pipeline(ev, f, opportunities=opps, as_of=AS_OF, horizon="0D")
    with pytest.raises(SchemaError, match="opportunities"):
        pipeline(ev, f, as_of=AS_OF)
    fc = pipeline(ev, f, opportunities=opps, as_of=AS_OF, horizon="30D", n_draws=200)
    with pytest.raises(ConfigError, match="component"):
        fc.interval(0.8, component="nope")
    with pytest.raises(ConfigError, match="period"):
        fc.interval(0.8, period="1999-01")
    assert issubclass(ConfigError, SalesplanError)


@pytest.mark.slow
def test_simulator_coverage_of_next_period_wins():
    """80% interval of the open-pipeline forecast (funnel estimated on the data) against the realised wins of
    the next 30 days (truth.latent_events), over 30 simulated companies."""
    from salesplan.datasets import simulate

    covered, per_process, mean_gap = [], [], []
    for seed in range(30):
        data, truth = simulate(n_customers=10, years=1.25, seed=seed)
        funnel = estimate(data.stage_events, data.processes, opportunities=data.opportunities, as_of=data.as_of)
        fc = pipeline(data, funnel, horizon="30D", include_new=False, n_draws=1000, seed=seed)
        ev = truth.latent_events.merge(data.opportunities[["opportunity_id", "process"]], on="opportunity_id")
        won = ev[(ev["stage"] == "won") & (ev["entered_at"] > data.as_of)
                 & (ev["entered_at"] <= data.as_of + pd.Timedelta(days=30))]
        lo, hi = fc.interval(0.8, component="pipeline")
        covered.append(lo <= len(won) <= hi)
        mean_gap.append(fc.expected - len(won))
        for proc in fc.processes:
            plo, phi = fc.interval(0.8, component="pipeline", process=proc)
            per_process.append(plo <= (won["process"] == proc).sum() <= phi)
    assert 0.70 <= np.mean(covered) <= 0.90
    assert 0.70 <= np.mean(per_process) <= 0.95  # small counts: discrete intervals cover a little more
    assert abs(np.mean(mean_gap)) < 1.0  # unbiased on average (15-16 wins per window)
