"""Attainment: contracts won against target, the chance of reaching a target, coverage at the data cut.

One definition for each of these figures, used by :class:`salesplan.Analysis`, the control report and the KPIs:

``target_between(targets, start, end)``
    Target contracts per process inside ``[start, end)``, **pro-rated by time** (days) from each target row's own
    period: a quarterly target of 8 gives December ``8 * 31 / 92``. This is the only pro-rating in salesplan
    (:func:`salesplan.control.kpis` uses it too), so a period has one target everywhere.
``wins_between(states, start, end)``
    Deals won per process whose close (the last, closing event) lies in ``[start, end)``, from the deal states of
    :func:`salesplan.reduce.states.deal_states` at the cut.
``attainment_table``
    Won against target for several named windows (period, quarter, year); ``attainment = won / target``.
``chance_of_target(pmf, target)``
    ``P(contracts >= ceil(target))`` from a simulated distribution of contracts.
``cohort_mature(period, as_of, median_days)``
    A creation cohort is mature once the cut is at least the median days from creation to win (of the process's
    wins closed by the cut) past the end of its period; before that most of its deals cannot have closed yet, so
    its win rate and its conversion effect in the variance say little ("too early").
``coverage_at_cut``
    The pipeline open at the cut against the target of the window ahead: ``coverage = open / target`` and the
    coverage the measured conversion requires, ``required_coverage = open / expected_wins`` with
    ``expected_wins`` the sum over the open deals of their stage's win rate. ``coverage >= required_coverage``
    exactly when the open deals are expected to reach the target.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"process": ["acq"], "period": ["2025-Q4"], "contracts": [8.0]})
>>> round(float(target_between(t, pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01"))["acq"]), 4)
2.6957
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["overlap_share", "target_between", "wins_between", "attainment_table", "chance_of_target",
           "coverage_at_cut", "win_rates_by_stage", "attainment_status", "median_cycle_days", "cohort_mature"]


def overlap_share(target_period: pd.Period, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Share of ``target_period`` (by time) that lies inside ``[start, end)``.

    Examples
    --------
    >>> overlap_share(pd.Period("2025Q4", "Q"), pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01")) == 31 / 92
    True
    """
    t0, t1 = target_period.start_time, (target_period + 1).start_time
    lo, hi = max(t0, pd.Timestamp(start)), min(t1, pd.Timestamp(end))
    if hi <= lo:
        return 0.0
    return float((hi - lo) / (t1 - t0))


def target_between(targets: pd.DataFrame | None, start: Any, end: Any,
                   processes: Sequence[str] | None = None) -> pd.Series:
    """Target contracts per process inside ``[start, end)``, pro-rated by time from the targets' own periods.

    Parameters
    ----------
    targets : DataFrame or None
        ``process, period, contracts`` (the canonical targets table; segment rows add up).
    start, end : date-like
        The window.
    processes : sequence of str, optional
        The index of the result (default: the processes of ``targets``).

    Returns
    -------
    Series
        Float per process; NaN for a process without any target row overlapping the window.

    Examples
    --------
    >>> t = pd.DataFrame({"process": ["a", "a"], "period": ["2026-Q1", "2026-Q2"], "contracts": [9.0, 3.0]})
    >>> target_between(t, "2026-03-01", "2026-05-01", ["a", "b"]).round(3).to_dict()
    {'a': 4.089, 'b': nan}
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    names = list(processes) if processes is not None else (
        list(dict.fromkeys(targets["process"])) if targets is not None else [])
    out = pd.Series(np.nan, index=pd.Index(names, name="process"), dtype=float)
    if targets is None or len(targets) == 0:
        return out
    for proc, period, contracts in zip(targets["process"], targets["period"], targets["contracts"], strict=True):
        if proc not in out.index:
            continue
        try:
            tp = pd.Period(str(period))
        except (ValueError, TypeError):
            continue
        share = overlap_share(tp, t0, t1)
        if share > 0:
            out[proc] = (0.0 if np.isnan(out[proc]) else out[proc]) + share * float(contracts)
    return out


def wins_between(states: pd.DataFrame, start: Any, end: Any, processes: Sequence[str]) -> pd.Series:
    """Deals won per process with their close in ``[start, end)``.

    Parameters
    ----------
    states : DataFrame
        Deal states at the cut (:meth:`salesplan.SalesData.opportunity_status` or
        :func:`salesplan.reduce.states.deal_states`): ``process, status, closed_at``.

    Examples
    --------
    >>> st = pd.DataFrame({"process": ["a", "a", "a"], "status": ["won", "won", "lost"],
    ...                    "closed_at": pd.to_datetime(["2025-12-02", "2025-11-30", "2025-12-03"])})
    >>> wins_between(st, "2025-12-01", "2026-01-01", ["a", "b"]).to_dict()
    {'a': 1, 'b': 0}
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    won = states[(states["status"] == "won") & (states["closed_at"] >= t0) & (states["closed_at"] < t1)]
    return won.groupby("process").size().reindex(list(processes), fill_value=0).astype(int).rename_axis("process")


def attainment_table(states: pd.DataFrame, targets: pd.DataFrame | None,
                     windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
                     processes: Sequence[str]) -> pd.DataFrame:
    """Won against target per process for each named window.

    Columns ``process`` and, for each window name ``w``: ``won_w``, ``target_w`` (pro-rated by time,
    :func:`target_between`), then ``attainment_w = won_w / target_w`` for every window.

    Examples
    --------
    >>> st = pd.DataFrame({"process": ["a"], "status": ["won"], "closed_at": pd.to_datetime(["2025-12-02"])})
    >>> t = pd.DataFrame({"process": ["a"], "period": ["2025-12"], "contracts": [2.0]})
    >>> w = {"period": (pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01"))}
    >>> attainment_table(st, t, w, ["a"]).to_dict("records")
    [{'process': 'a', 'won_period': 1, 'target_period': 2.0, 'attainment_period': 0.5}]
    """
    out = pd.DataFrame({"process": list(processes)})
    for name, (start, end) in windows.items():
        out[f"won_{name}"] = wins_between(states, start, end, processes).to_numpy()
        out[f"target_{name}"] = target_between(targets, start, end, processes).to_numpy()
    for name in windows:
        out[f"attainment_{name}"] = out[f"won_{name}"] / out[f"target_{name}"]
    return out


def attainment_status(ratio: float) -> str:
    """Traffic light of an attainment ratio: ``good`` from 95%, ``warn`` from 80%, else ``bad`` ("" if unknown).

    Examples
    --------
    >>> attainment_status(1.0), attainment_status(0.85), attainment_status(0.1), attainment_status(float("nan"))
    ('good', 'warn', 'bad', '')
    """
    if ratio is None or not np.isfinite(ratio):
        return ""
    return "good" if ratio >= 0.95 else ("warn" if ratio >= 0.8 else "bad")


def chance_of_target(pmf: pd.Series, target: float) -> float:
    """``P(contracts >= ceil(target))`` from a probability mass function over whole contracts.

    NaN when there is no positive target.

    Examples
    --------
    >>> chance_of_target(pd.Series([0.2, 0.5, 0.3], index=[0, 1, 2]), 1.2)
    0.3
    """
    if target is None or not np.isfinite(target) or target <= 0:
        return float("nan")
    return float(pmf[pmf.index >= np.ceil(target - 1e-9)].sum())


def win_rates_by_stage(funnel: Any) -> dict[tuple[str, str], float]:
    """``(process, stage) -> win rate`` from a :class:`salesplan.funnel.Funnel` (mean over its ``by`` groups)."""
    w = funnel.win_rate
    if list(getattr(funnel, "by", []) or []):
        w = w.groupby(["process", "stage"], as_index=False)["win_rate"].mean()
    return {(p, s): float(r) for p, s, r in zip(w["process"], w["stage"], w["win_rate"], strict=True)}


def coverage_at_cut(states: pd.DataFrame, funnel: Any, target: pd.Series) -> pd.DataFrame:
    """Pipeline coverage at the data cut against the coverage the measured conversion requires.

    Parameters
    ----------
    states : DataFrame
        Deal states at the cut (:meth:`salesplan.SalesData.opportunity_status`): ``process, status, stage``.
    funnel : Funnel
        Its stage win rates value the open deals.
    target : Series
        Target contracts per process for the window the open pipeline works for (index = processes reported).

    Returns
    -------
    DataFrame
        ``process, open_count, expected_wins, target, coverage, required_coverage, enough``:
        ``coverage = open_count / target``; ``required_coverage = open_count / expected_wins``;
        ``enough = expected_wins >= target`` (equivalently ``coverage >= required_coverage``): the open deals
        are expected to reach the target. Without a positive target ``coverage`` is NaN and ``enough`` True.
    """
    open_now = states[states["status"] == "open"]
    rates = win_rates_by_stage(funnel)
    p_win = np.array([rates.get((p, s), np.nan) for p, s in zip(open_now["process"], open_now["stage"],
                                                                 strict=True)], dtype=float)
    expected = pd.Series(p_win, index=open_now.index).groupby(open_now["process"]).sum()
    out = pd.DataFrame({"process": list(target.index)})
    out["open_count"] = out["process"].map(open_now.groupby("process").size()).fillna(0).astype(int)
    out["expected_wins"] = out["process"].map(expected).fillna(0.0).astype(float)
    out["target"] = target.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["coverage"] = np.where(out["target"] > 0, out["open_count"] / out["target"], np.nan)
        out["required_coverage"] = np.where(out["expected_wins"] > 0, out["open_count"] / out["expected_wins"],
                                            np.nan)
    out["enough"] = (out["expected_wins"] >= out["target"]) | ~(out["target"] > 0)
    return out


def median_cycle_days(won_closes: pd.DataFrame) -> dict[str, float]:
    """Median days from creation to win per process, weighted by deals.

    ``won_closes`` are the won rows of :attr:`salesplan.reduce.states.StageFlows.closes` (``process, cycle_days,
    deals``).

    Examples
    --------
    >>> c = pd.DataFrame({"process": "a", "cycle_days": [10.0, 40.0, 90.0], "deals": [1, 3, 1]})
    >>> median_cycle_days(c)
    {'a': 40.0}
    """
    out = {}
    for proc, g in won_closes.groupby("process"):
        values, weights = g["cycle_days"].to_numpy(dtype=float), g["deals"].to_numpy(dtype=float)
        ok = np.isfinite(values) & (weights > 0)
        if ok.any():
            order = np.argsort(values[ok], kind="stable")
            v, w = values[ok][order], weights[ok][order]
            out[proc] = float(v[np.searchsorted(np.cumsum(w), w.sum() / 2.0)])
    return out


def cohort_mature(period: pd.Period, as_of: Any, median_days: float) -> bool:
    """Whether the cohort created in ``period`` had time to close by ``as_of`` (see the module docstring).

    Examples
    --------
    >>> per = pd.Period("2025-12", "M")
    >>> cohort_mature(per, pd.Timestamp("2026-01-01"), 45.0), cohort_mature(per, pd.Timestamp("2026-03-01"), 45.0)
    (False, True)
    """
    end = (period + 1).start_time
    if median_days is None or not np.isfinite(median_days):
        return bool(pd.Timestamp(as_of) >= end)
    return bool(pd.Timestamp(as_of) >= end + pd.Timedelta(days=float(median_days)))
