"""The pipeline forecast simulated from cells (``salesplan.forecast.open_deals``) against the per-deal simulation.

The reference below simulates every (draw, open deal) pair of the same model, the way the forecast did before
issue 17 (session 3): each deal advances out of its stage with ``r S_a(t) / (r S_a(t) + (1 - r) S_l(t))``, needs
the rest of its stage's time to advance truncated at its age, then every later stage's rate and time. The times
and survival ratios are the stage table's: the funnel's own curves where it has them (session 9), else
log-normal; the reference samples them by inverting their distribution functions on a grid of 0.05 days. It uses
the exact ages (no buckets), draws its own rates, and takes each won deal's own amount.

Tolerance: for two independent samples of n draws from one distribution, the empirical CDFs at a point x differ by
a normal variable with sd ``sqrt(2 F(x) (1 - F(x)) / n)``. At each checked quantile of the reference, the cell
forecast's CDF must lie within 5 such sd of the level (counts are discrete: the level must lie between the share
below and the share at most x). A false alarm has probability below 1e-6 per check (about 100 checks here). Means
must agree within 5 standard errors of their difference.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan import SalesProcess
from salesplan.datasets import simulate
from salesplan.forecast import FunnelParameters, open_pipeline, pipeline
from salesplan.funnel import estimate

MODULE = importlib.import_module("salesplan.forecast.pipeline")
N_DRAWS = 4000
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _per_deal(params: FunnelParameters, deals: pd.DataFrame, processes: list[str], bounds: np.ndarray, seed: int):
    """Reference: (draws, processes, periods) wins and revenue, one Bernoulli and one time per (draw, deal)."""
    rng = np.random.default_rng(seed)
    n_t = len(bounds)
    wins = np.zeros((N_DRAWS, len(processes), n_t))
    revenue = np.zeros_like(wins)
    for j, name in enumerate(processes):
        proc = params.processes[name]
        mine = deals[deals["process"] == name]
        keys = [()] if not params.by else list(mine.groupby(params.by[0] if len(params.by) == 1 else params.by).groups)
        for key in keys:
            key = key if isinstance(key, tuple) else (key,)
            sub = mine if not params.by else mine[(mine[params.by] == pd.Series(key, index=params.by)).all(axis=1)]
            t = MODULE._stage_table(params, proc, key)
            r = np.where(t["fixed"], t["rate"], rng.beta(t["alpha"], t["beta"], size=(N_DRAWS, len(t["rate"]))))
            k = sub["stage_index"].to_numpy()
            age = sub["days_in_stage"].to_numpy(dtype=float)
            ratio = np.array([_ratio(t, kk, a) for kk, a in zip(k, age, strict=True)])
            p = r[:, k] / (r[:, k] + (1 - r[:, k]) * ratio)
            alive = rng.random(p.shape) < p
            days = np.empty(p.shape)
            for i, (kk, a) in enumerate(zip(k, age, strict=True)):  # the rest of the stay, given its age
                days[:, i] = _draw_days(t, kk, rng, N_DRAWS, age=a)
            for stage in range(len(t["rate"])):
                later = k < stage
                alive &= ~later | (rng.random(p.shape) < r[:, [stage]])
                if later.any():
                    fresh = _draw_days(t, stage, rng, N_DRAWS * int(later.sum())).reshape(N_DRAWS, -1)
                    days[:, later] += fresh
            won = alive & (days <= bounds[-1])
            period = np.searchsorted(bounds, days, side="left")
            amount = sub["amount"].to_numpy(dtype=float)
            for period_index in range(n_t):
                hit = won & (period == period_index)
                wins[:, j, period_index] += hit.sum(axis=1)
                revenue[:, j, period_index] += (hit * amount).sum(axis=1)
    return wins, revenue


GRID = np.arange(0.0, 2000.0, 0.05)


def _advance_sf(t: dict, k: int, x: np.ndarray) -> np.ndarray:
    """``S_a(x)`` of stage ``k``: the table's curve up to its horizon, then the log-normal's tail joined to it."""
    ln = stats.lognorm(t["sd_a"][k], scale=np.exp(t["mu_a"][k]))
    curve = (t.get("advance_curves") or [None] * len(t["rate"]))[k]
    if curve is None:
        return ln.sf(x)
    times, log_s, horizon = curve
    idx = np.searchsorted(times, x, side="right") - 1
    inside = np.where(idx >= 0, np.exp(log_s)[np.clip(idx, 0, None)], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x <= horizon, inside, np.exp(log_s[-1]) * ln.sf(x) / ln.sf(horizon))


def _ratio(t: dict, k: int, age: float) -> float:
    """``S_l(age) / S_a(age)``: the table's curve, or the log-normals."""
    curve = (t.get("ratio_curves") or [None] * len(t["rate"]))[k]
    if curve is None:
        return float(stats.lognorm(t["sd_l"][k], scale=np.exp(t["mu_l"][k])).sf(age)
                     / stats.lognorm(t["sd_a"][k], scale=np.exp(t["mu_a"][k])).sf(age))
    times, log_ratio = curve
    i = np.searchsorted(times, age, side="right") - 1
    return float(np.exp(log_ratio[i])) if i >= 0 else 1.0


def _draw_days(t: dict, k: int, rng: np.random.Generator, n: int, age: float = 0.0) -> np.ndarray:
    """``n`` days to advance out of stage ``k`` after ``age`` days in it (inverse CDF on GRID; inf past it)."""
    s_age = float(_advance_sf(t, k, np.array([age]))[0])
    if not s_age > 0:
        return np.full(n, np.inf)
    cdf = 1.0 - _advance_sf(t, k, age + GRID) / s_age
    at = np.searchsorted(np.maximum.accumulate(cdf), rng.random(n), side="left")
    return np.where(at < len(GRID), GRID[np.minimum(at, len(GRID) - 1)], np.inf)


def _same_distribution(a: np.ndarray, b: np.ndarray) -> None:
    """``b`` (cells) against ``a`` (reference): CDF at each reference quantile and the means (module docstring)."""
    for q in QUANTILES:
        x = np.quantile(a, q)
        below, at_most = (b < x).mean(), (b <= x).mean()
        tol = 5 * np.sqrt(2 * q * (1 - q) / N_DRAWS)
        assert below - tol <= q <= at_most + tol, (q, x, below, at_most)
    assert abs(a.mean() - b.mean()) <= 5 * np.sqrt((a.var() + b.var()) / N_DRAWS) + 1e-9


@pytest.fixture(scope="module")
def world():
    """A simulated company (5 processes, open deals of every age), its funnel by segment, both simulations."""
    data, _ = simulate(n_customers=150, years=2, seed=5)
    funnel = estimate(data, by="segment")
    fc = pipeline(data, funnel, horizon="3MS", freq="M", include_new=False, n_draws=N_DRAWS, seed=1)
    params = FunnelParameters.from_funnel(funnel)
    deals = open_pipeline(data.stage_events, data.opportunities, data.processes, data.as_of)
    bounds = (pd.to_datetime([pd.Period(p, "M").end_time.normalize() + pd.Timedelta(days=1) for p in fc.periods])
              - fc.as_of).total_seconds().to_numpy() / 86400.0
    bounds[-1] = (fc.end - fc.as_of).total_seconds() / 86400.0
    ref = _per_deal(params, deals, fc.processes, bounds, seed=2)
    return fc, ref


def test_cells_reproduce_the_per_deal_distribution(world) -> None:
    """Per process and in all: contracts in the window and per month, and revenue in the window."""
    fc, (wins, revenue) = world
    assert len(fc.deals) > 60 and fc.deals["days_in_stage"].nunique() == len(fc.deals)  # every age differs
    cells = fc.draws["pipeline"]
    assert wins.sum(axis=(1, 2)).std() > 1
    _same_distribution(wins.sum(axis=(1, 2)), cells.sum(axis=(1, 2)))
    _same_distribution(revenue.sum(axis=(1, 2)), fc.revenue_draws["pipeline"].sum(axis=(1, 2)))
    for j in range(len(fc.processes)):
        _same_distribution(wins[:, j].sum(axis=1), cells[:, j].sum(axis=1))
        _same_distribution(revenue[:, j].sum(axis=1), fc.revenue_draws["pipeline"][:, j].sum(axis=1))
        for t in range(len(fc.periods)):
            _same_distribution(wins[:, j, t], cells[:, j, t])


def test_group_draws_add_up_and_per_deal_probabilities_match(world) -> None:
    fc, (wins, _) = world
    by_process = {p: sum(v for k, v in fc.group_draws.items() if k[0] == p) for p in fc.processes}
    for j, proc in enumerate(fc.processes):
        np.testing.assert_array_equal(by_process[proc], fc.draws["pipeline"][:, j, :])
    # expected wins per process and month: sum of the deals' probabilities = the reference's mean
    for j, proc in enumerate(fc.processes):
        d = fc.deals[fc.deals["process"] == proc]
        for t, label in enumerate(fc.periods):
            x = wins[:, j, t]
            assert d[f"p_{label}"].sum() == pytest.approx(x.mean(), abs=5 * x.std() / np.sqrt(N_DRAWS) + 1e-9)


def test_large_cell_revenue_is_a_random_subset_of_its_amounts() -> None:
    """300 deals of one age and stage (one cell, many wins per draw: the multinomial path), amounts 10 to 3000:
    revenue per period against the per-deal simulation, where each won deal brings its own amount."""
    proc = SalesProcess("p", ["lead", "offer"])
    params = FunnelParameters.from_values({"p": proc}, rates={("p", "lead"): (0.7, 50), ("p", "offer"): (0.6, 50)},
                                          advance_days={("p", "lead"): 20.0, ("p", "offer"): 30.0},
                                          loss_days={("p", "lead"): 40.0, ("p", "offer"): 60.0}, sigma=0.6)
    ids = [f"o{i:03d}" for i in range(300)]
    as_of = pd.Timestamp("2025-01-01")
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "lead", "entered_at": as_of - pd.Timedelta(days=5)})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 10.0 * np.arange(1, 301),
                         "created_at": pd.Timestamp("2024-06-01")})
    fc = pipeline(ev, params, opportunities=opps, as_of=as_of, horizon="4MS", freq="M", include_new=False,
                  n_draws=N_DRAWS, seed=3)
    deals = open_pipeline(ev, opps, params.processes, as_of)
    bounds = np.array([31.0, 59.0, 90.0, 120.0])
    wins, revenue = _per_deal(params, deals, ["p"], bounds, seed=4)
    cells = fc.draws["pipeline"][:, 0]
    assert cells.sum(axis=1).mean() > 3 * 16  # many wins per draw
    for t in range(len(bounds)):
        _same_distribution(wins[:, 0, t], cells[:, t])
        _same_distribution(revenue[:, 0, t], fc.revenue_draws["pipeline"][:, 0, t])
    _same_distribution(revenue[:, 0].sum(axis=1), fc.revenue_draws["pipeline"][:, 0].sum(axis=1))


def test_ages_spread_over_two_months_in_one_stage() -> None:
    """400 deals in the last stage aged 0 to 60 days (every age differs), losses six times slower than advances:
    a deal's chance and time to advance depend strongly on its age (the age-bucket approximation at work)."""
    proc = SalesProcess("p", ["lead", "offer"])
    params = FunnelParameters.from_values({"p": proc}, rates={("p", "lead"): (0.5, 1e6), ("p", "offer"): (0.6, 40)},
                                          advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                          loss_days={("p", "lead"): 60.0, ("p", "offer"): 60.0}, sigma=0.5)
    ids = [f"o{i:03d}" for i in range(400)]
    as_of = pd.Timestamp("2025-01-01")
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "offer",
                       "entered_at": as_of - pd.to_timedelta(np.linspace(0.05, 60, 400), unit="D")})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 100.0,
                         "created_at": pd.Timestamp("2024-06-01")})
    fc = pipeline(ev, params, opportunities=opps, as_of=as_of, horizon="2MS", freq="M", include_new=False,
                  n_draws=N_DRAWS, seed=5)
    p = fc.deals["p_win"].to_numpy()
    assert p[0] > 3 * p[-1]  # the youngest deal is far likelier to win in the window than the oldest
    wins, _ = _per_deal(params, open_pipeline(ev, opps, params.processes, as_of), ["p"], np.array([31.0, 59.0]),
                        seed=6)
    cells = fc.draws["pipeline"][:, 0]
    _same_distribution(wins[:, 0].sum(axis=1), cells.sum(axis=1))
    for t in range(2):
        _same_distribution(wins[:, 0, t], cells[:, t])


def test_alias_tables_give_each_period_its_share() -> None:
    """Walker's tables (the period of each win): the chance of each column, summed from the tables by hand, is the
    row's share, for rows with zeros, one certain period, equal shares and the row of zeros (never drawn)."""
    from salesplan.forecast.open_deals import alias_tables

    rng = np.random.default_rng(3)
    share = rng.dirichlet(np.ones(19), size=200)
    share[:50] *= rng.random((50, 19)) < 0.3  # zeros in some periods
    share[50] = np.eye(19)[7]
    share[51] = 1 / 19
    share[52] = 0.0
    share[:52] /= share[:52].sum(axis=1, keepdims=True)
    prob, alias = alias_tables(share)
    n_t = share.shape[1]
    chance = np.zeros_like(share)
    for t in range(n_t):
        chance[:, t] = (prob[:, t] + ((1 - prob) * (alias == t)).sum(axis=1)) / n_t
    assert ((prob >= 0) & (prob <= 1 + 1e-12)).all()
    np.testing.assert_allclose(chance[:52], share[:52], atol=1e-12)
    # and drawn: 200,000 draws of row 0 by the rule of simulate_cells
    x = rng.random(200_000) * n_t
    col = np.minimum(x.astype(int), n_t - 1)
    period = np.where(x - col < prob[0, col], col, alias[0, col])
    freq = np.bincount(period, minlength=n_t) / len(x)
    assert np.abs(freq - share[0]).max() < 5 * np.sqrt(share[0].max() / len(x))
