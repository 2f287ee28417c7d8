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

From the cut (``as_of=``)
    Nothing is placed before the cut. The part of each row's profile on days before ``as_of`` (work that, given
    the lead times, should already have happened) becomes a *catch-up* row (``catch_up`` True) in the bucket of
    the cut, with ``shortfall_contracts``: the share of the row's target contracts that depends on that work
    (``contracts * share before the cut``; a shortfall if it is not caught up). Catch-up rows plus scheduled rows
    add up to the unconstrained plan, row by row. Whether catch-up work can still land in time is answered by
    :meth:`salesplan.plan.Plan.reachability`.

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

from salesplan._columns import taken
from salesplan.errors import PlanInputError, SalesplanError
from salesplan.plan._inputs import ALL, FunnelView
from salesplan.plan.activities import match_ratios

__all__ = ["lead_time_pmf", "time_phase", "SCHEDULE_COLUMNS", "CATCH_UP_COLUMNS"]

logger = logging.getLogger(__name__)

SCHEDULE_COLUMNS = ["process", "segment", "target_period", "stage", "item", "period", "start", "expected",
                    "required"]
#: Extra columns of a schedule from the cut (``as_of=``).
CATCH_UP_COLUMNS = ["catch_up", "shortfall_contracts"]
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
    stored = view.lead_times or {}
    if durations is None and (process, segment or ALL, stage) in stored:
        return np.asarray(stored[(process, segment or ALL, stage)], dtype=float)
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


def _bucket_starts(days: np.ndarray, freq: str) -> np.ndarray:
    """First day (datetime64[D]) of the calendar bucket of each day (weeks start on Monday)."""
    if freq == "D":
        return days
    if freq == "W":
        return days - ((days.astype(np.int64) + 3) % 7).astype("timedelta64[D]")  # 1970-01-01 was a Thursday
    months = days.astype("datetime64[M]")
    if freq == "Q":
        m = months.astype(np.int64)
        months = (m - m % 3).astype("datetime64[M]")
    return months.astype("datetime64[D]")


def time_phase(volumes: pd.DataFrame, ratios: pd.DataFrame, view: FunnelView, freq: str = "W", *,
               durations: Mapping[str, Any] | None = None, as_of: Any = None) -> pd.DataFrame:
    """Entries and activities per calendar bucket (``freq`` ``"W"`` weeks starting Monday, ``"M"``, ``"Q"``).

    Returns a long table with the columns of ``SCHEDULE_COLUMNS``: ``item`` is ``"entries"`` or an activity kind.
    With ``as_of`` the table starts at the cut and has the ``CATCH_UP_COLUMNS`` (see the module docstring).
    The profile of each distinct (lead-time distribution, target period) is computed once, with numpy.
    """
    cut = None if as_of is None else pd.Timestamp(as_of).normalize()
    if freq not in FREQS:
        raise PlanInputError(f"freq must be one of {sorted(FREQS)}, got {freq!r}")
    cut_day = None if cut is None else np.datetime64(cut.date(), "D")
    pmfs: dict[tuple[str, str, Any], np.ndarray] = {}
    profiles: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]] = {}
    pmf_ids: dict[bytes, int] = {}
    pid_of: dict[tuple[str, str, Any], int] = {}
    label_cache: dict[np.datetime64, str] = {}

    def label(day: np.datetime64) -> str:
        if day not in label_cache:
            ts = pd.Timestamp(day)
            if freq == "W":
                iso = ts.isocalendar()
                label_cache[day] = f"{iso[0]}-W{iso[1]:02d}"
            else:
                label_cache[day] = str(pd.Period(ts, freq=FREQS[freq]))
        return label_cache[day]

    # only the columns the match reads (the rows' other figures are not carried through the join)
    keys = [c for c in ("process", "segment", "period", "stage") if c in volumes.columns]
    matched = match_ratios(volumes[keys].assign(_row=np.arange(len(volumes))), ratios)
    # the activity items of each row, in the row's order: (row, kind, per entry)
    m_row = matched["_row"].to_numpy(np.int64)
    m_order = np.argsort(m_row, kind="stable")
    m_row = m_row[m_order]
    m_kind = matched["kind"].to_numpy(object)[m_order]
    m_mult = matched["per_entry"].to_numpy(float)[m_order]
    n_rows = len(volumes)
    row_pid = np.empty(n_rows, dtype=np.int64)  # the profile of each row
    profile_keys: list[tuple[int, str]] = []
    profile_no: dict[tuple[int, str], int] = {}
    processes, stages, segments = (volumes[c].to_numpy(object) for c in ("process", "stage", "segment"))
    periods = volumes["period"].to_numpy(object)
    for i in range(n_rows):
        pkey = (processes[i], stages[i], segments[i])
        if pkey not in pmfs:  # equal pmfs share one id (numbered in order of first appearance)
            pmfs[pkey] = lead_time_pmf(view, processes[i], stages[i], durations=durations, segment=segments[i])
            pid_of[pkey] = pmf_ids.setdefault(pmfs[pkey].tobytes(), len(pmf_ids))
        pmf, pid = pmfs[pkey], pid_of[pkey]
        if (pid, periods[i]) not in profiles:
            per = _period(periods[i], i)
            first_day = np.datetime64(per.start_time.date(), "D")
            n_days = int((np.datetime64(per.end_time.date(), "D") - first_day) // np.timedelta64(1, "D")) + 1
            landing = np.full(n_days, 1.0 / n_days)
            profile = np.convolve(landing, pmf[::-1])  # index j <-> day start + j - (len(pmf) - 1)
            dates = first_day - np.timedelta64(len(pmf) - 1, "D") + np.arange(len(profile)).astype("timedelta64[D]")
            before = 0.0
            if cut_day is not None:
                early = dates < cut_day
                before = float(profile[early].sum())
                profile = np.where(early, 0.0, profile)
            starts, inverse = np.unique(_bucket_starts(dates, freq), return_inverse=True)
            share = np.bincount(inverse, weights=profile, minlength=len(starts))
            keep = share > 1e-12
            starts, share = starts[keep], share[keep]
            flags = np.zeros(len(share), dtype=bool)
            if cut_day is not None and before > 1e-12:
                starts = np.append(starts, _bucket_starts(np.array([cut_day]), freq))
                share = np.append(share, before)
                flags = np.append(flags, True)
            profiles[(pid, periods[i])] = (starts, share, flags, [label(d) for d in starts])
            profile_keys.append((pid, periods[i]))  # numbered in this order by profile_no
        row_pid[i] = profile_no.setdefault((pid, periods[i]), len(profile_no))
    columns = SCHEDULE_COLUMNS + (CATCH_UP_COLUMNS if cut is not None else [])
    if n_rows == 0:
        return pd.DataFrame(columns=columns)
    # every row's items (entries first, then its activities) times its profile's buckets, in that order
    n_items = 1 + np.bincount(m_row, minlength=n_rows)
    seg_row = np.repeat(np.arange(n_rows), n_items)
    seg_first = np.concatenate([[0], np.cumsum(n_items)[:-1]])
    is_entries = np.zeros(len(seg_row), dtype=bool)
    is_entries[seg_first] = True
    seg_item = np.empty(len(seg_row), dtype=object)
    seg_item[is_entries] = "entries"
    seg_item[~is_entries] = m_kind
    seg_mult = np.ones(len(seg_row))
    seg_mult[~is_entries] = m_mult
    all_starts = [profiles[k][0] for k in profile_keys]
    lengths = np.array([len(x) for x in all_starts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    seg_len = lengths[row_pid[seg_row]]
    seg = np.repeat(np.arange(len(seg_row)), seg_len)
    at = offsets[row_pid[seg_row]][seg] + np.arange(len(seg)) - np.repeat(np.cumsum(seg_len) - seg_len, seg_len)
    share_all = np.concatenate([profiles[k][1] for k in profile_keys])[at]
    flags_all = np.concatenate([profiles[k][2] for k in profile_keys])[at]
    labels_all = np.asarray([x for k in profile_keys for x in profiles[k][3]], dtype=object)[at]
    row = seg_row[seg]
    mult = seg_mult[seg]
    out: dict[str, Any] = {"process": taken(volumes["process"], row), "segment": taken(volumes["segment"], row),
                           "target_period": taken(volumes["period"], row), "stage": taken(volumes["stage"], row),
                           "item": seg_item[seg], "period": labels_all,
                           "start": pd.DatetimeIndex(np.concatenate(all_starts)[at].astype("datetime64[ns]")),
                           "expected": share_all * volumes["expected_entries"].to_numpy(float)[row] * mult,
                           "required": share_all * volumes["required_entries"].to_numpy(float)[row] * mult,
                           "catch_up": flags_all,
                           "shortfall_contracts": np.where(flags_all,
                                                           share_all * volumes["contracts"].to_numpy(float)[row],
                                                           0.0)}
    return pd.DataFrame({c: out[c] for c in columns}, columns=columns)
