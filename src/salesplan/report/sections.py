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
        counts = ctx.data.status_counts().reindex(procs, fill_value=0)
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
        opps = ctx.data.opportunities
        created = (opps.assign(month=opps["created_at"].dt.to_period("M")).groupby(["month", "process"]).size()
                   .unstack(fill_value=0).reindex(index=months, columns=ctx.processes(), fill_value=0))
        sec.add_chart(render(charts.plot_monthly, "Opportunities created per month",
                             "New opportunities entering each process.", frame=created,
                             ylabel="opportunities", title="Opportunities created per month"))
    with piece(sec, "activities"):
        acts = ctx.data.activities
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
def _funnel(ctx: ReportContext) -> Any:
    def compute() -> Any:
        funnel = require("salesplan.funnel")
        by = list(ctx.config.option("funnel", "by"))
        return funnel.estimate(ctx.data, by=by, confidence=ctx.confidence, activities=ctx.data.activities)

    return ctx.get("funnel", compute)


def section_process(ctx: ReportContext, process: str) -> Section:
    """One process: conversion per stage with intervals, plan against actual, variance, activities needed."""
    proc = ctx.data.processes[process]
    sec = Section(f"process_{process}", f"Process: {process}",
                  intro=(proc.description + " " if proc.description else "")
                  + f"Stages: {' → '.join(proc.stages)} → {proc.won}.")
    with piece(sec, "status"):
        counts = ctx.data.status_counts()
        row = counts.loc[process] if process in counts.index else pd.Series({"open": 0, "won": 0, "lost": 0})
        sec.add_figure(KeyFigure("Open", int(row["open"]), key=f"open_{process}"))
        sec.add_figure(KeyFigure(f"Won {ctx.period_label()}", int(ctx.won_in(ctx.period)[process]),
                                 note=_target_note(ctx.target_for(ctx.period)[process]), key=f"won_period_{process}"))
    with piece(sec, "conversion"):
        funnel = _funnel(ctx)
        rates = funnel.rates[funnel.rates["process"] == process]
        win = funnel.win_rate[funnel.win_rate["process"] == process]
        first = win[win["stage"] == proc.stages[0]]
        if len(first) == 1:
            r = first.iloc[0]
            sec.add_figure(KeyFigure("Win rate from first stage", float(r["win_rate"]), unit="%",
                                     low=float(r["win_rate_low"]), high=float(r["win_rate_high"]),
                                     note=f"{ctx.confidence:.0%} interval", key=f"win_rate_{process}"))
        plot_funnel = require("salesplan.plot.funnel")
        sec.add_chart(render(plot_funnel.plot_stage_rates, f"{process}: stage conversion",
                             f"Share advancing per stage with {ctx.confidence:.0%} intervals "
                             "(open deals handled as censored).", funnel=funnel, process=process))
        cols = [c for c in ("stage", "next_stage", "entered", "advanced", "lost", "open", "rate", "rate_low",
                            "rate_high", "closed_only_rate") if c in rates.columns]
        sec.add_table(Table(f"conversion_{process}", f"{process}: stage conversion", rates[cols].round(4)))
    with piece(sec, "largest open opportunities"):
        sec.add_table(Table(f"open_{process}", f"{process}: largest open opportunities", open_deals(ctx, process),
                            note="Open at the data cut, by amount; age = days since creation.", show_rows=10))
    return sec


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
    for name in ("customers", "orders", "activities", "targets"):
        if getattr(ctx.data, name) is None:
            ctx.add_quality("data", "warning", f"no {name} table: the parts of the report that need it are "
                            "missing", table=name)
    return sec


SectionFn = Callable[[ReportContext], "Section | list[Section]"]


def _process_sections(ctx: ReportContext) -> list[Section]:
    return [section_process(ctx, p) for p in ctx.processes()]


#: The sections in report order: key -> function.
SECTIONS: dict[str, SectionFn] = {
    "overview": section_overview,
    "activity": section_activity,
    "processes": _process_sections,
    "data_quality": section_data_quality,
}
SECTION_KEYS: tuple[str, ...] = tuple(SECTIONS)
