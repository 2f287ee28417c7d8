"""Simulated forecast calls: each rep calls the revenue they will win in the quarter, with a known bias.

The rules (:data:`CALL_PARAMS`; the biases in ``Truth.call_bias``)
    * Every rep calls, once a week from the first day of each quarter (weeks 1 to 13, as far as the data cut), the
      amount of their process's deals that they will win in the quarter (``category = "commit"``). The first
      quarter called is the first one starting ``warm_up_days`` after the simulation start.
    * A call is ``bias[rep] * actual * exp(e)``, ``e ~ Normal(0, sigma_w)`` independent across calls, with
      ``sigma_w`` falling linearly from ``sigma_first`` in week 1 to ``sigma_last`` in week 13: early calls are
      guesses, late calls know most of the quarter. ``actual`` is the amount at close of the deals won in the
      quarter whose owner at close is the rep (the latent outcome, also for the quarter still running at the cut).
    * ``bias[rep] = exp(Normal(0, bias_sd))`` rounded to two decimals: the median of ``call / actual``
      (an optimist above 1, a sandbagger below 1).
    * A rep who wins nothing in a quarter makes no call for it (a ratio to zero is undefined).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CALL_PARAMS", "simulate_calls"]

#: The true rules of the simulated forecast calls (see the module docstring).
CALL_PARAMS: dict[str, float] = {
    "bias_sd": 0.2,
    "sigma_first": 0.45,
    "sigma_last": 0.08,
    "warm_up_days": 180.0,
}
_WEEKS = 13


def simulate_calls(won: pd.DataFrame, owners: dict[str, list[str]], start: pd.Timestamp, as_of: pd.Timestamp,
                   seed: list[int]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Weekly commit calls of every rep (see the module docstring).

    Parameters
    ----------
    won : DataFrame
        ``opportunity_id, process, owner, amount, closed_at`` of every deal that is won (latent outcomes).
    owners : dict
        The reps of each process.
    start, as_of : Timestamp
        The simulation start and the data cut (no call is made after it).
    seed : list of int
        Seed of the calls' own random stream.

    Returns
    -------
    calls : DataFrame
        ``owner, process, period, as_of, category, amount`` (the canonical ``forecast_calls`` table).
    bias : dict
        The true bias of every rep (median of call / actual).

    Examples
    --------
    >>> won = pd.DataFrame({"opportunity_id": ["o1"], "process": ["acquisition"], "owner": ["acq_rep1"],
    ...                     "amount": [100.0], "closed_at": [pd.Timestamp("2024-08-01")]})
    >>> calls, bias = simulate_calls(won, {"acquisition": ["acq_rep1"]}, pd.Timestamp("2024-01-01"),
    ...                              pd.Timestamp("2024-12-31"), seed=[0, 18, 3])
    >>> calls["period"].unique().tolist(), len(calls), sorted(bias)
    (['2024-Q3'], 13, ['acq_rep1'])
    """
    rng = np.random.default_rng(seed)
    reps = [(proc, rep) for proc, names in owners.items() for rep in names]
    bias = {rep: round(float(np.exp(rng.normal(0.0, CALL_PARAMS["bias_sd"]))), 2) for _, rep in reps}
    first = (start + pd.Timedelta(days=CALL_PARAMS["warm_up_days"])).to_period("Q") + 1
    quarters = pd.period_range(first, as_of.to_period("Q"), freq="Q") if first <= as_of.to_period("Q") else []
    w = won.assign(period=won["closed_at"].dt.to_period("Q"))
    actual = w.groupby(["owner", "period"])["amount"].sum()
    sigma = np.linspace(CALL_PARAMS["sigma_first"], CALL_PARAMS["sigma_last"], _WEEKS)
    rows = []
    for quarter in quarters:
        days = quarter.start_time + pd.to_timedelta(7 * np.arange(_WEEKS), unit="D")
        for proc, rep in reps:
            noise = rng.normal(0.0, sigma)  # drawn for every rep and quarter: the stream does not depend on wins
            value = float(actual.get((rep, quarter), 0.0))
            if value <= 0:
                continue
            for k, day in enumerate(days):
                if day > as_of:
                    break
                rows.append((rep, proc, f"{quarter.year}-Q{quarter.quarter}", day, "commit",
                             round(bias[rep] * value * float(np.exp(noise[k])), 2)))
    calls = pd.DataFrame(rows, columns=["owner", "process", "period", "as_of", "category", "amount"])
    return calls, bias
