"""The consistency catalogue: hand-written messy deal histories, one or more per path rule, with the truth.

Each deal states, in ``TRUTH``, what the path rules (``salesplan.funnel.paths``) make of it at the cut
``AS_OF``: its status, the furthest working stage, the stages it counts as entered and the close month. The tests
check every part of salesplan that counts deals against this table and against each other.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from salesplan import SalesProcess

PROC = SalesProcess("p", ["lead", "qualified", "offer"])
OTHER = SalesProcess("q", ["call", "proposal"])
PROCESSES = {"p": PROC, "q": OTHER}
AS_OF = pd.Timestamp("2025-06-30")

# deal: (process, created, [(stage, date), ...], amount, truth)
# truth: (status, furthest working stage, entered stages, close date or None)
_DEALS = {
    # straight path
    "straight_won": ("p", "2025-01-05", [("lead", "2025-01-05"), ("qualified", "2025-01-20"),
                                         ("offer", "2025-02-10"), ("won", "2025-03-01")], 100.0,
                     ("won", "offer", ["lead", "qualified", "offer"], "2025-03-01")),
    "straight_lost": ("p", "2025-02-01", [("lead", "2025-02-01"), ("lost", "2025-02-20")], 40.0,
                      ("lost", "lead", ["lead"], "2025-02-20")),
    # skipped stages are entered (implied)
    "skip_middle": ("p", "2025-01-10", [("lead", "2025-01-10"), ("offer", "2025-02-01"), ("won", "2025-04-02")],
                    200.0, ("won", "offer", ["lead", "qualified", "offer"], "2025-04-02")),
    "skip_first": ("p", "2025-03-01", [("qualified", "2025-03-01"), ("lost", "2025-03-15")], 30.0,
                   ("lost", "qualified", ["lead", "qualified"], "2025-03-15")),
    "skip_to_won": ("p", "2025-02-03", [("lead", "2025-02-03"), ("won", "2025-02-28")], 55.0,
                    ("won", "offer", ["lead", "qualified", "offer"], "2025-02-28")),
    # reopened: only the last event closes
    "won_reopened_lost": ("p", "2025-01-02", [("lead", "2025-01-02"), ("qualified", "2025-01-15"),
                                              ("won", "2025-02-01"), ("offer", "2025-03-01"),
                                              ("lost", "2025-04-10")], 300.0,
                          ("lost", "offer", ["lead", "qualified", "offer"], "2025-04-10")),
    "lost_reopened_open": ("p", "2025-02-10", [("lead", "2025-02-10"), ("lost", "2025-03-01"),
                                               ("qualified", "2025-05-01")], 70.0,
                           ("open", "qualified", ["lead", "qualified"], None)),
    "lost_reopened_won": ("p", "2025-01-20", [("lead", "2025-01-20"), ("lost", "2025-02-15"),
                                              ("offer", "2025-03-10"), ("won", "2025-05-05")], 150.0,
                          ("won", "offer", ["lead", "qualified", "offer"], "2025-05-05")),
    "won_twice": ("p", "2025-03-03", [("lead", "2025-03-03"), ("offer", "2025-03-20"), ("won", "2025-04-01"),
                                      ("won", "2025-04-20")], 90.0,
                  ("won", "offer", ["lead", "qualified", "offer"], "2025-04-20")),
    # moves back do not undo an advance
    "back_open": ("p", "2025-03-05", [("lead", "2025-03-05"), ("qualified", "2025-03-20"), ("offer", "2025-04-15"),
                                      ("qualified", "2025-05-10")], 120.0,
                  ("open", "offer", ["lead", "qualified", "offer"], None)),
    "back_lost": ("p", "2025-01-25", [("lead", "2025-01-25"), ("offer", "2025-02-20"), ("lead", "2025-03-02"),
                                      ("lost", "2025-03-30")], 60.0,
                  ("lost", "offer", ["lead", "qualified", "offer"], "2025-03-30")),
    # duplicates count once; ties ordered by stage order
    "duplicate": ("p", "2025-04-01", [("lead", "2025-04-01"), ("lead", "2025-04-01"), ("qualified", "2025-04-10"),
                                      ("qualified", "2025-04-10"), ("won", "2025-05-20")], 80.0,
                  ("won", "offer", ["lead", "qualified", "offer"], "2025-05-20")),
    "tie_same_time": ("p", "2025-04-05", [("qualified", "2025-04-20"), ("lead", "2025-04-05"),
                                          ("offer", "2025-04-20")], 45.0,
                      ("open", "offer", ["lead", "qualified", "offer"], None)),
    # events after the cut are not known yet
    "after_cut": ("p", "2025-05-01", [("lead", "2025-05-01"), ("won", "2025-07-15")], 65.0,
                  ("open", "lead", ["lead"], None)),
    # no events: open in the first stage since creation; created after the cut: not there
    "no_events": ("p", "2025-06-01", [], 25.0, ("open", "lead", ["lead"], None)),
    "created_later": ("p", "2025-07-02", [("lead", "2025-07-02")], 10.0, None),
    # a second process, so that per-process counts are not trivially the totals
    "q_won": ("q", "2025-01-08", [("call", "2025-01-08"), ("proposal", "2025-01-30"), ("won", "2025-02-14")], 500.0,
              ("won", "proposal", ["call", "proposal"], "2025-02-14")),
    "q_open": ("q", "2025-05-12", [("call", "2025-05-12")], 220.0, ("open", "call", ["call"], None)),
    "q_lost_back": ("q", "2025-02-02", [("call", "2025-02-02"), ("proposal", "2025-02-20"), ("call", "2025-03-01"),
                                        ("lost", "2025-03-09")], 130.0,
                    ("lost", "proposal", ["call", "proposal"], "2025-03-09")),
}


def tables() -> dict[str, pd.DataFrame]:
    """The catalogue as canonical ``opportunities`` and ``stage_events`` tables (pandas)."""
    opps, events = [], []
    for i, (deal, (proc, created, path, amount, _)) in enumerate(_DEALS.items()):
        opps.append({"opportunity_id": deal, "customer_id": f"c{i}", "process": proc,
                     "created_at": pd.Timestamp(created), "amount": amount, "owner": "ab"[i % 2]})
        events.extend({"opportunity_id": deal, "stage": st, "entered_at": pd.Timestamp(at)} for st, at in path)
    ev = pd.DataFrame(events).sample(frac=1.0, random_state=3).reset_index(drop=True)  # row order must not matter
    return {"opportunities": pd.DataFrame(opps), "stage_events": ev}


def truth() -> pd.DataFrame:
    """Per deal known at the cut: ``opportunity_id, process, status, work_stage, entered (list), closed_at,
    amount, created_at``."""
    rows = []
    for deal, (proc, created, _, amount, t) in _DEALS.items():
        if t is None:
            continue
        status, work, entered, closed = t
        rows.append({"opportunity_id": deal, "process": proc, "status": status, "work_stage": work,
                     "entered": entered, "closed_at": pd.Timestamp(closed) if closed else pd.NaT,
                     "amount": amount, "created_at": pd.Timestamp(created)})
    out = pd.DataFrame(rows)
    for col in ("closed_at", "created_at"):
        out[col] = out[col].astype("datetime64[ns]")
    return out


@pytest.fixture(scope="session")
def catalogue() -> SimpleNamespace:
    """The catalogue: ``tables()`` (fresh pandas tables), ``truth``, ``processes``, ``as_of``."""
    return SimpleNamespace(tables=tables, truth=truth(), processes=PROCESSES, as_of=AS_OF)
