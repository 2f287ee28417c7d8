"""The calibrated win probability per deal: calibration against the simulator's truth, out of time; reasons; the
scores (Brier decomposition, calibration slope, paired bootstrap) against hand computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import salesplan as sp
from salesplan.forecast import pipeline
from salesplan.forecast.evaluation import cut_data
from salesplan.forecast.win_probability import (
    WinProbability,
    brier_decomposition,
    deal_win_probability,
    paired_bootstrap,
    score_table,
)
from salesplan.funnel import estimate
from salesplan.reduce.history import deal_snapshots


@pytest.fixture(scope="module")
def fitted(history_world):
    """The shared world of two and a half years (seed 7); the model is fitted on what was known 9 months before the
    cut and scored on the deals open at the nine month starts after it (the forecast origins of ``out_of_time``),
    whose outcomes the simulator knows. (On seed 11 the per-deal forecast's ranked probability score was 20% above
    the stage forecast's, 0.97 against 0.81, beyond the 10% that
    test_pipeline_fed_with_it_is_about_as_sharp_as_the_stage_forecast allows.)"""
    data, truth = history_world
    train_end = data.as_of - pd.Timedelta(days=270)
    result = deal_win_probability(cut_data(data, train_end), model=WinProbability(n_threads=1, cv=3, max_iter=60))
    origins = list(pd.date_range(train_end + pd.Timedelta(days=1), data.as_of, freq="MS")[:9])
    snaps = deal_snapshots(data.stage_events, data.processes, data.opportunities, dates=origins,
                           history=data.opportunity_history, activities=data.activities, customers=data.customers)
    outcome = truth.outcomes.set_index("opportunity_id")["outcome"]
    won = snaps["opportunity_id"].map(outcome).isin([p.won for p in data.processes.values()]).to_numpy(float)
    return data, truth, result, snaps, won


def test_calibrated_out_of_time_per_decile_of_predicted_probability(fitted):
    """A deal open at several month starts is scored at each (its later snapshots know more), so the rows of a
    decile are not all independent; the 99% binomial interval is then, if anything, too narrow: the stricter check.
    It fails for a model whose probabilities are all 15% too low or too high (checked when it was written)."""
    _, _, result, snaps, won = fitted
    p = result.p_win(snaps)
    assert len(p) > 1000 and result.dropped >= 0
    decile = pd.qcut(pd.Series(p).rank(method="first"), 10, labels=False).to_numpy()
    for k in range(10):
        m = decile == k
        n, rate = int(m.sum()), won[m].mean()
        lo, hi = stats.binom.ppf([0.005, 0.995], n, p[m].mean()) / n
        assert lo <= rate <= hi, (k, n, p[m].mean(), rate)
    # and it beats the base rate and the stage-probability baseline (historical win rate per stage) out of time
    train = result.training
    by_stage = train.groupby(["process", "work_stage"])["won"].mean()
    stage_p = pd.Series(list(zip(snaps["process"], snaps["work_stage"], strict=True))).map(by_stage).to_numpy()
    table = score_table(won, {"model": p, "stage": stage_p, "base": np.full(len(p), train["won"].mean())})
    assert table.loc["model", "brier"] < table.loc["stage", "brier"] < table.loc["base", "brier"]
    assert 0.75 < table.loc["model", "calibration_slope"] < 1.3


def test_reasons_name_the_history_in_words(fitted):
    data, _, result, _, _ = fitted
    deals = result.deals
    open_then = data.opportunity_status(as_of=result.as_of).query("status == 'open'")["opportunity_id"]
    assert set(deals["opportunity_id"]) == set(open_then)  # every deal open at the cut, scored once
    assert deals["p_win"].between(0, 1).all() and deals["p_win"].is_monotonic_decreasing
    text = " ".join(deals["reasons"])
    assert "points)" in text
    assert any(w in text for w in ("pushed", "the usual time in", "overdue", "no activity for"))
    sample = result.training.iloc[::10]
    ax = result.plot_reliability(sample, sample["won"])
    assert ax.get_xlabel() == "predicted win probability"


@pytest.fixture(scope="module")
def out_of_time(fitted):
    """The pipeline forecast of the open deals' wins in the next 30 days at nine month starts after the model's
    cut, with the stage rates and with the per-deal model's P(won within 30 days) (``win_probability=``, fitted
    like ``fitted``'s model), both from a funnel fitted on what the models knew, set against the
    simulator's latent outcomes."""
    data, truth, ever, later, _ = fitted
    result = deal_win_probability(cut_data(data, ever.as_of), horizon="30D",
                                  model=WinProbability(n_threads=1, cv=3, max_iter=60))
    funnel = estimate(data.stage_events, data.processes, data.opportunities, as_of=result.as_of)
    # the deals open at the nine month starts after the cut (``fitted``'s snapshots); the windows may end after the
    # data cut: the simulator knows the deals' latent outcomes
    snaps = later.assign(p_win=result.p_win(later))
    origins = pd.DatetimeIndex(snaps["as_of"].unique()).sort_values()
    outcome = truth.outcomes.set_index("opportunity_id")
    won_as = {name: p.won for name, p in data.processes.items()}
    rows = []
    for origin in origins:
        scored = snaps.loc[snaps["as_of"] == origin, ["opportunity_id", "p_win"]]
        for model_name, source in (("stage", None), ("deal", dataclasses.replace(result, deals=scored))):
            fc = pipeline(data, funnel, as_of=origin, horizon="30D", freq="Y", include_new=False, n_draws=500,
                          seed=1, win_probability=source)
            for proc in fc.processes:
                x = fc.samples(process=proc)
                lo, hi = np.quantile(x, [0.1, 0.9], method="inverted_cdf")
                o = outcome.reindex(fc.deals.loc[fc.deals["process"] == proc, "opportunity_id"])
                true = int(((o["outcome"] == won_as[proc]) & (o["closed_at"] > origin)
                            & (o["closed_at"] <= fc.end)).sum())
                pmf = np.bincount(x.astype(int), minlength=max(true, int(x.max())) + 1) / len(x)
                rps = float(np.sum((np.cumsum(pmf) - (np.arange(len(pmf)) >= true)) ** 2))
                rows.append({"origin": origin, "model": model_name, "process": proc, "low": lo, "high": hi,
                             "expected": x.mean(), "true": true, "stated": float(((x >= lo) & (x <= hi)).mean()),
                             "hit": lo <= true <= hi, "rps": rps})
    return pd.DataFrame(rows)

@pytest.mark.parametrize("model", ["deal", "stage"])
def test_pipeline_fed_with_it_covers_the_next_months_wins_as_often_as_stated(out_of_time, model):
    """A case is one (forecast origin, process); the forecast states for each the chance ``c_i`` that its own 80%
    interval holds the count (at least 0.8, more for small counts: the ends are whole numbers). Calibrated, the
    number of cases whose interval holds the truth is a sum of independent Bernoulli(``c_i``) (origins a month
    apart: disjoint windows; processes independent given the rates), within ``sum c_i +- 2.576 sqrt(sum c_i
    (1 - c_i))`` (+ a half count of continuity) with about 99% probability (normal approximation of the
    Poisson-binomial). With 45 cases that is about +-5 cases: it catches intervals that hold the truth in well
    under 70% of cases, not a few points of miscalibration.
    """
    r = out_of_time[out_of_time["model"] == model]
    assert len(r) == 45 and r["true"].sum() > 150
    assert (r["stated"] >= 0.8).all()
    hits, stated = int(r["hit"].sum()), r["stated"].to_numpy()
    sd = np.sqrt(np.sum(stated * (1 - stated)))
    assert abs(hits - stated.sum()) <= 2.576 * sd + 0.5, (hits, stated.sum(), sd)
    # the expected total within its own spread: the sum of the cases' variances (binomial-like, a bound that
    # ignores the shared rate uncertainty, so it is the stricter one) -- within 3 of those
    var = ((r["high"] - r["low"]) / 2.563) ** 2  # an 80% interval spans 2.563 sd of a normal
    assert abs(r["expected"].sum() - r["true"].sum()) <= 3 * np.sqrt(var.sum()), (r["expected"].sum(),
                                                                                   r["true"].sum())


def test_pipeline_fed_with_it_is_about_as_sharp_as_the_stage_forecast(out_of_time):
    """Not sharper here, and the test says so: on this world the ranked probability score (lower is better; it
    rewards sharpness subject to calibration) was 0.874 with the per-deal model against 0.867 with the stage rates,
    and the intervals 4.3 against 4.0 contracts wide. The simulator's deals follow exactly the semi-Markov funnel
    the stage forecast models (stage, days in stage, segment), so the model's further features (pushes, amount
    changes, activity, owner) carry no information that the stage forecast lacks. The test bounds how much worse
    it may be (10% in score and width), so that feeding the model in never costs much."""
    r = out_of_time.pivot_table(index=["origin", "process"], columns="model", values=["rps", "high", "low"])
    width = r["high"] - r["low"]
    assert r["rps"]["deal"].mean() <= r["rps"]["stage"].mean() * 1.1
    assert width["deal"].mean() <= width["stage"].mean() * 1.1


def test_brier_decomposition_and_bootstrap_by_hand():
    p = np.array([0.1, 0.1, 0.1, 0.7, 0.7])
    y = np.array([0, 0, 1, 1, 1])
    d = brier_decomposition(p, y, bins=10)
    # bins: 0.1 (n=3, observed 1/3) and 0.7 (n=2, observed 1); overall 0.6
    assert d["reliability"] == pytest.approx((3 * (0.1 - 1 / 3) ** 2 + 2 * (0.7 - 1) ** 2) / 5)
    assert d["resolution"] == pytest.approx((3 * (1 / 3 - 0.6) ** 2 + 2 * 0.4 ** 2) / 5)
    assert d["uncertainty"] == pytest.approx(0.24)
    assert d["brier"] == pytest.approx(np.mean((p - y) ** 2)) == pytest.approx(
        d["reliability"] - d["resolution"] + d["uncertainty"])
    same = paired_bootstrap(y, p, p, n_draws=50)
    assert same["difference"] == same["low"] == same["high"] == 0
    with pytest.raises(sp.NotFittedError):
        WinProbability().p_win(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(sp.SchemaError, match="all won or all lost"):
        WinProbability().fit(pd.DataFrame({"a": [1.0, 2.0]}), [1, 1])


def test_labels_won_ever_and_within_a_horizon_by_hand():
    from salesplan.forecast.win_probability import deal_labels

    proc = sp.SalesProcess("p", ["lead", "offer"])
    opps = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "process": "p",
                         "created_at": pd.to_datetime(["2024-01-01"] * 3)})
    ev = pd.DataFrame({"opportunity_id": ["a", "a", "b", "b", "c"], "stage": ["lead", "won", "lead", "lost", "lead"],
                       "entered_at": pd.to_datetime(["2024-01-01", "2024-03-15", "2024-01-01", "2024-02-01",
                                                     "2024-01-01"])})
    snap = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "as_of": pd.to_datetime(["2024-01-31"] * 3)})
    ever = deal_labels(ev, proc, opps, snap, as_of="2024-06-30")
    assert ever.tolist()[:2] == [1.0, 0.0] and np.isnan(ever.iloc[2])  # c still open: not known
    # won on 03-15 is after the 30-day horizon (03-01); c open when the horizon ended: not won within it
    assert deal_labels(ev, proc, opps, snap, as_of="2024-06-30", horizon="30D").tolist() == [0.0, 0.0, 0.0]
    early = deal_labels(ev, proc, opps, snap, as_of="2024-02-15", horizon="60D")  # horizon ends after the cut
    assert np.isnan(early.iloc[0]) and early.iloc[1] == 0.0 and np.isnan(early.iloc[2])
