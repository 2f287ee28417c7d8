"""Cost of a plan: activities times unit costs, and the cost per contract per process.

Unit costs come as ``{kind: cost per activity}`` or a table ``kind, cost`` (optional ``process``). Kinds without a
unit cost raise :class:`~salesplan.PlanInputError` rather than silently costing nothing.

Examples
--------
>>> acts = pd.DataFrame({"process": "p", "segment": "all", "period": "2025Q1", "kind": ["calls", "visits"],
...                      "expected": [100.0, 10.0], "required": [120.0, 12.0]})
>>> plan_cost(acts, {"calls": 20, "visits": 260}).round(1)[["kind", "expected_cost", "required_cost"]].to_dict("records")
[{'kind': 'calls', 'expected_cost': 2000.0, 'required_cost': 2400.0}, {'kind': 'visits', 'expected_cost': 2600.0, 'required_cost': 3120.0}]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import PlanInputError
from salesplan.schema import to_pandas

__all__ = ["unit_cost_table", "plan_cost"]


def unit_cost_table(unit_costs: Any) -> pd.DataFrame:
    """Unit costs as ``process, kind, cost`` (``process == "*"`` for every process)."""
    if isinstance(unit_costs, Mapping):
        frame = pd.DataFrame({"process": "*", "kind": list(unit_costs), "cost": list(unit_costs.values())})
    else:
        frame = to_pandas(unit_costs, "unit_costs")
        if not {"kind", "cost"} <= set(frame.columns):
            raise PlanInputError("unit_costs table needs the columns 'kind' and 'cost' (optional 'process')")
        if "process" not in frame.columns:
            frame["process"] = "*"
        frame = frame[["process", "kind", "cost"]].copy()
    given = frame["cost"].copy()  # the values as given, for the message
    frame["cost"] = pd.to_numeric(frame["cost"], errors="coerce").astype(float)
    bad = ~(frame["cost"] >= 0) | ~np.isfinite(frame["cost"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PlanInputError(f"unit_costs row {i} (kind={frame['kind'].iloc[i]!r}): cost must be a finite number "
                             f">= 0, got {given.iloc[i]!r}")
    return frame.reset_index(drop=True)


def plan_cost(activities: pd.DataFrame, unit_costs: Any) -> pd.DataFrame:
    """Cost per (process, segment, period, kind): ``expected_cost`` and ``required_cost`` (at the target probability)."""
    table = unit_cost_table(unit_costs)
    specific = table[table["process"] != "*"].set_index(["process", "kind"])["cost"]
    general = table[table["process"] == "*"].set_index("kind")["cost"]
    unit = np.asarray([specific.get((p, k), general.get(k, np.nan))
                       for p, k in zip(activities["process"], activities["kind"], strict=True)], dtype=float)
    if np.isnan(unit).any():
        kinds = sorted(set(activities["kind"][np.isnan(unit)]))
        raise PlanInputError(f"unit_costs: no cost given for activity kind(s) {kinds}")
    out = activities.copy()
    out["unit_cost"] = unit
    out["expected_cost"] = out["expected"] * unit
    out["required_cost"] = out["required"] * unit
    return out
