"""The few things a head of sales should act on this month, ranked by how far each is off.

Candidates come from the figures of the report: a process whose forecast falls short of its target, a process
whose open pipeline is expected to win less than the next month's target, a team short of hours next month, and
a rep who logged well below the activities planned for the month. Each gets a score, the relative shortfall
(``1 - achieved / needed``); the largest of each topic come first, then the next of each, at most one per
(topic, process) and at most ``top``.

Examples
--------
>>> import pandas as pd
>>> forecast = pd.DataFrame({"process": ["a", "b"], "contracts": [8.0, 12.0], "contracts_low": [5.0, 9.0],
...                          "contracts_high": [11.0, 15.0], "target": [12.0, 10.0]})
>>> actions(forecast=forecast, window="Q1 2026")["text"].tolist()
['a: forecast 8 contracts (5–11) for Q1 2026 against a target of 12.']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["actions"]

ACTION_COLUMNS = ["topic", "process", "score", "text"]


def actions(*, forecast: pd.DataFrame | None = None, coverage: pd.DataFrame | None = None,
            capacity_short: list[tuple[str, float]] | None = None, capacity_month: str = "next month",
            reps: pd.DataFrame | None = None, window: str = "the forecast window", top: int = 3,
            rep_threshold: float = 0.8) -> pd.DataFrame:
    """Rank what to act on.

    Parameters
    ----------
    forecast : DataFrame, optional
        Per process: ``process, contracts, contracts_low, contracts_high, target`` (expected contracts in the
        forecast window with its interval, and the window's target).
    coverage : DataFrame, optional
        :func:`salesplan.control.attainment.coverage_at_cut`: ``process, expected_wins, target, enough``.
    capacity_short : list of (team, hours short), optional
    capacity_month : str
        Label of the capacity month.
    reps : DataFrame, optional
        :func:`salesplan.control.rep_activity.rep_activity_plan_vs_actual` rows.
    window : str
        Label of the forecast window.
    top : int
        Most actions returned.
    rep_threshold : float
        A rep is listed below this share of the planned activities.

    Returns
    -------
    DataFrame
        ``topic, process, score, text``, largest score first.
    """
    rows: list[dict[str, object]] = []
    if forecast is not None and len(forecast):
        f = forecast[forecast["process"] != "(all)"]
        for r in f.itertuples(index=False):
            target = float(r.target)
            if target > 0 and float(r.contracts) < target:
                rows.append({"topic": "forecast", "process": r.process, "score": 1 - float(r.contracts) / target,
                             "text": f"{r.process}: forecast {r.contracts:.0f} contracts ({r.contracts_low:.0f}–"
                                     f"{r.contracts_high:.0f}) for {window} against a target of {target:.0f}."})
    if coverage is not None and len(coverage):
        for r in coverage.itertuples(index=False):
            target = float(r.target)
            if not bool(r.enough) and target > 0:
                rows.append({"topic": "coverage", "process": r.process,
                             "score": 1 - float(r.expected_wins) / target,
                             "text": f"{r.process}: the open pipeline is expected to win {r.expected_wins:.1f} of "
                                     f"the {target:.1f} contracts due in the next month: add opportunities."})
    for team, hours in capacity_short or []:
        rows.append({"topic": "capacity", "process": team, "score": 0.5,
                     "text": f"{team}: {hours:.0f} hours short in {capacity_month} for the plan's activities."})
    if reps is not None and len(reps):
        per = reps.groupby(["owner", "process"], as_index=False)[["plan", "actual"]].sum()
        per = per[per["plan"] > 0]
        share = per["actual"] / per["plan"]
        for r, s in zip(per.itertuples(index=False), share, strict=True):
            if s < rep_threshold:
                rows.append({"topic": "activities", "process": r.process, "score": 1 - float(s),
                             "text": f"{r.owner} ({r.process}): {r.actual:.0f} activities logged against "
                                     f"{r.plan:.0f} planned this month ({s:.0%})."})
    out = pd.DataFrame(rows, columns=ACTION_COLUMNS)
    if out.empty:
        return out
    out = out.iloc[np.argsort(-out["score"].to_numpy(dtype=float), kind="stable")]
    out = out.drop_duplicates(["topic", "process"])
    rank = out.groupby("topic").cumcount()  # the largest of each topic first, so that three topics are shown
    out = out.iloc[np.lexsort((-out["score"].to_numpy(dtype=float), rank.to_numpy()))]
    return out.head(top).reset_index(drop=True)
