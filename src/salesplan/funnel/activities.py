"""Activity ratios: activities of each kind per opportunity entering each stage, with intervals.

Each activity is attributed to the stage its opportunity was in on the activity's date
(:func:`salesplan.reduce.stages.reduce_activities`). A stay still open at the cut has not had all its
activities yet, so the ratio is measured on resolved stays (advanced or lost): ``per_entry`` = activities during
resolved stays / resolved stays. The all-stays figure ``per_entry_all`` (biased down by open stays) is shown
beside it.

Interval
    Quasi-Poisson: the exact (Garwood) Poisson interval for the total count, widened by the dispersion
    ``phi = max(1, var / mean)`` of the per-stay counts (the count is divided by ``phi`` before the chi-square
    quantiles and the limits multiplied back).

Examples
--------
>>> from salesplan.datasets import simulate
>>> data, truth = simulate(n_customers=40, years=1, seed=4)
>>> r = activity_ratios(data.activities, data.stage_events, data.processes, data.opportunities)
>>> row = r.query("process == 'acquisition' and stage == 'prospect_selected' and kind == 'calls'").iloc[0]
>>> bool(row.per_entry_low < 2.0 < row.per_entry_high)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan._validation import check_probability
from salesplan.process import SalesProcess
from salesplan.reduce.stages import normalise_processes, reduce_activities

__all__ = ["activity_ratios", "poisson_interval"]


def poisson_interval(count: np.ndarray | float, exposure: np.ndarray | float, confidence: float = 0.95,
                     dispersion: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Garwood interval of a rate ``count / exposure``, widened by a quasi-Poisson ``dispersion``.

    Examples
    --------
    >>> lo, hi = poisson_interval(100, 50)
    >>> round(float(lo), 3), round(float(hi), 3)
    (1.627, 2.433)
    """
    c = np.asarray(count, dtype=float) / np.asarray(dispersion, dtype=float)
    e = np.asarray(exposure, dtype=float) / np.asarray(dispersion, dtype=float)
    tail = (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(c > 0, stats.chi2.ppf(tail, 2 * c) / 2, 0.0) / e
        hi = stats.chi2.ppf(1 - tail, 2 * c + 2) / 2 / e
    return lo, hi


def activity_ratios(activities: Any, stage_events: Any, processes: SalesProcess | Mapping[str, SalesProcess],
                    opportunities: Any = None, *, as_of: Any = None, confidence: float = 0.95) -> pd.DataFrame:
    """Activities per opportunity entering each stage, per (process, stage, kind), with intervals.

    Parameters
    ----------
    activities : DataFrame-like
        ``kind, date, opportunity_id`` (any engine narwhals reads; same engine as the events).
    stage_events, processes, opportunities, as_of
        As in :func:`salesplan.funnel.estimate`.
    confidence : float
        Interval level.

    Returns
    -------
    DataFrame
        ``process, stage, kind, entries, activities, per_entry, per_entry_low, per_entry_high, dispersion,
        entries_all, per_entry_all`` (``entries`` = resolved stays). Kinds named in the process definition but
        never seen are listed with zero activities. ``attrs["unattributed"]`` counts activities not attributed.
    """
    check_probability(confidence, "confidence")
    procs = normalise_processes(processes)
    red = reduce_activities(activities, stage_events, procs, opportunities, as_of=as_of)
    counts, entries = red["counts"], red["entries"]
    rows = []
    for pname, proc in procs.items():
        kinds = list(dict.fromkeys([*proc.activity_kinds,
                                    *counts.loc[counts["process"] == pname, "kind"].tolist()]))
        for k, stage in enumerate(proc.stages):
            ent = entries[(entries["process"] == pname) & (entries["stage_idx"] == k)]
            n_res = float(ent.loc[ent["resolved"], "weight"].sum())
            n_all = float(ent["weight"].sum())
            for kind in kinds:
                c = counts[(counts["process"] == pname) & (counts["stage_idx"] == k) & (counts["kind"] == kind)]
                res = c[c["resolved"]]
                total = float((res["count"] * res["weight"]).sum())
                total_all = float((c["count"] * c["weight"]).sum())
                mean = total / n_res if n_res else np.nan
                second = float((res["count"] ** 2 * res["weight"]).sum()) / n_res if n_res else np.nan
                var = second - mean**2 if n_res > 1 else np.nan
                phi = max(1.0, var / mean * n_res / (n_res - 1)) if n_res > 1 and mean > 0 else 1.0
                lo, hi = poisson_interval(total, n_res, confidence, phi) if n_res else (np.nan, np.nan)
                rows.append({"process": pname, "stage": stage, "kind": kind, "entries": int(n_res),
                             "activities": int(total), "per_entry": mean, "per_entry_low": float(lo),
                             "per_entry_high": float(hi), "dispersion": phi, "entries_all": int(n_all),
                             "per_entry_all": total_all / n_all if n_all else np.nan})
    out = pd.DataFrame(rows)
    out.attrs["unattributed"] = red["unattributed"]
    return out
