"""Overview charts of the control report: pipeline status, monthly series, actual against target.

They draw tables that :class:`salesplan.Analysis` computes (``status_counts``, ``won_per_month``,
``attainment``, ``activities_per_month``, ``revenue_per_month``). Every function takes ``ax=None``, returns the Axes and never touches pyplot's global state.

Examples
--------
>>> import pandas as pd
>>> from salesplan.plot.overview import plot_status
>>> counts = pd.DataFrame({"open": [2], "won": [3], "lost": [5]}, index=pd.Index(["acquisition"], name="process"))
>>> ax = plot_status(counts)
>>> ax.get_xlabel()
'opportunities'
>>> [(float(b.get_x()), float(b.get_width())) for b in ax.patches]  # stacked: won 3, lost 5, open 2
[(0.0, 3.0), (3.0, 5.0), (8.0, 2.0)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.plot._base import compact_numbers, date_axis, get_ax, legend_outside, readable

__all__ = ["plot_status", "plot_monthly", "plot_actual_vs_target", "plot_stacked_monthly"]

STATUS_COLOURS = {"open": "#8fb3d9", "won": "#2e7d32", "lost": "#c62828"}


def plot_status(counts: pd.DataFrame, ax: Any = None) -> Any:
    """Horizontal stacked bars of open / won / lost opportunities per process.

    Parameters
    ----------
    counts : DataFrame
        Index process, columns ``open``, ``won``, ``lost`` (as :meth:`salesplan.SalesData.status_counts`).
    """
    ax = get_ax(ax, figsize=(7.0, 3.2))
    left = np.zeros(len(counts))
    labels = [readable(i) for i in counts.index]
    for status in ("won", "lost", "open"):
        values = counts[status].to_numpy(dtype=float) if status in counts else np.zeros(len(counts))
        ax.barh(labels, values, left=left, color=STATUS_COLOURS[status], label=status)
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("opportunities")
    ax.set_ylabel("process")
    compact_numbers(ax.xaxis)
    ax.set_title("Opportunities by status and process")
    legend_outside(ax)
    return ax


def plot_monthly(frame: pd.DataFrame, ylabel: str, title: str, ax: Any = None, kind: str = "line") -> Any:
    """One line (or bar set) per column of a month-indexed frame.

    Parameters
    ----------
    frame : DataFrame
        Index of monthly ``pandas.Period`` or timestamps; one column per series.
    """
    ax = get_ax(ax, figsize=(7.0, 3.4))
    x = _month_index(frame.index)
    for column in frame.columns:
        ax.plot(x, frame[column].to_numpy(dtype=float), marker="o", markersize=2.5, label=readable(column))
    ax.set_ylabel(ylabel)
    compact_numbers(ax.yaxis)
    date_axis(ax.xaxis)
    ax.set_xlabel("month")
    ax.set_title(title)
    if len(frame.columns) > 1:
        legend_outside(ax)
    ax.grid(alpha=0.3)
    return ax


def plot_stacked_monthly(frame: pd.DataFrame, ylabel: str, title: str, ax: Any = None) -> Any:
    """Stacked monthly bars, one colour per column."""
    ax = get_ax(ax, figsize=(7.0, 3.4))
    x = _month_index(frame.index)
    bottom = np.zeros(len(frame))
    width = 20.0
    for column in frame.columns:
        values = frame[column].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, width=width, label=readable(column))
        bottom += values
    ax.set_ylabel(ylabel)
    compact_numbers(ax.yaxis)
    date_axis(ax.xaxis)
    ax.set_xlabel("month")
    ax.set_title(title)
    legend_outside(ax)
    ax.grid(alpha=0.3, axis="y")
    return ax


def plot_actual_vs_target(table: pd.DataFrame, ax: Any = None, actual_label: str = "won",
                          title: str = "Contracts won against target") -> Any:
    """Contracts won against target per process for one period.

    Parameters
    ----------
    table : DataFrame
        Columns ``process``, ``actual``, ``target`` and optionally ``forecast_low`` / ``forecast_high`` (the
        interval for the full period).
    """
    ax = get_ax(ax, figsize=(7.0, 3.4))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["target"].to_numpy(dtype=float), width=0.4, color="#b0bec5", label="target")
    ax.bar(x + 0.2, table["actual"].to_numpy(dtype=float), width=0.4, color="#1565c0", label=actual_label)
    if {"forecast_low", "forecast_high"} <= set(table.columns):
        lo = table["forecast_low"].to_numpy(dtype=float)
        hi = table["forecast_high"].to_numpy(dtype=float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.vlines(x[ok] + 0.2, lo[ok], hi[ok], color="#ef6c00", linewidth=2.5, label="forecast interval")
    ax.set_xticks(x, [readable(p) for p in table["process"]], rotation=15)
    ax.set_xlabel("process")
    ax.set_ylabel("contracts")
    ax.set_title(title)
    legend_outside(ax)
    ax.grid(alpha=0.3, axis="y")
    return ax


def _month_index(index: pd.Index) -> Any:
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    return pd.DatetimeIndex(index)
