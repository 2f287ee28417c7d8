"""State counts at many dates from each deal's state intervals equal one reduction per date (issue 13).

:func:`salesplan.reduce.states.state_counts` counts several dates in one pass over the events (each deal's state
holds from one of its event times to the next). The reference here is the definition itself: a separate
:class:`~salesplan.reduce.states.DealRows` reduction at each date, on the consistency catalogue's messy histories
(reopened deals, moves back, duplicates, skipped stages, events at the same time) and on random histories, pandas
and DuckDB.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan import SalesProcess
from salesplan.reduce.states import DealRows, deal_states, state_counts

KEYS = ["as_of", "process", "status", "work_index", "stage"]


def _per_date(ev: pd.DataFrame, procs: dict, opps: pd.DataFrame, dates: list[pd.Timestamp]) -> pd.DataFrame:
    """The reference: every deal's state at each date (:func:`deal_states`, the reduction run per cut), counted."""
    states = deal_states(ev, procs, opps, dates=dates, attributes=("amount",))
    out = states.groupby(KEYS, as_index=False).agg(deals=("opportunity_id", "size"), value=("amount", "sum"))
    return _tidy(out)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(as_of=pd.to_datetime(frame["as_of"]).astype("datetime64[ns]"))
    frame = frame[[*KEYS, "deals", "value"]].sort_values(KEYS).reset_index(drop=True).astype(
        {"deals": "int64", "value": float, "work_index": "int64", "process": object, "status": object,
         "stage": object})
    return frame.assign(value=frame["value"].round(6))


def _random_world(seed: int) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Deals of two processes with random paths: skips, moves back, outcomes then reopening, duplicates, ties."""
    rng = np.random.default_rng(seed)
    procs = {"p": SalesProcess("p", ["lead", "qualified", "offer"]), "q": SalesProcess("q", ["call", "proposal"])}
    opps, events = [], []
    start = pd.Timestamp("2024-01-01")
    for i in range(150):
        proc = procs["pq"[i % 2]]
        created = start + pd.Timedelta(days=int(rng.integers(0, 300)), hours=int(rng.integers(0, 24)))
        amount = float(np.round(rng.lognormal(8, 1), 2)) if rng.random() > 0.1 else np.nan
        opps.append({"opportunity_id": f"d{i:03d}", "process": proc.name, "created_at": created, "amount": amount})
        t = created + pd.Timedelta(days=int(rng.integers(0, 5)))  # sometimes no event for a while
        for _ in range(int(rng.integers(0, 7))):
            stage = rng.choice(list(proc.all_stages), p=None)
            events.append({"opportunity_id": f"d{i:03d}", "stage": str(stage), "entered_at": t})
            if rng.random() < 0.15:  # a duplicate, or another event at the same time
                other = str(rng.choice(list(proc.all_stages)))
                events.append({"opportunity_id": f"d{i:03d}", "stage": other, "entered_at": t})
            t = t + pd.Timedelta(days=int(rng.integers(0, 40)), hours=int(rng.integers(0, 3)))
    return pd.DataFrame(events), procs, pd.DataFrame(opps)


def _dates(ev: pd.DataFrame, opps: pd.DataFrame) -> list[pd.Timestamp]:
    """Dates before, on and between events: every 9 days, plus some event times exactly."""
    lo = opps["created_at"].min() - pd.Timedelta(days=3)
    hi = ev["entered_at"].max() + pd.Timedelta(days=3)
    grid = list(pd.date_range(lo, hi, freq="9D"))
    exact = list(ev["entered_at"].drop_duplicates().sort_values().iloc[::7])
    return sorted(set(grid) | set(exact))


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_interval_counts_equal_one_reduction_per_date_on_the_catalogue(catalogue, engine):
    t = catalogue.tables()
    ev, opps = t["stage_events"], t["opportunities"]
    dates = _dates(ev, opps)
    want = _per_date(ev, catalogue.processes, opps, dates)
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        ev, opps = con.from_df(ev), con.from_df(opps)
    got = _tidy(state_counts(ev, catalogue.processes, opps, dates=dates))
    assert len(got) > 3 * len(dates) // 2
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interval_counts_equal_one_reduction_per_date_on_random_histories(seed):
    ev, procs, opps = _random_world(seed)
    dates = _dates(ev, opps)
    want = _per_date(ev, procs, opps, dates)
    got = _tidy(state_counts(ev, procs, opps, dates=dates))
    pd.testing.assert_frame_equal(got, want)
    # with the deals' rows at a later cut, only the open deals are counted (the same open counts)
    with DealRows(ev, procs, opps, as_of=max(dates), attributes=("amount",)) as later:
        open_only = _tidy(state_counts(ev, procs, opps, dates=dates, later=later))
    pd.testing.assert_frame_equal(open_only, want[want["status"] == "open"].reset_index(drop=True))
