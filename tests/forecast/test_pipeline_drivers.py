"""Pipeline forecast with a driver model: hand-computed shifts, simulator direction, totals, coverage, errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit, logit

from salesplan import SalesplanError, SalesProcess, SchemaError
from salesplan.datasets import simulate
from salesplan.forecast import FunnelParameters, pipeline
from salesplan.funnel import DriverModel, drivers

PROC = SalesProcess("p", ["lead", "offer"])
AS_OF = pd.Timestamp("2025-01-01")


def _funnel(n: float = 1e9) -> FunnelParameters:
    return FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, n), ("p", "offer"): (0.6, n)},
                                        advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                        loss_days={("p", "lead"): 30.0, ("p", "offer"): 30.0}, sigma=0.5)


def _model(log_odds_key: float, xbar: float) -> DriverModel:
    """A driver model on ``segment`` (reference 'standard') with a known coefficient and training mean."""
    result = SimpleNamespace(params=pd.Series([0.0, log_odds_key], index=["intercept", "segment[key]"]))
    return DriverModel(pd.DataFrame(), result, ["segment"], pd.DataFrame(), None, ["segment[key]"],
                       {"segment": ["standard", "key"]}, np.array([xbar]))


def _deals(segments: list[str], stage: str, entered: str = "2025-01-01"):
    ids = [f"o{i:04d}" for i in range(len(segments))]  # sorted ids: the forecast lists deals by id
    ev = pd.DataFrame({"opportunity_id": ids, "stage": stage, "entered_at": pd.Timestamp(entered)})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 10.0, "segment": segments,
                         "created_at": pd.Timestamp("2024-06-01")})
    return ev, opps


def _p_adv(t: float, r: float = 0.6) -> float:
    adv, loss = stats.lognorm(0.5, scale=10.0), stats.lognorm(0.5, scale=30.0)
    return r * adv.sf(t) / (r * adv.sf(t) + (1 - r) * loss.sf(t))


def test_shift_matches_hand_computation_and_keeps_timing():
    """Last stage, 5 days in it, 7-day horizon; key odds x2 against an all-standard training mix (xbar 0)."""
    ev, opps = _deals(["key"] * 400 + ["standard"] * 400, "offer", "2024-12-27")
    kwargs = dict(opportunities=opps, as_of=AS_OF, horizon="7D", include_new=False, n_draws=3000, seed=2)
    fc = pipeline(ev, _funnel(), drivers=_model(np.log(2.0), 0.0), **kwargs)
    p_stage = _p_adv(5.0)
    p_key = expit(logit(p_stage) + np.log(2.0))
    in_h = (stats.lognorm(0.5, scale=10.0).cdf(12.0) - stats.lognorm(0.5, scale=10.0).cdf(5.0)) / \
        stats.lognorm(0.5, scale=10.0).sf(5.0)  # P(advance within 7 days | advance, 5 days in stage)
    d = fc.deals.set_index("opportunity_id")
    ids = opps.groupby("segment")["opportunity_id"].apply(list)
    key, std = d.loc[ids["key"]], d.loc[ids["standard"]]
    np.testing.assert_allclose(d["p_win_stage"], p_stage, rtol=1e-9)
    np.testing.assert_allclose(key["p_win_drivers"], p_key, rtol=1e-9)
    np.testing.assert_allclose(std["p_win_drivers"], p_stage, rtol=1e-9)  # reference level, xbar 0: no shift
    np.testing.assert_allclose(key["driver_shift"], np.log(2.0))
    # the timing inside the horizon is the funnel's: win-in-horizon = eventual probability x P(in time)
    assert key["p_win"].mean() == pytest.approx(p_key * in_h, abs=0.005)
    assert std["p_win"].mean() == pytest.approx(p_stage * in_h, abs=0.005)
    assert fc.expected == pytest.approx(400 * (p_key + p_stage) * in_h, rel=0.01)
    # without drivers: the funnel's probability and none of the driver columns
    base = pipeline(ev, _funnel(), **kwargs)
    assert "p_win_drivers" not in base.deals.columns
    assert base.deals["p_win"].mean() == pytest.approx(p_stage * in_h, abs=0.005)


def test_factor_above_one_spills_to_later_stages():
    """First stage (rates 0.5 then 0.6, age 0): odds x9 gives 0.794 > 0.5, more than the first stage can carry;
    the eventual win probability still equals the driver model's and stays below 1."""
    ev, opps = _deals(["key"] * 500 + ["standard"] * 500, "lead")
    fc = pipeline(ev, _funnel(), opportunities=opps, as_of=AS_OF, horizon="3650D", freq="Y", include_new=False,
                  n_draws=2000, seed=5, drivers=_model(np.log(9.0), 0.0))
    p_stage = 0.5 * 0.6  # age 0: both survival functions are 1
    p_key = expit(logit(p_stage) + np.log(9.0))
    d = fc.deals
    key = d[opps["segment"].eq("key").to_numpy()]
    assert p_key == pytest.approx(0.794, abs=0.001)
    np.testing.assert_allclose(key["p_win_drivers"], p_key)
    assert key["p_win"].mean() == pytest.approx(p_key, abs=0.005)  # 10-year horizon: all wins land inside
    assert d.loc[~opps["segment"].eq("key").to_numpy(), "p_win"].mean() == pytest.approx(p_stage, abs=0.005)
    assert d["p_win"].between(0, 1).all()


def test_balanced_mix_keeps_total_and_rate_uncertainty_is_shared():
    """Half key, half standard, trained on the same mix (xbar 0.5): the shifts cancel up to the curvature of the
    logistic; with a Beta(60, 40) offer rate the spread stays beta-binomial-like (far above binomial)."""
    segs = ["key", "standard"] * 200
    ev, opps = _deals(segs, "offer")
    kwargs = dict(opportunities=opps, as_of=AS_OF, horizon="3650D", freq="Y", include_new=False, n_draws=4000, seed=1)
    shifted = pipeline(ev, _funnel(100), drivers=_model(np.log(6.0), 0.5), **kwargs)
    plain = pipeline(ev, _funnel(100), **kwargs)
    s = np.log(6.0) / 2
    p_key, p_std = expit(logit(0.6) + s), expit(logit(0.6) - s)  # 0.786 and 0.380
    key = np.array(segs) == "key"
    assert shifted.deals.loc[key, "p_win"].mean() == pytest.approx(p_key, abs=0.01)
    assert shifted.deals.loc[~key, "p_win"].mean() == pytest.approx(p_std, abs=0.01)
    assert shifted.expected == pytest.approx(200 * (p_key + p_std), rel=0.01)  # 2.8% below 240: curvature
    assert shifted.expected == pytest.approx(plain.expected, rel=0.04)
    x = shifted.samples("pipeline")
    # shared rate: var >= n^2 var(rate) (the Beta(60, 40) variance), several times the binomial 400 p (1 - p)
    assert x.var() > 0.8 * 400**2 * stats.beta(60, 40).var()
    assert x.var() > 3 * 400 * 0.6 * 0.4


def test_simulator_key_accounts_win_more_and_totals_stay_close():
    data, _ = simulate(n_customers=80, years=1, seed=8, creation_scale=2)
    model = drivers(data.stage_events, data.processes, data.opportunities, attributes=["segment"])
    assert model.odds_ratios.loc["segment[key]", "low"] > 1
    fc = pipeline(data, model.funnel, horizon="30D", include_new=False, n_draws=1000, seed=3, drivers=model)
    plain = pipeline(data, model.funnel, horizon="30D", include_new=False, n_draws=1000, seed=3)
    d = fc.deals.merge(data.opportunities[["opportunity_id", "segment"]], on="opportunity_id")
    key = d["segment"] == "key"
    # same stage and age, higher probability: the eventual and the in-horizon probability move the same way
    assert ((d["p_win_drivers"] > d["p_win_stage"]) == key).all()
    base = plain.deals.set_index("opportunity_id")["p_win"].reindex(d["opportunity_id"]).to_numpy()
    assert d.loc[key.to_numpy(), "p_win"].sum() > base[key.to_numpy()].sum() * 1.1
    assert d.loc[~key.to_numpy(), "p_win"].sum() < base[~key.to_numpy()].sum()
    # the ratio of in-horizon to eventual probability (the timing) is the funnel's, to Monte Carlo error
    ratio_drv = (d["p_win"] / d["p_win_drivers"]).to_numpy()
    ratio_plain = base / d["p_win_stage"].to_numpy()
    ok = d["p_win_stage"].to_numpy() > 0.2
    assert np.mean(ratio_drv[ok] - ratio_plain[ok]) == pytest.approx(0, abs=0.03)
    assert fc.expected == pytest.approx(plain.expected, rel=0.05)


@pytest.mark.slow
def test_simulator_coverage_with_drivers():
    """80% interval of the open-pipeline forecast with a driver model on segment against the realised wins of the
    next 30 days (truth.latent_events), 15 simulated companies."""
    covered, per_process, gaps = [], [], []
    for seed in range(15):
        data, truth = simulate(n_customers=20, years=1.25, seed=seed)
        model = drivers(data.stage_events, data.processes, data.opportunities, attributes=["segment"],
                        as_of=data.as_of)
        fc = pipeline(data, model.funnel, horizon="30D", include_new=False, n_draws=1000, seed=seed, drivers=model)
        ev = truth.latent_events.merge(data.opportunities[["opportunity_id", "process"]], on="opportunity_id")
        won = ev[(ev["stage"] == "won") & (ev["entered_at"] > data.as_of)
                 & (ev["entered_at"] <= data.as_of + pd.Timedelta(days=30))]
        lo, hi = fc.interval(0.8, component="pipeline")
        covered.append(lo <= len(won) <= hi)
        gaps.append(fc.expected - len(won))
        for proc in fc.processes:
            plo, phi = fc.interval(0.8, component="pipeline", process=proc)
            per_process.append(plo <= (won["process"] == proc).sum() <= phi)
    # 15 seeds: 80% coverage gives 12 +- 1.5 covered; 70-90% on the ~75 (seed, process) cases
    assert 0.6 <= np.mean(covered) <= 0.95
    assert 0.70 <= np.mean(per_process) <= 0.95
    assert abs(np.mean(gaps)) < 1.5  # about 20 wins per window


def test_missing_driver_attribute_is_a_schema_error_naming_the_column():
    ev, opps = _deals(["key", "standard"], "offer")
    with pytest.raises(SchemaError, match="segment") as info:
        pipeline(ev, _funnel(), opportunities=opps.drop(columns="segment"), as_of=AS_OF, horizon="30D",
                 include_new=False, n_draws=200, drivers=_model(1.0, 0.5))
    assert list(info.value.failure_cases["column"]) == ["segment"]
    assert isinstance(info.value, SalesplanError)
    with pytest.raises(SalesplanError, match="DriverModel"):
        pipeline(ev, _funnel(), opportunities=opps, as_of=AS_OF, horizon="30D", include_new=False, n_draws=200,
                 drivers="segment")


def test_customer_attribute_is_joined_from_sales_data():
    data, _ = simulate(n_customers=40, years=1, seed=4)
    model = drivers(data.stage_events, data.processes, data.opportunities, attributes=["size"],
                    customers=data.customers)
    fc = pipeline(data, model.funnel, horizon="30D", include_new=False, n_draws=200, drivers=model)
    sizes = fc.deals.merge(data.opportunities[["opportunity_id", "customer_id"]], on="opportunity_id").merge(
        data.customers[["customer_id", "size"]], on="customer_id")
    # the same size gets the same shift; sizes differ
    assert sizes.groupby("size")["driver_shift"].nunique().max() == 1
    assert sizes["driver_shift"].nunique() > 1
    with pytest.raises(SchemaError, match="size"):
        pipeline(data.stage_events, model.funnel, opportunities=data.opportunities, horizon="30D", include_new=False,
                 n_draws=200, drivers=model)
