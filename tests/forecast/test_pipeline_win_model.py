"""The pipeline forecast fed with a per-deal win probability (``win_probability=``), by hand and its errors. Against
the simulator's truth out of time: tests/forecast/test_win_probability.py (it shares that file's fitted model).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from salesplan import ConfigError, SalesProcess, SchemaError
from salesplan.forecast import FunnelParameters, pipeline

PROC = SalesProcess("p", ["lead", "offer"])
AS_OF = pd.Timestamp("2025-01-01")


def _pipeline_of(p_deal, stage="offer", horizon="3650D", n_draws=4000, **kw):
    ids = [f"o{i:03d}" for i in range(len(p_deal))]
    ev = pd.DataFrame({"opportunity_id": ids, "stage": stage, "entered_at": AS_OF})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 10.0,
                         "created_at": pd.Timestamp("2024-06-01")})
    fun = FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, 1e9), ("p", "offer"): (0.6, 1e9)},
                                       advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                       loss_days={("p", "lead"): 10.0, ("p", "offer"): 10.0}, sigma=0.5)
    wp = pd.Series(p_deal, index=ids)
    return pipeline(ev, fun, opportunities=opps, as_of=AS_OF, horizon=horizon, freq="Y", include_new=False,
                    n_draws=n_draws, seed=3, win_probability=wp, **kw)


def test_each_deal_wins_with_its_own_probability_by_hand():
    # deals that just entered the last stage, a window every advance fits in: each deal is won with its p_deal
    # (the stage rate 0.6 no longer matters), and the draws are Poisson-binomial
    p = np.array([0.05, 0.2, 0.5, 0.9, np.nan])
    fc = _pipeline_of(p)
    d = fc.deals.set_index("opportunity_id")
    assert d["p_win"].iloc[:4].to_numpy() == pytest.approx(p[:4], abs=1e-6)
    assert d["p_win"].iloc[4] == pytest.approx(0.6, abs=1e-6)  # not scored: the stage rate
    assert d["p_win_stage"].to_numpy() == pytest.approx(0.6)
    x = fc.samples()
    mean, var = 0.6 + p[:4].sum(), 0.24 + (p[:4] * (1 - p[:4])).sum()
    assert x.mean() == pytest.approx(mean, abs=4 * np.sqrt(var / 4000))
    assert x.var() == pytest.approx(var, rel=0.1)
    # from the first of two stages: the eventual chance is still the deal's, the stage rates only time it
    fc1 = _pipeline_of([0.3, 0.7], stage="lead")
    assert fc1.deals["p_win"].to_numpy() == pytest.approx([0.3, 0.7], abs=1e-4)  # up to the timing grid


def test_bad_win_probabilities_are_errors():
    with pytest.raises(SchemaError, match="outside"):
        _pipeline_of([0.5, 1.5])
    ids = ["o000"]
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "offer", "entered_at": AS_OF})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "created_at": AS_OF})
    fun = FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, 10), ("p", "offer"): (0.5, 10)},
                                       advance_days={("p", "lead"): 5, ("p", "offer"): 5})
    with pytest.raises(SchemaError, match="opportunity_id and p_win"):
        pipeline(ev, fun, opportunities=opps, as_of=AS_OF, include_new=False, n_draws=100,
                 win_probability=pd.DataFrame({"id": ids, "p": [0.5]}))
    p_30d = SimpleNamespace(horizon="30D", deals=pd.DataFrame({"opportunity_id": ids, "p_win": [0.5]}))
    with pytest.raises(ConfigError, match="P\\(won within '30D'\\).*fit it with the forecast's horizon"):
        pipeline(ev, fun, opportunities=opps, as_of=AS_OF, horizon="90D", include_new=False, n_draws=100,
                 win_probability=p_30d)
    with pytest.raises(ConfigError, match="not both"):
        pipeline(ev, fun, opportunities=opps, as_of=AS_OF, include_new=False, n_draws=100,
                 win_probability=pd.Series([0.5], index=ids), drivers=object())


def test_a_probability_of_winning_within_the_window_gives_the_expected_wins_in_it():
    # last stage, advance after a log-normal with median 10 days: within 10 days half of the wins land, so the
    # stage rate 0.6 gives 0.3 in the window; P(won within 10 days) = 0.1 and 0.4 give exactly those
    window = SimpleNamespace(horizon="10D", deals=pd.DataFrame({"opportunity_id": ["o000", "o001"],
                                                                "p_win": [0.1, 0.4]}))
    fc = _pipeline_of([np.nan, np.nan], horizon="10D", n_draws=2000)
    assert fc.deals["p_win"].to_numpy() == pytest.approx([0.3, 0.3], abs=1e-3)
    ids = ["o000", "o001"]
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "offer", "entered_at": AS_OF})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "created_at": pd.Timestamp("2024-06-01")})
    fun = FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, 1e9), ("p", "offer"): (0.6, 1e9)},
                                       advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                       loss_days={("p", "lead"): 10.0, ("p", "offer"): 10.0}, sigma=0.5)
    fc = pipeline(ev, fun, opportunities=opps, as_of=AS_OF, horizon="10D", freq="Y", include_new=False,
                  n_draws=4000, seed=5, win_probability=window)
    assert fc.deals["p_win"].to_numpy() == pytest.approx([0.1, 0.4], abs=1e-3)
    assert fc.deals["p_win_stage"].to_numpy() == pytest.approx([0.6, 0.6])
    assert fc.samples().mean() == pytest.approx(0.5, abs=4 * np.sqrt(0.33 / 4000))
    # 0.6 within the window would need an eventual chance of 1.2: capped, the deal wins in the window with ~0.5
    capped = SimpleNamespace(horizon="10D", deals=pd.DataFrame({"opportunity_id": ids, "p_win": [0.6, 0.4]}))
    fc = pipeline(ev, fun, opportunities=opps, as_of=AS_OF, horizon="10D", freq="Y", include_new=False,
                  n_draws=400, seed=5, win_probability=capped)
    assert fc.deals["p_win"].to_numpy() == pytest.approx([0.5, 0.4], abs=1e-3)

