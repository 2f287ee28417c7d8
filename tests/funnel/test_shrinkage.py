"""Empirical-Bayes shrinkage: the prior strength against an independent maximum-likelihood fit, shrunk rates and
their intervals against the posterior by hand, and the strength's effect on a group rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from salesplan.funnel.shrinkage import KAPPA_BOUNDS, fit_prior_strength, shrink_rates

# six owners of one stage: advances x of n entries, spread more than binomial noise around 0.5
X = np.array([12.0, 30, 30, 55, 20, 41])
N = np.array([40.0, 60, 80, 100, 50, 70])
MEAN = 0.5


def _kappa_by_grid(x: np.ndarray, n: np.ndarray, mean: float) -> float:
    """Independent type-II ML: the beta-binomial log-likelihood sum_g [ln B(x_g + a, n_g - x_g + b) - ln B(a, b)]
    (binomial coefficients dropped: they do not depend on kappa; real x and n allowed, as n_eff is real),
    maximised on a fine log grid."""

    def loglik(k: float) -> float:
        a, b = mean * k, (1 - mean) * k
        return float(np.sum(special.betaln(x + a, n - x + b) - special.betaln(a, b)))

    grid = np.exp(np.linspace(np.log(0.05), np.log(1e4), 40001))
    coarse = grid[::100][int(np.argmax([loglik(k) for k in grid[::100]]))]
    fine = grid[(grid > coarse / 1.1) & (grid < coarse * 1.1)]
    return float(fine[int(np.argmax([loglik(k) for k in fine]))])


KAPPA = _kappa_by_grid(X, N, MEAN)


def _frame(x: np.ndarray, n: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    rates = pd.DataFrame({"process": "p", "owner": list("abcdef")[: len(x)], "stage": "s", "entered": n,
                          "rate": x / n, "n_eff": n})
    parent = pd.DataFrame({"process": ["p"], "stage": ["s"], "rate": [MEAN]})
    return rates, parent


def test_prior_strength_is_the_beta_binomial_maximum_likelihood() -> None:
    kappa = fit_prior_strength(X, N, MEAN)
    assert 5 < kappa < 200  # interior: the data pin it down
    assert kappa == pytest.approx(KAPPA, rel=2e-3)
    # groups that differ no more than chance allows: full pooling (the upper bound)
    same = np.array([50.0, 51, 49, 50])
    assert fit_prior_strength(same, np.full(4, 100.0), 0.5) == pytest.approx(KAPPA_BOUNDS[1], rel=1e-3)
    # one group or a degenerate mean: no information, full pooling
    assert fit_prior_strength(np.array([3.0]), np.array([10.0]), 0.5) == KAPPA_BOUNDS[1]
    assert fit_prior_strength(X, N, 0.0) == KAPPA_BOUNDS[1]


def test_shrunk_rates_and_intervals_are_the_posterior() -> None:
    rates, parent = _frame(X, N)
    out = shrink_rates(rates, parent, by=["owner"], confidence=0.9).set_index("owner")
    kappa = KAPPA
    a, b = X + MEAN * kappa, N - X + (1 - MEAN) * kappa
    np.testing.assert_allclose(out["prior_strength"], kappa, rtol=2e-3)
    np.testing.assert_allclose(out["prior_alpha"], MEAN * kappa, rtol=2e-3)
    np.testing.assert_allclose(out["prior_beta"], (1 - MEAN) * kappa, rtol=2e-3)
    np.testing.assert_allclose(out["shrunk_rate"], a / (a + b), rtol=1e-4)
    np.testing.assert_allclose(out["shrunk_low"], stats.beta(a, b).ppf(0.05), rtol=1e-3)
    np.testing.assert_allclose(out["shrunk_high"], stats.beta(a, b).ppf(0.95), rtol=1e-3)
    np.testing.assert_allclose(out["rate"], X / N)
    assert (out["parent_rate"] == MEAN).all()
    assert list(shrink_rates(rates, parent, by=["owner"]).columns) == [
        "process", "owner", "stage", "entered", "n_eff", "rate", "shrunk_rate", "shrunk_low", "shrunk_high",
        "parent_rate", "prior_alpha", "prior_beta", "prior_strength"]


def test_strength_decides_how_far_a_small_group_moves() -> None:
    """Group a (12 of 40, rate 0.30) moves toward 0.5 by kappa / (40 + kappa): a wrong kappa moves it wrongly."""
    rates, parent = _frame(X, N)
    out = shrink_rates(rates, parent, by=["owner"]).set_index("owner")
    kappa = KAPPA
    expected = (12 + 0.5 * kappa) / (40 + kappa)
    assert out.loc["a", "shrunk_rate"] == pytest.approx(expected, abs=5e-4)
    assert abs(expected - (12 + 0.5 * 4 * kappa) / (40 + 4 * kappa)) > 0.02  # a strength 4x too big is caught


def test_groups_without_rate_and_unknown_parent() -> None:
    rates, parent = _frame(X, N)
    rates.loc[5, ["rate", "n_eff"]] = [np.nan, 0.0]  # a group with no resolved stays: the prior itself
    out = shrink_rates(rates, parent, by=["owner"]).set_index("owner")
    kappa = _kappa_by_grid(X[:5], N[:5], MEAN)
    assert out.loc["f", "shrunk_rate"] == pytest.approx(MEAN, abs=1e-6)
    assert out.loc["f", "prior_strength"] == pytest.approx(kappa, rel=2e-3)
    lo, hi = stats.beta(MEAN * kappa, (1 - MEAN) * kappa).ppf([0.025, 0.975])
    assert (out.loc["f", "shrunk_low"], out.loc["f", "shrunk_high"]) == pytest.approx((lo, hi), rel=2e-3)
    # a stage whose parent rate is unknown: a flat Beta(1/2, 1/2) prior
    nan_parent = parent.assign(rate=np.nan)
    flat = shrink_rates(rates.iloc[:1], nan_parent, by=["owner"]).iloc[0]
    assert (flat["prior_alpha"], flat["prior_beta"]) == (0.5, 0.5)
    assert flat["shrunk_rate"] == pytest.approx((12 + 0.5) / (40 + 1))


def test_two_groups_edge_means_and_row_order() -> None:
    # two groups are enough to estimate the strength; a parent rate of 0 or 1 or outside (0, 1) is not
    x2, n2 = np.array([10.0, 40]), np.array([50.0, 60])
    assert fit_prior_strength(x2, n2, 0.5) == pytest.approx(_kappa_by_grid(x2, n2, 0.5), rel=2e-3)
    for mean in (1.0, 1.5, -0.1):
        assert fit_prior_strength(X, N, mean) == KAPPA_BOUNDS[1]
    # rows come back in input order, renumbered, stages in order of appearance; a stage without a parent rate
    # keeps its rows with the flat Beta(1/2, 1/2) prior
    rates = pd.DataFrame({"process": "p", "owner": ["a", "a", "b", "b", "c"], "stage": ["t", "s", "t", "s", "u"],
                          "entered": 50, "rate": [0.2, 0.5, 0.6, 0.4, 0.3], "n_eff": [50.0, 40, 60, 45, 10]})
    parent = pd.DataFrame({"process": ["p", "p"], "stage": ["t", "s"], "rate": [0.4, 0.45]})
    out = shrink_rates(rates, parent, by=["owner"])
    assert out.index.tolist() == [0, 1, 2, 3, 4]
    assert list(zip(out["owner"], out["stage"], strict=True)) == [("a", "t"), ("b", "t"), ("a", "s"), ("b", "s"),
                                                                  ("c", "u")]
    u = out.iloc[4]
    assert np.isnan(u["parent_rate"]) and (u["prior_alpha"], u["prior_beta"]) == (0.5, 0.5)
    assert u["shrunk_rate"] == pytest.approx((3 + 0.5) / (10 + 1))


def test_groups_with_missing_or_tiny_sizes_and_a_certain_parent() -> None:
    # a rate without a size is left out of the fit and gets the prior
    rates, parent = _frame(X, N)
    extra = pd.DataFrame({"process": "p", "owner": ["h", "i"], "stage": "s", "entered": [5, 1],
                          "rate": [0.4, 1.0], "n_eff": [np.nan, 0.5]})
    out = shrink_rates(pd.concat([rates, extra], ignore_index=True), parent, by=["owner"]).set_index("owner")
    # the tiny group (0.5 of 0.5 effective entries) counts in the fit (it carries almost no information on the
    # strength: a group of exactly 1 entry carries none, P(x | n = 1) = the mean whatever kappa)
    kappa = _kappa_by_grid(np.append(X, 0.5), np.append(N, 0.5), MEAN)
    assert out.loc["a", "prior_strength"] == pytest.approx(kappa, rel=2e-3)
    assert out.loc["h", "shrunk_rate"] == pytest.approx(MEAN)
    # a parent rate of exactly 1 is kept just inside (0, 1): finite shrunk rates close to 1
    sure = shrink_rates(rates, parent.assign(rate=1.0), by=["owner"])
    assert np.isfinite(sure["shrunk_rate"]).all() and (sure["prior_beta"] > 0).all()
    assert (sure["shrunk_rate"] >= sure["rate"] - 1e-9).all()
