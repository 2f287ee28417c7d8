"""Plan against actual per process, period and stage: entries, conversions, contracts, revenue, activities.

The plan side comes from :class:`salesplan.plan.Plan` (``volumes`` per stage, ``activities`` per kind, the targets'
``revenue``); the actual side from the stage events, opportunities and activities (see
:mod:`salesplan.control.actuals`). Plan segments are summed, because actuals are compared per process.

Examples
--------
>>> import pandas as pd
>>> from salesplan.datasets import load_example
>>> data = load_example()
>>> plan = pd.DataFrame({"process": "retention", "period": ["2025-Q1"], "stage": "review_scheduled",
...                      "contracts": 20.0, "expected_entries": 40.0, "rate": 0.9})
>>> pva = plan_vs_actual(plan, data)
>>> row = pva.query("measure == 'contracts'").iloc[0]
>>> status = data.opportunity_status()
>>> won_q1 = status.query("process == 'retention' and status == 'won'")["closed_at"].dt.to_period("Q")
>>> float(row["plan"]), bool(row["actual"] == (won_q1 == pd.Period("2025Q1", "Q")).sum())
(20.0, True)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from salesplan.control.actuals import actual_activities, actual_volumes, flows, period_freq, period_labels
from salesplan.control.variance import _select_periods, plan_volumes_frame
from salesplan.errors import PlanInputError, SalesplanError, SchemaError
from salesplan.parse import to_naive_utc
from salesplan.reduce.states import StageFlows

__all__ = ["plan_vs_actual", "plan_actual_summary", "MEASURES"]

logger = logging.getLogger(__name__)

MEASURES = ("entries", "conversion", "contracts", "revenue", "activities")


def plan_vs_actual(plan: Any, data: Any, *, periods: Any = None, basis: str = "expected",
                   as_of: Any = None, stage_flows: StageFlows | None = None) -> pd.DataFrame:
    """Compare a plan with the actuals, one row per (process, period, stage or kind, measure).

    Parameters
    ----------
    plan : Plan or DataFrame
        A :class:`salesplan.plan.Plan` or its ``volumes`` table.
    data : SalesData
        Actuals (opportunities, stage_events; activities for the activity rows).
    periods : list, optional
        Periods to compare (default: the plan periods started by the data cut).
    basis : {"expected", "required"}
        Plan entries and activities to compare: the mean plan (``expected_entries``) or the plan at its
        confidence (``required_entries``).
    as_of : date-like, optional
        Data cut (default ``data.as_of``).
    stage_flows : StageFlows, optional
        The stage flows of ``data`` at the plan's period length and this cut when already reduced
        (:func:`salesplan.control.actuals.flows`); reduced here otherwise.

    Returns
    -------
    DataFrame
        ``process, period, stage, measure, plan, actual, difference (actual - plan), attainment (actual / plan)``;
        ``stage`` holds the activity kind on ``activities`` rows and ``"(process)"`` on contracts and revenue.
        Conversion rows compare the plan stage rate with the cohort rate (entries of the period that advanced
        by the data cut), so recent periods look low until their opportunities close.

    Raises
    ------
    PlanInputError
        Processes of the plan missing in the actuals, periods not in the plan or not yet started, bad ``basis``.
    SchemaError
        An empty period (no stage events at all).
    """
    if basis not in ("expected", "required"):
        raise PlanInputError(f"basis must be 'expected' or 'required', got {basis!r}")
    cut = to_naive_utc(as_of) if as_of is not None else pd.Timestamp(data.as_of)
    vol = getattr(plan, "volumes", plan)
    pv = plan_volumes_frame(plan)
    if basis == "required":
        if "required_entries" not in vol.columns:
            raise PlanInputError("basis='required' needs plan volumes with 'required_entries'")
        req = vol.assign(period=period_labels(vol["period"])).groupby(["process", "period", "stage"])[
            "required_entries"].sum()
        pv["entries_plan"] = pv.set_index(["process", "period", "stage"]).index.map(req).to_numpy(dtype=float)
    else:
        pv["entries_plan"] = pv["expected_entries"]
    freq = period_freq(pv["period"].unique())
    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("opportunities: plan against actual needs the opportunities and stage_events tables")
    fl = flows(data, freq, cut, given=stage_flows)
    chosen = _select_periods(pv, data, periods, cut, freq, fl)
    pv = pv[pv["period"].isin(chosen)]
    act = actual_volumes(data, freq=freq, as_of=cut, stage_flows=fl)
    act = act[act["period"].isin(chosen)]
    rows: list[pd.DataFrame] = []
    key = ["process", "period", "stage"]
    work = act[act["stage_index"] < act["process"].map({n: len(p.stages) for n, p in data.processes.items()})]
    merged = pv.merge(work[[*key, "entries", "advanced"]], on=key, how="left").fillna(
        {"entries": 0, "advanced": 0})
    rows.append(pd.DataFrame({"process": merged["process"], "period": merged["period"], "stage": merged["stage"],
                              "measure": "entries", "plan": merged["entries_plan"],
                              "actual": merged["entries"].astype(float)}))
    if "rate" in merged.columns:
        with np.errstate(invalid="ignore", divide="ignore"):
            conv = np.where(merged["entries"] > 0, merged["advanced"] / merged["entries"].where(
                merged["entries"] > 0), np.nan)
        rows.append(pd.DataFrame({"process": merged["process"], "period": merged["period"],
                                  "stage": merged["stage"], "measure": "conversion", "plan": merged["rate"],
                                  "actual": conv}))
    won = act[act["contracts"] > 0].groupby(["process", "period"]).agg(contracts_actual=("contracts", "sum"),
                                                                        revenue_actual=("revenue", "sum"))
    tgt = pv.groupby(["process", "period"]).agg(contracts=("contracts", "max"))
    targets = getattr(plan, "targets", None)
    if isinstance(targets, pd.DataFrame) and "revenue" in targets.columns:
        t = targets.assign(period=period_labels(targets["period"]))
        tgt["revenue"] = t.groupby(["process", "period"])["revenue"].sum()
    tgt = tgt.join(won).reset_index()
    rows.append(pd.DataFrame({"process": tgt["process"], "period": tgt["period"], "stage": "(process)",
                              "measure": "contracts", "plan": tgt["contracts"].astype(float),
                              "actual": tgt["contracts_actual"].fillna(0).astype(float)}))
    rows.append(pd.DataFrame({"process": tgt["process"], "period": tgt["period"], "stage": "(process)",
                              "measure": "revenue",
                              "plan": tgt["revenue"].astype(float) if "revenue" in tgt else np.nan,
                              "actual": tgt["revenue_actual"].fillna(0).astype(float)}))
    plan_acts = _plan_activities(plan, basis)
    if plan_acts is not None and data.activities is not None and len(data.activities):
        pa = plan_acts[plan_acts["period"].isin(chosen)]
        aa = actual_activities(data, freq=freq, as_of=cut)
        m = pa.merge(aa, on=["process", "period", "kind"], how="left").fillna({"count": 0})
        rows.append(pd.DataFrame({"process": m["process"], "period": m["period"], "stage": m["kind"],
                                  "measure": "activities", "plan": m["plan"].astype(float),
                                  "actual": m["count"].astype(float)}))
    out = pd.concat(rows, ignore_index=True)
    out["difference"] = out["actual"] - out["plan"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["attainment"] = out["actual"] / out["plan"].where(out["plan"] > 0)
    order = {m: i for i, m in enumerate(MEASURES)}
    out["_o"] = out["measure"].map(order)
    out = out.sort_values(["process", "period", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return out


def _plan_activities(plan: Any, basis: str) -> pd.DataFrame | None:
    try:
        acts = plan.activities
    except AttributeError:
        return None
    except SalesplanError as exc:  # a plan without activity ratios cannot plan activities
        logger.info("plan has no activities to compare (%s)", exc)
        return None
    if not isinstance(acts, pd.DataFrame) or acts.empty or basis not in acts.columns:
        return None
    a = acts.assign(period=period_labels(acts["period"]))
    return a.groupby(["process", "period", "kind"])[basis].sum().rename("plan").reset_index()


def plan_actual_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Plan against actual of one process: the latest period and the year to date, per item.

    ``rows`` are :func:`salesplan.control.plan_vs_actual` rows of one process. Items are contracts, revenue and
    each activity kind; entries and conversion rows are left to the full table.

    Examples
    --------
    >>> rows = pd.DataFrame({"period": ["2025-Q1", "2025-Q2"], "stage": "(process)", "measure": "contracts",
    ...                      "plan": [8.0, 8.0], "actual": [11.0, 6.0]})
    >>> plan_actual_summary(rows)[["item", "plan_latest", "actual_latest", "attainment_year"]].to_dict("records")
    [{'item': 'contracts', 'plan_latest': 8.0, 'actual_latest': 6.0, 'attainment_year': 1.0625}]
    """
    sel = rows[rows["measure"].isin(["contracts", "revenue", "activities"])].copy()
    sel["item"] = np.where(sel["measure"] == "activities", sel["stage"], sel["measure"])
    periods = sorted(sel["period"].astype(str).unique())
    if not periods:
        return pd.DataFrame(columns=["item", "period", "plan_latest", "actual_latest", "attainment_latest",
                                     "plan_year", "actual_year", "attainment_year"])
    latest = periods[-1]
    year = sel[sel["period"].astype(str).str[:4] == latest[:4]]
    last = sel[sel["period"].astype(str) == latest].set_index("item")[["plan", "actual"]]
    ytd = year.groupby("item", sort=False)[["plan", "actual"]].sum()
    out = pd.DataFrame({"item": list(dict.fromkeys(sel["item"]))})
    out["period"] = latest
    out["plan_latest"] = out["item"].map(last["plan"])
    out["actual_latest"] = out["item"].map(last["actual"])
    out["attainment_latest"] = out["actual_latest"] / out["plan_latest"]
    out["plan_year"] = out["item"].map(ytd["plan"])
    out["actual_year"] = out["item"].map(ytd["actual"])
    out["attainment_year"] = out["actual_year"] / out["plan_year"]
    return out
