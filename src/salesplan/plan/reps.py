"""The plan per rep and week: whole numbers of new entries, calls, visits and offers, and each rep's utilisation.

Method
    1. The plan's schedule from the cut (:meth:`salesplan.plan.Plan.schedule` with ``as_of``; catch-up work in
       the first bucket) is summed per process, segment, item (entries per stage, activities per kind) and
       bucket, at the ``required`` volumes (sized to the target probability) or the ``expected`` ones.
    2. Whole numbers per bucket: the cumulative total is rounded up, ``n_t = ceil(C_t) - ceil(C_{t-1})``, so the
       buckets add up to the process total rounded up, never more (rounding each bucket up would inflate the
       total by up to one per bucket).
    3. Each bucket's whole number is split to the reps who work the process (and segment, when the rep has one)
       by weights: their available hours in that bucket (``split="capacity"``; ramp and absences lower a rep's
       share), or a column of the team table such as ``pipeline_share`` (times 1 when the rep is available at
       all in the bucket, else 0). The split uses the largest-remainder (Hamilton) method, so the reps' whole
       numbers add up exactly to the bucket's; equal remainders go to the reps in turn, bucket by bucket.
    4. Utilisation per rep and bucket: the hours of the allocated activities (hours per activity kind) over the
       rep's available hours; ``over_capacity`` marks the rows above 100%.

Within capacity (``within_capacity=True``, the default)
    Before step 2, each process's work is moved so that no bucket needs more hours than its reps have: a bucket's
    work (its entries with their activities, in its own mix) beyond the hours available moves first to the latest
    earlier buckets with spare hours (never before the cut), then on to the next buckets (late work, typically the
    catch-up that the schedule puts in the cut's bucket). What the last bucket cannot hold stays there and is
    reported as ``over_hours`` in :attr:`RepPlan.load` (logged at WARNING): the plan does not fit the team's hours,
    and :meth:`salesplan.plan.Plan.headcount` says whom to hire. Work moved later lands later: whether catch-up work
    still lands in its target period is :meth:`salesplan.plan.Plan.reachability`'s question. After the split,
    a rep whom rounding up left above their hours in a bucket hands whole activity units (those with the most
    hours first) on to their own next bucket. Only the last bucket can stay above 100%;
    :attr:`RepPlan.over_capacity` lists such rep-buckets.

Work in a bucket where no rep of the process is available (a cut on a Sunday, a week everybody is on leave) moves
to the next bucket of the same item that has one; what is left at the end goes to owner ``"(unassigned)"`` (logged
at WARNING), never dropped.

Reference
    Balinski & Young (2001), *Fair Representation*, 2nd ed., ch. 2 (largest-remainder apportionment).

Examples
--------
>>> largest_remainder(np.array([7]), np.array([[1.0, 1.0, 1.0]])).tolist()
[[3, 2, 2]]
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesplan._columns import is_str
from salesplan.errors import PlanInputError
from salesplan.plan._inputs import ALL
from salesplan.plan.capacity import hours_table
from salesplan.plan.team import rep_hours

__all__ = ["RepPlan", "largest_remainder", "whole_per_bucket", "allocate_to_reps", "UNASSIGNED"]

logger = logging.getLogger(__name__)

UNASSIGNED = "(unassigned)"
#: Hours per activity when none are given.
DEFAULT_HOURS = {"calls": 0.25, "visits": 2.0, "offers": 3.0}


def largest_remainder(totals: np.ndarray, weights: np.ndarray, rotate: np.ndarray | None = None) -> np.ndarray:
    """Split whole ``totals`` (cells) over columns in proportion to ``weights`` (cells x reps), exactly.

    Each rep gets the floor of its quota ``total * w / sum(w)``; the units left go to the largest remainders.
    Ties go to the first rep, or, with ``rotate`` (one integer per cell, e.g. the bucket's number), to the rep
    ``rotate mod reps`` and those after it, so equal reps take turns over the weeks. Rows with zero total weight
    get nothing (the caller reassigns them).

    Examples
    --------
    >>> largest_remainder(np.array([10, 1]), np.array([[2.0, 1.0], [1.0, 1.0]])).tolist()
    [[7, 3], [1, 0]]
    """
    totals = np.asarray(totals, dtype=np.int64)
    w = np.asarray(weights, dtype=float)
    s = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        quota = np.where(s > 0, totals[:, None] * w / np.where(s > 0, s, 1.0), 0.0)
    base = np.floor(quota + 1e-9).astype(np.int64)
    left = np.where(s[:, 0] > 0, totals - base.sum(axis=1), 0)
    frac = quota - base
    if rotate is not None:
        n_reps = w.shape[1]
        turn = (np.arange(n_reps)[None, :] - np.asarray(rotate, dtype=np.int64)[:, None]) % max(n_reps, 1)
        frac = np.round(frac, 9) - turn * 1e-12  # equal remainders: the rep whose turn it is first
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(w.shape[1])[None, :].repeat(w.shape[0], axis=0), axis=1)
    return base + (rank < left[:, None]).astype(np.int64)


def whole_per_bucket(values: np.ndarray) -> np.ndarray:
    """Whole numbers per bucket whose running total is the running total rounded up (so the sum is ``ceil``).

    Examples
    --------
    >>> whole_per_bucket(np.array([0.4, 0.4, 0.4])).tolist()
    [1, 0, 1]
    """
    cum = np.ceil(np.cumsum(np.asarray(values, dtype=float)) - 1e-9)
    cum = np.maximum(cum, 0)
    return np.diff(cum, prepend=0.0).astype(np.int64)


def _item_table(schedule: pd.DataFrame, basis: str) -> pd.DataFrame:
    sched = schedule.copy()
    is_entry = sched["item"] == "entries"
    if is_str(sched["item"].dtype) and is_str(sched["stage"].dtype):  # the same, in the string columns
        sched["item"] = sched["item"].where(~is_entry, sched["stage"] + " entries")
        sched["kind"] = sched["item"].where(~is_entry, "entries")
    else:
        sched["item"] = np.where(is_entry, sched["stage"].astype(str) + " entries", sched["item"].astype(str))
        sched["kind"] = np.where(is_entry, "entries", sched["item"])
    keys = ["process", "segment", "item", "kind", "period", "start"]
    out = sched.groupby(keys, sort=False, as_index=False)[basis].sum()
    return out.sort_values(["process", "segment", "item", "start"], kind="stable").reset_index(drop=True)


def allocate_to_reps(schedule: pd.DataFrame, team: pd.DataFrame, *, basis: str = "required",
                     split: str = "capacity", freq: str = "W", hours: Any = None, as_of: Any = None,
                     first_stages: Mapping[str, str] | None = None, within_capacity: bool = True) -> RepPlan:
    """Split a schedule to reps as whole numbers (see the module docstring).

    Parameters
    ----------
    schedule : DataFrame
        :meth:`Plan.schedule` output (from the cut), at ``freq``.
    team : DataFrame
        :func:`salesplan.plan.read_team` / :func:`salesplan.plan.team_from_data` output.
    basis : {"required", "expected"}
        Volumes at the target probability or in expectation.
    split : str
        ``"capacity"`` or the name of a numeric column of ``team`` (e.g. ``"pipeline_share"``).
    freq : {"W", "M"}
    hours : mapping or DataFrame, optional
        Hours per activity kind for utilisation (default: calls 0.25, visits 2, offers 3).
    as_of : date-like, optional
        The cut: hours before it are not available (the first bucket is partial).
    first_stages : mapping, optional
        ``{process: first stage}``: the entries :meth:`RepPlan.wide` shows as ``new entries``.
    within_capacity : bool
        Move work out of buckets whose hours exceed the process's available hours (step 3 of the module
        docstring); False keeps the schedule's timing and only flags the buckets over capacity.

    Returns
    -------
    RepPlan
    """
    if basis not in ("required", "expected"):
        raise PlanInputError(f"basis must be 'required' or 'expected', got {basis!r}")
    if split != "capacity" and split not in team.columns:
        raise PlanInputError(f"split must be 'capacity' or a column of the team table; team has {list(team.columns)}")
    items = _item_table(schedule, basis)
    if items.empty:
        raise PlanInputError("per_rep: the schedule is empty (no target from the cut on)")
    start = items["start"].min() if as_of is None else max(items["start"].min(), pd.Timestamp(as_of).normalize())
    last = pd.Period(items["start"].max(), "W-SUN" if freq == "W" else "M")
    end = last.end_time.normalize()
    avail = rep_hours(team, start, end, freq=freq)
    avail_w = avail.pivot(index="period", columns="owner", values="available_hours").reindex(
        columns=team["owner"].tolist()).fillna(0.0)
    owners = team["owner"].tolist()
    items = _full_grid(items, avail, basis)
    proc_codes, proc_names = pd.factorize(items["process"])
    seg_codes, seg_names = pd.factorize(items["segment"])
    serves_proc = np.array([[p in procs for procs in team["processes"]] for p in proc_names], dtype=bool)
    seg = team["segment"].to_numpy(object)
    seg_ok_of = np.array([[s is None or s == g or g == ALL for s in seg] for g in seg_names], dtype=bool)
    # each item's bucket in the hours table; a bucket the table lacks reads the zero row at the end
    avail_arr = np.vstack([np.nan_to_num(avail_w.to_numpy(float)), np.zeros((1, len(owners)))])
    bucket_of = avail_w.index.get_indexer(items["period"])
    if split != "capacity":
        share = pd.to_numeric(team[split], errors="coerce").to_numpy(float)
        if np.isnan(share).any() or (share < 0).any():
            i = int(np.flatnonzero(np.isnan(share) | (share < 0))[0])
            raise PlanInputError(f"team row {i} (owner={owners[i]!r}): split column {split!r} must be >= 0")
        per_proc = team.attrs.get(split) if isinstance(team.attrs.get(split), Mapping) else None
    # the weights of the reps who work each process (only they take part in its split): rows x its reps
    rows_of = [np.flatnonzero(proc_codes == code) for code in range(len(proc_names))]
    cols_of = [np.flatnonzero(serves_proc[code]) for code in range(len(proc_names))]
    weights: list[np.ndarray] = []
    idle = np.ones(len(items), dtype=bool)  # no rep of the process available in the bucket
    for code, (rows_p, cols_p) in enumerate(zip(rows_of, cols_of, strict=True)):
        hours_p = avail_arr[bucket_of[rows_p]][:, cols_p]
        if split == "capacity":
            w_p = hours_p
        else:
            base = np.array([per_proc.get((proc_names[code], owners[c]), 0.0) for c in cols_p]) if per_proc \
                else share[cols_p]
            w_p = base[None, :] * (hours_p > 0)
        w_p = np.where(seg_ok_of[seg_codes[rows_p]][:, cols_p], np.nan_to_num(w_p), 0.0)
        weights.append(w_p)
        idle[rows_p] = w_p.sum(axis=1) <= 0
    # work in a bucket where no rep of the process is available moves to the next bucket that has one
    values = items[basis].to_numpy(float).copy()
    # whole numbers per bucket, per (process, segment, item) over time
    whole = np.zeros(len(items), dtype=np.int64)
    carry = idle & (values > 0)
    for _, idx in items.groupby(["process", "segment", "item"], sort=False).indices.items():
        if carry[idx[:-1]].any():
            for a, b in zip(idx[:-1], idx[1:], strict=True):
                if idle[a] and values[a] > 0:
                    values[b] += values[a]
                    values[a] = 0.0
    bucket_no = pd.factorize(items["start"], sort=True)[0]
    htab = hours_table(hours if hours is not None else DEFAULT_HOURS)
    per_unit = _hours_per_unit(htab, items)
    n_serving = np.array([len(procs) for procs in team["processes"]], dtype=float)
    bucket_row = np.full(int(bucket_no.max()) + 1 if len(bucket_no) else 0, -1, dtype=np.int64)
    bucket_row[bucket_no] = bucket_of
    levelled = [_level(values, rows_p, bucket_no, per_unit,
                       (avail_arr[bucket_row][:, cols_p] / np.maximum(n_serving[cols_p], 1.0)).sum(axis=1),
                       move=within_capacity)
                for rows_p, cols_p in zip(rows_of, cols_of, strict=True)]
    for rows_p, (new_values, _) in zip(rows_of, levelled, strict=True):
        values[rows_p] = new_values
    for _, idx in items.groupby(["process", "segment", "item"], sort=False).indices.items():
        whole[idx] = whole_per_bucket(values[idx])
    load = pd.concat([frame.assign(process=proc_names[code]) for code, (_, frame) in enumerate(levelled)],
                     ignore_index=True)
    nz_r, nz_c, nz_n = [], [], []
    n_b = len(bucket_row)
    for rows_p, cols_p, w_p in zip(rows_of, cols_of, weights, strict=True):
        if len(cols_p):
            alloc_p = largest_remainder(whole[rows_p], w_p, rotate=bucket_no[rows_p])
            if within_capacity and len(rows_p) and n_b > 1:
                hours_p = avail_arr[bucket_row][:, cols_p] / np.maximum(n_serving[cols_p], 1.0)
                alloc_p = _carry_rounding(alloc_p.reshape(-1, n_b, len(cols_p)), per_unit[rows_p][::n_b],
                                          hours_p).reshape(len(rows_p), len(cols_p))
                whole[rows_p] = np.where(idle[rows_p], whole[rows_p], 0) + alloc_p.sum(axis=1)
            r, c = np.nonzero(alloc_p)
            nz_r.append(rows_p[r])
            nz_c.append(cols_p[c])
            nz_n.append(alloc_p[r, c])
    nobody = idle
    at = np.argsort(np.concatenate(nz_r), kind="stable") if nz_r else np.zeros(0, dtype=np.int64)
    nz_r_all = np.concatenate(nz_r)[at] if nz_r else at
    nz_c_all = np.concatenate(nz_c)[at] if nz_c else at
    nz_n_all = np.concatenate(nz_n)[at] if nz_n else np.zeros(0, dtype=np.int64)
    base_cols = items[["process", "segment", "item", "kind", "period", "start"]]
    at_rows, at_owners = [nz_r_all], [nz_c_all]  # each table row's item row and owner (len(owners): unassigned)
    lost_rows = np.flatnonzero(nobody & (whole > 0))
    if len(lost_rows):
        lost = items.iloc[lost_rows]
        logger.warning("per_rep: %d process-item-bucket cell(s) have no available rep; they are listed under %r "
                       "(first: %s %s %s)", len(lost), UNASSIGNED, lost["process"].iloc[0], lost["item"].iloc[0],
                       lost["period"].iloc[0])
        at_rows.append(lost_rows)
        at_owners.append(np.full(len(lost_rows), len(owners)))
    # sorted by start, owner, process and item (stable): one lexsort of sorted codes, each taken from the item rows
    # or the owners (a superset of the table's values, so the order is that of the table's own sorted codes)
    item_row, owner_no = np.concatenate(at_rows), np.concatenate(at_owners)
    keys = [pd.factorize(items[c], sort=True, use_na_sentinel=False)[0][item_row] for c in ("item", "process")]
    keys.append(pd.factorize(np.asarray([*owners, UNASSIGNED], dtype=object), sort=True,
                             use_na_sentinel=False)[0][owner_no])
    keys.append(pd.factorize(items["start"], sort=True, use_na_sentinel=False)[0][item_row])
    order = np.lexsort(keys)
    names = pd.Series(np.asarray(owners, dtype=object))
    if len(nz_r_all) and not len(lost_rows) and is_str(names.dtype):
        # the rows taken once, in their final order; the owners from their own (string) column
        table = base_cols.iloc[item_row[order]].reset_index(drop=True)
        table.insert(0, "owner", names.array.take(owner_no[order]))
        table["count"] = nz_n_all[order]
    else:  # the rows of reps and the unassigned ones, then sorted
        part = base_cols.iloc[nz_r_all].reset_index(drop=True)
        part.insert(0, "owner", np.asarray(owners, dtype=object)[nz_c_all])
        part["count"] = nz_n_all
        rows = [part]
        if len(lost_rows):
            un = base_cols.iloc[lost_rows].reset_index(drop=True)
            un.insert(0, "owner", UNASSIGNED)
            un["count"] = whole[lost_rows]
            rows.append(un)
        table = pd.concat(rows, ignore_index=True)
        table = table.iloc[order].reset_index(drop=True) if len(table) else table.reset_index(drop=True)
    table["count"] = table["count"].astype(np.int64)
    totals = items.assign(carried=values, whole=whole)
    util = _utilisation(table, avail, hours)
    firsts = {f"{stage} entries" for stage in (first_stages or {}).values()}
    starts = np.sort(items["start"].unique())
    load.insert(1, "start", pd.DatetimeIndex(starts[load["bucket"].to_numpy()]) if len(load) else pd.DatetimeIndex([]))
    load = load.drop(columns="bucket")[["process", "start", "planned_hours", "hours", "available_hours",
                                         "moved_earlier_hours", "moved_later_hours"]]
    load["over_hours"] = np.maximum(load["hours"] - load["available_hours"], 0.0)
    over = load[load["over_hours"] > 1e-9]
    if len(over):
        logger.warning("per_rep: %d process-week(s) need more hours than the reps have even after moving work (first:"
                       " %s from %s, %.1f hours over)", len(over), over["process"].iloc[0],
                       pd.Timestamp(over["start"].iloc[0]).date(), over["over_hours"].iloc[0])
    return RepPlan(table=table, utilisation=util, totals=totals, basis=basis, split=split, freq=freq,
                   first_items=sorted(firsts), load=load)


def _carry_rounding(alloc: np.ndarray, unit: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Whole units moved to the same rep's next bucket where rounding up left the rep above their hours.

    ``alloc`` is (item, bucket, rep) whole numbers, ``unit`` the hours of one unit of each item, ``hours`` the
    reps' hours per bucket (bucket, rep). Bucket by bucket, a rep above their hours hands units of the activity
    with the most hours a unit, then the next, on to their next bucket until within them; entries (no hours) stay.
    The last bucket keeps what it gets.
    """
    out = alloc.copy()
    order = [k for k in np.argsort(-unit, kind="stable") if unit[k] > 0]
    for b in range(out.shape[1] - 1):
        over = unit @ out[:, b, :] - hours[b]
        for k in order:
            short = over > 1e-9
            if not short.any():
                break
            move = np.where(short, np.minimum(out[k, b, :], np.ceil(over / unit[k] - 1e-9)), 0).astype(out.dtype)
            out[k, b, :] -= move
            out[k, b + 1, :] += move
            over -= move * unit[k]
    return out


def _hours_per_unit(htab: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """Hours one unit of each item row takes (entries none; an activity its process's or the general figure).

    Looked up once per distinct (process, kind) and read back by their codes.
    """
    specific = htab[htab["process"] != "*"].set_index(["process", "kind"])["hours"].to_dict()
    general = htab[htab["process"] == "*"].set_index("kind")["hours"].to_dict()
    p_codes, p_names = pd.factorize(items["process"])
    k_codes, k_names = pd.factorize(items["kind"])
    table = np.array([[0.0 if k == "entries" else specific.get((p, k), general.get(k, 0.0)) for k in k_names]
                      for p in p_names], dtype=float).reshape(len(p_names), len(k_names))
    return table[p_codes, k_codes]


def _full_grid(items: pd.DataFrame, avail: pd.DataFrame, basis: str) -> pd.DataFrame:
    """Every (process, segment, item) in every bucket from the first to the last, zero where nothing is planned.

    Sorted by process, segment, item and start, so that work can move to any bucket. The grid is laid out with
    integer codes: the keys in order of first appearance times the buckets in order of start (an item row lands
    in the bucket of its own period and start), then sorted.
    """
    key_cols = ["process", "segment", "item", "kind"]
    have = items[["period", "start"]].drop_duplicates("period")
    more = avail.loc[~avail["period"].isin(have["period"]), ["period", "start"]].drop_duplicates("period")
    buckets = pd.concat([have, more], ignore_index=True).sort_values("start", kind="stable").reset_index(drop=True)
    codes = [pd.factorize(items[c], use_na_sentinel=False)[0] for c in key_cols]
    combined = np.zeros(len(items), dtype=np.int64)
    for c in codes:
        combined = combined * (int(c.max()) + 1 if len(c) else 1) + c
    key_no, _ = pd.factorize(combined)  # numbered in order of first appearance (as drop_duplicates keeps them)
    first = np.unique(key_no, return_index=True)[1]
    n_k, n_b = len(first), len(buckets)
    b_no = pd.Index(buckets["period"]).get_indexer(items["period"])
    hit = b_no >= 0
    hit[hit] = buckets["start"].to_numpy()[b_no[hit]] == items["start"].to_numpy()[hit]  # same period and start
    grid = np.zeros((n_k, n_b))
    grid[key_no[hit], b_no[hit]] = items[basis].to_numpy(float)[hit]
    full = items[key_cols].iloc[np.repeat(first, n_b)].reset_index(drop=True)
    cell = np.tile(np.arange(n_b), n_k)
    full["period"] = buckets["period"].array.take(cell)
    full["start"] = buckets["start"].to_numpy()[cell]
    full[basis] = grid.ravel()
    return full.sort_values(["process", "segment", "item", "start"], kind="stable").reset_index(drop=True)


def _level(values: np.ndarray, rows: np.ndarray, bucket_no: np.ndarray, per_unit: np.ndarray,
           capacity: np.ndarray, *, move: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """One process's work moved so that no bucket needs more hours than ``capacity`` (where it can be).

    ``rows`` are the process's item rows, every (segment, item) in every bucket in order (:func:`_full_grid`).
    Each bucket's work is a bundle (its entries with their activities, in the bucket's own mix): what a bucket
    needs beyond its hours moves first to the latest earlier buckets with spare hours (from the cut on; work done
    earlier than its lead time asks for still lands), then what is left moves on to the next buckets (late work,
    such as the catch-up), and what the last bucket cannot hold stays there, over capacity. Returns the new values
    of ``rows`` and a table per bucket: ``bucket, planned_hours, hours, available_hours, moved_earlier_hours,
    moved_later_hours``.
    """
    n_b = len(capacity)
    empty = pd.DataFrame({"bucket": np.arange(n_b), "planned_hours": 0.0, "hours": 0.0, "available_hours": capacity,
                          "moved_earlier_hours": 0.0, "moved_later_hours": 0.0})
    if len(rows) == 0 or n_b == 0:
        return values[rows].copy(), empty
    work = values[rows].reshape(-1, n_b)  # (segment, item) x bucket
    unit = per_unit[rows].reshape(-1, n_b)[:, 0]
    hours = unit @ work
    planned = hours.copy()
    frac = np.eye(n_b)  # frac[i, j]: the share of bucket i's planned bundle that ends in bucket j
    earlier = np.zeros(n_b)
    later = np.zeros(n_b)
    if move:
        for j in range(n_b - 1, 0, -1):  # pull earlier, into spare hours only
            i = j - 1
            while hours[j] - capacity[j] > 1e-9 and i >= 0:
                spare = capacity[i] - hours[i]
                if spare > 1e-9:
                    f = min(hours[j] - capacity[j], spare) / hours[j]
                    moved = f * hours[j]
                    frac[:, i] += f * frac[:, j]
                    frac[:, j] *= 1.0 - f
                    hours[i] += moved
                    hours[j] -= moved
                    earlier[j] += moved
                i -= 1
        for j in range(n_b - 1):  # then push what is left on to the next buckets
            excess = hours[j] - capacity[j]
            if excess > 1e-9:
                f = excess / hours[j]
                frac[:, j + 1] += f * frac[:, j]
                frac[:, j] *= 1.0 - f
                hours[j + 1] += excess
                hours[j] -= excess
                later[j] += excess
    table = empty.assign(planned_hours=planned, hours=hours, moved_earlier_hours=earlier, moved_later_hours=later)
    return (work @ frac).ravel() if move else work.ravel().copy(), table


def _utilisation(table: pd.DataFrame, avail: pd.DataFrame, hours: Any) -> pd.DataFrame:
    htab = hours_table(hours if hours is not None else DEFAULT_HOURS)
    acts = table[table["kind"] != "entries"]
    per = _hours_per_unit(htab, acts)
    need = acts.assign(required_hours=acts["count"].to_numpy() * per).groupby(
        ["owner", "period"], as_index=False)["required_hours"].sum()
    out = avail.merge(need, on=["owner", "period"], how="outer")
    out["required_hours"] = out["required_hours"].fillna(0.0)
    out["available_hours"] = out["available_hours"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["utilisation"] = np.where(out["available_hours"] > 0, out["required_hours"] / out["available_hours"],
                                      np.where(out["required_hours"] > 0, np.inf, 0.0))
    out["over_capacity"] = out["utilisation"] > 1.0 + 1e-9
    return out.sort_values(["start", "owner"], kind="stable").reset_index(drop=True)


@dataclass
class RepPlan:
    """Whole-number work per rep and bucket (:meth:`salesplan.plan.Plan.per_rep`).

    Attributes
    ----------
    table : DataFrame
        Tidy: ``owner, process, segment, item, kind, period, start, count`` (``item`` is ``"<stage> entries"``
        or an activity kind; ``kind`` is ``"entries"`` or the activity kind).
    utilisation : DataFrame
        ``owner, period, start, available_hours, full_hours, required_hours, utilisation``.
    totals : DataFrame
        Per process, segment, item and bucket: the plan's fractional volume and ``whole`` (its whole number).
    basis, split, freq : str
    first_items : list of str
        The items that are entries into a process's first stage (new opportunities: addresses selected).
    load : DataFrame
        Per process and bucket: ``planned_hours`` (the schedule's), ``hours`` (after moving work to fit),
        ``available_hours`` (the process's reps; a rep of several processes counts for each by an equal share),
        ``moved_earlier_hours``, ``moved_later_hours`` (out of the bucket) and ``over_hours`` (beyond the hours
        available even after moving).
    """

    table: pd.DataFrame
    utilisation: pd.DataFrame
    totals: pd.DataFrame
    basis: str
    split: str
    freq: str
    first_items: list[str] = field(default_factory=list)
    load: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def over_capacity(self) -> pd.DataFrame:
        """The (rep, bucket) rows of :attr:`utilisation` above 100%: more work than the rep's hours."""
        util = self.utilisation
        return util[util["utilisation"] > 1.0 + 1e-9].reset_index(drop=True)

    @property
    def fits(self) -> bool:
        """True when no process needs more hours than its reps have in any bucket (after moving work)."""
        return bool(self.load.empty or (self.load["over_hours"] <= 1e-9).all())

    def wide(self, *, stages: str = "first") -> pd.DataFrame:
        """One row per rep and bucket, one column per item (whole numbers), with hours and utilisation.

        ``stages="first"`` keeps, of the entries, those into each process's first stage (summed as
        ``new entries``); ``"all"`` keeps a column per stage.
        """
        if stages not in ("first", "all"):
            raise PlanInputError(f"stages must be 'first' or 'all', got {stages!r}")
        tab = self.table
        if stages == "first":
            tab = tab[(tab["kind"] != "entries") | tab["item"].isin(self.first_items)]
            tab = tab.assign(item=np.where(tab["kind"] == "entries", "new entries", tab["item"]))
        wide = tab.pivot_table(index=["owner", "period", "start"], columns="item", values="count",
                               aggfunc="sum", fill_value=0)
        wide.columns = [str(c) for c in wide.columns]
        if "new entries" in wide.columns:
            wide = wide[["new entries", *[c for c in wide.columns if c != "new entries"]]]
        util = self.utilisation.set_index(["owner", "period", "start"])[
            ["required_hours", "available_hours", "utilisation"]]
        out = wide.join(util, how="left").reset_index()
        return out.sort_values(["start", "owner"], kind="stable").reset_index(drop=True)

    def to_excel(self, path: str | Path) -> Path:
        """Write the sheet a team lead hands out: one row per rep and week, one column per item, formatted.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from salesplan.plan import backward, read_team
        >>> plan = backward(pd.DataFrame({"process": ["p"], "period": ["2026-02"], "contracts": [4]}),
        ...                 {"p": {"lead": 0.5}}, durations={"p": {"lead": 7}},
        ...                 activity_ratios={"p": {"lead": {"calls": 3}}})
        >>> team = read_team([{"owner": "ann", "processes": ["p"], "hours_per_week": 30}])
        >>> out = plan.per_rep(team, as_of="2026-01-15").to_excel(pathlib.Path(tempfile.mkdtemp()) / "reps.xlsx")
        >>> out.suffix
        '.xlsx'
        """
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill
        from openpyxl.utils import get_column_letter

        wide = self.wide()
        wb = Workbook()
        ws = wb.active
        ws.title = "per rep and week" if self.freq == "W" else "per rep and month"
        header = ["rep", "week" if self.freq == "W" else "month", "from"] + [
            c for c in wide.columns if c not in ("owner", "period", "start", "required_hours", "available_hours",
                                                 "utilisation")] + ["hours needed", "hours available", "utilisation"]
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor="305496")
            cell.alignment = Alignment(horizontal="center", wrap_text=True)
        items = header[3:-3]
        for rec in wide.to_dict("records"):
            util = rec["utilisation"]
            ws.append([rec["owner"], rec["period"], pd.Timestamp(rec["start"]).date(),
                       *[int(rec[c]) for c in items], round(float(rec["required_hours"]), 1),
                       round(float(rec["available_hours"]), 1),
                       float(util) if np.isfinite(util) else None])
        n = ws.max_row
        for row in range(2, n + 1):
            ws.cell(row, 3).number_format = "yyyy-mm-dd"
            ws.cell(row, len(header)).number_format = "0%"
            util_cell = ws.cell(row, len(header))
            if util_cell.value is not None and util_cell.value > 1:
                util_cell.font = Font(bold=True, color="C00000")
        for i, name in enumerate(header, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(len(name) + 2, 28))
        ws.freeze_panes = "D2"
        ws.auto_filter.ref = ws.dimensions
        target = Path(path)
        wb.save(target)
        return target

    def _repr_html_(self) -> str:
        head = (f"<p><b>Plan per rep</b> ({self.basis}, split by {html.escape(self.split)}, per "
                f"{'week' if self.freq == 'W' else 'month'}): {self.table['owner'].nunique()} rep(s)</p>")
        return head + self.wide().head(20).to_html(index=False)
