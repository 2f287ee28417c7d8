"""Planning charts: reverse funnel, activity plan over time, capacity against hours needed, targets per rep.

Every function takes ``ax=None`` (a new Figure without pyplot state is made when missing) and returns the Axes.

Examples
--------
>>> from salesplan.plan import backward
>>> plan = backward(10, {"lead": 0.5, "offer": 0.4})
>>> ax = reverse_funnel(plan)
>>> ax.get_xlabel()
'entries needed'
>>> [float(b.get_width()) for b in ax.patches]  # expected entries: 10 / (0.5 * 0.4) leads, 10 / 0.4 offers
[50.0, 25.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.plot._base import compact_numbers, get_ax, legend_outside, readable

__all__ = ["reverse_funnel", "activity_plan", "capacity_chart", "rep_targets"]


def reverse_funnel(plan: Any, process: str | None = None, *, period: str | None = None, ax: Any = None) -> Any:
    """Entries needed per stage of one process: expected (bar) and at the plan's target probability (marker).

    Sums over the target periods (and segments) unless ``period`` picks one.
    """
    ax = get_ax(ax)
    vol = plan.volumes
    process = process or str(vol["process"].iloc[0])
    sel = vol[vol["process"] == process]
    if period is not None:
        sel = sel[sel["period"] == period]
    stages = list(dict.fromkeys(sel["stage"]))
    agg = sel.groupby("stage")[["expected_entries", "required_entries", "contracts"]].sum().reindex(stages)
    contracts = int(sel.groupby(["segment", "period"])["contracts"].first().sum())
    y = np.arange(len(stages))[::-1]
    ax.barh(y, agg["expected_entries"], color="#8fb3d9", label="expected entries")
    ax.scatter(agg["required_entries"], y, color="#c0392b", marker="|", s=300, linewidths=2.5, zorder=3,
               label=f"needed at {plan.target_probability:.0%} target probability")
    for yi, req in zip(y, agg["required_entries"], strict=True):
        ax.annotate(f"{req:,.0f}", (req, yi), xytext=(6, -3), textcoords="offset points", fontsize=8)
    ax.set_yticks(y, stages)
    ax.set_xlabel("entries needed")
    ax.set_ylabel("stage")
    ax.set_title(f"{readable(process)}: {contracts:,} contracts" + (f" in {period}" if period else ""))
    ax.set_xlim(0, max(float(agg["required_entries"].max()), float(agg["expected_entries"].max())) * 1.15 + 1)
    compact_numbers(ax.xaxis)
    legend_outside(ax)
    return ax


def activity_plan(plan: Any, freq: str = "W", *, process: str | None = None, basis: str = "required",
                  schedule: pd.DataFrame | None = None, ax: Any = None) -> Any:
    """Stacked bars of the activities per calendar bucket (weeks by default), one colour per activity kind."""
    ax = get_ax(ax, figsize=(9.0, 4.0))
    sched = plan.schedule(freq) if schedule is None else schedule
    acts = sched[sched["item"] != "entries"]
    if process is not None:
        acts = acts[acts["process"] == process]
    wide = acts.pivot_table(index="start", columns="item", values=basis, aggfunc="sum").fillna(0.0).sort_index()
    bottom = np.zeros(len(wide))
    width = {"W": 6, "M": 25, "Q": 80, "D": 0.9}.get(freq, 6)
    for kind in wide.columns:
        ax.bar(wide.index, wide[kind], bottom=bottom, width=width, align="edge", label=readable(kind))
        bottom += wide[kind].to_numpy()
    unit = {"W": "week", "M": "month", "Q": "quarter", "D": "day"}.get(freq, freq)
    ax.set_ylabel(f"activities per {unit} ({basis})")
    ax.set_xlabel("date")
    ax.set_title("Activity plan" + (f": {readable(process)}" if process else ""))
    ax.tick_params(axis="x", labelrotation=30)
    compact_numbers(ax.yaxis)
    legend_outside(ax)
    return ax


def capacity_chart(report: Any, team: str | None = None, *, start: Any = None, end: Any = None,
                   ax: Any = None) -> Any:
    """Required hours per period (bars, red where short) against available hours (line) for one team or all.

    ``start`` and ``end`` (dates, optional) keep the periods starting in ``[start, end)``: a plan over several
    years is easier to read a year at a time.
    """
    ax = get_ax(ax, figsize=(9.0, 4.0))
    tab = report.table if team is None else report.table[report.table["team"] == team]
    if start is not None:
        tab = tab[pd.to_datetime(tab["start"]) >= pd.Timestamp(start)]
    if end is not None:
        tab = tab[pd.to_datetime(tab["start"]) < pd.Timestamp(end)]
    if tab.empty:
        raise ValueError("capacity_chart: no periods for this team" + (f" {team!r}" if team else "")
                         + " between start and end")
    agg = tab.groupby("start")[["required_hours", "available_hours"]].sum().sort_index()
    short = agg["required_hours"] > agg["available_hours"] + 1e-9
    x = np.arange(len(agg))
    ax.bar(x, agg["required_hours"], color=np.where(short, "#c0392b", "#5d8aa8"))
    ax.step(np.r_[x - 0.5, x[-1] + 0.5] if len(x) else x,
            np.r_[agg["available_hours"].to_numpy(), agg["available_hours"].to_numpy()[-1:]] if len(x) else x,
            where="post", color="black", label="available hours")
    labels = [pd.Timestamp(t).strftime("%Y-%m-%d") for t in agg.index]
    step = max(1, len(labels) // 12)
    ax.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"hours ({report.basis})")
    ax.set_xlabel("period start")
    compact_numbers(ax.yaxis)
    ax.set_title("Capacity: " + (readable(team) if team else "all teams"))
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles = [Patch(color="#5d8aa8", label="required hours"), Patch(color="#c0392b", label="required, short"),
               *[h for h in handles if not isinstance(h, Patch) and h.get_label() == "available hours"]]
    legend_outside(ax, handles=handles)
    return ax


def rep_targets(rep_plan: Any, item: str = "calls", *, process: str | None = None, ax: Any = None) -> Any:
    """Weekly (or monthly) whole-number targets of one item per rep, stacked, with each bucket's total on top.

    ``rep_plan`` is a :class:`salesplan.plan.RepPlan` (:meth:`Plan.per_rep`); ``item`` an activity kind or
    ``"new entries"`` (entries into each process's first stage); ``process`` keeps one process.

    Examples
    --------
    >>> from salesplan.plan import backward
    >>> plan = backward(pd.DataFrame({"process": ["p"], "period": ["2026-02"], "contracts": [4]}),
    ...                 {"p": {"lead": 0.5}}, durations={"p": {"lead": 7}},
    ...                 activity_ratios={"p": {"lead": {"calls": 3}}})
    >>> reps = plan.per_rep([{"owner": "ann", "processes": ["p"], "hours_per_week": 30}], as_of="2026-01-15")
    >>> rep_targets(reps, "calls").get_ylabel()
    'calls per rep'
    """
    ax = get_ax(ax, figsize=(8.0, 4.0))
    tab = rep_plan.table
    if process is not None:
        tab = tab[tab["process"] == process]
    if item == "new entries":
        tab = tab[tab["item"].isin(rep_plan.first_items)]
    else:
        tab = tab[tab["item"] == item]
    if tab.empty:
        raise ValueError(f"the rep plan has no {item!r}" + (f" for {process!r}" if process else ""))
    wide = tab.pivot_table(index=["start", "period"], columns="owner", values="count", aggfunc="sum",
                           fill_value=0).sort_index()
    x = np.arange(len(wide))
    bottom = np.zeros(len(wide))
    for owner in wide.columns:
        values = wide[owner].to_numpy(float)
        ax.bar(x, values, bottom=bottom, label=str(owner), width=0.8)
        bottom += values
    for xi, total in zip(x, bottom, strict=True):
        ax.text(xi, total, f"{int(total)}", ha="center", va="bottom", fontsize=7)
    labels = [p for _, p in wide.index]
    step = max(1, len(labels) // 12)
    ax.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    unit = "week" if rep_plan.freq == "W" else "month"
    ax.set_ylabel(f"{item} per rep")
    ax.set_xlabel(unit)
    top = float(bottom.max()) if len(bottom) else 1.0
    ax.set_ylim(0, max(top, 1.0) * 1.12)  # room for the totals
    ax.set_title(f"{item}: whole-number targets per rep and {unit} ({rep_plan.basis})")
    legend_outside(ax)
    return ax
