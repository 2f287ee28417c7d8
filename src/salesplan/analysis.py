"""One object that owns every figure of a reporting run: ``Analysis(data, settings)``.

A notebook user and the control report read the same attributes, so a figure in the PDF is one attribute away
from the code that computes it. Each attribute is computed on first use and cached (:func:`functools.cached_property`);
each docstring says how the figure is defined. The models come from the library (funnel, plan, forecast, control,
segment); this module only wires them to one data cut, one reporting period and one set of options
(:class:`AnalysisSettings`).

Examples
--------
>>> from salesplan import Analysis, AnalysisSettings
>>> from salesplan.datasets import load_example
>>> a = Analysis(load_example(), AnalysisSettings(processes=("retention",)))
>>> str(a.period), a.period_complete
('2025-12', True)
>>> row = a.attainment.iloc[0]
>>> row["process"], int(row["won_quarter"]) == int(a.wins_between(*a.windows["quarter"])["retention"])
('retention', True)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from salesplan._validation import check_freq, check_horizon, check_probability, horizon_periods
from salesplan.control import kpis as control_kpis
from salesplan.control import pipeline_movement, plan_vs_actual, variance
from salesplan.control.attainment import (
    attainment_status,
    attainment_table,
    chance_of_target,
    coverage_at_cut,
    target_between,
    wins_between,
)
from salesplan.control.plan_vs_actual import plan_actual_summary
from salesplan.data import SalesData
from salesplan.engines import to_engine
from salesplan.errors import ConfigError, SalesplanError
from salesplan.forecast import SeriesForecaster, backtest, pipeline
from salesplan.funnel import estimate
from salesplan.parse import to_naive_utc
from salesplan.plan import backward
from salesplan.reduce.orders import order_revenue
from salesplan.reduce.states import activity_counts, distinct
from salesplan.segment import (
    abc_classes,
    abc_summary,
    assign_processes,
    assignment_summary,
    customer_segments,
    portfolio_matrix,
)

__all__ = ["Analysis", "AnalysisSettings", "FigureUnavailable", "PERIODS", "ENGINES"]

logger = logging.getLogger(__name__)

#: Reporting period lengths (``freq``): month or quarter.
PERIODS = ("M", "Q")
#: Engines of the heavy reductions.
ENGINES = ("pandas", "duckdb", "polars", "spark")


class FigureUnavailable(SalesplanError):
    """A figure cannot be computed from this data and these settings (no targets, no orders, no teams, ...)."""


@dataclass(frozen=True)
class AnalysisSettings:
    """The options of an :class:`Analysis` (the report configuration's ``[report]``, ``[funnel]``, ``[plan]``,
    ``[forecast]``, ``[segments]``, ``[capacity]`` and ``[costs]`` tables are parsed into one of these).

    Attributes
    ----------
    as_of : Timestamp, optional
        The data cut; default the data's (``SalesData.as_of``). Nothing after it is known.
    freq : {"M", "Q"}
        Length of the reporting period (month or quarter): the one holding the last instant before the cut.
    confidence : float
        Interval level of every interval (funnel rates, forecasts), in (0, 1).
    target_probability : float
        The chance of reaching a target the plan is sized for (its ``required`` volumes), in (0, 1).
    horizon : DateOffset, Timedelta or str
        How far the pipeline forecast looks ahead of the cut: the window ``[as_of, as_of + horizon)``
        (default three months; a string is tried as an offset first, ``"3MS"``, then as a timedelta, ``"90D"``).
    plan_horizon : str, DateOffset or Timedelta
        How far after the reporting period the activities needed are listed (``"1MS"``: the next month; the
        months that start within it).
    processes : tuple of str, optional
        Processes to report (default: every process with opportunities).
    by : tuple of str
        Group columns of the funnel (rates, plan and forecast are then split by them).
    teams : mapping of process to int
        Reps per process (one team per process, named ``"<process> team"``); empty: capacity is not checked.
    hours_per_rep : float
        Selling hours per rep and month.
    hours_per_activity : mapping of kind to float
        Hours one activity of a kind takes.
    cost_per_activity : mapping of kind to float
        Cost of one activity of a kind (the plan's activity cost).
    segment_value : {"clv", "revenue"}
        The customer value the ABC classes rank: 12-month lifetime value or past net revenue.
    abc : tuple of two floats
        Cumulative value shares that close classes A and B.
    backtest : bool
        Whether to backtest the monthly trend forecast.
    seed : int
        Seed of every random step (simulations): same data and seed, same figures.
    engine : {"pandas", "duckdb", "polars", "spark"}
        Engine of the heavy reductions (funnel, customer summary, activity ratios).
    currency : str
        Label of amounts.

    Examples
    --------
    >>> s = AnalysisSettings(freq="Q", horizon="90D", teams={"retention": 2})
    >>> s.freq, s.horizon, dict(s.teams)
    ('Q', <90 * Days>, {'retention': 2})
    >>> AnalysisSettings(confidence=1.5)
    Traceback (most recent call last):
    ...
    salesplan.errors.ParameterError: confidence must be a probability strictly between 0 and 1, got 1.5
    """

    as_of: pd.Timestamp | None = None
    freq: str = "M"
    confidence: float = 0.9
    target_probability: float = 0.8
    horizon: Any = field(default_factory=lambda: pd.DateOffset(months=3))
    plan_horizon: Any = "1MS"
    processes: tuple[str, ...] | None = None
    by: tuple[str, ...] = ()
    teams: Mapping[str, int] = field(default_factory=dict)
    hours_per_rep: float = 120.0
    hours_per_activity: Mapping[str, float] = field(
        default_factory=lambda: {"calls": 0.25, "visits": 2.0, "offers": 3.0})
    cost_per_activity: Mapping[str, float] = field(
        default_factory=lambda: {"calls": 20.0, "visits": 150.0, "offers": 300.0})
    segment_value: str = "clv"
    abc: tuple[float, float] = (0.8, 0.95)
    backtest: bool = True
    seed: int = 0
    engine: str = "pandas"
    currency: str = "EUR"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("confidence", "target_probability"):
            check_probability(getattr(self, name), name)
        set_(self, "freq", check_freq(self.freq, "freq", PERIODS))
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {list(ENGINES)}, got {self.engine!r}")
        if self.segment_value not in ("clv", "revenue"):
            raise ConfigError(f"segment_value must be 'clv' or 'revenue', got {self.segment_value!r}")
        if len(self.abc) != 2 or not 0 < self.abc[0] < self.abc[1] < 1:
            raise ConfigError(f"abc must be two increasing shares in (0, 1), got {self.abc}")
        set_(self, "horizon", check_horizon(self.horizon))
        set_(self, "plan_horizon", check_horizon(self.plan_horizon, "plan_horizon"))
        set_(self, "as_of", None if self.as_of is None else to_naive_utc(self.as_of))
        set_(self, "processes", None if self.processes is None else tuple(self.processes))
        set_(self, "by", tuple(self.by))
        set_(self, "abc", tuple(float(x) for x in self.abc))
        for name in ("teams", "hours_per_activity", "cost_per_activity"):
            set_(self, name, MappingProxyType(dict(getattr(self, name))))

class Analysis:
    """Every figure of one data cut and reporting period, computed lazily and cached.

    Parameters
    ----------
    data : SalesData
        Validated tables.
    settings : AnalysisSettings, optional
        Options (default :class:`AnalysisSettings()`).
    lazy_tables : callable, optional
        ``lazy_tables(connection) -> {table: native lazy frame}``: large tables opened lazily in
        ``settings.engine`` (the report passes its Parquet sources); the others are converted from ``data``.

    Notes
    -----
    A figure that cannot be computed raises when it is read: :class:`FigureUnavailable` when the data or the
    settings lack what it needs (no targets, no orders, no teams), the model's own error otherwise.

    Examples
    --------
    >>> from salesplan.datasets import load_example
    >>> a = Analysis(load_example(), AnalysisSettings(processes=("retention",), seed=1))
    >>> a.processes, a.window_label()
    (['retention'], 'Jan–Mar 2026')
    """

    def __init__(self, data: SalesData, settings: AnalysisSettings | None = None, *,
                 lazy_tables: Callable[[Any], Mapping[str, Any]] | None = None) -> None:
        self.data = data
        self.settings = settings if settings is not None else AnalysisSettings()
        self._lazy_tables = lazy_tables

    def __repr__(self) -> str:
        return f"Analysis(period={self.period}, as_of={self.as_of}, processes={self.processes})"

    # ------------------------------------------------------------------------------------------ the period
    @cached_property
    def as_of(self) -> pd.Timestamp:
        """The data cut: ``settings.as_of``, else the data's, else today."""
        if self.settings.as_of is not None:
            return pd.Timestamp(self.settings.as_of)
        if self.data.as_of is not None:
            return pd.Timestamp(self.data.as_of)
        return pd.Timestamp("today").normalize()

    @property
    def last_instant(self) -> pd.Timestamp:
        """The last instant known (one second before the cut); the reporting period contains it."""
        return self.as_of - pd.Timedelta(seconds=1)

    @property
    def freq(self) -> str:
        """Pandas frequency of the reporting period."""
        return self.settings.freq

    @property
    def period(self) -> pd.Period:
        """The reporting period: the month (or quarter) holding :attr:`last_instant`.

        A cut at midnight on the 1st reports the month that just ended; a cut mid-month the month to date.
        """
        return pd.Period(self.last_instant, freq=self.freq)

    @property
    def period_complete(self) -> bool:
        """Whether the cut lies at or after the end of the reporting period."""
        return bool(self.as_of > self.period.end_time)

    @property
    def quarter(self) -> pd.Period:
        """The quarter holding :attr:`last_instant`."""
        return pd.Period(self.last_instant, "Q")

    @property
    def year(self) -> pd.Period:
        """The year holding :attr:`last_instant`."""
        return pd.Period(self.last_instant, "Y")

    @property
    def next_month(self) -> pd.Period:
        """The first month after the reporting period (activities needed are listed from it)."""
        return pd.Period(self.period.end_time, "M") + 1

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The forecast window ``[as_of, as_of + settings.horizon)``."""
        return self.as_of, self.as_of + self.settings.horizon

    @property
    def windows(self) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        """``period``, ``quarter`` and ``year`` to date as ``[start, end)`` (the end is the end of the period,
        so targets are those of the whole period while wins count up to the cut).
        """
        return {name: (p.start_time, (p + 1).start_time)
                for name, p in (("period", self.period), ("quarter", self.quarter), ("year", self.year))}

    def period_label(self, period: pd.Period | None = None) -> str:
        """``"December 2025"`` or ``"2025 Q4"`` (default the reporting period)."""
        period = self.period if period is None else period
        if period.freqstr.startswith("M"):
            return period.strftime("%B %Y")
        if period.freqstr.startswith("Q"):
            return f"{period.year} Q{period.quarter}"
        return str(period)

    def window_label(self) -> str:
        """``"Jan–Mar 2026"`` for a window of whole months, else the two dates."""
        start, end = self.window
        last = end - pd.Timedelta(seconds=1)
        if start == start.normalize() and start.day == 1 and end.day == 1 and end == end.normalize():
            first = start.strftime("%b") if start.year == last.year else start.strftime("%b %Y")
            same = start.month == last.month and start.year == last.year
            return first + ("" if same else f"–{last.strftime('%b')}") + f" {last.year}"
        return f"{start:%Y-%m-%d} to {last:%Y-%m-%d}"

    @property
    def window_months(self) -> list[str]:
        """The months the forecast window touches (``"2026-01"`` ...)."""
        start, end = self.window
        return [str(p) for p in pd.period_range(pd.Period(start, "M"), pd.Period(end - pd.Timedelta(seconds=1),
                                                                                   "M"), freq="M")]

    # ----------------------------------------------------------------------------------------- the scope
    @cached_property
    def processes(self) -> list[str]:
        """Processes reported: ``settings.processes``, else those with opportunities (in definition order).

        Raises :class:`salesplan.ConfigError` for a name that the data's processes do not define.
        """
        wanted = self.settings.processes
        if wanted is None:
            present = set(self.data.opportunities["process"].unique()) if self.data.opportunities is not None \
                else set()
            return [p for p in self.data.processes if p in present]
        unknown = [p for p in wanted if p not in self.data.processes]
        if unknown:
            raise ConfigError(f"'processes' names unknown process(es) {unknown}; defined: {list(self.data.processes)}")
        return list(wanted)

    @cached_property
    def scoped(self) -> SalesData:
        """The data limited to :attr:`processes`: their opportunities, stage events, activities and targets
        (customers and orders stay whole). The data itself when every process is reported.
        """
        data = self.data
        if self.settings.processes is None:
            return data
        names = self.processes
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
        history = data.opportunity_history
        history = history[history["opportunity_id"].isin(ids)] if history is not None else None
        return dataclasses.replace(data, opportunities=opps, stage_events=events, activities=acts, targets=targets,
                                   opportunity_history=history, processes={n: data.processes[n] for n in names})

    @cached_property
    def engine_frames(self) -> dict[str, Any]:
        """The scoped tables as native frames of ``settings.engine`` for the heavy reductions.

        Lazily opened tables (``lazy_tables``) are used as they are (limited to the reported processes inside the
        engine); every other table is converted with :func:`salesplan.engines.to_engine`. DuckDB frames share
        one connection.
        """
        engine = self.settings.engine
        connection = None
        if engine == "duckdb":
            import duckdb

            connection = duckdb.connect()
        lazy = dict(self._lazy_tables(connection)) if self._lazy_tables is not None else {}
        frames: dict[str, Any] = {}
        for table in ("customers", "orders", "opportunities", "stage_events", "activities", "targets"):
            if table in lazy:
                frames[table] = lazy[table]
            elif getattr(self.scoped, table) is not None:
                frames[table] = to_engine(getattr(self.scoped, table), engine, connection=connection)
        if self.settings.processes is not None:
            frames = self._scope_lazy(frames, set(lazy))
        logger.info("reductions run in %s on %s (lazy: %s)", engine, ", ".join(frames), ", ".join(lazy) or "none")
        self._connection = connection
        return frames

    def _scope_lazy(self, frames: dict[str, Any], lazy: set[str]) -> dict[str, Any]:
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
                acts = acts.filter(nw.col("process").is_in(self.processes) | nw.col("process").is_null())
            if "opportunity_id" in names:
                acts = acts.join(ids, on="opportunity_id", how="left").filter(
                    nw.col("opportunity_id").is_null() | ~nw.col("_salesplan_keep").is_null()
                ).drop("_salesplan_keep")
            out["activities"] = acts.to_native()
        return out

    # ------------------------------------------------------------------------------------- deal states
    @cached_property
    def states(self) -> pd.DataFrame:
        """Every reported deal's state at the cut (:meth:`SalesData.opportunity_status` at :attr:`as_of`)."""
        return self.scoped.opportunity_status(as_of=self.as_of)

    @cached_property
    def status_counts(self) -> pd.DataFrame:
        """Open, won, lost and total deals per reported process at the cut (index ``process``)."""
        return _status_table(self.states, self.processes)

    @cached_property
    def data_status_counts(self) -> pd.DataFrame:
        """Open, won, lost and total deals of every process in the data at the cut (the data-quality table)."""
        if self.settings.processes is None:
            return self.status_counts
        states = self.data.opportunity_status(as_of=self.as_of)
        return _status_table(states, [p for p in self.data.processes if p in set(states["process"])])

    @property
    def open_opportunities(self) -> int:
        """Deals open at the cut, all reported processes."""
        return int(self.status_counts["open"].sum())

    def wins_between(self, start: Any, end: Any) -> pd.Series:
        """Deals won per process with their close in ``[start, end)``
        (:func:`salesplan.control.attainment.wins_between`).
        """
        return wins_between(self.states, start, end, self.processes)

    def target_between(self, start: Any, end: Any) -> pd.Series:
        """Target contracts per process in ``[start, end)``, pro-rated by time
        (:func:`salesplan.control.attainment.target_between`, the one pro-rating of salesplan).
        """
        return target_between(self.scoped.targets, start, end, self.processes)

    @cached_property
    def attainment(self) -> pd.DataFrame:
        """Contracts won against target per process for the period, the quarter and the year to date.

        ``won_*`` counts wins closed from the start of the window up to the cut; ``target_*`` is the target of
        the whole window pro-rated by time; ``attainment_* = won_* / target_*``
        (:func:`salesplan.control.attainment.attainment_table`).
        """
        return attainment_table(self.states, self.scoped.targets, self.windows, self.processes)

    def attainment_status(self, process: str, window: str = "quarter") -> str:
        """Traffic light of a process's attainment in a window (``good`` >= 95%, ``warn`` >= 80%, else ``bad``)."""
        row = self.attainment.set_index("process").loc[process]
        return attainment_status(float(row[f"attainment_{window}"]))

    @property
    def won_period_total(self) -> int:
        """Contracts won in the reporting period, all reported processes."""
        return int(self.attainment["won_period"].sum())

    @property
    def target_period_total(self) -> float:
        """Target of the reporting period (pro-rated), all reported processes with a target."""
        return float(np.nansum(self.attainment["target_period"].to_numpy()))

    @cached_property
    def quarter_met(self) -> list[str]:
        """Processes with a quarter target whose quarter-to-date wins reach it."""
        att = self.attainment
        with_target = att[att["target_quarter"] > 0]
        return with_target.loc[with_target["won_quarter"] >= with_target["target_quarter"], "process"].tolist()

    @cached_property
    def quarter_with_target(self) -> list[str]:
        """Processes with a positive quarter target."""
        return self.attainment.loc[self.attainment["target_quarter"] > 0, "process"].tolist()

    @cached_property
    def quarter_furthest_behind(self) -> tuple[str, float] | None:
        """The process with the lowest quarter attainment among those below target, and that attainment."""
        att = self.attainment
        behind = att[(att["target_quarter"] > 0) & (att["won_quarter"] < att["target_quarter"])]
        if behind.empty:
            return None
        worst = behind.sort_values("attainment_quarter", kind="stable").iloc[0]
        return str(worst["process"]), float(worst["attainment_quarter"])

    # --------------------------------------------------------------------------------- monthly series
    def _months(self, months: int) -> pd.PeriodIndex:
        end = pd.Period(self.last_instant, "M")
        return pd.period_range(end - (months - 1), end, freq="M")

    def won_per_month(self, months: int = 24) -> pd.DataFrame:
        """Contracts won per month (rows, the last ``months`` up to the cut) and process (columns)."""
        won = self.states[self.states["status"] == "won"]
        table = won.groupby([won["closed_at"].dt.to_period("M").rename("month"), "process"]).size().unstack(
            fill_value=0)
        return table.reindex(index=self._months(months), columns=self.processes, fill_value=0)

    def won_per_month_total(self, months: int = 36) -> pd.Series:
        """Contracts won per month, all reported processes (the series of the trend forecast)."""
        return self.won_per_month(months).sum(axis=1).astype(float)

    @cached_property
    def created_per_month(self) -> pd.DataFrame:
        """Opportunities created per month (last 24 months) and process."""
        st = self.states
        table = st.groupby([st["created_at"].dt.to_period("M").rename("month"), "process"]).size().unstack(
            fill_value=0)
        return table.reindex(index=self._months(24), columns=self.processes, fill_value=0)

    def _activity_counts(self) -> pd.DataFrame:
        acts = self.scoped.activities
        if acts is None or acts.empty:
            raise FigureUnavailable("no activities table; activity volumes and ratios are not measured")
        return activity_counts(acts, self.scoped.opportunities, freq="M", as_of=self.as_of)

    @cached_property
    def activities_per_month(self) -> pd.DataFrame:
        """Activities logged per month (last 24 months) and kind."""
        counts = self._activity_counts()
        table = counts.pivot_table(index="period", columns="kind", values="count", aggfunc="sum", fill_value=0)
        table.index = pd.PeriodIndex(table.index, freq="M")
        return table.reindex(self._months(24), fill_value=0).rename_axis(index=None, columns=None)

    @cached_property
    def activities_in_period(self) -> pd.DataFrame:
        """Activities in the reporting period per process (rows) and kind (columns)."""
        acts = self.scoped.activities
        if acts is None or acts.empty:
            raise FigureUnavailable("no activities table; activity volumes and ratios are not measured")
        freq = self.freq
        counts = activity_counts(acts, self.scoped.opportunities, freq=freq, as_of=self.as_of)
        label = _label(self.period)
        mine = counts[counts["period"] == label]
        table = mine.pivot_table(index="process", columns="kind", values="count", aggfunc="sum", fill_value=0)
        return table.rename_axis(columns=None).reset_index()

    @property
    def activities_in_period_total(self) -> int:
        """Activities logged in the reporting period, all reported processes."""
        table = self.activities_in_period
        return int(table.drop(columns="process").to_numpy().sum())

    def _orders(self) -> pd.DataFrame:
        if self.data.orders is None or self.data.orders.empty:
            raise FigureUnavailable("no orders table")
        return order_revenue(self.data.orders, freq="M", as_of=self.as_of)

    @cached_property
    def revenue_per_month(self) -> pd.DataFrame:
        """Net order revenue (returns included as negative lines) per month, last 24 months; one column named
        ``revenue (<currency>)``.
        """
        rev = self._orders()
        series = pd.Series(rev["amount"].to_numpy(), index=pd.PeriodIndex(rev["period"], freq="M"))
        return series.reindex(self._months(24), fill_value=0.0).to_frame(f"revenue ({self.settings.currency})")

    @cached_property
    def revenue_in_period(self) -> float:
        """Net order revenue of the reporting period."""
        if self.data.orders is None or self.data.orders.empty:
            raise FigureUnavailable("no orders table")
        rev = order_revenue(self.data.orders, freq=self.freq, as_of=self.as_of)
        return float(rev.loc[rev["period"] == _label(self.period), "amount"].sum())

    # ------------------------------------------------------------------------------------------ models
    @cached_property
    def funnel(self) -> Any:
        """Stage conversion with intervals at ``settings.confidence`` (:func:`salesplan.funnel.estimate`), open
        deals censored at the cut.
        """
        by = list(self.settings.by) or None
        if self.settings.engine == "pandas":
            return estimate(self.scoped, by=by, as_of=self.as_of, confidence=self.settings.confidence)
        frames = self.engine_frames
        used = set(distinct(frames["opportunities"], "process", "opportunities"))
        procs = {k: v for k, v in self.scoped.processes.items() if k in used} or dict(self.scoped.processes)
        return estimate(frames["stage_events"], procs, frames["opportunities"], by=by, as_of=self.as_of,
                        confidence=self.settings.confidence, customers=frames.get("customers"),
                        activities=frames.get("activities"))

    def conversion(self, process: str) -> pd.DataFrame:
        """The funnel's per-stage table of a process: entries, advances, losses, open, the stage rate with its
        interval, the closed-only rate, and the win rate from each stage with its interval.
        """
        rates = self.funnel.rates[self.funnel.rates["process"] == process]
        win = self.funnel.win_rate[self.funnel.win_rate["process"] == process]
        cols = [c for c in ("stage", "next_stage", "entered", "advanced", "lost", "open", "rate", "rate_low",
                            "rate_high", "closed_only_rate") if c in rates.columns]
        table = rates[cols].merge(win[["stage", "win_rate", "win_rate_low", "win_rate_high"]], on="stage",
                                  how="left")
        return table.reset_index(drop=True)

    def first_stage_win_rate(self, process: str) -> pd.Series | None:
        """The win rate from the process's first stage (``win_rate``, ``win_rate_low``, ``win_rate_high``), or
        None when the funnel is split by groups.
        """
        win = self.funnel.win_rate
        first = win[(win["process"] == process) & (win["stage"] == self.data.processes[process].stages[0])]
        return first.iloc[0] if len(first) == 1 else None

    @cached_property
    def plan(self) -> Any:
        """The backward plan from every target of the reported processes (:func:`salesplan.plan.backward`),
        sized to reach each target with probability ``settings.target_probability``.
        """
        targets = self.scoped.targets
        if targets is None or targets.empty:
            raise FigureUnavailable("no targets for the reported processes: nothing to plan against")
        return backward(targets, self.funnel, target_probability=self.settings.target_probability,
                        processes=self.scoped.processes)

    @cached_property
    def schedule(self) -> pd.DataFrame:
        """The plan's entries and activities per month (:meth:`Plan.schedule`)."""
        return self.plan.schedule("M")

    @cached_property
    def plan_cost(self) -> pd.DataFrame:
        """Activity cost of the plan per process at ``settings.cost_per_activity``
        (:meth:`Plan.cost`, all target periods).
        """
        return self.plan.cost(dict(self.settings.cost_per_activity), by="process")

    @cached_property
    def plan_period_range(self) -> tuple[str, str]:
        """First and last target period of the plan."""
        periods = sorted(str(p) for p in self.plan.volumes["period"].unique())
        return periods[0], periods[-1]

    @cached_property
    def capacity(self) -> Any:
        """Hours the plan needs per team and month against the hours available (:meth:`Plan.capacity`).

        One team per process in ``settings.teams`` with that many reps at ``settings.hours_per_rep`` hours.
        """
        reps = dict(self.settings.teams)
        if not reps:
            raise FigureUnavailable("no teams configured ([capacity] reps): capacity is not checked")
        procs = [p for p in self.processes if p in reps]
        teams = pd.DataFrame({"team": [f"{p} team" for p in procs], "process": procs,
                              "people": [reps[p] for p in procs], "hours": float(self.settings.hours_per_rep)})
        if self.schedule.empty:
            raise FigureUnavailable("the plan schedules nothing: capacity is not checked")
        return self.plan.capacity(teams, dict(self.settings.hours_per_activity), freq="M")

    def capacity_next_month(self, process: str) -> pd.Series | None:
        """The capacity row of a process's team in :attr:`next_month` (``required_hours``, ``available_hours``,
        ``utilisation``, ``feasible``), or None when the plan has no hours for it.
        """
        table = self.capacity.table
        row = table[(table["team"] == f"{process} team") & (table["period"] == str(self.next_month))]
        return row.iloc[0] if len(row) else None

    @cached_property
    def capacity_next(self) -> pd.DataFrame:
        """Every team's capacity row in :attr:`next_month` with ``shortfall_hours`` (hours needed beyond those
        available; 0 when feasible).
        """
        table = self.capacity.table
        nxt = table[table["period"] == str(self.next_month)].reset_index(drop=True)
        return nxt.assign(shortfall_hours=(nxt["required_hours"] - nxt["available_hours"]).clip(lower=0.0))

    @property
    def capacity_short_next(self) -> list[tuple[str, float]]:
        """Teams short of hours in :attr:`next_month` with their shortfall in hours."""
        nxt = self.capacity_next
        short = nxt[~nxt["feasible"].astype(bool)]
        return [(str(t), float(h)) for t, h in zip(short["team"], short["shortfall_hours"], strict=True)]

    @property
    def capacity_max_use_next(self) -> float:
        """The highest utilisation of any team in :attr:`next_month` (NaN when no team has hours then)."""
        nxt = self.capacity_next
        return float(nxt["utilisation"].max()) if len(nxt) else float("nan")

    @property
    def plan_months(self) -> list[str]:
        """The months the activities needed are listed for (those starting within ``settings.plan_horizon`` after the
        reporting period).
        """
        n = horizon_periods(self.next_month - 1, self.settings.plan_horizon, "plan_horizon")
        return [str(self.next_month + i) for i in range(max(n, 1))]

    def activities_needed(self, process: str) -> pd.DataFrame:
        """New opportunities (entries into the first stage) and activities the plan needs in :attr:`plan_months`:
        ``item, expected`` and ``required`` (enough to reach the target with ``settings.target_probability``).
        """
        sched = self.schedule
        mine = sched[(sched["process"] == process) & sched["period"].astype(str).isin(self.plan_months)]
        if mine.empty:
            raise FigureUnavailable(f"the plan schedules nothing for {process} in {', '.join(self.plan_months)} "
                                    "(no target ahead?)")
        entries = mine[mine["item"] == "entries"].groupby("stage", sort=False)[["expected", "required"]].sum()
        stages = [s for s in self.data.processes[process].stages if s in entries.index]
        acts = mine[mine["item"] != "entries"].groupby("item")[["expected", "required"]].sum().reset_index()
        first = pd.DataFrame({"item": [f"new opportunities ({stages[0]})"] if stages else [],
                              "expected": [float(entries.loc[stages[0], "expected"])] if stages else [],
                              "required": [float(entries.loc[stages[0], "required"])] if stages else []})
        return pd.concat([first, acts], ignore_index=True)

    def entries_needed(self, process: str) -> tuple[float, float] | None:
        """New opportunities needed in :attr:`plan_months`: (required rounded up to whole deals, expected)."""
        table = self.activities_needed(process)
        first = table[table["item"].str.startswith("new opportunities")]
        if first.empty:
            return None
        return float(np.ceil(first["required"].iloc[0])), float(first["expected"].iloc[0])

    def plan_chart_period(self, process: str) -> Any:
        """The plan period whose reverse funnel the report draws: the first target period of the process that
        ends on or after :attr:`next_month` starts.
        """
        vol = self.plan.volumes
        periods = dict.fromkeys(vol.loc[vol["process"] == process, "period"])
        return next((p for p in periods if pd.Period(str(p)).end_time >= self.next_month.start_time), None)

    # ---------------------------------------------------------------------------------------- forecast
    @cached_property
    def forecast(self) -> Any:
        """Contracts won in the forecast window from the open pipeline and new opportunities
        (:func:`salesplan.forecast.pipeline`, intervals at ``settings.confidence``, seeded).
        """
        return pipeline(self.scoped, self.funnel, as_of=self.as_of, horizon=self.settings.horizon, freq="M",
                        confidence=self.settings.confidence, seed=self.settings.seed)

    @cached_property
    def target_window(self) -> pd.Series:
        """Target contracts per process inside the forecast window, pro-rated by time."""
        return self.target_between(*self.window)

    @cached_property
    def forecast_table(self) -> pd.DataFrame:
        """The forecast per component, process and month of the window plus ``"(window)"`` rows
        (:meth:`PipelineForecast.summary`, months after the window dropped).
        """
        table = self.forecast.summary()
        return table[(table["period"] == "(window)") | table["period"].astype(str).isin(self.window_months)] \
            .reset_index(drop=True)

    @cached_property
    def forecast_window(self) -> pd.DataFrame:
        """The ``"(window)"`` rows of :attr:`forecast_table` with the window target of each process."""
        table = self.forecast_table
        window = table[table["period"] == "(window)"].drop(columns=["period", "level"], errors="ignore")
        return window.merge(self.target_window.rename("target"), left_on="process", right_index=True,
                            how="left").reset_index(drop=True)

    @cached_property
    def forecast_by_process(self) -> pd.DataFrame:
        """Expected contracts in the window per process (component ``total``) with the window target."""
        w = self.forecast_window
        return w[(w["component"] == "total") & (w["process"] != "(all)")].reset_index(drop=True)

    def forecast_row(self, process: str = "(all)") -> pd.Series:
        """Expected contracts in the window (``contracts``, ``contracts_low``, ``contracts_high``, ``revenue``)
        of one process or ``"(all)"``.
        """
        w = self.forecast_window
        return w[(w["component"] == "total") & (w["process"] == process)].iloc[0]

    @property
    def forecast_target(self) -> float:
        """The target of the forecast window, all reported processes (pro-rated by time)."""
        return float(np.nansum(self.target_window.to_numpy()))

    @property
    def forecast_target_whole(self) -> float:
        """:attr:`forecast_target` rounded up to whole contracts (what "reaching the target" means)."""
        return float(np.ceil(self.forecast_target - 1e-9))

    @cached_property
    def chance_of_target(self) -> float:
        """``P(contracts >= ceil(target))`` of the window target, all processes, from the forecast's simulated
        distribution (NaN without a target).
        """
        return chance_of_target(self.forecast.distribution(component="total"), self.forecast_target)

    def forecast_status(self, process: str = "(all)") -> str:
        """``good`` when the interval's low end reaches the window target, ``bad`` when its high end misses it,
        else ``warn`` ("" without a target).
        """
        row = self.forecast_row(process)
        target = self.forecast_target if process == "(all)" else float(self.target_window[process])
        if not np.isfinite(target) or target <= 0:
            return ""
        if row["contracts_low"] >= target:
            return "good"
        return "bad" if row["contracts_high"] < target else "warn"

    @property
    def chance_status(self) -> str:
        """``good`` from 70%, ``warn`` from 30%, else ``bad``."""
        p = self.chance_of_target
        if not np.isfinite(p):
            return ""
        return "good" if p >= 0.7 else ("warn" if p >= 0.3 else "bad")

    @cached_property
    def headline(self) -> dict[str, Any]:
        """The machine-readable headline of summary.json: the forecast window, its expected contracts with the
        interval, the target, the chance of reaching it and the expected revenue.
        """
        total = self.forecast_row("(all)")
        return {"forecast": {"window": self.window_label(), "contracts": float(total["contracts"]),
                             "low": float(total["contracts_low"]), "high": float(total["contracts_high"]),
                             "level": self.settings.confidence, "target": self.forecast_target,
                             "p_reach_target": self.chance_of_target, "revenue": float(total["revenue"])}}

    @cached_property
    def trend_model(self) -> Any:
        """The monthly series forecaster (:class:`salesplan.forecast.SeriesForecaster`, ``"auto"``) fitted on
        36 months of wins.
        """
        return SeriesForecaster("auto", confidence=self.settings.confidence).fit(self.won_per_month_total(36))

    @cached_property
    def trend_forecast(self) -> pd.DataFrame:
        """The trend forecast for the months of the window with its prediction interval."""
        return self.trend_model.forecast(pd.DateOffset(months=len(self.window_months)),
                                         confidence=self.settings.confidence)

    @cached_property
    def trend_table(self) -> pd.DataFrame:
        """:attr:`trend_forecast` with its period as a column."""
        return self.trend_forecast.reset_index().rename(columns={"index": "period"})

    @cached_property
    def trend_backtest(self) -> Any:
        """Rolling-origin one-month-ahead backtest of the trend forecast over the last year (a few origins), with
        the naive baselines (:func:`salesplan.forecast.backtest`).
        """
        if not self.settings.backtest:
            raise FigureUnavailable("backtest switched off")
        history = self.won_per_month_total(36)
        return backtest(history, ("ets",), horizon="1MS", confidence=self.settings.confidence,
                        min_train=max(len(history) - 12, 13), step=4)

    @cached_property
    def backtest_table(self) -> pd.DataFrame:
        """Accuracy and interval coverage of :attr:`trend_backtest` per model."""
        return self.trend_backtest.summary().reset_index()

    # ----------------------------------------------------------------------------------------- control
    @cached_property
    def plan_periods(self) -> list[str]:
        """Target periods of the plan that have started by the cut (the ones plan and actual compare)."""
        periods = dict.fromkeys(str(p) for p in self.plan.volumes["period"])
        return [p for p in periods if pd.Period(p).start_time <= self.last_instant]

    @cached_property
    def plan_vs_actual(self) -> pd.DataFrame:
        """:func:`salesplan.control.plan_vs_actual` for :attr:`plan_periods`."""
        return plan_vs_actual(self.plan, self.scoped, periods=self.plan_periods, as_of=self.as_of)

    def plan_vs_actual_rows(self, process: str) -> pd.DataFrame:
        """Every plan-actual row of one process."""
        pva = self.plan_vs_actual
        return pva[pva["process"] == process].reset_index(drop=True)

    def plan_actual_summary(self, process: str) -> pd.DataFrame:
        """Plan against actual of one process: contracts, revenue and each activity kind, for the latest
        compared period and its year to date (``plan_*``, ``actual_*``, ``attainment_* = actual / plan``).
        """
        return plan_actual_summary(self.plan_vs_actual_rows(process))

    @cached_property
    def variance(self) -> Any:
        """:func:`salesplan.control.variance` for :attr:`plan_periods`: the contract gap split into volume,
        conversion and timing effects, immature cohorts flagged.
        """
        return variance(self.plan, self.scoped, periods=self.plan_periods, as_of=self.as_of)

    def variance_table(self, process: str) -> pd.DataFrame:
        """The contract gap by cause for one process, per period.

        For a period whose cohort is too young to have closed (``mature`` False) the conversion and timing
        effects are blank (NaN) and ``cohort`` says how many of its deals are still open: read the volume effect
        and ``gap - volume_effect`` (not yet separable) for it.
        """
        t = self.variance.table
        t = t[t["process"] == process].reset_index(drop=True)
        out = t[["period", "planned_contracts", "actual_contracts", "gap", "volume_effect", "conversion_effect",
                 "timing_effect"]].copy()
        immature = ~t["mature"].astype(bool)
        out.loc[immature, ["conversion_effect", "timing_effect"]] = np.nan
        out["cohort"] = np.where(immature, [f"immature: {o} of {e} deals still open" for o, e in
                                            zip(t["cohort_open"], t["actual_entries"], strict=True)], "mature")
        out["planned_entries"] = t["planned_entries"]
        out["actual_entries"] = t["actual_entries"]
        return out

    def variance_chart_period(self, process: str) -> str | None:
        """The latest period of a process whose cohort is mature (the waterfall's period); None if none is."""
        t = self.variance.table
        mature = t[(t["process"] == process) & t["mature"].astype(bool)]
        return str(mature["period"].iloc[-1]) if len(mature) else None

    @cached_property
    def kpis(self) -> pd.DataFrame:
        """:func:`salesplan.control.kpis` per process and reporting period (the plan's activities when there is a
        plan).
        """
        try:
            plan = self.plan
        except SalesplanError:
            plan = None
        return control_kpis(self.scoped, freq=self.freq, funnel=self.funnel, plan=plan, as_of=self.as_of)

    @cached_property
    def kpis_recent(self) -> pd.DataFrame:
        """:attr:`kpis` of the last 12 reporting periods."""
        k = self.kpis
        return k[k["period"].astype(str) >= _label(self.period - 11)].reset_index(drop=True)

    @cached_property
    def kpis_latest(self) -> pd.DataFrame:
        """:attr:`kpis` of the reporting period; a cohort too young to have closed (``cohort_mature`` False)
        shows its win rate as ``"too early"`` instead of a near-zero share.
        """
        k = self.kpis
        latest = k[k["period"].astype(str) == _label(self.period)].reset_index(drop=True)
        rate = latest["cohort_win_rate"].astype(object)
        rate[~latest["cohort_mature"].astype(bool)] = "too early"
        return latest.assign(cohort_win_rate=rate)

    @property
    def coverage_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The window whose target the pipeline open at the cut is measured against: one reporting period from
        the cut, ``[as_of, as_of + 1 month)`` (or 3 months for quarterly reports).
        """
        return self.as_of, self.as_of + pd.DateOffset(months=1 if self.freq == "M" else 3)

    @cached_property
    def coverage(self) -> pd.DataFrame:
        """Pipeline coverage at the cut per process (:func:`salesplan.control.attainment.coverage_at_cut`): the
        deals open at the cut against the target of :attr:`coverage_window` (pro-rated by time), and the
        coverage the funnel's measured win rates require (``open / expected wins``).
        """
        return coverage_at_cut(self.states, self.funnel, self.target_between(*self.coverage_window))

    def coverage_row(self, process: str) -> pd.Series:
        """:attr:`coverage` of one process."""
        return self.coverage.set_index("process").loc[process]

    @cached_property
    def coverage_short(self) -> list[str]:
        """Processes whose open pipeline at the cut is expected to win less than the window target."""
        cov = self.coverage
        return cov.loc[~cov["enough"].astype(bool), "process"].tolist()

    @cached_property
    def movement(self) -> Any:
        """:func:`salesplan.control.pipeline_movement` over the reporting period up to the cut (from the first
        opportunity when the data start later).
        """
        first = self.scoped.opportunities["created_at"].min()
        return pipeline_movement(self.scoped, max(self.period.start_time, first), self.as_of)

    @cached_property
    def movement_table(self) -> pd.DataFrame:
        """Deals per process (rows) and movement category (columns) over the reporting period."""
        return self.movement.table.pivot_table(index="process", columns="category", values="count",
                                               aggfunc="sum", sort=False).rename_axis(columns=None).reset_index()

    def open_deals(self, process: str) -> pd.DataFrame:
        """Deals of a process open at the cut with customer name, owner, stage, amount and age (days since
        creation), largest amount first.
        """
        opps = self.data.opportunities
        st = self.states
        mine = st[(st["process"] == process) & (st["status"] == "open")][["opportunity_id", "stage"]]
        extra = [c for c in ("customer_id", "owner", "amount", "expected_close") if c in opps.columns]
        table = mine.merge(opps[["opportunity_id", "created_at", *extra]], on="opportunity_id", how="left")
        customers = self.data.customers
        if customers is not None and "name" in customers.columns and "customer_id" in table:
            table = table.merge(customers[["customer_id", "name"]].rename(columns={"name": "customer"}),
                                on="customer_id", how="left")
        table["age_days"] = (self.as_of - table["created_at"]).dt.days
        order = ["amount", "opportunity_id"] if "amount" in table else ["age_days", "opportunity_id"]
        table = table.sort_values(order, ascending=[False, True], kind="stable")
        cols = [c for c in ("opportunity_id", "customer", "customer_id", "owner", "stage", "amount", "created_at",
                            "age_days", "expected_close") if c in table.columns]
        return table[cols].reset_index(drop=True)

    # ---------------------------------------------------------------------------------------- segments
    @cached_property
    def segments(self) -> pd.DataFrame:
        """Value, RFM, CLV and wallet per customer (:func:`salesplan.segment.customer_segments`)."""
        if self.data.orders is None:
            raise FigureUnavailable("no orders table: customer value cannot be measured")
        orders = self.data.orders if self.settings.engine == "pandas" else self.engine_frames["orders"]
        return customer_segments(orders, self.data.customers, as_of=self.as_of, value=self.settings.segment_value,
                                 thresholds=self.settings.abc)

    @cached_property
    def buyers(self) -> pd.DataFrame:
        """:attr:`segments` of the customers with orders."""
        return self.segments[self.segments["has_orders"]]

    @cached_property
    def abc(self) -> pd.DataFrame:
        """ABC classes of the buyers by ``settings.segment_value`` (:func:`salesplan.segment.abc_classes`)."""
        return abc_classes(self.buyers, self.settings.segment_value, thresholds=self.settings.abc)

    @cached_property
    def abc_summary(self) -> pd.DataFrame:
        """Customers and value per ABC class (:func:`salesplan.segment.abc_summary`)."""
        return abc_summary(self.abc).reset_index()

    @property
    def gini(self) -> float:
        """Gini coefficient of customer value (concentration: 0 equal, 1 one customer holds all)."""
        return float(self.abc.attrs.get("gini", np.nan))

    @cached_property
    def portfolio(self) -> Any:
        """Value against share of wallet of the buyers (:func:`salesplan.segment.portfolio_matrix`); None with
        fewer than four customers having both.
        """
        frame = self.buyers.dropna(subset=[self.settings.segment_value, "share_of_wallet"])
        if len(frame) < 4:
            return None
        return portfolio_matrix(frame, attractiveness=self.settings.segment_value, position="share_of_wallet")

    @cached_property
    def assignment(self) -> pd.DataFrame:
        """The sales process each customer should get (:func:`salesplan.segment.assign_processes`), limited
        to the reported processes.
        """
        assign = assign_processes(self.segments)
        return assign[assign["process"].isin(self.processes)].reset_index(drop=True)

    @cached_property
    def assignment_summary(self) -> pd.DataFrame:
        """Customers, potential and expected value per process and value class."""
        return assignment_summary(self.assignment).reset_index()

    @cached_property
    def assignment_top(self) -> pd.DataFrame:
        """The five customers with the highest expected value per process (with their names when known)."""
        top = self.assignment.sort_values(["process", "rank"], kind="stable").groupby("process", sort=False) \
            .head(5).copy()
        customers = self.data.customers
        if customers is not None and "name" in customers.columns:
            top.insert(1, "customer", top["customer_id"].map(customers.set_index("customer_id")["name"]))
        return top.reset_index(drop=True)

    # ------------------------------------------------------------------------------------ data quality
    @cached_property
    def data_summary(self) -> pd.DataFrame:
        """Per validated table: rows, columns and the date range (dates as ``YYYY-MM-DD`` text)."""
        summary = self.data.summary()
        return summary.assign(first_date=summary["first_date"].dt.strftime("%Y-%m-%d"),
                              last_date=summary["last_date"].dt.strftime("%Y-%m-%d"))

    @cached_property
    def quality_findings(self) -> list[dict[str, Any]]:
        """What the data and the models dropped, flagged or repaired: ``section, severity, table, rows,
        message`` rows (returns kept, opportunities without events, the funnel's path repairs, infeasible
        capacity, missing tables). Models that fail are skipped here (the report shows their failure).
        """
        rows: list[dict[str, Any]] = []

        def add(section: str, severity: str, message: str, table: str = "", n: Any = None) -> None:
            rows.append({"section": section, "severity": severity, "table": table,
                         "rows": None if n is None else int(n), "message": message})

        orders = self.data.orders
        if orders is not None and "is_return" in orders.columns and orders["is_return"].any():
            n = int(orders["is_return"].sum())
            add("data", "info", f"{n} order line(s) with a negative amount kept as returns (is_return)", "orders", n)
        if self.data.opportunities is not None and self.data.stage_events is not None:
            no_events = ~self.data.opportunities["opportunity_id"].isin(self.data.stage_events["opportunity_id"])
            if no_events.any():
                add("data", "info", "opportunities without stage events are counted as open in their process's "
                    "first stage", "opportunities", no_events.sum())
        for name, attr in (("funnel", "issues"), ("capacity", "infeasible")):
            try:
                model = getattr(self, name)
            except SalesplanError:
                continue
            except Exception:  # noqa: BLE001 - a failing model is reported where it is used
                logger.debug("%s failed", name, exc_info=True)
                continue
            table = getattr(model, attr, None)
            if table is None:
                continue
            for row in table.itertuples(index=False):
                if name == "funnel" and row.rows:
                    add("funnel", "info", f"{row.rule}: {row.action}", "stage_events", row.rows)
                elif name == "capacity":
                    add("capacity", "warning", str(row.message), "capacity")
        for table in ("customers", "orders", "activities", "targets"):
            if getattr(self.data, table) is None:
                add("data", "warning", f"no {table} table: the parts of the report that need it are missing",
                    table)
        return rows


def _label(period: pd.Period) -> str:
    """``2025-12`` / ``2025-Q4`` (the period labels of the control tables)."""
    return str(period) if not period.freqstr.startswith("Q") else f"{period.year}-Q{period.quarter}"


def _status_table(states: pd.DataFrame, processes: list[str]) -> pd.DataFrame:
    table = pd.crosstab(states["process"], states["status"]).reindex(index=processes, columns=["open", "won", "lost"],
                                                                     fill_value=0)
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table.rename_axis("process")

