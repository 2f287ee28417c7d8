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
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from salesplan._validation import check_freq, check_horizon, check_probability, horizon_periods
from salesplan.control import kpis as control_kpis
from salesplan.control import pipeline_movement, plan_vs_actual, variance
from salesplan.control.actions import actions
from salesplan.control.actuals import flows as control_flows
from salesplan.control.actuals import period_freq
from salesplan.control.attainment import (
    attainment_status,
    attainment_table,
    chance_of_target,
    coverage_at_cut,
    overlap_share,
    target_between,
    win_rates_by_stage,
    wins_between,
)
from salesplan.control.breakdowns import breakdown
from salesplan.control.comparisons import COMPARISON_COLUMNS, month_comparison, weighted_pipeline
from salesplan.control.plan_vs_actual import plan_actual_summary
from salesplan.control.rep_activity import rep_activity_plan_vs_actual, rep_month_targets
from salesplan.control.variance import plan_volumes_frame
from salesplan.data import TABLE_ORDER, SalesData
from salesplan.engines import release_memory, to_engine
from salesplan.errors import ConfigError, PlanInputError, SalesplanError
from salesplan.forecast import SeriesForecaster, backtest, pipeline
from salesplan.funnel import estimate
from salesplan.parse import to_naive_utc
from salesplan.plan import backward, load_plan, read_team, team_from_data
from salesplan.plausibility import (
    Flag,
    check_backtest,
    check_expected_value,
    check_rules,
    check_wallet,
    flags_table,
)
from salesplan.reduce.orders import order_revenue
from salesplan.reduce.states import (
    DealRows,
    StageFlows,
    activity_counts,
    column_names,
    deal_states,
    distinct,
    row_count,
    state_counts,
    time_span,
    unmatched_count,
)
from salesplan.schema import normalise_period
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

_OPEN_DEALS_TOP = 50  # open deals listed per process

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
        Legacy: reps per process (one team per process, named ``"<process> team"``). When empty, the team is
        ``team`` or, without it, derived from the owners in the data (:attr:`Analysis.team`).
    team : path, DataFrame or list of mappings, optional
        The team table, one row per rep (:func:`salesplan.plan.read_team`); default: the owners in the data.
    plan_of_record : path, optional
        A plan saved with :meth:`salesplan.plan.Plan.save`; plan against actual compares with it. Without it the
        plan shown is reconstructed from the funnel at the cut (:attr:`Analysis.plan_is_reconstructed`).
    hours_per_rep : float
        Selling hours per rep and month.
    hours_per_activity : mapping of kind to float
        Hours one activity of a kind takes.
    hire_profile : mapping of str to float
        Profile of a new hire for :attr:`Analysis.headcount` (``hours_per_week``, ``cost_per_month``; optional
        ``ramp_months``, ``ramp_fraction``, ``lead_months``, ``attrition``: :func:`salesplan.plan.headcount`);
        empty: no headcount figure.
    cost_per_activity : mapping of kind to float
        Cost of one activity of a kind (the plan's activity cost).
    segment_value : {"clv", "revenue"}
        The customer value the ABC classes rank: 12-month lifetime value or past net revenue.
    abc : tuple of two floats
        Cumulative value shares that close classes A and B.
    backtest : bool
        Whether to backtest the monthly trend forecast.
    win_model : {"stage", "deal"}
        The open deals' win probabilities in the pipeline forecast (:attr:`Analysis.forecast`): ``"stage"`` from
        their stage and days in stage at the funnel's rates; ``"deal"`` from the calibrated per-deal model
        (:attr:`Analysis.win_probability`, ``win_probability=`` of :func:`salesplan.forecast.pipeline`).
    seed : int
        Seed of every random step (simulations): same data and seed, same figures.
    engine : {"pandas", "duckdb", "polars", "spark"}
        Engine of the heavy reductions (funnel, customer summary, activity ratios).
    currency : str
        Label of amounts.
    breakdowns : tuple of str
        Opportunity or customer columns the results are broken down by (:meth:`Analysis.breakdown`).

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
    team: Any = None
    plan_of_record: Any = None
    hours_per_rep: float = 120.0
    hours_per_activity: Mapping[str, float] = field(
        default_factory=lambda: {"calls": 0.25, "visits": 2.0, "offers": 3.0})
    cost_per_activity: Mapping[str, float] = field(
        default_factory=lambda: {"calls": 20.0, "visits": 150.0, "offers": 300.0})
    hire_profile: Mapping[str, float] = field(default_factory=dict)
    segment_value: str = "clv"
    abc: tuple[float, float] = (0.8, 0.95)
    backtest: bool = True
    win_model: str = "stage"
    seed: int = 0
    engine: str = "pandas"
    currency: str = "EUR"
    breakdowns: tuple[str, ...] = ("owner", "region", "industry", "size")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("confidence", "target_probability"):
            check_probability(getattr(self, name), name)
        set_(self, "freq", check_freq(self.freq, "freq", PERIODS))
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {list(ENGINES)}, got {self.engine!r}")
        if self.win_model not in ("stage", "deal"):
            raise ConfigError(f"win_model must be 'stage' or 'deal', got {self.win_model!r}")
        if self.segment_value not in ("clv", "revenue"):
            raise ConfigError(f"segment_value must be 'clv' or 'revenue', got {self.segment_value!r}")
        if len(self.abc) != 2 or not 0 < self.abc[0] < self.abc[1] < 1:
            raise ConfigError(f"abc must be two increasing shares in (0, 1), got {self.abc}")
        set_(self, "horizon", check_horizon(self.horizon))
        set_(self, "plan_horizon", check_horizon(self.plan_horizon, "plan_horizon"))
        set_(self, "as_of", None if self.as_of is None else to_naive_utc(self.as_of))
        set_(self, "processes", None if self.processes is None else tuple(self.processes))
        set_(self, "by", tuple(self.by))
        set_(self, "breakdowns", tuple(self.breakdowns))
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

    Notes
    -----
    A figure that cannot be computed raises when it is read: :class:`FigureUnavailable` when the data or the
    settings lack what it needs (no targets, no orders, no teams), the model's own error otherwise.

    Tables of ``data`` may be pandas frames or native frames of ``settings.engine`` (e.g. DuckDB relations or
    Polars LazyFrames over Parquet, as ``salesplan.report.load_data`` opens them): every figure is computed by the
    reductions of :mod:`salesplan.reduce` in that engine, and only their summaries are collected, so the figures
    do not depend on the engine and memory does not grow with the raw rows (the per-deal :attr:`states` is the
    one exception, kept for exploring; no report figure reads it).

    Examples
    --------
    >>> from salesplan.datasets import load_example
    >>> a = Analysis(load_example(), AnalysisSettings(processes=("retention",), seed=1))
    >>> a.processes, a.window_label()
    (['retention'], 'Jan–Mar 2026')
    """

    def __init__(self, data: SalesData, settings: AnalysisSettings | None = None) -> None:
        self.data = data
        self.settings = settings if settings is not None else AnalysisSettings()
        self._flows: dict[str, StageFlows] = {}

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
            present = set(distinct(self.data.opportunities, "process", "opportunities")) \
                if self.data.opportunities is not None else set()
            return [p for p in self.data.processes if p in present]
        unknown = [p for p in wanted if p not in self.data.processes]
        if unknown:
            raise ConfigError(f"'processes' names unknown process(es) {unknown}; defined: {list(self.data.processes)}")
        return list(wanted)

    @cached_property
    def scoped(self) -> SalesData:
        """The data limited to :attr:`processes`: their opportunities, stage events, activities and targets
        (customers and orders stay whole). The data itself when every process is reported. Native engine tables
        are limited lazily, in their engine.
        """
        data = self.data
        if self.settings.processes is None:
            return data
        names = self.processes
        opps = data.opportunities
        if not isinstance(opps, pd.DataFrame):
            return dataclasses.replace(data, **_scope_native(data, names),
                                       processes={n: data.processes[n] for n in names})
        opps = opps[opps["process"].isin(names)]
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
        calls = data.forecast_calls
        if calls is not None and "process" in calls.columns:
            calls = calls[calls["process"].isin(names) | calls["process"].isna()]
        return dataclasses.replace(data, opportunities=opps, stage_events=events, activities=acts, targets=targets,
                                   opportunity_history=history, forecast_calls=calls,
                                   processes={n: data.processes[n] for n in names})

    @cached_property
    def engine_data(self) -> SalesData:
        """:attr:`scoped` with every table a native frame of ``settings.engine``: what the reductions read.

        With the pandas engine and pandas tables it is :attr:`scoped` itself. Native tables are used as they are;
        pandas tables (the small ones: customers, opportunities, targets) are converted with
        :func:`salesplan.engines.to_engine` (DuckDB's default connection, Spark's active session), so that every
        table of a reduction lives in one engine. Customers and targets stay pandas (small tables read whole).
        """
        return _on_engine(self.scoped, self.settings.engine)

    @cached_property
    def engine_frames(self) -> dict[str, Any]:
        """The tables of :attr:`engine_data` by name."""
        return {t: getattr(self.engine_data, t) for t in TABLE_ORDER if getattr(self.engine_data, t) is not None}

    def stage_flows(self, freq: str) -> StageFlows:
        """Entries, closes and creation cohorts per period of length ``freq`` at the cut
        (:meth:`salesplan.reduce.states.DealRows.flows` of :attr:`deal_rows`), once per ``freq`` and shared by
        the KPIs, the variance and plan against actual.
        """
        if freq not in self._flows:
            rows = self.deal_rows
            self._flows[freq] = rows.flows(freq) if rows is not None else \
                control_flows(self.engine_data, freq, self.as_of)
        return self._flows[freq]

    # issue 13: the cut's deal rows, reduced once in the engine; every count at the cut is a summary of them
    @cached_property
    def deal_rows(self) -> DealRows | None:
        """Every reported deal's rows after the path rules at the cut, kept in the engine
        (:class:`salesplan.reduce.states.DealRows`): :attr:`state_counts`, :attr:`closes`, :meth:`stage_flows`
        and :meth:`open_deals` are one query each on them. None without opportunities or stage events.
        """
        d = self.engine_data
        if d.opportunities is None or d.stage_events is None:
            return None
        keep = ("created_at", "amount", "owner", "expected_close", "customer_id", *self.settings.breakdowns,
                *self.settings.by)
        return DealRows(d.stage_events, d.processes, d.opportunities, as_of=self.as_of,
                        attributes=tuple(dict.fromkeys(keep)))

    @cached_property
    def _largest_open(self) -> dict[str, pd.DataFrame]:
        """The 50 largest open deals of every reported process, chosen in the engine in one query."""
        rows = self.deal_rows
        if rows is None:
            return {}
        return rows.largest_open(self.processes, _OPEN_DEALS_TOP)

    # ------------------------------------------------------------------------------------- deal states
    @cached_property
    def states(self) -> pd.DataFrame:
        """Every reported deal's state at the cut (:meth:`SalesData.opportunity_status` at :attr:`as_of`): one
        row per deal, for exploring; the figures below read the summaries (:attr:`state_counts`,
        :attr:`closes`), which do not grow with the number of deals.
        """
        return self.engine_data.opportunity_status(as_of=self.as_of)

    @cached_property
    def state_counts(self) -> pd.DataFrame:
        """Deals (and their amount) per process, status and stage at the cut
        (:func:`salesplan.reduce.states.state_counts`).
        """
        rows = self.deal_rows
        return rows.counts() if rows is not None else _state_counts(self.engine_data, self.as_of)

    @cached_property
    def closes(self) -> pd.DataFrame:
        """Deals closed per process, status and day by the cut (:func:`salesplan.reduce.states.close_counts`)."""
        rows = self.deal_rows
        if rows is None:
            return pd.DataFrame(columns=["process", "status", "closed_on", "deals", "value"])
        return rows.closes()

    @cached_property
    def status_counts(self) -> pd.DataFrame:
        """Open, won, lost and total deals per reported process at the cut (index ``process``)."""
        return _status_table(self.state_counts, self.processes)

    @cached_property
    def data_status_counts(self) -> pd.DataFrame:
        """Open, won, lost and total deals of every process in the data at the cut (the data-quality table)."""
        if self.settings.processes is None:
            return self.status_counts
        counts = _state_counts(_on_engine(self.data, self.settings.engine), self.as_of)
        return _status_table(counts, [p for p in self.data.processes if p in set(counts["process"])])

    @property
    def open_opportunities(self) -> int:
        """Deals open at the cut, all reported processes."""
        return int(self.status_counts["open"].sum())

    def wins_between(self, start: Any, end: Any) -> pd.Series:
        """Deals won per process with their close in ``[start, end)`` (whole days;
        :func:`salesplan.control.attainment.wins_between` on :attr:`closes`).
        """
        return wins_between(self.closes, start, end, self.processes)

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
        return attainment_table(self.closes, self.scoped.targets, self.windows, self.processes)

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
        closes = self.closes
        won = closes[closes["status"] == "won"]
        month = pd.to_datetime(won["closed_on"]).dt.to_period("M").rename("month")
        table = won.groupby([month, "process"])["deals"].sum().unstack(fill_value=0)
        return table.reindex(index=self._months(months), columns=self.processes, fill_value=0).astype("int64")

    def won_per_month_total(self, months: int = 36) -> pd.Series:
        """Contracts won per month, all reported processes (the series of the trend forecast)."""
        return self.won_per_month(months).sum(axis=1).astype(float)

    @cached_property
    def created_per_month(self) -> pd.DataFrame:
        """Opportunities created per month (last 24 months) and process."""
        cohorts = self.stage_flows("M").cohorts
        month = pd.PeriodIndex(cohorts["period"], freq="M").rename("month")
        table = cohorts.groupby([month, cohorts["process"]])["deals"].sum().unstack(fill_value=0)
        return table.reindex(index=self._months(24), columns=self.processes, fill_value=0).astype("int64")

    def _activity_counts(self, freq: str = "M") -> pd.DataFrame:
        d = self.engine_data
        if d.activities is None or row_count(d.activities, "activities") == 0:
            raise FigureUnavailable("no activities table; activity volumes and ratios are not measured")
        return activity_counts(d.activities, d.opportunities, freq=freq, as_of=self.as_of)

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
        counts = self._activity_counts(self.freq)
        label = _label(self.period)
        mine = counts[counts["period"] == label]
        table = mine.pivot_table(index="process", columns="kind", values="count", aggfunc="sum", fill_value=0)
        return table.rename_axis(columns=None).reset_index()

    @property
    def activities_in_period_total(self) -> int:
        """Activities logged in the reporting period, all reported processes."""
        table = self.activities_in_period
        return int(table.drop(columns="process").to_numpy().sum())

    def _orders(self, freq: str = "M") -> pd.DataFrame:
        orders = self.engine_data.orders
        if orders is None or row_count(orders, "orders") == 0:
            raise FigureUnavailable("no orders table")
        return order_revenue(orders, freq=freq, as_of=self.as_of)

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
        rev = self._orders(self.freq)
        return float(rev.loc[rev["period"] == _label(self.period), "amount"].sum())

    # ------------------------------------------------------------------------------------------ models
    @cached_property
    def funnel(self) -> Any:
        """Stage conversion with intervals at ``settings.confidence`` (:func:`salesplan.funnel.estimate`), open
        deals censored at the cut.
        """
        by = list(self.settings.by) or None
        if self.settings.engine == "pandas" and _all_pandas(self.scoped):
            return estimate(self.scoped, by=by, as_of=self.as_of, confidence=self.settings.confidence)
        d = self.engine_data
        used = set(distinct(d.opportunities, "process", "opportunities"))
        procs = {k: v for k, v in d.processes.items() if k in used} or dict(d.processes)
        customers = d.customers
        if isinstance(customers, pd.DataFrame) and self.settings.engine != "pandas":
            customers = to_engine(customers, self.settings.engine)
        return estimate(d.stage_events, procs, d.opportunities, by=by, as_of=self.as_of,
                        confidence=self.settings.confidence, customers=customers, activities=d.activities)

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
    def team(self) -> pd.DataFrame:
        """The sales team, one row per rep (:func:`salesplan.plan.read_team`): ``settings.team``, else every owner
        who created opportunities of a reported process in the year before the cut
        (:func:`salesplan.plan.team_from_data`) at ``settings.hours_per_rep`` hours a month (times 12 / 52 a
        week).
        """
        if self.settings.team is not None:
            return read_team(self.settings.team, processes=list(self.data.processes))
        opps = self.data.opportunities
        if opps is None or "owner" not in column_names(opps):
            raise FigureUnavailable("no team: give [capacity] team, or opportunities with an owner column")
        try:
            return team_from_data(self.scoped.opportunities, as_of=self.as_of, processes=self.processes,
                                  hours_per_week=float(self.settings.hours_per_rep) * 12 / 52)
        except PlanInputError as exc:
            raise FigureUnavailable(str(exc)) from None

    @cached_property
    def capacity_processes(self) -> list[str]:
        """Reported processes that some team serves (legacy ``settings.teams``, else the team table); empty when
        there is no team.
        """
        if self.settings.teams:
            return [p for p in self.processes if p in self.settings.teams]
        try:
            served = {p for procs in self.team["processes"] for p in procs}
        except FigureUnavailable:
            return []
        return [p for p in self.processes if p in served]

    @cached_property
    def capacity(self) -> Any:
        """Hours the plan needs per team and month against the hours available (:meth:`Plan.capacity`).

        One team per process, ``"<process> team"``: with the legacy ``settings.teams``, that many reps at
        ``settings.hours_per_rep`` hours; else the reps of :attr:`team` who work the process, a rep who works
        several processes counted as an equal share in each, at their hours per week times 52 / 12 a month
        (ramp and absences count in :attr:`rep_plan`'s weekly utilisation, not here).
        """
        reps = dict(self.settings.teams)
        if reps:
            procs = [p for p in self.processes if p in reps]
            teams = pd.DataFrame({"team": [f"{p} team" for p in procs], "process": procs,
                                  "people": [reps[p] for p in procs], "hours": float(self.settings.hours_per_rep)})
        else:
            procs = self.capacity_processes
            if not procs:
                raise FigureUnavailable("no team serves the reported processes: capacity is not checked")
            team = self.team
            people, hours = [], []
            for p in procs:
                mine = team[team["processes"].map(lambda ps, p=p: p in ps)]
                share = 1.0 / mine["processes"].map(len).to_numpy(float)
                people.append(float(share.sum()))
                hours.append(float((share * mine["hours_per_week"].to_numpy(float)).sum() / share.sum() * 52 / 12))
            teams = pd.DataFrame({"team": [f"{p} team" for p in procs], "process": procs, "people": people,
                                  "hours": hours})
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

    @cached_property
    def plan_of_record(self) -> Any:
        """The plan as it was set: ``settings.plan_of_record`` (:func:`salesplan.plan.load_plan`), else
        :attr:`plan`, reconstructed from today's funnel (see :attr:`plan_is_reconstructed`).
        """
        if self.settings.plan_of_record is None:
            return self.plan
        return load_plan(self.settings.plan_of_record)

    @property
    def plan_is_reconstructed(self) -> bool:
        """True when no plan of record is given: the plan compared with the actuals is rebuilt from the funnel at
        the cut, not the plan that was set at the time.
        """
        return self.settings.plan_of_record is None

    @cached_property
    def net_plan(self) -> Any:
        """The plan from the cut for the target periods that end inside the forecast window, net of the open
        pipeline (:meth:`salesplan.plan.Plan.net_of` against :attr:`forecast`: open deals and new entries share
        one draw of the rates), sized to ``settings.target_probability``; its schedule starts at the cut.
        """
        targets = self.scoped.targets
        if targets is None or targets.empty:
            raise FigureUnavailable("no targets for the reported processes: nothing to plan against")
        start, end = self.window
        ends = pd.Series([pd.Period(str(normalise_period(p) or p)).end_time for p in targets["period"]],
                         index=targets.index)
        ahead = targets[(ends >= start) & (ends < end)]
        if ahead.empty:
            raise FigureUnavailable(f"no target period ends inside the forecast window {self.window_label()}")
        plan = backward(ahead, self.funnel, target_probability=self.settings.target_probability,
                        processes=self.scoped.processes)
        return plan.net_of(self.forecast)

    @cached_property
    def plan_reachability(self) -> pd.DataFrame:
        """Per target of :attr:`net_plan`: catch-up share, whether it can still be reached from the cut and the
        best reachable probability (:meth:`salesplan.plan.Plan.reachability`).
        """
        return self.net_plan.reachability()

    @cached_property
    def rep_plan(self) -> Any:
        """:attr:`net_plan`'s entries and activities per rep and week as whole numbers, split by available hours,
        with each rep's utilisation (:meth:`salesplan.plan.Plan.per_rep` with :attr:`team` and
        ``settings.hours_per_activity``).
        """
        return self.net_plan.per_rep(self.team, freq="W", hours=dict(self.settings.hours_per_activity))

    @cached_property
    def headcount(self) -> Any:
        """Reps of ``settings.hire_profile`` to hire per process, by when, and the cost, so that :attr:`net_plan`
        fits :attr:`team`'s hours (issue 17; :meth:`salesplan.plan.Plan.headcount`, method in
        :mod:`salesplan.plan.headcount`).
        """
        if not self.settings.hire_profile:
            raise FigureUnavailable("no hire profile: give [capacity] hire_profile = { hours_per_week = ..., "
                                    "cost_per_month = ... }")
        return self.net_plan.headcount(self.team, dict(self.settings.hire_profile),
                                       hours=dict(self.settings.hours_per_activity))

    def rep_capacity_next(self, process: str) -> dict[str, float] | None:
        """Next month's weekly load of one process's reps in :attr:`rep_plan` (issue 17), or None without reps.

        ``peak_utilisation``: the highest weekly utilisation of any rep in the weeks whose Thursday is in
        :attr:`next_month`; ``weeks_over``: the rep-weeks above 100% (whole numbers round up, so a short week can
        pass 100%); ``hours_over``: the process's hours that do not fit its reps' hours even after moving work
        (``RepPlan.load``), in those weeks.
        """
        rp = self.rep_plan
        owners = set(rp.table.loc[rp.table["process"] == process, "owner"].astype(str))
        if not owners:
            return None
        thursday = pd.to_datetime(rp.utilisation["start"]) + pd.Timedelta(days=3)
        month = self.next_month
        in_month = (thursday >= month.start_time) & (thursday <= month.end_time)
        util = rp.utilisation[in_month & rp.utilisation["owner"].astype(str).isin(owners)]
        load = rp.load[(rp.load["process"] == process)]
        load_thursday = pd.to_datetime(load["start"]) + pd.Timedelta(days=3)
        load = load[(load_thursday >= month.start_time) & (load_thursday <= month.end_time)]
        if util.empty:
            return None
        return {"peak_utilisation": float(util["utilisation"].max()),
                "weeks_over": float((util["utilisation"] > 1.0 + 1e-9).sum()),
                "hours_over": float(load["over_hours"].sum())}

    # ---------------------------------------------------------------------------------------- forecast
    @cached_property
    def forecast(self) -> Any:
        """Contracts won in the forecast window from the open pipeline and new opportunities
        (:func:`salesplan.forecast.pipeline`, intervals at ``settings.confidence``, seeded); with
        ``settings.win_model = "deal"`` the open deals' chances to be won in the window come from
        :attr:`win_probability_window`.
        """
        p_deal = self.win_probability_window if self.settings.win_model == "deal" else None
        result = pipeline(self.engine_data, self.funnel, as_of=self.as_of, horizon=self.settings.horizon, freq="M",
                          confidence=self.settings.confidence, seed=self.settings.seed, win_probability=p_deal,
                          deal_rows=self.deal_rows)
        release_memory()  # the simulation's buffers go back before the next query fills DuckDB's memory
        return result

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
        """Rolling-origin one-month-ahead backtest of the trend forecast over the last year (one origin per
        month), with the naive baselines (:func:`salesplan.forecast.backtest`).
        """
        if not self.settings.backtest:
            raise FigureUnavailable("backtest switched off")
        history = self.won_per_month_total(36)
        # every month of the last year is an origin (12 one-step forecasts; 3 with the former step of 4 could
        # not judge coverage); :attr:`flags` says when even 12 are too few for the interval level
        return backtest(history, ("ets",), horizon="1MS", confidence=self.settings.confidence,
                        min_train=max(len(history) - 12, 13), step=1)

    @cached_property
    def backtest_table(self) -> pd.DataFrame:
        """Accuracy and interval coverage of :attr:`trend_backtest` per model."""
        return self.trend_backtest.summary().reset_index()

    # ----------------------------------------------------------------------------------------- control
    @cached_property
    def plan_periods(self) -> list[str]:
        """Target periods of the plan of record that have started by the cut (the ones plan and actual compare)."""
        periods = dict.fromkeys(str(p) for p in self.plan_of_record.volumes["period"])
        return [p for p in periods if pd.Period(p).start_time <= self.last_instant]

    @property
    def plan_freq(self) -> str:
        """Period length of the target periods of the plan of record (``"M"``, ``"Q"`` or ``"Y"``)."""
        return period_freq(plan_volumes_frame(self.plan_of_record)["period"].unique())

    @cached_property
    def plan_vs_actual(self) -> pd.DataFrame:
        """:func:`salesplan.control.plan_vs_actual` for :attr:`plan_periods`."""
        return plan_vs_actual(self.plan_of_record, self.engine_data, periods=self.plan_periods, as_of=self.as_of,
                              stage_flows=self.stage_flows(self.plan_freq))

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
        freq = period_freq(plan_volumes_frame(self.plan)["period"].unique())
        return variance(self.plan, self.engine_data, periods=self.plan_periods, as_of=self.as_of,
                        stage_flows=self.stage_flows(freq))

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
        return control_kpis(self.engine_data, freq=self.freq, funnel=self.funnel, plan=plan, as_of=self.as_of,
                            stage_flows=self.stage_flows(self.freq), deal_rows=self.deal_rows)

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
        return coverage_at_cut(self.state_counts, self.funnel, self.target_between(*self.coverage_window))

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
        d = self.engine_data
        first, _ = time_span(d.opportunities, "created_at", "opportunities")
        return pipeline_movement(d, max(self.period.start_time, first), self.as_of, deal_rows=self.deal_rows)

    @cached_property
    def movement_table(self) -> pd.DataFrame:
        """Deals per process (rows) and movement category (columns) over the reporting period."""
        return self.movement.table.pivot_table(index="process", columns="category", values="count",
                                               aggfunc="sum", sort=False).rename_axis(columns=None).reset_index()

    def open_deals(self, process: str, top: int = _OPEN_DEALS_TOP) -> pd.DataFrame:
        """The ``top`` deals of a process open at the cut, largest amount first (the oldest first without
        amounts), with customer name, owner, stage, amount and age (days since creation).

        The deals are chosen in the engine (:func:`salesplan.reduce.states.deal_states` with ``largest``), so
        only ``top`` rows are collected however many deals are open.
        """
        d = self.engine_data
        if top == _OPEN_DEALS_TOP and process in self._largest_open:
            table = self._largest_open[process]
        else:
            table = deal_states(d.stage_events, d.processes, d.opportunities, as_of=self.as_of, status=["open"],
                                process=process, largest=top,
                                attributes=("created_at", "customer_id", "owner", "amount", "expected_close"))
        table = table.drop(columns="stage").rename(columns={"work_stage": "stage"})
        customers = self.data.customers
        if isinstance(customers, pd.DataFrame) and "name" in customers.columns and "customer_id" in table:
            table = table.merge(customers[["customer_id", "name"]].rename(columns={"name": "customer"}),
                                on="customer_id", how="left")
        table["age_days"] = (self.as_of - table["created_at"]).dt.days
        order = ["amount", "opportunity_id"] if "amount" in table else ["created_at", "opportunity_id"]
        table = table.sort_values(order, ascending=[order[0] != "amount", True], kind="stable")
        cols = [c for c in ("opportunity_id", "customer", "customer_id", "owner", "stage", "amount", "created_at",
                            "age_days", "expected_close") if c in table.columns]
        return table[cols].reset_index(drop=True)

    # ---------------------------------------------------------------------------------------- segments
    @cached_property
    def segments(self) -> pd.DataFrame:
        """Value, RFM, CLV and wallet per customer (:func:`salesplan.segment.customer_segments`)."""
        if self.data.orders is None:
            raise FigureUnavailable("no orders table: customer value cannot be measured")
        orders = self.engine_data.orders
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

    # ------------------------------------------------------------ plausibility guards (issue 19, part 3)
    @cached_property
    def flags(self) -> list[Flag]:
        """Figures that contradict the data they come from (:mod:`salesplan.plausibility`), each with the figure,
        process, value, reference and reason, logged at WARNING: expected values of the process assignment
        against wallets and the revenue of the last 12 months, customers spending more than their wallet, rules that assign no one for want of a column,
        and whether the backtest has enough forecasts to judge its interval coverage. A figure that is not
        available is not checked (the report says why it is missing).
        """
        flags: list[Flag] = []
        checks = (
            lambda: check_expected_value(self.assignment, self.segments,
                                         revenue=float(self.revenue_per_month.iloc[-12:, 0].sum())),
            lambda: check_wallet(self.segments),
            lambda: check_rules(self.segments, processes=self.processes),
            lambda: check_backtest(self.trend_backtest),
        )
        for check in checks:
            try:
                flags.extend(check())
            except SalesplanError as exc:
                logger.debug("plausibility check skipped: %s", exc)
        return flags

    @cached_property
    def flags_table(self) -> pd.DataFrame:
        """:attr:`flags` as a table: ``figure, process, value, reference, reason``."""
        return flags_table(self.flags)

    # ------------------------------------------ issue 18: forecast accountability (deal history, calls, p_win)
    @cached_property
    def waterfall(self) -> Any:
        """:func:`salesplan.control.waterfall.pipeline_waterfall` of the reporting period: how the pipeline
        expected to close in it moved from the period start (or the first opportunity) to the cut. Its ``deals``
        hold every deal behind the bars up to 100,000 of them, else the 1,000 largest of each bar.
        """
        from salesplan.control.waterfall import pipeline_waterfall

        d = self.scoped
        first, _ = time_span(d.opportunities, "created_at", "opportunities")
        return pipeline_waterfall(d, max(self.period.start_time, first), self.as_of, self.period_label_short,
                                  deal_rows=self.deal_rows, max_deals=100_000)

    @cached_property
    def waterfall_table(self) -> pd.DataFrame:
        """The bars of :attr:`waterfall` for all processes: ``category, count, value, sign``."""
        return self.waterfall.summary().reset_index()

    @property
    def period_label_short(self) -> str:
        """The reporting period as a label such as ``"2026-03"`` or ``"2026-Q1"``."""
        return normalise_period(self.period) or str(self.period)

    @cached_property
    def call_scores(self) -> pd.DataFrame:
        """Every forecast call beside its actual (:func:`salesplan.forecast.accountability.call_accuracy`):
        week of the period, accuracy = forecast / actual, in the 85-115% band.
        """
        from salesplan.forecast.accountability import call_accuracy

        if self.scoped.forecast_calls is None:
            raise FigureUnavailable("no forecast_calls table")
        # managers' calls are scored against their reps' wins: the configured team (read once, by `team`)
        team = self.team if self.settings.team is not None else None
        return call_accuracy(self.scoped, team=team)

    @cached_property
    def call_accuracy_by_rep(self) -> pd.DataFrame:
        """Accuracy and bias of the forecast calls per person and category, periods ended by the cut
        (:func:`salesplan.forecast.accountability.bias_table`).
        """
        from salesplan.forecast.accountability import bias_table

        scores = self.call_scores[self.call_scores["complete"]]
        return bias_table(scores, ["category", "owner"], confidence=self.settings.confidence)

    @cached_property
    def accountability(self) -> Any:
        """:func:`salesplan.forecast.accountability.forecast_accountability` of the ``commit`` calls of the
        periods that started in the year before the cut: salesplan's forecast re-run at weeks 1, 7 and 13
        of each from what was known then, against the calls.
        """
        from salesplan.forecast.accountability import forecast_accountability

        if self.scoped.forecast_calls is None:
            raise FigureUnavailable("no forecast_calls table")
        return forecast_accountability(self.scoped, weeks=(1, 7, 13), start=self.as_of - pd.DateOffset(years=1),
                                       confidence=self.settings.confidence, seed=self.settings.seed)

    @cached_property
    def model_vs_calls(self) -> pd.DataFrame:
        """Per week of the period: mean error of the calls and of salesplan's forecast and the gain with its
        interval (:attr:`accountability`).
        """
        return self.accountability.comparison

    @cached_property
    def win_probability(self) -> Any:
        """:func:`salesplan.forecast.deal_win_probability` at the cut: each open deal's calibrated chance to be
        won, with its reasons.
        """
        from salesplan.forecast.win_probability import WinProbability, deal_win_probability

        model = WinProbability(seed=self.settings.seed, n_threads=1, cv=3, max_iter=100)
        return deal_win_probability(self.scoped, as_of=self.as_of, seed=self.settings.seed, model=model)

    @cached_property
    def win_probability_window(self) -> Any:
        """:func:`salesplan.forecast.deal_win_probability` of winning within the forecast window
        (``horizon=settings.horizon``): what :attr:`forecast` uses with ``settings.win_model = "deal"``.
        """
        from salesplan.forecast.win_probability import WinProbability, deal_win_probability

        model = WinProbability(seed=self.settings.seed, n_threads=1, cv=3, max_iter=100)
        return deal_win_probability(self.scoped, as_of=self.as_of, horizon=self.settings.horizon,
                                    seed=self.settings.seed, model=model)

    @cached_property
    def deals_at_risk(self) -> pd.DataFrame:
        """Open deals expected to close in the forecast window whose win probability is below one half, largest
        amount first, with their reasons (:func:`salesplan.forecast.win_probability.deals_at_risk`).
        """
        from salesplan.forecast.win_probability import deals_at_risk

        return deals_at_risk(self.win_probability.deals, *self.window)

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

        import narwhals as nw

        whole = _on_engine(self.data, self.settings.engine) if self.settings.processes is not None \
            else self.engine_data
        orders = whole.orders
        if orders is not None:
            names = column_names(orders)
            n = row_count(orders, "orders", where=nw.col("is_return") if "is_return" in names else
                          nw.col("amount") < 0)
            if n:
                add("data", "info", f"{n} order line(s) with a negative amount kept as returns (is_return)",
                    "orders", n)
        if whole.opportunities is not None and whole.stage_events is not None:
            n = unmatched_count(whole.opportunities, whole.stage_events, "opportunity_id", "opportunities")
            if n:
                add("data", "info", "opportunities without stage events are counted as open in their process's "
                    "first stage", "opportunities", n)
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

    # ------------------------------------------- issue 19: comparisons, weighted pipeline, reps, breakdowns
    @cached_property
    def data_start(self) -> pd.Period:
        """First month with an opportunity (months before it are unknown in the comparisons, not zero)."""
        first, _ = time_span(self.engine_data.opportunities, "created_at", "opportunities")
        return pd.Period(first, "M")

    def _weighted_at(self, cut: pd.Timestamp) -> pd.DataFrame:
        counts = self.state_counts if cut == self.as_of else _state_counts(self.engine_data, cut)
        counts = counts[(counts["status"] == "open") & counts["process"].isin(self.processes)]
        table = weighted_pipeline(counts.rename(columns={"value": "amount"})[["process", "stage", "deals", "amount"]],
                                  self.funnel.win_rate)
        table = table.set_index("process").reindex(self.processes).fillna(0.0).reset_index()
        total = table.drop(columns="process").sum().to_frame().T.assign(process="(all)")
        out = pd.concat([table, total[table.columns]], ignore_index=True)
        out["open_deals"] = out["open_deals"].astype("int64")
        return out

    @cached_property
    def weighted_pipeline(self) -> pd.DataFrame:
        """The pipeline open at the cut weighted by each deal's win rate from its stage, per process and
        ``(all)`` (:func:`salesplan.control.comparisons.weighted_pipeline`; low / high put every stage at the end
        of its interval).
        """
        return self._weighted_at(self.as_of)

    @cached_property
    def weighted_pipeline_last_month(self) -> pd.DataFrame:
        """:attr:`weighted_pipeline` at the start of the reporting period (the previous period's cut), valued
        with today's win rates so that the change is the pipeline's, not the rates'.
        """
        return self._weighted_at(self.period.start_time)

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """Every headline figure of the reporting month against last month, the same month last year and plan
        (:func:`salesplan.control.comparisons.month_comparison`): contracts won (plan = the contract target
        pro-rated to the month), opportunities created, order revenue (plan = the revenue target pro-rated) and
        activities by kind (plan = the plan's activities pro-rated), plus the weighted pipeline (last month = at
        the start of the month; no plan, no year-ago value). Rows ``process == "(all)"`` add up the processes.
        """
        month = pd.Period(self.period.end_time, "M")
        start, end = month.start_time, (month + 1).start_time
        parts = [month_comparison(self.won_per_month(25), month, figure="contracts won", first=self.data_start,
                                  plan=self.target_between(start, end), total="(all)")]
        try:
            parts.append(month_comparison(self.created_per_month, month, figure="opportunities created",
                                          first=self.data_start, total="(all)"))
        except SalesplanError:
            logger.debug("no opportunities created per month", exc_info=True)
        try:
            rev = self.revenue_per_month
            plan = None
            targets = self.scoped.targets
            if targets is not None and "revenue" in targets.columns:
                plan = pd.Series({"(all)": float(target_between(
                    targets.drop(columns="contracts").rename(columns={"revenue": "contracts"}), start, end,
                    self.processes).sum())})
            parts.append(month_comparison(rev.set_axis(["(all)"], axis=1), month, figure="order revenue",
                                          first=self.data_start, plan=plan))
        except SalesplanError:
            logger.debug("no order revenue", exc_info=True)
        try:
            kinds = self.activities_per_month
            plan = self.activity_plan_month.groupby("kind")["plan"].sum() if len(self.activity_plan_month) else None
            acts = month_comparison(kinds, month, figure="activities", first=self.data_start, plan=plan)
            parts.append(acts.rename(columns={"process": "kind"}).assign(
                figure=lambda f: "activities: " + f["kind"]).drop(columns="kind").assign(process="(all)")[
                COMPARISON_COLUMNS])
        except SalesplanError:
            logger.debug("no activities", exc_info=True)
        try:
            now, before = self.weighted_pipeline, self.weighted_pipeline_last_month
            parts.append(pd.DataFrame({
                "figure": "weighted pipeline", "process": now["process"], "actual": now["weighted_amount"],
                "last_month": before["weighted_amount"].to_numpy(),
                "vs_last_month": now["weighted_amount"] - before["weighted_amount"].to_numpy(),
                "same_month_last_year": np.nan, "vs_last_year": np.nan, "plan": np.nan, "vs_plan": np.nan}))
        except SalesplanError:
            logger.debug("no weighted pipeline", exc_info=True)
        return pd.concat(parts, ignore_index=True)[COMPARISON_COLUMNS]

    def comparison(self, process: str) -> pd.DataFrame:
        """The rows of :attr:`comparisons` of one process (``"(all)"``: the totals)."""
        c = self.comparisons
        return c[c["process"] == process].drop(columns="process").reset_index(drop=True)

    @cached_property
    def activity_plan_month(self) -> pd.DataFrame:
        """``process, kind, plan``: the activities of the plan of record for the reporting month, each target
        period's planned activities pro-rated by days (:func:`salesplan.control.attainment.overlap_share`).
        """
        month = pd.Period(self.period.end_time, "M")
        pva = self.plan_vs_actual
        acts = pva[pva["measure"] == "activities"]
        if acts.empty:
            return pd.DataFrame(columns=["process", "kind", "plan"])
        share = acts["period"].map(lambda p: overlap_share(pd.Period(str(normalise_period(p) or p)),
                                                             month.start_time, (month + 1).start_time))
        acts = acts.assign(plan=acts["plan"].astype(float) * share.astype(float))
        acts = acts[acts["plan"] > 0]
        return acts.groupby(["process", "stage"], as_index=False)["plan"].sum().rename(columns={"stage": "kind"})

    @cached_property
    def rep_activities(self) -> pd.DataFrame:
        """Activities planned against logged per rep, process and kind in the reporting month
        (:func:`salesplan.control.rep_activity.rep_activity_plan_vs_actual`: the month's plan split over
        :attr:`team` by hours; logged = ``activities.owner``).
        """
        d = self.engine_data
        if d.activities is None or "owner" not in column_names(d.activities):
            raise FigureUnavailable("no activities with an owner column: activities per rep are not measured")
        counts = activity_counts(d.activities, d.opportunities, freq="M", as_of=self.as_of, by="owner")
        month = str(pd.Period(self.period.end_time, "M"))
        counts = counts[(counts["period"] == month) & counts["process"].isin(self.processes)]
        return rep_activity_plan_vs_actual(self.activity_plan_month, self.team, counts)

    def rep_activities_of(self, process: str) -> pd.DataFrame:
        """:attr:`rep_activities` of one process, one row per rep with ``<kind>_plan`` and ``<kind>_actual``."""
        t = self.rep_activities
        t = t[t["process"] == process]
        wide = t.pivot_table(index="owner", columns="kind", values=["plan", "actual"], aggfunc="sum", sort=True)
        wide.columns = [f"{kind}_{what}" for what, kind in wide.columns]
        order = sorted(wide.columns, key=lambda c: (c.rsplit("_", 1)[0], c.endswith("_actual")))
        return wide[order].reset_index()

    def rep_targets_next(self, process: str) -> pd.DataFrame:
        """Next month's targets per rep of one process: new opportunities and activities per kind, summed over
        the weeks of :attr:`rep_plan` that fall in the month (:func:`salesplan.control.rep_activity.
        rep_month_targets`), with the highest weekly utilisation.
        """
        t = self.rep_plan.table
        owners = sorted(set(t.loc[t["process"] == process, "owner"].astype(str)))
        return rep_month_targets(self.rep_plan.wide(), owners, self.next_month)

    @cached_property
    def deal_dimensions(self) -> pd.DataFrame:
        """One row per deal of the reported processes at the cut: status, stage, close date, amount, the chance
        to win from its stage (``p_win``; 1 won, 0 lost) and the breakdown dimensions (opportunity columns such
        as ``owner``, customer columns such as ``region``, ``industry``, ``size``). For exploring: it grows with
        the deals; :meth:`breakdown` reads a summary made in the engine instead.
        """
        d = self.engine_data
        opp_cols = set(column_names(d.opportunities))
        wanted = list(self.settings.breakdowns)
        attrs = list(dict.fromkeys(c for c in ("amount", "customer_id", "owner", "expected_close", *wanted)
                                   if c in opp_cols))
        deals = deal_states(d.stage_events, d.processes, d.opportunities, as_of=self.as_of, attributes=attrs)
        deals = deals[deals["process"].isin(self.processes)]
        customers = self.data.customers
        from_customers = [c for c in wanted if c not in opp_cols]
        if from_customers and isinstance(customers, pd.DataFrame) and "customer_id" in deals:
            have = [c for c in from_customers if c in customers.columns]
            deals = deals.merge(customers[["customer_id", *have]], on="customer_id", how="left")
        rates = win_rates_by_stage(self.funnel)
        p = [1.0 if st == "won" else 0.0 if st == "lost" else rates.get((proc, stage), np.nan)
             for proc, st, stage in zip(deals["process"], deals["status"], deals["stage"], strict=True)]
        return deals.assign(p_win=p).reset_index(drop=True)

    @cached_property
    def actions(self) -> pd.DataFrame:
        """The (at most three) things to act on, largest shortfall first (:func:`salesplan.control.actions.
        actions`): forecast short of target, open pipeline short of next month's target, capacity short next
        month, reps far below their planned activities. A figure that is not available adds no candidate.
        """
        def get(name: str) -> Any:
            try:
                return getattr(self, name)
            except SalesplanError:
                logger.debug("actions: %s not available", name, exc_info=True)
                return None

        capacity = get("capacity_short_next") if self.capacity_processes else None
        return actions(forecast=get("forecast_by_process"), coverage=get("coverage"), capacity_short=capacity,
                       capacity_month=self.period_label(self.next_month), reps=get("rep_activities"),
                       window=self.window_label())

    @property
    def breakdown_dimensions(self) -> list[str]:
        """``settings.breakdowns`` that the data has (deal or customer columns)."""
        have = set(column_names(self.engine_data.opportunities)) if self.engine_data.opportunities is not None \
            else set()
        customers = self.data.customers
        if isinstance(customers, pd.DataFrame) and "customer_id" in have:
            have |= set(customers.columns)
        return [c for c in self.settings.breakdowns if c in have]

    def breakdown(self, by: str) -> pd.DataFrame:
        """Won this period, win rate of the last 12 months (interval at ``settings.confidence``) and open and
        weighted pipeline per value of ``by`` (:func:`salesplan.control.breakdowns.breakdown`), from the deals
        summarised in the engine (:meth:`salesplan.reduce.states.DealRows.dimension_counts` of :attr:`deal_rows`).
        """
        if by not in self.breakdown_dimensions or self.deal_rows is None:
            raise FigureUnavailable(f"no column {by!r} in opportunities or customers to break down by")
        period = (self.period.start_time, self.as_of)
        year = (self.as_of - pd.DateOffset(years=1), self.as_of)
        customers = self.data.customers if isinstance(self.data.customers, pd.DataFrame) else None
        counts = self.deal_rows.dimension_counts(by, {"in_period": period, "in_year": year}, customers=customers)
        counts = counts[counts["process"].isin(self.processes)]
        rates = win_rates_by_stage(self.funnel)
        p = [rates.get((proc, stage), np.nan) if st == "open" else float(st == "won")
             for proc, st, stage in zip(counts["process"], counts["status"], counts["work_stage"], strict=True)]
        return breakdown(counts.assign(p_win=p), by, period=period, year=year, confidence=self.settings.confidence)


def _label(period: pd.Period) -> str:
    """``2025-12`` / ``2025-Q4`` (the period labels of the control tables)."""
    return str(period) if not period.freqstr.startswith("Q") else f"{period.year}-Q{period.quarter}"


def _status_table(counts: pd.DataFrame, processes: list[str]) -> pd.DataFrame:
    """Open / won / lost / total deals per process from :func:`salesplan.reduce.states.state_counts` rows."""
    table = counts.pivot_table(index="process", columns="status", values="deals", aggfunc="sum", fill_value=0) \
        if len(counts) else pd.DataFrame(index=pd.Index([], name="process"))
    table = table.reindex(index=processes, columns=["open", "won", "lost"], fill_value=0).astype("int64")
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table.rename_axis("process")


def _state_counts(data: SalesData, cut: pd.Timestamp) -> pd.DataFrame:
    if data.opportunities is None:
        raise SalesplanError("deal states need the opportunities table")
    events = data.stage_events
    if events is None:
        return pd.DataFrame(columns=["as_of", "process", "status", "work_index", "work_stage", "stage", "deals",
                                     "value"])
    return state_counts(events, data.processes, data.opportunities, dates=[cut])


#: The tables the reductions read in the engine; customers and targets are small and stay pandas (the funnel
#: gets customers in its engine when it groups by their attributes).
_REDUCED = ("orders", "opportunities", "stage_events", "activities")


def _all_pandas(data: SalesData) -> bool:
    return all(isinstance(getattr(data, t), pd.DataFrame | None) for t in TABLE_ORDER)


def _on_engine(data: SalesData, engine: str) -> SalesData:
    """``data`` with every pandas table converted to ``engine`` (native tables as they are)."""
    if engine == "pandas":
        if not _all_pandas(data):
            raise ConfigError("the data hold native engine tables (e.g. DuckDB or Polars): set "
                              "AnalysisSettings(engine=...) to their engine")
        return data
    frames = {t: to_engine(f, engine) if isinstance(f, pd.DataFrame) else f
              for t in _REDUCED if (f := getattr(data, t)) is not None}
    return dataclasses.replace(data, **frames)


def _scope_native(data: SalesData, names: list[str]) -> dict[str, Any]:
    """The opportunities, stage events, activities and targets of processes ``names``, filtered lazily (native
    tables) or in pandas (pandas tables).
    """
    import narwhals as nw

    def native(frame: Any, keep: Any) -> Any:
        if isinstance(frame, pd.DataFrame):
            return nw.from_native(frame, eager_only=True).filter(keep).to_native().reset_index(drop=True)
        return nw.from_native(frame).filter(keep).to_native()

    opps = native(data.opportunities, nw.col("process").is_in(names))
    ids = nw.from_native(opps).select(nw.col("opportunity_id"))
    out: dict[str, Any] = {"opportunities": opps}
    if data.stage_events is not None:
        out["stage_events"] = nw.from_native(data.stage_events).join(ids, on="opportunity_id", how="semi") \
            .to_native()
    acts = data.activities
    if acts is not None:
        names_a = column_names(acts)
        wrapped = nw.from_native(acts)
        if "process" in names_a:
            wrapped = wrapped.filter(nw.col("process").is_in(names) | nw.col("process").is_null())
        if "opportunity_id" in names_a:
            keep = ids.with_columns(nw.lit(True).alias("_salesplan_keep"))
            wrapped = wrapped.join(keep, on="opportunity_id", how="left").filter(
                nw.col("opportunity_id").is_null() | ~nw.col("_salesplan_keep").is_null()).drop("_salesplan_keep")
        out["activities"] = wrapped.to_native()
    if data.targets is not None:
        out["targets"] = native(data.targets, nw.col("process").is_in(names))
    return out

