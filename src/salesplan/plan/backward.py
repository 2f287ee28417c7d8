"""Work backward from a target of x contracts to the stage volumes, activities, timing, capacity and cost.

:func:`backward` is the entry point; it returns a :class:`Plan`.

Known rates against uncertain rates
    With a mapping of stage -> rate the rates are taken as known and the entries needed follow the negative
    binomial. With a fitted funnel (or a table with ``alpha``/``beta``) each rate carries its estimation
    uncertainty, the win rate is a Beta distribution and the entries follow the beta-negative-binomial
    predictive: the plan is larger, more so the less data stand behind a rate. Expected entries
    (``contracts / win_rate``) are the same in both cases.

Examples
--------
10 contracts, two stages at 50% and 40% (win rate 20%): 50 leads on average, 61 for an 80% target probability when the rates
are known. If the rates were estimated from 20 and 10 deals only, an 80% target probability needs many more leads:

>>> from salesplan.plan import backward
>>> known = backward(10, {"lead": 0.5, "offer": 0.4})
>>> known.volumes[["stage", "expected_entries", "required_entries", "method"]].to_dict("records")
[{'stage': 'lead', 'expected_entries': 50.0, 'required_entries': 61, 'method': 'negative_binomial'},
 {'stage': 'offer', 'expected_entries': 25.0, 'required_entries': 30, 'method': 'negative_binomial'}]
>>> rates = pd.DataFrame({"stage": ["lead", "offer"], "alpha": [10.0, 4.0], "beta": [10.0, 6.0]})
>>> uncertain = backward(10, rates)
>>> uncertain.volumes[["stage", "expected_entries", "required_entries", "method"]].to_dict("records")
[{'stage': 'lead', 'expected_entries': 50.0, 'required_entries': 83, 'method': 'beta_negative_binomial'},
 {'stage': 'offer', 'expected_entries': 25.0, 'required_entries': 38, 'method': 'beta_negative_binomial'}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result
from salesplan._validation import check_choice
from salesplan.errors import PlanInputError
from salesplan.plan._inputs import FunnelView, funnel_view, normalise_targets
from salesplan.plan.activities import activity_ratio_table, plan_activities
from salesplan.plan.capacity import CapacityReport, capacity_report
from salesplan.plan.cost import plan_cost
from salesplan.plan.schedule import time_phase
from salesplan.plan.volumes import check_target_probability, required_entries

__all__ = ["backward", "Plan", "VOLUME_COLUMNS"]

logger = logging.getLogger(__name__)

VOLUME_COLUMNS = ["process", "segment", "period", "stage", "contracts", "rate", "win_rate", "win_alpha",
                  "win_beta", "expected_entries", "required_entries", "probability", "target_probability", "method"]


@dataclass(frozen=True, repr=False)
class Plan(Result):
    """The result of :func:`backward`: stage volumes per target, activities, and methods for timing and capacity.

    Attributes
    ----------
    targets : DataFrame
        The normalised targets (process, segment, period, contracts [, revenue]).
    volumes : DataFrame
        Per (process, segment, period, stage): ``contracts``, ``rate`` (stage rate), ``win_rate`` (from this
        stage), ``win_alpha``/``win_beta`` (its Beta, NaN when known), ``expected_entries``
        (``contracts / win_rate``), ``required_entries`` (smallest n reaching the target with probability
        ``target_probability``), ``probability`` (the probability those entries actually give), ``target_probability``,
        ``method`` (``negative_binomial`` or ``beta_negative_binomial``).
    activity_ratios : DataFrame
        Activities per stage entry used (``process, stage, kind, per_entry, source``).
    target_probability : float
        The chance of reaching each target the required volumes are sized for.
    as_of : Timestamp or None
        The cut a netted plan (:meth:`net_of`) or a plan of record was made at; its schedule starts there.
    record : dict or None
        For a plan loaded by :func:`salesplan.plan.load_plan`: ``path``, ``created``, ``salesplan`` (version),
        ``settings``.
    """

    targets: pd.DataFrame
    volumes: pd.DataFrame
    activity_ratios: pd.DataFrame
    target_probability: float
    view: FunnelView = field(repr=False)
    durations: Mapping[str, Any] | None = field(default=None, repr=False)
    as_of: pd.Timestamp | None = None
    record: dict[str, Any] | None = field(default=None, repr=False)
    _schedules: dict[Any, pd.DataFrame] = field(default_factory=dict, repr=False)

    def title(self) -> str:
        """Target probability and size of the plan."""
        return f"Plan at target probability {self.target_probability:.0%}: {int(self.targets['contracts'].sum())} " \
               f"contracts in {len(self.targets)} target row(s)"

    @property
    def activities(self) -> pd.DataFrame:
        """Expected and required activities per (process, segment, period, kind)."""
        return plan_activities(self.volumes, self.activity_ratios)

    @property
    def stage_activities(self) -> pd.DataFrame:
        """Activities per (process, segment, period, stage, kind)."""
        return plan_activities(self.volumes, self.activity_ratios, by_stage=True)

    def schedule(self, freq: str = "W", *, durations: Mapping[str, Any] | None = None,
                 as_of: Any = None) -> pd.DataFrame:
        """Entries and activities per calendar bucket so contracts land in their target period.

        See :mod:`salesplan.plan.schedule` for the method. ``freq`` is ``"W"`` (weeks from Monday), ``"M"`` or
        ``"Q"``; ``durations`` (days to advance per stage) overrides the funnel's timing. With ``as_of`` (default
        the plan's own ``as_of``, set for a netted plan) nothing is placed before the cut: work due earlier is in
        catch-up rows (``catch_up``, ``shortfall_contracts``) in the cut's bucket.
        """
        cut = self.as_of if as_of is None else pd.Timestamp(as_of)
        key = (freq, cut)
        if durations is None and key in self._schedules:
            return self._schedules[key].copy()
        out = time_phase(self.volumes, self.activity_ratios, self.view, freq,
                         durations=durations if durations is not None else self.durations, as_of=cut)
        if durations is None:
            self._schedules[key] = out
        return out.copy()

    def net_of(self, forecast: Any) -> Plan:
        """The plan net of the open pipeline: new entries still needed once the open deals have done their part.

        ``forecast`` is a :class:`salesplan.forecast.PipelineForecast` made from the same funnel at the cut
        (``freq="M"``, a horizon covering the target periods). Method: :mod:`salesplan.plan.netting` (open-deal
        wins and new-entry wins share one draw of the rates per simulation). The result's ``as_of`` is the
        forecast's cut, so its schedule starts there; target periods that ended before the cut are left out.
        """
        from salesplan.plan.netting import net_volumes

        volumes = net_volumes(self.volumes, self.view, forecast, self.target_probability)
        cols = ["process", "segment", "period"]  # compared as Python objects (not iterated through pandas)
        keep = set(zip(*(volumes[c].to_numpy(dtype=object) for c in cols), strict=True))
        mask = [k in keep for k in zip(*(self.targets[c].to_numpy(dtype=object) for c in cols), strict=True)]
        return Plan(self.targets[mask].reset_index(drop=True), volumes, self.activity_ratios, self.target_probability,
                    self.view, self.durations, as_of=pd.Timestamp(forecast.as_of))

    def reachability(self, as_of: Any = None) -> pd.DataFrame:
        """Per target row and first stage: whether the target can still be reached from the cut.

        ``catch_up_share`` is the share of the row's entries due before the cut (:meth:`schedule` with
        ``as_of``); ``landing_if_now`` the chance that a won entry made at the cut closes inside the target
        period (from the lead-time distribution); ``catch_up_entries`` the entries to make now so the catch-up
        contracts still land in time (``required * share / landing``, rounded up; NaN when they cannot land);
        ``reachable`` is False when catch-up work is due and cannot land at all, and then ``best_probability``
        is the chance of reaching the target with the scheduled entries and the open pipeline only
        (beta-binomial at the plan's win rate; the open deals' wins taken at their expectation).
        """
        from salesplan.plan.schedule import lead_time_pmf
        from salesplan.plan.volumes import win_probability

        cut = self.as_of if as_of is None else pd.Timestamp(as_of)
        if cut is None:
            raise PlanInputError("reachability needs the cut: give as_of= (or net the plan with net_of)")
        cut = pd.Timestamp(cut).normalize()
        sched = self.schedule("D", as_of=cut)
        first = self.volumes.groupby(["process", "segment", "period"], sort=False).head(1)
        rows = []
        for r in first.itertuples(index=False):
            mine = sched[(sched["process"] == r.process) & (sched["segment"] == r.segment)
                         & (sched["target_period"] == r.period) & (sched["stage"] == r.stage)
                         & (sched["item"] == "entries")]
            total = float(mine["expected"].sum())
            share = float(mine.loc[mine["catch_up"], "expected"].sum()) / total if total > 0 else 0.0
            per = pd.Period(str(r.period))
            pmf = lead_time_pmf(self.view, r.process, r.stage, durations=self.durations, segment=r.segment)
            days = np.arange(len(pmf))
            land = cut + pd.to_timedelta(days, unit="D")
            landing = float(pmf[(land >= per.start_time) & (land <= per.end_time)].sum())
            reachable = share <= 1e-9 or landing > 0
            open_c = float(getattr(r, "open_contracts", 0.0)) if hasattr(r, "open_contracts") else 0.0
            if reachable:
                best = float(r.probability)
                catch = float(np.ceil(r.required_entries * share / landing - 1e-9)) if share > 1e-9 else 0.0
            else:
                left = max(int(round(r.contracts - open_c)), 0)
                n_sched = int(np.floor(r.required_entries * (1 - share)))
                a = getattr(r, "win_alpha", np.nan)
                b = getattr(r, "win_beta", np.nan)
                best = 1.0 if left == 0 else float(win_probability(
                    n_sched, left, r.win_rate, alpha=None if not np.isfinite(a) else a,
                    beta=None if not np.isfinite(b) else b))
                catch = np.nan
            rows.append({"process": r.process, "segment": r.segment, "period": r.period, "stage": r.stage,
                         "contracts": r.contracts, "catch_up_share": share, "landing_if_now": landing,
                         "catch_up_entries": catch, "reachable": reachable, "best_probability": best})
        out = pd.DataFrame(rows)
        for row in out[~out["reachable"]].itertuples(index=False) if len(out) else []:
            logger.warning("target %s %s %s can no longer be reached at probability %.2f from %s: best reachable "
                           "%.2f", row.process, row.segment, row.period, self.target_probability, cut.date(),
                           row.best_probability)
        return out

    def per_rep(self, team: Any, *, freq: str = "W", as_of: Any = None, basis: str = "required",
                split: str = "capacity", hours: Any = None, within_capacity: bool = True) -> Any:
        """The plan's entries and activities per rep and week (or month) as whole numbers, with utilisation.

        ``team`` is a team table (:func:`salesplan.plan.read_team`, a frame, a list of rows, or a .toml/.csv
        path). The schedule starts at ``as_of`` (default the plan's). Method: :mod:`salesplan.plan.reps`.
        Returns a :class:`salesplan.plan.RepPlan` (``table``, ``utilisation``, ``wide()``, ``to_excel()``).
        ``within_capacity`` (default) moves work out of weeks that need more hours than the process's reps have,
        first to earlier weeks with spare hours, then to later ones; ``RepPlan.load`` shows what moved and what
        still does not fit.
        """
        from salesplan.plan.reps import allocate_to_reps
        from salesplan.plan.team import TEAM_COLUMNS, read_team

        cut = self.as_of if as_of is None else pd.Timestamp(as_of)
        if cut is None:
            raise PlanInputError("per_rep needs the cut the work starts from: give as_of= (or net the plan first)")
        if not (isinstance(team, pd.DataFrame) and set(TEAM_COLUMNS) <= set(team.columns)):
            team = read_team(team, processes=list(self.view.processes))
        firsts = {name: proc.stages[0] for name, proc in self.view.processes.items()}
        return allocate_to_reps(self.schedule(freq, as_of=cut), team, basis=basis, split=split, freq=freq,
                                hours=hours, as_of=cut, first_stages=firsts, within_capacity=within_capacity)

    def headcount(self, team: Any, profile: Mapping[str, Any], *, as_of: Any = None, hours: Any = None,
                  basis: str = "required") -> Any:
        """Reps of ``profile`` to hire per process, by when, and the cost, so the plan fits the team's hours.

        Method and assumptions: :mod:`salesplan.plan.headcount`. Returns a :class:`~salesplan.plan.headcount.
        Headcount` (``table`` per process and month, ``summary`` per process).
        """
        from salesplan.plan.headcount import headcount

        return headcount(self, team, profile, as_of=as_of, hours=hours, basis=basis)

    def save(self, path: Any, *, settings: dict[str, Any] | None = None) -> Any:
        """Save as the plan of record (JSON; :mod:`salesplan.plan.record`).

        :func:`salesplan.plan.load_plan` reads it back exactly. Returns the path.
        """
        from salesplan.plan.record import save_plan

        return save_plan(self, path, settings=settings)

    def capacity(self, teams: Any, hours: Any, *, freq: str = "M", basis: str = "required",
                 raise_if_infeasible: bool = False) -> CapacityReport:
        """Required against available hours per period and team (see :mod:`salesplan.plan.capacity`)."""
        return capacity_report(self.schedule(freq), teams, hours, basis=basis,
                               raise_if_infeasible=raise_if_infeasible)

    def cost(self, unit_costs: Any, *, by: str = "kind") -> pd.DataFrame:
        """Activity cost; ``by="kind"`` per (process, segment, period, kind), ``by="process"`` per process.

        Per process the table has ``contracts``, ``expected_cost``, ``required_cost`` and the cost per contract
        in both variants.
        """
        check_choice(by, "by", ("kind", "process"))
        detail = plan_cost(self.activities, unit_costs)
        if by == "kind":
            return detail
        costs = detail.groupby("process")[["expected_cost", "required_cost"]].sum()
        contracts = self.targets.groupby("process")["contracts"].sum()
        out = pd.DataFrame({"contracts": contracts}).join(costs).fillna(0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["expected_cost_per_contract"] = out["expected_cost"] / out["contracts"]
            out["required_cost_per_contract"] = out["required_cost"] / out["contracts"]
        return out.reset_index()

    def summary(self) -> pd.DataFrame:
        """Per process and segment: contracts, entries into the first stage (expected and required), activities."""
        first = self.volumes.groupby(["process", "segment", "period"], sort=False).head(1)
        out = first.groupby(["process", "segment"], sort=False).agg(
            first_stage=("stage", "first"), contracts=("contracts", "sum"),
            expected_entries=("expected_entries", "sum"), required_entries=("required_entries", "sum"))
        acts = self.activities
        if not acts.empty:
            wide = acts.pivot_table(index=["process", "segment"], columns="kind", values="required", aggfunc="sum")
            out = out.join(wide.add_prefix("required_"))
        return out.reset_index()


def plan_volumes(targets: pd.DataFrame, view: FunnelView, target_probability: float) -> pd.DataFrame:
    """Stage volumes for normalised targets (vectorised over every target and stage)."""
    stage_pos = {(p, s): i for p, proc in view.processes.items() for i, s in enumerate(proc.stages)}
    win = view.win.merge(view.rates[["process", "segment", "stage", "rate"]], on=["process", "segment", "stage"],
                         how="left")
    win = win.rename(columns={"alpha": "win_alpha", "beta": "win_beta"})
    tab = targets.reset_index().rename(columns={"index": "_row"})
    vol = tab.merge(win, on=["process", "segment"], how="inner")
    vol["_pos"] = [stage_pos.get(k, 0) for k in zip(vol["process"].tolist(), vol["stage"].tolist(), strict=True)]
    vol = vol.sort_values(["_row", "_pos"], kind="stable").reset_index(drop=True)
    x = vol["contracts"].to_numpy(float)
    p = vol["win_rate"].to_numpy(float)
    a = vol["win_alpha"].to_numpy(float)
    b = vol["win_beta"].to_numpy(float)
    vol["expected_entries"] = x / p
    vol["required_entries"], vol["probability"] = required_entries(x, p, target_probability, alpha=a, beta=b,
                                                                   return_probability=True)
    vol["target_probability"] = target_probability
    uncertain = np.isfinite(a) & np.isfinite(b)
    vol["method"] = np.where(uncertain, "beta_negative_binomial", "negative_binomial")
    return vol[VOLUME_COLUMNS]


def backward(targets: Any, funnel: Any, target_probability: float = 0.8, *, process: str | None = None,
             period: Any = None, activity_ratios: Any = None, durations: Mapping[str, Any] | None = None,
             processes: Mapping[str, Any] | None = None) -> Plan:
    """Plan backward from contract targets to the entries each stage needs.

    Parameters
    ----------
    targets : int or DataFrame
        Contracts for the funnel's single process, or the canonical targets table ``process, period, contracts``
        (optional ``segment``, ``revenue``); see :func:`salesplan.plan.targets_from_revenue` for revenue targets.
    funnel : Funnel, SnapshotFunnel, mapping or DataFrame
        A fitted ``salesplan.funnel.Funnel`` (grouped by any columns: targets then carry those columns, or a
        ``segment`` with their values joined by ``" | "``); a ``SnapshotFunnel`` (entries into its dated stage);
        ``{stage: rate}``; ``{process: {stage: rate}}``; or a table with ``stage`` and ``rate`` and/or ``alpha``,
        ``beta`` (optional ``process``, ``segment``).
    target_probability : float
        Probability, in (0, 1), of reaching each target row.
    process : str, optional
        Name of the process of a single-process mapping or table (default ``"process"``); with a single-number
        target and a multi-process funnel, the process the target is for.
    period : str, optional
        Calendar period of a single-number target (needed for :meth:`Plan.schedule`).
    activity_ratios : DataFrame or mapping, optional
        Activities per stage entry; overrides measured and process-definition ratios. A mapping is
        ``{process: {stage: {kind: per_entry}}}``, or ``{stage: {kind: per_entry}}`` for a one-process funnel (or
        the ``process`` given).
    durations : mapping, optional
        Days to advance per stage (``{stage: days}`` or ``{process: {stage: days}}``) for the schedule.
    processes : mapping, optional
        Process definitions for mapping funnels (stage order, default activities); default the five defaults.

    Returns
    -------
    Plan

    Raises
    ------
    PlanInputError
        Confidence outside (0, 1); a rate of zero or outside (0, 1]; a target for a process or segment the
        funnel does not cover; a negative or fractional single-number target.
    SchemaError
        The targets table breaks a rule (negative or fractional contracts, unknown process, bad period).

    Notes
    -----
    Each stage's required entries answer "how many must enter this stage" on their own; they are quantiles, so
    they do not multiply down exactly like the expected entries. Method and reference: see
    :mod:`salesplan.plan.volumes`.

    ``target_probability`` holds on average over the rates the data allow (the plan is a posterior-predictive
    quantile), not for every history: when the estimate is high by chance, the plan reaches its target under the
    true rates less often. On the simulator (losses 7 times slower than advances, 8 contracts a quarter, 50 worlds;
    ``scripts/check_slow_loss_calibration.py``), an 80% plan reached its target with probability 0.82 on average and
    0.49 in the worst world from one year of history (first stage's 95% win-rate interval about +-37% of the rate),
    and 0.82 on average and 0.61 at worst from three years (about +-21%). From 0.6 years with losses 5-10 times
    slower and a quarter of the deals still open (``--config issue``, about +-24%): 0.84 on average and 0.53 at worst,
    with the truth's rank in the plan's posterior uniform over the worlds (the spread is the posterior's width, not
    a bias). Wide win-rate intervals in ``funnel.win_rate`` are the sign that a single plan may fall well below
    its stated level; see the planning guide.
    """
    target_probability = check_target_probability(target_probability)
    view = funnel_view(funnel, process=process, processes=processes)
    tab = normalise_targets(targets, view, period=period, process=process)
    volumes = plan_volumes(tab, view, target_probability)
    ratios = activity_ratio_table(view, activity_ratios, process=process)
    logger.info("planned %d target row(s), %d contracts, target probability %.2f", len(tab), int(tab["contracts"].sum()),
                target_probability)
    return Plan(tab, volumes, ratios, target_probability, view, durations)
