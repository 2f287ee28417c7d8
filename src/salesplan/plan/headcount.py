"""Headcount: how many reps of a profile, hired by when, make a plan fit the team's hours, and what that costs.

Method
    Per process and month, the hours the plan needs (:meth:`salesplan.plan.Plan.schedule` from the cut, activities
    times hours per activity, at the ``required`` volumes) are compared with the hours of the current team
    (:func:`salesplan.plan.rep_hours`: ramp, absences, start and end dates), shrunk by attrition: a rep is still
    there after ``m`` months with probability ``(1 - attrition) ** (m / 12)``. A new hire of the profile can start
    ``lead_months`` after the cut (notice and recruiting), then works at ``ramp_fraction`` for ``ramp_months`` and
    fully afterwards, also shrunk by attrition. The number of hires ``k`` is the smallest whole number that closes
    the gap in every month that a hire can still reach; months before the earliest start that are short cannot
    be fixed by hiring and are listed as such. Hires are all made at the earliest start (the latest date by which
    they must be hired is that start minus the lead time: the cut itself). The cost is ``k`` times the monthly
    cost over the months from the start to the end of the plan.

Assumptions: hours are fungible within a process (any rep of the process can take any of its work); a rep who
works several processes gives each an equal share of their hours; hires work one process.

Examples
--------
>>> import pandas as pd
>>> from salesplan.plan import backward, read_team
>>> plan = backward(pd.DataFrame({"process": ["p"], "period": ["2026-06"], "contracts": [40]}),
...                 {"p": {"lead": 0.5}}, durations={"p": {"lead": 20}},
...                 activity_ratios={"p": {"lead": {"visits": 2}}})
>>> team = read_team([{"owner": "ann", "processes": ["p"], "hours_per_week": 10}])
>>> need = headcount(plan, team, {"hours_per_week": 30, "ramp_months": 1, "lead_months": 1,
...                               "cost_per_month": 6000}, as_of="2026-03-01", hours={"visits": 2.0})
>>> need.summary[["process", "hires", "start", "cost"]].to_dict("records")
[{'process': 'p', 'hires': 2, 'start': Timestamp('2026-04-01 00:00:00'), 'cost': 36000.0}]
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import PlanInputError
from salesplan.plan.capacity import hours_table
from salesplan.plan.team import read_team, rep_hours

__all__ = ["headcount", "Headcount", "PROFILE_DEFAULTS"]

logger = logging.getLogger(__name__)

#: Profile of a new hire; ``hours_per_week`` and ``cost_per_month`` have no default.
PROFILE_DEFAULTS: dict[str, float] = {"ramp_months": 3.0, "ramp_fraction": 0.5, "lead_months": 2.0,
                                      "attrition": 0.0}


@dataclass
class Headcount:
    """Result of :func:`headcount`.

    Attributes
    ----------
    table : DataFrame
        Per process and month: ``required_hours``, ``team_hours`` (current team, after attrition),
        ``hire_hours`` (one hire of the profile in that month), ``gap`` (required - team hours, >= 0),
        ``fixable`` (a hire can work that month).
    summary : DataFrame
        Per process: ``hires``, ``hire_by`` (the cut: hires are made at once), ``start`` (earliest start),
        ``months_short_before_start``, ``cost``.
    """

    table: pd.DataFrame
    summary: pd.DataFrame

    def _repr_html_(self) -> str:
        short = self.summary[self.summary["hires"] > 0]["process"].tolist()
        head = f"hires needed in {', '.join(short)}" if short else "the current team carries the plan"
        return f"<p><b>Headcount</b>: {html.escape(head)}</p>" + self.summary.to_html(index=False)


def _profile(profile: Mapping[str, Any]) -> dict[str, float]:
    spec = {**PROFILE_DEFAULTS, **dict(profile)}
    for key in ("hours_per_week", "cost_per_month"):
        if key not in spec:
            raise PlanInputError(f"headcount profile: key {key!r} is missing")
    out = {}
    for key, value in spec.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise PlanInputError(f"headcount profile: key {key!r} must be a number, got {value!r}") from None
    if not out["hours_per_week"] > 0:
        raise PlanInputError(f"headcount profile: key 'hours_per_week' must be > 0, got {out['hours_per_week']}")
    if not 0 <= out["attrition"] < 1:
        raise PlanInputError(f"headcount profile: key 'attrition' (yearly) must lie in [0, 1), got {out['attrition']}")
    if not 0 < out["ramp_fraction"] <= 1 or out["ramp_months"] < 0 or out["lead_months"] < 0 or \
            out["cost_per_month"] < 0:
        raise PlanInputError(f"headcount profile: ramp_fraction in (0, 1], ramp_months, lead_months and "
                             f"cost_per_month >= 0; got {out}")
    return out


def headcount(plan: Any, team: Any, profile: Mapping[str, Any], *, as_of: Any = None, hours: Any = None,
              basis: str = "required") -> Headcount:
    """Reps of ``profile`` to hire per process so the plan fits (see the module docstring).

    Parameters
    ----------
    plan : Plan
        The plan (netted or not); its schedule from ``as_of`` (default the plan's cut) is used.
    team : team table
        The current team (:func:`salesplan.plan.read_team` input).
    profile : mapping
        ``hours_per_week``, ``cost_per_month``; optional ``ramp_months`` (3), ``ramp_fraction`` (0.5),
        ``lead_months`` (2: notice and recruiting), ``attrition`` (0: yearly share of reps who leave).
    hours : mapping or DataFrame, optional
        Hours per activity (default calls 0.25, visits 2, offers 3).
    basis : {"required", "expected"}

    Returns
    -------
    Headcount
    """
    spec = _profile(profile)
    cut = plan.as_of if as_of is None else pd.Timestamp(as_of)
    if cut is None:
        raise PlanInputError("headcount needs the cut: give as_of= (or net the plan first)")
    cut = pd.Timestamp(cut).normalize()
    if not isinstance(team, pd.DataFrame) or "absences" not in team.columns:
        team = read_team(team, processes=list(plan.view.processes))
    sched = plan.schedule("M", as_of=cut)
    acts = sched[sched["item"] != "entries"]
    htab = hours_table(hours if hours is not None else {"calls": 0.25, "visits": 2.0, "offers": 3.0})
    general = htab[htab["process"] == "*"].set_index("kind")["hours"]
    specific = htab[htab["process"] != "*"].set_index(["process", "kind"])["hours"]
    per = np.asarray([specific.get((p, k), general.get(k, 0.0)) for p, k in
                      zip(acts["process"], acts["item"], strict=True)], dtype=float)
    need = acts.assign(required_hours=acts[basis].to_numpy() * per).groupby(
        ["process", "period", "start"], as_index=False)["required_hours"].sum()
    if need.empty:
        raise PlanInputError("headcount: the plan schedules no activity from the cut")
    end = pd.Period(need["start"].max(), "M").end_time.normalize()
    avail = rep_hours(team, cut, end, freq="M")
    months = sorted(need["period"].unique())
    month_start = {m: pd.Period(m, "M").start_time for m in months}
    elapsed = {m: max((month_start[m] - cut).days, 0) / 30.4375 for m in months}
    start = (cut + pd.DateOffset(months=int(spec["lead_months"]))
             + pd.Timedelta(days=round((spec["lead_months"] % 1) * 30.4375))).normalize()
    hire_team = read_team([{"owner": "hire", "processes": ["*"], "hours_per_week": spec["hours_per_week"],
                            "start": start, "ramp_months": spec["ramp_months"],
                            "ramp_fraction": spec["ramp_fraction"]}])
    hire = rep_hours(hire_team, cut, end, freq="M").set_index("period")["available_hours"]
    rows = []
    for proc in sorted(need["process"].unique()):
        mine = team[team["processes"].map(lambda ps, p=proc: p in ps)]
        share = dict(zip(mine["owner"], 1.0 / mine["processes"].map(len), strict=True))
        rows_p = avail[avail["owner"].isin(list(share))]
        team_h = (rows_p["available_hours"] * rows_p["owner"].map(share)).groupby(rows_p["period"]).sum()
        for m in months:
            req = float(need.loc[(need["process"] == proc) & (need["period"] == m), "required_hours"].sum())
            keep = (1 - spec["attrition"]) ** (elapsed[m] / 12)
            have = float(team_h.get(m, 0.0)) * keep
            one = float(hire.get(m, 0.0)) * (1 - spec["attrition"]) ** (max(elapsed[m] - spec["lead_months"], 0) / 12)
            rows.append({"process": proc, "period": m, "required_hours": req, "team_hours": have,
                         "hire_hours": one, "gap": max(req - have, 0.0), "fixable": one > 0})
    table = pd.DataFrame(rows)
    summary = []
    for proc, g in table.groupby("process", sort=False):
        fix = g[g["fixable"] & (g["gap"] > 1e-9)]
        hires = int(np.ceil((fix["gap"] / fix["hire_hours"]).max() - 1e-9)) if len(fix) else 0
        lost = g[~g["fixable"] & (g["gap"] > 1e-9)]
        paid_months = len(pd.period_range(start.to_period("M"), end.to_period("M"), freq="M")) if start <= end else 0
        summary.append({"process": proc, "hires": hires, "hire_by": cut, "start": start,
                        "months_short_before_start": len(lost),
                        "cost": float(hires * spec["cost_per_month"] * paid_months)})
        if len(lost):
            logger.warning("headcount: %s is short in %d month(s) before a hire can start (%s)", proc, len(lost),
                           ", ".join(lost["period"]))
    return Headcount(table, pd.DataFrame(summary))
