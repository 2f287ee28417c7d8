"""Forecast accountability: the forecast_calls table's rules, the simulator's rep biases recovered, and no
look-ahead in salesplan's re-run forecast (changing the future leaves the historical forecast unchanged)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import salesplan as sp
from salesplan.forecast.accountability import bias_table, call_accuracy, model_calls
from salesplan.forecast.evaluation import cut_data
from salesplan.plan import read_team
from salesplan.reduce.states import deal_states


@pytest.fixture(scope="module")
def world(history_world):
    return history_world


def _calls(**over):
    base = {"owner": ["acq_rep1", "acq_rep2"], "period": ["2024-Q3", "2024-Q3"],
            "as_of": ["2024-07-01", "2024-07-08"], "category": ["commit", "best_case"], "amount": [100.0, 200.0]}
    return pd.DataFrame({**base, **over})


def test_bad_calls_are_schema_errors_naming_table_column_and_rows(world):
    data, _ = world
    bad = _calls(owner=["acq_rep1", "nobody"], period=["2024-Q3", "Q9 2024"], category=["commit", "gut feeling"])
    with pytest.raises(sp.SchemaError) as err:
        sp.SalesData.from_frames(opportunities=data.opportunities, stage_events=data.stage_events,
                                 forecast_calls=bad, processes=data.processes)
    cases = err.value.failure_cases
    got = {(r.table, r.column, r.check, r.key) for r in cases.itertuples()}
    assert ("forecast_calls", "owner", "known_owner", "row 1") in got
    assert ("forecast_calls", "period", "period", "row 1") in got
    assert ("forecast_calls", "category", "known_category", "row 1") in got
    assert len(cases) == 3
    assert "gut feeling" in str(err.value) and "nobody" in str(err.value)
    # the configured list decides which categories are known; neither amount nor contracts is an error
    ok = sp.SalesData.from_frames(opportunities=data.opportunities, stage_events=data.stage_events,
                                  forecast_calls=_calls(category=["commit", "upside"]), processes=data.processes,
                                  forecast_categories=["commit", "upside"])
    assert ok.forecast_calls["period"].tolist() == ["2024-Q3", "2024-Q3"]
    with pytest.raises(sp.SchemaError, match="value"):
        sp.validate(_calls(amount=[np.nan, 5.0]), "forecast_calls")


def test_a_manager_of_the_team_may_call_for_the_reps_who_report_to_them(world):
    data, _ = world
    calls = _calls(owner=["boss", "acq_rep1"], period=["2024-Q3", "2024-Q3"], category=["commit", "commit"])
    with pytest.raises(sp.SchemaError, match=r"row 0 \(boss \(owns no opportunity\)"):
        sp.SalesData.from_frames(opportunities=data.opportunities, stage_events=data.stage_events,
                                 forecast_calls=calls, processes=data.processes)
    team = read_team([{"owner": r, "processes": ["acquisition"], "hours_per_week": 30, "manager": "boss"}
                              for r in ("acq_rep1", "acq_rep2")])
    people = sorted(set(team["owner"]) | set(team["manager"].dropna()))
    ok = sp.SalesData.from_frames(opportunities=data.opportunities, stage_events=data.stage_events,
                                  forecast_calls=calls, processes=data.processes, people=people)
    scored = call_accuracy(dataclasses.replace(data, forecast_calls=ok.forecast_calls), team=team).set_index("owner")
    # by hand: the amount the two reps won in 2024-Q3 (close of the win in the quarter, owner at the cut)
    st = deal_states(data.stage_events, data.processes, data.opportunities, as_of=data.as_of,
                     attributes=("amount", "owner"))
    won = st[(st["status"] == "won") & (st["closed_at"] >= "2024-07-01") & (st["closed_at"] < "2024-10-01")]
    assert scored.loc["boss", "actual"] == pytest.approx(won.loc[won["owner"].isin(["acq_rep1", "acq_rep2"]),
                                                                 "amount"].sum())
    assert scored.loc["acq_rep1", "actual"] == pytest.approx(won.loc[won["owner"] == "acq_rep1", "amount"].sum())
    assert scored.loc["boss", "actual"] > scored.loc["acq_rep1", "actual"] > 0


def test_simulated_rep_biases_are_recovered(world):
    data, truth = world
    scored = call_accuracy(data)
    done = scored[scored["complete"]]
    assert set(done["category"]) == {"commit"} and len(done) > 300
    # 15 reps: a 99% family-wise level (Bonferroni) for the true bias inside every rep's interval
    table = bias_table(done, "owner", confidence=1 - 0.01 / len(truth.call_bias)).set_index("owner")
    assert set(table.index) == set(truth.call_bias)
    true = pd.Series(truth.call_bias).reindex(table.index)
    assert (table["periods"] >= 4).all()
    inside = (table["bias_low"] <= true) & (true <= table["bias_high"])
    assert inside.all(), table.assign(true=true)[~inside]
    # and the estimates are close: the spread of the true biases is far larger than the estimation error
    err = np.log(table["bias"] / true)
    assert float(np.abs(err).max()) < 0.12 and float(np.log(true).std()) > 0.1
    # accuracy and the 85-115% band by hand for one call
    row = done.iloc[0]
    assert row["accuracy"] == pytest.approx(row["forecast"] / row["actual"])
    assert row["in_band"] == (0.85 <= row["accuracy"] <= 1.15)


def _change_the_future(data, after):
    """Everything after ``after`` rewritten: current amounts, expected close and owners of every deal, later
    history rows and stage events, later calls."""
    opps = data.opportunities.copy()
    opps["amount"] = opps["amount"] * 3 + 1
    opps["expected_close"] = opps["expected_close"] + pd.Timedelta(days=200)
    opps["owner"] = opps["owner"].map(lambda o: o[:-1] + ("2" if o.endswith("1") else "1"))
    hist = data.opportunity_history.copy()
    later = hist["changed_at"] > after
    hist.loc[later, "amount"] = hist.loc[later, "amount"] * 0.1
    hist.loc[later, "owner"] = "someone_else"
    events = data.stage_events[data.stage_events["entered_at"] <= after]
    return dataclasses.replace(data, opportunities=opps, opportunity_history=hist, stage_events=events)


@pytest.fixture(scope="module")
def week13(world):
    """Salesplan's forecast re-run in week 13 of 2025-Q1 and 2025-Q2 and scored beside the calls."""
    data, _ = world
    return sp.forecast_accountability(data, weeks=(13,), start="2025-01-01", n_draws=100, n_boot=500, seed=2)


def test_the_re_run_forecast_does_not_look_ahead(world, week13):
    """The forecast re-run in week 13 of 2025-Q1 (the first of ``week13``'s dates, so the same seed) again on a world
    whose future after that date is rewritten gives the same figures."""
    data, _ = world
    cols = ["owner", "process", "period", "as_of", "category", "amount", "contracts"]
    when = week13.model["as_of"].min()
    before = week13.model.loc[week13.model["as_of"] == when, cols].sort_values(["owner", "process"])
    calls = pd.DataFrame({"period": ["2025-Q1"], "as_of": [when], "owner": ["x"]})
    after = model_calls(_change_the_future(data, when), calls, n_draws=100, seed=2).sort_values(["owner", "process"])
    assert len(before) >= 10 and before["amount"].gt(0).all()
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))
    # backtests cut the data the same way: past amounts, close dates and owners come from the history ...
    cols = ["amount", "expected_close", "owner"]
    cut = cut_data(data, when).opportunities.set_index("opportunity_id")[cols]
    cut2 = cut_data(_change_the_future(data, when), when).opportunities.set_index("opportunity_id")[cols]
    pd.testing.assert_frame_equal(cut, cut2)
    # ... and the check can fail: without the history today's (changed) values leak into the past
    plain, changed = (cut_data(dataclasses.replace(d, opportunity_history=None), when).opportunities
                      for d in (data, _change_the_future(data, when)))
    for c in cols:
        assert (plain[c] != changed[c]).all(), c


def test_model_against_calls_in_the_last_week(week13):
    """In week 13 salesplan's forecast knows most of the quarter's wins: its accuracy is near 1 per rep, and the
    comparison pairs every rep's call with the model's forecast of the same rep, quarter and week."""
    acc = week13
    row = acc.comparison.iloc[0]
    assert list(acc.comparison["week"]) == [13] and row["periods"] == 2 and row["pairs"] >= 25
    assert row["gain_low"] <= row["gain"] <= row["gain_high"]
    assert 0.9 < acc.model["accuracy"].median() < 1.1 and acc.model_by_week["bias"].iloc[0] == pytest.approx(1, abs=0.1)
    assert row["model_error"] == pytest.approx(acc.model["log_ratio"].abs().mean())
    assert "calls scored" in acc.title()
