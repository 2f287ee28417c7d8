"""Activities planned against activities logged, per rep, kind and process, for one month.

The plan's activities of a process for the month (its target period's activities pro-rated by days, the same
pro-rating as the contract targets, :func:`salesplan.control.attainment.overlap_share`) are split over the reps
who work the process in proportion to their weekly hours (a rep on several processes splits their hours
equally between them). The actual side is what each rep logged (``activities.owner``).

Examples
--------
>>> import pandas as pd
>>> plan = pd.DataFrame({"process": ["p"], "kind": ["calls"], "plan": [30.0]})
>>> team = pd.DataFrame({"owner": ["a", "b"], "processes": [("p",), ("p",)], "hours_per_week": [20.0, 10.0]})
>>> actual = pd.DataFrame({"process": ["p"], "owner": ["a"], "kind": ["calls"], "count": [25]})
>>> rep_activity_plan_vs_actual(plan, team, actual)[["owner", "plan", "actual", "attainment"]].to_dict("records")
[{'owner': 'a', 'plan': 20.0, 'actual': 25, 'attainment': 1.25}, {'owner': 'b', 'plan': 10.0, 'actual': 0, \
'attainment': 0.0}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["REP_ACTIVITY_COLUMNS", "rep_activity_plan_vs_actual", "rep_month_targets"]

#: Columns of :func:`rep_activity_plan_vs_actual`.
REP_ACTIVITY_COLUMNS = ["owner", "process", "kind", "plan", "actual", "difference", "attainment"]


def rep_shares(team: pd.DataFrame) -> pd.DataFrame:
    """``owner, process, share``: each rep's share of a process's weekly hours.

    Examples
    --------
    >>> team = pd.DataFrame({"owner": ["a", "b"], "processes": [("p", "q"), ("p",)], "hours_per_week": [20.0, 10.0]})
    >>> rep_shares(team)["share"].round(2).tolist()
    [0.5, 1.0, 0.5]
    """
    rows: list[dict[str, object]] = []
    for owner, procs, hours in zip(team["owner"], team["processes"], team["hours_per_week"], strict=True):
        procs = [procs] if isinstance(procs, str) else list(procs or ())
        rows.extend({"owner": str(owner), "process": p, "hours": float(hours) / len(procs)} for p in procs)
    out = pd.DataFrame(rows, columns=["owner", "process", "hours"])
    total = out.groupby("process")["hours"].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.where(total > 0, out["hours"] / total, 0.0)
    return out[["owner", "process", "share"]]


def rep_activity_plan_vs_actual(plan: pd.DataFrame, team: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Planned and logged activities of one month per rep, process and kind.

    Parameters
    ----------
    plan : DataFrame
        ``process, kind, plan``: the month's planned activities per process.
    team : DataFrame
        ``owner, processes, hours_per_week`` (:func:`salesplan.plan.read_team`).
    actual : DataFrame
        ``process, owner, kind, count``: activities logged in the month
        (:func:`salesplan.reduce.states.activity_counts` with ``by="owner"``).

    Returns
    -------
    DataFrame
        :data:`REP_ACTIVITY_COLUMNS`; ``difference = actual - plan``, ``attainment = actual / plan`` (NaN
        without a plan). Activities by someone not in the team count under their owner with plan 0.
    """
    shares = rep_shares(team)
    planned = shares.merge(plan[["process", "kind", "plan"]], on="process", how="inner")
    planned["plan"] = planned["plan"].astype(float) * planned["share"]
    act = actual.groupby(["owner", "process", "kind"], as_index=False)["count"].sum()
    act["owner"] = act["owner"].astype(str)
    out = planned[["owner", "process", "kind", "plan"]].merge(act, on=["owner", "process", "kind"], how="outer")
    out["plan"] = out["plan"].fillna(0.0)
    out["actual"] = out["count"].fillna(0).astype("int64")
    out["difference"] = out["actual"] - out["plan"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["attainment"] = np.where(out["plan"] > 0, out["actual"] / out["plan"], np.nan)
    out = out.sort_values(["process", "owner", "kind"], kind="stable").reset_index(drop=True)
    return out[REP_ACTIVITY_COLUMNS]


def rep_month_targets(wide: pd.DataFrame, owners: list[str], month: pd.Period) -> pd.DataFrame:
    """A month's work per rep from a weekly per-rep plan.

    The weeks whose Thursday falls in ``month`` (ISO 8601 week-to-month rule) are summed per rep, with the
    highest weekly utilisation.

    Parameters
    ----------
    wide : DataFrame
        :meth:`salesplan.plan.RepPlan.wide`: ``owner, period, start``, one column per item, ``utilisation``.
    owners : list of str
        The reps to show.
    month : pandas.Period

    Returns
    -------
    DataFrame
        ``owner, weeks``, one column per item (whole numbers) and ``peak_utilisation``.

    Examples
    --------
    >>> wide = pd.DataFrame({"owner": "a", "period": ["2025-W52", "2026-W01", "2026-W02"],
    ...                      "start": pd.to_datetime(["2025-12-22", "2025-12-29", "2026-01-05"]),
    ...                      "calls": [5, 6, 7], "required_hours": 1.0, "available_hours": 2.0,
    ...                      "utilisation": [0.5, 0.9, 0.7]})
    >>> rep_month_targets(wide, ["a"], pd.Period("2026-01", "M")).to_dict("records")
    [{'owner': 'a', 'weeks': 2, 'calls': 13, 'peak_utilisation': 0.9}]
    """
    thursday = pd.to_datetime(wide["start"]) + pd.Timedelta(days=3)
    inside = (thursday >= month.start_time) & (thursday <= month.end_time) & wide["owner"].isin(owners)
    rows = wide[inside]
    items = [c for c in wide.columns if c not in ("owner", "period", "start", "required_hours", "available_hours",
                                                  "utilisation")]
    out = rows.groupby("owner", as_index=False).agg(
        weeks=("period", "nunique"), **{c: (c, "sum") for c in items}, peak_utilisation=("utilisation", "max"))
    for c in items:
        out[c] = out[c].astype("int64")
    kept = [c for c in items if out[c].sum() > 0]  # items of other processes' reps are all zero here
    return out[["owner", "weeks", *kept, "peak_utilisation"]].reset_index(drop=True)
