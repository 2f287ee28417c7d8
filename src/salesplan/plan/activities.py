"""Activities per stage entry (calls, visits, offers, ...) and the activity volumes a plan needs.

Sources of the ratios, first found wins per (process, stage, kind):

1. ``activity_ratios=`` given to :func:`~salesplan.plan.backward` (a table ``process, stage, kind, per_entry``,
   optionally with ``segment`` for segment-specific ratios, or a mapping ``{process: {stage: {kind: per_entry}}}``);
2. the fitted funnel's measured ``activity_ratios`` (when it was estimated with activities);
3. the process definitions (``SalesProcess.activities``).

Activities per plan row are ``sum over stages of entries(stage) * per_entry(stage, kind)``, for the expected and
for the required (target-probability) entries.

Examples
--------
>>> from salesplan.plan._inputs import funnel_view
>>> view = funnel_view({"lead": 0.5, "offer": 0.5}, process="p")
>>> activity_ratio_table(view, {"p": {"lead": {"calls": 2}}}).to_dict("records")
[{'process': 'p', 'segment': 'all', 'stage': 'lead', 'kind': 'calls', 'per_entry': 2.0, 'source': 'given'}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from salesplan.errors import PlanInputError
from salesplan.plan._inputs import ALL, FunnelView
from salesplan.schema import to_pandas

__all__ = ["activity_ratio_table", "plan_activities", "match_ratios"]

logger = logging.getLogger(__name__)

RATIO_COLUMNS = ["process", "segment", "stage", "kind", "per_entry", "source"]


def _given(ratios: Any, processes: list[str] | None = None, process: str | None = None) -> pd.DataFrame:
    if ratios is None:
        return pd.DataFrame(columns=RATIO_COLUMNS)
    if isinstance(ratios, Mapping):
        two_levels = all(isinstance(v, Mapping) and all(not isinstance(k, Mapping) for k in v.values())
                         for v in ratios.values())
        if two_levels and ratios:
            # {stage: {kind: per_entry}}: one process (the funnel's only one, or the process named)
            names = [process] if process is not None else list(processes or [])
            if len(names) != 1:
                raise PlanInputError(f"activity_ratios {{stage: {{kind: per_entry}}}} needs a one-process funnel or "
                                     f"process=; the funnel has {names}. Give {{process: {{stage: {{kind: n}}}}}}")
            ratios = {names[0]: ratios}
        bad = [p for p, stages in ratios.items() if not isinstance(stages, Mapping)
               or any(not isinstance(k, Mapping) for k in stages.values())]
        if bad:
            raise PlanInputError(f"activity_ratios: process {bad[0]!r} must map stage -> {{kind: per_entry}}")
        rows = [(p, s, k, v) for p, stages in ratios.items() for s, kinds in dict(stages).items()
                for k, v in dict(kinds).items()]
        frame = pd.DataFrame(rows, columns=["process", "stage", "kind", "per_entry"])
    else:
        frame = to_pandas(ratios, "activity_ratios")
        missing = {"process", "stage", "kind", "per_entry"} - set(frame.columns)
        if missing:
            raise PlanInputError(f"activity_ratios: missing column(s) {sorted(missing)}")
    frame = frame.assign(segment=frame["segment"].fillna(ALL).astype(str) if "segment" in frame.columns else ALL)
    frame = frame[["process", "segment", "stage", "kind", "per_entry"]].copy()
    given = frame["per_entry"].copy()  # the values as given, for the message
    frame["per_entry"] = pd.to_numeric(frame["per_entry"], errors="coerce").astype(float)
    bad = ~(frame["per_entry"] >= 0)
    if bad.any():
        row = frame[bad].iloc[0].copy()
        row["per_entry"] = given[bad].iloc[0]
        raise PlanInputError(f"activity_ratios row {int(frame.index[bad][0])} (process={row['process']!r}, "
                             f"stage={row['stage']!r}, kind={row['kind']!r}): per_entry must be a number >= 0, "
                             f"got {row['per_entry']!r}")
    frame["source"] = "given"
    return frame


def activity_ratio_table(view: FunnelView, activity_ratios: Any = None, *, process: str | None = None) -> pd.DataFrame:
    """Activities per stage entry for every (process, stage, kind) of the funnel, with their source.

    Examples
    --------
    >>> from salesplan.plan._inputs import funnel_view
    >>> v = funnel_view({"retention": {"review_scheduled": 0.9, "review_held": 0.85, "renewal_offer": 0.8}})
    >>> t = activity_ratio_table(v)
    >>> t[t["stage"] == "renewal_offer"][["kind", "per_entry"]].to_dict("records")
    [{'kind': 'offers', 'per_entry': 1.0}, {'kind': 'calls', 'per_entry': 0.5}]
    """
    parts = [_given(activity_ratios, sorted(view.rates["process"].unique()), process)]
    measured = getattr(view.source, "activity_ratios", None) if view.source is not None else None
    if isinstance(measured, pd.DataFrame) and not measured.empty:
        m = measured[["process", "stage", "kind", "per_entry"]].assign(segment=ALL)
        m["source"] = "measured"
        parts.append(m)
    defaults = [(p.name, ALL, s, k, v, "process definition") for p in view.processes.values()
                for s, kinds in p.activities.items() for k, v in kinds.items()]
    parts.append(pd.DataFrame(defaults, columns=RATIO_COLUMNS))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=RATIO_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    # the first source that names a (process, stage) wins for all kinds of that stage
    first = table.groupby(["process", "stage"], sort=False)["source"].transform("first")
    table = table[table["source"] == first].drop_duplicates(["process", "segment", "stage", "kind"], keep="first")
    table = table[RATIO_COLUMNS]
    stages = set(zip(view.rates["process"], view.rates["stage"], strict=True))
    keep = [(p, s) in stages for p, s in zip(table["process"], table["stage"], strict=True)]
    return table[keep].reset_index(drop=True)


def plan_activities(volumes: pd.DataFrame, ratios: pd.DataFrame, *, by_stage: bool = False) -> pd.DataFrame:
    """Expected and required activities per (process, segment, period, kind) [and stage].

    Examples
    --------
    >>> vol = pd.DataFrame({"process": "p", "segment": "all", "period": "2025Q1", "stage": ["a", "b"],
    ...                     "expected_entries": [40.0, 20.0], "required_entries": [49, 26]})
    >>> rat = pd.DataFrame({"process": "p", "stage": ["a", "b"], "kind": "calls", "per_entry": [2.0, 1.0]})
    >>> plan_activities(vol, rat)[["kind", "expected", "required"]].to_dict("records")
    [{'kind': 'calls', 'expected': 100.0, 'required': 124.0}]
    """
    keys = ["process", "segment", "period"] + (["stage"] if by_stage else []) + ["kind"]
    merged = match_ratios(volumes, ratios)
    merged["expected"] = merged["expected_entries"] * merged["per_entry"]
    merged["required"] = merged["required_entries"] * merged["per_entry"]
    if merged.empty:
        return pd.DataFrame(columns=[*keys, "expected", "required"])
    out = merged.groupby(keys, sort=False, as_index=False)[["expected", "required"]].sum()
    return out


def match_ratios(volumes: pd.DataFrame, ratios: pd.DataFrame) -> pd.DataFrame:
    """Volumes joined with their ratios: a segment's own ratio where given, else the process-wide one."""
    rat = ratios.assign(segment=ratios["segment"] if "segment" in ratios.columns else ALL)
    rat = rat[["process", "segment", "stage", "kind", "per_entry"]].rename(columns={"segment": "_rseg"})
    merged = volumes.merge(rat, on=["process", "stage"], how="inner")
    merged = merged[(merged["_rseg"] == merged["segment"]) | (merged["_rseg"] == ALL)]
    merged = merged.assign(_own=merged["_rseg"] != ALL).sort_values("_own", ascending=False, kind="stable")
    key = [c for c in ("_row", "process", "segment", "period", "stage", "kind") if c in merged.columns]
    merged = merged.drop_duplicates(key, keep="first").sort_index(kind="stable")
    return merged.drop(columns=["_rseg", "_own"])
