"""Capacity: hours the plan needs per team and period against the hours the team has.

Teams are given as a table with one row per team: ``team``, ``process`` (a process name, several separated by
commas, or ``"*"`` for every process), ``people`` and ``hours`` (hours available per person per period of the
schedule's frequency). Hours per activity come as a mapping ``{kind: hours}`` or a table ``kind, hours``
(optional ``process`` column for process-specific hours).

The report lists per (period, team) the required and available hours, the utilisation, the gap
(available - required; negative is a shortfall) and the people needed; :attr:`CapacityReport.infeasible` names every
period and team that is short and by how much. Nothing is silently over-planned: a shortfall is logged at WARNING,
and ``raise_if_infeasible=True`` turns it into a :class:`~salesplan.PlanInputError`.

Examples
--------
>>> import pandas as pd
>>> sched = pd.DataFrame({"process": "p", "item": ["calls", "visits"], "period": "2025-01",
...                       "start": pd.Timestamp("2025-01-01"), "expected": [100.0, 10.0],
...                       "required": [120.0, 12.0]})
>>> teams = pd.DataFrame({"team": ["inside"], "process": ["p"], "people": [1], "hours": [50.0]})
>>> rep = capacity_report(sched, teams, {"calls": 0.25, "visits": 2.5})
>>> rep.table[["required_hours", "available_hours", "gap"]].to_dict("records")
[{'required_hours': 60.0, 'available_hours': 50.0, 'gap': -10.0}]
>>> print(rep.infeasible["message"].iloc[0])
2025-01 team 'inside': short by 10.0 hours (120% of 50.0 available; 2 people needed, 1 planned)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result
from salesplan.errors import PlanInputError
from salesplan.schema import to_pandas

__all__ = ["CapacityReport", "capacity_report", "normalise_teams", "hours_table"]

logger = logging.getLogger(__name__)


def hours_table(hours: Any) -> pd.DataFrame:
    """Hours per activity as a table ``process, kind, hours`` (``process == "*"``: every process).

    Examples
    --------
    >>> hours_table({"calls": 0.25}).to_dict("records")
    [{'process': '*', 'kind': 'calls', 'hours': 0.25}]
    """
    if isinstance(hours, Mapping):
        frame = pd.DataFrame({"process": "*", "kind": list(hours), "hours": list(hours.values())})
    else:
        frame = to_pandas(hours, "hours")
        if not {"kind", "hours"} <= set(frame.columns):
            raise PlanInputError("hours table needs the columns 'kind' and 'hours' (optional 'process')")
        if "process" not in frame.columns:
            frame["process"] = "*"
        frame = frame[["process", "kind", "hours"]].copy()
    given = frame["hours"].copy()  # the values as given, for the message
    frame["hours"] = pd.to_numeric(frame["hours"], errors="coerce").astype(float)
    bad = ~(frame["hours"] >= 0) | ~np.isfinite(frame["hours"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PlanInputError(f"hours row {i} (kind={frame['kind'].iloc[i]!r}): hours per activity must be a "
                             f"finite number >= 0, got {given.iloc[i]!r}")
    return frame.reset_index(drop=True)


def normalise_teams(teams: Any, processes: list[str]) -> pd.DataFrame:
    """Check the teams table and map each process to exactly one team.

    Raises :class:`~salesplan.PlanInputError` naming the row for zero or negative people or hours (a capacity of
    zero cannot carry any plan) and for processes served by no team or by two.
    """
    if isinstance(teams, Mapping):
        raise PlanInputError("teams must be a table with columns team, process, people, hours")
    frame = to_pandas(teams, "teams").reset_index(drop=True)
    missing = {"team", "process", "people", "hours"} - set(frame.columns)
    if missing:
        raise PlanInputError(f"teams table: missing column(s) {sorted(missing)}; need team, process, people, hours")
    for col in ("people", "hours"):
        values = pd.to_numeric(frame[col], errors="coerce").astype(float)
        bad = ~(values > 0) | ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PlanInputError(
                f"teams row {i} (team={frame['team'].iloc[i]!r}): {col} must be a positive number, got "
                f"{frame[col].iloc[i]!r} (a capacity of zero cannot carry any planned activity)"
            )
        frame[col] = values
    serves: dict[str, list[str]] = {p: [] for p in processes}
    for team, spec in zip(frame["team"], frame["process"], strict=True):
        names = list(serves) if str(spec).strip() == "*" else [s.strip() for s in str(spec).split(",")]
        for name in names:
            serves.setdefault(name, []).append(str(team))
    orphan = [p for p in processes if not serves.get(p)]
    if orphan:
        raise PlanInputError(f"teams: no team serves process(es) {orphan}; add a row or use process='*'")
    double = {p: t for p, t in serves.items() if p in processes and len(t) > 1}
    if double:
        raise PlanInputError(f"teams: process(es) served by more than one team: {double}")
    frame.attrs["serves"] = {p: t[0] for p, t in serves.items() if t and p in processes}
    return frame


@dataclass(frozen=True, repr=False)
class CapacityReport(Result):
    """Required against available hours per (period, team).

    Attributes
    ----------
    table : DataFrame
        ``period, start, team, people, required_hours, available_hours, utilisation, gap, people_needed,
        feasible``.
    infeasible : DataFrame
        The rows with a shortfall and a ``message`` naming period, team and amount.
    basis : str
        ``"required"`` (hours at the plan's target probability) or ``"expected"``.
    """

    table: pd.DataFrame
    infeasible: pd.DataFrame
    basis: str = "required"

    def title(self) -> str:
        """Whether the teams have the hours (the first line of ``str(report)``)."""
        return str(self).splitlines()[0]

    @property
    def feasible(self) -> bool:
        """True when no period and team is short."""
        return self.infeasible.empty

    def summary(self) -> pd.DataFrame:
        """Per team: total required and available hours, peak utilisation, periods short, largest shortfall."""
        g = self.table.groupby("team")
        return pd.DataFrame({
            "required_hours": g["required_hours"].sum(),
            "available_hours": g["available_hours"].sum(),
            "peak_utilisation": g["utilisation"].max(),
            "periods_short": g["feasible"].apply(lambda s: int((~s).sum())),
            "largest_shortfall": g["gap"].min().clip(upper=0).abs(),
        })

    def __str__(self) -> str:
        if self.feasible:
            return f"capacity sufficient in all {len(self.table)} period-team cells ({self.basis} hours)"
        lines = [f"capacity short in {len(self.infeasible)} period-team cell(s) ({self.basis} hours):"]
        lines.extend(f"  {m}" for m in self.infeasible["message"])
        return "\n".join(lines)


def capacity_report(schedule: pd.DataFrame, teams: Any, hours: Any, *, basis: str = "required",
                    raise_if_infeasible: bool = False) -> CapacityReport:
    """Compare the hours a time-phased plan needs with the teams' hours per period.

    Parameters
    ----------
    schedule : DataFrame
        Output of :meth:`Plan.schedule` (columns ``process, item, period, start, expected, required``).
    teams : DataFrame
        ``team, process, people, hours`` (hours available per person per period).
    hours : mapping or DataFrame
        Hours per activity kind.
    basis : {"required", "expected"}
        Plan at the target probability or in expectation.
    raise_if_infeasible : bool
        Raise :class:`~salesplan.PlanInputError` listing the shortfalls instead of returning them.
    """
    if basis not in ("required", "expected"):
        raise PlanInputError(f"basis must be 'required' or 'expected', got {basis!r}")
    acts = schedule[schedule["item"] != "entries"]
    processes = sorted(schedule["process"].unique())
    team_table = normalise_teams(teams, processes)
    serves = team_table.attrs["serves"]
    htab = hours_table(hours)
    specific = htab[htab["process"] != "*"].set_index(["process", "kind"])["hours"]
    general = htab[htab["process"] == "*"].set_index("kind")["hours"]
    per_hour = np.asarray([specific.get((p, k), general.get(k, np.nan))
                           for p, k in zip(acts["process"], acts["item"], strict=True)], dtype=float)
    if np.isnan(per_hour).any():
        kinds = sorted(set(acts["item"][np.isnan(per_hour)]))
        raise PlanInputError(f"hours: no hours per activity given for kind(s) {kinds}")
    work = pd.DataFrame({"period": acts["period"].to_numpy(), "start": acts["start"].to_numpy(),
                         "team": acts["process"].map(serves).to_numpy(),
                         "required_hours": acts[basis].to_numpy() * per_hour})
    need = work.groupby(["period", "start", "team"], as_index=False)["required_hours"].sum()
    # every period for every team, so idle teams appear with zero need
    grid = need[["period", "start"]].drop_duplicates().merge(team_table[["team"]].drop_duplicates(), how="cross")
    table = grid.merge(need, on=["period", "start", "team"], how="left").fillna({"required_hours": 0.0})
    team_info = team_table.set_index("team")[["people", "hours"]]
    table["people"] = table["team"].map(team_info["people"])
    table["available_hours"] = table["people"] * table["team"].map(team_info["hours"])
    table["utilisation"] = table["required_hours"] / table["available_hours"]
    table["gap"] = table["available_hours"] - table["required_hours"]
    table["people_needed"] = np.ceil(table["required_hours"] / table["team"].map(team_info["hours"]) - 1e-9)
    table["feasible"] = table["gap"] >= -1e-9
    table = table.sort_values(["start", "team"], kind="stable").reset_index(drop=True)
    short = table[~table["feasible"]].copy()
    short["message"] = [
        f"{r.period} team {r.team!r}: short by {-r.gap:.1f} hours ({r.utilisation:.0%} of {r.available_hours:.1f} "
        f"available; {int(r.people_needed)} people needed, {r.people:g} planned)"
        for r in short.itertuples()
    ]
    report = CapacityReport(table, short.reset_index(drop=True), basis)
    if not report.feasible:
        logger.warning("%s", report)
        if raise_if_infeasible:
            raise PlanInputError(str(report))
    return report
