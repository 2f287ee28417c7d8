"""The win rate from each stage and its moment-matched Beta: the one definition the funnel and the plan share.

Method
    A deal in stage ``i`` is won when it advances through every stage from ``i`` on, so the win rate from ``i`` is
    the product of the stage rates ``r_i r_{i+1} ... r_K`` (the point estimate is the product of the point rates).
    With independent ``r_j ~ Beta(a_j, b_j)``, ``E[prod] = prod a/(a+b)`` and
    ``E[prod^2] = prod a(a+1)/((a+b)(a+b+1))``; a rate without a Beta (known) contributes ``r`` and ``r^2``. The
    Beta with those two moments carries the uncertainty of the product (``alpha``, ``beta``; NaN when every factor
    is known). A degenerate variance is floored at ``1e-12``; moments no Beta can match give ``Beta(1/2, 1/2)``.

Reference
    Fan, D.-Y. (1991). The distribution of the product of independent beta variables. *Communications in
    Statistics - Theory and Methods* 20(12), 4043-4052 (moment matching of a product of Betas).

Examples
--------
>>> import pandas as pd
>>> r = pd.DataFrame({"process": "p", "stage": ["a", "b"], "rate": [0.5, 0.5], "alpha": [5.0, 50.0],
...                   "beta": [5.0, 50.0]})
>>> w = win_rate_beta(r, ["process"], order=[0, 1])
>>> [round(float(v), 2) for v in w["win_rate"]], [round(float(v), 1) for v in w["alpha"]]
([0.25, 0.5], [7.1, 50.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["win_rate_beta"]

_VAR_FLOOR = 1e-12


def _tail_product(values: pd.Series) -> np.ndarray:
    return np.cumprod(values.to_numpy(dtype=float)[::-1])[::-1]


def win_rate_beta(rates: pd.DataFrame, keys: Sequence[str], order: Any) -> pd.DataFrame:
    """Win rate from each stage with its moment-matched ``Beta(alpha, beta)``, per group of ``keys``.

    Parameters
    ----------
    rates : DataFrame
        One row per (group, stage): ``keys`` columns, ``rate``, ``alpha``, ``beta`` (NaN: a known rate).
    keys : sequence of str
        The columns of a chain of stages (``["process"]``, ``["process", "segment"]``, ...).
    order : array-like of int
        The position of each row's stage in its process (the chain runs in this order).

    Returns
    -------
    DataFrame
        Same index and row order as ``rates``: ``win_rate`` (product of the point rates from the stage on),
        ``alpha``, ``beta``.
    """
    keys = list(keys)
    df = rates[[*keys, "rate", "alpha", "beta"]].reset_index(drop=True)
    df["_o"] = np.asarray(order, dtype=float)
    df["_n"] = np.arange(len(df))
    df = df.sort_values(["_o", "_n"], kind="stable")
    a, b, r = (df[c].to_numpy(dtype=float) for c in ("alpha", "beta", "rate"))
    known = ~(np.isfinite(a) & np.isfinite(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        df["_m1"] = np.where(known, r, a / (a + b))
        df["_m2"] = np.where(known, r**2, a * (a + 1) / ((a + b) * (a + b + 1)))
    df["_u"] = (~known).astype(float)
    grp = df.groupby(keys, sort=False, dropna=False)
    point = grp["rate"].transform(_tail_product).to_numpy(dtype=float)
    p1 = grp["_m1"].transform(_tail_product).to_numpy(dtype=float)
    p2 = grp["_m2"].transform(_tail_product).to_numpy(dtype=float)
    uncertain = grp["_u"].transform(lambda s: np.cumsum(s.to_numpy()[::-1])[::-1]).to_numpy() > 0
    var = np.maximum(p2 - p1**2, _VAR_FLOOR)
    with np.errstate(invalid="ignore"):
        conc = p1 * (1 - p1) / var - 1
    ok = conc > 0
    alpha = np.where(uncertain, np.where(ok, p1 * conc, 0.5), np.nan)
    beta = np.where(uncertain, np.where(ok, (1 - p1) * conc, 0.5), np.nan)
    out = pd.DataFrame({"win_rate": point, "alpha": alpha, "beta": beta, "_n": df["_n"].to_numpy()})
    out = out.sort_values("_n", kind="stable").drop(columns="_n")
    out.index = rates.index
    return out
