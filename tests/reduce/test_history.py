"""The deal history (``opportunity_history``): validation, values as of a date, change counts, the simulator's
history against its rules, and the Salesforce adapter."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import salesplan as sp
from salesplan.datasets.deal_history import HISTORY_PARAMS
from salesplan.reduce.history import deal_values, history_changes, opportunities_as_of

OPPS = pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["c1", "c2"], "process": "acquisition",
                     "created_at": pd.to_datetime(["2024-01-01", "2024-01-10"])})
HIST = pd.DataFrame({
    "opportunity_id": ["a", "a", "a", "a", "b"],
    "changed_at": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-05", "2024-03-01", "2024-01-10"]),
    "stage": ["contacted", None, "offer", "won", "contacted"],
    "amount": [100.0, 120.0, None, 110.0, 40.0],
    "expected_close": pd.to_datetime(["2024-02-01", "2024-02-01", "2024-02-20", "2024-03-01", "2024-01-31"]),
    "owner": ["ann", None, "bob", None, "ann"],
})


@pytest.fixture(scope="module")
def world(history_world):
    return history_world


def test_values_as_of_a_date_are_the_last_recorded_ones_hand_computed():
    v = deal_values(HIST, dates=["2024-01-25", "2024-02-10"]).set_index(["as_of", "opportunity_id"])
    a1, a2 = v.loc[(pd.Timestamp("2024-01-25"), "a")], v.loc[(pd.Timestamp("2024-02-10"), "a")]
    assert (a1["stage"], a1["amount"], a1["owner"]) == ("contacted", 120.0, "ann")  # blank = not recorded
    assert (a2["stage"], a2["amount"], a2["owner"], str(a2["expected_close"].date())) == \
        ("offer", 120.0, "bob", "2024-02-20")
    # b was created on 2024-01-10: nothing known about it on 2024-01-05
    assert "b" not in deal_values(HIST, dates=["2024-01-05"])["opportunity_id"].tolist()
    c = history_changes(HIST, dates=["2024-03-01"]).set_index("opportunity_id")
    assert c.loc["a", ["changes", "pushes", "pulls", "amount_up", "amount_down"]].tolist() == [4, 2, 0, 1, 1]
    assert c.loc["a", "days_pushed"] == 19 + 10 and c.loc["a", "first_amount"] == 100.0


def test_other_engines_give_the_pandas_values():
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    want_v = deal_values(HIST, dates=["2024-02-10"])
    want_c = history_changes(HIST, dates=["2024-02-10", "2024-03-05"])
    con = duckdb.connect()
    frame = pl.from_pandas(HIST)
    for native in (frame, frame.lazy(), con.from_arrow(frame.to_arrow())):
        pd.testing.assert_frame_equal(deal_values(native, dates=["2024-02-10"]), want_v, check_dtype=False)
        pd.testing.assert_frame_equal(history_changes(native, dates=["2024-02-10", "2024-03-05"]), want_c,
                                      check_dtype=False)


def test_opportunities_as_of_in_other_engines_gives_the_pandas_values(world):
    """Out of core: the past amounts, expected close dates and owners are joined in the engine (no pandas)."""
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    data, _ = world
    cut = data.as_of - pd.Timedelta(days=200)
    want = opportunities_as_of(data.opportunities, data.opportunity_history, cut).set_index("opportunity_id")
    today = data.opportunities.set_index("opportunity_id").loc[want.index]
    assert (want["expected_close"] != today["expected_close"]).sum() > 20  # the check can fail
    con = duckdb.connect()
    for opps, hist in ((pl.from_pandas(data.opportunities).lazy(), pl.from_pandas(data.opportunity_history).lazy()),
                       (con.from_df(data.opportunities), con.from_df(data.opportunity_history)),
                       # the report's mix: lazy deals, the history read in pandas
                       (duckdb.from_df(data.opportunities), data.opportunity_history)):
        got = opportunities_as_of(opps, hist, cut)
        assert type(got) is type(opps)
        frame = (got.collect().to_pandas() if hasattr(got, "collect") else got.df()).set_index("opportunity_id")
        assert list(frame.columns) == list(want.columns)
        frame = frame.loc[want.index]
        for col in ("amount", "expected_close", "owner"):
            pd.testing.assert_series_equal(frame[col], want[col], check_dtype=False)


def test_no_look_ahead_and_one_truth_at_the_cut(world):
    data, truth = world
    past = data.as_of - pd.Timedelta(days=200)
    # the latent history holds the future of open deals: it must not change what was known in the past
    pd.testing.assert_frame_equal(deal_values(data.opportunity_history, dates=[past]),
                                  deal_values(truth.latent_history, dates=[past]))
    assert (truth.latent_history["changed_at"] > data.as_of).any()
    # at the cut the history agrees with the opportunities table (amount, expected close, owner)
    now = deal_values(data.opportunity_history, dates=[data.as_of]).set_index("opportunity_id")
    opps = data.opportunities.set_index("opportunity_id")
    assert set(now.index) == set(opps.index)
    for col in ("amount", "expected_close", "owner"):
        # values, not the text dtype: engine results carry ids and owners as object, validated tables as str
        pd.testing.assert_series_equal(
            now[col], opps.loc[now.index, col], check_names=False, check_index_type=False, check_dtype=False
        )
    # and its stage is the stage of the stage events
    status = data.opportunity_status().set_index("opportunity_id")
    assert (now["stage"] == status.loc[now.index, "stage"]).mean() > 0.999


def test_simulated_history_follows_its_rules(world):
    data, truth = world
    hist = truth.latent_history
    out = truth.outcomes.set_index("opportunity_id")
    closed = data.opportunities["opportunity_id"]
    changes = history_changes(hist, dates=[hist["changed_at"].max()]).set_index("opportunity_id").loc[closed]
    changes = changes.join(out["outcome"])
    changes["won"] = changes["outcome"].isin([p.won for p in data.processes.values()])
    final = hist.groupby("opportunity_id")["amount"].last().loc[changes.index]
    # deals with exactly one amount change: log(final / first) ~ Normal(mu, sigma) with the true mu per outcome
    one = changes[(changes["amount_up"] + changes["amount_down"]) == 1]
    log_ratio = np.log(final.loc[one.index] / one["first_amount"])
    for won, mu in ((True, HISTORY_PARAMS["amount_mu_won"]), (False, HISTORY_PARAMS["amount_mu_lost"])):
        x = log_ratio[one["won"] == won]
        half = stats.norm.ppf(0.995) * HISTORY_PARAMS["amount_sigma"] / np.sqrt(len(x))
        assert len(x) > 30 and abs(x.mean() - mu) < half, (won, len(x), x.mean())
    # the closing row sets the expected close to the close date
    last = hist.groupby("opportunity_id").tail(1).set_index("opportunity_id")
    shut = last[last["stage"].isin(["won", "lost"]) | last["forecast_category"].isin(["closed", "omitted"])]
    assert (shut["expected_close"] == shut["changed_at"].dt.floor("D")).all()
    # deals still open at the cut with an expected close in the past are rare: slips are pushed
    status = data.opportunity_status()
    open_ids = status.loc[status["status"] == "open", "opportunity_id"]
    overdue = data.opportunities.set_index("opportunity_id").loc[open_ids, "expected_close"] \
        < data.as_of - pd.Timedelta(days=HISTORY_PARAMS["slip_review_days"] + 1)
    assert overdue.mean() < 0.02


def test_history_rows_before_creation_and_unknown_deals_and_stages_are_schema_errors():
    bad = HIST.copy()
    bad.loc[4, "changed_at"] = pd.Timestamp("2024-01-02")  # b is created on 2024-01-10
    bad.loc[5] = ["zz", pd.Timestamp("2024-01-05"), None, 1.0, pd.NaT, None]
    bad.loc[1, "stage"] = "signed"
    with pytest.raises(sp.SchemaError) as err:
        sp.SalesData.from_frames(opportunities=OPPS, opportunity_history=bad)
    cases = err.value.failure_cases
    got = set(zip(cases["table"], cases["column"], cases["check"], strict=True))
    assert got == {("opportunity_history", "changed_at", "after_created"),
                   ("opportunity_history", "opportunity_id", "known_opportunity"),
                   ("opportunity_history", "stage", "known_stage")}
    assert "e.g. b (2024-01-02 < created 2024-01-10)" in str(err.value)
    dup = pd.concat([HIST, HIST.iloc[[0]]], ignore_index=True)
    with pytest.raises(sp.SchemaError, match="unique"):
        sp.validate(dup, "opportunity_history")


OPPORTUNITY_HISTORY = """\
OpportunityId,CreatedDate,StageName,Amount,CloseDate,Probability,ForecastCategory
006A,2024-01-02T09:00:00.000+0000,Prospecting,10000,2024-03-31,10,Pipeline
006A,2024-01-09T10:00:00.000+0000,Prospecting,12000,2024-03-31,10,Pipeline
006A,2024-01-12T10:00:00.000+0000,Prospecting,12000,2024-04-30,10,Best Case
006A,2024-02-01T12:00:00.000+0000,Proposal/Price Quote,14000,2024-03-15,75,Commit
006A,2024-02-20T08:30:00.000+0000,Closed Won,15000,2024-02-20,100,Closed
"""


def test_from_salesforce_keeps_the_rows_that_do_not_change_the_stage():
    raw = pd.read_csv(io.StringIO(OPPORTUNITY_HISTORY), dtype=str)
    opps, events, report, hist = sp.from_salesforce(raw, sp.io.SALESFORCE_STAGE_MAP, with_history=True)
    assert len(events) == 3 and len(hist) == 5  # the amount and close-date edits are history, not stage events
    assert hist["amount"].tolist() == [10000.0, 12000.0, 12000.0, 14000.0, 15000.0]
    assert hist["expected_close"].dt.strftime("%m-%d").tolist() == ["03-31", "03-31", "04-30", "03-15", "02-20"]
    assert hist["forecast_category"].tolist() == ["pipeline", "pipeline", "best_case", "commit", "closed"]
    assert hist["stage"].tolist() == ["contacted", "contacted", "contacted", "offer", "won"]
    c = history_changes(hist, dates=["2024-02-10"])
    assert c[["pushes", "pulls", "amount_up"]].values.tolist() == [[1, 1, 2]]
    assert len(sp.from_salesforce(raw, sp.io.SALESFORCE_STAGE_MAP)) == 3  # the default return is unchanged
