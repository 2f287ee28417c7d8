"""The plan of record: a plan saved when it is set, and loaded later to compare the actuals against it.

:meth:`salesplan.plan.Plan.save` writes one JSON file holding the format name and version, when it was made and
from which cut (``as_of``), the target probability, the targets, the stage volumes, the activity ratios, the rates
(and their Beta) the plan was made from, and the lead-time distribution of every planned stage. :func:`load_plan`
reads it back into a :class:`~salesplan.plan.Plan` whose volumes, activities and schedules equal the saved plan's
exactly (floats are written with their shortest round-trip representation), without the funnel it was made from.

Examples
--------
>>> import tempfile, pathlib
>>> from salesplan.plan import backward
>>> plan = backward(pd.DataFrame({"process": ["p"], "period": ["2026-03"], "contracts": [5]}),
...                 {"p": {"lead": 0.5, "offer": 0.5}}, durations={"p": {"lead": 10, "offer": 5}})
>>> path = plan.save(pathlib.Path(tempfile.mkdtemp()) / "plan.json")
>>> again = load_plan(path)
>>> again.volumes[["stage", "expected_entries", "required_entries"]].values.tolist()  # 5 contracts at 0.25, 0.5
[['lead', 20.0, 26], ['offer', 10.0, 12]]
>>> again.volumes.equals(plan.volumes), again.schedule("W").equals(plan.schedule("W"))
(True, True)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import PlanInputError
from salesplan.process import SalesProcess

__all__ = ["FORMAT", "VERSION", "save_plan", "load_plan"]

FORMAT = "salesplan.plan"
VERSION = 1

_TABLES = {
    "targets": ["process", "segment", "period", "contracts"],
    "volumes": ["process", "segment", "period", "stage", "contracts", "rate", "win_rate", "expected_entries",
                "required_entries", "probability", "method"],
    "activity_ratios": ["process", "stage", "kind", "per_entry"],
    "rates": ["process", "segment", "stage", "next_stage", "rate", "alpha", "beta"],
    "win": ["process", "segment", "stage", "win_rate", "alpha", "beta"],
}


def _value(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        f = float(v)
        return None if math.isnan(f) else (str(f) if math.isinf(f) else f)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    cols = list(frame.columns)
    return {"columns": cols, "dtypes": {c: str(frame[c].dtype) for c in cols},
            "rows": [[_value(v) for v in row] for row in frame.itertuples(index=False, name=None)]}


def _frame(doc: dict[str, Any], name: str, where: str) -> pd.DataFrame:
    part = doc.get(name)
    if not isinstance(part, dict) or "columns" not in part or "rows" not in part:
        raise PlanInputError(f"{where}: key {name!r} is missing or not a table")
    cols = list(part["columns"])
    missing = [c for c in _TABLES.get(name, []) if c not in cols]
    if missing:
        raise PlanInputError(f"{where}: table {name!r} lacks column(s) {missing}")
    frame = pd.DataFrame(part["rows"], columns=cols)
    for col, dtype in part.get("dtypes", {}).items():
        if col not in frame.columns:
            continue
        if dtype.startswith(("float", "int", "bool")):
            frame[col] = frame[col].map(lambda v: float(v) if isinstance(v, str) else v) \
                if dtype.startswith("float") else frame[col]
            frame[col] = frame[col].astype(dtype if not dtype.startswith("float") else "float64")
        elif dtype.startswith("datetime"):
            frame[col] = pd.to_datetime(frame[col])
        else:
            try:
                frame[col] = frame[col].astype(dtype)
            except (TypeError, ValueError):
                frame[col] = frame[col].astype(object)
    return frame


def save_plan(plan: Any, path: str | Path, *, settings: dict[str, Any] | None = None) -> Path:
    """Write ``plan`` as a plan of record (see the module docstring); returns the path.

    ``settings``: anything JSON-serialisable worth keeping beside the plan (e.g. the report settings).
    """
    from salesplan import __version__
    from salesplan.plan.schedule import lead_time_pmf

    view = plan.view
    keys = plan.volumes[["process", "segment", "stage"]].drop_duplicates().itertuples(index=False, name=None)
    lead = [{"process": p, "segment": g, "stage": s,
             "pmf": [float(v) for v in lead_time_pmf(view, p, s, durations=plan.durations, segment=g)]}
            for p, g, s in keys]
    doc = {
        "format": FORMAT, "version": VERSION, "salesplan": __version__,
        "created": pd.Timestamp.now(tz="UTC").isoformat(),
        "as_of": None if plan.as_of is None else pd.Timestamp(plan.as_of).isoformat(),
        "target_probability": float(plan.target_probability),
        "processes": {name: {"stages": list(proc.stages), "won": proc.won, "lost": proc.lost}
                      for name, proc in view.processes.items()},
        "segmented": bool(view.segmented),
        "settings": settings or {},
        "targets": _table(plan.targets), "volumes": _table(plan.volumes),
        "activity_ratios": _table(plan.activity_ratios), "rates": _table(view.rates), "win": _table(view.win),
        "lead_times": lead,
    }
    target = Path(path)
    if target.suffix.lower() != ".json":
        raise PlanInputError(f"{target}: a plan of record is written as .json")
    target.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")
    return target


def load_plan(path: str | Path) -> Any:
    """Read a plan of record written by :meth:`salesplan.plan.Plan.save`.

    Raises
    ------
    PlanInputError
        Not a plan file, a plan file of another format version, or a table or key missing (named).
    """
    from salesplan.plan._inputs import FunnelView
    from salesplan.plan.backward import Plan

    where = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanInputError(f"{where}: cannot read a plan of record ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PlanInputError(f"{where}: not a salesplan plan of record (key 'format' must be {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise PlanInputError(f"{where}: plan file version {doc.get('version')!r}; this salesplan reads version "
                             f"{VERSION} (save the plan again with this version)")
    for key in ("target_probability", "processes", "lead_times"):
        if key not in doc:
            raise PlanInputError(f"{where}: key {key!r} is missing")
    processes = {name: SalesProcess(name, tuple(spec["stages"]), won=spec.get("won", "won"),
                                    lost=spec.get("lost", "lost"))
                 for name, spec in doc["processes"].items()}
    lead = {(r["process"], r["segment"], r["stage"]): np.asarray(r["pmf"], dtype=float) for r in doc["lead_times"]}
    view = FunnelView(processes, _frame(doc, "rates", where), _frame(doc, "win", where),
                      segmented=bool(doc.get("segmented", False)), lead_times=lead)
    as_of = None if doc.get("as_of") is None else pd.Timestamp(doc["as_of"])
    record = {k: doc.get(k) for k in ("created", "salesplan", "settings")} | {"path": where}
    return Plan(_frame(doc, "targets", where), _frame(doc, "volumes", where), _frame(doc, "activity_ratios", where),
                float(doc["target_probability"]), view, None, as_of=as_of, record=record)
