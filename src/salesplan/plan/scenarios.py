"""What-if scenarios compared side by side: changed conversion, more people, another target probability, other targets.

A scenario is a mapping with any of

``rates``
    ``{(process, stage): delta}`` or ``{stage: delta}``: add ``delta`` to a stage rate (0.05 = five points).
    An uncertain rate keeps its evidence (``alpha + beta``) around the new mean.
``target_probability``
    Another target probability.
``people``
    ``{team: delta}``: more (or fewer) people in a team.
``contracts``
    A factor on every target (1.1 = ten percent more contracts).

Examples
--------
>>> import pandas as pd
>>> targets = pd.DataFrame({"process": ["p"], "period": ["2025-03"], "contracts": [10]})
>>> table = compare_scenarios(targets, {"p": {"lead": 0.5, "offer": 0.4}},
...                           {"better offers": {"rates": {"offer": 0.1}}, "70%": {"target_probability": 0.7}})
>>> table[["scenario", "target_probability", "required_entries"]].to_dict("records")
[{'scenario': 'baseline', 'target_probability': 0.8, 'required_entries': 61},
 {'scenario': 'better offers', 'target_probability': 0.8, 'required_entries': 49},
 {'scenario': '70%', 'target_probability': 0.7, 'required_entries': 56}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from salesplan.errors import PlanInputError
from salesplan.plan._inputs import funnel_view
from salesplan.plan.backward import backward
from salesplan.plan.capacity import normalise_teams
from salesplan.schema import to_pandas

__all__ = ["compare_scenarios"]

logger = logging.getLogger(__name__)

KEYS = {"rates", "target_probability", "people", "contracts"}


def compare_scenarios(targets: Any, funnel: Any, scenarios: Mapping[str, Mapping[str, Any]], *,
                      target_probability: float = 0.8, teams: Any = None, hours: Any = None, unit_costs: Any = None,
                      freq: str = "M", **kwargs: Any) -> pd.DataFrame:
    """Plan the baseline and every scenario; one row per (scenario, process).

    Parameters
    ----------
    targets, funnel, target_probability
        As for :func:`~salesplan.plan.backward` (``kwargs`` are passed on to it).
    scenarios : mapping
        ``{name: {"rates": ..., "target_probability": ..., "people": ..., "contracts": ...}}``.
    teams, hours : DataFrame / mapping, optional
        With both, capacity columns are added (``hours``, ``peak_utilisation``, ``periods_short``,
        ``largest_shortfall`` for the team serving the process).
    unit_costs : mapping or DataFrame, optional
        With it, ``cost`` and ``cost_per_contract`` (at the target probability) are added.

    Returns
    -------
    DataFrame
        ``scenario, process, contracts, target_probability, first_stage, expected_entries, required_entries``, required
        activities per kind (``required_<kind>``), and the capacity and cost columns when asked for.
    """
    base_view = funnel_view(funnel, process=kwargs.get("process"), processes=kwargs.get("processes"))
    rows = []
    for name, spec in {"baseline": {}, **dict(scenarios)}.items():
        unknown = set(spec) - KEYS
        if unknown:
            raise PlanInputError(f"scenario {name!r}: unknown key(s) {sorted(unknown)}; use {sorted(KEYS)}")
        view = base_view.with_rate_change(spec["rates"]) if spec.get("rates") else base_view
        tgt = targets
        if "contracts" in spec:
            if isinstance(targets, int | float):
                tgt = int(round(targets * float(spec["contracts"])))
            else:
                tgt = to_pandas(targets, "targets")
                tgt["contracts"] = (tgt["contracts"] * float(spec["contracts"])).round().astype("int64")
        conf = float(spec.get("target_probability", target_probability))
        plan = backward(tgt, view, conf, **kwargs)
        table = plan.summary().groupby("process", sort=False).agg(
            contracts=("contracts", "sum"), first_stage=("first_stage", "first"),
            expected_entries=("expected_entries", "sum"), required_entries=("required_entries", "sum"),
            **{c: (c, "sum") for c in plan.summary().columns if c.startswith("required_") and
               c != "required_entries"})
        table.insert(0, "scenario", name)
        table.insert(2, "target_probability", conf)
        if teams is not None and hours is not None:
            team_tab = to_pandas(teams, "teams")
            for team, delta in dict(spec.get("people", {})).items():
                if team not in set(team_tab["team"]):
                    raise PlanInputError(f"scenario {name!r}: people change names unknown team {team!r}")
                team_tab.loc[team_tab["team"] == team, "people"] += float(delta)
            report = plan.capacity(team_tab, hours, freq=freq)
            serves = normalise_teams(team_tab, list(table.index)).attrs["serves"]
            summ = report.summary()
            need = report.table.groupby("team")["required_hours"].sum()
            table["team"] = [serves[p] for p in table.index]
            table["team_hours"] = table["team"].map(need)
            for col in ("peak_utilisation", "periods_short", "largest_shortfall"):
                table[col] = table["team"].map(summ[col])
        elif spec.get("people"):
            raise PlanInputError(f"scenario {name!r}: a people change needs teams= and hours=")
        if unit_costs is not None:
            cost = plan.cost(unit_costs, by="process").set_index("process")
            table["cost"] = cost["required_cost"]
            table["cost_per_contract"] = cost["required_cost_per_contract"]
        rows.append(table.reset_index())
    return pd.concat(rows, ignore_index=True)

