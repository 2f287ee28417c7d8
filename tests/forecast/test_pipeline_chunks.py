"""The pipeline forecast simulates the open deals' cells in chunks of draws (bounded memory): same distribution as
in one block."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from salesplan.datasets import simulate
from salesplan.forecast import pipeline
from salesplan.funnel import estimate

MODULE = importlib.import_module("salesplan.forecast.pipeline")  # the module (the package exports the function)

N_DRAWS = 4000


def _run(data, funnel, monkeypatch: pytest.MonkeyPatch, cells: int, seed: int):
    monkeypatch.setattr(MODULE, "_CHUNK_CELLS", cells)
    return pipeline(data, funnel, horizon="90D", n_draws=N_DRAWS, seed=seed)


def test_chunked_simulation_has_the_same_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tolerance: for two independent samples of n draws from one distribution, the empirical CDFs at a point x
    differ by a normal variable with sd ``sqrt(2 F(x) (1 - F(x)) / n)``; at each checked quantile the chunked
    run's CDF must lie within 5 such sd of the level (a false alarm has probability below 1e-6 per check).
    Per deal, the win probabilities are means over the n draws of the rates of a chance in [0, 1] with mean p,
    whose variance is at most ``p (1 - p)``: they must agree within 5 sd of their difference,
    ``sqrt(2 p (1 - p) / n)``.
    """
    data, _ = simulate(n_customers=150, years=2, seed=5)
    funnel = estimate(data)
    whole = _run(data, funnel, monkeypatch, 10**9, seed=1)  # every group in one block, as before chunking
    chunked = _run(data, funnel, monkeypatch, 280, seed=2)  # 280 (draw, cell) pairs: many chunks of draws
    assert len(whole.deals) > 30  # enough open deals for several cells per process
    a = whole.draws["pipeline"].sum(axis=(1, 2))
    b = chunked.draws["pipeline"].sum(axis=(1, 2))
    assert a.std() > 0
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        x = np.quantile(a, q)
        below, at_most = (b < x).mean(), (b <= x).mean()  # counts are discrete: the level lies between the two
        tol = 5 * np.sqrt(2 * q * (1 - q) / N_DRAWS)
        assert below - tol <= q <= at_most + tol, (q, x, below, at_most)
    assert abs(a.mean() - b.mean()) <= 5 * np.sqrt((a.var() + b.var()) / N_DRAWS)
    pa = whole.deals.set_index("opportunity_id")["p_win"]
    pb = chunked.deals.set_index("opportunity_id")["p_win"].reindex(pa.index)
    p = (pa + pb) / 2
    sd = np.sqrt(2 * p * (1 - p) / N_DRAWS)
    assert ((pa - pb).abs() <= 5 * sd + 1e-12).all()


def test_one_chunk_is_todays_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """When all draws fit in one chunk, the draws are exactly those of the unchunked simulation."""
    data, _ = simulate(n_customers=60, years=1.5, seed=3)
    funnel = estimate(data)
    big = _run(data, funnel, monkeypatch, 10**9, seed=4)
    small = _run(data, funnel, monkeypatch, N_DRAWS * 10**4, seed=4)
    np.testing.assert_array_equal(big.draws["pipeline"], small.draws["pipeline"])
