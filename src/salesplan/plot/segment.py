"""Segmentation charts: Pareto/ABC curve, RFM heatmap, CLV by segment, portfolio matrix, calibration/holdout.

Every function takes ``ax=None`` (a new Figure is made without touching pyplot's global state), labels its axes
with units and returns the Axes.

Examples
--------
>>> import pandas as pd
>>> from salesplan.segment import abc_classes

Five customers worth 50, 30, 10, 6 and 4: the top 20% of customers hold 50% of the value, the top 40% hold 80%
(the A class), and the Gini coefficient is the mean absolute difference over twice the mean,
``2 * 232 / (2 * 5**2 * 20) = 0.464`` (232 = the sum of the ten pairwise differences):

>>> ax = pareto_curve(abc_classes(pd.Series([50.0, 30.0, 10.0, 6.0, 4.0])))
>>> ax.lines[0].get_xydata().tolist()  # (share of customers %, share of value %)
[[0.0, 0.0], [20.0, 50.0], [40.0, 80.0], [60.0, 90.0], [80.0, 96.0], [100.0, 100.0]]
>>> [t.get_text().replace("\\n", ": ") for t in ax.texts], ax.get_title()  # class: customers
(['A: 2', 'B: 2', 'C: 1'], 'Pareto curve (Gini 0.46)')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import SchemaError
from salesplan.plot._base import get_ax, legend_outside, readable

__all__ = ["pareto_curve", "rfm_heatmap", "clv_by_segment", "portfolio_plot", "calibration_holdout_plot"]

_CLASS_COLOURS = ("#2b6cb0", "#90cdf4", "#e2e8f0", "#f7fafc")


def _need(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaError(f"{what}: missing column(s) {missing}")


def pareto_curve(table: pd.DataFrame, *, ax: Any = None, title: str | None = None) -> Any:
    """Cumulative share of value against cumulative share of items, with the ABC classes as bands.

    Parameters
    ----------
    table : DataFrame
        From :func:`salesplan.segment.abc_classes`.
    """
    _need(table, ["rank", "cum_share", "item_share", "abc_class"], "pareto_curve")
    ax = get_ax(ax)
    t = table.sort_values("rank")
    xs = np.concatenate([[0.0], t["item_share"].to_numpy()]) * 100
    ys = np.concatenate([[0.0], t["cum_share"].to_numpy()]) * 100
    start = 0.0
    for i, (label, grp) in enumerate(t.groupby("abc_class", sort=False)):
        end = float(grp["item_share"].max()) * 100
        ax.axvspan(start, end, color=_CLASS_COLOURS[i % len(_CLASS_COLOURS)], alpha=0.35, lw=0)
        ax.text((start + end) / 2, 4, f"{label}\n{len(grp)}", ha="center", va="bottom", fontsize=9)
        start = end
    ax.plot(xs, ys, color="black", lw=1.5)
    ax.plot([0, 100], [0, 100], color="grey", ls=":", lw=1)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.set_xlabel("cumulative share of items, ranked by value (%)")
    ax.set_ylabel("cumulative share of value (%)")
    gini = table.attrs.get("gini")
    ax.set_title(title or ("Pareto curve" + (f" (Gini {gini:.2f})" if gini is not None else "")))
    return ax


def rfm_heatmap(rfm: pd.DataFrame, *, value: str | None = None, ax: Any = None) -> Any:
    """Heatmap of customers (or the mean of ``value``) per recency score x frequency score.

    Parameters
    ----------
    rfm : DataFrame
        From :func:`salesplan.segment.rfm_scores` (plus ``value`` if given).

    Examples
    --------
    >>> r = pd.DataFrame({"r_score": [1, 2, 2], "f_score": [1, 1, 2], "monetary_value": [5.0, 7.0, 9.0]})
    >>> ax = rfm_heatmap(r, value="monetary_value")
    >>> [(t.get_position(), t.get_text()) for t in ax.texts]  # (recency - 1, frequency - 1): mean value
    [((0, 0), '5'), ((1, 0), '7'), ((1, 1), '9')]
    """
    _need(rfm, ["r_score", "f_score"] + ([value] if value else []), "rfm_heatmap")
    ax = get_ax(ax)
    if value:
        grid = rfm.pivot_table(index="f_score", columns="r_score", values=value, aggfunc="mean")
        label = f"mean {readable(value)}"
    else:
        grid = rfm.groupby(["f_score", "r_score"]).size().unstack("r_score")
        label = "customers"
    levels = range(1, int(max(rfm["r_score"].max(), rfm["f_score"].max())) + 1)
    grid = grid.reindex(index=list(levels), columns=list(levels))
    image = ax.imshow(grid.to_numpy(dtype=float), origin="lower", cmap="Blues", aspect="auto")
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:,.0f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
    ax.set_yticks(range(len(grid.index)), [str(c) for c in grid.index])
    ax.set_xlabel("recency score (higher = more recent)")
    ax.set_ylabel("frequency score (higher = more purchases)")
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_title("RFM: " + label)
    return ax


def clv_by_segment(frame: pd.DataFrame, *, value: str = "clv", by: str = "value_class", unit: str = "",
                   log: bool = True, ax: Any = None) -> Any:
    """Distribution of CLV (or another value) per segment as box plots.

    Examples
    --------
    >>> f = pd.DataFrame({"clv": [1.0, 5.0, 50.0, 80.0], "value_class": ["C", "C", "A", "A"]})
    >>> ax = clv_by_segment(f, unit="EUR")
    >>> [float(line.get_ydata()[0]) for line in ax.lines[5::6]]  # the medians: A (50 + 80) / 2, C (1 + 5) / 2
    [65.0, 3.0]
    >>> [t.get_text().replace("\\n", " ") for t in ax.get_xticklabels()], ax.get_ylabel()
    (['A (n=2)', 'C (n=2)'], 'clv (EUR, log scale)')
    """
    _need(frame, [value, by], "clv_by_segment")
    ax = get_ax(ax)
    data = frame[[by, value]].dropna()
    groups = sorted(data[by].astype(str).unique())
    series = [data.loc[data[by].astype(str) == g, value].to_numpy(dtype=float) for g in groups]
    if log:
        series = [s[s > 0] for s in series]
    ax.boxplot(series, tick_labels=[f"{g}\n(n={len(s)})" for g, s in zip(groups, series, strict=True)],
               showfliers=False)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(readable(by))
    unit_txt = ", ".join(p for p in (unit, "log scale" if log else "") if p)
    ax.set_ylabel(f"{readable(value)} ({unit_txt})" if unit_txt else readable(value))
    ax.set_title(f"{readable(value)} by {readable(by)}")
    return ax


def portfolio_plot(matrix: pd.DataFrame, *, ax: Any = None, attractiveness_label: str | None = None,
                   log: bool = True) -> Any:
    """Scatter of the portfolio matrix with the split lines and quadrant names and counts.

    Parameters
    ----------
    matrix : DataFrame
        From :func:`salesplan.segment.portfolio_matrix`.

    Examples
    --------
    >>> from salesplan.segment import portfolio_matrix
    >>> m = portfolio_matrix(pd.DataFrame({"clv": [10.0, 100.0, 50.0], "share_of_wallet": [0.2, 0.9, 0.5]}))
    >>> ax = portfolio_plot(m)
    >>> ax.get_legend_handles_labels()[1]  # quadrants and their customers: split at the medians, 50 and 0.5
    ['core (2)', 'review (1)']
    >>> [float(ax.lines[0].get_ydata()[0]), float(ax.lines[1].get_xdata()[0])]
    [50.0, 0.5]
    """
    _need(matrix, ["attractiveness", "position", "quadrant"], "portfolio_plot")
    ax = get_ax(ax)
    colours = {"core": "#2f855a", "develop": "#2b6cb0", "maintain": "#b7791f", "review": "#a0aec0"}
    for quad, grp in matrix.groupby("quadrant"):
        ax.scatter(grp["position"], grp["attractiveness"], s=10, alpha=0.6, color=colours.get(quad, "grey"),
                   label=f"{quad} ({len(grp)})")
    a_split, p_split = matrix.attrs.get("attractiveness_split"), matrix.attrs.get("position_split")
    if a_split is not None:
        ax.axhline(a_split, color="black", lw=0.8, ls="--")
    if p_split is not None:
        ax.axvline(p_split, color="black", lw=0.8, ls="--")
    if log and (matrix["attractiveness"] > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel(f"position: {readable(matrix.attrs.get('position', 'position'))} (0-1)")
    ax.set_ylabel(attractiveness_label or f"attractiveness: {readable(matrix.attrs.get('attractiveness', 'value'))}")
    legend_outside(ax)
    ax.set_title("Customer portfolio")
    return ax


def calibration_holdout_plot(comparison: pd.DataFrame, *, ax: Any = None, unit: str = "periods") -> Any:
    """Mean actual vs predicted holdout purchases by calibration-period repeat purchases.

    Parameters
    ----------
    comparison : DataFrame
        From :func:`salesplan.segment.holdout_comparison`.

    Examples
    --------
    >>> c = pd.DataFrame({"actual": [0.1, 0.5], "predicted": [0.12, 0.45], "customers": [10, 4]},
    ...                  index=pd.Index([0, 1], name="frequency"))
    >>> ax = calibration_holdout_plot(c)
    >>> [line.get_ydata().tolist() for line in ax.lines]  # actual, then model, per calibration frequency
    [[0.1, 0.5], [0.12, 0.45]]
    """
    _need(comparison, ["actual", "predicted"], "calibration_holdout_plot")
    ax = get_ax(ax)
    x = comparison.index.to_numpy()
    ax.plot(x, comparison["actual"], marker="o", label="actual")
    ax.plot(x, comparison["predicted"], marker="s", ls="--", label="model")
    cap = comparison.attrs.get("max_frequency")
    labels = [f"{v}+" if cap is not None and v == cap else str(v) for v in x]
    ax.set_xticks(x, labels)
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel(f"mean purchases in the holdout\n({unit} with a purchase)")
    legend_outside(ax)
    ax.set_title("Calibration vs holdout")
    return ax
