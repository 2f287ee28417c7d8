"""Funnel figures from a current-stage snapshot (one row per deal, no stage history), with its limits stated.

What a snapshot can give
    * the count and share of deals per current stage;
    * the win rate among closed deals (``closed_only``) and with open deals as lost (``open_as_lost``): a lower
      bound), side by side;
    * when the snapshot dates the entry to a stage (``entered``, e.g. Maven's ``engage_date``) and the close
      (``closed``): the censored (Aalen-Johansen) probability of a win from that stage, with an interval, and the
      time from that stage to a win or a loss.

What it cannot give
    * conversion between earlier stages: a lost deal does not say at which stage it was lost, and deals dropped
      before the dated stage may never appear;
    * time spent in stages before the dated one, moves back, reopened deals;
    * anything about how the snapshot looked earlier (cohort trends need the creation date, not only the
      current stage).

Examples
--------
>>> import pandas as pd
>>> snap = pd.DataFrame({"deal_stage": ["Won", "Lost", "Engaging", "Prospecting", "Won"],
...                      "engage_date": ["2024-01-01", "2024-01-01", "2024-01-05", None, "2024-01-02"],
...                      "close_date": ["2024-01-11", "2024-01-21", None, None, "2024-01-30"]})
>>> s = snapshot_funnel(snap, stages=["Prospecting", "Engaging"], stage="deal_stage", won="Won", lost="Lost",
...                     entered="engage_date", closed="close_date")
>>> s.stage_counts["deals"].tolist()
[1, 1, 2, 1]
>>> round(float(s.win_rate.loc["closed_only", "win_rate"]), 3)
0.667
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result, rounded
from salesplan._validation import check_probability
from salesplan.errors import SchemaError
from salesplan.funnel.aalen_johansen import aalen_johansen, effective_n, wilson_interval
from salesplan.reduce.stages import reduce_snapshot

__all__ = ["SnapshotFunnel", "snapshot_funnel", "SNAPSHOT_LIMITS"]

SNAPSHOT_LIMITS = (
    "A current-stage snapshot has no stage history: conversion between working stages cannot be estimated "
    "(a lost deal does not say where it was lost), nor time spent in stages before the dated one, moves back or "
    "reopened deals. Win rates are available closed-only (biased when wins and losses take different times) and "
    "open-as-lost (a lower bound); with an entry date for one stage and close dates, the censored win probability "
    "from that stage is estimated (Aalen-Johansen), assuming every deal with that date entered the stage then."
)


@dataclass(frozen=True, repr=False)
class SnapshotFunnel(Result):
    """Result of :func:`snapshot_funnel` (immutable).

    Holds ``stage_counts``, ``win_rate`` (by method), ``time_to_close``, ``limits`` (text) and ``as_of``.
    """

    stage_counts: pd.DataFrame
    win_rate: pd.DataFrame
    time_to_close: pd.DataFrame
    limits: str
    as_of: pd.Timestamp | None

    def title(self) -> str:
        """The cut and the limits of a snapshot."""
        return f"Snapshot funnel as of {self.as_of}: {self.limits}"

    def summary(self) -> pd.DataFrame:
        """Win rate by method with its interval (rounded)."""
        return rounded(self.win_rate)


def snapshot_funnel(snapshot: Any, *, stages: Sequence[str], stage: str = "stage", won: str = "won",
                    lost: str = "lost", entered: str | None = None, closed: str | None = None,
                    entered_stage: str | None = None, as_of: Any = None,
                    confidence: float = 0.95) -> SnapshotFunnel:
    """Estimate what a current-stage snapshot supports (see the module docstring for the limits).

    Parameters
    ----------
    snapshot : DataFrame-like
        One row per deal with its current ``stage`` (any engine narwhals reads).
    stages : list of str
        The ordered working stages; ``won`` and ``lost`` name the outcomes.
    entered, closed : str, optional
        Columns with the date the deal entered ``entered_stage`` (default: the last working stage) and its close
        date; with both, the censored win probability from that stage is estimated.
    as_of : date-like, optional
        Cut for open deals; default the latest date in the snapshot.
    confidence : float
        Interval level.

    Raises
    ------
    SchemaError
        A stage value that is neither a working stage nor an outcome (``known_stage``).
    """
    check_probability(confidence, "confidence")
    patterns, cut = reduce_snapshot(snapshot, stage=stage, entered=entered, closed=closed, as_of=as_of,
                                    won=won, lost=lost)
    known = [*stages, won, lost]
    bad = patterns[~patterns["stage"].isin(known)]
    if len(bad):
        raise SchemaError.from_cases([{"table": "snapshot", "column": stage, "check": "known_stage",
                                       "key": f"{int(w)} deal(s)", "value": s}
                                      for s, w in zip(bad["stage"], bad["weight"], strict=True)])
    counts = patterns.groupby("stage")["weight"].sum().reindex(known, fill_value=0)
    stage_counts = pd.DataFrame({"stage": known, "deals": counts.to_numpy().astype(int)})
    stage_counts["share"] = stage_counts["deals"] / max(stage_counts["deals"].sum(), 1)
    n_won, n_lost = int(counts[won]), int(counts[lost])
    n_all = int(counts.sum())
    rows = {}
    for name, num, den in (("closed_only", n_won, n_won + n_lost), ("open_as_lost", n_won, n_all)):
        r = num / den if den else np.nan
        lo, hi = wilson_interval(r, den, confidence)
        rows[name] = {"win_rate": r, "win_rate_low": float(lo), "win_rate_high": float(hi), "n": den}
    ttc = pd.DataFrame(columns=["outcome", "n", "median_days", "q25_days", "q75_days"])
    if entered and closed:
        from_stage = entered_stage or stages[-1]
        dated = patterns[patterns["days"].notna()]
        code = dated["stage"].map({won: 1, lost: 2}).fillna(0).astype(int).to_numpy()
        fit = aalen_johansen(dated["days"].to_numpy(), code, dated["weight"].to_numpy())
        n_eff = effective_n(fit.rate, fit.var, fallback=fit.n_advance + fit.n_loss, cap=fit.n)
        lo, hi = wilson_interval(fit.rate, n_eff, confidence)
        rows[f"censored_from_{from_stage}"] = {"win_rate": fit.rate, "win_rate_low": float(lo),
                                               "win_rate_high": float(hi), "n": int(fit.n)}
        ttc = pd.DataFrame([{"outcome": o, "n": int(fit.n_advance if oc == 1 else fit.n_loss),
                             **dict(zip(["q25_days", "median_days", "q75_days"], fit.quantiles([.25, .5, .75], oc),
                                        strict=True))} for o, oc in (("won", 1), ("lost", 2))])
    win = pd.DataFrame(rows).T
    win.index.name = "method"
    return SnapshotFunnel(stage_counts=stage_counts, win_rate=win.astype(float), time_to_close=ttc,
                          limits=SNAPSHOT_LIMITS, as_of=cut)
