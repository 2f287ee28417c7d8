"""The sections of the control report: each is a function ``(ReportContext) -> Section | list[Section]``.

A section gathers its key figures, charts and tables from the data and the models. Each part of a section runs
inside :func:`piece`, so a missing or failing capability becomes a warning in that section (and a row of the
data-quality table) while the rest of the section and the report carry on.

Examples
--------
>>> from salesplan.report.sections import SECTION_KEYS
>>> SECTION_KEYS[0], SECTION_KEYS[-1]
('overview', 'data_quality')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import SalesplanError
from salesplan.report import charts
from salesplan.report.context import CapabilityMissing, ReportContext, render, require
from salesplan.report.model import KeyFigure, Section, Table

__all__ = ["SECTIONS", "SECTION_KEYS", "piece"]

logger = logging.getLogger(__name__)


@contextmanager
def piece(section: Section, label: str) -> Iterator[None]:
    """Run one part of a section; turn any failure into a warning of the section."""
    try:
        yield
    except CapabilityMissing as exc:
        section.warn(f"{label}: not available — {exc}")
    except SalesplanError as exc:
        section.warn(f"{label}: {exc}")
    except Exception as exc:  # noqa: BLE001 - the report must not stop; the traceback goes to the log
        logger.debug("%s failed", label, exc_info=True)
        section.warn(f"{label} failed: {type(exc).__name__}: {exc}")


def _attain_status(ratio: float) -> str:
    if not np.isfinite(ratio):
        return ""
    return "good" if ratio >= 0.95 else ("warn" if ratio >= 0.8 else "bad")


# ---------------------------------------------------------------------------------------------- overview
def section_overview(ctx: ReportContext) -> Section:
    """Key figures of the period: contracts against target per process, quarter and year to date, trend."""
    sec = Section("overview", f"Overview — {ctx.period_label()}",
                  intro=f"Data cut {ctx.as_of:%Y-%m-%d %H:%M}"
                        f"{'' if ctx.period_complete else ' (the period is not complete yet: figures are to date)'}. "
                        f"Contracts won in {ctx.period_label()} against the target "
                        f"(targets pro-rated by days where they are set per quarter or year).")
    procs = ctx.processes()
    with piece(sec, "contracts against target"):
        period = ctx.period
        quarter = pd.Period(ctx.last_instant, "Q")
        year = pd.Period(ctx.last_instant, "Y")
        table = pd.DataFrame({
            "process": procs,
            "won_period": ctx.won_in(period).to_numpy(),
            "target_period": ctx.target_for(period).to_numpy(),
            "won_quarter": ctx.won_in(quarter).to_numpy(),
            "target_quarter": ctx.target_for(quarter).to_numpy(),
            "won_year": ctx.won_in(year).to_numpy(),
            "target_year": ctx.target_for(year).to_numpy(),
        })
        table["attainment_period"] = table["won_period"] / table["target_period"]
        table["attainment_quarter"] = table["won_quarter"] / table["target_quarter"]
        table["attainment_year"] = table["won_year"] / table["target_year"]
        ctx.cache["attainment"] = table
        for row in table.itertuples(index=False):
            ratio = row.won_quarter / row.target_quarter if row.target_quarter else float("nan")
            ctx.headline(KeyFigure(f"{row.process}: won {ctx.period_label(quarter)}", int(row.won_quarter),
                                     note=f"target {row.target_quarter:.0f}" if np.isfinite(row.target_quarter)
                                     else "no target", status=_attain_status(ratio),
                                     key=f"won_quarter_{row.process}"))
        sec.add_table(Table("attainment", "Contracts won against target", table,
                            note=f"period = {ctx.period_label()}, quarter = {ctx.period_label(quarter)}, "
                                 f"year = {year}; attainment = won / target."))
        plot_table = table.rename(columns={"won_quarter": "actual", "target_quarter": "target"})
        sec.add_chart(render(charts.plot_actual_vs_target, f"Contracts won against target, "
                             f"{ctx.period_label(quarter)}", "Won to date against the full quarter target.",
                             table=plot_table))
    with piece(sec, "contracts won per month"):
        monthly = ctx.monthly_won(24)
        sec.add_chart(render(charts.plot_monthly, "Contracts won per month", "Last 24 months, by process.",
                             frame=monthly, ylabel="contracts won", title="Contracts won per month"))
    with piece(sec, "pipeline status"):
        counts = ctx.scoped.status_counts().reindex(procs, fill_value=0)
        sec.add_chart(render(charts.plot_status, "Opportunities by status",
                             "All opportunities in the data, by current status.", counts=counts))
        open_now = int(counts["open"].sum())
        ctx.headline(KeyFigure("Open opportunities", open_now, note="all processes", key="open_opportunities"))
    return sec


# ---------------------------------------------------------------------------------------------- activity
def section_activity(ctx: ReportContext) -> Section:
    """Volumes behind the results: opportunities created, activities by kind and order revenue per month."""
    sec = Section("activity", "Sales activity and revenue",
                  intro="Inputs of the sales processes (new opportunities, calls, visits, offers) and the order "
                        "revenue they lead to, per month.")
    end = pd.Period(ctx.last_instant, "M")
    months = pd.period_range(end - 23, end, freq="M")
    with piece(sec, "opportunities created"):
        opps = ctx.scoped.opportunities
        created = (opps.assign(month=opps["created_at"].dt.to_period("M")).groupby(["month", "process"]).size()
                   .unstack(fill_value=0).reindex(index=months, columns=ctx.processes(), fill_value=0))
        sec.add_chart(render(charts.plot_monthly, "Opportunities created per month",
                             "New opportunities entering each process.", frame=created,
                             ylabel="opportunities", title="Opportunities created per month"))
    with piece(sec, "activities"):
        acts = ctx.scoped.activities
        if acts is None or acts.empty:
            sec.warn("activities: no activities table; activity volumes and ratios are not measured")
        else:
            by_kind = (acts.assign(month=acts["date"].dt.to_period("M")).groupby(["month", "kind"]).size()
                       .unstack(fill_value=0).reindex(index=months, fill_value=0))
            sec.add_chart(render(charts.plot_stacked_monthly, "Activities per month",
                                 "Logged activities by kind.", frame=by_kind, ylabel="activities",
                                 title="Activities per month by kind"))
            in_period = acts[(acts["date"] >= ctx.period.start_time) & (acts["date"] <= ctx.period.end_time)]
            if "process" in in_period.columns:
                table = in_period.groupby(["process", "kind"]).size().unstack(fill_value=0).reset_index()
                sec.add_table(Table("activities_period", f"Activities in {ctx.period_label()}", table))
            sec.add_figure(KeyFigure(f"Activities in {ctx.period_label()}", len(in_period), key="activities_period"))
    with piece(sec, "plan cost"):
        unit_costs = dict(ctx.config.option("costs", "per_activity"))
        plan = ctx.plan()
        cost = plan.cost(unit_costs, level="process")
        periods = sorted(str(p) for p in plan.volumes["period"].unique())
        sec.add_table(Table("plan_cost", "Activity cost of the plan per process", cost,
                            note=f"All target periods {periods[0]} to {periods[-1]}; unit costs from [costs] "
                                 f"per_activity ({', '.join(f'{k} {v:g}' for k, v in unit_costs.items())} "
                                 f"{ctx.currency}); required = at the plan's confidence."))
    with piece(sec, "order revenue"):
        orders = ctx.data.orders
        if orders is None or orders.empty:
            sec.warn("order revenue: no orders table")
        else:
            revenue = (orders.assign(month=orders["order_date"].dt.to_period("M")).groupby("month")["amount"]
                       .sum().reindex(months, fill_value=0.0).to_frame(f"revenue ({ctx.currency})"))
            sec.add_chart(render(charts.plot_monthly, "Order revenue per month",
                                 "Net of returns (negative order lines).", frame=revenue,
                                 ylabel=ctx.currency, title="Order revenue per month"))
            in_period = orders[(orders["order_date"] >= ctx.period.start_time)
                               & (orders["order_date"] <= ctx.period.end_time)]
            sec.add_figure(KeyFigure(f"Order revenue {ctx.period_label()}", float(in_period["amount"].sum()),
                                     unit=ctx.currency, key="revenue_period"))
    return sec


# --------------------------------------------------------------------------------------------- processes
def section_process(ctx: ReportContext, process: str) -> Section:
    """One process: conversion with intervals, plan against actual, variance, activities needed, capacity."""
    proc = ctx.data.processes[process]
    sec = Section(f"process_{process}", f"Process: {process}",
                  intro=(proc.description + " " if proc.description else "")
                  + f"Stages: {' → '.join(proc.stages)} → {proc.won}.")
    with piece(sec, "status"):
        counts = ctx.scoped.status_counts()
        row = counts.loc[process] if process in counts.index else pd.Series({"open": 0, "won": 0, "lost": 0})
        target = float(ctx.target_for(ctx.period)[process])
        won = int(ctx.won_in(ctx.period)[process])
        sec.add_figure(KeyFigure(f"Won in {ctx.period_label()}", won, note=_target_note(target),
                                 status=_attain_status(won / target if target else float("nan")),
                                 key=f"won_period_{process}"))
        sec.add_figure(KeyFigure("Open opportunities", int(row["open"]), key=f"open_{process}"))
    with piece(sec, "conversion"):
        _process_funnel(ctx, sec, process)
    with piece(sec, "forecast"):
        fc = ctx.forecast()
        window = fc.summary()
        row = window[(window["component"] == "total") & (window["process"] == process)
                     & (window["period"] == "(window)")].iloc[0]
        target = float(ctx.target_for_window()[process])
        sec.add_figure(KeyFigure(f"Forecast {ctx.window_label()}", float(row["contracts"]),
                                 low=float(row["contracts_low"]), high=float(row["contracts_high"]),
                                 note=f"{_target_note(target)}; {ctx.confidence:.0%} interval",
                                 status=_forecast_status(row, target), key=f"forecast_{process}"))
    with piece(sec, "coverage"):
        k = ctx.kpis()
        last = k[(k["process"] == process) & (k["period"] == str(ctx.period))]
        if len(last):
            r = last.iloc[0]
            ok = bool(r["coverage"] >= r["required_coverage"]) if np.isfinite(r["required_coverage"]) else True
            sec.add_figure(KeyFigure("Pipeline coverage", float(r["coverage"]),
                                     note=f"needed {r['required_coverage']:.1f}x at measured conversion",
                                     status="good" if ok else "bad", key=f"coverage_{process}"))
    with piece(sec, "plan against actual"):
        pva = ctx.plan_vs_actual()
        mine = pva[pva["process"] == process]
        plot_control = require("salesplan.plot.control")
        sec.add_chart(render(plot_control.plan_actual_bars, f"{process}: contracts planned and won",
                             "Plan = the target; bars per target period, attainment above the actual.",
                             table=pva, measure="contracts", process=process))
        sec.add_table(Table(f"plan_actual_{process}", f"{process}: plan against actual",
                            plan_actual_summary(mine),
                            note="Plan = target contracts and revenue, and the activities the backward plan "
                                 "expects; latest = the last target period started by the cut, year = the "
                                 "periods of its year so far."))
        sec.add_table(Table(f"pva_{process}", f"{process}: plan against actual, every row", mine.reset_index(drop=True),
                            show_rows=0))
    with piece(sec, "variance"):
        var = ctx.variance()
        table = var.table[var.table["process"] == process]
        last_period = str(table["period"].iloc[-1])
        plot_control = require("salesplan.plot.control")
        sec.add_chart(render(plot_control.variance_waterfall, f"{process}: why contracts differ from plan, "
                             f"{last_period}", "Planned → actual contracts through the volume, conversion and "
                             "timing effects (they add up exactly).", table=var, process=process, period=last_period))
        cols = ["period", "planned_contracts", "actual_contracts", "gap", "volume_effect", "conversion_effect",
                "timing_effect", "planned_entries", "actual_entries"]
        sec.add_table(Table(f"variance_{process}", f"{process}: contract gap by cause",
                            table[[c for c in cols if c in table.columns]].reset_index(drop=True)))
    with piece(sec, "activities needed"):
        _activities_needed(ctx, sec, process)
    with piece(sec, "capacity"):
        cap = ctx.capacity()
        team = f"{process} team"
        table = cap.table[cap.table["team"] == team]
        if table.empty:
            sec.warn(f"capacity: no team serves {process} (set [capacity] reps)")
        else:
            plot_plan = require("salesplan.plot.plan")
            sec.add_chart(render(plot_plan.capacity_chart, f"{process}: hours needed against hours available",
                                 "Hours the plan needs per month (red where short) and the team's hours.",
                                 report=cap, team=team))
            nxt = table[table["period"] == str(ctx.next_period_month)]
            if len(nxt):
                r = nxt.iloc[0]
                sec.add_figure(KeyFigure(f"Capacity use {ctx.period_label(ctx.next_period_month)}",
                                         float(r["utilisation"]), unit="%",
                                         note=f"{r['required_hours']:.0f} of {r['available_hours']:.0f} h",
                                         status="good" if r["feasible"] else "bad", key=f"utilisation_{process}"))
    with piece(sec, "largest open opportunities"):
        sec.add_table(Table(f"open_{process}", f"{process}: largest open opportunities", open_deals(ctx, process),
                            note="Open at the data cut, by amount; age = days since creation.", show_rows=10))
    return sec


def _process_funnel(ctx: ReportContext, sec: Section, process: str) -> None:
    proc = ctx.data.processes[process]
    funnel = ctx.funnel()
    rates = funnel.rates[funnel.rates["process"] == process]
    win = funnel.win_rate[funnel.win_rate["process"] == process]
    first = win[win["stage"] == proc.stages[0]]
    if len(first) == 1:
        r = first.iloc[0]
        sec.add_figure(KeyFigure("Win rate from first stage", float(r["win_rate"]), unit="%",
                                 low=float(r["win_rate_low"]), high=float(r["win_rate_high"]),
                                 note=f"{ctx.confidence:.0%} interval", key=f"win_rate_{process}"))
    sec.add_chart(_funnel_chart(ctx, funnel, process))
    plot_funnel = require("salesplan.plot.funnel")
    sec.add_chart(render(plot_funnel.time_in_stage, f"{process}: time in stage",
                         "Share of entries still in each stage against days since entering it (censoring-aware).",
                         funnel=funnel, process=process))
    cols = [c for c in ("stage", "next_stage", "entered", "advanced", "lost", "open", "rate", "rate_low",
                        "rate_high", "closed_only_rate") if c in rates.columns]
    table = rates[cols].merge(win[["stage", "win_rate", "win_rate_low", "win_rate_high"]], on="stage", how="left")
    sec.add_table(Table(f"conversion_{process}", f"{process}: conversion per stage", table.reset_index(drop=True),
                        note=f"rate = share of entries that advance ({ctx.confidence:.0%} interval; open deals "
                             "censored); win_rate = chance to win from the stage; closed_only_rate ignores open "
                             "deals (biased)."))


def _funnel_chart(ctx: ReportContext, funnel: Any, process: str) -> Any:
    plot_funnel = require("salesplan.plot.funnel")
    return render(plot_funnel.funnel_chart, f"{process}: stage conversion",
                  f"Entries per stage (grey: still open at the cut) and the share advancing to the next stage "
                  f"with its {ctx.confidence:.0%} interval (open deals censored).", funnel=funnel, process=process)


def _activities_needed(ctx: ReportContext, sec: Section, process: str) -> None:
    sched = ctx.schedule()
    months = [str(ctx.next_period_month + i) for i in range(max(int(ctx.config.option("plan", "horizon")), 1))]
    mine = sched[(sched["process"] == process) & sched["period"].astype(str).isin(months)]
    if mine.empty:
        sec.warn(f"activities needed: the plan schedules nothing for {process} in {', '.join(months)} "
                 "(no target ahead?)")
        return
    label = ctx.period_label(ctx.next_period_month) + (f" to {months[-1]}" if len(months) > 1 else "")
    entries = mine[mine["item"] == "entries"].groupby("stage", sort=False)[["expected", "required"]].sum()
    stages = [s for s in ctx.data.processes[process].stages if s in entries.index]
    first = entries.loc[stages[0]] if stages else None
    acts = mine[mine["item"] != "entries"].groupby("item")[["expected", "required"]].sum()
    table = pd.concat([
        pd.DataFrame({"item": [f"new opportunities ({stages[0]})"] if stages else [],
                      "expected": [first["expected"]] if stages else [],
                      "required": [first["required"]] if stages else []}),
        acts.reset_index(),
    ], ignore_index=True)
    confidence = float(ctx.config.option("plan", "confidence"))
    table = table.rename(columns={"required": f"required_at_{confidence:.0%}".replace("%", "pct")})
    sec.add_table(Table(f"activities_next_{process}", f"{process}: activities needed in {label}", table,
                        note=f"From the backward plan, time-phased so contracts land in their target period; "
                             f"required = enough to reach the target with {confidence:.0%} probability."))
    if stages:
        sec.add_figure(KeyFigure(f"New opportunities needed {label}", float(np.ceil(first["required"])),
                                 note=f"expected {first['expected']:.1f}", key=f"entries_needed_{process}"))
    plot_plan = require("salesplan.plot.plan")
    vol = ctx.plan().volumes
    ahead = [p for p in dict.fromkeys(vol.loc[vol["process"] == process, "period"]) if str(p) >= months[0][:4]]
    period = next((p for p in ahead if pd.Period(str(p)).end_time >= ctx.next_period_month.start_time), None)
    sec.add_chart(render(plot_plan.reverse_funnel, f"{process}: entries needed per stage, {period}",
                         f"Expected entries (bars) and entries needed at {confidence:.0%} confidence (marks).",
                         plan=ctx.plan(), process=process, period=period))


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


def _forecast_status(row: Any, target: float) -> str:
    if not np.isfinite(target) or target <= 0:
        return ""
    if row["contracts_low"] >= target:
        return "good"
    return "bad" if row["contracts_high"] < target else "warn"


def open_deals(ctx: ReportContext, process: str) -> pd.DataFrame:
    """Open opportunities of a process with customer name, owner, stage, amount and age, largest first."""
    st = ctx.status()
    opps = ctx.data.opportunities
    mine = st[(st["process"] == process) & (st["status"] == "open")][["opportunity_id", "stage"]]
    extra = [c for c in ("customer_id", "owner", "amount", "expected_close") if c in opps.columns]
    table = mine.merge(opps[["opportunity_id", "created_at", *extra]], on="opportunity_id", how="left")
    if ctx.data.customers is not None and "name" in ctx.data.customers.columns and "customer_id" in table:
        table = table.merge(ctx.data.customers[["customer_id", "name"]].rename(columns={"name": "customer"}),
                            on="customer_id", how="left")
    table["age_days"] = (ctx.as_of - table["created_at"]).dt.days
    order = ["amount", "opportunity_id"] if "amount" in table else ["age_days", "opportunity_id"]
    table = table.sort_values(order, ascending=[False, True], kind="stable")
    cols = [c for c in ("opportunity_id", "customer", "customer_id", "owner", "stage", "amount", "created_at",
                        "age_days", "expected_close") if c in table.columns]
    return table[cols].reset_index(drop=True)


def _target_note(target: float) -> str:
    return "no target" if not np.isfinite(target) else f"target {target:.1f}"


# ------------------------------------------------------------------------------------------ data quality
def section_data_quality(ctx: ReportContext) -> Section:
    """The data behind the report (tables, rows, date range, status per process) and what was dropped and why.

    The data-quality table itself is filled by the report builder after every other section ran.
    """
    sec = Section("data_quality", "Data and data quality",
                  intro="Validated tables, their row counts and date ranges, and every problem found while "
                        "building this report: rows dropped or flagged, capabilities that were missing or failed.")
    summary = ctx.data.summary()
    table = summary.assign(first_date=summary["first_date"].dt.strftime("%Y-%m-%d"),
                           last_date=summary["last_date"].dt.strftime("%Y-%m-%d"))
    sec.add_table(Table("data_summary", "Validated tables", table))
    counts = ctx.data.status_counts().reset_index()
    sec.add_table(Table("status_counts", "Opportunities by process and status", counts))
    orders = ctx.data.orders
    if orders is not None and "is_return" in orders.columns and orders["is_return"].any():
        n = int(orders["is_return"].sum())
        ctx.add_quality("data", "info", f"{n} order line(s) with a negative amount kept as returns (is_return)",
                        table="orders", rows=n)
    if ctx.data.opportunities is not None and ctx.data.stage_events is not None:
        no_events = ~ctx.data.opportunities["opportunity_id"].isin(ctx.data.stage_events["opportunity_id"])
        if no_events.any():
            ctx.add_quality("data", "info", "opportunities without stage events are counted as open in their "
                            "process's first stage", table="opportunities", rows=int(no_events.sum()))
    funnel = ctx.cache.get("funnel")
    if funnel is not None and funnel[0] == "ok" and getattr(funnel[1], "issues", None) is not None:
        for row in funnel[1].issues.itertuples(index=False):
            if row.rows:
                ctx.add_quality("funnel", "info", f"{row.rule}: {row.action}", table="stage_events", rows=row.rows)
    cap = ctx.cache.get("capacity")
    if cap is not None and cap[0] == "ok" and cap[1] is not None:
        for row in cap[1].infeasible.itertuples(index=False):
            ctx.add_quality("capacity", "warning", str(row.message), table="capacity")
    for name in ("customers", "orders", "activities", "targets"):
        if getattr(ctx.data, name) is None:
            ctx.add_quality("data", "warning", f"no {name} table: the parts of the report that need it are "
                            "missing", table=name)
    return sec


# ---------------------------------------------------------------------------------------------- forecast
def section_forecast(ctx: ReportContext) -> Section:
    """Contracts expected in the forecast window (pipeline simulation) and the monthly trend forecast."""
    sec = Section("forecast", f"Forecast — {ctx.window_label()}",
                  intro=f"Contracts won between {ctx.window[0]:%Y-%m-%d} and the end of {ctx.window_label()}: open "
                        "opportunities run through the measured stage rates and durations (rate uncertainty "
                        "included), plus opportunities not yet created at the recent creation rate. Intervals at "
                        f"{ctx.confidence:.0%}.")
    with piece(sec, "pipeline forecast"):
        fc = ctx.forecast()
        table = fc.summary()
        end_month = str(pd.Period(ctx.window[1] - pd.Timedelta(seconds=1), "M"))
        table = table[(table["period"] == "(window)") | (table["period"].astype(str) <= end_month)]
        total = table[(table["component"] == "total") & (table["process"] == "(all)")
                      & (table["period"] == "(window)")].iloc[0]
        target = float(np.nansum(ctx.target_for_window().to_numpy()))
        scope = "all processes" if ctx.config.report.processes is None else f"{len(ctx.processes())} processes"
        fig = KeyFigure(f"Forecast {ctx.window_label()} ({scope})", float(total["contracts"]),
                        low=float(total["contracts_low"]), high=float(total["contracts_high"]),
                        note=f"target {target:.0f}; {ctx.confidence:.0%} interval",
                        status=_forecast_status(total, target), key="forecast_total")
        ctx.headline(fig)
        sec.add_figure(fig)
        headline = ctx.cache.setdefault("headline", {})
        pmf = fc.distribution(component="total")
        p_reach = float(pmf[pmf.index >= np.ceil(target - 1e-9)].sum()) if target > 0 else float("nan")
        headline["forecast"] = {"window": ctx.window_label(), "contracts": float(total["contracts"]),
                                "low": float(total["contracts_low"]), "high": float(total["contracts_high"]),
                                "level": ctx.confidence, "target": target, "p_reach_target": p_reach,
                                "revenue": float(total["revenue"])}
        if np.isfinite(p_reach):
            fig.status = "good" if p_reach >= 0.7 else ("warn" if p_reach >= 0.3 else "bad")
            sec.add_figure(KeyFigure("Chance to reach the target", p_reach, unit="%", digits=0,
                                     note=f"P(contracts ≥ {np.ceil(target - 1e-9):.0f}) in the simulation",
                                     key="p_reach_target"))
        plot_forecast = require("salesplan.plot.forecast")
        sec.add_chart(render(plot_forecast.pipeline_chart, f"Contracts won {ctx.window_label()}: distribution",
                             "All processes; bars inside the interval are dark.", forecast=fc, level=ctx.confidence))
        by_process = table[(table["component"] == "total") & (table["period"] == "(window)")
                           & (table["process"] != "(all)")].copy()
        by_process["target"] = by_process["process"].map(ctx.target_for_window())
        sec.add_chart(render(charts.plot_actual_vs_target, f"Forecast {ctx.window_label()} against target",
                             "Expected contracts per process with the interval, against the target of the window.",
                             table=by_process.rename(columns={"contracts": "actual", "contracts_low": "forecast_low",
                                                              "contracts_high": "forecast_high"}),
                             actual_label="forecast (expected)", title=f"Forecast {ctx.window_label()} against target"))
        window = table[table["period"] == "(window)"].drop(columns=["period", "level"], errors="ignore")
        window = window.merge(ctx.target_for_window().rename("target"), left_on="process", right_index=True,
                              how="left")
        sec.add_table(Table("forecast", f"Forecast {ctx.window_label()} by process", window.reset_index(drop=True),
                            note="component: pipeline = deals open at the cut, new = deals created later, total = "
                                 f"both; low / high = {ctx.confidence:.0%} interval; target pro-rated to the window."))
        sec.add_table(Table("forecast_by_month", "Forecast by month", table.reset_index(drop=True), show_rows=0))
    with piece(sec, "trend forecast"):
        _trend_forecast(ctx, sec)
    return sec


def _trend_forecast(ctx: ReportContext, sec: Section) -> None:
    mod = require("salesplan.forecast")
    plot_forecast = require("salesplan.plot.forecast")
    history = ctx.monthly_won(36).sum(axis=1).astype(float)
    months = int(ctx.config.option("forecast", "horizon_months"))
    model = mod.SeriesForecaster("auto", level=ctx.confidence).fit(history)
    fc = model.forecast(months, level=ctx.confidence)
    sec.add_chart(render(plot_forecast.fan_chart, "Contracts won per month: history and trend forecast",
                         f"{model.model_} on the monthly series, {ctx.confidence:.0%} prediction interval; a "
                         "cross-check of the pipeline forecast.", history=history, forecast=fc,
                         ylabel="contracts per month", title="Contracts won per month (all processes)"))
    table = fc.reset_index().rename(columns={"index": "period"})
    sec.add_table(Table("trend_forecast", f"Trend forecast ({model.model_})", table))
    if ctx.config.option("forecast", "backtest"):
        # a few origins over the last year keep the run short; the baselines come with it
        result = mod.backtest(history, ("ets",), horizon=1, level=ctx.confidence,
                              min_train=max(len(history) - 12, 13), step=4)
        sec.add_chart(render(plot_forecast.backtest_chart, "Backtest of the monthly forecast",
                             "Rolling-origin one-month-ahead errors against the naive baselines.", result=result))
        sec.add_table(Table("backtest", "Backtest: accuracy and interval coverage", result.summary().reset_index(),
                            note="MASE < 1 beats the naive forecast; coverage should be near the interval level."))


# -------------------------------------------------------------------------------------------------- KPIs
def section_kpis(ctx: ReportContext) -> Section:
    """KPIs per process (win rates, cycle time, coverage against need, velocity, activity attainment) and movement."""
    sec = Section("kpis", f"KPIs and pipeline movement — {ctx.period_label()}",
                  intro="Coverage is compared with the coverage this pipeline needs at its measured conversion, "
                        "not a fixed rule of thumb.")
    with piece(sec, "KPIs"):
        k = ctx.kpis()
        plot_control = require("salesplan.plot.control")
        recent = k[k["period"].astype(str) >= str(ctx.period - 11)]
        sec.add_chart(render(plot_control.kpi_table, "KPIs per process with their 12-period trend",
                             "Latest value and sparkline of each KPI.", kpis=recent,
                             columns=["snapshot_win_rate", "cycle_days", "coverage", "required_coverage"]))
        latest = k[k["period"].astype(str) == str(ctx.period)]
        short = latest[latest["coverage"] < latest["required_coverage"]]
        fig = KeyFigure("Processes with too little pipeline", len(short), note=", ".join(short["process"]) or
                        "coverage meets need everywhere", status="bad" if len(short) else "good",
                        key="coverage_short")
        ctx.headline(fig)
        sec.add_table(Table("kpis_latest", f"KPIs in {ctx.period_label()}", latest.reset_index(drop=True)))
        sec.add_table(Table("kpis", "KPIs per process and period", k.reset_index(drop=True), show_rows=0,
                            note="Full history in report.xlsx."))
    with piece(sec, "pipeline movement"):
        mod = require("salesplan.control")
        start = max(ctx.period.start_time, ctx.scoped.opportunities["created_at"].min())
        move = mod.pipeline_movement(ctx.scoped, start, ctx.as_of)
        plot_control = require("salesplan.plot.control")
        sec.add_chart(render(plot_control.movement_chart, f"Pipeline movement in {ctx.period_label()}",
                             "Open at start + new − won − lost = open at end; right: moves of deals open at both "
                             "dates.", movement=move))
        wide = move.table.pivot_table(index="process", columns="category", values="count", aggfunc="sum",
                                      sort=False).reset_index()
        sec.add_table(Table("movement", f"Pipeline movement in {ctx.period_label()} (count)", wide))
    return sec


# ---------------------------------------------------------------------------------------------- segments
def section_segments(ctx: ReportContext) -> Section:
    """Value segments (ABC on CLV, portfolio) and which customers each process should work on."""
    value = str(ctx.config.option("segments", "value"))
    sec = Section("segments", "Value segments and process assignment",
                  intro=f"Customers classed A/B/C by {'12-month customer lifetime value' if value == 'clv' else 'net revenue'}"
                        f" (thresholds {', '.join(f'{t:.0%}' for t in ctx.config.option('segments', 'abc'))} of "
                        "cumulative value); each customer is assigned the sales process that fits its value, "
                        "potential and behaviour.")
    with piece(sec, "value segments"):
        mod = require("salesplan.segment")
        plot_segment = require("salesplan.plot.segment")
        seg = ctx.segments()
        buyers = seg[seg["has_orders"]]
        abc = mod.abc_classes(buyers, value, thresholds=tuple(ctx.config.option("segments", "abc")))
        sec.add_chart(render(plot_segment.pareto_curve, "Customer value concentration (ABC)",
                             f"Cumulative share of {value} against share of customers.", table=abc))
        summary = mod.abc_summary(abc).reset_index()
        sec.add_table(Table("abc", "Customers and value per class", summary))
        sec.add_figure(KeyFigure("Gini of customer value", float(abc.attrs.get("gini", np.nan)),
                                 key="gini"))
        sec.add_chart(render(plot_segment.clv_by_segment, "Customer value per class",
                             "Distribution within each class (log scale).", frame=buyers, value=value,
                             unit=ctx.currency))
        pm_input = buyers.dropna(subset=[value, "share_of_wallet"])
        if len(pm_input) >= 4:
            pm = mod.portfolio_matrix(pm_input, attractiveness=value, position="share_of_wallet")
            sec.add_chart(render(plot_segment.portfolio_plot, "Customer portfolio",
                                 "Value against share of wallet; splits at the medians.", matrix=pm))
    with piece(sec, "process assignment"):
        mod = require("salesplan.segment")
        seg = ctx.segments()
        assign = mod.assign_processes(seg)
        assign = assign[assign["process"].isin(ctx.processes())]
        summary = mod.assignment_summary(assign).reset_index()
        sec.add_table(Table("assignment", "Customers per process and value class", summary,
                            note="potential = open wallet; expected_value = value the process can be expected to add."))
        names = ctx.data.customers.set_index("customer_id")["name"] if (
            ctx.data.customers is not None and "name" in ctx.data.customers.columns) else None
        top = assign.sort_values(["process", "rank"], kind="stable").groupby("process", sort=False).head(5).copy()
        if names is not None:
            top.insert(1, "customer", top["customer_id"].map(names))
        sec.add_table(Table("assignment_top", "Top customers per process", top.reset_index(drop=True),
                            note="Rank 1 = highest expected value within the process.", show_rows=30))
        sec.add_table(Table("assignment_all", "Process assignment of every customer", assign.reset_index(drop=True),
                            show_rows=0, note="All customers in report.xlsx."))
    return sec


def in_brief(ctx: ReportContext) -> list[str]:
    """A few sentences for the top of the report, from whatever the sections computed (missing parts skipped)."""
    lines: list[str] = []
    att = ctx.cache.get("attainment")
    if att is not None and len(att):
        quarter = ctx.period_label(pd.Period(ctx.last_instant, "Q"))
        with_target = att[att["target_quarter"] > 0]
        met = with_target[with_target["won_quarter"] >= with_target["target_quarter"]]["process"].tolist()
        line = (f"{quarter}: {len(met)} of {len(with_target)} processes reached their contract target"
                + (f" ({', '.join(met)})" if met else ""))
        if len(with_target) > len(met):
            worst = with_target.sort_values("attainment_quarter", kind="stable").iloc[0]
            line += f"; furthest behind: {worst['process']} at {worst['attainment_quarter']:.0%}"
        lines.append(line + ".")
        won, target = float(att["won_period"].sum()), float(np.nansum(att["target_period"]))
        if not ctx.freq == "Q":
            lines.append(f"{ctx.period_label()}: {won:.0f} contracts won against a pro-rated target of "
                         f"{target:.1f}.")
    fc = ctx.cache.get("headline", {}).get("forecast")
    if fc:
        line = (f"Forecast {fc['window']}: {fc['contracts']:.0f} contracts expected ({fc['low']:.0f}–"
                f"{fc['high']:.0f} at {ctx.confidence:.0%}) against a target of {fc['target']:.0f}")
        p = fc.get("p_reach_target", float("nan"))
        if np.isfinite(p):
            verdict = "likely" if p >= 0.7 else ("at risk" if p >= 0.3 else "unlikely")
            line += f"; reaching it is {verdict} (chance {p:.0%})"
        lines.append(line + ".")
    kp = ctx.cache.get("kpis")
    if kp is not None and kp[0] == "ok":
        latest = kp[1][kp[1]["period"].astype(str) == str(ctx.period)]
        short = latest[latest["coverage"] < latest["required_coverage"]]["process"].tolist()
        lines.append("Pipeline coverage meets what the measured conversion needs in every process." if not short
                     else f"Pipeline coverage is below what the measured conversion needs in: {', '.join(short)}.")
    cap = ctx.cache.get("capacity")
    if cap is not None and cap[0] == "ok" and cap[1] is not None:
        table = cap[1].table
        nxt = table[table["period"] == str(ctx.next_period_month)]
        if len(nxt):
            short = nxt[~nxt["feasible"].astype(bool)]
            lines.append(f"Capacity {ctx.period_label(ctx.next_period_month)}: " + (
                f"every team can carry the plan (highest use {nxt['utilisation'].max():.0%})." if short.empty else
                "short in " + ", ".join(f"{r.team} ({-r.gap:.0f} h)" for r in short.itertuples()) + "."))
    return lines


SectionFn = Callable[[ReportContext], "Section | list[Section]"]


def _process_sections(ctx: ReportContext) -> list[Section]:
    return [section_process(ctx, p) for p in ctx.processes()]


#: The sections in report order: key -> function.
SECTIONS: dict[str, SectionFn] = {
    "overview": section_overview,
    "forecast": section_forecast,
    "processes": _process_sections,
    "kpis": section_kpis,
    "activity": section_activity,
    "segments": section_segments,
    "data_quality": section_data_quality,
}
SECTION_KEYS: tuple[str, ...] = tuple(SECTIONS)
