"""RFM scoring: recency, frequency and monetary scores in quantile bins, and named segments.

Method
    Each measure is turned into a score 1..``bins`` (``bins`` = best) by its rank: with ``rank`` the *lowest* rank
    among tied values (1 = worst), ``score = 1 + floor(bins * (rank - 1) / n)``. Ties therefore always share a
    score, and the bins hold as equal a number of customers as the ties allow. Recency is scored on the time
    since the last purchase (short = good), frequency on purchase count and monetary on spend.

Segments
    A mapping ``{segment: {"r": (lo, hi), "f": (lo, hi), "m": (lo, hi)}}`` on scores scaled to [0, 1]
    (``(score - 1) / (bins - 1)``), both ends inclusive; missing letters mean any value. The first matching
    segment wins (mapping order), customers matching none get ``"other"``. :data:`DEFAULT_SEGMENTS` works for any
    number of bins.

Examples
--------
>>> import pandas as pd
>>> s = pd.DataFrame({"frequency": [0, 5, 2, 9], "recency": [0.0, 300.0, 100.0, 360.0],
...                   "T": [360.0, 360.0, 200.0, 365.0], "monetary_value": [0.0, 50.0, 20.0, 80.0],
...                   "revenue": [10.0, 300.0, 60.0, 800.0]}, index=list("abcd"))
>>> r = rfm_scores(s, bins=4)
>>> r[["r_score", "f_score", "m_score", "rfm_cell"]].to_dict("index")["d"]
{'r_score': 4, 'f_score': 4, 'm_score': 4, 'rfm_cell': '444'}
>>> r.loc["d", "segment"], r.loc["a", "segment"]
('champions', 'lost')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan._validation import check_positive, column_names
from salesplan.errors import ConfigError, SchemaError

__all__ = ["rfm_scores", "quantile_score", "DEFAULT_SEGMENTS"]

#: Default named segments on [0, 1]-scaled scores, first match wins.
DEFAULT_SEGMENTS: dict[str, dict[str, tuple[float, float]]] = {
    "champions": {"r": (0.75, 1.0), "f": (0.75, 1.0), "m": (0.5, 1.0)},
    "loyal": {"r": (0.5, 1.0), "f": (0.5, 1.0)},
    "big_spenders": {"r": (0.5, 1.0), "m": (0.75, 1.0)},
    "new": {"r": (0.75, 1.0), "f": (0.0, 0.25)},
    "promising": {"r": (0.5, 1.0), "f": (0.0, 0.5)},
    "cannot_lose": {"r": (0.0, 0.25), "f": (0.75, 1.0)},
    "at_risk": {"r": (0.0, 0.5), "f": (0.5, 1.0)},
    "hibernating": {"r": (0.25, 0.5), "f": (0.0, 0.5)},
    "lost": {"r": (0.0, 0.25), "f": (0.0, 0.5)},
}


def quantile_score(values: Any, bins: int = 5, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..bins from ranks (ties share the lowest score of their block; ``bins`` = best).

    Examples
    --------
    >>> quantile_score([5, 1, 1, 1, 9, 7], bins=3).tolist()
    [2, 1, 1, 1, 3, 3]
    >>> quantile_score([5, 1, 9], bins=3, higher_is_better=False).tolist()
    [2, 3, 1]
    """
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise ConfigError(f"rfm: bins must be an integer >= 2, got {bins!r}")
    v = np.asarray(values, dtype=float)
    if not higher_is_better:
        v = -v
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype=int)
    if np.isnan(v).any():
        rank = pd.Series(v).rank(method="min").to_numpy()
    else:
        rank = _min_rank(v)
    return (1 + np.floor(bins * (rank - 1) / n)).astype(int)


def _min_rank(v: np.ndarray) -> np.ndarray:
    """Rank 1..n with ties sharing the lowest rank of their block (pandas' ``method="min"``), in numpy."""
    order = np.argsort(v)  # the order within a tie does not matter: every member gets the block's first rank
    ordered = v[order]
    starts = np.empty(len(v), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    block_start = np.flatnonzero(starts)
    rank = np.empty(len(v), dtype=float)
    rank[order] = block_start[np.cumsum(starts) - 1] + 1
    return rank


def _check_segments(segments: Mapping[str, Mapping[str, Any]]) -> None:
    for name, rule in segments.items():
        for key, bounds in dict(rule).items():
            ok = key in ("r", "f", "m") and len(tuple(bounds)) == 2 and float(bounds[0]) <= float(bounds[1])
            if not ok:
                raise ConfigError(f"rfm segment {name!r}: rule {key!r}: {bounds!r} must be 'r', 'f' or 'm' mapped "
                                  "to (low, high) with low <= high on [0, 1]-scaled scores")


def _segment_labels(r: np.ndarray, f: np.ndarray, m: np.ndarray, bins: int,
                    segments: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """Segment name of each (r, f, m) score triple: first matching rule on [0, 1]-scaled scores, else "other"."""
    scaled = {"r": (r - 1) / (bins - 1), "f": (f - 1) / (bins - 1), "m": (m - 1) / (bins - 1)}
    label = np.full(len(r), "other", dtype=object)
    free = np.ones(len(r), dtype=bool)
    eps = 1e-9
    for name, rule in segments.items():
        hit = free.copy()
        for key, (lo, hi) in dict(rule).items():
            hit &= (scaled[key] >= float(lo) - eps) & (scaled[key] <= float(hi) + eps)
        label[hit] = name
        free &= ~hit
    return label


def rfm_scores(
    summary: pd.DataFrame,
    *,
    bins: int = 5,
    columns: Mapping[str, str] | None = None,
    segments: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """R, F and M scores, the RFM cell and score, and a named segment per customer.

    Parameters
    ----------
    summary : DataFrame
        Per customer, e.g. from :func:`salesplan.reduce.customers.customer_summary`.
    bins : int
        Number of score levels (5 = quintiles).
    columns : mapping, optional
        ``{"their name": "canonical name"}`` for the three scored columns: ``days_since_last`` (time since the
        last purchase, smaller = better; computed as ``T - recency`` when absent), ``frequency`` and ``revenue``
        (larger = better; default repeat purchases and total revenue). E.g. ``{"net_revenue": "revenue"}``.
    segments : mapping, optional
        Named segments (see the module docstring); default :data:`DEFAULT_SEGMENTS`.

    Returns
    -------
    pandas.DataFrame
        Same index: ``recency_value``, ``frequency_value``, ``monetary_value``, ``r_score``, ``f_score``,
        ``m_score``, ``rfm_cell`` (e.g. ``"545"``), ``rfm_score`` (sum), ``segment``.
    """
    names = column_names(columns, ("days_since_last", "frequency", "revenue"))
    recency, frequency, monetary = names["days_since_last"], names["frequency"], names["revenue"]
    check_positive(bins, "bins", integer=True)
    segments = DEFAULT_SEGMENTS if segments is None else segments
    _check_segments(segments)
    frame = summary
    if recency == "days_since_last" and recency not in frame.columns:
        missing = [c for c in ("T", "recency") if c not in frame.columns]
        if missing:
            raise SchemaError(f"rfm_scores: need column {recency!r} or both 'T' and 'recency'; missing {missing}")
        rec = frame["T"] - frame["recency"]
    elif recency in frame.columns:
        rec = frame[recency]
    else:
        raise SchemaError(f"rfm_scores: recency column {recency!r} not in the summary")
    for col in (frequency, monetary):
        if col not in frame.columns:
            raise SchemaError(f"rfm_scores: column {col!r} not in the summary; columns: {list(frame.columns)[:12]}")
    out = pd.DataFrame(index=frame.index)
    out["recency_value"] = rec.astype(float)
    out["frequency_value"] = frame[frequency].astype(float)
    out["monetary_value"] = frame[monetary].astype(float)
    out["r_score"] = quantile_score(out["recency_value"], bins, higher_is_better=False)
    out["f_score"] = quantile_score(out["frequency_value"], bins)
    out["m_score"] = quantile_score(out["monetary_value"], bins)
    sep = "" if bins < 10 else "-"
    r_s, f_s, m_s = (out[f"{k}_score"].to_numpy() for k in ("r", "f", "m"))
    in_range = all(len(x) == 0 or (x.min() >= 1 and x.max() <= bins) for x in (r_s, f_s, m_s))  # NaN: no score
    if bins <= 20 and in_range:  # label each of the bins**3 cells once, then look the customers' cells up
        grid = np.arange(1, bins + 1)
        gr, gf, gm = (g.ravel() for g in np.meshgrid(grid, grid, grid, indexing="ij"))
        cells = np.array([f"{r}{sep}{f}{sep}{m}" for r, f, m in zip(gr, gf, gm, strict=True)], dtype=object)
        cell_segment = _segment_labels(gr, gf, gm, bins, segments)
        code = ((r_s - 1) * bins + (f_s - 1)) * bins + (m_s - 1)
        out["rfm_cell"] = cells[code]
        segment = cell_segment[code]
    else:
        out["rfm_cell"] = np.array([f"{r}{sep}{f}{sep}{m}" for r, f, m in zip(r_s, f_s, m_s, strict=True)],
                                   dtype=object)
        segment = _segment_labels(r_s, f_s, m_s, bins, segments)
    if out["rfm_cell"].dtype == object:  # an empty column is not inferred as text; same dtype as astype(str)
        out["rfm_cell"] = out["rfm_cell"].astype(str)
    out["rfm_score"] = r_s + f_s + m_s
    out["segment"] = segment
    out.attrs.update(bins=bins, segments={k: dict(v) for k, v in segments.items()})
    return out
