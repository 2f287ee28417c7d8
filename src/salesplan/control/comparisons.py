"""Headline figures of a month against last month, the same month last year and plan.

A control report reads a figure in context: 17 contracts won means little until it is set beside the 21 of last
month, the 12 of the same month a year ago and the plan of 19. :func:`month_comparison` lays one monthly series
out that way; :func:`salesplan.Analysis.comparisons` stacks it for every headline figure.

Differences are absolute (``actual - reference``), not ratios: the monthly counts of one process are small and a
ratio of two small counts swings wildly. ``vs_plan`` is the attainment ``actual / plan`` because plans are what a
head of sales reads in percent.

References: the month-over-month and year-over-year comparison is the standard layout of a monthly management
report (e.g. Horváth & Partners, *Das Controllingkonzept*, 2009, ch. 6: "Abweichungsanalyse").

Examples
--------
>>> import pandas as pd
>>> months = pd.period_range("2024-11", "2025-12", freq="M")
>>> won = pd.DataFrame({"acquisition": range(14)}, index=months)
>>> t = month_comparison(won, pd.Period("2025-12", "M"), figure="contracts won",
...                      plan=pd.Series({"acquisition": 10.0}))
>>> t.loc[0, ["actual", "last_month", "same_month_last_year", "vs_plan"]].tolist()
[13.0, 12.0, 1.0, 1.3]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COMPARISON_COLUMNS", "month_comparison", "weighted_pipeline"]

#: Columns of :func:`month_comparison`.
COMPARISON_COLUMNS = ["figure", "process", "actual", "last_month", "vs_last_month", "same_month_last_year",
                      "vs_last_year", "plan", "vs_plan"]


def month_comparison(series: pd.DataFrame, period: pd.Period, *, figure: str, plan: pd.Series | None = None,
                     first: pd.Period | None = None, total: str | None = None) -> pd.DataFrame:
    """One figure of ``period`` against the previous month, the same month a year earlier and plan.

    Parameters
    ----------
    series : DataFrame
        Monthly values: a monthly ``PeriodIndex`` (rows) by process or kind (columns).
    period : pandas.Period
        The reporting month.
    figure : str
        Name of the figure (the ``figure`` column).
    plan : Series, optional
        Planned value of ``period`` per column of ``series`` (missing entries: no plan).
    first : pandas.Period, optional
        First month with data; references before it are unknown (NaN), not zero.
    total : str, optional
        When given, a row of this name adds up the columns (plan: sum of the plans where all are known).

    Returns
    -------
    DataFrame
        :data:`COMPARISON_COLUMNS`: ``vs_last_month = actual - last_month``, ``vs_last_year = actual -
        same_month_last_year``, ``vs_plan = actual / plan`` (NaN without a positive plan).
    """
    frame = series.copy()
    frame.index = pd.PeriodIndex(frame.index, freq="M")
    if total is not None and frame.shape[1] > 1:
        frame[total] = frame.sum(axis=1)
    plans = pd.Series(np.nan, index=frame.columns, dtype=float)
    if plan is not None:
        known = plan.reindex(series.columns).astype(float)
        plans.loc[known.index] = known.to_numpy()
        if total is not None and total in frame.columns and known.notna().all() and len(known):
            plans[total] = float(known.sum())

    def at(month: pd.Period) -> pd.Series:
        if (first is not None and month < first) or month not in frame.index:
            return pd.Series(np.nan, index=frame.columns, dtype=float)
        return frame.loc[month].astype(float)

    month = pd.Period(period, freq="M")
    actual, last, year = at(month), at(month - 1), at(month - 12)
    out = pd.DataFrame({"figure": figure, "process": [str(c) for c in frame.columns],
                        "actual": actual.to_numpy(), "last_month": last.to_numpy(),
                        "same_month_last_year": year.to_numpy(), "plan": plans.to_numpy()})
    out["vs_last_month"] = out["actual"] - out["last_month"]
    out["vs_last_year"] = out["actual"] - out["same_month_last_year"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["vs_plan"] = np.where(out["plan"] > 0, out["actual"] / out["plan"], np.nan)
    return out[COMPARISON_COLUMNS]


def weighted_pipeline(open_deals: pd.DataFrame, win_rates: pd.DataFrame) -> pd.DataFrame:
    """The open pipeline weighted by each deal's chance to win from its current stage.

    Parameters
    ----------
    open_deals : DataFrame
        Deals (or deal counts) open at a cut: ``process, stage`` and ``deals`` (count per row, default 1) and
        ``amount`` (sum per row, optional).
    win_rates : DataFrame
        ``process, stage, win_rate, win_rate_low, win_rate_high`` (the funnel's win rate from each stage; rows of
        grouped funnels are averaged per stage).

    Returns
    -------
    DataFrame
        Per process: ``open_deals``, ``open_amount``, ``weighted_deals`` (expected wins), ``weighted_amount`` with
        ``weighted_amount_low`` / ``_high`` (every stage at the low / high end of its win-rate interval: a
        bound, wider than a joint interval because the stage rates are shared).

    Notes
    -----
    Weighted pipeline = sum over open deals of amount x P(win | stage), the classic probability-weighted
    forecast (e.g. Jobber & Lancaster, *Selling and Sales Management*, 10th ed., 2015, ch. 13), with the
    stage probabilities measured (censoring-aware) instead of set by hand.

    Examples
    --------
    >>> deals = pd.DataFrame({"process": ["p", "p"], "stage": ["a", "b"], "deals": [2, 1],
    ...                       "amount": [200.0, 50.0]})
    >>> rates = pd.DataFrame({"process": ["p", "p"], "stage": ["a", "b"], "win_rate": [0.25, 0.5],
    ...                       "win_rate_low": [0.2, 0.4], "win_rate_high": [0.3, 0.6]})
    >>> weighted_pipeline(deals, rates)[["process", "weighted_deals", "weighted_amount"]].to_dict("records")
    [{'process': 'p', 'weighted_deals': 1.0, 'weighted_amount': 75.0}]
    """
    cols = ["win_rate", "win_rate_low", "win_rate_high"]
    rates = win_rates.groupby(["process", "stage"], as_index=False)[cols].mean()
    deals = open_deals.copy()
    if "deals" not in deals:
        deals["deals"] = 1
    if "amount" not in deals:
        deals["amount"] = np.nan
    merged = deals.merge(rates, on=["process", "stage"], how="left")
    amount = merged["amount"].astype(float).fillna(0.0)
    merged = merged.assign(
        weighted_deals=merged["deals"] * merged["win_rate"].fillna(0.0),
        weighted_amount=amount * merged["win_rate"].fillna(0.0),
        weighted_amount_low=amount * merged["win_rate_low"].fillna(0.0),
        weighted_amount_high=amount * merged["win_rate_high"].fillna(0.0),
        open_amount=amount)
    out = merged.groupby("process", as_index=False, sort=False).agg(
        open_deals=("deals", "sum"), open_amount=("open_amount", "sum"), weighted_deals=("weighted_deals", "sum"),
        weighted_amount=("weighted_amount", "sum"), weighted_amount_low=("weighted_amount_low", "sum"),
        weighted_amount_high=("weighted_amount_high", "sum"))
    out["open_deals"] = out["open_deals"].astype("int64")
    return out
