"""The mix across processes and segments that reaches a total target with the least effort or cost.

Method
    A mixed-integer linear programme (``scipy.optimize.milp``, HiGHS): choose whole contracts ``c_i`` per option
    (a process, optionally per segment) to minimise ``sum_i effort_i * c_i`` subject to

    * the total: ``sum_i c_i >= total`` (contracts) or ``sum_i deal_size_i * c_i >= total`` (revenue);
    * eligibility: ``c_i <= eligible_i * entries_per_customer * win_rate_i`` (each eligible customer can be
      worked ``entries_per_customer`` times; at most the expected wins of working them all), or a given
      ``max_contracts``;
    * potential: ``deal_size_i * c_i <= max_share * potential_i`` when both columns are present;
    * capacity: per team, ``sum_{i in team} hours_per_contract_i * c_i <= hours available``.

    Effort per contract is in expectation (activities per entry times expected entries per contract); plan the
    chosen mix with :func:`~salesplan.plan.backward` to add the target-probability margin.

Reference
    Huangfu, Q. & Hall, J. A. J. (2018). Parallelizing the dual revised simplex method. *Mathematical Programming
    Computation* 10, 119-142 (HiGHS, the solver behind ``scipy.optimize.milp``).

Examples
--------
>>> import pandas as pd
>>> options = pd.DataFrame({"process": ["acquisition", "cross_selling", "delivery_rate"],
...                         "hours_per_contract": [40.0, 12.0, 20.0], "max_contracts": [100, 15, 30]})
>>> mix = optimise_mix(50, options)
>>> mix[["process", "contracts", "hours"]].to_dict("records")
[{'process': 'acquisition', 'contracts': 5, 'hours': 200.0},
 {'process': 'cross_selling', 'contracts': 15, 'hours': 180.0},
 {'process': 'delivery_rate', 'contracts': 30, 'hours': 600.0}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from salesplan.errors import PlanInputError
from salesplan.plan._inputs import ALL, funnel_view
from salesplan.plan.activities import activity_ratio_table, match_ratios
from salesplan.plan.capacity import hours_table
from salesplan.plan.cost import unit_cost_table
from salesplan.plausibility import check_mix
from salesplan.schema import to_pandas

__all__ = ["optimise_mix", "mix_options"]

logger = logging.getLogger(__name__)

OBJECTIVES = {"hours": "hours_per_contract", "cost": "cost_per_contract"}


def _upper_bounds(opts: pd.DataFrame, entries_per_customer: float, max_share: float) -> np.ndarray:
    upper = np.full(len(opts), np.inf)
    if "max_contracts" in opts.columns:
        upper = np.minimum(upper, opts["max_contracts"].to_numpy(float))
    if "eligible" in opts.columns:
        if "win_rate" not in opts.columns:
            raise PlanInputError("mix options: 'eligible' needs a 'win_rate' column (wins per customer worked)")
        upper = np.minimum(upper, np.floor(opts["eligible"].to_numpy(float) * entries_per_customer
                                           * opts["win_rate"].to_numpy(float) + 1e-9))
    if "potential" in opts.columns and "deal_size" in opts.columns:
        upper = np.minimum(upper, np.floor(max_share * opts["potential"].to_numpy(float)
                                           / opts["deal_size"].to_numpy(float) + 1e-9))
    return upper


def optimise_mix(total: float, options: Any, *, objective: str = "hours", measure: str = "contracts",
                 capacity: Mapping[str, float] | float | None = None, entries_per_customer: float = 1.0,
                 max_share: float = 1.0, integer: bool = True) -> pd.DataFrame:
    """Cheapest mix of contracts across options reaching ``total``; see the module docstring.

    Parameters
    ----------
    total : float
        Contracts (``measure="contracts"``) or revenue (``measure="revenue"``, needs ``deal_size``).
    options : DataFrame
        One row per option: ``process`` (optional ``segment``, ``team``), the effort column
        ``hours_per_contract`` or ``cost_per_contract`` (or any column named by ``objective``), and bounds from
        ``max_contracts`` and/or ``eligible`` with ``win_rate`` and/or ``potential`` with ``deal_size``.
        :func:`mix_options` builds it from a funnel and the process assignment.
    objective : str
        ``"hours"``, ``"cost"`` or the name of a column to minimise per contract.
    capacity : float or mapping, optional
        Hours available in total, or per team (options then need ``team``).
    integer : bool
        Whole contracts (MILP) or a continuous relaxation (LP).

    Returns
    -------
    DataFrame
        The options with ``contracts``, ``upper_bound``, the effort total (``hours`` or ``cost``) and, with deal
        sizes, ``revenue``. ``attrs["objective"]`` holds the minimum; ``attrs["flags"]`` the
        :func:`salesplan.plausibility.check_mix` flags (all contracts in one process, with the reason; logged
        at WARNING).

    Raises
    ------
    PlanInputError
        Infeasible: the message says whether eligibility/potential or capacity stops the total.
    """
    opts = to_pandas(options, "mix options").reset_index(drop=True)
    col = OBJECTIVES.get(objective, objective)
    if col not in opts.columns:
        raise PlanInputError(f"mix options: no column {col!r} for objective {objective!r}")
    if "segment" not in opts.columns:
        opts["segment"] = ALL
    if not (isinstance(total, Real) and np.isfinite(total) and total >= 0):
        raise PlanInputError(f"mix total must be a finite number >= 0, got {total!r}")
    effort = opts[col].to_numpy(float)
    bad = ~(effort >= 0) | ~np.isfinite(effort)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PlanInputError(f"mix options row {i} (process={opts['process'].iloc[i]!r}): {col} must be >= 0")
    if measure == "contracts":
        contrib = np.ones(len(opts))
    elif measure == "revenue":
        if "deal_size" not in opts.columns:
            raise PlanInputError("a revenue mix needs a 'deal_size' column in the options")
        contrib = opts["deal_size"].to_numpy(float)
    else:
        raise PlanInputError(f"measure must be 'contracts' or 'revenue', got {measure!r}")
    upper = _upper_bounds(opts, entries_per_customer, max_share)
    reachable = float(np.sum(contrib * upper))
    if reachable < total:
        raise PlanInputError(
            f"mix infeasible: the options can reach at most {reachable:,.0f} {measure} (eligible customers, "
            f"potential, max_contracts) but the total is {total:,.0f}"
        )
    constraints = [LinearConstraint(contrib[None, :], lb=float(total), ub=np.inf)]
    if capacity is not None:
        if "hours_per_contract" not in opts.columns:
            raise PlanInputError("a capacity limit needs 'hours_per_contract' in the options")
        hpc = opts["hours_per_contract"].to_numpy(float)
        if isinstance(capacity, Mapping):
            if "team" not in opts.columns:
                raise PlanInputError("capacity per team needs a 'team' column in the options")
            for team, hours in capacity.items():
                if not float(hours) > 0:
                    raise PlanInputError(f"capacity of team {team!r} must be positive, got {hours!r}")
                mask = (opts["team"] == team).to_numpy()
                constraints.append(LinearConstraint((hpc * mask)[None, :], lb=0, ub=float(hours)))
        else:
            if not float(capacity) > 0:
                raise PlanInputError(f"capacity must be positive, got {capacity!r}")
            constraints.append(LinearConstraint(hpc[None, :], lb=0, ub=float(capacity)))
    res = milp(effort, constraints=constraints, bounds=Bounds(np.zeros(len(opts)), upper),
               integrality=np.ones(len(opts)) if integer else np.zeros(len(opts)))
    if res.status != 0 or res.x is None:
        raise PlanInputError(f"mix infeasible within the capacity given ({res.message}); the total of {total:,.0f} "
                             f"{measure} needs more hours than available, or lower the total")
    out = opts.copy()
    x = np.round(res.x).astype(np.int64) if integer else res.x
    out["contracts"] = x
    out["upper_bound"] = upper
    out[objective if objective in OBJECTIVES else "effort"] = x * effort
    if "deal_size" in out.columns:
        out["revenue"] = x * out["deal_size"]
    out.attrs["objective"] = float(res.fun)
    out.attrs["effort_column"] = col
    logger.info("mix: %s %s for minimum %s %.1f", total, measure, objective, res.fun)
    out.attrs["flags"] = check_mix(out)
    return out


def mix_options(funnel: Any, *, hours: Any = None, unit_costs: Any = None, eligible: Any = None,
                deal_sizes: Mapping[str, float] | None = None, activity_ratios: Any = None,
                teams: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Options for :func:`optimise_mix` from a funnel: per (process, segment) effort per contract and bounds.

    Activities per contract are ``sum over stages of per_entry(stage, kind) / win_rate(stage)``; hours and cost
    per contract multiply them by the hours and unit costs per kind.

    Parameters
    ----------
    funnel : Funnel, mapping or DataFrame
        As for :func:`~salesplan.plan.backward`.
    hours, unit_costs : mapping or DataFrame, optional
        Hours and cost per activity kind.
    eligible : DataFrame, optional
        Eligible customers per process (and segment): columns ``process``, optional ``segment``, ``eligible``
        (or ``customers``) and optional ``potential``; ``salesplan.segment.assignment_summary`` output is
        understood as is (its per-process ``"all"`` value class is used).
    deal_sizes : mapping, optional
        Mean deal size per process.
    teams : mapping, optional
        ``{process: team}`` for capacity per team.

    Examples
    --------
    >>> opts = mix_options({"p": {"lead": 0.5, "offer": 0.5}}, hours={"calls": 0.5},
    ...                    activity_ratios={"p": {"lead": {"calls": 2}, "offer": {"calls": 1}}})
    >>> opts[["process", "win_rate", "hours_per_contract"]].to_dict("records")
    [{'process': 'p', 'win_rate': 0.25, 'hours_per_contract': 5.0}]
    """
    view = funnel_view(funnel)
    ratios = activity_ratio_table(view, activity_ratios)
    win = view.win[["process", "segment", "stage", "win_rate"]]
    per = match_ratios(win, ratios)
    per["per_contract"] = per["per_entry"] / per["win_rate"]
    first = win.groupby(["process", "segment"], sort=False).head(1)
    out = first[["process", "segment", "win_rate"]].reset_index(drop=True)
    acts = per.groupby(["process", "segment", "kind"], as_index=False)["per_contract"].sum()
    for label, table, col in (("hours_per_contract", hours, "hours"), ("cost_per_contract", unit_costs, "cost")):
        if table is None:
            continue
        tab = hours_table(table) if col == "hours" else unit_cost_table(table)
        general = tab[tab["process"] == "*"].set_index("kind")[col]
        specific = tab[tab["process"] != "*"].set_index(["process", "kind"])[col]
        unit = np.asarray([specific.get((p, k), general.get(k, np.nan))
                           for p, k in zip(acts["process"], acts["kind"], strict=True)], dtype=float)
        if np.isnan(unit).any():
            raise PlanInputError(f"{col}: none given for activity kind(s) {sorted(set(acts['kind'][np.isnan(unit)]))}")
        sums = (acts.assign(v=acts["per_contract"] * unit).groupby(["process", "segment"])["v"].sum())
        out[label] = [float(sums.get((p, s), 0.0)) for p, s in zip(out["process"], out["segment"], strict=True)]
    if eligible is not None:
        el = to_pandas(eligible, "eligible")
        if "process" not in el.columns and "process" in (el.index.names or []):
            el = el.reset_index()
        if "value_class" in el.columns and (el["value_class"] == "all").any():
            # assignment_summary: per-process totals sit in the "all" class; the other rows would double count
            el = el[el["value_class"] == "all"]
        if "eligible" not in el.columns:
            for alt in ("customers", "n_customers", "n_eligible"):
                if alt in el.columns:
                    el = el.rename(columns={alt: "eligible"})
                    break
        if "eligible" not in el.columns or "process" not in el.columns:
            raise PlanInputError("eligible: needs the columns 'process' and 'eligible' (or 'customers')")
        keep = ["process", "eligible"] + (["potential"] if "potential" in el.columns else [])
        if "segment" in el.columns and view.segmented:
            el["segment"] = el["segment"].astype(str)
            out = out.merge(el[[*keep, "segment"]], on=["process", "segment"], how="left")
        else:
            agg = el.groupby("process", as_index=False)[keep[1:]].sum()
            out = out.merge(agg, on="process", how="left")
        missing = out["eligible"].isna()
        if missing.any():
            logger.warning("eligible: no eligible customers given for %s; treated as 0",
                           sorted(out.loc[missing, "process"]))
            out["eligible"] = out["eligible"].fillna(0.0)
    if deal_sizes is not None:
        out["deal_size"] = out["process"].map(dict(deal_sizes)).astype(float)
    if teams is not None:
        out["team"] = out["process"].map(dict(teams))
    return out
