"""BG/NBD and Gamma-Gamma: published CDNOW estimates, simulator truth, predictions, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan import ConvergenceError, NotFittedError, SchemaError
from salesplan.datasets import CLV_PARAMS, simulate
from salesplan.reduce.customers import customer_summary
from salesplan.segment import (
    BetaGeo,
    GammaGamma,
    calibration_holdout,
    customer_lifetime_value,
    holdout_comparison,
    sample_bgnbd,
    summary_patterns,
)

BG_PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG_PUBLISHED = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "cdnow" / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def world():
    return simulate(n_customers=3000, years=3, seed=11, n_prospects=0)


def test_bgnbd_cdnow_published(cdnow: pd.DataFrame) -> None:
    bg = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    for name, value in BG_PUBLISHED.items():
        assert bg.params_[name] == pytest.approx(value, rel=0.005), name
    s = bg.summary()
    assert list(s.columns) == ["estimate", "se", "lower", "upper"]
    assert (s["lower"] < s["estimate"]).all() and (s["estimate"] < s["upper"]).all()
    # r is well determined: its standard error is small (about 0.0126 in this data)
    assert s.loc["r", "se"] == pytest.approx(0.0126, abs=0.002)
    assert s.attrs["n"] == 2357
    assert isinstance(bg.params_, pd.Series)
    assert "BG/NBD" in bg._repr_html_()


def test_weighted_patterns_equal_full_data(cdnow: pd.DataFrame) -> None:
    full = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    pat = summary_patterns(cdnow)
    assert len(pat) < len(cdnow)
    weighted = BetaGeo().fit(pat["frequency"], pat["recency"], pat["T"], weights=pat["weight"])
    np.testing.assert_allclose(weighted.params_, full.params_, rtol=1e-5)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-9)


def test_gamma_gamma_cdnow_published(shared_data) -> None:
    d = pd.read_csv(shared_data / "cdnow" / "cdnow_customers_summary_with_transactions.csv")
    gg = GammaGamma().fit(d["x"], d["zbar"])  # one-time buyers are skipped
    assert gg.n_skipped_ == (d["x"] == 0).sum()
    for name, value in GG_PUBLISHED.items():
        assert gg.params_[name] == pytest.approx(value, rel=0.01), name
    repeat = d[d["x"] > 0]
    # mean of the conditional expectations is close to the observed mean spend (about 35)
    assert gg.expected_spend(repeat["x"], repeat["zbar"]).mean() == pytest.approx(repeat["zbar"].mean(), rel=0.05)


def test_predictions_match_published_formulas() -> None:
    bg, gg = BetaGeo(), GammaGamma()
    bg.params_ = pd.Series(BG_PUBLISHED)
    gg.params_ = pd.Series(GG_PUBLISHED)
    # values computed with lifetimes 0.11.3 for the same parameters
    assert bg.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.22602817, rel=1e-6)
    assert bg.probability_alive(2, 30.43, 38.86)[0] == pytest.approx(0.72657857, rel=1e-6)
    assert bg.expected_purchases_new(39)[0] == pytest.approx(1.19672319, rel=1e-6)
    assert bg.probability_alive(0, 0, 38.86)[0] == 1.0
    clv = customer_lifetime_value(bg, gg, [0, 2], [0, 30.43], [38.86, 38.86], [0, 22.35], n_steps=12, step=4.345)
    np.testing.assert_allclose(clv, [8.369004, 36.289211], rtol=1e-6)
    # expected purchases grow with the horizon and are bounded by the unconditional count for x = 0
    h = np.array([1.0, 10, 50, 100])
    e = bg.expected_purchases(h, 1, 20.0, 38.0)
    assert np.all(np.diff(e) > 0)


def test_recovers_truth_from_bgnbd_draws() -> None:
    truth = {k: CLV_PARAMS[k] for k in ("r", "alpha", "a", "b")}
    rng = np.random.default_rng(8)
    x, tx, t = sample_bgnbd(8000, truth, T=rng.uniform(30, 156, 8000), seed=8)
    s = BetaGeo().fit(x, tx, t).summary()
    z = (s["estimate"] - pd.Series(truth)) / s["se"]
    assert (z.abs() < 3.5).all(), z.to_dict()


def test_gamma_gamma_recovers_simulator_truth(world) -> None:
    data, truth = world
    s = customer_summary(data.orders, as_of=data.as_of, time_unit="D", period_length=7)
    summ = GammaGamma().fit(s["frequency"], s["monetary_value"]).summary()
    for name in ("p", "q", "v"):
        assert summ.loc[name, "lower"] <= truth.clv_params[name] <= summ.loc[name, "upper"], name


def test_bgnbd_recovers_simulator_truth(world) -> None:
    data, truth = world
    s = customer_summary(data.orders, as_of=data.as_of, time_unit="D", period_length=7)
    summ = BetaGeo().fit(s["frequency"], s["recency"], s["T"]).summary()
    z = (summ["estimate"] - pd.Series({k: truth.clv_params[k] for k in summ.index})) / summ["se"]
    assert (z.abs() < 3.5).all(), z.to_dict()


def test_calibration_holdout_on_simulator(world) -> None:
    data, _ = world
    table = calibration_holdout(data.orders, as_of="2025-06-30", end=data.as_of, time_unit="D",
                                period_length=7)
    assert np.allclose(table["duration_holdout"], (data.as_of - pd.Timestamp("2025-06-30")).days / 7)
    bg = BetaGeo().fit(table["frequency"], table["recency"], table["T"])
    comp = holdout_comparison(bg, table)
    assert comp["customers"].sum() == len(table)
    # the model predicts total holdout purchases within 15% (large sample, correct model family)
    assert comp["predicted_total"].sum() == pytest.approx(comp["actual_total"].sum(), rel=0.15)


def test_all_one_time_buyers_is_a_clear_error() -> None:
    with pytest.raises(ConvergenceError, match="one-time buyers"):
        BetaGeo().fit([0, 0, 0], [0, 0, 0], [10, 20, 30])
    with pytest.raises(ConvergenceError, match="repeat buyer"):
        GammaGamma().fit([0, 0, 1], [0.0, 0.0, 10.0])


def test_single_customer_and_empty_input() -> None:
    with pytest.raises(ConvergenceError, match="only 1 customer"):
        BetaGeo().fit([2], [5.0], [10.0])
    with pytest.raises(SchemaError, match="prospects"):
        BetaGeo().fit([], [], [])


def test_negative_spend_and_inconsistent_summary() -> None:
    with pytest.raises(SchemaError, match="positive_spend") as err:
        GammaGamma().fit([1, 2, 3], [10.0, -5.0, 7.0])
    assert err.value.failure_cases["key"].tolist() == ["row 1"]
    with pytest.raises(SchemaError, match="at_least_recency"):
        BetaGeo().fit([1, 1], [5.0, 12.0], [10.0, 10.0])
    with pytest.raises(SchemaError, match="non_negative_integer"):
        BetaGeo().fit([1.5, 1], [5.0, 2.0], [10.0, 10.0])
    with pytest.raises(SchemaError, match="weights"):
        BetaGeo().fit([1, 0], [5.0, 0.0], [10.0, 10.0], weights=[1, -1])


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        BetaGeo().probability_alive(1, 1, 2)
    with pytest.raises(NotFittedError):
        GammaGamma().summary()


def test_large_data_path_reaches_the_same_optimum(cdnow: pd.DataFrame, monkeypatch) -> None:
    """The thinned start + Newton path (used above _THIN_ABOVE patterns) gives the plain L-BFGS-B optimum."""
    import salesplan.segment.clv as clv

    monkeypatch.setattr(clv, "_THIN_TARGET", 200)
    results = []
    newton = clv._MLEModel._newton

    def spy(self, *args):
        results.append(newton(self, *args))
        return results[-1]

    monkeypatch.setattr(clv._MLEModel, "_newton", spy)
    fast = BetaGeo()
    fast._thin_above = 100  # force the large-data path on the 2,357 CDNOW customers
    fast.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert len(results) == 1 and results[0] is not None and results[0].success  # Newton converged
    ref = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert ((fast.params_ / ref.params_ - 1).abs() < 1e-4).all()
    assert fast.log_likelihood_ >= ref.log_likelihood_ - 1e-6
