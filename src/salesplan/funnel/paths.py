"""The path rules: how non-linear stage histories are counted (applied in :mod:`salesplan.reduce.stages`).

Real CRM histories are not straight lines. Every rule below is applied by
:func:`salesplan.reduce.stages.reduce_stage_events`, counted in ``Funnel.issues`` (logged at WARNING when it
changed or dropped something) and pinned by a hand-computed test in ``tests/funnel/test_paths.py``.

The same reduction defines the state of a deal at any date (:mod:`salesplan.reduce.states`), which every other
part reads: ``SalesData.opportunity_status``, the control actuals, KPIs, pipeline movement, variance, the open
pipeline of the forecast and its backtests. So a deal counts the same way everywhere; the consistency catalogue in
``tests/reduce/`` checks it on hand-written messy histories and on every engine.

1. **Order.** Events are ordered by time; events at the same time by stage order (working stages in process order,
   then won, then lost). The input's row order does not matter.
2. **Duplicate events** (same opportunity, stage and time) count once.
3. **Events after** ``as_of`` are not yet known at the cut and are ignored.
4. **Skipped stages.** Reaching stage *k* means entering *k*, any later working stage, or winning. A stage that was
   skipped is entered and left at the moment the later stage was entered: it counts as entered and advanced with
   zero days (``implied``); implied stays are left out of the durations.
5. **Moves back.** A move back to an earlier stage does not undo an advance: the opportunity stays counted as having
   reached its furthest stage, and its loss or open stay belongs to that furthest stage.
6. **Reopened deals.** Only an opportunity's last event can close it. A won or lost event followed by later events
   is void (the deal was reopened, or the outcome corrected); the deal continues from its working stages.
7. **Opportunities without events** (when ``opportunities`` is given) are open in the first stage since
   ``created_at``; opportunities created after ``as_of`` are ignored.
8. **Bad input** raises :class:`~salesplan.SchemaError`: a stage that is not a stage of the opportunity's process
   (``known_stage``), with several processes an event of an unknown opportunity (``known_opportunity``; with one
   process such events are ignored and counted, so a filtered ``opportunities`` table works), an event dated before its
   opportunity's creation (``after_created``), no events at all (``empty``).
9. **Groups and stages without information.** A (group, stage) with no entries, or whose entries are all still open,
   has ``rate`` NaN, the interval [0, 1] and the uninformative effective ``Beta(1/2, 1/2)``.

Examples
--------
Deal ``a`` skips the offer (rule 4), ``b`` moves back from offer to lead (rule 5), ``c`` is lost and then
reopened at the offer (rule 6). All three reached the offer; only ``a`` advanced from it, ``b`` and ``c`` are open
there:

>>> import pandas as pd
>>> import salesplan as sp
>>> from salesplan.funnel import estimate
>>> ev = pd.DataFrame({"opportunity_id": list("aabbbccc"),
...                    "stage": ["lead", "won", "lead", "offer", "lead", "lead", "lost", "offer"],
...                    "entered_at": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-01", "2024-01-05",
...                                                  "2024-01-09", "2024-01-02", "2024-01-06", "2024-01-12"])})
>>> f = estimate(ev, sp.SalesProcess("p", ["lead", "offer"]), as_of="2024-02-01")
>>> f.rates[["stage", "entered", "advanced", "lost", "open"]].values.tolist()
[['lead', 3, 3, 0, 0], ['offer', 3, 1, 0, 2]]
>>> {rule: n for rule, n in f.issues[["rule", "rows"]].values.tolist() if n}
{'void outcome (reopened)': 1, 'move back': 1, 'skipped or implied stage entry': 1}
>>> len(path_rules())
9
"""

from __future__ import annotations

import pandas as pd

__all__ = ["path_rules"]

_RULES = [
    ("order", "by time, ties by stage order (working stages, then won, then lost)"),
    ("duplicate event", "counted once"),
    ("event after as_of", "ignored"),
    ("skipped stage", "entered and advanced at the later stage's entry (zero days, implied; not in durations)"),
    ("move back", "furthest stage kept; loss / open stay belongs to the furthest stage"),
    ("reopened deal", "only the last event can close a deal; earlier outcomes are void"),
    ("opportunity without events", "open in the first stage since created_at"),
    ("bad input", "SchemaError: known_stage, known_opportunity, after_created, empty"),
    ("no information", "rate NaN, interval [0, 1], Beta(1/2, 1/2)"),
]


def path_rules() -> pd.DataFrame:
    """The path rules as a table (``rule, treatment``), for reports."""
    return pd.DataFrame(_RULES, columns=["rule", "treatment"])
