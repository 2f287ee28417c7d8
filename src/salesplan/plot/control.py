"""Control charts: plan against actual bars, variance waterfall, KPI table with sparklines, pipeline movement.

Every function takes ``ax=None`` (a new Figure without pyplot state is made then) and returns the Axes.

Examples
--------
>>> import pandas as pd
>>> from salesplan.control import decompose_gap
>>> t = decompose_gap(pd.DataFrame({"process": ["acq"], "period": ["2025-Q1"], "planned_entries": [100.0],
...                                 "planned_contracts": [20.0], "actual_entries": [80], "cohort_wins": [12],
...                                 "actual_contracts": [15]}))
>>> ax = variance_waterfall(t)
>>> [tick.get_text() for tick in ax.get_xticklabels()]
['plan', 'volume', 'conversion', 'timing', 'actual']
>>> [(float(b.get_y()), float(b.get_height())) for b in ax.patches]  # each effect starts where the last ended
[(0.0, 20.0), (20.0, -4.0), (16.0, -4.0), (12.0, 3.0), (0.0, 15.0)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError
from salesplan.plot._base import compact_numbers, get_ax, legend_outside, readable

__all__ = ["plan_actual_bars", "variance_waterfall", "kpi_table", "movement_chart"]

_PLAN = "#9bb7d4"
_ACTUAL = "#1f5f99"
_UP = "#2e7d32"
_DOWN = "#c62828"


def plan_actual_bars(table: pd.DataFrame, measure: str = "contracts", *, process: str | None = None,
                     ax: Any = None) -> Any:
    """Plan and actual side by side per period (``plan_vs_actual`` output).

    Summed over processes unless ``process`` is given; attainment printed above the actual bars.
    """
    ax = get_ax(ax)
    t = table[table["measure"] == measure]
    if process is not None:
        t = t[t["process"] == process]
    if t.empty:
        raise ConfigError(f"plan_actual_bars: no rows for measure {measure!r}"
                          + (f" and process {process!r}" if process else ""))
    g = t.groupby("period")[["plan", "actual"]].sum(min_count=1)
    x = np.arange(len(g))
    ax.bar(x - 0.2, g["plan"].to_numpy(float), width=0.4, color=_PLAN, label="plan")
    ax.bar(x + 0.2, g["actual"].to_numpy(float), width=0.4, color=_ACTUAL, label="actual")
    for xi, (p, a) in zip(x, g.to_numpy(float), strict=True):
        if np.isfinite(p) and p > 0:
            ax.annotate(f"{a / p:.0%}", (xi + 0.2, a), ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(x, list(g.index), rotation=30 if len(g) > 6 else 0, ha="right" if len(g) > 6 else "center")
    ax.set_ylabel(readable(measure))
    ax.set_xlabel("period")
    top = float(np.nanmax(g.to_numpy(float))) if np.isfinite(g.to_numpy(float)).any() else 1.0
    ax.set_ylim(0, max(top, 1e-9) * 1.12)  # room for the attainment labels
    compact_numbers(ax.yaxis)
    ax.set_title(f"{readable(measure)}: plan and actual" + (f" ({readable(process)})" if process else ""))
    legend_outside(ax)
    return ax


def variance_waterfall(table: Any, *, process: str | None = None, period: str | None = None,
                       ax: Any = None) -> Any:
    """Waterfall from planned to actual contracts through the volume, conversion and timing effects.

    ``table`` is ``VarianceResult`` or its ``table``; rows are summed after filtering by process/period.
    """
    ax = get_ax(ax)
    t = getattr(table, "table", table)
    if process is not None:
        t = t[t["process"] == process]
    if period is not None:
        t = t[t["period"] == period]
    if t.empty:
        raise ConfigError("variance_waterfall: no rows for this process/period")
    plan = float(t["planned_contracts"].sum())
    effects = [float(t[c].sum()) for c in ("volume_effect", "conversion_effect", "timing_effect")]
    actual = float(t["actual_contracts"].sum())
    labels = ["plan", "volume", "conversion", "timing", "actual"]
    ax.bar(0, plan, color=_PLAN)
    level = plan
    for i, e in enumerate(effects, start=1):
        ax.bar(i, e, bottom=level, color=_UP if e >= 0 else _DOWN)
        ax.annotate(f"{e:+.1f}", (i, level + max(e, 0)), ha="center", va="bottom", fontsize="small")
        level += e
    ax.bar(4, actual, color=_ACTUAL)
    ax.annotate(f"{plan:.1f}", (0, plan), ha="center", va="bottom", fontsize="small")
    ax.annotate(f"{actual:.1f}", (4, actual), ha="center", va="bottom", fontsize="small")
    tops = [plan, actual, *np.cumsum([plan, *effects])]
    lows = [0.0, *np.cumsum([plan, *effects])]
    ax.set_ylim(min(0.0, min(lows)), max(tops) * 1.15 if max(tops) > 0 else 1.0)  # room for the value labels
    ax.set_xticks(range(5), labels)
    ax.set_xlabel("from plan to actual")
    ax.set_ylabel("contracts")
    ax.set_title("Contract gap: volume, conversion and timing" + (f" ({readable(process)})" if process else ""))
    return ax


def kpi_table(kpis: pd.DataFrame, columns: list[str] | None = None, *, process: str | None = None,
              ax: Any = None, title: str = "KPIs: latest value and trend") -> Any:
    """A KPI table: one row per KPI (and process), its latest value and a sparkline of its history."""
    columns = columns or ["snapshot_win_rate", "cohort_win_rate", "cycle_days", "coverage", "required_coverage",
                          "velocity", "activity_attainment"]
    k = kpis if process is None else kpis[kpis["process"] == process]
    procs = list(dict.fromkeys(k["process"]))
    rows = [(p, c) for p in procs for c in columns if c in k.columns and k.loc[k["process"] == p, c].notna().any()]
    ax = get_ax(ax, figsize=(7.0, 0.35 * max(len(rows), 1) + 0.6))
    ax.set_xlim(0, 1)
    ax.set_ylim(len(rows), -1)
    ax.axis("off")
    ax.text(0.0, -0.6, "process", fontweight="bold", fontsize="small")
    ax.text(0.25, -0.6, "KPI", fontweight="bold", fontsize="small")
    ax.text(0.58, -0.6, "latest", fontweight="bold", fontsize="small", ha="right")
    ax.text(0.62, -0.6, f"trend ({k['period'].iloc[0] if len(k) else ''} .. {k['period'].iloc[-1] if len(k) else ''})",
            fontweight="bold", fontsize="small")
    for i, (p, c) in enumerate(rows):
        s = k.loc[k["process"] == p, c].to_numpy(dtype=float)
        last = s[np.isfinite(s)][-1]
        fmt = f"{last:.1%}" if c.endswith("rate") or c.endswith("share") or c == "activity_attainment" else \
            f"{last:,.1f}"
        ax.text(0.0, i + 0.2, readable(p), fontsize="small")
        ax.text(0.25, i + 0.2, readable(c), fontsize="small")
        ax.text(0.58, i + 0.2, fmt, fontsize="small", ha="right")
        ok = np.isfinite(s)
        if ok.sum() >= 2:
            lo, hi = np.nanmin(s), np.nanmax(s)
            scaled = (s - lo) / (hi - lo) if hi > lo else np.full_like(s, 0.5)
            xs = 0.62 + 0.36 * np.arange(len(s)) / max(len(s) - 1, 1)
            ax.plot(xs[ok], i + 0.35 - 0.7 * scaled[ok], color=_ACTUAL, lw=1)
            ax.plot(xs[ok][-1], i + 0.35 - 0.7 * scaled[ok][-1], "o", color=_ACTUAL, ms=3)
    ax.set_title(title)
    return ax


def movement_chart(movement: Any, *, process: str = "(all)", value: bool = False, ax: Any = None) -> Any:
    """Bridge from the open pipeline at start to the open pipeline at end (new and reopened in, won and lost out).

    The moves of the deals open at both dates form a second group of bars.
    """
    ax = get_ax(ax, figsize=(8.0, 4.0))
    t = movement.table[movement.table["process"] == process].set_index("category")
    if t.empty:
        raise ConfigError(f"movement_chart: no rows for process {process!r}")
    col = "value" if value else "count"
    start, new, won, lost, end = (float(t.loc[c, col]) for c in ("open_at_start", "new", "won", "lost",
                                                                 "open_at_end"))
    back = float(t.loc["reopened", col]) if "reopened" in t.index else 0.0
    ax.bar(0, start, color=_PLAN)
    ax.bar(1, new, bottom=start, color=_UP)
    ax.bar(2, back, bottom=start + new, color=_UP, alpha=0.6)
    ax.bar(3, -won, bottom=start + new + back, color=_ACTUAL)
    ax.bar(4, -lost, bottom=start + new + back - won, color=_DOWN)
    ax.bar(5, end, color=_PLAN)
    moves = ["advanced", "regressed", "pushed", "slipped", "unchanged"]
    for i, m in enumerate(moves, start=7):
        ax.bar(i, float(t.loc[m, col]), color="#b0bec5")
    # a bar hanging down from the top (won, lost) gets no autoscale margin above it: leave room explicitly
    top = max(start + new + back, end, *(float(t.loc[m, col]) for m in moves))
    ax.set_ylim(0, max(top, 1e-9) * 1.08)
    labels = ["open at start", "+ new", "+ reopened", "- won", "- lost", "open at end", "", *moves]
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_xlabel("in and out of the open pipeline (left); moves of deals open at both dates (right)")
    ax.set_ylabel("pipeline value" if value else "opportunities")
    compact_numbers(ax.yaxis)
    who = "all processes" if process == "(all)" else readable(process)
    ax.set_title(f"Pipeline movement {movement.start.date()} to {movement.end.date()} ({who})")
    return ax
