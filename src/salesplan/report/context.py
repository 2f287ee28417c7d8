"""Shared state of one report run: the data, the config, the reporting period and cached model results.

Each capability (segments, funnel, plan, forecast, control) is computed at most once per run and cached,
including its failure: when a capability is missing or fails, every section that needs it gets the same
exception and turns it into a warning, and the report carries on.

Examples
--------
>>> import pandas as pd
>>> from salesplan.report.context import overlap_share
>>> overlap_share(pd.Period("2025Q4", "Q"), pd.Period("2025-12", "M")) == 31 / 92
True
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan.data import SalesData
from salesplan.report.config import LAZY_TABLES, ReportConfig, open_lazy_tables
from salesplan.report.model import Chart, KeyFigure

__all__ = ["ReportContext", "CapabilityMissing", "overlap_share", "render"]

logger = logging.getLogger(__name__)

FREQ = {"month": "M", "quarter": "Q"}


class CapabilityMissing(RuntimeError):
    """A capability the report needs is not installed (yet); the section shows a warning instead."""


def overlap_share(target_period: pd.Period, period: pd.Period | tuple[pd.Timestamp, pd.Timestamp]) -> float:
    """Share of ``target_period`` (by time) inside ``period`` (a Period or a ``[start, end)`` pair)."""
    t0, t1 = target_period.start_time, (target_period + 1).start_time
    if isinstance(period, pd.Period):
        p0, p1 = period.start_time, (period + 1).start_time
    else:
        p0, p1 = period
    start, end = max(t0, p0), min(t1, p1)
    if end <= start:
        return 0.0
    return float((end - start) / (t1 - t0))


def render(plot: Callable[..., Any], title: str, caption: str = "", /, **kwargs: Any) -> Chart:
    """Call a plot function (``ax=None`` convention) and render the Figure of the Axes it returns."""
    ax = plot(**kwargs)
    if isinstance(ax, np.ndarray | list | tuple):
        ax = np.ravel(ax)[0]
    fig = ax.figure if hasattr(ax, "figure") else ax
    fig = fig.get_figure(root=True) if hasattr(fig, "get_figure") else fig
    return Chart.from_figure(fig, title=title, caption=caption)


@dataclass
class ReportContext:
    """Everything a section function may read; results of the models are cached per run."""

    data: SalesData
    config: ReportConfig
    cache: dict[str, Any] = field(default_factory=dict)
    dq_rows: list[dict[str, Any]] = field(default_factory=list)
    top_figures: list[KeyFigure] = field(default_factory=list)

    # ----------------------------------------------------------------------------------------- the period
    @property
    def as_of(self) -> pd.Timestamp:
        """The data cut (config ``report.as_of`` or the data's)."""
        if self.config.report.as_of is not None:
            return pd.Timestamp(self.config.report.as_of)
        if self.data.as_of is not None:
            return pd.Timestamp(self.data.as_of)
        return pd.Timestamp("today").normalize()

    @property
    def last_instant(self) -> pd.Timestamp:
        """The last instant covered by the data (just before the cut): the reporting period contains it."""
        return self.as_of - pd.Timedelta(seconds=1)

    @property
    def period_complete(self) -> bool:
        """Whether the data cut lies at (or after) the end of the reporting period."""
        return bool(self.as_of > self.period.end_time)

    @property
    def freq(self) -> str:
        """Pandas frequency of the reporting period (``"M"`` or ``"Q"``)."""
        return FREQ[self.config.report.period]

    @property
    def period(self) -> pd.Period:
        """The reporting period: the month (or quarter) holding the last instant before the data cut.

        A cut at midnight on the 1st reports the month that just ended; a cut mid-month reports the month to
        date (:attr:`period_complete` is then False).
        """
        return pd.Period(self.last_instant, freq=self.freq)

    @property
    def next_period(self) -> pd.Period:
        """The period after the reporting period (activities are planned for it)."""
        return self.period + 1

    @property
    def next_period_month(self) -> pd.Period:
        """The first month after the reporting period (activities needed are listed from it)."""
        return pd.Period(self.period.end_time, "M") + 1

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The forecast window ``[as_of, as_of + forecast.horizon_months)``."""
        months = int(self.config.option("forecast", "horizon_months"))
        return self.as_of, self.as_of + pd.DateOffset(months=months)

    def window_label(self) -> str:
        """``"Jan–Mar 2026"`` for a window of whole months, else the two dates."""
        start, end = self.window
        last = end - pd.Timedelta(seconds=1)
        if start == start.normalize() and start.day == 1 and end.day == 1:
            first = start.strftime("%b") if start.year == last.year else start.strftime("%b %Y")
            return first + ("" if start.month == last.month and start.year == last.year else
                            f"–{last.strftime('%b')}") + f" {last.year}"
        return f"{start:%Y-%m-%d} to {last:%Y-%m-%d}"

    def target_for_window(self) -> pd.Series:
        """Target contracts per process inside the forecast window (pro-rated)."""
        return self.target_for(self.window)

    def period_label(self, period: pd.Period | None = None) -> str:
        """``"December 2025"`` or ``"2025 Q4"``."""
        period = self.period if period is None else period
        return period.strftime("%B %Y") if period.freqstr.startswith("M") else f"{period.year} Q{period.quarter}"

    @property
    def seed(self) -> int:
        """The run's random seed."""
        return int(self.config.report.seed)

    @property
    def confidence(self) -> float:
        """Interval level of the report."""
        return float(self.config.report.confidence)

    @property
    def currency(self) -> str:
        """Currency label of amounts."""
        return self.config.report.currency

    # --------------------------------------------------------------------------------------- data helpers
    def processes(self) -> list[str]:
        """Processes to report: configured ones, else those with opportunities (in process-definition order)."""
        if "processes" not in self.cache:
            present = set(self.data.opportunities["process"].unique()) if self.data.opportunities is not None else set()
            wanted = self.config.report.processes
            names = [p for p in self.data.processes if p in present] if wanted is None else list(wanted)
            unknown = [p for p in names if p not in self.data.processes]
            if unknown:
                from salesplan.errors import ConfigError

                raise ConfigError(f"{self.config.source}: 'report.processes' names unknown process(es) {unknown}; "
                                  f"defined: {list(self.data.processes)}")
            self.cache["processes"] = names
        return list(self.cache["processes"])

    @property
    def scoped(self) -> SalesData:
        """The data limited to the reported processes (``report.processes``): opportunities, their stage events
        and activities, and the targets; customers and orders stay whole. The data itself when all are reported."""
        if "scoped" not in self.cache:
            names = self.processes()
            data = self.data
            if self.config.report.processes is None:
                self.cache["scoped"] = data
            else:
                opps = data.opportunities[data.opportunities["process"].isin(names)]
                ids = set(opps["opportunity_id"])
                events = data.stage_events
                events = events[events["opportunity_id"].isin(ids)] if events is not None else None
                acts = data.activities
                if acts is not None and "process" in acts.columns:
                    acts = acts[acts["process"].isin(names) | acts["process"].isna()]
                if acts is not None and "opportunity_id" in acts.columns:
                    acts = acts[acts["opportunity_id"].isna() | acts["opportunity_id"].isin(ids)]
                targets = data.targets[data.targets["process"].isin(names)] if data.targets is not None else None
                self.cache["scoped"] = dataclasses.replace(
                    data, opportunities=opps, stage_events=events, activities=acts, targets=targets,
                    processes={n: data.processes[n] for n in names})
        return self.cache["scoped"]

    def status(self) -> pd.DataFrame:
        """:meth:`SalesData.opportunity_status`, cached."""
        if "status" not in self.cache:
            self.cache["status"] = self.scoped.opportunity_status()
        return self.cache["status"]

    def won_in(self, period: pd.Period) -> pd.Series:
        """Contracts won per process with a close date inside ``period``."""
        st = self.status()
        won = st[(st["status"] == "won") & st["closed_at"].notna()]
        inside = (won["closed_at"] >= period.start_time) & (won["closed_at"] <= period.end_time)
        return won[inside].groupby("process").size().reindex(self.processes(), fill_value=0)

    def target_for(self, period: pd.Period | tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
        """Target contracts per process for ``period``, pro-rated by time from the targets' own periods.

        NaN for a process without any target row overlapping the period.
        """
        targets = self.data.targets
        out = pd.Series(np.nan, index=self.processes(), dtype=float)
        if targets is None or targets.empty:
            return out
        for row in targets.itertuples(index=False):
            if row.process not in out.index:
                continue
            try:
                tp = pd.Period(str(row.period))
            except (ValueError, TypeError):
                continue
            share = overlap_share(tp, period)
            if share > 0:
                out[row.process] = (0.0 if np.isnan(out[row.process]) else out[row.process]) + share * row.contracts
        return out

    def monthly_won(self, months: int = 24) -> pd.DataFrame:
        """Contracts won per month and process over the last ``months`` months up to the cut."""
        st = self.status()
        won = st[(st["status"] == "won") & st["closed_at"].notna()].copy()
        won["month"] = won["closed_at"].dt.to_period("M")
        end = pd.Period(self.last_instant, "M")
        index = pd.period_range(end - (months - 1), end, freq="M")
        table = won.groupby(["month", "process"]).size().unstack(fill_value=0)
        return table.reindex(index=index, columns=self.processes(), fill_value=0)

    # ------------------------------------------------------------------------------------- the engine
    @property
    def engine(self) -> str:
        """The engine of the heavy reductions (``[data] engine``; ``"pandas"`` by default)."""
        return self.config.data_engine

    def engine_frames(self) -> dict[str, Any]:
        """The scoped tables as native frames of :attr:`engine`, for the reductions (one engine per call).

        ``orders``, ``stage_events`` and ``activities`` are the lazily opened Parquet sources when ``[data]``
        names them (limited to the reported processes inside the engine); every other table (and a large table
        given only in memory) is the validated pandas table converted with :func:`salesplan.engines.to_engine`.
        All DuckDB frames share one connection of this run.
        """
        if "engine_frames" not in self.cache:
            from salesplan.engines import to_engine

            connection = None
            if self.engine == "duckdb":
                import duckdb

                connection = duckdb.connect()
            lazy = open_lazy_tables(self.config, connection)
            scoped = self.scoped
            frames: dict[str, Any] = {}
            for table in ("customers", "orders", "opportunities", "stage_events", "activities", "targets"):
                if table in lazy:
                    frames[table] = lazy[table]
                elif getattr(scoped, table) is not None:
                    frames[table] = to_engine(getattr(scoped, table), self.engine, connection=connection)
            if self.config.report.processes is not None:
                frames = self._scope_lazy(frames, set(lazy))
            logger.info("reductions run in %s on %s (lazy: %s)", self.engine, ", ".join(frames),
                        ", ".join(t for t in LAZY_TABLES if t in lazy) or "none")
            self.cache["engine_frames"] = (connection, frames)
        return dict(self.cache["engine_frames"][1])

    def _scope_lazy(self, frames: dict[str, Any], lazy: set[str]) -> dict[str, Any]:
        """Limit lazily opened events and activities to the reported processes (as :attr:`scoped` does)."""
        import narwhals as nw

        ids = nw.from_native(frames["opportunities"]).select("opportunity_id").with_columns(
            nw.lit(True).alias("_salesplan_keep"))
        out = dict(frames)
        if "stage_events" in lazy:
            events = nw.from_native(out["stage_events"])
            out["stage_events"] = events.join(ids.drop("_salesplan_keep"), on="opportunity_id",
                                              how="semi").to_native()
        if "activities" in lazy:
            acts = nw.from_native(out["activities"])
            names = acts.collect_schema().names()
            if "process" in names:
                acts = acts.filter(nw.col("process").is_in(self.processes()) | nw.col("process").is_null())
            if "opportunity_id" in names:
                acts = acts.join(ids, on="opportunity_id", how="left").filter(
                    nw.col("opportunity_id").is_null() | ~nw.col("_salesplan_keep").is_null()
                ).drop("_salesplan_keep")
            out["activities"] = acts.to_native()
        return out

    # ------------------------------------------------------------------------------------- capabilities
    def get(self, name: str, compute: Callable[[], Any]) -> Any:
        """Compute a capability once; a failure is cached too and re-raised to every caller."""
        if name not in self.cache:
            try:
                self.cache[name] = ("ok", compute())
            except Exception as exc:  # noqa: BLE001 - every failure becomes a report warning
                logger.debug("capability %s failed", name, exc_info=True)
                self.cache[name] = ("error", exc)
        state, value = self.cache[name]
        if state == "error":
            raise value
        return value

    def headline(self, figure: KeyFigure) -> KeyFigure:
        """Put a key figure at the top of the report (and into summary.json's key figures)."""
        self.top_figures.append(figure)
        return figure

    def funnel(self) -> Any:
        """Stage conversion with intervals (:func:`salesplan.funnel.estimate`), open deals censored."""

        def compute() -> Any:
            mod = require("salesplan.funnel")
            by = list(self.config.option("funnel", "by")) or None
            if self.engine == "pandas":
                return mod.estimate(self.scoped, by=by, as_of=self.as_of, confidence=self.confidence)
            frames = self.engine_frames()
            used = set(self.scoped.opportunities["process"].unique())
            procs = {k: v for k, v in self.scoped.processes.items() if k in used} or dict(self.scoped.processes)
            return mod.estimate(frames["stage_events"], procs, frames["opportunities"], by=by, as_of=self.as_of,
                                confidence=self.confidence, customers=frames.get("customers"),
                                activities=frames.get("activities"))

        return self.get("funnel", compute)

    def plan(self) -> Any:
        """Backward plan from every target of the reported processes (:func:`salesplan.plan.backward`)."""

        def compute() -> Any:
            mod = require("salesplan.plan")
            targets = self.scoped.targets
            if targets is None or targets.empty:
                raise CapabilityMissing("no targets for the reported processes: nothing to plan against")
            return mod.backward(targets, self.funnel(), confidence=float(self.config.option("plan", "confidence")),
                                processes=self.scoped.processes)

        return self.get("plan", compute)

    def schedule(self) -> pd.DataFrame:
        """The plan's entries and activities per month (:meth:`Plan.schedule`)."""
        return self.get("schedule", lambda: self.plan().schedule("M"))

    def capacity(self) -> Any:
        """Hours the plan needs per team (one team per process) and month against the hours available."""

        def compute() -> Any:
            reps = dict(self.config.option("capacity", "reps"))
            if not reps:
                raise CapabilityMissing("no [capacity] reps configured: capacity is not checked")
            procs = [p for p in self.processes() if p in reps]
            teams = pd.DataFrame({"team": [f"{p} team" for p in procs], "process": procs,
                                  "people": [reps[p] for p in procs],
                                  "hours": float(self.config.option("capacity", "hours_per_rep"))})
            hours = dict(self.config.option("capacity", "hours_per_activity"))
            schedule = self.schedule()
            return self.plan().capacity(teams, hours, freq="M") if len(schedule) else None

        return self.get("capacity", compute)

    def forecast(self) -> Any:
        """Contracts won in the forecast window from the open pipeline and new opportunities."""

        def compute() -> Any:
            mod = require("salesplan.forecast")
            months = int(self.config.option("forecast", "horizon_months"))
            return mod.pipeline(self.scoped, self.funnel(), as_of=self.as_of, horizon=pd.DateOffset(months=months),
                                freq="M", level=self.confidence, seed=self.seed)

        return self.get("forecast", compute)

    def started_plan_periods(self) -> list[str]:
        """Target periods of the plan that have started by the data cut (the ones plan and actual compare)."""
        periods = dict.fromkeys(str(p) for p in self.plan().volumes["period"])
        return [p for p in periods if pd.Period(p).start_time <= self.last_instant]

    def plan_vs_actual(self) -> pd.DataFrame:
        """:func:`salesplan.control.plan_vs_actual` for the plan periods started by the cut."""
        return self.get("plan_vs_actual", lambda: require("salesplan.control").plan_vs_actual(
            self.plan(), self.scoped, periods=self.started_plan_periods(), as_of=self.as_of))

    def variance(self) -> Any:
        """:func:`salesplan.control.variance`: the contract gap split into volume, conversion and timing."""
        return self.get("variance", lambda: require("salesplan.control").variance(
            self.plan(), self.scoped, periods=self.started_plan_periods(), as_of=self.as_of))

    def kpis(self) -> pd.DataFrame:
        """:func:`salesplan.control.kpis` per process and reporting period."""

        def compute() -> pd.DataFrame:
            mod = require("salesplan.control")
            try:
                plan = self.plan()
            except Exception:  # noqa: BLE001 - KPIs work without a plan (no activity attainment)
                plan = None
            return mod.kpis(self.scoped, freq=self.freq, funnel=self.funnel(), plan=plan, as_of=self.as_of)

        return self.get("kpis", compute)

    def segments(self) -> pd.DataFrame:
        """:func:`salesplan.segment.customer_segments`: value, RFM, CLV, wallet per customer."""

        def compute() -> pd.DataFrame:
            mod = require("salesplan.segment")
            if self.data.orders is None:
                raise CapabilityMissing("no orders table: customer value cannot be measured")
            orders = self.data.orders if self.engine == "pandas" else self.engine_frames()["orders"]
            return mod.customer_segments(orders, self.data.customers, as_of=self.as_of,
                                         value=str(self.config.option("segments", "value")),
                                         thresholds=tuple(self.config.option("segments", "abc")))

        return self.get("segments", compute)

    def add_quality(self, section: str, severity: str, message: str, table: str = "", rows: Any = None) -> None:
        """Add a row to the data-quality table."""
        self.dq_rows.append({"section": section, "severity": severity, "table": table,
                             "rows": None if rows is None else int(rows), "message": message})


def require(module: str) -> Any:
    """Import a salesplan capability or raise :class:`CapabilityMissing` naming it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CapabilityMissing(f"{module} is not available in this installation ({exc})") from None
