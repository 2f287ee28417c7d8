"""Customer lifetime value: BG/NBD purchase model, Gamma-Gamma spend model, discounted CLV.

Models
    :class:`BetaGeo` is the BG/NBD model of Fader, Hardie & Lee (2005): while alive, a customer buys as a Poisson
    process with rate ``lambda ~ Gamma(r, alpha)``; after each purchase the customer drops out with probability
    ``p ~ Beta(a, b)``. :class:`GammaGamma` is the spend model of Fader & Hardie (2013, "The Gamma-Gamma model of
    monetary value"): order values ``z ~ Gamma(p, nu)``, ``nu ~ Gamma(q, v)``, independent of the purchase process.

Fitting
    Both are fitted by weighted maximum likelihood with analytic gradients, by L-BFGS-B
    (``scipy.optimize.minimize``) on the logarithms of the parameters. BG/NBD data collapse into *distinct
    patterns* (identical customers become one row with a weight); so do Gamma-Gamma data given with weights.
    Terms that do not depend on the parameters are computed once, and logs of ``alpha + T`` once per distinct
    T. Above 100,000 patterns, L-BFGS-B runs on a thinned sample (every k-th pattern, weights rescaled) and its
    optimum and Hessian start Newton iterations on all patterns, which stop when the per-customer gradient is
    below 1e-9 (L-BFGS-B on all patterns is the fall-back). Standard errors come from the inverse of the
    numerically differentiated (analytic) gradient, i.e. the observed information, computed on first use
    (``summary()``, ``covariance_``), so a fitted model keeps its pattern arrays; confidence intervals are Wald
    intervals on the log scale, transformed back (so they stay positive). A failed fit raises :class:`~salesplan.ConvergenceError` naming the cause and what to
    try; it never prints.

Assumptions and limits
    Every customer in the fit has made a first purchase (prospects without orders have no (x, t_x, T) and are
    handled by the acquisition process, not here). The spend model assumes spend is independent of frequency and
    positive; it uses repeat buyers only.

Examples
--------
>>> from salesplan.segment.clv import BetaGeo
>>> x, t_x, T = sample_bgnbd(2000, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, T=39.0, seed=1)
>>> bg = BetaGeo().fit(x, t_x, T)
>>> list(bg.params_.index)
['r', 'alpha', 'a', 'b']
>>> bool(0 < bg.probability_alive(1, 2, 30)[0] < 1)
True
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special, stats

from salesplan._validation import check_positive, check_probability
from salesplan.errors import ConvergenceError, NotFittedError, ParameterError, SchemaError
from salesplan.parse import to_naive_utc

__all__ = ["BetaGeo", "GammaGamma", "customer_lifetime_value", "calibration_holdout", "holdout_comparison",
           "sample_bgnbd"]

logger = logging.getLogger(__name__)

_BOUND = 25.0  # bound on |log parameter| during the search
_THIN_ABOVE = 100_000  # distinct patterns above which a fit on a thinned sample supplies the starting point
_THIN_TARGET = 50_000  # patterns in that thinned sample
_NEWTON_GTOL = 1e-9  # Newton polish stops when every per-customer gradient component (log scale) is below this
_NEWTON_MAX_ITER = 25  # more means the thinned Hessian is a poor guide: L-BFGS-B takes over


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Weighted sum without BLAS and without a temporary array.

    ``np.dot`` on 1-D arrays goes through (possibly threaded) BLAS, which stalls on busy machines; ``einsum``
    without ``optimize`` uses numpy's own summation loop.
    """
    return float(np.einsum("i,i->", a, b))


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while fitting.

    The fits make many tiny BLAS calls (L-BFGS-B, 4x4 solves); with a threaded BLAS each call wakes a thread
    pool, which on a busy machine costs more than the arithmetic. ``threadpoolctl`` comes with scikit-learn;
    without it this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn (a dependency) brings threadpoolctl
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=float).ravel()
    return arr


def _fail(table: str, checks: list[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
    """Raise one SchemaError for every (column, check, mask, values) that has failures."""
    rows = []
    for column, check, mask, values in checks:
        for i in np.flatnonzero(mask)[:1000]:
            rows.append({"table": table, "column": column, "check": check, "key": f"row {i}", "value": values[i]})
    if rows:
        raise SchemaError.from_cases(rows)


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _array(weights, "weights")
    if len(w) != n:
        raise SchemaError(f"weights has {len(w)} values but the data have {n} rows")
    _fail("summary", [("weights", "non_negative", ~(np.isfinite(w) & (w >= 0)), w)])
    return w


def _factorize(columns: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Integer code of each row's combination of values (hash-based, exact for any floats), and the code count.

    Each column is factorised on its own, the codes are combined in mixed radix, and the combination is
    factorised again, so the result is dense (``0 .. n - 1``, in order of first appearance).
    """
    key: np.ndarray | None = None
    card = 1
    for column in columns:
        codes, uniques = pd.factorize(column)
        n = max(len(uniques), 1)
        if key is None:
            key, card = codes.astype(np.int64), n
            continue
        if card * n >= 2**62:  # keep the mixed-radix key inside int64
            key, uniq = pd.factorize(key)
            card = max(len(uniq), 1)
        key = key * n + codes
        card *= n
    assert key is not None
    codes, uniques = pd.factorize(key)
    return codes, len(uniques)


def _distinct(columns: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Distinct rows of equal-length columns: the code of each row and the columns of the distinct rows."""
    codes, n = _factorize(columns)
    first = np.empty(n, dtype=np.intp)
    first[codes] = np.arange(len(codes))  # any row of a pattern represents it: all its rows are equal
    return codes, [np.ascontiguousarray(c[first], dtype=float) for c in columns]


def _compress(columns: list[np.ndarray], w: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows into distinct patterns with summed weights (rows of weight 0 are dropped)."""
    keep = w > 0
    if not keep.all():
        columns, w = [c[keep] for c in columns], w[keep]
    codes, distinct = _distinct(columns)
    return distinct, np.bincount(codes, weights=w, minlength=len(distinct[0]))


def sample_bgnbd(n: int, params: dict[str, float], T: Any, seed: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``(frequency, recency, T)`` of ``n`` customers from the BG/NBD model (for tests and examples).

    Parameters
    ----------
    n : int
        Customers.
    params : dict
        ``r``, ``alpha``, ``a``, ``b``.
    T : float or array-like
        Observation length per customer (time since the first purchase).
    seed : int, optional
        Random seed.

    Examples
    --------
    >>> x, t_x, T = sample_bgnbd(5, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, T=39.0, seed=0)
    >>> bool(((t_x <= T) & (x >= 0)).all())
    True
    """
    rng = np.random.default_rng(seed)
    t_end = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    x = np.zeros(n)
    last = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        # a customer drops out right after a purchase with probability p (not after the first purchase)
        idx = np.flatnonzero(active)
        nxt = last[idx] + rng.exponential(1 / lam[idx])
        bought = nxt <= t_end[idx]
        won = idx[bought]
        x[won] += 1
        last[won] = nxt[bought]
        active[idx[~bought]] = False
        active[won] = rng.random(len(won)) >= p[won]
    return x, last, t_end


class _MLEModel:
    """Shared machinery: weighted MLE on log-parameters, Hessian-based errors, summary table."""

    _names: tuple[str, ...] = ()
    _model = ""
    _thin_above = _THIN_ABOVE
    # set by the subclasses' fit (declared here for the shared methods that read them)
    _data: dict[str, Any]
    _total_weight: float
    _n_patterns: int

    def __init__(self, *, confidence: float = 0.95, max_iter: int = 500, tol: float = 1e-10) -> None:
        self.confidence = check_probability(confidence, "confidence")
        check_positive(max_iter, "max_iter", integer=True)
        check_positive(tol, "tol")
        self.max_iter = max_iter
        self.tol = tol

    # subclasses implement: _nll_grad(theta) -> (negative log-likelihood, gradient wrt log-params)
    def _nll_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(...) first")

    # subclasses implement: _prepare(columns, weights) -> data dict read by _nll_grad
    def _prepare(self, columns: list[np.ndarray], w: np.ndarray) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _thinned_start(self, columns: list[np.ndarray], w: np.ndarray, starts: list[np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray] | None:
        """Optimum and Hessian (per customer) of the likelihood on every k-th pattern, or None.

        The weights of the thinned sample are rescaled to the full total, so both approximate the full-data
        optimum and curvature. They only start and precondition the fit on all patterns (:meth:`_newton`): the
        estimate and every check come from the full data.
        """
        step = len(w) // _THIN_TARGET
        if len(w) <= self._thin_above or step < 2:
            return None
        wt = w[::step]
        if wt.sum() <= 0:
            return None
        full, scale = self._data, float(self._total_weight)
        self._data = self._prepare([c[::step] for c in columns], wt * (scale / wt.sum()))
        try:
            for x0 in starts:
                res = optimize.minimize(lambda th: tuple(v / scale for v in self._nll_grad(th)), x0, jac=True,
                                        method="L-BFGS-B", bounds=[(-_BOUND, _BOUND)] * len(x0),
                                        options={"maxiter": self.max_iter, "ftol": 1e-10, "gtol": 1e-8})
                if res.success and np.all(np.isfinite(res.x)) and np.all(np.abs(res.x) < _BOUND - 1):
                    theta = np.asarray(res.x, dtype=float)
                    return theta, self._fd_hessian(theta) / scale
        finally:
            self._data = full
        return None

    def _newton(self, theta: np.ndarray, hess: np.ndarray) -> optimize.OptimizeResult | None:
        """Newton iterations on all patterns with a fixed approximate Hessian and step halving, or None.

        The Hessian from the thinned sample is close to the full one, so each iteration (one likelihood and
        gradient evaluation) cuts the distance to the optimum by a large factor. Returns None (the caller then
        runs L-BFGS-B) if the Hessian is not positive definite, a step cannot decrease the likelihood, or
        ``_NEWTON_MAX_ITER`` iterations do not reach the tolerance.

        Examples
        --------
        More than ``_THIN_ABOVE`` distinct patterns take this path; it reaches the same optimum as L-BFGS-B
        alone, with a smaller gradient:

        >>> rng = np.random.default_rng(3)
        >>> truth = {"r": 0.5, "alpha": 10.0, "a": 0.7, "b": 3.0}
        >>> x, t_x, T = sample_bgnbd(150_000, truth, T=rng.uniform(100, 400, 150_000), seed=3)
        >>> fast = BetaGeo().fit(x, t_x, T)
        >>> bool(fast._n_patterns > _THIN_ABOVE and fast.n_iter_ < 10)
        True
        >>> ref = BetaGeo()
        >>> ref._thin_above = 10**12  # force the plain L-BFGS-B path
        >>> ref = ref.fit(x, t_x, T)
        >>> bool(((fast.params_ / ref.params_ - 1).abs() < 1e-4).all())
        True
        >>> bool(fast.log_likelihood_ >= ref.log_likelihood_ - 1e-6)
        True
        >>> bool(np.abs(fast._nll_grad(fast._theta)[1]).max() / fast._total_weight < 1e-8)
        True
        """
        scale = float(self._total_weight)
        try:
            factor = linalg.cho_factor(hess)
        except (linalg.LinAlgError, ValueError):
            return None

        def evaluate(th: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = self._nll_grad(th)
            return f / scale, g / scale

        f, g = evaluate(theta)
        if not np.isfinite(f):
            return None
        for nit in range(min(self.max_iter, _NEWTON_MAX_ITER)):
            if np.max(np.abs(g)) < _NEWTON_GTOL:
                return optimize.OptimizeResult(x=theta, fun=f, jac=g, success=True, nit=nit,
                                               message="Newton: gradient below tolerance")
            step = linalg.cho_solve(factor, g)
            for _ in range(30):
                new = theta - step
                if np.all(np.abs(new) < _BOUND):
                    f_new, g_new = evaluate(new)
                    if np.isfinite(f_new) and f_new <= f + 1e-13 * abs(f):
                        break
                step = step / 2
            else:
                return None
            if np.max(np.abs(new - theta)) < 1e-13:  # no further progress possible in floating point
                return optimize.OptimizeResult(x=new, fun=f_new, jac=g_new, success=True, nit=nit + 1,
                                               message="Newton: step below floating-point resolution")
            theta, f, g = new, f_new, g_new
        return None

    def _optimise(self, starts: list[np.ndarray], hint: str,
                  thinned: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        scale = float(self._total_weight)
        best = None
        if thinned is not None:  # large data: Newton from the thinned optimum, L-BFGS-B only as a fall-back
            best = self._newton(*thinned)
            if best is None:
                logger.info("%s: Newton polish from the thinned-sample fit failed; running L-BFGS-B", self._model)
                starts = [thinned[0], *starts]
        for x0 in starts if best is None else []:
            res = optimize.minimize(lambda th: tuple(v / scale for v in self._nll_grad(th)), x0, jac=True,
                                    method="L-BFGS-B", bounds=[(-_BOUND, _BOUND)] * len(x0),
                                    options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": 1e-9})
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
            if res.success and np.all(np.abs(res.x) < _BOUND - 1):
                break  # a clean optimum from this start; later starts are fall-backs
        if best is None or not np.all(np.isfinite(best.x)):
            raise ConvergenceError(f"{self._model}: the likelihood could not be evaluated (non-finite). {hint}")
        at_bound = np.abs(best.x) > _BOUND - 1
        if at_bound.any():
            names = [self._names[i] for i in np.flatnonzero(at_bound)]
            raise ConvergenceError(
                f"{self._model}: parameter(s) {names} ran to 0 or infinity (log value {best.x[at_bound].round(1)}),"
                f" so the data do not identify the model. {hint}")
        grad_norm = float(np.max(np.abs(best.jac))) if best.jac is not None else np.inf
        if not best.success and grad_norm > 1e-3:
            raise ConvergenceError(f"{self._model}: optimiser stopped without convergence ({best.message}; largest "
                                   f"gradient {grad_norm:.2g}). Try max_iter larger, or check the input. {hint}")
        theta = best.x
        self.converged_ = True
        self.n_iter_ = int(best.nit)
        self.log_likelihood_ = -float(best.fun) * scale
        self._theta = theta
        self._cov_log: np.ndarray | None = None  # computed on first use (summary, covariance_)
        self.params_ = pd.Series(np.exp(theta), index=list(self._names), name="estimate")

    def _log_covariance(self) -> np.ndarray:
        """Covariance of the log-parameters (inverse observed information), computed once, on first use."""
        self._check_fitted()
        if getattr(self, "_data", None) is None or not hasattr(self, "_theta"):
            raise NotFittedError(f"{type(self).__name__} has parameters but was not fitted to data here, so it has "
                                 "no standard errors; call fit(...)")
        if self._cov_log is None:
            with _one_blas_thread():
                self._cov_log = self._covariance(self._theta)
        return self._cov_log

    @property
    def covariance_(self) -> pd.DataFrame:
        """Asymptotic covariance of the estimates (delta method from the log scale); computed on first use."""
        cov_log = self._log_covariance()
        values = np.exp(self._theta)
        return pd.DataFrame(cov_log * np.outer(values, values), index=list(self._names), columns=list(self._names))

    def _fd_hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the negative log-likelihood (log scale) by central differences of the analytic gradient."""
        k = len(theta)
        hess = np.empty((k, k))
        for i in range(k):
            h = 1e-5 * max(1.0, abs(theta[i]))
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            hess[:, i] = (self._nll_grad(up)[1] - self._nll_grad(down)[1]) / (2 * h)
        return (hess + hess.T) / 2

    def _covariance(self, theta: np.ndarray) -> np.ndarray:
        k = len(theta)
        hess = self._fd_hessian(theta)
        try:
            cov = np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            cov = np.full((k, k), np.nan)
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            logger.warning("%s: the Hessian at the optimum is not positive definite; standard errors are NaN",
                           self._model)
            cov = np.full((k, k), np.nan)
        return cov

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and confidence intervals (``confidence`` level, log-scale Wald).

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: ``estimate``, ``se``, ``lower``, ``upper``; ``attrs`` hold ``n`` (customers),
            ``patterns``, ``log_likelihood`` and ``confidence``.
        """
        cov_log = self._log_covariance()
        theta, values = self._theta, np.exp(self._theta)
        se_log = np.sqrt(np.clip(np.diag(cov_log), 0, None))
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        with np.errstate(over="ignore"):  # a weakly identified parameter may have an infinite upper bound
            out = pd.DataFrame({
                "estimate": values, "se": values * se_log,
                "lower": np.exp(theta - z * se_log), "upper": np.exp(theta + z * se_log),
            }, index=pd.Index(self._names, name="parameter"))
        out.attrs.update(model=self._model, n=float(self._total_weight), patterns=int(self._n_patterns),
                         log_likelihood=self.log_likelihood_, confidence=self.confidence)
        return out

    def _repr_html_(self) -> str:
        if not hasattr(self, "params_"):
            return f"<p>{html.escape(type(self).__name__)} (not fitted)</p>"
        if getattr(self, "_data", None) is None or not hasattr(self, "_theta"):  # parameters set by hand
            return f"<p>{html.escape(repr(self))}</p>"
        head = (f"<p><b>{html.escape(self._model)}</b>: {self._total_weight:,.0f} customers in "
                f"{self._n_patterns:,} patterns, log-likelihood {self.log_likelihood_:,.2f}</p>")
        return head + self.summary().to_html(float_format=lambda v: f"{v:.4g}")

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(confidence={self.confidence})"
        inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({inner})"


class BetaGeo(_MLEModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    confidence : float
        Level of the confidence intervals in :meth:`summary`.
    max_iter : int
        Maximum L-BFGS-B iterations.
    tol : float
        Relative tolerance on the (per-customer) negative log-likelihood.

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha`` (purchase rate heterogeneity, ``alpha`` in time units of the data), ``a``, ``b``
        (dropout heterogeneity).
    covariance_ : pandas.DataFrame
        Asymptotic covariance of the estimates (delta method from the log scale).
    log_likelihood_ : float

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an alternative to
    the Pareto/NBD model. Marketing Science 24(2), 275-284.

    Examples
    --------
    >>> x, t_x, T = sample_bgnbd(3000, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}, T=52.0, seed=2)
    >>> bg = BetaGeo().fit(frequency=x, recency=t_x, T=T)
    >>> bool(abs(bg.params_["r"] - 0.25) < 3 * bg.summary().loc["r", "se"])
    True
    >>> bg.summary().columns.tolist()
    ['estimate', 'se', 'lower', 'upper']
    """

    _names = ("r", "alpha", "a", "b")
    _model = "BG/NBD"

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeo:
        """Fit by weighted maximum likelihood.

        Parameters
        ----------
        frequency : array-like of int
            Repeat purchases (x).
        recency : array-like
            Time of the last purchase since the first (t_x); 0 when ``frequency == 0``.
        T : array-like
            Age: time from the first purchase to the end of observation; ``T >= recency``.
        weights : array-like, optional
            Number of customers behind each row (e.g. from
            :func:`salesplan.reduce.customers.customer_patterns`).

        Returns
        -------
        BetaGeo
            self, fitted.

        Raises
        ------
        SchemaError
            Negative, non-integer or inconsistent inputs (listed with row numbers).
        ConvergenceError
            One customer only, every customer a one-time buyer (the purchase rate and dropout cannot be told
            apart), or an optimiser failure; the message says what to try.
        """
        x, tx, t = _array(frequency, "frequency"), _array(recency, "recency"), _array(T, "T")
        if not len(x) == len(tx) == len(t):
            raise SchemaError(f"frequency, recency and T differ in length: {len(x)}, {len(tx)}, {len(t)}")
        if len(x) == 0:
            raise SchemaError("BG/NBD: no customers given (prospects without orders cannot be fitted)")
        w = _weights(weights, len(x))
        _fail("summary", [
            ("frequency", "non_negative_integer", ~(np.isfinite(x) & (x >= 0) & (x % 1 == 0)), x),
            ("recency", "non_negative", ~(np.isfinite(tx) & (tx >= 0)), tx),
            ("T", "at_least_recency", ~(np.isfinite(t) & (t >= tx)), t),
            ("recency", "zero_for_one_time_buyers", (x == 0) & (tx != 0), tx),
        ])
        (x, tx, t), w = _compress([x, tx, t], w)
        self._total_weight, self._n_patterns = float(w.sum()), len(w)
        hint = ("Try: a longer calibration period, a finer period unit (days instead of months), or check that "
                "recency and T are in the same unit.")
        if self._total_weight < 2:
            raise ConvergenceError(f"BG/NBD: only {self._total_weight:g} customer(s); four parameters need many "
                                   "customers (hundreds). Pool customers or use a simpler rule.")
        if not np.any((x > 0) & (w > 0)):
            raise ConvergenceError(
                f"BG/NBD: all {self._total_weight:g} customers are one-time buyers (frequency 0), so the purchase "
                f"rate and the dropout probability cannot be told apart (the likelihood has no maximum). {hint}")
        rate = float(np.sum(w * x) / np.sum(w * t))
        starts = [np.log([1.0, 1.0 / max(rate, 1e-8), 1.0, 1.0]), np.log([0.3, 0.3 / max(rate, 1e-8), 0.5, 2.0])]
        self._data = self._prepare([x, tx, t], w)
        with _one_blas_thread():
            self._optimise(starts, hint, self._thinned_start([x, tx, t], w, starts))
        return self

    def _prepare(self, columns: list[np.ndarray], w: np.ndarray) -> dict[str, Any]:
        """Arrays for :meth:`_nll_grad`; everything that does not depend on the parameters is computed here.

        One-time buyers (x = 0, t_x = 0) contribute ``-r ln(alpha + T)`` only, so they are summed per distinct T.
        Repeat buyers keep one entry per pattern, with codes into the distinct x, t_x and T values (there are
        few of those: logs of ``alpha + T`` are taken once per distinct value per evaluation).
        """
        x, tx, t = columns
        xi, xu = pd.factorize(x)
        ti, tu = pd.factorize(t)
        txi, txu = pd.factorize(tx)
        pos = x > 0
        zero = ~pos
        wp, txp = w[pos], txi[pos]
        xp = np.ascontiguousarray(x[pos])
        return {
            "W": float(w.sum()), "W_pos": float(wp.sum()),
            "xu": np.asarray(xu, dtype=float), "wx": np.bincount(xi, weights=w, minlength=len(xu)),
            "tu": np.asarray(tu, dtype=float), "txu": np.asarray(txu, dtype=float),
            "w0_t": np.bincount(ti[zero], weights=w[zero], minlength=len(tu)),  # one-time buyers per T
            "w_tx": np.bincount(txp, weights=wp, minlength=len(txu)),  # repeat buyers per t_x
            "wx_tx": np.bincount(txp, weights=wp * xp, minlength=len(txu)),
            # per repeat-buyer pattern
            "x": xp, "w": np.ascontiguousarray(wp), "xi": xi[pos].astype(np.intp), "ti": ti[pos].astype(np.intp),
            "txi": txp.astype(np.intp),
        }

    def _nll_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log-likelihood and its gradient with respect to the log-parameters.

        Per repeat buyer, ``ln L = c(x) + r ln alpha - (r+x) ln(alpha+t_x) + ln(A + e)`` with
        ``A = a / (b+x-1)`` and ``e = ((alpha+t_x)/(alpha+T))^(r+x)`` in (0, 1], so no overflow can occur;
        ``c(x)`` holds the gamma-function terms, evaluated per distinct x.
        """
        r, alpha, a, b = np.exp(theta)
        d = self._data
        xu, wx, W = d["xu"], d["wx"], d["W"]
        # terms that depend on x only: evaluated once per distinct x, weighted by the total weight of that x
        const_u = (special.gammaln(r + xu) - special.gammaln(r) + special.gammaln(a + b) + special.gammaln(b + xu)
                   - special.gammaln(b) - special.gammaln(a + b + xu))
        ll = _dot(wx, const_u) + W * r * np.log(alpha)
        g_r = _dot(wx, special.digamma(r + xu) - special.digamma(r)) + W * np.log(alpha)
        g_alpha = W * r / alpha
        dab = special.digamma(a + b) - special.digamma(a + b + xu)
        g_a = _dot(wx, dab)
        g_b = _dot(wx, dab + special.digamma(b + xu) - special.digamma(b))
        # logs and reciprocals once per distinct T and t_x
        ln_t, ln_tx = np.log(alpha + d["tu"]), np.log(alpha + d["txu"])
        inv_t, inv_tx = 1.0 / (alpha + d["tu"]), 1.0 / (alpha + d["txu"])
        # one-time buyers: -r ln(alpha + T)
        ll -= r * _dot(d["w0_t"], ln_t)
        g_r -= _dot(d["w0_t"], ln_t)
        g_alpha -= r * _dot(d["w0_t"], inv_t)
        # repeat buyers, the part linear in ln(alpha + t_x): -(r + x) ln(alpha + t_x), summed per t_x
        ll -= r * _dot(d["w_tx"], ln_tx) + _dot(d["wx_tx"], ln_tx)
        g_r -= _dot(d["w_tx"], ln_tx)
        g_alpha -= r * _dot(d["w_tx"], inv_tx) + _dot(d["wx_tx"], inv_tx)
        # repeat buyers, ln(A + e) per pattern (in-place arithmetic: few temporaries)
        x, w, xi, ti, txi = d["x"], d["w"], d["xi"], d["ti"], d["txi"]
        neg_d = ln_tx.take(txi)
        neg_d -= ln_t.take(ti)  # ln((alpha+t_x)/(alpha+T)) <= 0
        rx = x + r
        e = rx * neg_d
        np.exp(e, out=e)
        with np.errstate(divide="ignore"):
            a_u = a / np.where(xu > 0, b + xu - 1, 1.0)
        s = a_u.take(xi)
        s += e
        ll += _dot(w, np.log(s))
        np.divide(e, s, out=e)  # p3 = e / (A + e); p4 = 1 - p3 = A / (A + e)
        e *= w  # w p3
        sum_wp3 = float(e.sum())
        g_r += _dot(e, neg_d)
        g_a += (d["W_pos"] - sum_wp3) / a
        wp3_x = np.bincount(xi, weights=e, minlength=len(xu))
        with np.errstate(divide="ignore", invalid="ignore"):
            g_b -= float(np.sum(np.where(xu > 0, (wx - wp3_x) / (b + xu - 1), 0.0)))
        j = inv_t.take(ti)
        j -= inv_tx.take(txi)
        rx *= e  # w p3 (r + x)
        g_alpha -= _dot(rx, j)
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        if not np.isfinite(ll):
            return np.inf, np.zeros(4)
        return -ll, -grad

    # --- predictions --------------------------------------------------------------------------------------
    def _odds_dead(self, x: np.ndarray, tx: np.ndarray, t: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.params_.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) + (r + x) * (
                np.log(alpha + t) - np.log(alpha + tx))
        return np.where(x > 0, np.exp(log_term), 0.0)

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at the end of observation | x, t_x, T).

        Examples
        --------
        >>> bg = BetaGeo()
        >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> round(float(bg.probability_alive(2, 30.43, 38.86)[0]), 4)
        0.7266
        """
        self._check_fitted()
        x, tx, t = np.broadcast_arrays(_array(frequency, "frequency"), _array(recency, "recency"), _array(T, "T"))
        return 1.0 / (1.0 + self._odds_dead(x, tx, t))

    def _numerator(self, horizon: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+h))^(r+x) 2F1(r+x, b+x; a+b+x-1; h/(alpha+T+h))]."""
        r, alpha, a, b = self.params_.to_numpy()
        zed = horizon / (alpha + t + horizon)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, zed)
        return (a + b + x - 1) / (a - 1) * (1 - np.exp((r + x) * np.log1p(-zed)) * hyp)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Expected purchases in the next ``t`` time units (of the fitted data), given each customer's (x, t_x, T).

        Distinct (x, T) pairs are evaluated once (the hypergeometric term depends on them only).

        Examples
        --------
        >>> bg = BetaGeo()
        >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> round(float(bg.expected_purchases(39, 2, 30.43, 38.86)[0]), 4)
        1.226
        """
        self._check_fitted()
        h, x, tx, age = np.broadcast_arrays(_array(t, "t"), _array(frequency, "frequency"),
                                            _array(recency, "recency"), _array(T, "T"))
        codes, (hu, xu, tu) = _distinct([h, x, age])
        num = self._numerator(hu, xu, tu)[codes]
        return num / (1.0 + self._odds_dead(x, tx, age))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """Expected purchases of a new customer (just made a first purchase) in ``t`` time units.

        Examples
        --------
        >>> bg = BetaGeo()
        >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> round(float(bg.expected_purchases_new(39)[0]), 4)
        1.1967
        """
        self._check_fitted()
        h = _array(t, "t")
        r, alpha, a, b = self.params_.to_numpy()
        zed = h / (alpha + h)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + h)) ** r * special.hyp2f1(r, b, a + b - 1, zed))

    def predict(self, frequency: Any, recency: Any, T: Any, t: float = 1.0) -> np.ndarray:
        """Alias of :meth:`expected_purchases` with the duration ``t`` last (scikit-learn style)."""
        return self.expected_purchases(t, frequency, recency, T)

    def discounted_purchases(self, frequency: Any, recency: Any, T: Any, *, n_steps: int = 12, step: float = 30,
                             discount_rate: float = 0.01) -> np.ndarray:
        """Sum over ``n_steps`` steps of expected purchases in each step, discounted by ``(1+rate)**step``.

        Multiply by an expected spend per purchase to get CLV (see :func:`customer_lifetime_value`).
        """
        self._check_fitted()
        x, tx, t = np.broadcast_arrays(_array(frequency, "frequency"), _array(recency, "recency"), _array(T, "T"))
        codes, (xu, tu) = _distinct([x, t])
        total = np.zeros(len(xu))
        previous = np.zeros(len(xu))
        check_positive(n_steps, "n_steps", integer=True)
        check_positive(step, "step")
        for i in range(1, int(n_steps) + 1):
            current = self._numerator(np.full(len(xu), i * step), xu, tu)
            total += (current - previous) / (1 + discount_rate) ** i
            previous = current
        return total[codes] / (1.0 + self._odds_dead(x, tx, t))


class GammaGamma(_MLEModel):
    """Gamma-Gamma model of average spend per purchase (Fader & Hardie 2013; Colombo & Jiang 1999).

    Fitted on repeat buyers only (``frequency > 0``), whose ``monetary_value`` is the mean of their repeat
    purchases. Customers with ``frequency == 0`` are skipped (counted in ``n_skipped_``).

    Attributes
    ----------
    params_ : pandas.Series
        ``p`` (shape of spend per purchase), ``q``, ``v`` (shape and rate of the customer-level spend scale).

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    http://www.brucehardie.com/notes/025/

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(1, 6, 2000)
    >>> nu = rng.gamma(4.0, 1 / 15.0, 2000)
    >>> m = rng.gamma(6.0 * x, 1 / (nu * x))  # mean of x purchases, each Gamma(6, rate nu)
    >>> gg = GammaGamma().fit(x, m)
    >>> gg.params_.round(1).to_dict()
    {'p': 6.1, 'q': 4.0, 'v': 14.6}
    >>> bool(gg.expected_spend(0, 0)[0] > 0)
    True
    """

    _names = ("p", "q", "v")
    _model = "Gamma-Gamma"

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None) -> GammaGamma:
        """Fit by weighted maximum likelihood on repeat buyers.

        Raises
        ------
        SchemaError
            Negative or zero spend of a repeat buyer, negative frequency (listed with row numbers).
        ConvergenceError
            No repeat buyers, a single one, or an optimiser failure.
        """
        x, m = _array(frequency, "frequency"), _array(monetary_value, "monetary_value")
        if len(x) != len(m):
            raise SchemaError(f"frequency and monetary_value differ in length: {len(x)}, {len(m)}")
        w = _weights(weights, len(x))
        _fail("summary", [
            ("frequency", "non_negative_integer", ~(np.isfinite(x) & (x >= 0) & (x % 1 == 0)), x),
            ("monetary_value", "positive_spend", (x > 0) & ~(np.isfinite(m) & (m > 0)), m),
        ])
        repeat = x > 0
        self.n_skipped_ = float(w[~repeat].sum())
        if weights is None:
            # one row per customer: spend means are continuous and rarely repeat, so collapsing identical rows
            # would cost more than it saves; the likelihood is the same sum either way
            x, m, w = np.ascontiguousarray(x[repeat]), np.ascontiguousarray(m[repeat]), w[repeat]
        else:
            (x, m), w = _compress([x[repeat], m[repeat]], w[repeat])
        self._total_weight, self._n_patterns = float(w.sum()), len(w)
        hint = "Try: more repeat buyers (a longer period), or check monetary_value (mean repeat spend, > 0)."
        if self._total_weight < 2 or len(m) == 0 or m.min() == m.max():
            raise ConvergenceError(f"Gamma-Gamma: {self._total_weight:g} repeat buyer(s) with "
                                   f"{len(np.unique(m))} distinct spend value(s); the spend distribution needs "
                                   f"many repeat buyers with differing spend. {hint}")
        mean_m = float(_dot(w, m) / w.sum())
        starts = [np.log([1.0, 2.0, mean_m]), np.log([5.0, 3.0, 2.0 * mean_m / 5.0])]
        self._data = self._prepare([x, m], w)
        with _one_blas_thread():
            self._optimise(starts, hint, self._thinned_start([x, m], w, starts))
        return self

    def _prepare(self, columns: list[np.ndarray], w: np.ndarray) -> dict[str, Any]:
        """Arrays for :meth:`_nll_grad`: parameter-free sums once, per-pattern ``x m``, ``w`` and ``w x``."""
        x, m = columns
        xi, xu = pd.factorize(x)
        return {"W": float(w.sum()), "xm": x * m, "w": np.ascontiguousarray(w), "wx": w * x,
                "xu": np.asarray(xu, dtype=float), "w_xu": np.bincount(xi, weights=w, minlength=len(xu)),
                "wlogm": _dot(w, np.log(m)), "xlogm": _dot(w, x * (np.log(m) + np.log(x)))}

    def _nll_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log-likelihood and its gradient with respect to the log-parameters."""
        p, q, v = np.exp(theta)
        d = self._data
        w, wx, xu, w_xu, W = d["w"], d["wx"], d["xu"], d["w_xu"], d["W"]
        px = p * xu
        ll = _dot(w_xu, special.gammaln(px + q) - special.gammaln(px)) - W * special.gammaln(q)
        # (px - 1) ln m + px ln x summed: p * sum(w x (ln m + ln x)) - sum(w ln m)
        ll += W * q * np.log(v) + p * d["xlogm"] - d["wlogm"]
        denom = d["xm"] + v
        ln_den = np.log(denom)
        np.reciprocal(denom, out=denom)
        s_wx_ln, s_w_ln = _dot(wx, ln_den), _dot(w, ln_den)
        s_wx_inv, s_w_inv = _dot(wx, denom), _dot(w, denom)
        ll -= p * s_wx_ln + q * s_w_ln  # sum w (p x + q) ln(v + x m)
        g_p = _dot(w_xu, xu * (special.digamma(px + q) - special.digamma(px))) + d["xlogm"] - s_wx_ln
        g_q = _dot(w_xu, special.digamma(px + q)) - W * special.digamma(q) + W * np.log(v) - s_w_ln
        g_v = W * q / v - (p * s_wx_inv + q * s_w_inv)
        if not np.isfinite(ll):
            return np.inf, np.zeros(3)
        return -ll, -np.array([g_p * p, g_q * q, g_v * v])

    def expected_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """Conditional expected average spend per purchase: ``p (v + x m) / (p x + q - 1)``.

        For ``frequency == 0`` this is the population mean ``p v / (q - 1)``. Requires ``q > 1``.

        Examples
        --------
        >>> gg = GammaGamma()
        >>> gg.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
        >>> round(float(gg.expected_spend(2, 22.35)[0]), 2)
        24.66
        """
        self._check_fitted()
        p, q, v = self.params_.to_numpy()
        if q <= 1:
            raise ConvergenceError(f"Gamma-Gamma: q = {q:.3g} <= 1, so the mean spend is infinite; the spend data "
                                   "are too heavy-tailed for this model (try trimming extreme order values)")
        x, m = np.broadcast_arrays(_array(frequency, "frequency"), _array(monetary_value, "monetary_value"))
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1)


def customer_lifetime_value(
    purchases: BetaGeo,
    spend: GammaGamma,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    n_steps: int = 12,
    step: float = 30,
    discount_rate: float = 0.01,
) -> np.ndarray:
    """Discounted CLV: expected spend times expected purchases per step, discounted per step.

    ``CLV = E[spend] * sum_{i=1..n_steps} (E[Y(i step)] - E[Y((i-1) step)]) / (1 + discount_rate)**i``, the same
    definition as lifetimes' ``customer_lifetime_value`` (``step`` = 30 for daily data and monthly steps).

    Parameters
    ----------
    purchases : BetaGeo
        Fitted purchase model.
    spend : GammaGamma
        Fitted spend model.
    frequency, recency, T, monetary_value : array-like
        Per customer, in the time unit the purchase model was fitted in.
    n_steps : int
        Number of discounting steps (e.g. 12 months).
    step : float
        Length of one step in model time units (30 days, 4.345 weeks, 1 month).
    discount_rate : float
        Discount rate per step.

    Examples
    --------
    >>> bg, gg = BetaGeo(), GammaGamma()
    >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> gg.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    >>> clv = customer_lifetime_value(bg, gg, [0, 2], [0, 30.43], [38.86, 38.86], [0, 22.35], n_steps=12,
    ...                               step=4.345)
    >>> [round(float(c), 2) for c in clv]
    [8.37, 36.29]
    """
    x, tx, t, m = (_array(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T"),
                                             (monetary_value, "monetary_value")))
    factor = purchases.discounted_purchases(x, tx, t, n_steps=n_steps, step=step, discount_rate=discount_rate)
    return spend.expected_spend(x, m) * factor


def calibration_holdout(
    orders: Any,
    *,
    as_of: Any,
    end: Any,
    time_unit: str = "D",
    period_length: float = 1,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Calibration summary up to ``as_of`` joined with actual purchases in the holdout window ``(as_of, end]``.

    ``time_unit``, ``period_length`` and ``columns`` are as in :func:`salesplan.reduce.customers.customer_summary`.

    Only customers whose first purchase is in the calibration period are included (the usual set-up).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`salesplan.reduce.customers.customer_summary` plus ``frequency_holdout`` (purchase
        periods in ``(as_of, end]``), ``revenue_holdout`` and ``duration_holdout`` (length of
        the holdout window in model time units).

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "amount": [5.0, 6.0, 7.0, 8.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-03-01", "2024-02-10"])})
    >>> t = calibration_holdout(o, as_of="2024-01-31", end="2024-03-31")
    >>> t[["frequency", "frequency_holdout", "duration_holdout"]].to_dict("index")
    {'a': {'frequency': 1, 'frequency_holdout': 1, 'duration_holdout': 60.0}}
    """
    from salesplan.reduce.customers import customer_summary, holdout_purchases, period_index

    period = time_unit
    cal = customer_summary(orders, as_of=as_of, time_unit=period, period_length=period_length, columns=columns)
    hold = holdout_purchases(orders, as_of=as_of, end=end, time_unit=period, columns=columns)
    out = cal.join(hold, how="left")
    out["frequency_holdout"] = out["frequency_holdout"].fillna(0).astype("int64")
    out["revenue_holdout"] = out["revenue_holdout"].fillna(0.0)
    cal_ts, end_ts = to_naive_utc(as_of), to_naive_utc(end)
    if end_ts <= cal_ts:
        raise ParameterError(f"end {end_ts.date()} must be after as_of {cal_ts.date()}")
    out["duration_holdout"] = (period_index(end_ts, period) - period_index(cal_ts, period)) / period_length
    out.attrs.update(cal.attrs, end=end_ts)
    return out


def holdout_comparison(model: BetaGeo, table: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Mean predicted vs actual holdout purchases by calibration frequency (``max_frequency`` = "and more").

    Parameters
    ----------
    model : BetaGeo
        Fitted on the calibration period.
    table : DataFrame
        From :func:`calibration_holdout`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``frequency`` (calibration repeat purchases, capped): ``customers``, ``actual``,
        ``predicted`` (means per customer), ``actual_total`` and ``predicted_total``.

    Examples
    --------
    >>> bg = BetaGeo()
    >>> bg.params_ = pd.Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> t = pd.DataFrame({"frequency": [0, 1], "recency": [0.0, 5.0], "T": [30.0, 30.0],
    ...                   "frequency_holdout": [0, 2], "duration_holdout": [39.0, 39.0]})
    >>> holdout_comparison(bg, t)["customers"].tolist()
    [1, 1]
    """
    missing = [c for c in ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")
               if c not in table.columns]
    if missing:
        raise SchemaError(f"holdout table lacks column(s) {missing}; build it with calibration_holdout(...)")
    pred = model.expected_purchases(table["duration_holdout"], table["frequency"], table["recency"], table["T"])
    frame = pd.DataFrame({"frequency": np.minimum(table["frequency"].to_numpy(), max_frequency),
                          "actual": table["frequency_holdout"].to_numpy(dtype=float), "predicted": pred})
    out = frame.groupby("frequency").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                         predicted=("predicted", "mean"), actual_total=("actual", "sum"),
                                         predicted_total=("predicted", "sum"))
    out.attrs["max_frequency"] = max_frequency
    return out
