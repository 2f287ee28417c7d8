"""Pipeline forecast: which open opportunities close as won within the horizon, with the full distribution.

Model (a semi-Markov competing-risk model of each stage; see Kalbfleisch & Prentice 2002, ch. 8, and the mixture
"cure" view of competing risks of Larson & Dinse 1985)
    An opportunity in working stage ``k`` leaves it by advancing (probability ``r_k``, the funnel's stage rate) or
    by being lost; the time spent in the stage depends on the way out: ``S_a`` and ``S_l`` are the survival
    functions of the days in the stage among stays that end in an advance and in a loss. An opportunity that has
    already spent ``t`` days in its stage advances with the updated probability

    .. math:: P(\\text{advance} \\mid T > t) = \\frac{r_k S_a(t)}{r_k S_a(t) + (1 - r_k) S_l(t)}

    (deals that stall lose probability when losses are slower than advances) and then needs the remaining
    ``T_a - t`` days (``T_a`` drawn from ``S_a`` truncated at ``t``), followed by each later stage (advance with
    ``r_j`` after a fresh ``T_a``). It is won within the horizon when every step advances and the days add up to
    no more than the horizon.

    ``S_a`` and ``S_l`` are the funnel's own Aalen-Johansen curves (``Funnel.stay_curves``): with ``F_1``,
    ``F_2`` the cumulative incidences of advance and loss and ``R`` the stage's estimated rate, ``S_a = 1 -
    F_1 / R`` and ``S_l = 1 - F_2 / (1 - R)``, so at the estimated rate a deal ``t`` days in advances with the
    funnel's own ``(R - F_1(t)) / (1 - F_1(t) - F_2(t))``
    (:func:`salesplan.forecast.open_deals.curve_log_ratio`). Beyond the funnel's horizon the time to advance
    follows a log-normal fitted to the quartiles of the days to advance, joined to the curve at the horizon;
    without curves (:meth:`FunnelParameters.from_values`) both are log-normals fitted to the quartiles. Why not
    the log-normals everywhere: their long right tail keeps old deals alive. On the simulator with losses 7 times
    slower (gamma stage times) deals 20 or more days into their stage got 1.7 times their true chance to advance
    and the wins in the quarter after the cut came out 43% too high; from the curves 1.22 and 17%
    (``tests/forecast/test_open_deal_truth.py``; 50 worlds in ``scripts/check_slow_loss_calibration.py``).

Uncertainty
    The stage rates are uncertain: in each Monte Carlo draw every stage rate is drawn once from its effective
    ``Beta(alpha, beta)`` (``Funnel.rates``) and shared by all opportunities, so the draws carry the correlation
    that rate uncertainty induces (a plain Poisson-binomial would be too narrow). The distribution of the number
    of wins (and of revenue) per process and period is the distribution over draws.

Simulation from a summary
    Open deals that share every input of the model (process and group, stage, age bucket, driver shift bucket)
    are simulated together as counts: per draw a binomial number of wins in the window, split over the periods
    by a multinomial (:mod:`salesplan.forecast.open_deals`, which states the method, the age-bucket
    approximation and how revenue is drawn). Time and memory grow with draws x cells, not with the number of
    open deals. The per-deal probabilities in ``deals`` are exact averages over the draws of the rates (no
    Bernoulli noise): ``p_win`` is the mean over draws of the chance to win at all times the chance that the
    win lands inside the window.

    On an engine other than pandas (DuckDB, Polars, Spark) the open deals are not collected one row each with
    their ids and text: only their process, group, stage, days in stage and amount are (numbers and shared
    strings; :meth:`salesplan.reduce.states.DealRows.open_positions`), and ``deals`` has one row per cell (see
    ``per_deal=``). The draws are the same as from the per-deal table (same deals in the same order, same random
    stream), so the forecast does not depend on the engine.

Deal attributes (``drivers=``)
    A fitted :class:`salesplan.funnel.DriverModel` (``salesplan.funnel.drivers``) moves each open deal's
    *eventual* win probability by its attributes, while the *timing* (which part of it lands inside the horizon)
    still comes from the funnel's curves. With ``p_stage`` the deal's eventual win probability from its stage and
    days in stage at the mean rates (``P(advance | T > t)`` times the later stage rates) and ``s = (x - xbar)
    beta`` the driver model's log-odds shift of the deal's attributes ``x`` (``xbar`` the mean of the deals it
    was fitted on), the target is

    .. math:: p_{\\text{drivers}} = \\operatorname{expit}(\\operatorname{logit} p_{\\text{stage}} + s)

    and the deal's advance probabilities are multiplied by ``f = p_drivers / p_stage``: the current stage's
    first, and when that would pass 1, the rest of ``f`` goes to the later stages in turn (so at the mean rates
    the eventual win probability is exactly ``p_drivers``). Since the time to advance does not depend on
    whether the deal advances, this scales the win-within-horizon probability by ``f`` as well. The multipliers
    are applied in every Monte Carlo draw to the drawn rates (capped at 1), so the shared rate uncertainty is
    kept. Assumption (the driver model's own): one odds ratio for all stages and processes, and the shift is
    relative to the mix of deals the driver model was fitted on, so a pipeline with that mix keeps about the
    same expected total. Deals with a missing attribute keep ``f = 1``; an unseen category counts as the
    reference level. Do not combine with a funnel grouped (``by``) on the same attribute: its effect would be
    counted twice.

A calibrated win probability per deal (``win_probability=``)
    Instead of the stage rates, each open deal's win probability can come from a per-deal model,
    :func:`salesplan.forecast.deal_win_probability` (stage, time in stage, pushes, amount changes, activity,
    owner, account), either ``P(won by the window's end)`` (fitted with the forecast's ``horizon``; preferred) or
    ``P(won ever)`` (fitted without one). The deal's target eventual win probability ``p_deal`` is the latter, or
    the former divided by ``T``, the funnel's chance that a win of a deal of that stage and days in stage lands in
    the window (capped below 1; the mass the cap drops is logged). With ``p_stage`` as above, the deal gets the
    log-odds shift ``s = logit p_deal - logit p_stage`` and is simulated exactly like a deal with a driver shift
    (multipliers of its advance probabilities, applied to every draw's rates, so that at the mean rates its
    eventual win probability is ``p_deal``; the shared rate uncertainty is kept). So with ``P(won by the window's
    end)`` the expected wins in the window are the model's, and only their split over the periods comes from the
    funnel's curves; with ``P(won ever)`` the timing comes from the curves too, which ignore what the model knows
    about when a deal closes (its expected close date, say): on the simulator this under-forecast next month's
    wins by 14% (45 process-months, 194 wins expected against 226), against -1% with ``P(won by the window's
    end)`` and -1% with the stage rates. Deals without a probability keep the stage rates (logged), and so do
    the opportunities not yet created (the ``"new"`` component).
    Deals are summarised into cells by their shift bucket as for drivers (:data:`~salesplan.forecast.open_deals.
    SHIFT_STEP` wide in log-odds), so memory stays bounded by the chunks of draws x cells. Assumption: the model
    is calibrated for the open deals of the cut (fitted out of time; :func:`salesplan.forecast.deal_win_probability`
    checks it); a probability fitted on other processes or an older mix of deals moves the total accordingly.

New opportunities
    Opportunities not yet created arrive as a Poisson process whose rate per process is drawn from the Gamma
    posterior of the creations in the last ``creation_window`` days (Jeffreys prior); they enter the first stage
    and follow the same model. They are reported as the separate component ``"new"``; the open pipeline is
    ``"pipeline"``. They are simulated as counts, not deal by deal: in a draw with creation rate ``lambda`` (per
    window) and stage rates ``r``, a deal created at a uniform time in the window is won in period ``t`` with
    chance ``prod(r) q_t`` (``q_t`` from :func:`salesplan.forecast.open_deals.arrival_timing`, independent of the
    rates), so by the thinning (colouring) theorem of Poisson processes (Kingman 1993, *Poisson Processes*,
    ch. 5.1) the wins per period are independent ``Poisson(lambda prod(r) q_t)``. Each win's amount is drawn from
    the amounts of past deals. Time and memory grow with draws x periods and the wins, not with the deals
    created.

Assumptions: the stage rates and durations of the funnel hold over the horizon; opportunities are independent given
the rates; no reopening; creation has no seasonality over the horizon.

Examples
--------
>>> import pandas as pd
>>> from salesplan import SalesProcess
>>> from salesplan.forecast.pipeline import FunnelParameters, pipeline
>>> proc = SalesProcess("p", ["lead", "offer"])
>>> funnel = FunnelParameters.from_values({"p": proc}, rates={("p", "lead"): (0.5, 200), ("p", "offer"): (0.5, 200)},
...                                       advance_days={("p", "lead"): 5, ("p", "offer"): 5})
>>> ev = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": ["offer", "offer"],
...                    "entered_at": pd.to_datetime(["2025-01-01", "2025-01-01"])})
>>> opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "amount": [100.0, 300.0],
...                      "created_at": pd.to_datetime(["2024-12-01", "2024-12-01"])})
>>> fc = pipeline(ev, funnel, opportunities=opps, as_of="2025-01-01", horizon="365D", include_new=False, seed=1)
>>> round(fc.expected, 1), fc.interval(0.8)
(1.0, (0.0, 2.0))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from salesplan._columns import as_read, is_str
from salesplan._results import Result
from salesplan._validation import check_freq, check_positive, check_probability, horizon_end
from salesplan.errors import ConfigError, SchemaError
from salesplan.forecast.open_deals import (
    advance_curve,
    advance_share,
    arrival_timing,
    curve_log_ratio,
    simulate_cells,
    summarise,
    survival_ratio,
    timing,
)
from salesplan.parse import to_naive_utc
from salesplan.process import SalesProcess
from salesplan.reduce.states import opportunity_amounts, time_span
from salesplan.schema import normalise_period

__all__ = ["pipeline", "PipelineForecast", "FunnelParameters", "open_pipeline"]

logger = logging.getLogger(__name__)

#: log-normal sigma used when a duration has a median but no quartiles
DEFAULT_SIGMA = 0.8
#: The open deals' cells are simulated in chunks of draws of at most this many (draw, cell) pairs, so memory stays
#: bounded whatever the number of draws and open deals (see ``salesplan.forecast.open_deals``). Chunks of a few
#: megabytes also spare the system the page faults of fresh large arrays: at 2,000,000 pairs the benchmark's
#: simulation spent twice its user time in the kernel (1.6 s system against 0.2 s at 250,000).
_CHUNK_CELLS = 250_000
#: Past deals' amounts beyond this many distinct values per table are pooled into 0.01% bins in the engine
#: (:func:`salesplan.reduce.states.opportunity_amounts`), so valuing new deals does not collect every deal.
_MAX_AMOUNTS = 100_000
_Z75 = stats.norm.ppf(0.75)


@dataclass
class FunnelParameters:
    """The parts of a funnel the pipeline forecast uses, per (process, group..., stage).

    Built from a :class:`salesplan.funnel.Funnel` with :meth:`from_funnel` (what :func:`pipeline` does) or from
    plain values with :meth:`from_values` (tests, what-if scenarios).

    Attributes
    ----------
    processes : dict
        Process name -> SalesProcess.
    by : list of str
        Group columns of the funnel (matched against the opportunities' columns).
    rates : DataFrame
        ``process, *by, stage, rate, alpha, beta``.
    durations : DataFrame
        ``process, *by, stage, outcome, mu, sigma``: log-normal parameters of the days to advance / loss.
    as_of : Timestamp or None
        Data cut of the funnel.
    """

    processes: dict[str, SalesProcess]
    by: list[str]
    rates: pd.DataFrame
    durations: pd.DataFrame
    as_of: pd.Timestamp | None = None
    #: the funnel's Aalen-Johansen fits per ``(process, group tuple, stage)`` (``Funnel.stay_curves``): an open
    #: deal's chance to advance is read from them (:func:`salesplan.forecast.open_deals.curve_log_ratio`)
    curves: dict[tuple, Any] = field(default_factory=dict, repr=False)
    #: the funnel's ``stale_after_days``: open deals that long in their stage count as lost (left out)
    stale_after_days: float | None = None

    @classmethod
    def from_funnel(cls, funnel: Any) -> FunnelParameters:
        """Read ``processes``, ``by``, ``rates`` and ``durations`` of a Funnel (the interface in CONTRIBUTING)."""
        if isinstance(funnel, FunnelParameters):
            return funnel
        for attr in ("processes", "rates", "durations"):
            if not hasattr(funnel, attr):
                raise ConfigError(f"pipeline: the funnel has no '{attr}'; pass a salesplan.funnel.Funnel")
        by = list(getattr(funnel, "by", []) or [])
        rates = funnel.rates
        need = {"process", "stage", "rate", "alpha", "beta", *by}
        if not need <= set(rates.columns):
            raise ConfigError(f"pipeline: funnel.rates lacks columns {sorted(need - set(rates.columns))}")
        durations = _lognormal_durations(funnel.durations, by)
        as_of = getattr(funnel, "as_of", None)
        return cls(dict(funnel.processes), by, rates[["process", *by, "stage", "rate", "alpha", "beta"]].copy(),
                   durations, None if as_of is None else pd.Timestamp(as_of),
                   dict(getattr(funnel, "stay_curves", None) or {}), getattr(funnel, "stale_after_days", None))

    @classmethod
    def from_values(cls, processes: Mapping[str, SalesProcess], rates: Mapping[tuple[str, str], tuple[float, float]],
                    advance_days: Mapping[tuple[str, str], float], loss_days: Mapping[tuple[str, str], float] | None = None,
                    sigma: float = DEFAULT_SIGMA) -> FunnelParameters:
        """Parameters from plain values.

        ``rates``: ``{(process, stage): (rate, n)}`` with the Beta ``(rate * n, (1 - rate) * n)``;
        ``advance_days`` / ``loss_days``: median days (loss default: twice the advance median).
        """
        rrows, drows = [], []
        for (proc, stage), (rate, n) in rates.items():
            rrows.append({"process": proc, "stage": stage, "rate": rate, "alpha": rate * n, "beta": (1 - rate) * n})
        for (proc, stage), days in advance_days.items():
            loss = (loss_days or {}).get((proc, stage), 2 * days)
            drows.append({"process": proc, "stage": stage, "outcome": "advance", "mu": np.log(days), "sigma": sigma})
            drows.append({"process": proc, "stage": stage, "outcome": "loss", "mu": np.log(loss), "sigma": sigma})
        return cls(dict(processes), [], pd.DataFrame(rrows), pd.DataFrame(drows))


def _lognormal_durations(durations: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Log-normal (mu, sigma) per (process, groups, stage, outcome) from median and quartiles; fill gaps."""
    need = {"process", "stage", "outcome", "median_days", *by}
    if not need <= set(durations.columns):
        raise ConfigError(f"pipeline: funnel.durations lacks columns {sorted(need - set(durations.columns))}")
    d = durations.copy()
    med = d["median_days"].astype(float).clip(lower=0.5)
    q25 = d.get("q25_days", pd.Series(np.nan, index=d.index)).astype(float).clip(lower=0.25)
    q75 = d.get("q75_days", pd.Series(np.nan, index=d.index)).astype(float)
    sigma = (np.log(q75) - np.log(q25)) / (2 * _Z75)
    sigma = sigma.where(np.isfinite(sigma) & (sigma > 0.05), DEFAULT_SIGMA)
    d["mu"] = np.log(med)
    d["sigma"] = sigma
    return d[["process", *by, "stage", "outcome", "mu", "sigma"]]


def open_pipeline(stage_events: Any, opportunities: Any, processes: Mapping[str, SalesProcess],
                  as_of: Any, *, columns: Sequence[str] | None = None, rows: Any = None) -> pd.DataFrame:
    """The opportunities open at ``as_of``: current stage, stage index and days in stage.

    The state after the path rules, from :func:`salesplan.reduce.states.deal_states` (the one definition the
    funnel, control and reports share): an opportunity is open unless its last event by ``as_of`` is an outcome;
    it stands in its furthest working stage (a move back does not undo an advance), since it entered that stage;
    one without events is in the first stage since its creation. Opportunities created after ``as_of`` and those
    of processes not in ``processes`` are left out (the latter logged).

    ``columns``: the opportunity columns carried with each open deal (those present; default all). On a lazy
    engine only these are collected, so the frame grows with the open deals times the columns asked for, not
    times every column of the opportunities table (:func:`pipeline` asks for what it reads).

    ``rows``: the same stage events and opportunities already reduced at ``as_of``
    (:class:`salesplan.reduce.states.DealRows`), read instead of reducing again (its attributes are the columns
    available).

    Examples
    --------
    >>> from salesplan.datasets import simulate
    >>> data, _ = simulate(n_customers=30, years=1, seed=2)
    >>> op = open_pipeline(data.stage_events, data.opportunities, data.processes, data.as_of)
    >>> bool((op["days_in_stage"] >= 0).all()), int(op["opportunity_id"].duplicated().sum())
    (True, 0)
    """
    from salesplan.reduce.states import deal_states

    cols = list(nw.from_native(opportunities).collect_schema().names())
    if columns is not None:
        cols = [c for c in dict.fromkeys(columns) if c in cols]
    events, known = _known_deals(stage_events, opportunities, processes)
    if rows is not None:
        from salesplan.reduce.states import STATE_COLUMNS

        extra = [c for c in cols if c in rows.attributes and c not in STATE_COLUMNS and c not in ("entered_at",)]
        states = rows.states(status=["open"])
        states = states.loc[states["process"].isin(list(processes)), STATE_COLUMNS + extra].reset_index(drop=True)
    else:
        states = deal_states(nw.to_native(events), processes, nw.to_native(known), as_of=as_of,
                             attributes=[c for c in cols if c not in ("stage", "entered_at")], status=["open"])
    drop = ["as_of", "status", "work_stage", "work_index", "first_entered_at", "closed_at"]
    if columns is not None and "created_at" not in cols:
        drop.append("created_at")
    out = states.drop(columns=drop)
    out = out.rename(columns={"entered_stage_at": "entered_at"})
    return out.reset_index(drop=True)  # sorted by opportunity_id, whatever the engine: same seed, same draws


def _known_deals(stage_events: Any, opportunities: Any, processes: Mapping[str, SalesProcess]) -> tuple[Any, Any]:
    """The stage events and opportunities of the funnel's ``processes`` (lazily, in their engine); the others
    are left out with a warning that counts them.
    """
    covered = nw.col("process").is_in(list(processes))
    n_unknown = int(_count(nw.from_native(opportunities).filter(~covered)))
    if n_unknown:
        logger.warning("pipeline: %d opportunity(ies) of process(es) not covered by the funnel are left out",
                       n_unknown)
    known = nw.from_native(opportunities).filter(covered)
    events = nw.from_native(stage_events).join(known.select("opportunity_id"), on="opportunity_id", how="semi")
    return events, known


def _open_rows(stage_events: Any, opportunities: Any, processes: Mapping[str, SalesProcess], as_of: Any,
               columns: Sequence[str], rows: Any) -> tuple[Any, bool]:
    """The deals of ``processes`` reduced at ``as_of`` (:class:`salesplan.reduce.states.DealRows` with the
    attribute ``columns``) for :meth:`~salesplan.reduce.states.DealRows.open_positions` (``per_deal=False``):
    ``rows`` when given, else reduced here; and whether the caller owns (and closes) them.
    """
    from salesplan.reduce.states import DealRows

    events, known = _known_deals(stage_events, opportunities, processes)
    if rows is not None:
        return rows, False
    have = set(known.collect_schema().names())
    return DealRows(nw.to_native(events), processes, nw.to_native(known), as_of=as_of,
                    attributes=[c for c in columns if c in have]), True


def _cell_rows(process: str, by: list[str], keys: list[tuple], proc: SalesProcess, cells: Any,
               eventual: np.ndarray, tau: np.ndarray, amounts: np.ndarray, p_adv: np.ndarray,
               periods: list[str]) -> pd.DataFrame:
    """``deals`` of ``per_deal=False``: one row per cell of open deals (its deals' amounts summed, their chance
    to advance now averaged; ``p_win`` and ``p_<period>`` are each deal's, equal within a cell).
    """
    n_c = len(cells)
    out = pd.DataFrame({"process": process}, index=range(n_c))
    for i, col in enumerate(by):
        out[col] = np.array([gkey[i] for gkey in keys], dtype=object)[cells.group_index] if keys else None
    out["stage"] = np.asarray(proc.stages, dtype=object)[cells.stage]
    out["days_in_stage"] = cells.age
    out["deals"] = cells.size
    out["amount"] = np.bincount(cells.of_deal, weights=amounts, minlength=n_c)
    out["p_advance_now"] = np.bincount(cells.of_deal, weights=p_adv, minlength=n_c) / cells.size
    per_period = eventual[:, None] * tau
    out["p_win"] = per_period.sum(axis=1)
    out["expected_revenue"] = out["p_win"] * out["amount"]
    if len(periods) <= 36:
        for t, label in enumerate(periods):
            out[f"p_{label}"] = per_period[:, t]
    return out


def _count(frame: Any) -> int:
    lazy = frame.lazy() if isinstance(frame, nw.DataFrame) else frame
    return int(lazy.select(nw.len()).collect().to_pandas().iloc[0, 0])


@dataclass(frozen=True, repr=False)
class PipelineForecast(Result):
    """Distribution of contracts (and revenue) won within the horizon, per process, period and component.

    Attributes
    ----------
    as_of, end : Timestamp
        Forecast window ``(as_of, end]``.
    periods : list of str
        Period labels covering the window.
    deals : DataFrame
        One row per open opportunity: ``opportunity_id, process, stage, days_in_stage, amount, p_advance_now``
        (probability of leaving the current stage forward, given its age, at the mean rate, from the funnel
        alone), ``p_win`` (won within the horizon), one column ``p_<period>`` per period (up to 36 periods),
        ``expected_revenue``. With ``drivers=`` also ``p_win_stage`` (eventual win probability from stage and
        days in stage at the mean rates), ``driver_shift`` (log-odds shift of the deal's attributes) and
        ``p_win_drivers`` (eventual win probability with the attributes); ``p_win`` then includes the shift.
        With ``win_probability=`` also ``p_win_stage`` and ``p_win_deal`` (the per-deal model's eventual win
        probability used instead; NaN for a deal it did not score).
    draws : dict
        ``{component: array (n_draws, n_processes, n_periods)}`` of contract counts; ``revenue_draws`` the same
        for revenue.
    processes : list of str
    creation : DataFrame
        Per process the creation rate used for the ``"new"`` component (``per_day``, ``window_days``,
        ``created``).
    rate_draws : dict
        ``{(process, *group): array (n_draws, n_stages)}``: the stage rates drawn in each Monte Carlo draw for the
        open deals of that process and group (a plan netted against this forecast reuses them, so that its new
        entries and the open deals share one draw of the rates).
    group_draws : dict
        ``{(process, *group): array (n_draws, n_periods)}``: contracts won by the open deals of that group.
    """

    as_of: pd.Timestamp
    end: pd.Timestamp
    periods: list[str]
    processes: list[str]
    deals: pd.DataFrame
    draws: dict[str, np.ndarray]
    revenue_draws: dict[str, np.ndarray]
    creation: pd.DataFrame = field(default_factory=pd.DataFrame)
    confidence: float = 0.8
    rate_draws: dict[tuple, np.ndarray] = field(default_factory=dict)
    group_draws: dict[tuple, np.ndarray] = field(default_factory=dict)

    def title(self) -> str:
        """Window, open deals and the expected total with its interval."""
        n_open = int(self.deals["deals"].sum()) if "deals" in self.deals.columns else len(self.deals)
        return f"Pipeline forecast {self.as_of.date()} to {self.end.date()}: {n_open} open opportunities, " \
               f"{self.expected:.1f} contracts expected ({self.confidence:.0%} intervals)"

    def samples(self, component: str = "total", *, process: str | None = None, period: str | None = None,
                revenue: bool = False) -> np.ndarray:
        """The Monte Carlo draws of contracts (or revenue) won: one number per draw, summed over the processes and
        periods asked for (all by default).

        Examples
        --------
        >>> from salesplan.forecast import FunnelParameters
        >>> import pandas as pd
        >>> proc = SalesProcess("p", ["lead"])
        >>> fp = FunnelParameters.from_values({"p": proc}, rates={("p", "lead"): (0.5, 1e6)},
        ...                                   advance_days={("p", "lead"): 5.0}, loss_days={("p", "lead"): 5.0})
        >>> ev = pd.DataFrame({"opportunity_id": ["a"], "stage": "lead", "entered_at": pd.Timestamp("2025-01-01")})
        >>> op = pd.DataFrame({"opportunity_id": ["a"], "process": "p", "created_at": pd.Timestamp("2025-01-01")})
        >>> fc = pipeline(ev, fp, opportunities=op, as_of="2025-01-02", horizon="365D", include_new=False, n_draws=400)
        >>> fc.samples().shape, bool(0.4 < fc.samples().mean() < 0.6)
        ((400,), True)
        """
        source = self.revenue_draws if revenue else self.draws
        if component == "total":
            arr = sum(source.values())
        elif component in source:
            arr = source[component]
        else:
            raise ConfigError(f"component must be 'total' or one of {sorted(source)}, got {component!r}")
        if process is not None:
            if process not in self.processes:
                raise ConfigError(f"process {process!r} not in the forecast; processes are {self.processes}")
            arr = arr[:, [self.processes.index(process)], :]
        if period is not None:
            label = normalise_period(period)
            if label not in self.periods:
                raise ConfigError(f"period {period!r} not in the forecast window; periods are {self.periods}")
            arr = arr[:, :, [self.periods.index(label)]]
        return arr.sum(axis=(1, 2))

    @property
    def expected(self) -> float:
        """Mean number of contracts won in the window, all processes and components."""
        return float(self.samples().mean())

    def interval(self, confidence: float | None = None, *, component: str = "total", process: str | None = None,
                 period: str | None = None, revenue: bool = False) -> tuple[float, float]:
        """Central ``confidence`` interval (quantiles of the Monte Carlo distribution) of the total."""
        confidence = check_probability(self.confidence if confidence is None else confidence, "confidence")
        x = self.samples(component, process=process, period=period, revenue=revenue)
        lo, hi = np.quantile(x, [0.5 - confidence / 2, 0.5 + confidence / 2], method="inverted_cdf")
        return float(lo), float(hi)

    def distribution(self, *, component: str = "total", process: str | None = None,
                     period: str | None = None) -> pd.Series:
        """Probability of each number of contracts (the Monte Carlo pmf)."""
        x = self.samples(component, process=process, period=period).astype(int)
        counts = np.bincount(x)
        return pd.Series(counts / counts.sum(), name="probability").rename_axis("contracts")

    def summary(self, confidence: float | None = None) -> pd.DataFrame:
        """Per process, period and component: expected contracts and revenue with their ``confidence`` intervals."""
        confidence = self.confidence if confidence is None else confidence
        rows = []
        comps = [*self.draws, "total"] if len(self.draws) > 1 else list(self.draws)
        for comp in comps:
            for proc in [*self.processes, None]:
                for per in [*self.periods, None]:
                    x = self.samples(comp, process=proc, period=per)
                    rv = self.samples(comp, process=proc, period=per, revenue=True)
                    qs = [0.5 - confidence / 2, 0.5 + confidence / 2]
                    lo, hi = np.quantile(x, qs, method="inverted_cdf")
                    rlo, rhi = np.quantile(rv, qs)
                    rows.append({"component": comp, "process": proc or "(all)", "period": per or "(window)",
                                 "contracts": float(x.mean()), "contracts_low": float(lo),
                                 "contracts_high": float(hi), "revenue": float(rv.mean()),
                                 "revenue_low": float(rlo), "revenue_high": float(rhi), "confidence": confidence})
        return pd.DataFrame(rows)


def _period_edges(as_of: pd.Timestamp, end: pd.Timestamp, freq: str) -> tuple[list[str], np.ndarray]:
    periods = pd.period_range(as_of.to_period(freq), end.to_period(freq), freq=freq)
    labels = [normalise_period(p) for p in periods]
    # edges in days since as_of between consecutive periods
    starts = np.array([(p.start_time - as_of).total_seconds() / 86400.0 for p in periods[1:]])
    return labels, starts


def pipeline(
    stage_events: Any,
    funnel: Any,
    *,
    as_of: Any = None,
    horizon: Any = "90D",
    opportunities: pd.DataFrame | None = None,
    freq: str = "M",
    n_draws: int = 2000,
    include_new: bool = True,
    creation_window: float = 365.0,
    confidence: float = 0.8,
    seed: int | None = 0,
    drivers: Any = None,
    win_probability: Any = None,
    per_deal: bool | None = None,
    deal_rows: Any = None,
) -> PipelineForecast:
    """Forecast the contracts won within ``horizon`` from the open pipeline at ``as_of`` (and new opportunities).

    Parameters
    ----------
    stage_events : SalesData or DataFrame
        A :class:`~salesplan.SalesData` (its ``stage_events`` and ``opportunities``) or the ``stage_events``
        table; then ``opportunities`` is required.
    funnel : Funnel or FunnelParameters
        Stage rates with their Beta and durations (``salesplan.funnel.estimate``).
    as_of : date-like, optional
        Forecast origin (default ``data.as_of`` or the latest event). Only events up to it are used.
    horizon : str, Timedelta or DateOffset
        Window length: ``"90D"``, ``"3MS"`` (to the third month start after ``as_of``; a string is read as an
        offset first), ``pd.Timedelta(days=30)`` or ``pd.DateOffset(months=3)``.
    opportunities : DataFrame, optional
        ``opportunity_id, process, created_at`` (and ``amount`` for revenue, the funnel's group columns).
    freq : str
        Period length of the per-period breakdown (``"M"``, ``"Q"``, ``"W"``).
    n_draws : int
        Monte Carlo draws (rates and outcomes); 2000 gives quantiles good to about +-1 contract.
    include_new : bool
        Add the ``"new"`` component (opportunities created during the window).
    creation_window : float
        Days before ``as_of`` whose creations estimate the creation rate.
    confidence : float
        Default interval level.
    seed : int, optional
        Random seed.
    drivers : DriverModel, optional
        A fitted driver model (:func:`salesplan.funnel.drivers`): each open deal's win probability is shifted by
        its attributes (see "Deal attributes" in the module docstring). The attribute columns are read from
        ``opportunities`` (or from ``customers`` of a SalesData, joined on ``customer_id``).
    win_probability : WinProbabilityResult, DataFrame or Series, optional
        Each open deal's calibrated win probability, used instead of the stage rates (see "A calibrated win
        probability per deal" in the module docstring; not with ``drivers``): a result of
        :func:`salesplan.forecast.deal_win_probability` fitted with this ``horizon`` (P(won by the window's end),
        preferred) or without one (P(won ever)); or a frame with ``opportunity_id, p_win`` or a Series indexed by
        opportunity id, read as P(won ever).
    per_deal : bool, optional
        ``deals`` with one row per open opportunity (True) or one row per cell of open deals with equal inputs
        (False: ``process``, the groups, ``stage``, ``days_in_stage`` (the cell's mean), ``deals``, ``amount``
        (summed), ``p_advance_now`` (mean), ``p_win`` (each deal's), ``expected_revenue``, ``p_<period>``; memory
        then does not hold a row per deal). Default: per deal for pandas inputs and with ``drivers=`` or
        ``win_probability=`` (always per deal), per cell on other engines. The draws are the same either way.
    deal_rows : DealRows, optional
        The deals already reduced at ``as_of`` (:class:`salesplan.reduce.states.DealRows` of these stage events
        and opportunities; :class:`salesplan.Analysis` passes its own), read instead of reducing the stage events
        again. Ignored when its cut differs or it lacks a column the forecast reads.

    Returns
    -------
    PipelineForecast

    Raises
    ------
    ConfigError
        Bad horizon, ``as_of`` before the first stage event or opportunity (nothing to forecast from).
    SchemaError
        Missing tables or columns, no open opportunity and no creations; a driver attribute missing from the
        opportunities (the error names the column).

    Examples
    --------
    A driver model on ``segment`` moves key-account deals up and standard ones down:

    >>> from salesplan.datasets import simulate
    >>> from salesplan.funnel import drivers as fit_drivers
    >>> data, _ = simulate(n_customers=80, years=1, seed=8, creation_scale=2)
    >>> model = fit_drivers(data.stage_events, data.processes, data.opportunities, attributes=["segment"])
    >>> fc = pipeline(data, model.funnel, horizon="30D", include_new=False, n_draws=300, drivers=model)
    >>> d = fc.deals.merge(data.opportunities[["opportunity_id", "segment"]], on="opportunity_id")
    >>> up = d["p_win_drivers"] > d["p_win_stage"]
    >>> bool((up == (d["segment"] == "key")).all())
    True
    """
    params = FunnelParameters.from_funnel(funnel)
    if hasattr(stage_events, "stage_events") and hasattr(stage_events, "opportunities"):
        data = stage_events
        events, opps = data.stage_events, data.opportunities if opportunities is None else opportunities
        default_cut = getattr(data, "as_of", None)
        customers = getattr(data, "customers", None)
    else:
        events, opps, default_cut, customers = stage_events, opportunities, None, None
    if events is None or opps is None:
        raise SchemaError("pipeline: needs stage_events and opportunities (pass a SalesData or opportunities=)")
    for name, frame, cols in (("stage_events", events, ["opportunity_id", "stage", "entered_at"]),
                              ("opportunities", opps, ["opportunity_id", "process", "created_at"])):
        have = nw.from_native(frame).collect_schema().names()
        missing = [c for c in cols if c not in have]
        if missing:
            raise SchemaError(f"{name}: missing column(s) {missing} needed by the pipeline forecast")
    ev_first, ev_last = time_span(events, "entered_at", "stage_events")
    opp_first, opp_last = time_span(opps, "created_at", "opportunities")
    if pd.isna(ev_first) and pd.isna(opp_first):
        raise SchemaError("pipeline: stage_events and opportunities are empty")
    first_date = min(t for t in (ev_first, opp_first) if pd.notna(t))
    last_date = max(t for t in (ev_last, opp_last) if pd.notna(t))
    cut = to_naive_utc(as_of) if as_of is not None else (pd.Timestamp(default_cut) if default_cut is not None
                                                          else last_date)
    if cut < first_date:
        raise ConfigError(f"pipeline: as_of {cut.date()} is before the data (first event {first_date.date()}); "
                          "there is no pipeline to forecast from")
    if params.as_of is not None and params.as_of > cut:
        logger.warning("pipeline: the funnel was estimated with data up to %s, after as_of %s; a backtest with it "
                       "would see the future", params.as_of.date(), cut.date())
    check_probability(confidence, "confidence")
    check_freq(freq)
    check_positive(n_draws, "n_draws", integer=True)
    if int(n_draws) < 100:
        raise ConfigError(f"n_draws must be >= 100, got {n_draws}")
    end = horizon_end(cut, horizon)
    h_days = (end - cut).total_seconds() / 86400.0
    periods, edges = _period_edges(cut, end, freq)
    rng = np.random.default_rng(seed)
    # only the columns the forecast reads are collected (issue 13): amount, the funnel's groups, owner (the
    # deals' table carries it for the backtest and the owners' forecast), the driver attributes
    wanted = ["amount", "owner", *params.by]
    if drivers is not None:
        wanted += [*getattr(drivers, "attributes", []), "customer_id"]
    if per_deal is None:
        per_deal = (isinstance(events, pd.DataFrame) and isinstance(opps, pd.DataFrame)) or drivers is not None \
            or win_probability is not None
    elif not per_deal and (drivers is not None or win_probability is not None):
        raise ConfigError("pipeline: drivers= and win_probability= score each deal: they need per_deal=True")
    rows = deal_rows if deal_rows is not None and getattr(deal_rows, "as_of", None) == cut and \
        getattr(deal_rows, "last", None) is not None and \
        {"amount", *params.by} <= set(getattr(deal_rows, "attributes", ())) else None
    # per cell: the open deals are read from the engine one process at a time (only numbers and shared strings)
    source, own_source, open_deals = None, False, None
    if not per_deal:
        source, own_source = _open_rows(events, opps, params.processes, cut, ["amount", *params.by], rows)
        have = [*source.attributes, "process"]
    else:
        open_deals = open_pipeline(events, opps, params.processes, cut, columns=wanted, rows=rows)
        have = list(open_deals.columns)
    for col in params.by:
        if col not in have:
            raise SchemaError(f"opportunities: the funnel is grouped by {params.by} but column {col!r} is missing")
    if drivers is not None and win_probability is not None:
        raise ConfigError("pipeline: give drivers= or win_probability=, not both (the per-deal model already "
                          "reads the deal's attributes)")
    shift_all = None if drivers is None or open_deals is None else _driver_shift(drivers, open_deals, customers,
                                                                                 params.by)
    p_deal_all = None if win_probability is None or open_deals is None else \
        _deal_probabilities(win_probability, open_deals)
    in_window = win_probability is not None and getattr(win_probability, "horizon", None) is not None
    if in_window and horizon_end(cut, win_probability.horizon) != end:
        raise ConfigError(f"pipeline: win_probability= is P(won within {win_probability.horizon!r}), which ends "
                          f"{horizon_end(cut, win_probability.horizon).date()}, but the forecast window ends "
                          f"{end.date()}; fit it with the forecast's horizon or without horizon (P(won ever))")
    procs = [p for p in params.processes if p in set(params.rates["process"])]
    n_s, n_p, n_t = int(n_draws), len(procs), len(periods)
    draws = {"pipeline": np.zeros((n_s, n_p, n_t), dtype=np.int32)}
    rev = {"pipeline": np.zeros((n_s, n_p, n_t))}
    if include_new:
        draws["new"] = np.zeros((n_s, n_p, n_t), dtype=np.int32)
        rev["new"] = np.zeros((n_s, n_p, n_t))
    deal_tables, creation_rows = [], []
    bounds = np.append(edges, h_days)  # days from the cut to the end of each period
    split = _split_by_group(params)
    rate_draws: dict[tuple, np.ndarray] = {}
    group_draws: dict[tuple, np.ndarray] = {}
    # the past deals' amounts value open deals without an amount and new deals: read once, when first needed
    amounts_past: pd.DataFrame | None = None
    # the deals created in the creation window, per process and group: one count for all processes
    created_all = opportunity_amounts(opps, as_of=cut, start=cut - pd.Timedelta(days=creation_window),
                                      by=params.by, count_only=True) if include_new else None
    rows_of_process = {} if open_deals is None else open_deals.groupby("process", sort=False).indices
    for j, proc_name in enumerate(procs):
        proc = params.processes[proc_name]
        if open_deals is None:
            deals = source.open_positions([proc_name], ["amount", *params.by])
        else:
            deals = open_deals.iloc[rows_of_process.get(proc_name, np.zeros(0, dtype=np.int64))]
        if params.stale_after_days is not None and len(deals):
            stale = deals["days_in_stage"].to_numpy(dtype=float) >= params.stale_after_days
            if stale.any():  # the funnel counted such stays as lost: so does the forecast (one rule)
                logger.info("pipeline: %s: %d open opportunity(ies) %g days or more in their stage count as lost "
                            "(the funnel's stale_after_days)", proc_name, int(stale.sum()), params.stale_after_days)
                deals = deals.iloc[np.flatnonzero(~stale)]
        groups = _group_keys(deals, params.by)
        amounts = deals["amount"].to_numpy(dtype=float) if "amount" in deals.columns else np.full(len(deals), np.nan)
        past, fill_amount = None, 0.0
        if include_new or np.isnan(amounts).any():
            if amounts_past is None:
                amounts_past = opportunity_amounts(opps, as_of=cut, max_values=_MAX_AMOUNTS)
            past = amounts_past[(amounts_past["process"] == proc_name) & amounts_past["amount"].notna()]
            fill_amount = _weighted_median(past["amount"].to_numpy(), past["weight"].to_numpy()) if len(past) \
                else 0.0
        if np.isnan(amounts).any():
            logger.info("pipeline: %s: %d open opportunity(ies) without amount valued at the median %.0f",
                        proc_name, int(np.isnan(amounts).sum()), fill_amount)
            amounts = np.where(np.isnan(amounts), fill_amount, amounts)
        keys = list(groups)
        tables = [_stage_table(params, proc, gkey, split) for gkey in keys]
        r_list = []
        for gkey, table in zip(keys, tables, strict=True):
            r_draw = rng.beta(table["alpha"][None, :], table["beta"][None, :], size=(n_s, len(proc.stages)))
            r_draw = np.where(table["fixed"][None, :], table["rate"][None, :], r_draw)
            rate_draws[(proc_name, *gkey)] = r_draw
            group_draws[(proc_name, *gkey)] = np.zeros((n_s, n_t), dtype=np.int32)
            r_list.append(r_draw)
        pos = np.concatenate([np.asarray(v, dtype=np.int64) for v in groups.values()]) if groups else \
            np.zeros(0, dtype=np.int64)
        if len(pos):
            # the open deals as cells of equal inputs (see salesplan.forecast.open_deals), group after group
            of_group = np.repeat(np.arange(len(keys)), [len(v) for v in groups.values()])
            sub = deals.iloc[pos]
            k = sub["stage_index"].to_numpy(dtype=np.int64)
            age = sub["days_in_stage"].to_numpy(dtype=float)
            shift = None if shift_all is None else shift_all[sub.index.to_numpy()]
            p_deal = None if p_deal_all is None else p_deal_all[sub.index.to_numpy()]
            if p_deal is not None:  # the per-deal model's probability as a log-odds shift of the stage one
                shift = _deal_shift(tables, of_group, k, age, p_deal, bounds if in_window else None, proc_name)
            cells = summarise(of_group, k, age, shift, seed=rng)
            tau = np.zeros((len(cells), n_t))
            mult = None if shift is None else np.ones((len(cells), len(proc.stages)))
            p_adv = np.empty(len(pos))
            p_stage = np.empty(len(pos))
            p_drv = np.empty(len(pos))
            for g, table in enumerate(tables):
                here = np.flatnonzero(cells.group_index == g)
                tau[here] = timing(table, cells.stage[here], cells.age[here], bounds)
                mine = np.flatnonzero(of_group == g)
                p_adv[mine] = _p_advance_mean(table, k[mine], age[mine])
                if shift is not None and mult is not None:
                    mult[here] = _driver_multipliers(table, cells.stage[here], cells.age[here], cells.shift[here])[2]
                    p_stage[mine], p_drv[mine], _ = _driver_multipliers(table, k[mine], age[mine], shift[mine])
            sim = simulate_cells(rng, cells, r_list, tables, tau, amounts[pos], mult=mult, chunk=_CHUNK_CELLS)
            for g, gkey in enumerate(keys):
                group_draws[(proc_name, *gkey)] = np.ascontiguousarray(sim.counts[:, g, :])
            draws["pipeline"][:, j, :] = sim.counts.sum(axis=1)
            rev["pipeline"][:, j, :] = sim.revenue.sum(axis=1)
            if not per_deal:
                deal_tables.append(_cell_rows(proc_name, params.by, keys, proc, cells, sim.eventual, tau,
                                              amounts[pos], p_adv, periods))
            else:
                per_period = sim.eventual[cells.of_deal][:, None] * tau[cells.of_deal]
                p_win = per_period.sum(axis=1)
                # the columns in one constructor; a default string column passes its own array (no round trip
                # through Python objects: the same column)
                cols: dict[str, Any] = {"opportunity_id": as_read(sub["opportunity_id"]), "process": proc_name}
                for i, col in enumerate(params.by):
                    cols[col] = as_read(sub[col]) if is_str(sub[col].dtype) else \
                        np.array([gkey[i] for gkey in keys], dtype=object)[of_group]
                cols.update({"stage": as_read(sub["stage"]), "days_in_stage": age, "amount": amounts[pos],
                             "p_advance_now": p_adv, "p_win": p_win, "expected_revenue": p_win * amounts[pos]})
                if p_deal is not None:
                    cols.update({"p_win_stage": p_stage, "p_win_deal": p_deal})
                elif shift is not None:
                    cols.update({"p_win_stage": p_stage, "driver_shift": shift, "p_win_drivers": p_drv})
                base = pd.DataFrame(cols)
                if n_t <= 36:
                    base = pd.concat([base, pd.DataFrame(per_period, columns=[f"p_{label}" for label in periods])],
                                     axis=1)
                if "owner" in sub.columns:
                    base["owner"] = as_read(sub["owner"])
                deal_tables.append(base)
        if created_all is not None:
            created = created_all[created_all["process"] == proc_name]
            window = min(creation_window, (cut - opp_first).total_seconds() / 86400.0)
            window = max(window, 1.0)
            n_created = int(created["weight"].sum())
            creation_rows.append({"process": proc_name, "created": n_created, "window_days": window,
                                  "per_day": n_created / window})
            if params.by and n_created:  # the group most of the recently created deals belong to
                per_group = created.groupby(params.by, dropna=False)["weight"].sum()
                top = per_group.idxmax()
                gkey = top if isinstance(top, tuple) else (top,)
            else:
                gkey = tuple(params.rates.loc[params.rates["process"] == proc_name, params.by].iloc[0]) \
                    if params.by else ()
            if params.by:
                logger.info("pipeline: new opportunities of %s use the rates of group %s", proc_name, gkey)
            table = _stage_table(params, proc, gkey, split)
            r_draw = rng.beta(table["alpha"][None, :], table["beta"][None, :], size=(n_s, len(proc.stages)))
            r_draw = np.where(table["fixed"][None, :], table["rate"][None, :], r_draw)
            lam = rng.gamma(n_created + 0.5, 1.0 / window, size=n_s) * h_days
            # wins per draw and period: Poisson thinning of the creations (module docstring, "New opportunities")
            wins = rng.poisson(lam[:, None] * r_draw.prod(axis=1)[:, None] * arrival_timing(table, bounds)[None, :])
            draws["new"][:, j, :] += wins.astype(np.int32)
            assert past is not None  # read above whenever new deals are forecast
            rev["new"][:, j, :] += _sum_of_amounts(rng, wins, past["amount"].to_numpy(dtype=float),
                                                   past["weight"].to_numpy(dtype=float), fill_amount)
    if own_source and source is not None:
        source.close()
    deals_df = pd.concat(deal_tables, ignore_index=True) if deal_tables else pd.DataFrame(
        columns=["opportunity_id", "process", "stage", "days_in_stage", "amount", "p_advance_now", "p_win",
                 "expected_revenue"])
    if deals_df.empty and not include_new:
        logger.warning("pipeline: no open opportunity at %s", cut.date())
    return PipelineForecast(as_of=cut, end=end, periods=periods, processes=procs, deals=deals_df, draws=draws,
                            revenue_draws=rev, creation=pd.DataFrame(creation_rows), confidence=confidence,
                            rate_draws=rate_draws, group_draws=group_draws)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of ``values`` repeated ``weights`` times (the mean of the two middle values for an even total)."""
    order = np.argsort(values, kind="stable")
    v, w = np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=np.int64)[order]
    total = int(w.sum())
    if total == 0:
        return 0.0
    cum = np.cumsum(w)
    lo = v[np.searchsorted(cum, (total - 1) // 2, side="right")]
    hi = v[np.searchsorted(cum, total // 2, side="right")]
    return float((lo + hi) / 2)


def _group_keys(frame: pd.DataFrame, by: list[str]) -> dict[tuple, np.ndarray]:
    """Positions of the rows of each group, groups in order of first appearance (a missing value is None)."""
    if not by:
        return {(): np.arange(len(frame))}
    out: dict[tuple, np.ndarray] = {}
    for key, part in frame.reset_index(drop=True).groupby(by, sort=False, dropna=False).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        out[tuple(None if pd.isna(v) else v for v in key)] = np.asarray(part)
    return dict(sorted(out.items(), key=lambda kv: kv[1][0]))


def _split_by_group(params: FunnelParameters) -> dict[tuple, tuple[dict, dict]]:
    """The funnel's rates and durations per (process, *group) as plain look-ups, read once (not a frame filter
    per group): ``{key: ({stage: (rate, alpha, beta)}, {(stage, outcome): (mu, sigma)})}``.
    """
    keys = ["process", *params.by]
    out: dict[tuple, tuple[dict, dict]] = {}
    for row in zip(*(params.rates[c].to_numpy() for c in [*keys, "stage", "rate", "alpha", "beta"]), strict=True):
        out.setdefault(tuple(row[:len(keys)]), ({}, {}))[0][row[len(keys)]] = row[len(keys) + 1:]
    d = params.durations
    for row in zip(*(d[c].to_numpy() for c in [*keys, "stage", "outcome", "mu", "sigma"]), strict=True):
        key = tuple(row[:len(keys)])
        if key in out:
            out[key][1][(row[len(keys)], row[len(keys) + 1])] = row[len(keys) + 2:]
    return out


def _stage_table(params: FunnelParameters, proc: SalesProcess, gkey: tuple,
                 split: dict[tuple, tuple[dict, dict]] | None = None) -> dict[str, np.ndarray]:
    """Rates (Beta) and log-normal durations per working stage of one process and group."""
    lookup = (split if split is not None else _split_by_group(params)).get((proc.name, *gkey))
    if lookup is None:
        raise SchemaError(f"pipeline: the funnel has no rates for process {proc.name!r} group "
                          f"{dict(zip(params.by, gkey, strict=True))}")
    nan3 = (np.nan, np.nan, np.nan)
    r = np.array([lookup[0].get(stage, nan3) for stage in proc.stages], dtype=float).reshape(-1, 3)
    rate = r[:, 0]
    missing = np.isnan(rate)
    if missing.any():
        logger.warning("pipeline: %s: no rate for stage(s) %s; using 0 (no wins through them)", proc.name,
                       list(np.array(proc.stages)[missing]))
        rate = np.where(missing, 0.0, rate)
    alpha, beta = r[:, 1], r[:, 2]
    fixed = ~(np.isfinite(alpha) & np.isfinite(beta) & (alpha > 0) & (beta > 0))
    alpha = np.where(fixed, 1.0, alpha)
    beta = np.where(fixed, 1.0, beta)
    mus, sigmas = {}, {}
    for outcome in ("advance", "loss"):
        dd = np.array([lookup[1].get((stage, outcome), (np.nan, np.nan)) for stage in proc.stages],
                      dtype=float).reshape(-1, 2)
        mus[outcome] = dd[:, 0]
        sigmas[outcome] = dd[:, 1]
    adv_mu = mus["advance"]
    if np.isnan(adv_mu).all():
        raise SchemaError(f"pipeline: the funnel has no advance durations for process {proc.name!r}")
    fallback_mu = np.nanmedian(adv_mu)
    if np.isnan(adv_mu).any():
        logger.warning("pipeline: %s: no advance duration for stage(s) %s; using the process median", proc.name,
                       list(np.array(proc.stages)[np.isnan(adv_mu)]))
    mus["advance"] = np.where(np.isnan(adv_mu), fallback_mu, adv_mu)
    sigmas["advance"] = np.where(np.isnan(sigmas["advance"]), DEFAULT_SIGMA, sigmas["advance"])
    # an unknown loss duration carries no information about age: make it equal to the advance one
    lost_nan = np.isnan(mus["loss"])
    mus["loss"] = np.where(lost_nan, mus["advance"], mus["loss"])
    sigmas["loss"] = np.where(lost_nan | np.isnan(sigmas["loss"]), sigmas["advance"], sigmas["loss"])
    table: dict[str, Any] = {"rate": rate, "alpha": alpha, "beta": beta, "fixed": fixed, "mu_a": mus["advance"],
                             "sd_a": sigmas["advance"], "mu_l": mus["loss"], "sd_l": sigmas["loss"]}
    if params.curves:  # the funnel's own curves: an open deal's chance to advance and the days it takes
        ratios, advances = [], []
        for stage in proc.stages:
            fit = params.curves.get((proc.name, tuple(gkey), stage)) or params.curves.get((proc.name, (), stage))
            if fit is None:
                ratios.append(None)
                advances.append(None)
                continue
            times = np.asarray(fit.times, dtype=float)
            f1, f2 = np.asarray(fit.cif_advance, dtype=float), np.asarray(fit.cif_loss, dtype=float)
            ratios.append(curve_log_ratio(times, f1, f2, float(fit.rate), float(fit.horizon)))
            advances.append(advance_curve(times, f1, float(fit.rate), float(fit.horizon)))
        if any(c is not None for c in ratios):
            table["ratio_curves"] = ratios
        if any(c is not None for c in advances):
            table["advance_curves"] = advances
    return table


def _driver_shift(model: Any, deals: pd.DataFrame, customers: pd.DataFrame | None, by: list[str]) -> np.ndarray:
    """Log-odds shift ``(x - xbar) beta`` of each open deal's attributes under a fitted DriverModel (0 if NaN)."""
    for attr in ("attributes", "design", "result", "design_means", "levels"):
        if not hasattr(model, attr):
            raise ConfigError("pipeline: drivers= must be a fitted salesplan.funnel.DriverModel "
                              f"(from salesplan.funnel.drivers), got {type(model).__name__}")
    attrs = list(model.attributes)
    frame = deals
    missing = [a for a in attrs if a not in frame.columns]
    if missing and customers is not None and "customer_id" in frame.columns and "customer_id" in customers.columns:
        extra = [a for a in missing if a in customers.columns]
        if extra:
            cust = customers[["customer_id", *extra]].drop_duplicates("customer_id")
            frame = frame.merge(cust, on="customer_id", how="left")  # a left merge keeps the deals' order
            missing = [a for a in attrs if a not in frame.columns]
    if missing:
        cases = pd.DataFrame({"table": "opportunities", "column": missing, "check": "driver attribute",
                              "key": "-", "value": "column missing"})
        raise SchemaError(f"pipeline: the driver model was fitted on attribute(s) {missing} that the opportunities "
                          f"(and customers) lack; add the column(s) {missing} to opportunities or refit the "
                          f"driver model without them", cases)
    both = sorted(set(attrs) & set(by))
    if both:
        logger.warning("pipeline: the funnel is grouped by %s and the driver model uses the same attribute(s); "
                       "their effect is counted twice", both)
    shift = np.zeros(len(frame))
    ok = frame[attrs].notna().all(axis=1).to_numpy()
    if (~ok).any():
        logger.info("pipeline: %d open opportunity(ies) with a missing driver attribute keep the funnel's "
                    "probability (no shift)", int((~ok).sum()))
    levels = model.levels or {}
    for a, known in levels.items():
        unseen = sorted(set(frame.loc[ok, a].astype(str)) - set(map(str, known)))
        if unseen:
            logger.warning("pipeline: driver attribute %r has level(s) %s not seen when the driver model was "
                           "fitted; they count as the reference level %r", a, unseen, known[0])
    if ok.any():
        beta = np.asarray(model.result.params, dtype=float)[1:]
        shift[ok] = (model.design(frame.loc[ok]) - np.asarray(model.design_means, dtype=float)) @ beta
    return shift


def _deal_shift(tables: list[dict[str, np.ndarray]], of_group: np.ndarray, k: np.ndarray, age: np.ndarray,
                p_deal: np.ndarray, bounds: np.ndarray | None, proc_name: str) -> np.ndarray:
    """Log-odds shifts that turn each deal's stage-based eventual win probability into the per-deal model's.

    ``bounds`` given: ``p_deal`` is P(won within the window); the eventual target is ``p_deal / T`` with ``T``
    the funnel's chance that a win of the deal lands in the window (capped just below 1; the mass lost to the cap
    is logged). Otherwise ``p_deal`` is P(won ever) and the target itself.
    """
    shift = np.zeros(len(k))
    lost = 0.0
    for g, table in enumerate(tables):
        mine = np.flatnonzero(of_group == g)
        p0 = _driver_multipliers(table, k[mine], age[mine], np.zeros(len(mine)))[0]
        target = p_deal[mine]
        if bounds is not None:
            cells = summarise(np.zeros(len(mine), dtype=np.int64), k[mine], age[mine])
            t_win = timing(table, cells.stage, cells.age, bounds).sum(axis=1)[cells.of_deal]
            capped = np.minimum(np.divide(target, t_win, out=np.full(len(mine), np.inf), where=t_win > 0), 1 - 1e-6)
            lost += float(np.nansum(target - capped * t_win))
            target = capped
        ok = np.isfinite(target) & (p0 > 0)
        shift[mine[ok]] = logit(np.clip(target[ok], 1e-6, 1 - 1e-6)) - logit(np.clip(p0[ok], 1e-6, 1 - 1e-6))
    if lost > 0.005:
        logger.info("pipeline: %s: %.2f expected wins of the per-deal model fall outside what the funnel's timing "
                    "lets close in the window; they are left out", proc_name, lost)
    return shift


def _deal_probabilities(source: Any, open_deals: pd.DataFrame) -> np.ndarray:
    """Each open deal's win probability from ``win_probability=`` (NaN where not scored), in ``open_deals``'
    order.
    """
    frame = getattr(source, "deals", source)
    if isinstance(frame, pd.DataFrame):
        if not {"opportunity_id", "p_win"} <= set(frame.columns):
            raise SchemaError("pipeline: win_probability= as a frame needs the columns opportunity_id and p_win, "
                              f"got {list(frame.columns)[:8]}")
        series = frame.drop_duplicates("opportunity_id").set_index("opportunity_id")["p_win"]
    elif isinstance(frame, pd.Series):
        series = frame[~frame.index.duplicated()]
    else:
        raise ConfigError("pipeline: win_probability= must be a WinProbabilityResult, a frame with "
                          f"opportunity_id and p_win or a Series by opportunity id, got {type(source).__name__}")
    p = pd.to_numeric(open_deals["opportunity_id"].map(series), errors="coerce").to_numpy(dtype=float)
    bad = np.isfinite(p) & ((p < 0) | (p > 1))
    if bad.any():
        ids = open_deals["opportunity_id"].to_numpy()[bad][:5]
        cases = pd.DataFrame({"table": "win_probability", "column": "p_win", "check": "probability",
                              "key": [str(i) for i in ids], "value": [str(v) for v in p[bad][:5]]})
        raise SchemaError(f"pipeline: win_probability= holds values outside [0, 1] for {int(bad.sum())} deal(s)",
                          cases)
    missing = int((~np.isfinite(p)).sum())
    if missing:
        logger.info("pipeline: %d of %d open deal(s) have no per-deal win probability; they keep the stage rates",
                    missing, len(p))
    return p


def _p_advance_mean(table: dict[str, np.ndarray], k: np.ndarray, age: np.ndarray) -> np.ndarray:
    """P(advance | still in stage k after ``age`` days) at the mean rates (the simulation's formula)."""
    return advance_share(table["rate"][k], survival_ratio(table, k, age))


def _driver_multipliers(table: dict[str, np.ndarray], k: np.ndarray, age: np.ndarray,
                        shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eventual win probability from stage and age (``p_stage``), with the attribute shift (``p_drivers``),
    and per-deal multipliers of the advance probabilities (deals x stages) that turn one into the other.

    The factor ``p_drivers / p_stage`` goes on the current stage first; what would push a probability above 1
    goes on the later stages in turn.
    """
    n_k = len(table["rate"])
    q = np.broadcast_to(table["rate"][None, :], (len(k), n_k)).copy()
    q[np.arange(len(k)), k] = _p_advance_mean(table, k, age)
    q[np.arange(n_k)[None, :] < k[:, None]] = 1.0  # stages already passed
    p_stage = q.prod(axis=1)
    # the log-odds of tiny chances as they are (a clip at 1e-9 would raise a chance of 1e-12 by the shift)
    with np.errstate(divide="ignore"):
        p_drv = np.where(p_stage > 0, expit(logit(np.clip(p_stage, 1e-300, 1 - 1e-16)) + shift), 0.0)
    left = np.where(p_stage > 0, p_drv / np.where(p_stage > 0, p_stage, 1.0), 1.0)
    mult = np.ones((len(k), n_k))
    for j in range(n_k):
        here = (j >= k) & (left != 1.0)
        if not here.any():
            continue
        cap = np.where(q[:, j] > 0, 1.0 / np.where(q[:, j] > 0, q[:, j], 1.0), np.inf)
        g = np.where(left < 1, left, np.minimum(left, cap))
        mult[here, j] = g[here]
        left = np.where(here, left / g, left)
    return p_stage, p_drv, mult


def _sum_of_amounts(rng: np.random.Generator, counts: np.ndarray, values: np.ndarray, weights: np.ndarray,
                    fill: float, chunk: int = _CHUNK_CELLS) -> np.ndarray:
    """Per cell of ``counts``, the sum of that many amounts drawn independently from ``values`` (with ``weights``;
    ``fill`` each when there are none), drawn in blocks of at most about ``chunk`` amounts.
    """
    flat = counts.ravel().astype(np.int64)
    out = np.zeros(len(flat))
    if not len(values) or weights.sum() <= 0:
        return (flat * fill).reshape(counts.shape)
    cdf = np.cumsum(weights) / weights.sum()
    cum = np.cumsum(flat)
    lo = 0
    while lo < len(flat):
        done = cum[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cum, done + chunk, side="right")))
        n = flat[lo:hi]
        picked = values[np.minimum(np.searchsorted(cdf, rng.random(int(n.sum())), side="right"), len(values) - 1)]
        out[lo:hi] = np.bincount(np.repeat(np.arange(hi - lo), n), weights=picked, minlength=hi - lo)
        lo = hi
    return out.reshape(counts.shape)
