"""Normalise planning inputs: any funnel form to one rate table, and targets to the canonical targets table.

A funnel may be a fitted ``salesplan.funnel.Funnel`` (used through the attributes of the interface contract
only), a mapping ``{stage: rate}`` (one process, known rates), a mapping ``{process: {stage: rate}}``, or a
DataFrame with ``stage`` and ``rate`` and/or ``alpha``/``beta`` (optional ``process`` and ``segment``).

Examples
--------
>>> view = funnel_view({"lead": 0.5, "offer": 0.4}, process="demo")
>>> view.win[["stage", "win_rate"]].round(2).to_dict("records")
[{'stage': 'lead', 'win_rate': 0.2}, {'stage': 'offer', 'win_rate': 0.4}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import PlanInputError, SchemaError
from salesplan.funnel.win_rate import win_rate_beta
from salesplan.process import DEFAULT_PROCESSES, SalesProcess
from salesplan.schema import normalise_period, to_pandas, validate

__all__ = ["FunnelView", "funnel_view", "normalise_targets", "ALL", "moment_match_win", "group_label"]

logger = logging.getLogger(__name__)

#: Segment label of rows that are not split by segment.
ALL = "all"

RATE_COLUMNS = ["process", "segment", "stage", "next_stage", "rate", "alpha", "beta"]
WIN_COLUMNS = ["process", "segment", "stage", "win_rate", "alpha", "beta"]


@dataclass
class FunnelView:
    """The rates a plan needs, whatever form the funnel was given in.

    Attributes
    ----------
    processes : dict of str to SalesProcess
    rates : DataFrame
        ``process, segment, stage, next_stage, rate, alpha, beta`` (alpha/beta NaN for a known rate).
    win : DataFrame
        ``process, segment, stage, win_rate, alpha, beta``: probability of winning from each stage.
    segmented : bool
        True when rates differ by segment (or by any group column of the funnel).
    by : list of str
        The funnel's group columns; their values, joined with ``" | "``, are the plan's ``segment``.
    source : object
        The fitted Funnel, or None for mappings and tables.
    lead_times : dict, optional
        ``{(process, segment, stage): pmf of the days from entering the stage to a win}`` stored with a plan of
        record (:func:`salesplan.plan.load_plan`); used before any other source of timing.
    """

    processes: dict[str, SalesProcess]
    rates: pd.DataFrame
    win: pd.DataFrame
    segmented: bool = False
    source: Any = None
    changed: set[str] = field(default_factory=set)
    lead_times: dict[tuple[str, str, str], np.ndarray] | None = None
    by: list[str] = field(default_factory=list)

    @property
    def uncertain(self) -> bool:
        """True when any win rate carries a Beta distribution."""
        return bool(self.win["alpha"].notna().any())

    def with_rate_change(self, changes: Mapping[Any, float]) -> FunnelView:
        """A copy with stage rates shifted by ``changes`` (``{(process, stage): delta}`` or ``{stage: delta}``).

        A Beta rate keeps its concentration ``alpha + beta`` (the same evidence) around the shifted mean.
        """
        rates = self.rates.copy()
        touched: set[str] = set()
        for key, delta in changes.items():
            if isinstance(key, tuple):
                proc, stage = key
                mask = (rates["process"] == proc) & (rates["stage"] == stage)
            else:
                mask = rates["stage"] == key
            if not mask.any():
                raise PlanInputError(f"rate change names {key!r}, which is not a (process, stage) of the funnel")
            new = rates.loc[mask, "rate"] + float(delta)
            if ((new <= 0) | (new > 1)).any():
                raise PlanInputError(f"rate change {key!r}: {float(delta):+g} moves a rate outside (0, 1]")
            conc = rates.loc[mask, "alpha"] + rates.loc[mask, "beta"]
            rates.loc[mask, "rate"] = new
            rates.loc[mask, "alpha"] = new * conc
            rates.loc[mask, "beta"] = (1 - new) * conc
            touched.update(rates.loc[mask, "process"])
        win = self.win[~self.win["process"].isin(touched)]
        win = pd.concat([win, moment_match_win(rates[rates["process"].isin(touched)], self.processes)],
                        ignore_index=True)
        return FunnelView(self.processes, rates, win, self.segmented, self.source, self.changed | touched)


def moment_match_win(rates: pd.DataFrame, processes: Mapping[str, SalesProcess]) -> pd.DataFrame:
    """Win rate from each stage per (process, segment) with its moment-matched Beta.

    The one definition is :func:`salesplan.funnel.win_rate.win_rate_beta` (the funnel's ``win_rate`` uses it too):
    the point win rate is the product of the point stage rates from the stage on; ``alpha``/``beta`` are NaN when
    every factor is known.

    Examples
    --------
    >>> r = pd.DataFrame({"process": "p", "segment": "all", "stage": ["a", "b"], "next_stage": ["b", "won"],
    ...                   "rate": [0.5, 0.5], "alpha": [5.0, 50.0], "beta": [5.0, 50.0]})
    >>> w = moment_match_win(r, {"p": SalesProcess("p", ["a", "b"])})
    >>> [round(float(v), 2) for v in w["win_rate"]], [round(float(v), 1) for v in w["alpha"]]
    ([0.25, 0.5], [7.1, 50.0])
    """
    if rates.empty:
        return pd.DataFrame(columns=WIN_COLUMNS)
    order = {(p, s): i for p, proc in processes.items() for i, s in enumerate(proc.stages)}
    idx = [order.get(k, 0) for k in zip(rates["process"].tolist(), rates["stage"].tolist(), strict=True)]
    win = win_rate_beta(rates, ["process", "segment"], order=idx)
    out = rates[["process", "segment", "stage"]].join(win)
    return out.reset_index(drop=True)[WIN_COLUMNS]


def _row_label(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={row[k]!r}" for k in ("process", "segment", "stage") if k in row)


def _check_rates(rates: pd.DataFrame, table: str = "funnel rates") -> None:
    a, b = rates["alpha"], rates["beta"]
    has = a.notna() | b.notna()
    badab = has & ~((a > 0) & (b >= 0))
    if badab.any():
        row = rates[badab].iloc[0]
        raise PlanInputError(f"{table}: Beta parameters must be alpha > 0 and beta >= 0 at {_row_label(row)} "
                             f"(alpha={row['alpha']!r}, beta={row['beta']!r})")
    r = rates["rate"]
    bad = ~((r > 0) & (r <= 1))
    if bad.any():
        rows = rates[bad].head(5)
        labels = "; ".join(f"{_row_label(row)} rate={row['rate']!r}" for row in rows.to_dict("records"))
        raise PlanInputError(
            f"{table}: {int(bad.sum())} stage rate(s) outside (0, 1] (a rate of zero means no contract can be "
            f"won, so no volume reaches the target): {labels}"
        )


def _stage_order(proc: str, stages: list[str], processes: Mapping[str, SalesProcess]) -> SalesProcess:
    known = processes.get(proc)
    if known is not None and set(stages) <= set(known.stages):
        return known
    if known is not None:
        extra = sorted(set(stages) - set(known.stages))
        raise PlanInputError(f"funnel: process {proc!r} names stage(s) {extra} that are not stages of the process "
                             f"{list(known.stages)}")
    return SalesProcess(proc, tuple(stages))


def _from_mapping(funnel: Mapping[str, Any], process: str | None,
                  processes: Mapping[str, SalesProcess]) -> FunnelView:
    values = list(funnel.values())
    if not values:
        raise PlanInputError("funnel mapping is empty; give {stage: rate} or {process: {stage: rate}}")
    if all(isinstance(v, Mapping) for v in values):
        nested = {str(p): dict(v) for p, v in funnel.items()}
    elif all(isinstance(v, Real) or v is None for v in values):
        nested = {process or "process": dict(funnel)}
    else:
        raise PlanInputError("funnel mapping must be {stage: rate} or {process: {stage: rate}}")
    rows: list[dict[str, Any]] = []
    for proc, stages in nested.items():
        rows.extend({"process": proc, "stage": str(s), "rate": np.nan if r is None else float(r)}
                    for s, r in stages.items())
    frame = pd.DataFrame(rows)
    return _from_table(frame, processes, known=True)


def _from_table(frame: pd.DataFrame, processes: Mapping[str, SalesProcess], known: bool = False,
                process: str | None = None) -> FunnelView:
    df = frame.copy()
    if "stage" not in df.columns:
        raise SchemaError("funnel table: missing column 'stage'", pd.DataFrame(
            [{"table": "funnel", "column": "stage", "check": "required", "key": "-", "value": "missing column"}]))
    if "rate" not in df.columns and not {"alpha", "beta"} <= set(df.columns):
        raise SchemaError("funnel table: needs a 'rate' column or 'alpha' and 'beta' columns", pd.DataFrame(
            [{"table": "funnel", "column": "rate", "check": "required", "key": "-", "value": "missing column"}]))
    if "process" not in df.columns:
        df["process"] = process or "process"
    if "segment" not in df.columns:
        df["segment"] = ALL
    df["segment"] = df["segment"].fillna(ALL).astype(str)
    for col in ("alpha", "beta"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df.columns else np.nan
    if "rate" not in df.columns:
        df["rate"] = df["alpha"] / (df["alpha"] + df["beta"])
    df["rate"] = pd.to_numeric(df["rate"], errors="coerce").astype(float)
    procs: dict[str, SalesProcess] = {}
    for proc, group in df.groupby("process", sort=False):
        procs[str(proc)] = _stage_order(str(proc), list(dict.fromkeys(group["stage"])), processes)
    # a process's stages must all have a rate (a stage missing in the middle breaks the product), once each
    dup = df.duplicated(["process", "segment", "stage"])
    if dup.any():
        row = df[dup].iloc[0]
        raise PlanInputError(f"funnel: process {row['process']!r}, segment {row['segment']!r} repeats stage "
                             f"{row['stage']!r}")
    pairs = df[["process", "segment"]].drop_duplicates().itertuples(index=False)
    expected = pd.DataFrame([(p, g, st) for p, g in pairs for st in procs[p].stages],
                            columns=["process", "segment", "stage"])
    check = expected.merge(df[["process", "segment", "stage"]], how="left", indicator=True)
    lacking = check[check["_merge"] == "left_only"]
    if len(lacking):
        proc, seg = lacking["process"].iloc[0], lacking["segment"].iloc[0]
        missing = lacking[(lacking["process"] == proc) & (lacking["segment"] == seg)]["stage"].tolist()
        raise PlanInputError(f"funnel: process {proc!r}, segment {seg!r} has no rate for stage(s) {missing}")
    nxt = {(p, st): proc.next_stage(st) for p, proc in procs.items() for st in proc.stages}
    df["next_stage"] = [nxt[k] for k in zip(df["process"].tolist(), df["stage"].tolist(), strict=True)]
    _check_rates(df)
    rates = df[RATE_COLUMNS].reset_index(drop=True)
    win = moment_match_win(rates, procs)
    return FunnelView(procs, rates, win, segmented=bool((rates["segment"] != ALL).any()))


def group_label(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """The plan's ``segment`` label of rows grouped by ``by``: the group value, several joined with ``" | "``.

    Examples
    --------
    >>> group_label(pd.DataFrame({"origin": ["web", None]}), ["origin"]).tolist()
    ['web', 'nan']
    """
    if not by:
        return pd.Series(ALL, index=frame.index)
    parts = [pd.Series([str(v) for v in frame[c]], index=frame.index, dtype=object) for c in by]
    out = parts[0]
    for part in parts[1:]:
        out = out + " | " + part
    return out


def _from_funnel(funnel: Any) -> FunnelView:
    by = list(getattr(funnel, "by", []) or [])
    rates = funnel.rates.copy()
    rates["segment"] = group_label(rates, by)
    for col in ("alpha", "beta"):
        if col not in rates.columns:
            rates[col] = np.nan
    _check_rates(rates, "Funnel.rates")
    win = funnel.win_rate.copy()
    win["segment"] = group_label(win, by)
    for col in ("alpha", "beta"):
        if col not in win.columns:
            win[col] = np.nan
    processes = dict(funnel.processes)
    parent = getattr(funnel, "parent_rates", None)
    if by and isinstance(parent, pd.DataFrame) and not parent.empty:
        # a segmented funnel also plans targets set for the whole process (segment "all") from the parent rates
        top = parent.copy()
        top["segment"] = ALL
        for col in ("alpha", "beta"):
            if col not in top.columns:
                top[col] = np.nan
        rates = pd.concat([rates, top[rates.columns.intersection(top.columns)]], ignore_index=True)
        top_win = moment_match_win(top, processes)
        win = pd.concat([win, top_win], ignore_index=True)
    bad = ~((win["win_rate"] > 0) & (win["win_rate"] <= 1))
    if bad.any():
        row = win[bad].iloc[0]
        raise PlanInputError(f"Funnel.win_rate: win rate {row['win_rate']!r} outside (0, 1] at {_row_label(row)}; "
                             "no contract can be planned from a stage that is never won")
    return FunnelView(processes, rates[RATE_COLUMNS].reset_index(drop=True),
                      win[WIN_COLUMNS].reset_index(drop=True), segmented=bool(by), source=funnel, by=by)


def _from_snapshot(funnel: Any, process: str | None) -> FunnelView:
    """A one-stage view of a :class:`salesplan.funnel.SnapshotFunnel`.

    Entries into its dated stage, won with the censored win probability (or, without dates, the closed-only win rate, logged as biased), its Beta from the
    estimate and its interval's effective sample size.
    """
    win = funnel.win_rate
    censored = [m for m in win.index if str(m).startswith("censored_from_")]
    method = censored[0] if censored else "closed_only"
    if not censored:
        logger.warning("planning from a snapshot without entry and close dates: the closed-only win rate is biased "
                       "when wins and losses take different times")
    stage = str(method).removeprefix("censored_from_") if censored else (
        getattr(funnel, "stages", None) or ["first_stage"])[0]
    rate, n = float(win.loc[method, "win_rate"]), float(win.loc[method, "n"])
    if not (np.isfinite(rate) and 0 < rate <= 1):
        raise PlanInputError(f"snapshot funnel: win rate {rate!r} ({method}) cannot be planned with")
    name = process or "process"
    frame = pd.DataFrame({"process": [name], "stage": [stage], "rate": [rate],
                          "alpha": [rate * n if rate < 1 else np.nan], "beta": [(1 - rate) * n if rate < 1 else
                                                                              np.nan]})
    view = _from_table(frame, {name: SalesProcess(name, (stage,))})
    return FunnelView(view.processes, view.rates, view.win, source=None)


def funnel_view(funnel: Any, *, process: str | None = None,
                processes: Mapping[str, SalesProcess] | None = None) -> FunnelView:
    """Turn any supported funnel form into a :class:`FunnelView`.

    Parameters
    ----------
    funnel : Funnel, mapping or DataFrame
        See the module docstring.
    process : str, optional
        Process name for a single-process mapping or table without a ``process`` column (default ``"process"``).
    processes : mapping, optional
        Process definitions for stage order and default activity ratios (default: the five defaults).

    Examples
    --------
    >>> v = funnel_view({"acquisition": {"prospect_selected": 0.5, "contacted": 0.6, "qualified": 0.5,
    ...                                  "offer": 0.6, "negotiation": 0.7}})
    >>> round(float(v.win["win_rate"].iloc[0]), 4)
    0.063
    """
    procs = dict(DEFAULT_PROCESSES if processes is None else processes)
    if isinstance(funnel, FunnelView):
        return funnel
    if hasattr(funnel, "rates") and hasattr(funnel, "win_rate") and hasattr(funnel, "processes"):
        return _from_funnel(funnel)
    if hasattr(funnel, "stage_counts") and hasattr(funnel, "win_rate") and hasattr(funnel, "limits"):
        return _from_snapshot(funnel, process)
    if isinstance(funnel, Mapping):
        return _from_mapping(funnel, process, procs)
    try:
        frame = to_pandas(funnel, "funnel")
    except SchemaError:
        raise PlanInputError(
            f"funnel must be a fitted Funnel, a mapping of stage -> rate or a DataFrame, got {type(funnel).__name__}"
        ) from None
    return _from_table(frame, procs, process=process)


def normalise_targets(targets: Any, view: FunnelView, *, period: Any = None,
                      process: str | None = None) -> pd.DataFrame:
    """The canonical targets table (process, segment, period, contracts [, revenue]) checked against the funnel.

    A single number is a target for the funnel's only process. Table problems raise
    :class:`~salesplan.SchemaError` (via :func:`salesplan.validate`); a process or segment the funnel has no rates
    for raises :class:`~salesplan.PlanInputError` naming the row.

    Examples
    --------
    >>> v = funnel_view({"lead": 0.5})
    >>> normalise_targets(3, v).to_dict("records")
    [{'process': 'process', 'segment': 'all', 'period': 'total', 'contracts': 3}]
    """
    if isinstance(targets, Real) and not isinstance(targets, bool):
        value = float(targets)
        if not np.isfinite(value) or value < 0 or value % 1 != 0:
            raise PlanInputError(f"target must be a whole number of contracts >= 0, got {targets!r}")
        names = sorted(view.rates["process"].unique())
        if process is not None:
            if process not in names:
                raise PlanInputError(f"process={process!r}: the funnel has no rates for it; it covers {names}")
            names = [process]
        if len(names) != 1:
            raise PlanInputError(f"a single-number target needs a one-process funnel; the funnel has {names}. "
                                 "Give a targets table (process, period, contracts)")
        segs = sorted(view.rates.loc[view.rates["process"] == names[0], "segment"].unique())
        if len(segs) > 1 and ALL in segs:
            segs = [ALL]  # a grouped funnel plans a whole-process target from its pooled rates
        if len(segs) != 1:
            raise PlanInputError(f"a single-number target needs unsegmented rates; the funnel has segments {segs}")
        label = "total" if period is None else (normalise_period(period) or str(period))
        return pd.DataFrame({"process": names, "segment": segs, "period": [label], "contracts": [int(value)]})
    known = {p: view.processes[p] for p in view.rates["process"].unique() if p in view.processes}
    if view.by and view.by != ["segment"]:
        frame = to_pandas(targets, "targets")
        if set(view.by) <= set(frame.columns) and "segment" not in frame.columns:
            # targets per group of the funnel (e.g. by="origin"): the group values are the plan's segment
            targets = frame.drop(columns=view.by).assign(segment=group_label(frame, view.by).to_numpy())
    df = validate(targets, "targets", processes=known)
    if "segment" not in df.columns:
        df["segment"] = ALL
    df["segment"] = df["segment"].fillna(ALL).astype(str)
    df["contracts"] = df["contracts"].astype(np.int64)
    keys = set(zip(view.win["process"], view.win["segment"], strict=True))
    miss = [(i, p, s) for i, (p, s) in enumerate(zip(df["process"], df["segment"], strict=True))
            if (p, s) not in keys]
    if miss:
        i, p, s = miss[0]
        have = sorted({k[1] for k in keys if k[0] == p})
        raise PlanInputError(
            f"targets row {i} (process={p!r}, segment={s!r}, period={df['period'].iloc[i]!r}): the funnel has no "
            f"rates for this segment of the process (segments with rates: {have}); {len(miss)} row(s) affected"
        )
    cols = ["process", "segment", "period", "contracts"] + (["revenue"] if "revenue" in df.columns else [])
    return df[cols].reset_index(drop=True)
