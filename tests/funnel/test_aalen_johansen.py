"""Aalen-Johansen rate and variance against hand computation, an independent variance and simulator truth.

These are the value tests of ``salesplan.funnel.aalen_johansen`` (its mutation-testing file, see
``benchmarks/mutation.py``). Every expected number is computed here without the module's code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from salesplan.funnel.aalen_johansen import (
    aalen_johansen,
    beta_interval,
    effective_beta,
    effective_n,
    wilson_interval,
)


def _rate(days: np.ndarray, outcome: np.ndarray, w: np.ndarray, tau: float) -> float:
    """The rate at ``tau`` by the textbook recursion (:func:`_curves`, independent of the module)."""
    f1, f2, _ = _curves(days, outcome, w, tau)
    return f1 / (f1 + f2)


def _jackknife(statistic, w: np.ndarray) -> float:
    """Infinitesimal-jackknife variance ``sum_i w_i (dT / dw_i)^2`` of ``statistic(weights)`` by central
    differences.

    For a smooth functional of the weighted empirical distribution this is the delta-method variance (Efron 1982,
    ch. 6), computed here from the point estimate alone: no influence-function algebra is shared with the module.
    """
    grad = np.empty(len(w))
    for i in range(len(w)):
        h = 1e-6 * w[i]
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (statistic(up) - statistic(down)) / (2 * h)
    return float(np.sum(w * grad**2))


def _jackknife_variance(days: np.ndarray, outcome: np.ndarray, w: np.ndarray, tau: float) -> float:
    """The jackknife variance of the recursion's rate (:func:`_rate`)."""
    return _jackknife(lambda v: _rate(days, outcome, v, tau), w)


# A small case with 4 of 10 stays open (censored) and a tie at day 4.
DAYS = np.array([1.0, 2, 2, 3, 4, 4, 5, 6, 7, 9])
OUT = np.array([1, 2, 0, 1, 1, 0, 2, 0, 1, 0])
W = np.array([1.0, 2, 1, 1, 3, 2, 1, 2, 1, 1])


def test_hand_worked_curves_with_open_stays() -> None:
    # weights 14 in all; at risk on days 1, 2, 3, 4, 5, 7: 14, 13, 10 (2 lost, 1 open on day 2), 9, 4 (3
    # advanced, 2 open on day 4), 1 (2 open on day 6); events: 1 adv, 2 lost, 1 adv, 3 adv, 1 lost, 1 adv
    fit = aalen_johansen(np.array([1.0, 2, 2, 3, 4, 4, 5, 6, 7]), np.array([1, 2, 0, 1, 1, 0, 2, 0, 1]),
                         np.array([1.0, 2, 1, 1, 3, 2, 1, 2, 1]))
    s = np.cumprod([1 - 1 / 14, 1 - 2 / 13, 1 - 1 / 10, 1 - 3 / 9, 1 - 1 / 4, 1 - 1 / 1])
    prev = np.concatenate([[1.0], s[:-1]])
    f1 = np.cumsum(prev * np.array([1 / 14, 0, 1 / 10, 3 / 9, 0, 1 / 1]))
    f2 = np.cumsum(prev * np.array([0, 2 / 13, 0, 0, 1 / 4, 0]))
    np.testing.assert_allclose(fit.times, [1, 2, 3, 4, 5, 7])
    np.testing.assert_allclose(fit.surv, s, rtol=1e-12)
    np.testing.assert_allclose(fit.cif_advance, f1, rtol=1e-12)
    np.testing.assert_allclose(fit.cif_loss, f2, rtol=1e-12)
    assert fit.rate == pytest.approx(f1[-1] / (f1[-1] + f2[-1]), rel=1e-12)
    assert fit.unresolved == pytest.approx(s[-1]) and fit.horizon == 7.0
    assert (fit.n, fit.n_advance, fit.n_loss, fit.n_open) == (14.0, 6.0, 3.0, 5.0)
    # step function: value at 3.5 is the value just after day 3; before the first event it is 0
    assert fit.cif([0.5, 3.5, 100.0]).tolist() == pytest.approx([0.0, f1[2], f1[-1]])
    assert fit.cif(3.5, outcome=2)[0] == pytest.approx(f2[2])


def test_variance_with_open_stays_matches_the_jackknife() -> None:
    """Open stays enter the variance through the at-risk sets: weight them out and the variance changes."""
    fit = aalen_johansen(DAYS, OUT, W)
    assert fit.rate == pytest.approx(_rate(DAYS, OUT, W, 9.0), rel=1e-12)
    assert fit.var == pytest.approx(_jackknife_variance(DAYS, OUT, W, 9.0), rel=1e-5)
    # a horizon inside the data: events after it are not counted, stays beyond it are at risk up to it
    fit5 = aalen_johansen(DAYS, OUT, W, horizon=5.0)
    assert fit5.horizon == 5.0
    assert fit5.rate == pytest.approx(_rate(DAYS, OUT, W, 5.0), rel=1e-12)
    assert fit5.var == pytest.approx(_jackknife_variance(DAYS, OUT, W, 5.0), rel=1e-5)


def test_variance_of_weighted_patterns_equals_unit_rows() -> None:
    rows = np.repeat(np.arange(len(W)), W.astype(int))
    a = aalen_johansen(DAYS, OUT, W)
    b = aalen_johansen(DAYS[rows], OUT[rows], np.ones(len(rows)))
    assert (a.rate, a.var) == pytest.approx((b.rate, b.var), rel=1e-12)


def test_no_censoring_gives_the_binomial_variance() -> None:
    days = np.arange(1.0, 21)
    out = np.array([1, 2] * 6 + [1] * 8)
    fit = aalen_johansen(days, out)
    assert fit.rate == pytest.approx(14 / 20)
    assert fit.var == pytest.approx(0.7 * 0.3 / 20, rel=1e-9)
    assert fit.unresolved == pytest.approx(0.0)


@pytest.mark.slow
def test_variance_is_right_against_simulator_truth_with_heavy_censoring() -> None:
    """2,000 replications of 200 stays, about half still open at the cut.

    True model: time to an outcome ~ Exp(mean 20 days), advance with probability 0.4, entry uniform over the last
    35 days (follow-up = days since entry). The sampling variance of the rate across replications is the truth;
    the mean of the estimated variances must match it. The relative standard error of a variance from R = 2,000
    replications is about sqrt(2 / R) = 3.2%, so +-12% is 3.75 standard errors (and leaves room for the O(1/n)
    delta-method bias); dropping the open stays from the variance lowers it by about a quarter.
    """
    rng = np.random.default_rng(7)
    n, reps = 200, 2000
    rates, variances, open_share = np.empty(reps), np.empty(reps), np.empty(reps)
    for r in range(reps):
        t_event = rng.exponential(20.0, n)
        follow = rng.uniform(0, 35, n)
        outcome = np.where(t_event <= follow, np.where(rng.random(n) < 0.4, 1, 2), 0)
        days = np.ceil(np.minimum(t_event, follow))
        fit = aalen_johansen(days, outcome, horizon=30.0)
        rates[r], variances[r], open_share[r] = fit.rate, fit.var, (outcome == 0).mean()
    assert 0.42 < open_share.mean() < 0.52  # (20 / 35) (1 - exp(-35 / 20)) = 0.47
    assert rates.mean() == pytest.approx(0.4, abs=3 * rates.std() / np.sqrt(reps) + 0.003)
    assert variances.mean() == pytest.approx(rates.var(ddof=1), rel=0.12)
    # the Wilson interval on n_eff covers the truth at about the stated 95% (binomial SE of coverage ~0.5%)
    n_eff = np.array([effective_n(r, v, 0, 1e9) for r, v in zip(rates, variances, strict=True)])
    lo, hi = wilson_interval(rates, n_eff, 0.95)
    assert ((lo <= 0.4) & (0.4 <= hi)).mean() == pytest.approx(0.95, abs=0.02)


def test_quantiles_of_the_time_to_each_outcome() -> None:
    days = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    out = np.array([1, 1, 2, 1, 2, 1, 0, 2])
    fit = aalen_johansen(days, out)
    # no censoring before day 7: among advances (days 1, 2, 4, 6) each carries 1/4 of F1
    assert fit.quantiles([0.25, 0.5, 0.75, 1.0]).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert fit.quantiles([0.5], outcome=2).tolist() == [5.0]
    none = aalen_johansen(np.array([1.0, 2]), np.array([2, 2]))
    assert np.isnan(none.quantiles([0.5])).all() and none.rate == 0.0


def test_nothing_resolved_and_horizon_before_the_first_event() -> None:
    empty = aalen_johansen(np.array([3.0, 4]), np.array([0, 0]))
    assert np.isnan(empty.rate) and empty.unresolved == 1.0 and empty.n_open == 2.0
    early = aalen_johansen(np.array([3.0, 4]), np.array([1, 2]), horizon=2.0)
    assert np.isnan(early.rate) and early.unresolved == 1.0


def test_wilson_effective_n_and_beta_against_published_formulas() -> None:
    # Wilson (1927); e.g. Agresti & Coull (1998): 8 of 20 at 95% is (0.2188, 0.6134)
    lo, hi = wilson_interval(0.4, 20, 0.95)
    assert (float(lo), float(hi)) == pytest.approx((0.21878, 0.61335), abs=1e-4)
    from statsmodels.stats.proportion import proportion_confint

    assert (float(lo), float(hi)) == pytest.approx(proportion_confint(8, 20, 0.05, method="wilson"), rel=1e-9)
    lo0, hi0 = wilson_interval(0.3, 0, 0.9)
    assert (float(lo0), float(hi0)) == (0.0, 1.0)
    assert effective_n(0.2, 0.0016, fallback=5, cap=1e6) == pytest.approx(100.0)
    assert effective_n(0.2, 0.0016, fallback=5, cap=50) == 50.0
    assert effective_n(1.0, 0.0, fallback=7, cap=1e6) == 7.0
    assert effective_n(float("nan"), 0.01, fallback=7, cap=1e6) == 0.0
    for rate, var in [(0.0, 0.01), (1.0, 0.01), (0.5, 0.0)]:  # no binomial size to match: the fallback
        assert effective_n(rate, var, fallback=7, cap=1e6) == 7.0
    # n = 1: 1.96^2 pseudo-counts dominate; centre 1/2, half-width z / (1 + z^2) sqrt(1/4 + z^2 / 4)
    z = stats.norm.ppf(0.975)
    lo1, hi1 = wilson_interval(0.5, 1.0)
    half = z / (1 + z**2) * np.sqrt(0.25 + z**2 / 4)
    assert (float(lo1), float(hi1)) == pytest.approx((0.5 - half, 0.5 + half))
    a, b = effective_beta(np.array([0.25, np.nan]), np.array([40.0, 10.0]))
    assert a.tolist() == [10.5, 0.5] and b.tolist() == [30.5, 0.5]
    assert [float(v) for v in beta_interval(2, 3)] == pytest.approx(stats.beta(2, 3).ppf([0.025, 0.975]))  # default 95%
    # a share of 0 or 1 keeps its end of the interval exactly
    assert float(wilson_interval(0.0, 10)[0]) == 0.0 and float(wilson_interval(1.0, 10)[1]) == pytest.approx(1.0)
    lo_b, hi_b = beta_interval(10.5, 30.5, 0.9)
    assert (float(lo_b), float(hi_b)) == pytest.approx(stats.beta(10.5, 30.5).ppf([0.05, 0.95]))


def test_open_stay_before_the_first_event_and_a_horizon_at_the_first_event() -> None:
    # an open stay at day 0 left before anything happened: it never was at risk at an event time
    days = np.concatenate([[0.0], DAYS])
    out = np.concatenate([[0], OUT])
    w = np.concatenate([[4.0], W])
    fit = aalen_johansen(days, out, w)
    assert fit.rate == pytest.approx(_rate(days, out, w, 9.0), rel=1e-12)
    assert fit.var == pytest.approx(_jackknife_variance(days, out, w, 9.0), rel=1e-5)
    assert fit.var == pytest.approx(aalen_johansen(DAYS, OUT, W).var, rel=1e-12)  # its influence is zero
    # horizon between the first and the second event time: only day 1 counts (1 advance of 15 at risk)
    first = aalen_johansen(DAYS, OUT, W, horizon=1.5)
    assert first.rate == 1.0 and first.unresolved == pytest.approx(14 / 15)
    assert first.var == pytest.approx(_jackknife_variance(DAYS, OUT, W, 1.5), abs=1e-12)


def test_every_field_of_the_degenerate_fits() -> None:
    empty = aalen_johansen(np.array([3.0, 4]), np.array([0, 0]), np.array([2.0, 1.0]))
    assert [len(empty.times), len(empty.surv), len(empty.cif_advance), len(empty.cif_loss)] == [0, 0, 0, 0]
    assert np.isnan([empty.horizon, empty.rate, empty.var]).all()
    assert (empty.unresolved, empty.n, empty.n_advance, empty.n_loss, empty.n_open) == (1.0, 3.0, 0.0, 0.0, 3.0)
    assert empty.cif([1.0, 10.0]).tolist() == [0.0, 0.0]
    assert np.isnan(empty.quantiles([0.5, 0.9])).all() and empty.quantiles([0.5, 0.9]).shape == (2,)
    # one open stay (or half a one): still all in the stage
    for weight in (None, np.array([0.5])):
        one = aalen_johansen(np.array([3.0]), np.array([0]), weight)
        assert one.unresolved == 1.0 and one.n == (1.0 if weight is None else 0.5)
    nothing = aalen_johansen(np.array([], dtype=float), np.array([], dtype=int))
    assert np.isnan(nothing.unresolved) and nothing.n == 0.0
    early = aalen_johansen(np.array([3.0, 4, 6]), np.array([1, 2, 0]), np.array([1.0, 2, 3]), horizon=2.0)
    assert early.times.tolist() == [3.0, 4.0] and early.horizon == 2.0
    np.testing.assert_allclose(early.surv, [5 / 6, 0.5])
    np.testing.assert_allclose(early.cif_advance, [1 / 6, 1 / 6])
    np.testing.assert_allclose(early.cif_loss, [0.0, 5 / 6 * 2 / 5])
    assert np.isnan([early.rate, early.var]).all() and early.unresolved == 1.0
    assert (early.n, early.n_advance, early.n_loss, early.n_open) == (6.0, 1.0, 2.0, 3.0)
    assert np.isnan(early.quantiles([0.5])).all()


def test_step_function_and_quantile_edges() -> None:
    fit = aalen_johansen(np.array([1.0, 2, 3, 4]), np.array([1, 2, 0, 1]))
    # F1 jumps by 1/4 on day 1 and by (1/2)(1/1) on day 4; F2 by 1/4 on day 2
    assert fit.cif([0.99, 1.0, 3.99, 4.0]).tolist() == pytest.approx([0.0, 0.25, 0.25, 0.75])
    assert fit.cif(2.0, outcome=2).tolist() == pytest.approx([0.25])
    assert fit.cif([1.5, 2.5], outcome=2).tolist() == pytest.approx([0.0, 0.25])  # between the first two times
    q = fit.quantiles([0.0, 1 / 3, 0.34, 1.0, 1.5])
    assert q[:4].tolist() == [1.0, 1.0, 4.0, 4.0] and np.isnan(q[4])



def _curves(days: np.ndarray, outcome: np.ndarray, w: np.ndarray, tau: float) -> tuple[float, float, float]:
    """``F1(tau), F2(tau), S(tau)`` by the textbook recursion, one event time at a time (independent of the
    module)."""
    surv, f1, f2 = 1.0, 0.0, 0.0
    for t in np.unique(days[outcome > 0]):
        if t > tau:
            break
        at_risk = w[days >= t].sum()
        d1 = w[(days == t) & (outcome == 1)].sum()
        d2 = w[(days == t) & (outcome == 2)].sum()
        f1 += surv * d1 / at_risk
        f2 += surv * d2 / at_risk
        surv *= 1 - (d1 + d2) / at_risk
    return f1, f2, surv


# 14 advances, 10 losses, 4 stays still open after the last event (day 17.87): an eighth unresolved at the horizon
TAIL_DAYS = np.array([4.83, 4.14, 6.58, 4.77, 3.25, 5.57, 9.8, 7.91, 2.94, 2.1, 3.08, 4.59, 1.11, 3.93, 4.84, 6.26,
                      6.87, 7.7, 11.09, 15.2, 8.46, 17.87, 6.47, 10.76, 20.0, 25.0, 30.0, 18.0])
TAIL_OUT = np.array([1] * 14 + [2] * 10 + [0] * 4)
TAIL_W = np.array([2.0] * 5 + [1.0] * 23)


def test_parametric_tail_adds_the_unresolved_share_times_the_tail_probability() -> None:
    """``R = F1 + S pi`` with ``pi`` the tail model's advance probability of a stay unresolved at the horizon; its
    variance is the delta-method variance of ``F1 + S pi`` at fixed ``pi`` (here by the jackknife of the
    recursion) plus ``S^2 var(pi)``."""
    from salesplan.funnel.tail import mixture_tail

    tau = 17.87
    fit = aalen_johansen(TAIL_DAYS, TAIL_OUT, TAIL_W, tail="parametric")
    pi, var_pi = mixture_tail(TAIL_DAYS, TAIL_OUT, TAIL_W, tau)
    f1, f2, s = _curves(TAIL_DAYS, TAIL_OUT, TAIL_W, tau)
    assert 0 < pi < 1 and fit.tail == pi and fit.horizon == tau
    assert fit.unresolved == pytest.approx(s, rel=1e-12) and s == pytest.approx(4 / 33, rel=1e-9)
    assert fit.rate == pytest.approx(f1 + s * pi, rel=1e-12)
    def with_tail(v: np.ndarray) -> float:  # F1 + S pi at fixed pi
        c = _curves(TAIL_DAYS, TAIL_OUT, v, tau)
        return c[0] + c[2] * pi

    assert fit.var == pytest.approx(_jackknife(with_tail, TAIL_W) + s**2 * var_pi, rel=1e-5)
    assert (fit.n, fit.n_advance, fit.n_loss, fit.n_open) == (33.0, 19.0, 10.0, 4.0)
    split = aalen_johansen(TAIL_DAYS, TAIL_OUT, TAIL_W)
    for curve in ("times", "surv", "cif_advance", "cif_loss"):  # the curves are the split fit's
        np.testing.assert_array_equal(getattr(fit, curve), getattr(split, curve))
    assert split.rate == pytest.approx(f1 / (f1 + f2), rel=1e-12) and np.isnan(split.tail)


def test_parametric_tail_with_few_losses() -> None:
    """Two losses are enough for the tail model (``MIN_LOSSES``): the stays open beyond every advance are future
    losses, not split like the resolved ones (which would say 0.905 here)."""
    days = np.concatenate([TAIL_DAYS[:14], [11.09, 17.87, 20.0, 25.0, 30.0, 18.0]])
    out = np.array([1] * 14 + [2] * 2 + [0] * 4)
    w = np.array([2.0] * 5 + [1.0] * 15)
    par, split = aalen_johansen(days, out, w, tail="parametric"), aalen_johansen(days, out, w)
    f1, f2, s = _curves(days, out, w, 17.87)
    assert s == pytest.approx(4 / 25, rel=1e-9) and split.rate == pytest.approx(f1 / (f1 + f2), rel=1e-12)
    assert split.rate == pytest.approx(0.905, abs=5e-4)
    assert 0 <= par.tail < 0.05  # open at 18-30 days, advances all before 10: almost surely losses
    assert par.rate == pytest.approx(f1 + s * par.tail, rel=1e-12) and par.rate < 0.77
    assert par.var > split.var  # the unresolved share's outcome is modelled, and its uncertainty added


def test_parametric_tail_falls_back_to_the_split() -> None:
    # nothing unresolved at the horizon (no open stays), or too few events for the tail model: the split rate
    for days, out, w in ((TAIL_DAYS[:24], TAIL_OUT[:24], TAIL_W[:24]), (DAYS, OUT, W)):
        par = aalen_johansen(days, out, w, tail="parametric")
        split = aalen_johansen(days, out, w)
        assert (par.rate, par.var, par.unresolved) == (split.rate, split.var, split.unresolved)
        assert np.isnan(par.tail)
    with pytest.raises(ValueError, match=r"^tail must be 'split' or 'parametric', got 'nope'$"):
        aalen_johansen(DAYS, OUT, W, tail="nope")


def test_stays_of_zero_weight_change_nothing() -> None:
    # an advance of weight 0 before the horizon: nothing resolved with weight; every field
    fit = aalen_johansen(np.array([1.0, 2.0]), np.array([1, 0]), np.array([0.0, 1.0]))
    assert (fit.times.tolist(), fit.surv.tolist(), fit.cif_advance.tolist(), fit.cif_loss.tolist()) == (
        [1.0], [1.0], [0.0], [0.0])
    assert fit.horizon == 1.0 and np.isnan([fit.rate, fit.var, fit.tail]).all()
    assert (fit.unresolved, fit.n, fit.n_advance, fit.n_loss, fit.n_open) == (1.0, 1.0, 0.0, 0.0, 1.0)
    # a loss of weight 0 after everyone weighted has left (nobody at risk then): one advance, one loss, the
    # binomial 0.5 with variance 0.5 * 0.5 / 2, and the curves stay where they were
    fit = aalen_johansen(np.array([1.0, 2.0, 3.0]), np.array([1, 2, 2]), np.array([1.0, 1.0, 0.0]))
    assert (fit.rate, fit.var, fit.unresolved) == (0.5, 0.125, 0.0)
    assert (fit.surv.tolist(), fit.cif_advance.tolist(), fit.cif_loss.tolist()) == (
        [0.5, 0.0, 0.0], [0.5, 0.5, 0.5], [0.0, 0.5, 0.5])
    fit = aalen_johansen(np.array([1.0, 2.0]), np.array([1, 2]), np.array([1.0, 0.0]))
    assert (fit.rate, fit.var, fit.unresolved, fit.cif_loss.tolist()) == (1.0, 0.0, 0.0, [0.0, 0.0])
