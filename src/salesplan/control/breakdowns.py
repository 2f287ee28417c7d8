"""Results and pipeline broken down by a dimension: rep (owner), region, industry, customer size, segment.

Every row answers the questions a head of sales asks of a rep or a region: how many deals were won this month,
how well the last twelve months converted (with an interval, because a rep closes few deals), and how much
pipeline is open and what it is worth weighted by each deal's chance to win from its stage.

Method: deal states at the cut (:func:`salesplan.reduce.states.deal_states`) carry status, stage and close
date; a deal's dimension comes from its opportunity (``owner``, ``segment``) or its customer (``region``,
``industry``, ``size``). The win rate over the last twelve months is ``won / (won + lost)`` of the deals closed
in that window with a Jeffreys interval (Brown, Cai & DasGupta, "Interval Estimation for a Binomial
Proportion", *Statistical Science* 16, 2001). Deals still open are not in it: it is the closed-deal rate of the
window, read beside the censoring-aware funnel rates, not instead of them.

Examples
--------
>>> import pandas as pd
>>> deals = pd.DataFrame({"owner": ["a", "a", "b", "b"], "process": "p", "status": ["won", "lost", "open", "won"],
...                       "closed_at": pd.to_datetime(["2025-12-03", "2025-06-01", None, "2025-12-20"]),
...                       "amount": [10.0, 5.0, 40.0, 20.0], "p_win": [1.0, 0.0, 0.5, 1.0]})
>>> t = breakdown(deals, "owner", period=("2025-12-01", "2026-01-01"), year=("2025-01-01", "2026-01-01"))
>>> t[["owner", "won_period", "win_rate_12m", "open_deals", "weighted_amount"]].to_dict("records")
[{'owner': 'b', 'won_period': 1, 'win_rate_12m': 1.0, 'open_deals': 1, 'weighted_amount': 20.0}, \
{'owner': 'a', 'won_period': 1, 'win_rate_12m': 0.5, 'open_deals': 0, 'weighted_amount': 0.0}]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.funnel.aalen_johansen import beta_interval

__all__ = ["BREAKDOWN_COLUMNS", "breakdown", "jeffreys_interval"]

#: Columns of :func:`breakdown` after the dimension column.
BREAKDOWN_COLUMNS = ["won_period", "won_amount_period", "won_12m", "lost_12m", "win_rate_12m", "win_rate_12m_low",
                     "win_rate_12m_high", "open_deals", "open_amount", "weighted_amount"]


def jeffreys_interval(successes: Any, trials: Any, confidence: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval of binomial proportions.

    Equal tails of Beta(x + 1/2, n - x + 1/2) (:func:`salesplan.funnel.aalen_johansen.beta_interval`), 0 / 1 at
    the edges, NaN for n = 0.

    Examples
    --------
    >>> low, high = jeffreys_interval([5], [10])
    >>> round(float(low[0]), 3), round(float(high[0]), 3)
    (0.262, 0.738)
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore"):
        lo, hi = beta_interval(x + 0.5, n - x + 0.5, confidence)
        low = np.where(x > 0, lo, 0.0)
        high = np.where(x < n, hi, 1.0)
    bad = n <= 0
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def breakdown(deals: pd.DataFrame, by: str, *, period: tuple[Any, Any], year: tuple[Any, Any],
              confidence: float = 0.9) -> pd.DataFrame:
    """Won, conversion and open pipeline per value of ``by``.

    Parameters
    ----------
    deals : DataFrame
        One row per deal at the cut: ``by``, ``status`` (open / won / lost), ``closed_at``, ``amount`` and
        ``p_win`` (the chance to win from the deal's stage; used for open deals). Or summary rows of deals alike
        (:meth:`salesplan.reduce.states.DealRows.dimension_counts`): ``deals`` (how many), ``amount`` (their sum),
        ``in_period`` and ``in_year`` (closed in the two windows) instead of ``closed_at``.
    by : str
        The dimension column (missing values are shown as ``"(none)"``).
    period, year : (start, end)
        The reporting period and the twelve-month window of the win rate, each ``[start, end)``.
    confidence : float
        Level of the win-rate interval.

    Returns
    -------
    DataFrame
        ``by`` and :data:`BREAKDOWN_COLUMNS`, largest weighted pipeline plus won amount first.
    """
    d = deals.copy()
    d[by] = d[by].astype(object).where(d[by].notna(), "(none)").astype(str)
    amount = d["amount"].astype(float).fillna(0.0) if "amount" in d else pd.Series(0.0, index=d.index)
    if "deals" in d:  # summary rows (salesplan.reduce.states.DealRows.dimension_counts): flags, counts, sums
        weight = d["deals"].astype("int64")
        in_period, in_year = d["in_period"].astype(bool), d["in_year"].astype(bool)
    else:
        weight = pd.Series(1, index=d.index, dtype="int64")
        closed = pd.to_datetime(d["closed_at"])
        in_period = (closed >= pd.Timestamp(period[0])) & (closed < pd.Timestamp(period[1]))
        in_year = (closed >= pd.Timestamp(year[0])) & (closed < pd.Timestamp(year[1]))
    won, lost, is_open = d["status"] == "won", d["status"] == "lost", d["status"] == "open"
    p_win = d["p_win"].astype(float).fillna(0.0) if "p_win" in d else pd.Series(0.0, index=d.index)
    parts = pd.DataFrame({
        by: d[by], "won_period": (won & in_period).astype(int) * weight,
        "won_amount_period": amount.where(won & in_period, 0.0),
        "won_12m": (won & in_year).astype(int) * weight, "lost_12m": (lost & in_year).astype(int) * weight,
        "open_deals": is_open.astype(int) * weight, "open_amount": amount.where(is_open, 0.0),
        "weighted_amount": (amount * p_win).where(is_open, 0.0)})
    out = parts.groupby(by, as_index=False, sort=True).sum()
    n = out["won_12m"] + out["lost_12m"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["win_rate_12m"] = np.where(n > 0, out["won_12m"] / n, np.nan)
    out["win_rate_12m_low"], out["win_rate_12m_high"] = jeffreys_interval(out["won_12m"], n, confidence)
    out = out[[by, *BREAKDOWN_COLUMNS]]
    order = (out["weighted_amount"] + out["won_amount_period"]).to_numpy()
    out = out.iloc[np.argsort(-order, kind="stable")].reset_index(drop=True)
    return out
