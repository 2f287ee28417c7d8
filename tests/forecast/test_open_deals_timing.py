"""When the wins of deals not yet created fall: ``arrival_timing`` of a three-stage funnel against a Monte Carlo of
the model, and its convolution shortcut against the grid sum of ``timing`` for a fresh deal."""

from __future__ import annotations

import numpy as np

from salesplan.forecast.open_deals import _fresh_timing, arrival_timing, timing


def test_arrival_timing_of_three_stages_matches_a_monte_carlo_of_the_model():
    """A deal created at ``U ~ Uniform(0, 86)`` days and passing three stages (log-normal days to advance) is won
    after ``U + X_1 + X_2 + X_3``. Half a million simulated deals give each period's share to about 0.0007 (sd);
    the grid's error is of order ``h^2`` (h = 86 / 8192 days): within 4 sd + 0.001."""
    mu, sd = np.log([5.0, 12.0, 8.0]), np.array([0.5, 0.8, 0.6])
    bounds = np.array([25.0, 40.0, 60.0, 86.0])
    q = arrival_timing({"mu_a": mu, "sd_a": sd}, bounds)
    rng = np.random.default_rng(0)
    n = 500_000
    won = rng.uniform(0, bounds[-1], n) + rng.lognormal(mu[:, None], sd[:, None], (3, n)).sum(axis=0)
    mc = np.diff(np.concatenate([[0.0], (won[None, :] <= bounds[:, None]).mean(axis=1)]))
    assert mc.min() > 0.01  # every period holds wins: the check can fail in each
    assert np.abs(q - mc).max() < 4 * np.sqrt(mc * (1 - mc) / n).max() + 0.001, (q, mc)


def test_the_convolution_is_the_grid_sum_of_timing_for_a_fresh_deal():
    """:func:`_fresh_timing` computes timing()'s grid sum as one FFT convolution: the same numbers to rounding, on
    random funnels of one to five stages and windows whose ends are on and off the grid (64 grid steps here,
    1,024 in arrival_timing: the identity holds for any ends)."""
    rng = np.random.default_rng(1)
    mass = []
    for _ in range(12):
        n_k = int(rng.integers(1, 6))
        table = {"mu_a": rng.normal(1.5, 0.7, n_k), "sd_a": rng.uniform(0.2, 1.5, n_k)}
        horizon = float(rng.choice([9.0, 30.0, 86.999, 365.25]))
        ends = np.union1d(rng.uniform(0.5, horizon, 3), [horizon])
        grid = np.union1d(horizon * np.arange(1, 65) / 64, ends)
        want = timing(table, np.array([0]), np.array([0.0]), grid)[0]
        mass.append(want.sum())
        np.testing.assert_allclose(_fresh_timing(table, grid), want, rtol=0, atol=1e-12)
    assert np.mean(np.array(mass) > 0.1) > 0.5  # most windows hold much of the wins: the check has mass
