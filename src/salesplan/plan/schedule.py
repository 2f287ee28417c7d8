"""Time-phasing: when entries and activities must happen so that contracts land in their target period.

Method
    Contracts of a target period are assumed to land evenly over its days. An entry into stage ``k`` that is won
    closes after a lead time ``L_k`` (days from entering the stage to the win). The entries needed on day ``t``
    are therefore the landing profile convolved backward with the distribution of ``L_k``:
    ``entries(t) = sum_l landing(t + l) * P(L_k = l)``. Activities of a stage are placed on the day of the
    stage entry. The lead-time distribution comes, in order of preference, from

    1. ``durations=`` (days to advance per stage; the lead time is their sum from the stage on, deterministic);
    2. the fitted funnel's ``time_to_win_cdf(process, stage, days)``, normalised by its value at the horizon
       (the distribution of the time to a win among won deals);
    3. the fitted funnel's ``durations`` (sum of the median days to advance);
    4. no lead time (logged at WARNING).

    Volumes are fractional flows per bucket; the required (target-probability) entries share the profile of the expected
    ones.

Examples
--------
>>> import salesplan as sp
>>> from salesplan.plan import backward
>>> plan = backward(pd.DataFrame({"process": ["p"], "period": ["2025-03"], "contracts": [10]}),
...                 {"p": {"lead": 0.5, "offer": 0.5}}, durations={"p": {"lead": 30, "offer": 14}})
>>> s = plan.schedule("M")
>>> s[(s["item"] == "entries") & (s["stage"] == "lead")][["period", "expected"]].round(1).to_dict("records")
[{'period': '2025-01', 'expected': 20.6}, {'period': '2025-02', 'expected': 19.4}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import PlanInputError, SalesplanError
from salesplan.plan._inputs import ALL, FunnelView
from salesplan.plan.activities import match_ratios

__all__ = ["lead_time_pmf", "time_phase", "SCHEDULE_COLUMNS"]

logger = logging.getLogger(__name__)

SCHEDULE_COLUMNS = ["process", "segment", "target_period", "stage", "item", "period", "start", "expected",
                    "required"]
FREQS = {"W": "W-SUN", "M": "M", "D": "D", "Q": "Q"}  # W-SUN: weeks Monday to Sunday


def _durations_for(durations: Mapping[str, Any], process: str) -> Mapping[str, float] | None:
    if not durations:
        return None
    values = list(durations.values())
    if all(isinstance(v, Mapping) for v in values):
        return durations.get(process)
    return durations


def lead_time_pmf(view: FunnelView, process: str, stage: str, *, durations: Mapping[str, Any] | None = None,
                  segment: str | None = None, max_days: int = 730) -> np.ndarray:
    """Distribution of the days from entering ``stage`` to a win, as a pmf over 0..len-1 days.

    Examples
    --------
    >>> from salesplan.plan._inputs import funnel_view
    >>> v = funnel_view({"a": 0.5, "b": 0.5}, process="p")
    >>> int(np.argmax(lead_time_pmf(v, "p", "a", durations={"a": 10, "b": 5})))
    15
    """
    proc = view.processes[process]
    after = proc.stages[proc.index(stage):]
    given = _durations_for(durations or {}, process)
    if given is not None:
        missing = [s for s in after if s not in given]
        if missing:
            raise PlanInputError(f"durations: process {process!r} has no days for stage(s) {missing}")
        days = [float(given[s]) for s in after]
        if any(not d >= 0 for d in days):
            raise PlanInputError(f"durations: days for process {process!r} must be >= 0, got {days}")
        pmf = np.zeros(int(round(sum(days))) + 1)
        pmf[-1] = 1.0
        return pmf
    source = view.source
    if source is not None and hasattr(source, "time_to_win_cdf"):
        grid = np.arange(max_days + 1, dtype=float)
        cdf = None
        if view.segmented and segment not in (None, ALL):
            try:
                cdf = np.asarray(source.time_to_win_cdf(process, stage, grid, group=segment), dtype=float)
            except (TypeError, SalesplanError):
                cdf = None
        if cdf is None:
            cdf = np.asarray(source.time_to_win_cdf(process, stage, grid), dtype=float)
        if cdf.shape == grid.shape and np.isfinite(cdf).all() and cdf[-1] > 0:
            cdf = np.maximum.accumulate(np.clip(cdf, 0, None)) / cdf[-1]
            return np.diff(cdf, prepend=0.0)
        logger.warning("time_to_win_cdf(%r, %r) is unusable (empty or NaN); trying stage durations", process, stage)
    table = getattr(source, "durations", None) if source is not None else None
    if isinstance(table, pd.DataFrame) and not table.empty:
        adv = table[(table["process"] == process) & (table["outcome"] == "advance") & table["stage"].isin(after)]
        med = adv.groupby("stage")["median_days"].median()
        if set(after) <= set(med.dropna().index):
            pmf = np.zeros(int(round(float(med[list(after)].sum()))) + 1)
            pmf[-1] = 1.0
            return pmf
    logger.warning("no stage durations for process %r stage %r: entries are scheduled in the target period "
                   "itself (give durations= or a fitted Funnel)", process, stage)
    return np.ones(1)


def _period(label: str, row: int) -> pd.Period:
    text = str(label)
    for freq in ("Q", "M", "Y"):
        try:
            if freq == "Q" and "Q" not in text.upper():
                continue
            if freq == "Y" and not (len(text) == 4 and text.isdigit()):
                continue
            return pd.Period(text, freq=freq)
        except (ValueError, TypeError):
            continue
    raise PlanInputError(f"targets row {row}: period {label!r} is not a month, quarter or year, so it cannot be "
                         "time-phased (pass period= to backward for a single-number target)")


def _labels(index: pd.PeriodIndex, freq: str) -> list[str]:
    """Bucket labels: ISO weeks (``2025-W03``) for weekly buckets, else the period's own text."""
    if freq != "W":
        return [str(p) for p in index]
    return [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in index.start_time]


def time_phase(volumes: pd.DataFrame, ratios: pd.DataFrame, view: FunnelView, freq: str = "W", *,
               durations: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Entries and activities per calendar bucket (``freq`` ``"W"`` weeks starting Monday, ``"M"``, ``"Q"``).

    Returns a long table with the columns of ``SCHEDULE_COLUMNS``: ``item`` is ``"entries"`` or an activity kind.
    """
    if freq not in FREQS:
        raise PlanInputError(f"freq must be one of {sorted(FREQS)}, got {freq!r}")
    pmfs: dict[tuple[str, str, Any], np.ndarray] = {}
    frames = []
    matched = match_ratios(volumes.assign(_row=np.arange(len(volumes))), ratios)
    ratio_map = {int(k): g[["kind", "per_entry"]].to_numpy() for k, g in matched.groupby("_row")}
    for i, row in enumerate(volumes.itertuples(index=False)):
        pkey = (row.process, row.stage, row.segment)
        if pkey not in pmfs:
            pmfs[pkey] = lead_time_pmf(view, row.process, row.stage, durations=durations, segment=row.segment)
        pmf = pmfs[pkey]
        per = _period(row.period, i)
        days = pd.date_range(per.start_time.normalize(), per.end_time.normalize(), freq="D")
        landing = np.full(len(days), 1.0 / len(days))
        profile = np.convolve(landing, pmf[::-1])  # index j <-> day start + j - (len(pmf) - 1)
        first = days[0] - pd.Timedelta(days=len(pmf) - 1)
        dates = pd.date_range(first, periods=len(profile), freq="D")
        buckets = dates.to_period(FREQS[freq])
        share = pd.Series(profile, index=buckets).groupby(level=0).sum()
        share = share[share > 1e-12]
        labels = _labels(share.index, freq)
        items = [("entries", 1.0)] + [(k, float(v)) for k, v in ratio_map.get(i, [])]
        for item, mult in items:
            frames.append(pd.DataFrame({
                "process": row.process, "segment": row.segment, "target_period": row.period, "stage": row.stage,
                "item": item, "period": labels, "start": share.index.start_time,
                "expected": share.to_numpy() * row.expected_entries * mult,
                "required": share.to_numpy() * row.required_entries * mult,
            }))
    if not frames:
        return pd.DataFrame(columns=SCHEDULE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SCHEDULE_COLUMNS]
