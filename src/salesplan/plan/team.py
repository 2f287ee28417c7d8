"""The sales team: one row per rep (owner), the processes they work, their hours, ramp and absences.

The team table has one row per ``owner`` with the columns

``owner`` (str, the rep; the ``owner`` of opportunities and activities), ``processes`` (list of process names the
rep works), ``segment`` (optional: the one segment or territory the rep serves; empty for all), ``hours_per_week``
(selling hours of a full week), ``start`` (first day; empty: already on the team), ``ramp_months`` (months after
``start`` to full productivity; 0: none), ``ramp_fraction`` (productivity during the ramp, default 0.5),
``absences`` (list of ``(first, last)`` day pairs of leave, inclusive), ``end`` (last day; empty: open-ended),
``manager`` (optional: the person the rep reports to; a manager may make forecast calls for the team, scored
against the team's wins, :func:`salesplan.forecast.accountability.call_accuracy`).

It is read from a frame, a list of mappings, a TOML file (an array of tables ``[[team]]``), or a CSV file (lists
separated by ``;``, an absence ``2026-02-02..2026-02-06``), by :func:`read_team`, or derived from the owners of the
opportunities by :func:`team_from_data` (the reps who created deals of a process in the last year).

Capacity
    A rep's hours in a week are ``hours_per_week`` times the share of the week's five working days (Monday to
    Friday) on which the rep is on the team (between ``start`` and ``end``) and not absent, times the productivity
    of those days: ``ramp_fraction`` from ``start`` for ``ramp_months``, then 1. Public holidays are not modelled
    (enter them as absences).

Examples
--------
>>> team = read_team([{"owner": "ann", "processes": ["acquisition"], "hours_per_week": 30,
...                    "absences": [("2026-01-05", "2026-01-06")]}])
>>> week = rep_hours(team, "2026-01-05", "2026-01-18")
>>> week[["owner", "period", "available_hours"]].to_dict("records")
[{'owner': 'ann', 'period': '2026-W02', 'available_hours': 18.0}, {'owner': 'ann', 'period': '2026-W03', 'available_hours': 30.0}]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesplan._toml import read_toml
from salesplan.errors import PlanInputError
from salesplan.reduce.states import opportunity_amounts

__all__ = ["TEAM_COLUMNS", "read_team", "team_from_data", "rep_hours"]

logger = logging.getLogger(__name__)

TEAM_COLUMNS = ["owner", "processes", "segment", "hours_per_week", "start", "ramp_months", "ramp_fraction",
                "absences", "end", "manager"]
_DEFAULTS: dict[str, Any] = {"segment": None, "start": None, "ramp_months": 0.0, "ramp_fraction": 0.5,
                             "absences": (), "end": None, "manager": None}


def _as_list(value: Any, sep: str = ";") -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(sep) if v.strip()]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def _absences(value: Any, where: str) -> tuple[tuple[pd.Timestamp, pd.Timestamp], ...]:
    out = []
    for item in _as_list(value):
        pair = [p.strip() for p in item.split("..")] if isinstance(item, str) else list(item)
        if len(pair) == 1:
            pair = pair * 2
        if len(pair) != 2:
            raise PlanInputError(f"{where}: an absence is (first, last) day or 'first..last', got {item!r}")
        try:
            first, last = pd.Timestamp(pair[0]).normalize(), pd.Timestamp(pair[1]).normalize()
        except (ValueError, TypeError):
            raise PlanInputError(f"{where}: absence {item!r} is not a pair of dates") from None
        if last < first:
            raise PlanInputError(f"{where}: absence {item!r} ends before it begins")
        out.append((first, last))
    return tuple(out)


def _date(value: Any, where: str) -> pd.Timestamp | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError):
        raise PlanInputError(f"{where}: {value!r} is not a date") from None


def _rows(source: Any) -> tuple[list[dict[str, Any]], str]:
    if isinstance(source, pd.DataFrame):
        return source.to_dict("records"), "team table"
    if isinstance(source, str | Path):
        path = Path(source)
        if path.suffix.lower() == ".toml":
            doc = read_toml(path)
            rows = doc.get("team")
            if not isinstance(rows, list):
                raise PlanInputError(f"{path}: needs an array of tables [[team]] (one per rep), found keys "
                                     f"{sorted(doc)}")
            return [dict(r) for r in rows], str(path)
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records"), str(path)
        raise PlanInputError(f"{path}: a team file is .toml ([[team]] tables) or .csv")
    if isinstance(source, Mapping):
        raise PlanInputError("team: give a table (frame, list of rows, .toml or .csv), not a mapping")
    if isinstance(source, Sequence):
        return [dict(r) for r in source], "team"
    raise PlanInputError(f"team: cannot read a {type(source).__name__}; give a frame, a list of rows or a file")


def read_team(source: Any, *, processes: Iterable[str] | None = None, horizon_end: Any = None,
              as_of: Any = None) -> pd.DataFrame:
    """Read and check a team table (see the module docstring for the columns).

    Parameters
    ----------
    source : DataFrame, list of mappings, or path to a .toml / .csv file
        One row per rep.
    processes : iterable of str, optional
        The known processes; a rep working another one is an error.
    horizon_end, as_of : date-like, optional
        The plan's window; a ramp longer than it is an error (the rep would never reach full productivity).

    Returns
    -------
    DataFrame
        The columns of ``TEAM_COLUMNS`` (``processes`` and ``absences`` as tuples), one row per owner.

    Raises
    ------
    PlanInputError
        Naming the row (and owner) and the key: a rep without a process or with an unknown one, hours per week
        <= 0, a ramp fraction outside (0, 1], a negative ramp or one longer than the horizon, an end before the
        start, a bad absence, a repeated owner, a missing ``owner`` or ``hours_per_week``.

    Examples
    --------
    >>> read_team([{"owner": "bob", "processes": [], "hours_per_week": 30}])
    Traceback (most recent call last):
    ...
    salesplan.errors.PlanInputError: team row 0 (owner='bob'): key 'processes' is empty; every rep works at least one process
    """
    rows, name = _rows(source)
    known = None if processes is None else set(processes)
    out = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows):
        owner = raw.get("owner", raw.get("rep"))
        where = f"{name} row {i} (owner={owner!r})"
        if owner is None or str(owner).strip() == "" or (isinstance(owner, float) and np.isnan(owner)):
            raise PlanInputError(f"{name} row {i}: key 'owner' is missing")
        owner = str(owner)
        if owner in seen:
            raise PlanInputError(f"{where}: owner repeats row {seen[owner]}; one row per rep")
        seen[owner] = i
        procs = [str(p) for p in _as_list(raw.get("processes", raw.get("process")))]
        if not procs:
            raise PlanInputError(f"{where}: key 'processes' is empty; every rep works at least one process")
        if known is not None and set(procs) - known:
            raise PlanInputError(f"{where}: key 'processes' names unknown process(es) {sorted(set(procs) - known)}; "
                                 f"known: {sorted(known)}")
        try:
            hours = float(raw.get("hours_per_week", np.nan))
        except (TypeError, ValueError):
            hours = np.nan
        if not (np.isfinite(hours) and hours > 0):
            raise PlanInputError(f"{where}: key 'hours_per_week' must be a number > 0, got "
                                 f"{raw.get('hours_per_week')!r}")
        rec = {k: raw.get(k, v) for k, v in _DEFAULTS.items()}
        for k in ("ramp_months", "ramp_fraction"):
            value = rec[k]
            rec[k] = _DEFAULTS[k] if value is None or value == "" else value
            try:
                rec[k] = float(rec[k])
            except (TypeError, ValueError):
                raise PlanInputError(f"{where}: key {k!r} must be a number, got {value!r}") from None
        if not rec["ramp_months"] >= 0:
            raise PlanInputError(f"{where}: key 'ramp_months' must be >= 0, got {rec['ramp_months']!r}")
        if not 0 < rec["ramp_fraction"] <= 1:
            raise PlanInputError(f"{where}: key 'ramp_fraction' must lie in (0, 1], got {rec['ramp_fraction']!r}")
        start, end = _date(rec["start"], f"{where}: key 'start'"), _date(rec["end"], f"{where}: key 'end'")
        if start is not None and end is not None and end < start:
            raise PlanInputError(f"{where}: key 'end' {end.date()} is before 'start' {start.date()}")
        if horizon_end is not None and rec["ramp_months"] > 0:
            begin = max(start or pd.Timestamp(as_of or horizon_end), pd.Timestamp(as_of or start or horizon_end))
            months = (pd.Timestamp(horizon_end) - begin).days / 30.4375
            if rec["ramp_months"] > months:
                raise PlanInputError(f"{where}: key 'ramp_months' {rec['ramp_months']:g} is longer than the plan's "
                                     f"horizon ({months:.1f} months to {pd.Timestamp(horizon_end).date()}); the rep "
                                     "never reaches full productivity in it")
        segment = rec["segment"]
        if isinstance(segment, float) and np.isnan(segment) or segment == "":
            segment = None
        manager = rec["manager"]
        manager = None if manager is None or (isinstance(manager, float) and np.isnan(manager)) or \
            str(manager).strip() == "" else str(manager).strip()
        out.append({"owner": owner, "processes": tuple(procs), "segment": segment, "hours_per_week": hours,
                    "start": start, "ramp_months": rec["ramp_months"], "ramp_fraction": rec["ramp_fraction"],
                    "absences": _absences(rec["absences"], f"{where}: key 'absences'"), "end": end,
                    "manager": manager})
    if not out:
        raise PlanInputError(f"{name}: no reps")
    frame = pd.DataFrame(out, columns=TEAM_COLUMNS)
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def team_from_data(opportunities: Any, *, as_of: Any, hours_per_week: float = 30.0, window: str = "365D",
                   processes: Iterable[str] | None = None) -> pd.DataFrame:
    """A default team: every owner who created opportunities of a process in the ``window`` before ``as_of``.

    Each owner works the processes they had deals in, full time (``hours_per_week``), already on the team, no
    absences; ``pipeline_share`` is the owner's share of the process's deals created in the window (a split rule
    for :meth:`salesplan.plan.Plan.per_rep`, ``split="pipeline_share"``). Counted with
    :func:`salesplan.reduce.states.opportunity_amounts` (any engine).

    Raises :class:`~salesplan.PlanInputError` when the opportunities have no ``owner`` or no deal in the window.

    Examples
    --------
    >>> from salesplan.datasets import load_example
    >>> data = load_example()
    >>> team = team_from_data(data.opportunities, as_of=data.as_of, processes=["acquisition"])
    >>> team["owner"].tolist(), team["processes"].iloc[0]
    (['acq_rep1', 'acq_rep2', 'acq_rep3'], ('acquisition',))
    """
    cut = pd.Timestamp(as_of)
    try:
        counts = opportunity_amounts(opportunities, as_of=cut, start=cut - pd.Timedelta(window), by=["owner"],
                                     count_only=True)
    except Exception as exc:  # noqa: BLE001 - a missing column surfaces in the engine's own words
        raise PlanInputError(f"team from data: the opportunities need an 'owner' column ({exc})") from None
    counts = counts.dropna(subset=["owner"])
    if processes is not None:
        counts = counts[counts["process"].isin(list(processes))]
    per = counts.groupby(["process", "owner"], as_index=False)["weight"].sum()
    if per.empty:
        raise PlanInputError(f"team from data: no opportunity with an owner created in the {window} before "
                             f"{cut.date()}; give a team table")
    per["share"] = per["weight"] / per.groupby("process")["weight"].transform("sum")
    rows = []
    for owner, grp in per.groupby("owner", sort=True):
        rows.append({"owner": str(owner), "processes": tuple(grp["process"].tolist()), "hours_per_week": hours_per_week})
    team = read_team(rows, processes=processes)
    shares = per.groupby("owner")["share"].apply(lambda s: float(s.mean()))
    team["pipeline_share"] = team["owner"].map(shares).to_numpy()
    team.attrs["pipeline_share"] = {(str(p), str(o)): float(s) for p, o, s in
                                    zip(per["process"], per["owner"], per["share"], strict=True)}
    logger.info("team from data: %d rep(s) from the owners of opportunities created in the %s before %s",
                len(team), window, cut.date())
    return team


def _productivity(team: pd.DataFrame, days: pd.DatetimeIndex) -> np.ndarray:
    """Reps x days: productivity (0 off the team or absent or at the weekend, ramp fraction, or 1)."""
    out = np.ones((len(team), len(days)))
    weekday = np.asarray(days.day_of_week) < 5
    out[:, ~weekday] = 0.0
    for i, row in enumerate(team.itertuples(index=False)):
        if pd.notna(row.start):
            out[i, days < row.start] = 0.0
            if row.ramp_months > 0:
                ramp_end = row.start + pd.DateOffset(months=int(row.ramp_months)) + pd.Timedelta(
                    days=round((row.ramp_months % 1) * 30.4375))
                ramping = (days >= row.start) & (days < ramp_end)
                out[i, ramping] *= row.ramp_fraction
        if pd.notna(row.end):
            out[i, days > row.end] = 0.0
        for first, last in row.absences:
            out[i, (days >= first) & (days <= last)] = 0.0
    return out


def rep_hours(team: pd.DataFrame, start: Any, end: Any, *, freq: str = "W") -> pd.DataFrame:
    """Selling hours available per rep and period (``freq`` ``"W"`` or ``"M"``) in ``[start, end]``.

    ``available_hours = hours_per_week / 5 * sum over working days of productivity`` (see the module docstring);
    ``full_hours`` is the same without ramp and absences (the nominal week or month).

    Examples
    --------
    >>> team = read_team([{"owner": "new", "processes": ["p"], "hours_per_week": 40, "start": "2026-01-05",
    ...                    "ramp_months": 1, "ramp_fraction": 0.5}])
    >>> rep_hours(team, "2026-01-05", "2026-02-15")["available_hours"].tolist()
    [20.0, 20.0, 20.0, 20.0, 28.0, 40.0]
    """
    if freq not in ("W", "M"):
        raise PlanInputError(f"freq must be 'W' or 'M', got {freq!r}")
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    prod = _productivity(team, days)
    periods = days.to_period("W-SUN" if freq == "W" else "M")
    labels = [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in periods.start_time] if freq == "W" \
        else [str(p) for p in periods]
    per_day = team["hours_per_week"].to_numpy(float)[:, None] / 5.0
    work = (np.asarray(days.day_of_week) < 5).astype(float)
    avail = pd.DataFrame(prod * per_day, columns=labels).T.groupby(level=0, sort=False).sum().T
    full = pd.DataFrame(np.broadcast_to(work, prod.shape) * per_day, columns=labels).T.groupby(
        level=0, sort=False).sum().T
    first_day = pd.Series(periods.start_time, index=labels).groupby(level=0, sort=False).first()
    out = pd.DataFrame({
        "owner": np.repeat(team["owner"].to_numpy(), avail.shape[1]),
        "period": np.tile(avail.columns.to_numpy(), len(team)),
        "start": np.tile(first_day.reindex(avail.columns).to_numpy(), len(team)),
        "available_hours": avail.to_numpy().ravel().round(9),
        "full_hours": full.to_numpy().ravel().round(9),
    })
    return out
