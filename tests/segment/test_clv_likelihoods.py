"""BG/NBD and Gamma-Gamma likelihoods against the published formulas, computed here per customer, and the
derived predictions (``predict``, ``discounted_purchases``).

The likelihood code is vectorised over distinct values with gradients by hand; these tests evaluate the textbook
per-customer log-likelihood (Fader, Hardie & Lee 2005, eq. 6 for BG/NBD; Fader, Hardie & Lee 2005b / Colombo &
Jiang 1999 for Gamma-Gamma) with scipy's special functions, and its gradient by central differences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from salesplan.segment import BetaGeo, GammaGamma

# repeat and one-time buyers, ties in t_x and T, pattern weights
X = np.array([0.0, 0, 1, 2, 2, 5, 7, 1, 3])
TX = np.array([0.0, 0, 10.5, 20.0, 20.0, 30.2, 35.0, 3.0, 38.0])
T = np.array([38.0, 25.0, 38.0, 38.0, 30.0, 38.0, 38.0, 25.0, 38.0])
W = np.array([3.0, 1, 2, 1, 4, 1, 2, 1, 1])
M = np.array([np.nan, np.nan, 20.0, 35.5, 12.0, 50.0, 8.0, 100.0, 27.0])  # average spend of repeat buyers


def _bgnbd_ll(params: np.ndarray, w: np.ndarray = W) -> float:
    """Sum of w ln L per customer, FHL (2005) eq. 6, in logs."""
    r, alpha, a, b = params
    lbeta = special.betaln
    common = special.gammaln(r + X) - special.gammaln(r) + r * np.log(alpha)
    first = lbeta(a, b + X) - lbeta(a, b) + common - (r + X) * np.log(alpha + T)
    second = np.where(X > 0, lbeta(a + 1, np.maximum(b + X - 1, 1e-300)) - lbeta(a, b) + common
                      - (r + X) * np.log(alpha + TX), -np.inf)
    return float(np.sum(w * np.logaddexp(first, second)))


def _gg_ll(params: np.ndarray) -> float:
    """Sum of w ln f(m | x) over repeat buyers: the density of the average of x Gamma(p, nu) spends."""
    p, q, v = params
    k = X > 0
    x, m, w = X[k], M[k], W[k]
    ll = (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(v)
          + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(v + x * m))
    return float(np.sum(w * ll))


def _numeric_grad_log(f, params: np.ndarray) -> np.ndarray:
    """d f / d ln(param) by central differences."""
    g = np.empty(len(params))
    for i in range(len(params)):
        h = 1e-6
        up, down = params.copy(), params.copy()
        up[i] *= np.exp(h)
        down[i] *= np.exp(-h)
        g[i] = (f(up) - f(down)) / (2 * h)
    return g


@pytest.mark.parametrize("params", [[0.243, 4.414, 0.793, 2.426], [1.5, 12.0, 2.5, 0.7], [0.05, 0.5, 0.3, 6.0]])
def test_bgnbd_likelihood_and_gradient_are_the_published_formula(params) -> None:
    params = np.array(params)
    bg = BetaGeo()
    bg._data = bg._prepare([X, TX, T], W)
    nll, grad = bg._nll_grad(np.log(params))
    assert -nll == pytest.approx(_bgnbd_ll(params), rel=1e-10)
    np.testing.assert_allclose(-grad, _numeric_grad_log(_bgnbd_ll, params), rtol=1e-5, atol=1e-7)
    # the same customers in reverse order (one-time buyers last): the same likelihood and gradient
    rev = BetaGeo()
    rev._data = rev._prepare([X[::-1].copy(), TX[::-1].copy(), T[::-1].copy()], W[::-1].copy())
    nll_rev, grad_rev = rev._nll_grad(np.log(params))
    assert nll_rev == pytest.approx(nll, rel=1e-12)
    np.testing.assert_allclose(grad_rev, grad, rtol=1e-10)


def test_undefined_likelihood_is_infinite_with_a_zero_gradient() -> None:
    bg, gg = BetaGeo(), GammaGamma()
    bg._data = bg._prepare([X, TX, T], W)
    k = X > 0
    gg._data = gg._prepare([X[k], M[k]], W[k])
    nll, grad = bg._nll_grad(np.array([np.nan, 0.0, 0.0, 0.0]))
    assert nll == np.inf and grad.tolist() == [0.0] * 4
    nll, grad = gg._nll_grad(np.array([np.nan, 0.0, 0.0]))
    assert nll == np.inf and grad.tolist() == [0.0] * 3


@pytest.mark.parametrize("params", [[6.25, 3.74, 15.44], [1.2, 0.8, 3.0]])
def test_gamma_gamma_likelihood_and_gradient_are_the_published_formula(params) -> None:
    params = np.array(params)
    gg = GammaGamma()
    k = X > 0
    gg._data = gg._prepare([X[k], M[k]], W[k])
    nll, grad = gg._nll_grad(np.log(params))
    assert -nll == pytest.approx(_gg_ll(params), rel=1e-10)
    np.testing.assert_allclose(-grad, _numeric_grad_log(_gg_ll, params), rtol=1e-5, atol=1e-7)


def test_fits_maximise_the_independent_likelihood() -> None:
    """The fitted parameters are a maximum of the textbook likelihood, and the reported value is its value."""
    rng = np.random.default_rng(3)
    rows = rng.integers(0, len(X), 400)
    bg = BetaGeo().fit(X[rows], TX[rows], T[rows])
    w = np.bincount(rows, minlength=len(X)).astype(float)  # the same data as weights over the nine patterns
    best = bg.params_.to_numpy()
    assert bg.log_likelihood_ == pytest.approx(_bgnbd_ll(best, w), rel=1e-8)
    # stationary: the gradient is within the optimiser's tolerance (per customer < 1e-3 of a log-likelihood unit)
    np.testing.assert_allclose(_numeric_grad_log(lambda p: _bgnbd_ll(p, w), best), 0.0, atol=0.4)
    for i in range(4):  # a step away in any direction lowers it
        for f in (0.97, 1.03):
            moved = best.copy()
            moved[i] *= f
            assert _bgnbd_ll(moved, w) < _bgnbd_ll(best, w)


def test_predict_and_discounted_purchases_values() -> None:
    bg = BetaGeo()
    bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    # lifetimes 0.11.3, same parameters: conditional expected purchases in 39 weeks for (2, 30.43, 38.86)
    assert bg.predict(2, 30.43, 38.86, 39)[0] == pytest.approx(1.22602817, rel=1e-6)
    # without discounting the steps add up to the expected purchases over the whole horizon
    flat = bg.discounted_purchases([2, 0], [30.43, 0], [38.86, 38.86], n_steps=12, step=4.345, discount_rate=0.0)
    np.testing.assert_allclose(flat, bg.expected_purchases(12 * 4.345, [2, 0], [30.43, 0], [38.86, 38.86]),
                               rtol=1e-10)
    # discounting: each step's increment divided by (1 + d)^i
    d = 0.05
    grid = np.arange(0, 13) * 4.345
    cum = np.array([bg.expected_purchases(h, 2, 30.43, 38.86)[0] if h > 0 else 0.0 for h in grid])
    by_hand = float(np.sum(np.diff(cum) / (1 + d) ** np.arange(1, 13)))
    got = bg.discounted_purchases(2, 30.43, 38.86, n_steps=12, step=4.345, discount_rate=d)[0]
    assert got == pytest.approx(by_hand, rel=1e-10)
    assert got < flat[0]
