"""Drivers of winning: a logistic model with odds ratios, and P(win | stage, days in stage, attributes).

Model
    ``won ~ attributes`` by maximum likelihood (statsmodels ``Logit``) on the opportunities closed by the cut;
    categorical attributes enter as indicators against their most frequent level, numeric ones as they are.
    Odds ratios ``exp(beta)`` come with Wald intervals. Closed deals only: when wins and losses take different
    times the intercept is biased, the odds ratios much less so (they compare deals closed under the same
    selection).

Open deals
    ``P(win | stage k, d days in k, x)``: the censored funnel gives the base probability without attributes,
    ``p0 = a_k(d) * W_{k+1}``, where ``a_k(d) = (F_adv(tau) - F_adv(d) + S(tau) pi) / S(d)`` is the share of
    advances among the outcomes still to come after ``d`` days (Aalen-Johansen curves of stage *k*; ``S(tau)``
    the mass still unresolved at the horizon, which advances with the parametric tail's probability ``pi``, see
    :mod:`salesplan.funnel.tail`, or splits like the resolved stays without it) and ``W_{k+1}`` the win rate from
    the next stage (1 after the last stage). A deal older than every observed outcome of its stage gets ``pi``:
    before, it fell back to the stage's overall rate, so a deal 177 days in a stage whose stays all ended within
    156 days scored as if it had just entered it. The attributes
    shift it on the log-odds scale, ``logit p = logit p0 + (x - xbar) beta``, with ``xbar`` the mean design of
    the training deals (an approximation: the attribute effect is taken as constant across stages).

Examples
--------
>>> from salesplan.datasets import simulate
>>> data, _ = simulate(n_customers=80, years=1, seed=8, creation_scale=2)
>>> model = drivers(data.stage_events, data.processes, data.opportunities, attributes=["segment", "process"])
>>> [round(float(v), 1) for v in model.odds_ratios.loc["segment[key]", ["odds_ratio", "low", "high"]]]
[2.2, 1.5, 3.3]

(The simulator gives key accounts 1.6 times the odds of advancing at every stage, so their odds of winning are
higher still; the Wald interval excludes 1.)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from salesplan._results import Result
from salesplan._validation import check_probability
from salesplan.errors import ConvergenceError, SchemaError
from salesplan.funnel.estimate import Funnel, fit_reduction
from salesplan.process import SalesProcess
from salesplan.reduce.stages import normalise_processes, reduce_stage_events
from salesplan.schema import to_pandas

__all__ = ["DriverModel", "drivers"]


@dataclass(frozen=True, repr=False)
class DriverModel(Result):
    """Result of :func:`drivers` (immutable).

    Attributes
    ----------
    odds_ratios : DataFrame
        Index ``term``; ``odds_ratio, low, high, p_value``.
    result : statsmodels LogitResults
    attributes : list of str
    open_deals : DataFrame
        Open opportunities with ``stage, days_in_stage, p_win_base, p_win`` (see the module docstring).
    funnel : Funnel
        The censored funnel used for the base probabilities.
    design_columns : list of str
        The columns of the design matrix (dummy-coded attributes that vary).
    levels : dict
        Per attribute, the levels seen in the fit (the first is the reference).
    design_means : ndarray
        Mean of each design column over the closed deals (the shift of a deal is measured from it).
    """

    odds_ratios: pd.DataFrame
    result: Any
    attributes: list[str]
    open_deals: pd.DataFrame
    funnel: Funnel
    design_columns: list[str]
    levels: dict[str, list[Any]]
    design_means: np.ndarray

    def title(self) -> str:
        """Which attributes the model weighs."""
        return f"Win drivers ({', '.join(self.attributes)}): odds ratios with intervals"

    def summary(self) -> pd.DataFrame:
        """The odds-ratio table (rounded)."""
        return self.odds_ratios.round(4)

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        """Design matrix (without intercept) of ``frame`` in the model's coding."""
        return _design(frame, self.attributes, self.levels)[self.design_columns].to_numpy(dtype=float)

    def p_win(self, process: str, stage: str, days_in_stage: np.ndarray, attributes: pd.DataFrame) -> np.ndarray:
        """P(win | stage, days in stage, attributes) for rows of ``attributes``."""
        base = _base_p(self.funnel, process, stage, np.asarray(days_in_stage, dtype=float))
        shift = (self.design(attributes) - self.design_means) @ self.result.params.to_numpy()[1:]
        return expit(logit(np.clip(base, 1e-9, 1 - 1e-9)) + shift)


def _levels(frame: pd.DataFrame, attributes: Sequence[str]) -> dict[str, list[Any]]:
    out = {}
    for a in attributes:
        if not pd.api.types.is_numeric_dtype(frame[a]) or pd.api.types.is_bool_dtype(frame[a]):
            counts = frame[a].astype(str).value_counts()
            out[a] = list(counts.index)  # first = reference (most frequent)
    return out


def _design(frame: pd.DataFrame, attributes: Sequence[str], levels: Mapping[str, list[Any]]) -> pd.DataFrame:
    cols = {}
    for a in attributes:
        if a in levels:
            vals = frame[a].astype(str)
            for lev in levels[a][1:]:
                cols[f"{a}[{lev}]"] = (vals == lev).astype(float).to_numpy()
        else:
            cols[a] = frame[a].astype(float).to_numpy()
    return pd.DataFrame(cols, index=frame.index)


def _base_p(funnel: Funnel, process: str, stage: str, days: np.ndarray) -> np.ndarray:
    fit = funnel.stay_curves.get((process, (), stage))
    proc = funnel.processes[process]
    k = proc.index(stage)
    win = funnel.parent_rates if funnel.by else funnel.rates
    rates = win[win["process"] == process].sort_values("stage_idx")["rate"].to_numpy()
    after = float(np.prod(rates[k + 1:])) if k + 1 < len(rates) else 1.0
    if fit is None or not len(fit.times) or not np.isfinite(fit.rate):
        return np.full(days.shape, np.nan)
    f1, f2 = fit.cif(days, 1), fit.cif(days, 2)
    f1_tau, f2_tau = fit.cif(fit.horizon, 1)[0], fit.cif(fit.horizon, 2)[0]
    # the mass still unresolved at the horizon advances with the parametric tail's probability (or, without one,
    # splits like the resolved stays); it is the only mass left for a deal older than every observed outcome
    unresolved = max(1.0 - f1_tau - f2_tau, 0.0)
    resolved = f1_tau + f2_tau
    pi = fit.tail if np.isfinite(fit.tail) else (f1_tau / resolved if resolved > 0 else fit.rate)
    rest = (resolved - (f1 + f2)) + unresolved
    share = np.where(rest > 1e-12, (f1_tau - f1 + unresolved * pi) / np.where(rest > 1e-12, rest, 1.0), pi)
    return np.clip(share, 0, 1) * after


def drivers(stage_events: Any, processes: SalesProcess | Mapping[str, SalesProcess], opportunities: Any,
            attributes: Sequence[str], *, customers: Any = None, as_of: Any = None,
            confidence: float = 0.95) -> DriverModel:
    """Fit a logistic model of winning on opportunity/customer attributes; score the open deals.

    Parameters
    ----------
    stage_events, processes, opportunities, customers, as_of, confidence
        As in :func:`salesplan.funnel.estimate` (``opportunities`` is required: it carries the attributes).
    attributes : list of str
        Columns of ``opportunities`` (or of ``customers``, joined on ``customer_id``).

    Raises
    ------
    SchemaError
        An attribute column is missing.
    ConvergenceError
        The logistic fit failed (perfect separation, a constant column): the message names the attributes.
    """
    check_probability(confidence, "confidence")
    procs = normalise_processes(processes)
    attributes = list(attributes)
    opps = to_pandas(opportunities, "opportunities")
    opps["opportunity_id"] = opps["opportunity_id"].astype(str)
    missing = [a for a in attributes if a not in opps.columns]
    if missing and customers is not None:
        cust = to_pandas(customers, "customers")[["customer_id", *missing]]
        opps = opps.merge(cust, on="customer_id", how="left")
        missing = [a for a in attributes if a not in opps.columns]
    if missing:
        raise SchemaError.from_cases([{"table": "opportunities", "column": a, "check": "required", "key": "-",
                                       "value": "driver attribute not found"} for a in missing])
    red = reduce_stage_events(stage_events, procs, opportunities, as_of=as_of, keep_opportunities=True)
    funnel = fit_reduction(red, procs, confidence=confidence)
    extra = [a for a in attributes if a not in red.opportunities.columns]
    state = red.opportunities.merge(opps[["opportunity_id", *extra]], on="opportunity_id", how="left")
    closed = state[state["final"] != "open"].dropna(subset=attributes)
    levels = _levels(closed, attributes)
    x = _design(closed, attributes, levels)
    keep = [c for c in x.columns if x[c].std() > 0]
    x = x[keep]
    y = (closed["final"] == "won").astype(float).to_numpy()
    import statsmodels.api as sm  # imported when fitted: importing it takes about a second

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.Logit(y, sm.add_constant(x.to_numpy(), has_constant="add")).fit(disp=0, maxiter=200)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ConvergenceError(f"drivers: the logistic fit of won on {attributes} failed ({exc}); check for a "
                               f"level that only wins or only loses (separation) or a constant column") from exc
    names = ["intercept", *keep]
    res.params = pd.Series(np.asarray(res.params), index=names)
    bse = pd.Series(np.asarray(res.bse), index=names)
    z = stats.norm.ppf(0.5 + confidence / 2)
    ors = pd.DataFrame({"odds_ratio": np.exp(res.params), "low": np.exp(res.params - z * bse),
                        "high": np.exp(res.params + z * bse), "p_value": np.asarray(res.pvalues)}, index=names)
    ors.index.name = "term"
    xbar = x.to_numpy().mean(axis=0)
    model = DriverModel(ors, res, attributes, pd.DataFrame(), funnel, keep, levels, xbar)
    open_deals = state[state["final"] == "open"].copy()
    parts = []
    for (pname, stage), g in open_deals.groupby(["process", "stage"], sort=False):
        g = g.copy()
        g["p_win_base"] = _base_p(funnel, pname, stage, g["days_in_stage"].to_numpy(dtype=float))
        ok = g[attributes].notna().all(axis=1)
        g["p_win"] = g["p_win_base"]
        if ok.any():
            g.loc[ok, "p_win"] = model.p_win(pname, stage, g.loc[ok, "days_in_stage"].to_numpy(), g.loc[ok])
        parts.append(g)
    scored = pd.concat(parts, ignore_index=True) if parts else open_deals.assign(p_win_base=[], p_win=[])
    return dataclasses.replace(model, open_deals=scored)
