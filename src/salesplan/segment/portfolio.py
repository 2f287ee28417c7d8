"""Customer portfolio matrix: attractiveness (value, CLV, potential) against our position (share of wallet).

Quadrants (high = at or above the split)
    ``core``     high attractiveness, high position: stabilise and defend (retention);
    ``develop``  high attractiveness, low position: grow our share (delivery rate, cross-selling);
    ``maintain`` low attractiveness, high position: serve efficiently;
    ``review``   low attractiveness, low position: low-cost service or selective development.

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"clv": [100.0, 900.0, 800.0, 50.0], "share_of_wallet": [0.9, 0.8, 0.1, 0.2]},
...                  index=list("abcd"))
>>> portfolio_matrix(f)["quadrant"].to_dict()
{'a': 'maintain', 'b': 'core', 'c': 'develop', 'd': 'review'}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.errors import SchemaError

__all__ = ["portfolio_matrix", "portfolio_summary", "QUADRANTS"]

#: (high attractiveness, high position) -> quadrant.
QUADRANTS = {(True, True): "core", (True, False): "develop", (False, True): "maintain", (False, False): "review"}


def portfolio_matrix(
    frame: pd.DataFrame,
    attractiveness: str = "clv",
    position: str = "share_of_wallet",
    *,
    attractiveness_split: float | None = None,
    position_split: float | None = None,
) -> pd.DataFrame:
    """Place each customer in a quadrant of the portfolio matrix.

    Parameters
    ----------
    frame : DataFrame
        Per customer, with the two columns named.
    attractiveness, position : str
        Column names (e.g. ``clv`` or ``wallet``; ``share_of_wallet``).
    attractiveness_split, position_split : float, optional
        Split values; default the medians.

    Returns
    -------
    pandas.DataFrame
        Same index: ``attractiveness``, ``position``, ``quadrant``; ``attrs`` hold the splits and column names.
    """
    for col in (attractiveness, position):
        if col not in frame.columns:
            raise SchemaError(f"portfolio_matrix: column {col!r} not in the frame; columns: {list(frame.columns)[:12]}")
    att = pd.to_numeric(frame[attractiveness], errors="coerce").astype(float)
    pos = pd.to_numeric(frame[position], errors="coerce").astype(float)
    bad = att.isna() | pos.isna()
    if bad.any():
        cases = pd.DataFrame({"table": "portfolio", "column": f"{attractiveness}/{position}", "check": "not_null",
                              "key": frame.index[bad].astype(str), "value": "missing"})
        raise SchemaError.from_cases(cases)
    a_split = float(att.median()) if attractiveness_split is None else float(attractiveness_split)
    p_split = float(pos.median()) if position_split is None else float(position_split)
    out = pd.DataFrame({"attractiveness": att, "position": pos}, index=frame.index)
    high_a, high_p = (att >= a_split).to_numpy(), (pos >= p_split).to_numpy()
    out["quadrant"] = np.array([QUADRANTS[(bool(x), bool(y))] for x, y in zip(high_a, high_p, strict=True)],
                               dtype=object)
    out.attrs.update(attractiveness=attractiveness, position=position, attractiveness_split=a_split,
                     position_split=p_split)
    return out


def portfolio_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Customers and total attractiveness per quadrant.

    Examples
    --------
    >>> f = pd.DataFrame({"clv": [1.0, 9.0], "share_of_wallet": [0.9, 0.1]}, index=["a", "b"])
    >>> portfolio_summary(portfolio_matrix(f))["customers"].to_dict()
    {'core': 0, 'develop': 1, 'maintain': 1, 'review': 0}
    """
    out = matrix.groupby("quadrant").agg(customers=("attractiveness", "size"),
                                         attractiveness=("attractiveness", "sum"),
                                         mean_position=("position", "mean"))
    out = out.reindex(list(dict.fromkeys(QUADRANTS.values())))
    out["customers"] = out["customers"].fillna(0).astype(int)
    out["attractiveness"] = out["attractiveness"].fillna(0.0)
    return out
