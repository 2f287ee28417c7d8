"""Change over time: stage rates by cohort with trend and break tests; cohort vs snapshot win rates.

Cohort rates
    Opportunities are grouped by the period of their first entry (``freq``) and the censored estimator of
    :func:`salesplan.funnel.estimate` is applied per cohort. Young cohorts are immature: few of their stays have
    resolved, and the rate at a short horizon leans toward the fast outcome. Cohorts whose ``unresolved`` share
    exceeds ``max_unresolved`` are shown but left out of the tests (``mature`` column).

Tests (per process and stage, on mature cohorts)
    *Trend*: a binomial GLM of the cohort rate on the cohort index with the effective sizes as variance weights;
    ``trend_p`` is the Wald p-value of the slope (``trend_slope`` on the log-odds scale per period).
    *Break*: for every split into an earlier and a later block (at least two cohorts each), the likelihood-ratio
    statistic of two rates vs one; ``break_p`` is the Bonferroni-adjusted chi-square(1) p-value of the largest.
    ``flag`` names what is significant at ``significance``.

Cohort vs snapshot win rates
    *Cohort*: of the deals created in a period, the share won so far (with the share still open: maturity).
    *Snapshot*: of the deals closed in a period, the share won. They differ whenever the win rate or the mix
    changes, or wins and losses take different times.

Examples
--------
>>> from salesplan.datasets import simulate
>>> data, _ = simulate(n_customers=40, years=1, seed=6)
>>> res = cohort_rates(data.stage_events, data.processes, data.opportunities, freq="Q")
>>> r = res.rates.query("process == 'acquisition' and stage == 'prospect_selected'")
>>> r[["entered", "advanced", "lost", "open"]].values.tolist()[:2], r["rate"].round(3).tolist()[:2]
([[89, 58, 31, 0], [88, 48, 40, 0]], [0.652, 0.545])

(58 / 89 and 48 / 88: these cohorts are closed, so the rate is the plain share; the simulator's true rate is
0.572.)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan._results import Result, rounded
from salesplan._validation import check_probability
from salesplan.funnel.aalen_johansen import wilson_interval
from salesplan.funnel.estimate import estimate
from salesplan.process import SalesProcess
from salesplan.reduce.stages import normalise_processes, reduce_stage_events

__all__ = ["CohortRates", "cohort_rates", "trend_tests", "win_rates_by_period"]


@dataclass(frozen=True, repr=False)
class CohortRates(Result):
    """Rates per cohort (``rates``) and the trend/break tests per process and stage (``tests``); immutable."""

    rates: pd.DataFrame
    tests: pd.DataFrame
    freq: str

    def title(self) -> str:
        """The cohort period and how many (process, stage) rows the tests flag."""
        flagged = int((self.tests["flag"] != "").sum()) if "flag" in self.tests else 0
        return f"Stage rates per {self.freq} cohort with intervals; trend or break flagged in {flagged} row(s)"

    def summary(self) -> pd.DataFrame:
        """Rates per cohort and stage with their intervals, maturity and the stage's trend/break flag."""
        if "flag" not in self.tests:
            return rounded(self.rates)
        return rounded(self.rates.merge(self.tests[["process", "stage", "flag"]], on=["process", "stage"],
                                        how="left"))


def _binom_ll(x: np.ndarray, n: np.ndarray) -> float:
    p = np.clip(x.sum() / n.sum(), 1e-9, 1 - 1e-9)
    return float(np.sum(x * np.log(p) + (n - x) * np.log(1 - p)))


def trend_tests(rates: pd.DataFrame, significance: float = 0.05) -> pd.DataFrame:
    """Trend and break tests per (process, stage) on a cohort ``rates`` table (``cohort, rate, n_eff, mature``).

    Examples
    --------
    >>> r = pd.DataFrame({"process": "p", "stage": "s", "cohort": pd.period_range("2024-01", periods=6, freq="M"),
    ...                   "rate": [0.2, 0.25, 0.3, 0.5, 0.55, 0.6], "n_eff": 200.0, "mature": True})
    >>> t = trend_tests(r)
    >>> round(float(t.loc[0, "trend_p"]), 4), str(t.loc[0, "break_at"]), t.loc[0, "flag"]
    (0.0, '2024-04', 'trend+break')

    The break is found where the rate jumps from 0.3 to 0.5.
    """
    import statsmodels.api as sm  # imported when fitted: importing it takes about a second

    check_probability(significance, "significance")
    rows = []
    for (pname, stage), g in rates.groupby(["process", "stage"], sort=False):
        g = g[g["mature"] & g["rate"].notna() & (g["n_eff"] > 0)].sort_values("cohort")
        out = {"process": pname, "stage": stage, "n_cohorts": len(g), "trend_slope": np.nan, "trend_p": np.nan,
               "break_at": None, "break_p": np.nan, "flag": ""}
        if len(g) >= 3:
            x = (g["rate"] * g["n_eff"]).to_numpy()
            n = g["n_eff"].to_numpy()
            t = np.arange(len(g), dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                glm = sm.GLM(g["rate"].to_numpy(), sm.add_constant(t), family=sm.families.Binomial(),
                             var_weights=n).fit()
            out["trend_slope"], out["trend_p"] = float(glm.params[1]), float(glm.pvalues[1])
            if len(g) >= 4:
                ll0 = _binom_ll(x, n)
                best, at = -1.0, None
                for s in range(2, len(g) - 1):
                    stat = 2 * (_binom_ll(x[:s], n[:s]) + _binom_ll(x[s:], n[s:]) - ll0)
                    if stat > best:
                        best, at = stat, g["cohort"].iloc[s]
                out["break_at"] = at
                out["break_p"] = float(min(1.0, stats.chi2.sf(best, 1) * max(1, len(g) - 3)))
            flags = [name for name, p in (("trend", out["trend_p"]), ("break", out["break_p"])) if p < significance]
            out["flag"] = "+".join(flags)
        rows.append(out)
    return pd.DataFrame(rows)


def cohort_rates(stage_events: Any, processes: SalesProcess | Mapping[str, SalesProcess], opportunities: Any = None,
                 *, freq: str = "M", as_of: Any = None, confidence: float = 0.95, max_unresolved: float = 0.1,
                 significance: float = 0.05) -> CohortRates:
    """Stage rates per cohort (period of first entry) with maturity, plus trend and break tests.

    Parameters
    ----------
    stage_events, processes, opportunities, as_of, confidence
        As in :func:`salesplan.funnel.estimate`.
    freq : {"W", "M", "Q", "Y"}
        Cohort period.
    max_unresolved : float
        Cohorts with a larger estimated share still in the stage at the horizon are immature (not tested).
    significance : float
        Significance level of the flags.
    """
    check_probability(confidence, "confidence")
    check_probability(significance, "significance")
    procs = normalise_processes(processes)
    red = reduce_stage_events(stage_events, procs, opportunities, by=["cohort"], as_of=as_of, cohort_freq=freq)
    from salesplan.funnel.estimate import fit_reduction

    funnel = fit_reduction(red, procs, confidence=confidence)
    rates = funnel.rates.copy()
    rates["age_days"] = (red.as_of - rates["cohort"]).dt.days
    rates["mature"] = rates["unresolved"].fillna(1.0) <= max_unresolved
    rates = rates[["process", "cohort", "stage", "age_days", "entered", "advanced", "lost", "open", "rate",
                   "rate_low", "rate_high", "n_eff", "unresolved", "mature", "closed_only_rate"]]
    return CohortRates(rates=rates, tests=trend_tests(rates, significance), freq=freq)


def win_rates_by_period(stage_events: Any, processes: SalesProcess | Mapping[str, SalesProcess],
                        opportunities: Any = None, *, freq: str = "M", as_of: Any = None,
                        confidence: float = 0.95) -> pd.DataFrame:
    """Cohort (created in period) and snapshot (closed in period) win rates side by side.

    Returns ``process, view ('cohort' / 'snapshot'), period, deals, won, lost, open, win_rate, win_rate_low,
    win_rate_high, share_open``. The cohort ``win_rate`` is won / deals so far (immature cohorts have a large
    ``share_open``); the snapshot ``win_rate`` is won / (won + lost) among deals closed in the period.

    Examples
    --------
    >>> from salesplan.datasets import simulate
    >>> data, _ = simulate(n_customers=40, years=1, seed=6)
    >>> w = win_rates_by_period(data.stage_events, data.processes, data.opportunities, freq="Q")
    >>> row = w.iloc[0]
    >>> row["view"], [int(row[c]) for c in ("deals", "won", "lost", "open")], round(float(row["win_rate"]), 4)
    ('cohort', [89, 7, 82, 0], 0.0787)

    (7 of the 89 opportunities created in the first quarter were won: 0.0787.)
    """
    check_probability(confidence, "confidence")
    procs = normalise_processes(processes)
    red = reduce_stage_events(stage_events, procs, opportunities, as_of=as_of, cohort_freq=freq)
    out = red.outcomes
    parts = []
    for view, col in (("cohort", "cohort"), ("snapshot", "closed_period")):
        sub = out if view == "cohort" else out[out["final"] != "open"]
        tab = sub.pivot_table(index=["process", col], columns="final", values="weight", aggfunc="sum",
                              fill_value=0).reindex(columns=["won", "lost", "open"], fill_value=0).reset_index()
        tab = tab.rename(columns={col: "period"})
        tab["deals"] = tab[["won", "lost", "open"]].sum(axis=1)
        base = tab["deals"] if view == "cohort" else tab["won"] + tab["lost"]
        tab["win_rate"] = tab["won"] / base.where(base > 0)
        lo, hi = wilson_interval(tab["win_rate"].to_numpy(), base.to_numpy(), confidence)
        tab["win_rate_low"], tab["win_rate_high"] = lo, hi
        tab["share_open"] = tab["open"] / tab["deals"]
        tab["view"] = view
        parts.append(tab)
    res = pd.concat(parts, ignore_index=True)
    cols = ["process", "view", "period", "deals", "won", "lost", "open", "win_rate", "win_rate_low",
            "win_rate_high", "share_open"]
    return res[cols].sort_values(["process", "view", "period"], kind="stable").reset_index(drop=True)


_ = estimate  # re-exported helper for notebooks that import from here
