"""The pipeline forecast simulates the open deals' cells in chunks of draws (bounded memory): same distribution as
in one block."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
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


def _same_distribution(a: np.ndarray, b: np.ndarray, n: int) -> None:
    """b's empirical CDF at a's quantiles within 5 sd of the level (see the first test's docstring)."""
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        x = np.quantile(a, q)
        below, at_most = (b < x).mean(), (b <= x).mean()
        tol = 5 * np.sqrt(2 * q * (1 - q) / n)
        assert below - tol <= q <= at_most + tol, (q, x, below, at_most)
    assert abs(a.mean() - b.mean()) <= 5 * np.sqrt((a.var() + b.var()) / n)


def test_new_opportunities_as_counts_match_a_deal_by_deal_simulation() -> None:
    """The "new" component is drawn as Poisson counts per period (thinning), not deal by deal: its wins per
    period and its revenue must have the distribution of the deal-by-deal model written out here: per draw a
    creation rate from Gamma(created + 1/2, window), Poisson many deals created at uniform times in the window,
    each won when it passes both stages (rates 0.5, 0.6) after two log-normal times (median 20 days, sigma 0.5),
    its amount drawn from the past deals' amounts. Tolerance as in the first test.
    """
    from salesplan import SalesProcess
    from salesplan.forecast import FunnelParameters

    proc = SalesProcess("p", ["lead", "offer"])
    funnel = FunnelParameters.from_values({"p": proc}, rates={("p", "lead"): (0.5, 1e9), ("p", "offer"): (0.6, 1e9)},
                                          advance_days={("p", "lead"): 20.0, ("p", "offer"): 20.0}, sigma=0.5)
    created = pd.Timestamp("2024-10-03") + pd.to_timedelta(np.linspace(0.1, 89.9, 180), unit="D")
    ids = [f"o{i}" for i in range(180)]
    amounts = 50.0 + 10.0 * (np.arange(180) % 11)
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": amounts, "created_at": created})
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "lost", "entered_at": created})
    fc = pipeline(ev, funnel, opportunities=opps, as_of="2025-01-01", horizon="60D", creation_window=90,
                  n_draws=N_DRAWS, seed=7)
    assert fc.periods == ["2025-01", "2025-02", "2025-03"]
    rng = np.random.default_rng(8)
    window = 90 - 0.1  # days from the first creation to the cut
    n_new = rng.poisson(rng.gamma(180 + 0.5, 1 / window, N_DRAWS) * 60)
    draw = np.repeat(np.arange(N_DRAWS), n_new)
    won_at = rng.uniform(0, 60, len(draw)) + rng.lognormal(np.log(20), 0.5, (2, len(draw))).sum(axis=0)
    won = (rng.random(len(draw)) < 0.5) & (rng.random(len(draw)) < 0.6) & (won_at <= 60)
    period = np.searchsorted([31.0, 59.0], won_at, side="left")
    amount = rng.choice(amounts, len(draw))
    new = fc.draws["new"][:, 0, :]
    for t in range(3):
        here = won & (period == t)
        _same_distribution(np.bincount(draw[here], minlength=N_DRAWS), new[:, t], N_DRAWS)
    _same_distribution(np.bincount(draw[won], weights=amount[won], minlength=N_DRAWS),
                       fc.revenue_draws["new"][:, 0, :].sum(axis=1), N_DRAWS)
    assert new.sum(axis=1).mean() > 10  # enough wins to test the split over the periods
