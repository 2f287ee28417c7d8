"""Working backward: from a target of x contracts to the stage volumes, activities, timing, capacity and cost.

* :func:`backward` -> :class:`Plan` (``volumes``, ``activities``, ``schedule``, ``capacity``, ``cost``);
* :func:`required_entries` / :func:`win_probability`: the exact negative-binomial and beta-negative-binomial
  volume maths, vectorised;
* :func:`targets_from_revenue`: revenue targets to contracts through the deal-size distribution;
* :func:`optimise_mix` / :func:`mix_options`: the least-effort mix across processes and segments;
* :func:`compare_scenarios`: what-if plans side by side;
* :meth:`Plan.net_of` (net of the open pipeline), :meth:`Plan.reachability` (from the cut),
  :meth:`Plan.per_rep` with :func:`read_team` / :func:`team_from_data` (whole numbers per rep and week),
  :meth:`Plan.save` / :func:`load_plan` (the plan of record), :func:`headcount` (hires that make it fit).

Examples
--------
>>> from salesplan.plan import backward
>>> plan = backward(10, {"lead": 0.5, "offer": 0.4}, target_probability=0.5)
>>> plan.volumes["required_entries"].tolist()
[49, 24]
"""

from __future__ import annotations

from salesplan.plan.backward import Plan, backward
from salesplan.plan.capacity import CapacityReport, capacity_report
from salesplan.plan.headcount import Headcount, headcount
from salesplan.plan.mix import mix_options, optimise_mix
from salesplan.plan.record import load_plan
from salesplan.plan.reps import RepPlan
from salesplan.plan.revenue import contracts_for_revenue, targets_from_revenue
from salesplan.plan.scenarios import compare_scenarios
from salesplan.plan.team import read_team, rep_hours, team_from_data
from salesplan.plan.volumes import required_entries, win_probability

__all__ = [
    "backward",
    "Plan",
    "CapacityReport",
    "capacity_report",
    "required_entries",
    "win_probability",
    "targets_from_revenue",
    "contracts_for_revenue",
    "optimise_mix",
    "mix_options",
    "compare_scenarios",
    "load_plan",
    "RepPlan",
    "read_team",
    "team_from_data",
    "rep_hours",
    "headcount",
    "Headcount",
]
