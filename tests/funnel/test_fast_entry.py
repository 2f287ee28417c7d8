"""pandas input enters the reduction on the fastest engine (Polars, else categorical ids): same figures as before.

``salesplan.reduce.stages.FAST_ENTRY`` switches the entry: ``"off"`` is pandas as given (the reference, the path
before the conversion existed), ``"polars"`` converts to Polars, ``"codes"`` keeps pandas with ids encoded as
categorical codes shared by the joined tables (the path when Polars is not installed).
"""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

import salesplan.reduce.stages as stages
from salesplan import SalesProcess, SchemaError
from salesplan.datasets import simulate
from salesplan.funnel import estimate, fit_reduction
from salesplan.reduce.stages import reduce_activities, reduce_stage_events

MODES = ("polars", "codes")


@pytest.fixture(scope="module")
def world():
    data, _ = simulate(n_customers=12, years=0.5, seed=4)
    keep = ["acquisition", "cross_selling"]  # two processes keep the test short (the reduction loops over them)
    data.processes = {k: data.processes[k] for k in keep}
    opp = data.opportunities[data.opportunities["process"].isin(keep)].reset_index(drop=True)
    ev = data.stage_events[data.stage_events["opportunity_id"].isin(opp["opportunity_id"])]
    data.activities = data.activities[data.activities["opportunity_id"].isin(opp["opportunity_id"])]
    # messy history on top: a duplicate event, a reopened deal (won, then lost later), a move back, a skipped stage
    a = opp.iloc[0]
    stages_a = data.processes[a["process"]].stages
    t0 = a["created_at"]
    first = ev[ev["opportunity_id"] == ev["opportunity_id"].iloc[0]].iloc[[0]]
    messy = pd.DataFrame({
        "opportunity_id": ["X1", "X1", "X1", "X1", "X1", "X2", "X2", "X2", "X2"],
        "stage": [stages_a[0], stages_a[0], stages_a[2], "won", "lost",
                  stages_a[0], stages_a[2], stages_a[1], stages_a[3]],
        "entered_at": pd.to_datetime([t0, t0, t0 + pd.Timedelta("3D"), t0 + pd.Timedelta("5D"),
                                      t0 + pd.Timedelta("9D"), t0, t0 + pd.Timedelta("2D 5h"),
                                      t0 + pd.Timedelta("4D"), t0 + pd.Timedelta("6D")]),
    })
    new_opps = pd.DataFrame({"opportunity_id": ["X1", "X2"], "customer_id": a["customer_id"],
                             "process": a["process"], "created_at": t0, "amount": 1.0, "owner": a["owner"],
                             "segment": a["segment"], "expected_close": a["expected_close"]})
    ev = pd.concat([ev, first, messy], ignore_index=True)  # `first` duplicates an existing event
    opp = pd.concat([opp, new_opps], ignore_index=True)
    return data, ev, opp


AS_OF = "2024-06-01"


def _run(monkeypatch, mode, ev, opp, data):
    """The stage reduction (with a customer join and the per-opportunity rows) and the activity reduction."""
    monkeypatch.setattr(stages, "FAST_ENTRY", mode)
    red = reduce_stage_events(ev, data.processes, opp, by=["region"], customers=data.customers,
                              keep_opportunities=True, as_of=AS_OF)
    return red, reduce_activities(data.activities, ev, data.processes, opp)


@pytest.fixture(scope="module")
def reference(world):
    """The pandas path as it was (entry off); its funnel is what ``estimate`` fits (reduce, then fit)."""
    data, ev, opp = world
    with pytest.MonkeyPatch.context() as mp:
        red, act = _run(mp, "off", ev, opp, data)
    return red, fit_reduction(red, data.processes), act


def _assert_same_funnel(f0, f, label):
    pd.testing.assert_frame_equal(f0.rates, f.rates, obj=f"{label} rates")
    pd.testing.assert_frame_equal(f0.durations, f.durations, obj=f"{label} durations")
    pd.testing.assert_frame_equal(f0.win_rate, f.win_rate, obj=f"{label} win rates")


def test_reference_saw_the_messy_rules(reference):
    issues = reference[0].issues.set_index("rule")["rows"]
    assert issues["duplicate event"] >= 2  # the duplicated simulator event and X1's double first stage
    assert issues["void outcome (reopened)"] >= 1  # X1: won, then lost
    assert issues["move back"] >= 1  # X2: back from stage 2 to stage 1
    assert issues["skipped or implied stage entry"] >= 2  # X1 skips its second stage, X2 its second at first
    per_opp = reference[0].opportunities.set_index("opportunity_id")
    assert per_opp.loc["X1", "final"] == "lost" and per_opp.loc["X2", "final"] == "open"


@pytest.mark.parametrize("mode", MODES)
def test_pandas_string_ids_same_figures_on_every_entry(world, reference, monkeypatch, mode):
    data, ev, opp = world
    snapshot = ev.copy(), opp.copy()
    (red0, _, act0), (red, act) = reference, _run(monkeypatch, mode, ev, opp, data)
    for table in ("spells", "closes", "outcomes", "issues", "opportunities"):  # all a funnel is fitted from
        pd.testing.assert_frame_equal(getattr(red0, table), getattr(red, table), obj=f"{mode} {table}")
    for table in ("counts", "entries", "unattributed"):
        pd.testing.assert_frame_equal(act0[table], act[table], obj=f"{mode} activities {table}")
    pd.testing.assert_frame_equal(ev, snapshot[0])  # the caller's frames are not changed
    pd.testing.assert_frame_equal(opp, snapshot[1])


def test_estimate_on_pandas_equals_polars_lazy_and_entry_off(world, reference, monkeypatch):
    data, ev, opp = world
    monkeypatch.setattr(stages, "FAST_ENTRY", "auto")
    for label, convert in (("pandas", lambda x: x), ("polars lazy", lambda x: pl.from_pandas(x).lazy())):
        got = estimate(convert(ev), data.processes, convert(opp), by="region", customers=convert(data.customers),
                       as_of=AS_OF)
        _assert_same_funnel(reference[1], got, label)


def test_integer_and_categorical_ids_read_as_text(world, reference, monkeypatch):
    """The codes entry (its categorical ids are the delicate part) reads ids as the pandas path does."""
    data, ev, opp = world
    monkeypatch.setattr(stages, "FAST_ENTRY", "codes")
    want = reference[0].opportunities.drop(columns="region")
    ids = {k: i for i, k in enumerate(pd.unique(opp["opportunity_id"]))}
    got = reduce_stage_events(ev.assign(opportunity_id=ev["opportunity_id"].map(ids)), data.processes,
                              opp.assign(opportunity_id=opp["opportunity_id"].map(ids)), keep_opportunities=True,
                              as_of=AS_OF).opportunities
    as_int = want.assign(opportunity_id=want["opportunity_id"].map(lambda k: str(ids[k])).astype(object))
    pd.testing.assert_frame_equal(as_int.sort_values("opportunity_id").reset_index(drop=True), got)
    cat = reduce_stage_events(ev.astype({"opportunity_id": "category"}), data.processes,
                              opp.astype({"opportunity_id": "category"}), keep_opportunities=True,
                              as_of=AS_OF).opportunities
    pd.testing.assert_frame_equal(want, cat)


@pytest.mark.parametrize("mode", MODES)
def test_errors_name_the_original_ids(world, monkeypatch, mode):
    data, ev, opp = world
    monkeypatch.setattr(stages, "FAST_ENTRY", mode)
    with pytest.raises(SchemaError, match=r"known_opportunity.*NOPE"):
        reduce_stage_events(pd.concat([ev, ev.iloc[[0]].assign(opportunity_id="NOPE")]), data.processes, opp)
    proc = SalesProcess("p", ["lead", "offer"])
    bad = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": ["lead", "nonsense"],
                        "entered_at": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(SchemaError, match=r"known_stage.*e\.g\. b \(nonsense"):
        reduce_stage_events(bad, proc)
