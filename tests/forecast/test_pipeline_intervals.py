"""PipelineForecast's intervals, summary and distribution against the beta-binomial truth of a shared rate.

200 open deals in the last stage, each worth 100, advance with a rate drawn once per simulation from Beta(6, 4)
(``FunnelParameters.from_values`` with strength 10) over a horizon long enough for all to close. The number won is
then exactly beta-binomial(200, 6, 4) and the revenue 100 times it. With 4,000 draws the Monte Carlo standard error
of a probability p is sqrt(p (1 - p) / 4000) <= 0.008; tolerances below are 4 of those standard errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan import ConfigError, ParameterError, SalesProcess
from salesplan.forecast import FunnelParameters, pipeline

PROC = SalesProcess("p", ["lead", "offer"])
AS_OF = pd.Timestamp("2025-01-01")
N = 200
TRUTH = stats.betabinom(N, 6, 4)


def _forecast():
    ids = [f"o{i}" for i in range(N)]
    ev = pd.DataFrame({"opportunity_id": ids, "stage": "offer", "entered_at": AS_OF})
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "amount": 100.0,
                         "created_at": pd.Timestamp("2024-06-01")})
    fun = FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, 1e7), ("p", "offer"): (0.6, 10)},
                                       advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                       loss_days={("p", "lead"): 30.0, ("p", "offer"): 30.0}, sigma=0.5)
    return pipeline(ev, fun, opportunities=opps, as_of=AS_OF, horizon="3650D", freq="Y", include_new=False,
                    n_draws=4000, seed=11)


#: Built once at import (mutation testing forks after collection and reuses it for every mutant).
FORECAST = _forecast()


@pytest.fixture(scope="module")
def forecast():
    return FORECAST


def _quantile_of_pmf(pmf: pd.Series, q: float, n_draws: int = 4000) -> float:
    """Smallest count whose share of the draws reaches ``q`` (the inverted-cdf quantile), counted in draws."""
    cum_draws = np.cumsum(np.round(pmf.to_numpy() * n_draws))
    return float(pmf.index[np.argmax(cum_draws >= q * n_draws)])


def test_distribution_is_the_beta_binomial(forecast) -> None:
    pmf = forecast.distribution()
    assert pmf.sum() == pytest.approx(1.0)
    assert pmf.index[0] == 0 and (pmf.index == np.arange(len(pmf))).all()
    truth = TRUTH.pmf(pmf.index.to_numpy())
    assert np.abs(pmf.to_numpy() - truth).max() < 4 * np.sqrt(truth.max() / 4000)
    # the cumulative distribution (a sum of many cells) within 4 Monte Carlo standard errors everywhere
    assert np.abs(pmf.cumsum().to_numpy() - TRUTH.cdf(pmf.index.to_numpy())).max() < 4 * np.sqrt(0.25 / 4000)
    assert (pmf * pmf.index).sum() == pytest.approx(forecast.expected)
    assert forecast.expected == pytest.approx(TRUTH.mean(), abs=4 * TRUTH.std() / np.sqrt(4000))


@pytest.mark.parametrize("level", [0.8, 0.5, 0.95])
def test_summary_intervals_are_the_quantiles_of_the_distribution(forecast, level) -> None:
    s = forecast.summary(level).query("process == '(all)' and period == '(window)'").iloc[0]
    pmf = forecast.distribution()
    tail = 0.5 - level / 2
    lo, hi = _quantile_of_pmf(pmf, tail), _quantile_of_pmf(pmf, 1 - tail)
    assert (s["contracts_low"], s["contracts_high"]) == (lo, hi)
    assert forecast.interval(level) == (lo, hi)
    # against the truth: within the Monte Carlo error of the quantile (sd of the count ~ 29; 4 MC se of the
    # probability ~ 0.03 of mass, i.e. at most about 4 counts where the pmf is ~ 0.008 per count)
    assert (lo, hi) == pytest.approx(TRUTH.ppf([tail, 1 - tail]), abs=4)
    assert s["contracts"] == pytest.approx(forecast.expected)
    # revenue: 100 per contract, so the revenue interval is 100 times the count interval up to interpolation
    assert s["revenue"] == pytest.approx(100 * s["contracts"])
    assert s["revenue_low"] == pytest.approx(100 * TRUTH.ppf(tail), abs=400)
    assert s["revenue_high"] == pytest.approx(100 * TRUTH.ppf(1 - tail), abs=400)
    rev = 100 * np.repeat(pmf.index.to_numpy(), np.round(pmf.to_numpy() * 4000).astype(int))
    inside = ((rev >= s["revenue_low"]) & (rev <= s["revenue_high"])).mean()
    below = (rev < s["revenue_low"]).mean()
    assert inside >= level - 1e-9 and below <= tail + 1e-9


def test_summary_rows_and_default_level(forecast) -> None:
    s = forecast.summary()
    # one component, one process: (p, (all)) x (each year, (window))
    assert len(s) == 2 * (len(forecast.periods) + 1) and set(s["process"]) == {"p", "(all)"}
    assert set(s["period"]) == {"(window)", *forecast.periods}
    per = s[(s["process"] == "p") & (s["period"] != "(window)")]
    assert per["contracts"].sum() == pytest.approx(forecast.expected)
    assert per["revenue"].sum() == pytest.approx(100 * forecast.expected)
    default = s.query("process == '(all)' and period == '(window)'").iloc[0]
    pmf = forecast.distribution()
    assert (default["contracts_low"], default["contracts_high"]) == (_quantile_of_pmf(pmf, 0.1),
                                                                     _quantile_of_pmf(pmf, 0.9))
    with pytest.raises(ConfigError):
        forecast.interval(1.2)


def test_filters_labels_and_errors(forecast) -> None:
    first = forecast.periods[0]
    pmf = forecast.distribution(process="p", period=first)
    assert pmf.name == "probability" and pmf.index.name == "contracts"
    # the first year's wins: the interval of that period's own distribution, by process and period
    assert forecast.interval(0.8, process="p", period=first) == (_quantile_of_pmf(pmf, 0.1),
                                                                 _quantile_of_pmf(pmf, 0.9))
    assert forecast.interval(0.8, period=first) == forecast.interval(0.8, process="p", period=first)
    assert pmf.sum() == pytest.approx(1.0) and (pmf * pmf.index).sum() <= forecast.expected + 1e-9
    s = forecast.summary(0.8)
    assert list(s.columns)[:10] == ["component", "process", "period", "contracts", "contracts_low", "contracts_high",
                                    "revenue", "revenue_low", "revenue_high", list(s.columns)[9]]
    row = s[(s["process"] == "p") & (s["period"] == first)].iloc[0]
    assert (row["contracts_low"], row["contracts_high"]) == (_quantile_of_pmf(pmf, 0.1), _quantile_of_pmf(pmf, 0.9))
    assert row["revenue_low"] == pytest.approx(100 * np.quantile(
        np.repeat(pmf.index.to_numpy(), np.round(pmf.to_numpy() * 4000).astype(int)), 0.1), abs=100)
    with pytest.raises(ConfigError, match="component must be 'total' or one of"):
        forecast.interval(component="nope")
    with pytest.raises(ConfigError, match="process 'q' not in the forecast"):
        forecast.interval(process="q")
    with pytest.raises(ConfigError, match="not in the forecast window"):
        forecast.interval(period="1999-01")


def test_summary_of_two_components_by_hand() -> None:
    from salesplan.forecast import PipelineForecast

    # 5 draws; components "open" and "new"; processes a, b; periods 2025-01, 2025-02
    open_ = np.zeros((5, 2, 2))
    open_[:, 0, 0] = [0, 1, 2, 3, 4]  # a, January
    open_[:, 0, 1] = [0, 0, 0, 0, 1]  # a, February
    open_[:, 1, 0] = [1, 0, 0, 0, 0]  # b, January
    open_[:, 1, 1] = [1, 1, 1, 1, 6]  # b, February
    new = np.zeros((5, 2, 2))
    new[:, 0, 1] = [2, 0, 0, 0, 0]  # a, February
    new[:, 1, 1] = [0, 0, 0, 0, 1]  # b, February
    fc = PipelineForecast(as_of=pd.Timestamp("2024-12-31"), end=pd.Timestamp("2025-02-28"),
                          periods=["2025-01", "2025-02"], processes=["a", "b"], deals=pd.DataFrame(),
                          draws={"open": open_, "new": new}, revenue_draws={"open": 10 * open_, "new": 10 * new},
                          confidence=0.8)
    s = fc.summary().set_index(["component", "process", "period"])
    assert len(s) == 3 * 3 * 3 and (s["confidence"] == 0.8).all()  # open, new, total x a, b, (all) x 2 months, window
    total = s.loc[("total", "(all)", "(window)")]
    # draw totals 4, 2, 3, 4, 12: mean 5.0; inverted-cdf quantiles at 0.1 and 0.9 of 2, 3, 4, 4, 12: 2 and 12
    assert total["contracts"] == pytest.approx(5.0)
    assert (total["contracts_low"], total["contracts_high"]) == (2.0, 12.0)
    # revenue quantiles interpolate (numpy's default): 20, 30, 40, 40, 120 at 0.1 -> 24, at 0.9 -> 88
    assert (total["revenue"], total["revenue_low"], total["revenue_high"]) == pytest.approx((50.0, 24.0, 88.0))
    # open deals of b over the window: 2, 1, 1, 1, 6; with the new ones: 2, 1, 1, 1, 7
    b_open, b_total = s.loc[("open", "b", "(window)")], s.loc[("total", "b", "(window)")]
    assert [b_open["contracts"], b_open["contracts_low"], b_open["contracts_high"]] == pytest.approx([2.2, 1, 6])
    assert [b_open["revenue"], b_total["contracts"], b_total["revenue"]] == pytest.approx([22.0, 2.4, 24.0])
    assert s.loc[("new", "a", "2025-02"), "contracts"] == pytest.approx(0.4)
    assert s.loc[("total", "a", "2025-02"), ["contracts_low", "contracts_high"]].tolist() == [0.0, 2.0]
    assert fc.interval(0.8, component="open", process="a") == (0.0, 5.0)  # 0, 1, 2, 3, 5
    assert fc.interval(0.8, revenue=True) == (20.0, 120.0)  # revenue intervals of interval() are inverted-cdf too
    assert fc.expected == pytest.approx(5.0)
    assert fc.distribution(component="new").tolist() == [0.6, 0.2, 0.2]  # new totals 2, 0, 0, 0, 1
    # open deals of b in February: 1, 1, 1, 1, 6 (all processes in February: 1, 1, 1, 1, 7; b over both: 2, 1, ...)
    assert fc.distribution(component="open", process="b", period="2025-02").tolist() == [0, 0.8, 0, 0, 0, 0, 0.2]
    np.testing.assert_array_equal(fc.samples("open", process="b", period="2025-02", revenue=True), [10, 10, 10, 10, 60])
    with pytest.raises(ParameterError, match=r"^confidence must be a probability strictly between 0 and 1, got 1.5"):
        fc.interval(1.5)
