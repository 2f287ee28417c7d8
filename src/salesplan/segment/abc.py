"""ABC / Pareto classification and the Gini coefficient of any value measure (customers or products).

Method
    Items are ranked by value, largest first (ties broken by the order of the index, so results are
    reproducible). The cumulative share of an item is the share of the total value held by it and every item ranked
    above it. An item belongs to the first class whose threshold is not yet reached *before* it is added (the item
    that crosses 80% is still an A item), so class A is never empty when there is positive value.

Examples
--------
>>> import pandas as pd
>>> revenue = pd.Series({"a": 500.0, "b": 300.0, "c": 100.0, "d": 60.0, "e": 40.0})
>>> t = abc_classes(revenue)
>>> t["abc_class"].to_dict()
{'a': 'A', 'b': 'A', 'c': 'B', 'd': 'B', 'e': 'C'}
>>> round(gini(revenue), 3)
0.464
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, SchemaError

__all__ = ["abc_classes", "gini", "abc_summary"]


def _values(values: Any, column: str | None) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        if column is None or column not in values.columns:
            raise SchemaError(f"abc_classes: value column {column!r} not in the frame; columns: "
                              f"{list(values.columns)[:12]}")
        series = values[column]
    else:
        series = pd.Series(values) if not isinstance(values, pd.Series) else values
    series = pd.to_numeric(series, errors="coerce").astype(float)
    bad = series.isna() | ~np.isfinite(series) | (series < 0)
    if bad.any():
        cases = pd.DataFrame({"table": "values", "column": column or (series.name or "value"),
                              "check": "finite_non_negative", "key": series.index[bad].astype(str),
                              "value": series[bad].astype(str)})
        raise SchemaError.from_cases(cases)
    return series


def abc_classes(
    values: Any,
    column: str | None = None,
    *,
    thresholds: Sequence[float] = (0.8, 0.95),
    labels: Sequence[str] = ("A", "B", "C"),
) -> pd.DataFrame:
    """Classify items by their share of a value (revenue, margin, CLV, ...).

    Parameters
    ----------
    values : Series or DataFrame
        Values per item (customer or product), indexed by the item id; a DataFrame needs ``column``.
    column : str, optional
        Value column when ``values`` is a DataFrame.
    thresholds : sequence of float
        Increasing cumulative shares in (0, 1] closing each class but the last.
    labels : sequence of str
        One more label than thresholds.

    Returns
    -------
    pandas.DataFrame
        Same index: ``value``, ``rank`` (1 = largest), ``share``, ``cum_share``, ``item_share`` (cumulative share
        of items), ``abc_class``. ``attrs`` hold ``gini`` and ``thresholds``.

    Raises
    ------
    SchemaError
        Missing, infinite or negative values (clip negative margins first if that is what you mean).
    ConfigError
        Thresholds not increasing in (0, 1], or a wrong number of labels.

    Examples
    --------
    >>> t = abc_classes(pd.Series([10.0, 0.0, 90.0], index=["x", "y", "z"]), thresholds=[0.5], labels=["top", "rest"])
    >>> t[["rank", "abc_class"]].to_dict("list")
    {'rank': [2, 3, 1], 'abc_class': ['rest', 'rest', 'top']}
    """
    th = np.asarray(list(thresholds), dtype=float)
    if len(labels) != len(th) + 1:
        raise ConfigError(f"abc_classes: {len(th)} threshold(s) need {len(th) + 1} labels, got {list(labels)}")
    if len(th) and (np.any(np.diff(th) <= 0) or th[0] <= 0 or th[-1] > 1):
        raise ConfigError(f"abc_classes: thresholds must increase within (0, 1], got {list(thresholds)}")
    series = _values(values, column)
    v = series.to_numpy()
    n = len(v)
    order = np.argsort(-v, kind="stable")
    sorted_vals = v[order]
    total = sorted_vals.sum()
    share = sorted_vals / total if total > 0 else np.zeros(n)
    cum = np.cumsum(share)
    before = cum - share
    cls_idx = np.searchsorted(th, before, side="right") if len(th) else np.zeros(n, dtype=int)
    if total <= 0:
        cls_idx = np.full(n, len(th))
    # computed in rank order, written back in the input order through the inverse permutation (no re-indexing)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    rank = pos + 1
    out = pd.DataFrame(index=series.index)
    out["value"] = v
    out["rank"] = rank
    out["share"] = share[pos]
    out["cum_share"] = cum[pos]
    out["item_share"] = rank / max(n, 1)
    out["abc_class"] = np.asarray(list(labels), dtype=object)[cls_idx[pos]]
    out.attrs.update(gini=_gini_sorted(sorted_vals[::-1]), thresholds=list(th), labels=list(labels))
    return out


def gini(values: Any) -> float:
    """Gini coefficient of non-negative values (0 = all equal, towards 1 = one item holds everything).

    Computed as ``sum_i (2 i - n - 1) v_(i) / (n sum v)`` over values sorted ascending.

    Examples
    --------
    >>> gini([1, 1, 1, 1]), round(gini([0, 0, 0, 10]), 2)
    (0.0, 0.75)
    """
    return _gini_sorted(np.sort(np.asarray(values, dtype=float)))


def _gini_sorted(v: np.ndarray) -> float:
    """Gini of values sorted ascending; clipped to [0, 1] against rounding (equal tiny values give ~-1e-17)."""
    n = len(v)
    if n == 0 or v.sum() <= 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(np.clip(np.sum((2 * i - n - 1) * v) / (n * v.sum()), 0.0, 1.0))


def abc_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Items, value and shares per class of an :func:`abc_classes` table.

    Examples
    --------
    >>> t = abc_classes(pd.Series({"a": 500.0, "b": 300.0, "c": 100.0, "d": 60.0, "e": 40.0}))
    >>> abc_summary(t)["items"].to_dict()
    {'A': 2, 'B': 2, 'C': 1}
    """
    labels = table.attrs.get("labels") or sorted(table["abc_class"].unique())
    total = table["value"].sum()
    out = table.groupby("abc_class").agg(items=("value", "size"), value=("value", "sum")).reindex(labels)
    out["items"] = out["items"].fillna(0).astype(int)
    out["value"] = out["value"].fillna(0.0)
    out["item_share"] = out["items"] / max(len(table), 1)
    out["value_share"] = out["value"] / total if total > 0 else 0.0
    out.index.name = "abc_class"
    return out
