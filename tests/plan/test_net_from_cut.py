"""Issue 17 (1, 2): a plan net of the open pipeline, and a schedule that starts at the cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import salesplan as sp
from salesplan import PlanInputError
from salesplan.forecast.pipeline import FunnelParameters, pipeline
from salesplan.plan import backward
from salesplan.plan.netting import net_entries

PROC = sp.SalesProcess("p", ["lead", "offer"])
CUT = pd.Timestamp("2026-01-01")


def _params(rate_lead: float, rate_offer: float, n: float = 1e7, days: float = 5.0) -> FunnelParameters:
    return FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (rate_lead, n),
                                                            ("p", "offer"): (rate_offer, n)},
                                        advance_days={("p", "lead"): days, ("p", "offer"): days},
                                        loss_days={("p", "lead"): days, ("p", "offer"): days}, sigma=0.1)


def _deals(n: int, stage: str = "offer") -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"o{i:03d}" for i in range(n)]
    ev = pd.DataFrame({"opportunity_id": ids, "stage": stage, "entered_at": CUT - pd.Timedelta(days=1)})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 100.0,
                         "created_at": CUT - pd.Timedelta(days=2)})
    return ev, opps


def _forecast(params: FunnelParameters, n_open: int, seed: int = 3) -> object:
    ev, opps = _deals(n_open)
    if n_open == 0:  # one closed deal so the tables are not empty
        ev = pd.DataFrame({"opportunity_id": ["z"], "stage": ["lost"], "entered_at": [CUT - pd.Timedelta(days=1)]})
        opps = pd.DataFrame({"opportunity_id": ["z"], "process": "p", "amount": 1.0,
                             "created_at": [CUT - pd.Timedelta(days=3)]})
    return pipeline(ev, params, opportunities=opps, as_of=CUT, horizon=pd.DateOffset(months=3), freq="M",
                    include_new=False, n_draws=1000, seed=seed)


def _targets(contracts: int, period: str = "2026-02") -> pd.DataFrame:
    return pd.DataFrame({"process": ["p"], "period": [period], "contracts": [contracts]})


def test_pipeline_alone_reaching_the_target_needs_no_new_entries() -> None:
    params = _params(0.5, 0.999999)  # open deals in the last stage are won for sure, within days
    plan = backward(_targets(3, "2026-01"), params.rates.assign(segment="all")[["process", "stage", "rate"]],
                    processes={"p": PROC}, durations={"p": {"lead": 5, "offer": 5}})
    net = plan.net_of(_forecast(params, 10))
    first = net.volumes.set_index("stage")
    assert first.loc["lead", "open_contracts"] == pytest.approx(10.0)
    assert first["required_entries"].tolist() == [0, 0]
    assert first.loc["lead", "gross_required_entries"] > 0
    assert first.loc["lead", "open_contracts_probability"] == 1.0


def test_empty_pipeline_equals_todays_plan() -> None:
    params = _params(0.5, 0.4, n=40)
    rates = pd.DataFrame({"process": "p", "stage": ["lead", "offer"], "alpha": [20.0, 16.0], "beta": [20.0, 24.0]})
    plan = backward(_targets(6), rates, processes={"p": PROC})
    net = plan.net_of(_forecast(params, 0))
    cols = ["expected_entries", "required_entries", "probability", "method"]
    pd.testing.assert_frame_equal(net.volumes[cols], plan.volumes[cols])
    assert (net.volumes["open_contracts"] == 0).all()


def test_netting_with_known_rates_matches_hand_convolution() -> None:
    # rates known (huge n): open wins ~ Binomial(20, 0.4) independent of new entries; exact answer by convolution
    params = _params(0.5, 0.4)
    fc = _forecast(params, 20, seed=5)
    x, q, target = 12, 0.2, 0.8
    wins = fc.group_draws[("p",)][:, 1]  # February (month index 1): nothing, open deals close in January
    jan = fc.group_draws[("p",)][:, 0]
    assert wins.sum() == 0 and jan.mean() == pytest.approx(8.0, abs=0.5)
    draws = jan[None, :]
    n, prob = net_entries(np.array([x]), draws, np.full((1, draws.shape[1]), q), target)
    pmf_open = stats.binom.pmf(np.arange(21), 20, 0.4)

    def exact(m: int) -> float:
        return float(sum(pmf_open[w] * stats.binom.sf(x - w - 1, m, q) for w in range(21)))

    n_exact = next(m for m in range(200) if exact(m) >= target)
    assert abs(int(n[0]) - n_exact) <= 2  # Monte Carlo error of 1000 draws of the open wins
    assert prob[0] >= target


def test_open_and_new_share_the_rate_draw() -> None:
    # uncertain offer rate: with a shared draw the pipeline and the new entries fail together, so more entries are
    # needed than if the new entries' rate were drawn independently of the pipeline's
    params = _params(0.5, 0.4, n=30)
    fc = _forecast(params, 30, seed=2)
    wins = fc.group_draws[("p",)][:, 0][None, :].astype(float)
    q_shared = fc.rate_draws[("p",)].prod(axis=1)[None, :]
    rng = np.random.default_rng(0)
    q_indep = rng.permutation(q_shared[0])[None, :]
    n_shared, _ = net_entries(np.array([25]), wins, q_shared, 0.8)
    n_indep, _ = net_entries(np.array([25]), wins, q_indep, 0.8)
    assert int(n_shared[0]) > int(n_indep[0])


def test_netting_on_the_simulator() -> None:
    data, _ = sp.datasets.simulate(n_customers=120, years=2, seed=4)
    funnel = sp.funnel.estimate(data, as_of=data.as_of)
    targets = pd.DataFrame({"process": ["acquisition", "acquisition"], "period": ["2025-01", "2025-02"],
                            "contracts": [3, 3]})
    plan = backward(targets, funnel, 0.8, processes=data.processes)
    fc = pipeline(data, funnel, as_of=data.as_of, horizon=pd.DateOffset(months=2), freq="M", include_new=False,
                  n_draws=800, seed=1)
    net = plan.net_of(fc)
    vol = net.volumes
    # open contracts are the forecast's open-deal wins per period (the same draws)
    for period, col in (("2025-01", 0), ("2025-02", 1)):
        mine = vol[vol["period"] == period]
        assert mine["open_contracts"].iloc[0] == pytest.approx(fc.draws["pipeline"][:, 0, col].mean())
        assert (mine["open_contracts"] + mine["new_contracts"]).iloc[0] == pytest.approx(3.0)
    assert (vol["required_entries"] <= vol["gross_required_entries"]).all()
    assert (vol["probability"] >= 0.8).all()
    assert net.as_of == data.as_of


def test_forecast_not_covering_the_period_is_refused() -> None:
    params = _params(0.5, 0.4)
    plan = backward(_targets(3, "2026-06"), {"p": {"lead": 0.5, "offer": 0.4}}, processes={"p": PROC})
    with pytest.raises(PlanInputError, match="before the end of target period '2026-06'"):
        plan.net_of(_forecast(params, 2))


def _timed_plan(period: str = "2026-03", contracts: int = 10) -> object:
    return backward(_targets(contracts, period), {"p": {"lead": 0.5, "offer": 0.5}}, processes={"p": PROC},
                    durations={"p": {"lead": 30, "offer": 14}}, activity_ratios={"p": {"lead": {"calls": 2.0}}})


@pytest.mark.parametrize("freq", ["W", "M"])
def test_catch_up_plus_scheduled_equals_unconstrained(freq: str) -> None:
    plan = _timed_plan()
    cut = pd.Timestamp("2026-02-01")
    free = plan.schedule(freq)
    cut_sched = plan.schedule(freq, as_of=cut)
    keys = ["stage", "item"]
    a = free.groupby(keys)[["expected", "required"]].sum()
    b = cut_sched.groupby(keys)[["expected", "required"]].sum()
    pd.testing.assert_frame_equal(a, b)
    bucket_start = cut.to_period("W-SUN" if freq == "W" else "M").start_time
    assert (cut_sched["start"] >= bucket_start).all()
    assert (free["start"] < bucket_start).any()
    catch = cut_sched[cut_sched["catch_up"]]
    assert set(catch["start"]) == {bucket_start}
    # leads are entered 44 days before landing: March 1-31 landings -> entries Jan 16 - Feb 16; 16 of 31 days
    # fall before the cut, so 16/31 of the 10 contracts depend on catch-up work
    lead = catch[(catch["stage"] == "lead") & (catch["item"] == "entries")]
    assert lead["shortfall_contracts"].iloc[0] == pytest.approx(10 * 16 / 31)
    assert lead["expected"].iloc[0] == pytest.approx(40 * 16 / 31)


def test_target_that_can_no_longer_be_reached_says_so() -> None:
    plan = _timed_plan("2026-02", 10)
    late = plan.reachability(as_of="2026-02-10")  # leads need 44 days: none entered now lands in February
    lead = late.set_index("stage").loc["lead"]
    assert not lead["reachable"]
    assert np.isnan(lead["catch_up_entries"])
    assert 0 <= lead["best_probability"] < 0.8
    early = plan.reachability(as_of="2026-01-01")  # 44 days before Feb 14: catch-up work can still land
    row = early.set_index("stage").loc["lead"]
    assert row["reachable"] and row["catch_up_share"] > 0
    assert row["catch_up_entries"] >= row["catch_up_share"] * 40
