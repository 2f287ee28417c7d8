"""The sections of the control report: each is a function ``(ReportContext) -> Section | list[Section]``.

A section lays out figures of ``ctx.analysis`` (:class:`salesplan.Analysis`): key figures, charts and tables.
It computes nothing itself. Each part of a section runs inside :func:`piece`, so a figure that is not available or
fails becomes a warning in that section (and a row of the data-quality table) while the rest carries on.

Examples
--------
A part that fails becomes a warning of its section and the next part still runs:

>>> from salesplan.report.model import KeyFigure, Section
>>> from salesplan.report.sections import piece
>>> sec = Section("demo", "Demo")
>>> with piece(sec, "win rate"):
...     raise ZeroDivisionError("no deals")
>>> with piece(sec, "entries"):
...     _ = sec.add_figure(KeyFigure("Entries", 12))
>>> sec.warnings, [f.text() for f in sec.figures]
(['win rate failed: ZeroDivisionError: no deals'], ['12'])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from salesplan.plot import control as plot_control
from salesplan.plot import forecast as plot_forecast
from salesplan.plot import funnel as plot_funnel
from salesplan.plot import overview as plot_overview
from salesplan.plot import plan as plot_plan
from salesplan.plot import segment as plot_segment
from salesplan.report.accountability import section_accountability
from salesplan.report.blocks import KeyFigure, Note, Table
from salesplan.report.config import SECTION_KEYS
from salesplan.report.context import ReportContext, piece, render
from salesplan.report.model import Section

__all__ = ["SECTIONS", "SECTION_KEYS", "piece", "in_brief"]

logger = logging.getLogger(__name__)


def flag_notes(ctx: ReportContext, sec: Section, figures: tuple[str, ...]) -> None:
    """Put the plausibility flags of ``figures`` (:attr:`salesplan.Analysis.flags`) beside them as warnings."""
    with piece(sec, "plausibility flags"):
        for flag in ctx.analysis.flags:
            if flag.figure in figures:
                sec.blocks.append(Note(f"Flagged as implausible — {flag.message}", kind="warning"))


def _target_note(target: float) -> str:
    return "no target" if target != target else f"target {target:.1f}"


# ---------------------------------------------------------------------------------------------- overview
#: Plain titles of the comparison table's columns.
COMPARISON_TITLES = {"actual": "this month", "last_month": "last month", "vs_last_month": "change",
                     "same_month_last_year": "same month last year", "vs_last_year": "change on last year",
                     "plan": "plan", "vs_plan": "attainment"}


def comparison_table(frame: Any) -> Any:
    """The comparison columns under their plain titles (a renaming; the figures are the Analysis's)."""
    return frame.rename(columns=COMPARISON_TITLES)


def changes_text(rows: Any, before: str, currency: str) -> str:
    """One sentence of what changed since last month, from rows of :attr:`salesplan.Analysis.comparisons`."""
    parts = []
    for r in rows.itertuples(index=False):
        if r.last_month != r.last_month:
            continue
        money = r.figure in ("order revenue", "weighted pipeline")
        value = f"{r.actual:,.0f}" + (f" {currency}" if money else "")
        parts.append(f"{r.figure} {value} ({r.vs_last_month:+,.0f})")
    return f"Since {before}: " + "; ".join(parts) + "." if parts else ""


def section_overview(ctx: ReportContext) -> Section:
    """The executive summary: won against target per process, the forecast with its chance, coverage, the
    things to act on, and every headline figure against last month, last year and plan.
    """
    a = ctx.analysis
    quarter = a.period_label(a.quarter)
    sec = Section("overview", f"Executive summary — {a.period_label()}",
                  intro=f"Data cut {a.as_of:%Y-%m-%d %H:%M}"
                        f"{'' if a.period_complete else ' (the period is not complete yet: figures are to date)'}. "
                        f"Contracts won against the target (pro-rated by days where targets are set per quarter "
                        f"or year); comparisons with last month, the same month last year and plan.")
    with piece(sec, "contracts against target"):
        table = a.attainment
        for row in table.itertuples(index=False):
            ctx.headline(KeyFigure(f"{row.process}: won {quarter}", int(row.won_quarter),
                                   note="no target" if row.target_quarter != row.target_quarter
                                   else f"target {row.target_quarter:.0f}",
                                   status=a.attainment_status(row.process, "quarter"),
                                   key=f"won_quarter_{row.process}"))
        ctx.headline(KeyFigure("Open opportunities", a.open_opportunities, note="all processes, at the cut",
                               key="open_opportunities"))
    with piece(sec, "things to act on"):
        for line in a.actions["text"]:
            sec.blocks.append(Note(line, kind="action"))
    with piece(sec, "comparisons"):
        sec.add_table(Table("comparisons", f"Headline figures of {a.period_label(a.period)} against last month, "
                                           "last year and plan", comparison_table(a.comparison("(all)")),
                            note="All processes. change = this month − reference; attainment = this month / plan "
                                 "(plan: targets and the plan's activities pro-rated by days). Weighted pipeline: "
                                 "open amount × the chance to win from each deal's stage, last month = at the "
                                 "start of the month with today's rates."))
        sec.add_table(Table("comparisons_all", "Headline figures against last month, last year and plan, per "
                                               "process", a.comparisons, appendix=True))
    with piece(sec, "contracts against target table"):
        sec.add_table(Table("attainment", "Contracts won against target", table,
                            note=f"period = {a.period_label()}, quarter = {quarter}, year = {a.year}; "
                                 "attainment = won / target."))
    with piece(sec, "weighted pipeline"):
        total = a.weighted_pipeline.set_index("process").loc["(all)"]
        ctx.headline(KeyFigure("Weighted pipeline", float(total["weighted_amount"]), unit=a.settings.currency,
                               note=f"of {total['open_amount']:,.0f} open; bounds "
                                    f"{total['weighted_amount_low']:,.0f}–{total['weighted_amount_high']:,.0f}",
                               key="weighted_pipeline"))
    if ctx.full:
        with piece(sec, "contracts against target chart"):
            sec.add_chart(render(plot_overview.plot_actual_vs_target, f"Contracts won against target, {quarter}",
                                 "Won to date against the full quarter target.",
                                 table=table.rename(columns={"won_quarter": "actual", "target_quarter": "target"})))
        with piece(sec, "contracts won per month"):
            sec.add_chart(render(plot_overview.plot_monthly, "Contracts won per month", "Last 24 months, by process.",
                                 frame=a.won_per_month(24), ylabel="contracts won", title="Contracts won per month"))
        with piece(sec, "pipeline status"):
            sec.add_chart(render(plot_overview.plot_status, "Opportunities by status",
                                 f"Opportunities by status at the data cut {a.as_of:%Y-%m-%d}.",
                                 counts=a.status_counts))
    return sec


# ---------------------------------------------------------------------------------------------- activity
def section_activity(ctx: ReportContext) -> Section:
    """Volumes behind the results: opportunities created, activities by kind and order revenue per month."""
    a = ctx.analysis
    currency = a.settings.currency
    sec = Section("activity", "Sales activity and revenue",
                  intro="Inputs of the sales processes (new opportunities, calls, visits, offers) and the order "
                        "revenue they lead to, per month.")
    with piece(sec, "opportunities created"):
        sec.add_chart(render(plot_overview.plot_monthly, "Opportunities created per month",
                             "New opportunities entering each process.", frame=a.created_per_month,
                             ylabel="opportunities", title="Opportunities created per month"))
    with piece(sec, "activities"):
        sec.add_chart(render(plot_overview.plot_stacked_monthly, "Activities per month",
                             "Logged activities by kind.", frame=a.activities_per_month, ylabel="activities",
                             title="Activities per month by kind"))
        sec.add_table(Table("activities_period", f"Activities in {a.period_label()}", a.activities_in_period))
        sec.add_figure(KeyFigure(f"Activities in {a.period_label()}", a.activities_in_period_total,
                                 key="activities_period"))
    with piece(sec, "plan cost"):
        first, last = a.plan_period_range
        unit_costs = a.settings.cost_per_activity
        sec.add_table(Table("plan_cost", "Activity cost of the plan per process", a.plan_cost,
                            note=f"All target periods {first} to {last}; unit costs from [costs] per_activity "
                                 f"({', '.join(f'{k} {v:g}' for k, v in unit_costs.items())} {currency}); "
                                 "required = at the plan's target probability."))
    if a.settings.hire_profile:
        with piece(sec, "headcount"):
            headcount_table(a, sec)
    with piece(sec, "order revenue"):
        sec.add_chart(render(plot_overview.plot_monthly, "Order revenue per month",
                             "Net of returns (negative order lines).", frame=a.revenue_per_month,
                             ylabel=currency, title="Order revenue per month"))
        sec.add_figure(KeyFigure(f"Order revenue {a.period_label()}", a.revenue_in_period, unit=currency,
                                 key="revenue_period"))
    return sec


def headcount_table(a: Any, sec: Section) -> None:
    """The hires of ``[capacity] hire_profile`` per process that make the plan fit the team (``Analysis.headcount``)."""
    from salesplan.plan.headcount import PROFILE_DEFAULTS

    summary = a.headcount.summary
    profile = {**PROFILE_DEFAULTS, **dict(a.settings.hire_profile)}
    short = summary.loc[summary["hires"] > 0, "process"].tolist()
    sec.add_table(Table(
        "headcount", "Hires that make the plan fit the team's hours", summary,
        note=(f"Hires needed in {', '.join(short)}" if short else "The current team carries the plan") +
             f"; a hire of the profile works {profile.get('hours_per_week', 0):g} h a week after "
             f"{profile.get('lead_months', 0):g} month(s) of notice and {profile.get('ramp_months', 0):g} of ramp; "
             f"cost = hires x {profile.get('cost_per_month', 0):g} {a.settings.currency} a month to the plan's end; "
             "months_short_before_start: months the gap stays open before a hire can start."))


# --------------------------------------------------------------------------------------------- processes
def section_process(ctx: ReportContext, process: str) -> Section:
    """One process on one page: key figures, funnel with rates and intervals, plan against actual, what changed
    since last month, activities per rep (this month against plan, next month's targets), largest open deals.
    The full level adds time in stage, the variance waterfall, capacity and the reverse funnel.
    """
    a = ctx.analysis
    proc = a.data.processes[process]
    sec = Section(f"process_{process}", f"Process: {process}",
                  intro=(proc.description + " " if proc.description else "")
                  + f"Stages: {' → '.join(proc.stages)} → {proc.won}.")
    with piece(sec, "status"):
        row = a.attainment.set_index("process").loc[process]
        sec.add_figure(KeyFigure(f"Won in {a.period_label()}", int(row["won_period"]),
                                 note=_target_note(row["target_period"]),
                                 status=a.attainment_status(process, "period"), key=f"won_period_{process}"))
    with piece(sec, "forecast"):
        row = a.forecast_row(process)
        sec.add_figure(KeyFigure(f"Forecast {a.window_label()}", float(row["contracts"]),
                                 low=float(row["contracts_low"]), high=float(row["contracts_high"]),
                                 note=f"{_target_note(a.target_window[process])}; {a.settings.confidence:.0%} "
                                      "interval", status=a.forecast_status(process), key=f"forecast_{process}"))
    with piece(sec, "coverage"):
        r = a.coverage_row(process)
        sec.add_figure(KeyFigure("Pipeline coverage at the cut", float(r["coverage"]),
                                 note=f"needed {r['required_coverage']:.1f}x at measured conversion",
                                 status="good" if r["enough"] else "bad", key=f"coverage_{process}"))
    with piece(sec, "weighted pipeline"):
        wp = a.weighted_pipeline.set_index("process").loc[process]
        sec.add_figure(KeyFigure("Weighted pipeline", float(wp["weighted_amount"]), unit=a.settings.currency,
                                 note=f"{int(wp['open_deals'])} open deals, {wp['open_amount']:,.0f} open",
                                 key=f"weighted_pipeline_{process}"))
    with piece(sec, "conversion"):
        _process_funnel(ctx, sec, process)
    with piece(sec, "what changed"):
        sec.add_text(changes_text(a.comparison(process), a.period_label(a.period - 1), a.settings.currency))
    with piece(sec, "plan against actual"):
        sec.add_table(Table(f"plan_actual_{process}", f"{process}: plan against actual",
                            a.plan_actual_summary(process),
                            note="latest = the last target period started by the cut; year = its year so far. " + (
                                "Plan reconstructed from the funnel at the cut ([plan] of_record names the plan "
                                "as set)." if a.plan_is_reconstructed else "The plan of record.")))
        sec.add_table(Table(f"pva_{process}", f"{process}: plan against actual, every row",
                            a.plan_vs_actual_rows(process), appendix=True))
        if ctx.full:
            sec.add_chart(render(plot_control.plan_actual_bars, f"{process}: contracts planned and won",
                                 "Plan = the target; bars per target period, attainment above the actual.",
                                 table=a.plan_vs_actual, measure="contracts", process=process))
    with piece(sec, "activities per rep"):
        sec.add_table(Table(f"rep_activities_{process}", f"{process}: activities per rep in {a.period_label()}, "
                            "plan and actual", a.rep_activities_of(process),
                            note="plan = the period's planned activities pro-rated to the month and split over the "
                                 "reps by hours; actual = logged by the rep."))
    with piece(sec, "next month per rep"):
        sec.add_table(Table(f"rep_targets_{process}", f"{process}: targets per rep, "
                            f"{a.period_label(a.next_month)}", a.rep_targets_next(process),
                            note="From the plan net of the open pipeline, split by hours; weeks whose Thursday is "
                                 "in the month; peak utilisation above 100%: more than the rep's hours."))
    with piece(sec, "variance"):
        sec.add_table(Table(f"variance_{process}", f"{process}: contract gap by cause", a.variance_table(process),
                            appendix=True,
                            note="A period whose cohort is too young to have closed is marked immature: its "
                                 "conversion and timing effects are blank, because the deals still open will "
                                 "still be won or lost; only the volume effect and the rest of the gap are known."))
        if ctx.full:
            period = a.variance_chart_period(process)
            if period is None:
                sec.add_text(f"{process}: every compared period's cohort is still too young to have closed; the "
                             "gap cannot yet be split into conversion and timing.")
            else:
                sec.add_chart(render(plot_control.variance_waterfall, f"{process}: why contracts differ from "
                                     f"plan, {period}", "Planned → actual contracts through the volume, conversion "
                                     "and timing effects (they add up exactly); the latest period whose cohort is "
                                     "mature.", table=a.variance, process=process, period=period))
    if ctx.full:
        with piece(sec, "activities needed"):
            _activities_needed(ctx, sec, process)
    with piece(sec, "capacity"):
        if process not in a.capacity_processes:
            sec.warn(f"capacity: no team serves {process} (set [capacity] team)")
        else:
            r = a.capacity_next_month(process)
            if r is not None:
                sec.add_figure(KeyFigure(f"Capacity use {a.period_label(a.next_month)}", float(r["utilisation"]),
                                         unit="%", note=f"{r['required_hours']:.0f} of {r['available_hours']:.0f} h",
                                         status="good" if r["feasible"] else "bad", key=f"utilisation_{process}"))
            peak = a.rep_capacity_next(process)
            if peak is not None:
                over = int(peak["weeks_over"])
                sec.add_figure(KeyFigure(
                    f"Busiest rep-week {a.period_label(a.next_month)}", peak["peak_utilisation"], unit="%",
                    note=(f"{over} rep-week(s) above the rep's hours" if over else "every rep within their hours")
                    + (f"; {peak['hours_over']:.0f} h do not fit the team" if peak["hours_over"] > 0.5 else ""),
                    status="good" if not over else "bad", key=f"rep_peak_week_{process}"))
            if ctx.full:
                sec.add_chart(render(plot_plan.capacity_chart, f"{process}: hours needed against hours available",
                                     "Hours the plan needs per month over the next year (red where short) and the team's hours.",
                                     report=a.capacity, team=f"{process} team",
                                     start=(a.next_month - 1).start_time, end=(a.next_month + 11).start_time))
    with piece(sec, "largest open opportunities"):
        sec.add_table(Table(f"open_{process}", f"{process}: largest open opportunities", a.open_deals(process),
                            note="Open at the cut; age = days since creation; the 50 largest in report.xlsx.",
                            show_rows=10 if ctx.full else 5))
    return sec


def _process_funnel(ctx: ReportContext, sec: Section, process: str) -> None:
    a = ctx.analysis
    level = f"{a.settings.confidence:.0%}"
    r = a.first_stage_win_rate(process)
    if r is not None:
        sec.add_figure(KeyFigure("Win rate from first stage", float(r["win_rate"]), unit="%",
                                 low=float(r["win_rate_low"]), high=float(r["win_rate_high"]),
                                 note=f"{level} interval", key=f"win_rate_{process}"))
    sec.add_chart(render(plot_funnel.funnel_chart, f"{process}: stage conversion",
                         f"Entries per stage (grey: open at the cut), share advancing ({level} interval).",
                         funnel=a.funnel, process=process))
    if ctx.full:
        sec.add_chart(render(plot_funnel.time_in_stage, f"{process}: time in stage",
                             "Share of entries still in each stage against days since entering it "
                             "(censoring-aware).", funnel=a.funnel, process=process))
    sec.add_table(Table(f"conversion_{process}", f"{process}: conversion per stage", a.conversion(process),
                        note=f"rate = share advancing ({level} interval, open deals censored); win rate = chance "
                             "to win from the stage; closed-only rate ignores open deals (biased)."))


def required_column(target_probability: float) -> str:
    """Column name of the plan's required volumes, e.g. ``required_at_80pct``."""
    return f"required_at_{target_probability:.0%}".replace("%", "pct")


def _activities_needed(ctx: ReportContext, sec: Section, process: str) -> None:
    a = ctx.analysis
    months = a.plan_months
    label = a.period_label(a.next_month) + (f" to {months[-1]}" if len(months) > 1 else "")
    p = a.settings.target_probability
    sec.add_table(Table(f"activities_next_{process}", f"{process}: activities needed in {label}",
                        a.activities_needed(process).rename(columns={"required": required_column(p)}),
                        note=f"From the backward plan, time-phased so contracts land in their target period; "
                             f"required = enough to reach the target with {p:.0%} probability."))
    needed = a.entries_needed(process)
    if needed is not None:
        sec.add_figure(KeyFigure(f"New opportunities needed {label}", needed[0], note=f"expected {needed[1]:.1f}",
                                 key=f"entries_needed_{process}"))
    period = a.plan_chart_period(process)
    sec.add_chart(render(plot_plan.reverse_funnel, f"{process}: entries needed per stage, {period}",
                         f"Expected entries (bars) and entries needed at {p:.0%} target probability (marks).",
                         plan=a.plan, process=process, period=period))


# ------------------------------------------------------------------------------------------ data quality
def section_data_quality(ctx: ReportContext) -> Section:
    """The data behind the report (tables, rows, date range, status per process) and what was dropped and why.

    The data-quality table itself is filled by the report builder after every other section ran.
    """
    a = ctx.analysis
    sec = Section("data_quality", "Data and data quality",
                  intro="Validated tables, their row counts and date ranges, and every problem found while "
                        "building this report: rows dropped or flagged, capabilities that were missing or failed.")
    sec.add_table(Table("data_summary", "Validated tables", a.data_summary, appendix=True))
    sec.add_table(Table("status_counts", "Opportunities by process and status (at the cut)",
                        a.data_status_counts.reset_index(), appendix=True))
    for row in a.quality_findings:
        ctx.add_quality(row["section"], row["severity"], row["message"], table=row["table"], rows=row["rows"])
    with piece(sec, "plausibility checks"):
        for flag in a.flags:
            ctx.add_quality("plausibility", "warning", flag.message)
    return sec


# ---------------------------------------------------------------------------------------------- forecast
#: The forecast section's line naming the win model of the open deals (``[forecast] win_model``).
_WIN_MODEL_LINE = {
    "stage": "Win model: stage rates (win_model = \"stage\"): each open deal wins with the rate of its stage and "
             "days in stage.",
    "deal": "Win model: the per-deal model (win_model = \"deal\"): each open deal's calibrated chance to be won by "
            "the window's end (stage, time in stage, pushes, amount changes, activity, owner, account) replaces "
            "the stage rates; new opportunities keep them.",
}


def section_forecast(ctx: ReportContext) -> Section:
    """Contracts expected in the forecast window (pipeline simulation) and the monthly trend forecast."""
    a = ctx.analysis
    level = f"{a.settings.confidence:.0%}"
    window = a.window_label()
    sec = Section("forecast", f"Forecast — {window}",
                  intro=f"Contracts won between {a.window[0]:%Y-%m-%d} and the end of {window}: open "
                        "opportunities run through the measured stage rates and durations (rate uncertainty "
                        "included), plus opportunities not yet created at the recent creation rate. Intervals at "
                        f"{level}. {_WIN_MODEL_LINE[a.settings.win_model]}")
    with piece(sec, "pipeline forecast"):
        total = a.forecast_row("(all)")
        scope = "all processes" if a.settings.processes is None else f"{len(a.processes)} processes"
        fig = KeyFigure(f"Forecast {window} ({scope})", float(total["contracts"]),
                        low=float(total["contracts_low"]), high=float(total["contracts_high"]),
                        note=f"target {a.forecast_target:.0f}; {level} interval", status=a.forecast_status(),
                        key="forecast_total")
        ctx.headline(fig)
        sec.add_figure(fig)
        p_reach = a.chance_of_target
        if p_reach == p_reach:
            fig.status = a.chance_status
            sec.add_figure(KeyFigure("Chance to reach the target", p_reach, unit="%", digits=0,
                                     note=f"P(contracts ≥ {a.forecast_target_whole:.0f}) in the simulation",
                                     key="p_reach_target"))
        if ctx.full:
            sec.add_chart(render(plot_forecast.pipeline_chart, f"Contracts won {window}: distribution",
                                 "All processes; bars inside the interval are dark.", forecast=a.forecast,
                                 confidence=a.settings.confidence))
        sec.add_chart(render(plot_overview.plot_actual_vs_target, f"Forecast {window} against target",
                             "Expected contracts per process with the interval, against the target of the window.",
                             table=a.forecast_by_process.rename(columns={
                                 "contracts": "actual", "contracts_low": "forecast_low",
                                 "contracts_high": "forecast_high"}),
                             actual_label="forecast (expected)", title=f"Forecast {window} against target"))
        sec.add_table(Table("forecast", f"Forecast {window} by process", a.forecast_window,
                            note="component: pipeline = deals open at the cut, new = deals created later, total = "
                                 f"both; low / high = {level} interval; target pro-rated to the window."))
        sec.add_table(Table("forecast_by_month", "Forecast by month", a.forecast_table, appendix=True))
    with piece(sec, "weighted pipeline"):
        sec.add_table(Table("weighted_pipeline", "Open pipeline weighted by the chance to win", a.weighted_pipeline,
                            note="weighted = Σ amount × win rate from the deal's stage; low / high = every stage at "
                                 f"the end of its {a.settings.confidence:.0%} interval (a bound, not a joint "
                                 "interval). A cross-check of the simulated forecast in money."))
    if ctx.full:
        with piece(sec, "trend forecast"):
            _trend_forecast(ctx, sec)
    return sec


def _trend_forecast(ctx: ReportContext, sec: Section) -> None:
    a = ctx.analysis
    level = a.settings.confidence
    sec.add_chart(render(plot_forecast.fan_chart, "Contracts won per month: history and trend forecast",
                         f"Exponential smoothing on the monthly series (model in the table), {level:.0%} "
                         "prediction interval; a cross-check of the pipeline forecast.",
                         history=a.won_per_month_total(36),
                         forecast=a.trend_forecast, ylabel="contracts per month",
                         title="Contracts won per month (all processes)"))
    sec.add_table(Table("trend_forecast", "Trend forecast of contracts won per month", a.trend_table,
                        note=f"Model: {a.trend_model.model_} (error, trend, season of the exponential smoothing "
                             "family; Hyndman & Athanasopoulos, Forecasting: Principles and Practice, ch. 8)."))
    if a.settings.backtest:
        sec.add_chart(render(plot_forecast.backtest_chart, "Backtest of the monthly forecast",
                             "Rolling-origin one-month-ahead errors against the naive baselines.",
                             result=a.trend_backtest))
        sec.add_table(Table("backtest", "Backtest: accuracy and interval coverage", a.backtest_table,
                            note="MASE < 1 beats the naive forecast; coverage should be near the interval level."))
        flag_notes(ctx, sec, ("backtest coverage",))


# -------------------------------------------------------------------------------------------- breakdowns
#: Headings of the breakdown dimensions.
DIMENSION_TITLES = {"owner": "rep", "region": "region", "industry": "industry", "size": "customer size",
                    "segment": "segment"}


def section_breakdowns(ctx: ReportContext) -> Section:
    """Results and pipeline by rep, region, industry, size and the ``[report] breakdowns`` dimensions."""
    a = ctx.analysis
    sec = Section("breakdowns", f"Breakdowns — {a.period_label()}",
                  intro=f"Per rep and per customer group: contracts won in {a.period_label()}, the win rate of the "
                        f"deals closed in the last 12 months ({a.settings.confidence:.0%} interval; few deals give "
                        "wide intervals), the pipeline open at the cut and its value weighted by the chance to "
                        "win from each deal's stage. All reported processes.")
    with piece(sec, "dimensions"):
        dims = a.breakdown_dimensions
        missing = [d for d in ctx.config.report.breakdowns if d not in dims]
        if missing:
            sec.add_text(f"Not in the data, so not broken down: {', '.join(missing)}.")
    for dim in dims:
        with piece(sec, f"by {dim}"):
            sec.add_table(Table(f"by_{dim}", f"By {DIMENSION_TITLES.get(dim, dim)}", a.breakdown(dim),
                                show_rows=20))
    return sec


# -------------------------------------------------------------------------------------------------- KPIs
def section_kpis(ctx: ReportContext) -> Section:
    """KPIs per process (win rates, cycle time, coverage against need, velocity, activity attainment) and movement."""
    a = ctx.analysis
    sec = Section("kpis", f"KPIs and pipeline movement — {a.period_label()}",
                  intro="Coverage is compared with the coverage this pipeline needs at its measured conversion, "
                        "not a fixed rule of thumb. The KPI table measures each period's pipeline at its start; "
                        "the coverage figures of the processes measure the pipeline open at the data cut.")
    with piece(sec, "KPIs"):
        if ctx.full:
            sec.add_chart(render(plot_control.kpi_table, "KPIs per process with their 12-period trend",
                                 "Latest value and sparkline of each KPI.", kpis=a.kpis_recent,
                                 columns=["snapshot_win_rate", "cycle_days", "coverage", "required_coverage"]))
        short = a.coverage_short
        ctx.headline(KeyFigure("Processes with too little pipeline", len(short),
                               note=", ".join(short) or "coverage at the cut meets need everywhere",
                               status="bad" if short else "good", key="coverage_short"))
        sec.add_table(Table("kpis_latest", f"KPIs in {a.period_label()}", a.kpis_latest,
                            note="cohort_win_rate is 'too early' for a cohort too young to have closed."))
        sec.add_table(Table("kpis", "KPIs per process and period", a.kpis, appendix=True))
    with piece(sec, "pipeline movement"):
        if ctx.full:
            sec.add_chart(render(plot_control.movement_chart, f"Pipeline movement in {a.period_label()}",
                                 "Open at start + new − won − lost = open at end; right: moves of deals open at "
                                 "both dates.", movement=a.movement))
        sec.add_table(Table("movement", f"Pipeline movement in {a.period_label()} (count)", a.movement_table))
    return sec


# ---------------------------------------------------------------------------------------------- segments
def section_segments(ctx: ReportContext) -> Section:
    """Value segments (ABC on CLV, portfolio) and which customers each process should work on."""
    a = ctx.analysis
    value = a.settings.segment_value
    sec = Section("segments", "Value segments and process assignment",
                  intro=f"Customers classed A/B/C by {'12-month customer lifetime value' if value == 'clv' else 'net revenue'}"
                        f" (thresholds {', '.join(f'{t:.0%}' for t in a.settings.abc)} of cumulative value); each "
                        "customer is assigned the sales process that fits its value, potential and behaviour.")
    with piece(sec, "value segments"):
        sec.add_chart(render(plot_segment.pareto_curve, "Customer value concentration (ABC)",
                             f"Cumulative share of {value} against share of customers.", table=a.abc))
        sec.add_table(Table("abc", "Customers and value per class", a.abc_summary))
        sec.add_figure(KeyFigure("Gini of customer value", a.gini, key="gini"))
        sec.add_chart(render(plot_segment.clv_by_segment, "Customer value per class",
                             "Distribution within each class (log scale).", frame=a.buyers, value=value,
                             unit=a.settings.currency))
        if a.portfolio is not None:
            sec.add_chart(render(plot_segment.portfolio_plot, "Customer portfolio",
                                 "Value against share of wallet; splits at the medians.", matrix=a.portfolio))
    with piece(sec, "process assignment"):
        sec.add_table(Table("assignment", "Customers per process and value class", a.assignment_summary,
                            note="potential = yearly value at stake (delivery rate: the spend a typical share of "
                                 "wallet would add); expected_value = potential x the rule's probability."))
        sec.add_table(Table("assignment_top", "Top customers per process", a.assignment_top,
                            note="Rank 1 = highest expected value within the process.", show_rows=30))
        flag_notes(ctx, sec, ("expected value", "process assignment", "share of wallet"))
        sec.add_table(Table("assignment_all", "Process assignment of every customer", a.assignment,
                            appendix=True))
    return sec


# ------------------------------------------------------------------------------------------------- brief
def in_brief(ctx: ReportContext, keys: tuple[str, ...] | list[str]) -> list[str]:
    """A few sentences for the top of the report from the figures of the sections that ran (``keys``); a
    figure that is not available is skipped.
    """
    a = ctx.analysis
    lines: list[str] = []

    def line(make: Callable[[], str | None]) -> None:
        try:
            text = make()
        except Exception:  # noqa: BLE001 - the summary sentences are a courtesy; the sections show failures
            logger.debug("brief line failed", exc_info=True)
            return
        if text:
            lines.append(text)

    if "overview" in keys:
        def quarter() -> str:
            met, with_target = a.quarter_met, a.quarter_with_target
            text = (f"{a.period_label(a.quarter)}: {len(met)} of {len(with_target)} processes reached their "
                    f"contract target" + (f" ({', '.join(met)})" if met else ""))
            behind = a.quarter_furthest_behind
            if behind is not None:
                text += f"; furthest behind: {behind[0]} at {behind[1]:.0%}"
            return text + "."

        line(quarter)
        if a.freq != "Q":
            line(lambda: f"{a.period_label()}: {a.won_period_total:.0f} contracts won against a pro-rated target "
                         f"of {a.target_period_total:.1f}.")
    if "forecast" in keys:
        def forecast() -> str:
            fc = a.headline["forecast"]
            text = (f"Forecast {fc['window']}: {fc['contracts']:.0f} contracts expected ({fc['low']:.0f}–"
                    f"{fc['high']:.0f} at {a.settings.confidence:.0%}) against a target of {fc['target']:.0f}")
            p = fc["p_reach_target"]
            if p == p:
                verdict = {"good": "likely", "warn": "at risk", "bad": "unlikely"}[a.chance_status]
                text += f"; reaching it is {verdict} (chance {p:.0%})"
            return text + "."

        line(forecast)
    if "kpis" in keys:
        line(lambda: "Pipeline coverage at the cut meets what the measured conversion needs in every process."
             if not a.coverage_short else
             f"Pipeline coverage at the cut is below what the measured conversion needs in: "
             f"{', '.join(a.coverage_short)}.")
    if "processes" in keys and a.capacity_processes:
        def capacity() -> str | None:
            if a.capacity_next.empty:
                return None
            short = a.capacity_short_next
            return f"Capacity {a.period_label(a.next_month)}: " + (
                f"every team can carry the plan (highest use {a.capacity_max_use_next:.0%})." if not short else
                "short in " + ", ".join(f"{team} ({hours:.0f} h)" for team, hours in short) + ".")

        line(capacity)
    return lines


SectionFn = Callable[[ReportContext], "Section | list[Section]"]


def _process_sections(ctx: ReportContext) -> list[Section]:
    return [section_process(ctx, p) for p in ctx.analysis.processes]


#: The sections in report order: key -> function (the keys are :data:`salesplan.report.config.SECTION_KEYS`).
SECTIONS: dict[str, SectionFn] = dict(zip(SECTION_KEYS, (
    section_overview, section_forecast, section_accountability, _process_sections, section_breakdowns, section_kpis,
    section_activity, section_segments, section_data_quality), strict=True))
