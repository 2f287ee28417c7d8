"""Funnel charts: counts and rates with intervals, forest plot of group rates, time in stage, cohort heatmap.

Every function takes ``ax=None`` (a new Figure is made without pyplot state) and returns the Axes.

Examples
--------
>>> from salesplan.datasets import simulate
>>> from salesplan.funnel import estimate
>>> data, _ = simulate(n_customers=40, years=1, seed=3)
>>> f = estimate(data, by="segment")
>>> ax = funnel_chart(f, "acquisition")
>>> print(ax.get_yticklabels()[1].get_text())  # contacted: entries, still open, rate to the next stage [90%]
contacted (150, 9 open)
65% [57%, 73%] to qualified
>>> [int(b.get_width()) for b in ax.patches][:5]  # closed bars: entries minus open, 287 - 6, 150 - 9, ...
[281, 141, 91, 44, 24]

The forest plot shows each segment's raw rate and its shrunk rate: here the two segments differ no more than
chance allows (key 0.689 on 22 entries, standard 0.649 on 128), so both are shrunk to the process rate 0.654:

>>> ax = forest_plot(f, "acquisition", "contacted")
>>> [[round(float(x), 3) for x in line.get_xdata()] for line in ax.lines]  # raw, shrunk, process rate
[[0.689, 0.649], [0.654, 0.654], [0.654, 0.654]]

The stay curve falls by 1/150 each time one of the 150 contacted deals leaves the stage:

>>> ax = time_in_stage(f, "acquisition")
>>> [round(float(y), 4) for y in ax.get_lines()[1].get_ydata()[:3]]  # 1, 1 - 1/150, 1 - 2/150
[1.0, 0.9933, 0.9867]
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ParameterError
from salesplan.plot._base import compact_numbers, get_ax, legend_outside, readable

__all__ = ["funnel_chart", "forest_plot", "time_in_stage", "cohort_heatmap"]


def funnel_chart(funnel: Any, process: str, ax: Any = None) -> Any:
    """Horizontal bars of entries per stage (closed and still open at the cut), with the rate and its interval.

    The rate to the next stage and its interval are written under each stage name.
    With groups, the process-level (pooled) figures are drawn. A :class:`salesplan.funnel.SnapshotFunnel` (no
    stage history) is drawn as deals per current stage, titled with its win rates and their intervals.
    """
    ax = get_ax(ax, figsize=(7.0, 4.0))
    if hasattr(funnel, "stage_counts") and hasattr(funnel, "limits"):
        return _snapshot_chart(funnel, process, ax)
    rates = funnel.parent_rates if funnel.by else funnel.rates
    r = rates[rates["process"] == process].sort_values("stage_idx")
    y = np.arange(len(r))[::-1]
    closed = (r["entered"] - r["open"]).to_numpy(float)
    ax.barh(y, closed, color="#4C72B0", label="closed or advanced")
    ax.barh(y, r["open"], left=closed, color="#F2A541", hatch="//", edgecolor="white", lw=0,
            label="open at the cut")
    labels = []
    for row in r.itertuples():
        rate = (f"{row.rate:.0%} [{row.rate_low:.0%}, {row.rate_high:.0%}] to {readable(row.next_stage)}"
                if np.isfinite(row.rate) else "no closed stays yet")
        labels.append(f"{readable(row.stage)} ({int(row.entered):,}, {int(row.open):,} open)\n{rate}")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("opportunities entering the stage")
    ax.set_ylabel("stage (entries; rate to the next stage)")
    compact_numbers(ax.xaxis)
    ax.set_title(f"{readable(process)}: entries and conversion ({funnel.confidence:.0%} intervals)")
    legend_outside(ax)
    return ax


def _snapshot_chart(funnel: Any, process: str, ax: Any) -> Any:
    counts = funnel.stage_counts
    y = np.arange(len(counts))[::-1]
    ax.barh(y, counts["deals"], color="#4C72B0", alpha=0.8)
    ax.set_yticks(y, [f"{readable(s)}\n{int(d):,} ({sh:.0%})" for s, d, sh in
                      zip(counts["stage"], counts["deals"], counts["share"], strict=True)], fontsize=8)
    ax.set_xlabel("deals in the stage at the snapshot")
    ax.set_ylabel("current stage")
    compact_numbers(ax.xaxis)
    win = funnel.win_rate
    parts = [f"{readable(m)} {r.win_rate:.0%} [{r.win_rate_low:.0%}, {r.win_rate_high:.0%}]"
             for m, r in zip(win.index, win.itertuples(), strict=True) if np.isfinite(r.win_rate)]
    lines = ["; ".join(parts[i:i + 2]) for i in range(0, len(parts), 2)]
    ax.set_title("\n".join([f"{readable(process)}: current stages (snapshot); win rate", *lines]), fontsize=9)
    return ax


def forest_plot(funnel: Any, process: str, stage: str, ax: Any = None) -> Any:
    """Raw and empirical-Bayes shrunk rates per group for one stage, with intervals (needs ``by``)."""
    if funnel.shrinkage is None:
        raise ParameterError("forest_plot needs a funnel estimated with by=... (it has no groups to compare)")
    ax = get_ax(ax, figsize=(7.0, 4.0))
    s = funnel.shrinkage
    s = s[(s["process"] == process) & (s["stage"] == stage)].reset_index(drop=True)
    raw = funnel.rates[(funnel.rates["process"] == process) & (funnel.rates["stage"] == stage)]
    s = s.merge(raw[[*funnel.by, "rate_low", "rate_high"]], on=funnel.by, how="left")
    labels = s[funnel.by].map(str).agg(" / ".join, axis=1)
    y = np.arange(len(s))[::-1]
    ax.errorbar(s["rate"], y + 0.15, xerr=[s["rate"] - s["rate_low"], s["rate_high"] - s["rate"]], fmt="o",
                color="#999999", label="raw")
    ax.errorbar(s["shrunk_rate"], y - 0.15, xerr=[s["shrunk_rate"] - s["shrunk_low"],
                                                  s["shrunk_high"] - s["shrunk_rate"]], fmt="s",
                color="#C44E52", label="shrunk")
    if len(s):
        ax.axvline(float(s["parent_rate"].iloc[0]), color="black", ls="--", lw=1, label="process rate")
    ax.set_yticks(y, [f"{lab} (n={n})" for lab, n in zip(labels, s["entered"], strict=True)])
    ax.set_xlabel("conversion rate to the next stage")
    ax.set_ylabel(" / ".join(readable(b) for b in funnel.by))
    lo, hi = ax.get_xlim()
    ax.set_xlim(max(lo, 0.0), min(hi, 1.0))
    ax.set_title(f"{readable(process)}: {readable(stage)}, raw and shrunk rates per group")
    legend_outside(ax)
    return ax


def time_in_stage(funnel: Any, process: str, stages: list[str] | None = None, ax: Any = None) -> Any:
    """Share still in each stage against days since entering it (Aalen-Johansen, censoring-aware).

    When the funnel was estimated with ``stale_after_days``, open deals older than that are counted lost at that
    day, so the curves drop there: a dotted line marks the day and says so.

    A :class:`salesplan.funnel.SnapshotFunnel` has no stay curves; its days from the dated stage to a win and to a
    loss are drawn instead (median with the quartiles).
    """
    ax = get_ax(ax, figsize=(7.0, 4.0))
    if hasattr(funnel, "time_to_close") and hasattr(funnel, "limits"):
        ttc = funnel.time_to_close
        if ttc.empty:
            raise ValueError("the snapshot funnel has no entry and close dates: no time to close to draw")
        y = np.arange(len(ttc))
        med = ttc["median_days"].to_numpy(float)
        err = np.vstack([med - ttc["q25_days"].to_numpy(float), ttc["q75_days"].to_numpy(float) - med])
        ax.barh(y, med, xerr=err, color="#4C72B0", alpha=0.8, capsize=4)
        ax.set_yticks(y, [f"to {o} (n={int(n)})" for o, n in zip(ttc["outcome"], ttc["n"], strict=True)])
        ax.set_xlabel("days from the dated stage (median, quartiles)")
        ax.set_ylabel("outcome")
        ax.set_title(f"{readable(process)}: time to close (snapshot)")
        return ax
    for stage in stages or list(funnel.processes[process].stages):
        c = funnel.stay_curve(process, stage)
        ax.step(c["days"], c["still_in_stage"], where="post", label=readable(stage))
    stale = _stale_days(funnel)
    if stale is not None:
        ax.axvline(stale, color="grey", ls=":", lw=1, label=f"open after {stale:g} days: counted lost")
    ax.set_xlabel("days in stage")
    ax.set_ylabel("share still in the stage")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{readable(process)}: time in stage")
    legend_outside(ax)
    return ax


def _stale_days(funnel: Any) -> float | None:
    """The ``stale_after_days`` rule the funnel was estimated with, from its issues table (None without it)."""
    issues = getattr(funnel, "issues", None)
    if issues is None or "rule" not in getattr(issues, "columns", ()):
        return None
    rows = issues[issues["rule"] == "open longer than stale_after_days"]
    for action in rows.get("action", []):
        match = re.search(r"day ([0-9.]+)", str(action))
        if match:
            return float(match.group(1))
    return None


def cohort_heatmap(cohorts: Any, process: str, ax: Any = None) -> Any:
    """Cohort x stage heatmap of rates (a :class:`~salesplan.funnel.cohorts.CohortRates`).

    Immature cells are hatched.
    """
    ax = get_ax(ax, figsize=(7.0, 4.0))
    r = cohorts.rates[cohorts.rates["process"] == process]
    table = r.pivot_table(index="cohort", columns="stage", values="rate", aggfunc="first", sort=False)
    order = list(dict.fromkeys(r.sort_values("stage_idx" if "stage_idx" in r else "cohort")["stage"]))
    table = table.reindex(columns=order).sort_index()
    im = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    mature = r.pivot_table(index="cohort", columns="stage", values="mature", aggfunc="first").reindex(
        index=table.index, columns=order)
    for (i, j), ok in np.ndenumerate(mature.fillna(False).to_numpy(dtype=bool)):
        if not ok:
            ax.text(j, i, "·", ha="center", va="center", color="white")
    ax.set_xticks(range(len(order)), [readable(o) for o in order], rotation=30, ha="right")
    ax.set_yticks(range(len(table)), [pd.Timestamp(c).strftime("%Y-%m") for c in table.index])
    ax.set_xlabel("stage")
    ax.set_ylabel("cohort (first entry)")
    ax.set_title(f"{readable(process)}: conversion by cohort (dot = immature)")
    ax.figure.colorbar(im, ax=ax, label="rate")
    return ax
