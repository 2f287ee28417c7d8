"""Revenue targets to contract targets through the deal-size distribution, with its uncertainty.

Method
    For a revenue target ``R`` of a process with ``m`` observed deal sizes, the number of contracts needed is the
    smallest ``N`` with ``P(S_N >= R) >= target_probability``, where ``S_N`` is the revenue of ``N`` future deals. Two
    sources of uncertainty enter: the deal-to-deal spread and the uncertainty about the deal-size distribution
    itself (only ``m`` deals were seen). Both are simulated with the Bayesian bootstrap (Rubin 1981): each draw
    takes Dirichlet(1, ..., 1) weights over the observed deals (a plausible deal-size distribution) and then
    ``N`` deals from it; ``P(S_N >= R)`` is the share of draws reaching ``R``. ``expected_contracts`` is
    ``R / mean deal size``.

Assumptions
    Future deals are exchangeable with the observed ones (same process; filter by segment or period first when
    sizes drift); deals are independent.

Reference
    Rubin, D. B. (1981). The Bayesian bootstrap. *Annals of Statistics* 9(1), 130-134.

Examples
--------
>>> import pandas as pd
>>> deals = pd.DataFrame({"process": "p", "amount": [8000.0, 10000.0, 12000.0, 9000.0, 11000.0] * 8})
>>> t = pd.DataFrame({"process": ["p"], "period": ["2025Q1"], "contracts": [0], "revenue": [100000.0]})
>>> out = targets_from_revenue(t, deals, target_probability=0.8)
>>> out[["expected_contracts", "contracts"]].to_dict("records")
[{'expected_contracts': 10.0, 'contracts': 11}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import PlanInputError
from salesplan.plan.volumes import check_target_probability
from salesplan.schema import to_pandas

__all__ = ["targets_from_revenue", "contracts_for_revenue"]

logger = logging.getLogger(__name__)


def _deal_samples(deal_sizes: Any) -> dict[str, np.ndarray]:
    if isinstance(deal_sizes, Mapping):
        out = {str(k): np.asarray(v, dtype=float) for k, v in deal_sizes.items()}
    else:
        frame = to_pandas(deal_sizes, "deal_sizes")
        if not {"process", "amount"} <= set(frame.columns):
            raise PlanInputError("deal_sizes table needs the columns 'process' and 'amount' (e.g. won opportunities)")
        out = {str(p): g["amount"].to_numpy(float) for p, g in frame.groupby("process")}
    clean = {}
    for proc, values in out.items():
        finite = values[np.isfinite(values) & (values > 0)]
        if len(finite) < len(values):
            logger.warning("deal_sizes of process %r: dropped %d non-positive or missing amount(s)", proc,
                           len(values) - len(finite))
        if len(finite) < 2:
            raise PlanInputError(f"deal_sizes: process {proc!r} has {len(finite)} usable deal size(s); need >= 2")
        clean[proc] = finite
    return clean


def contracts_for_revenue(revenue: float, sizes: np.ndarray, target_probability: float = 0.8, *, n_draws: int = 4000,
                          seed: int = 0) -> tuple[int, float, float]:
    """Contracts needed to reach ``revenue`` with probability ``target_probability``; see the module docstring.

    Returns ``(required, expected, probability)`` where ``probability`` is the simulated chance of reaching the
    revenue with ``required`` contracts.

    Examples
    --------
    >>> contracts_for_revenue(0.0, np.array([1.0, 2.0]))
    (0, 0.0, 1.0)
    """
    target_probability = check_target_probability(target_probability)
    if not np.isfinite(revenue) or revenue < 0:
        raise PlanInputError(f"revenue target must be a finite number >= 0, got {revenue!r}")
    sizes = np.asarray(sizes, dtype=float)
    expected = float(revenue / sizes.mean())
    if revenue == 0:
        return 0, 0.0, 1.0
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(sizes)), size=n_draws)
    cum_w = np.cumsum(weights, axis=1)
    cum_w[:, -1] = 1.0
    n_max = int(np.ceil(expected * 1.5 + 10))
    reached_at = np.full(n_draws, np.iinfo(np.int64).max)
    total = np.zeros(n_draws)
    done = 0
    while True:
        u = rng.random((n_draws, n_max - done))
        # one searchsorted for all draws: shift row d of the cumulative weights (and its uniforms) by d
        shift = np.arange(n_draws)[:, None]
        flat = np.searchsorted((cum_w + shift).ravel(), (u + shift).ravel()).reshape(u.shape)
        idx = np.clip(flat - shift * len(sizes), 0, len(sizes) - 1)
        running = total[:, None] + np.cumsum(sizes[idx], axis=1)
        hit = running >= revenue
        first = np.where(hit.any(axis=1), np.argmax(hit, axis=1) + done + 1, np.iinfo(np.int64).max)
        reached_at = np.minimum(reached_at, first)
        total = running[:, -1]
        done = n_max
        counts = np.sort(reached_at)
        k = int(np.ceil(target_probability * n_draws)) - 1
        if counts[k] < np.iinfo(np.int64).max:
            required = int(counts[k])
            return required, expected, float(np.mean(reached_at <= required))
        if n_max > 1_000_000:
            raise PlanInputError(f"revenue {revenue!r} needs more than a million contracts at these deal sizes")
        n_max *= 2


def targets_from_revenue(targets: Any, deal_sizes: Any, target_probability: float = 0.8, *, n_draws: int = 4000,
                         seed: int = 0) -> pd.DataFrame:
    """Replace each row's ``contracts`` by the contracts its ``revenue`` needs at ``target_probability``.

    Parameters
    ----------
    targets : DataFrame
        Targets table with ``process``, ``period`` and ``revenue`` (``contracts`` optional; kept as
        ``contracts_given``).
    deal_sizes : DataFrame or mapping
        Observed deal sizes: a table ``process, amount`` (for example won opportunities) or
        ``{process: amounts}``.
    target_probability : float
        Probability of reaching the revenue with the planned contracts (if they are all won).

    Returns
    -------
    DataFrame
        The targets with ``contracts`` (required), ``expected_contracts``, ``mean_deal`` and
        ``revenue_probability``; ready for :func:`~salesplan.plan.backward`.
    """
    frame = to_pandas(targets, "targets").reset_index(drop=True)
    if "revenue" not in frame.columns:
        raise PlanInputError("targets_from_revenue: the targets table has no 'revenue' column")
    samples = _deal_samples(deal_sizes)
    out = frame.copy()
    if "contracts" in out.columns:
        out["contracts_given"] = out["contracts"]
    req, exp, prob, mean = [], [], [], []
    for i, (proc, rev) in enumerate(zip(out["process"], out["revenue"], strict=True)):
        if proc not in samples:
            raise PlanInputError(f"targets row {i} (process={proc!r}): no deal sizes for this process; have "
                                 f"{sorted(samples)}")
        try:
            r, e, p = contracts_for_revenue(float(rev), samples[proc], target_probability, n_draws=n_draws, seed=seed + i)
        except PlanInputError as err:
            raise PlanInputError(f"targets row {i} (process={proc!r}): {err}") from None
        req.append(r)
        exp.append(e)
        prob.append(p)
        mean.append(float(samples[proc].mean()))
    out["contracts"] = np.asarray(req, dtype=np.int64)
    out["expected_contracts"] = exp
    out["mean_deal"] = mean
    out["revenue_probability"] = prob
    return out
