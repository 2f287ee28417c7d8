"""Property tests of the volume maths: monotonicity, minimality (exact), median and forward Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from salesplan import ParameterError, PlanInputError
from salesplan.plan import required_entries, win_probability

targets = st.integers(min_value=1, max_value=60)
rates = st.floats(min_value=0.02, max_value=0.98)
confidences = st.floats(min_value=0.05, max_value=0.97)
# Beta evidence: alpha >= 3 keeps quantiles finite and the scan short
alphas = st.floats(min_value=3.0, max_value=400.0)
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(x=targets, p=rates, c=confidences)
def test_known_rate_minimal_by_exact_binomial(x: int, p: float, c: float) -> None:
    n = int(required_entries(x, p, c))
    assert stats.binom.sf(x - 1, n, p) >= c - 1e-12
    assert stats.binom.sf(x - 1, n - 1, p) < c


@SETTINGS
@given(x=targets, p=rates, c=confidences, a=alphas)
def test_uncertain_rate_minimal_by_exact_beta_binomial(x: int, p: float, c: float, a: float) -> None:
    b = a * (1 - p) / p
    n = int(required_entries(x, p, c, alpha=a, beta=b))
    assert stats.betabinom.sf(x - 1, n, a, b) >= c - 1e-9
    assert stats.betabinom.sf(x - 1, n - 1, a, b) < c + 1e-9


@SETTINGS
@given(x=targets, p=rates, c=confidences, a=st.one_of(st.none(), alphas))
def test_monotone_in_target(x: int, p: float, c: float, a: float | None) -> None:
    b = None if a is None else a * (1 - p) / p
    n = required_entries([x, x + 1, x + 5], p, c, alpha=a, beta=b)
    assert n[0] <= n[1] <= n[2]
    assert n[0] < n[2]


@SETTINGS
@given(x=targets, p=rates, c1=confidences, c2=confidences, a=st.one_of(st.none(), alphas))
def test_monotone_in_confidence(x: int, p: float, c1: float, c2: float, a: float | None) -> None:
    b = None if a is None else a * (1 - p) / p
    lo, hi = sorted((c1, c2))
    n = required_entries(x, p, [lo, hi], alpha=a, beta=b)
    assert n[0] <= n[1]


@SETTINGS
@given(x=st.integers(min_value=1, max_value=500), p=rates)
def test_median_plan_close_to_x_over_rate(x: int, p: float) -> None:
    # the median of the negative binomial stopping time lies within one trial-cycle (1/p) of its mean x/p
    n = int(required_entries(x, p, 0.5))
    assert abs(n - x / p) <= 1 / p + 1


@SETTINGS
@given(x=st.integers(min_value=1, max_value=30), c=confidences, a=st.floats(min_value=1.5, max_value=60),
       b=st.floats(min_value=0.5, max_value=300))
def test_scan_matches_scipy_betanbinom(x: int, c: float, a: float, b: float) -> None:
    n = int(required_entries(x, a / (a + b), c, alpha=a, beta=b))
    # the quantile by definition, checked with scipy's beta-negative-binomial CDF (heavy tails included)
    assert stats.betanbinom.cdf(n - x, x, a, b) >= c - 1e-9
    if n > x:
        assert stats.betanbinom.cdf(n - x - 1, x, a, b) < c + 1e-9
    # (scipy's generic betanbinom.ppf is not used as the reference: it stops with "endless loop" on some
    # parameters, e.g. x=3, c=0.34375, a=6.25, b=192)


@pytest.mark.parametrize(("x", "p", "c", "alpha"), [(10, 0.1, 0.8, None), (25, 0.3, 0.9, None), (5, 0.05, 0.7, None),
                                                   (10, 0.1, 0.8, 30.0), (20, 0.25, 0.9, 12.0)])
def test_forward_monte_carlo_reaches_target_with_stated_probability(x, p, c, alpha) -> None:
    rng = np.random.default_rng(11)
    beta = None if alpha is None else alpha * (1 - p) / p
    n = int(required_entries(x, p, c, alpha=alpha, beta=beta))
    stated = float(win_probability(n, x, p, alpha=alpha, beta=beta))
    sims = 40_000
    true_p = np.full(sims, p) if alpha is None else rng.beta(alpha, beta, sims)
    wins = rng.binomial(n, true_p)
    freq = float(np.mean(wins >= x))
    se = np.sqrt(stated * (1 - stated) / sims)
    assert stated >= c
    assert abs(freq - stated) < 4 * se
    assert freq >= c - 4 * se
    # one entry fewer falls below the confidence, also in simulation
    fewer = rng.binomial(n - 1, true_p)
    assert float(np.mean(fewer >= x)) < c + 4 * se


def test_multi_stage_forward_simulation_with_true_stage_rates() -> None:
    rng = np.random.default_rng(5)
    stage_rates = np.array([0.55, 0.6, 0.55, 0.6, 0.7])
    x, c = 12, 0.85
    n = int(required_entries(x, np.prod(stage_rates), c))
    sims = 40_000
    alive = np.full(sims, n)
    for r in stage_rates:  # each stage thins the survivors binomially
        alive = rng.binomial(alive, r)
    freq = float(np.mean(alive >= x))
    assert freq >= c - 4 * np.sqrt(c * (1 - c) / sims)


def test_hand_computed_cases() -> None:
    # x=1: smallest n with 1-(1-p)^n >= c; p=0.5, c=0.75 -> n=2 (0.75)
    assert int(required_entries(1, 0.5, 0.75)) == 2
    # p = 1: exactly x entries
    assert int(required_entries(7, 1.0, 0.99)) == 7
    # zero contracts need zero entries
    assert int(required_entries(0, 0.3, 0.9)) == 0
    # Beta(1, 0) is p = 1 with certainty: no losses
    assert int(required_entries(4, 1.0, 0.9, alpha=1.0, beta=0.0)) == 4


@pytest.mark.parametrize("c", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_target_probability_outside_unit_interval(c: float) -> None:
    with pytest.raises(ParameterError, match="target_probability"):
        required_entries(5, 0.5, c)


@pytest.mark.parametrize("p", [0.0, -0.2, 1.2])
def test_bad_rate(p: float) -> None:
    with pytest.raises(PlanInputError, match="rates"):
        required_entries(5, p, 0.8)


def test_bad_contracts() -> None:
    with pytest.raises(PlanInputError, match="whole numbers"):
        required_entries(-1, 0.5, 0.8)
    with pytest.raises(PlanInputError, match="whole numbers"):
        required_entries(2.5, 0.5, 0.8)


@pytest.mark.parametrize(("x", "a", "b", "c"), [(3, 1.2, 5.0, 0.99), (5, 2.5, 20.0, 0.999), (1, 1.05, 3.0, 0.95),
                                                (40, 30.0, 60.0, 0.9999)])
def test_heavy_tails_need_several_scan_blocks(x: int, a: float, b: float, c: float) -> None:
    """Quantiles far beyond the first block (heavy tails, extreme target probabilities): the scan restarts from a
    later k with the closed-form log-pmf, which must agree with scipy's CDF there."""
    n = int(required_entries(x, a / (a + b), c, alpha=a, beta=b))
    assert stats.betanbinom.cdf(n - x, x, a, b) >= c - 1e-9 > stats.betanbinom.cdf(n - x - 1, x, a, b) - 2e-9


def test_win_probability_edges_against_the_beta_binomial() -> None:
    # as many entries as contracts: every one must be won, P = B(a + x, b) / B(a, b) = betabinom.pmf(x; x, a, b)
    assert float(win_probability(3, 3, 0.5, alpha=2.0, beta=2.0)) == pytest.approx(stats.betabinom(3, 2, 2).pmf(3))
    assert float(win_probability(1, 1, 0.4, alpha=2.0, beta=3.0)) == pytest.approx(0.4)
    # fewer entries than contracts: impossible; no contracts needed: certain
    assert float(win_probability(2, 3, 0.5, alpha=2.0, beta=2.0)) == 0.0
    assert float(win_probability(5, 0, 0.5, alpha=2.0, beta=2.0)) == 1.0
    # mixed rows: known and uncertain rates side by side keep their own formulas
    got = win_probability([20, 20], [10, 10], [0.5, 0.5], alpha=[np.nan, 5.0], beta=[np.nan, 5.0])
    assert got.dtype == float
    assert got.tolist() == pytest.approx([stats.binom.sf(9, 20, 0.5), stats.betabinom.sf(9, 20, 5, 5)])
    # an uncertain rate with beta below 1 (a high rate on little evidence) is used as given, not floored
    assert float(win_probability(10, 8, 0.9, alpha=4.5, beta=0.5)) == pytest.approx(stats.betabinom.sf(7, 10, 4.5, 0.5))
