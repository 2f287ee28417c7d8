"""Deal history: each deal's values as of any date, and how often they changed, from ``opportunity_history``.

``opportunity_history`` (a canonical table, see :mod:`salesplan.schema`) has one row per change of a deal with the
values *after* the change: ``opportunity_id, changed_at`` and any of ``expected_close, amount, forecast_category,
stage, owner, probability``. A missing value in a row means "not recorded in this row" (a Salesforce
OpportunityFieldHistory export records one field per row), so a deal's value of a column at a date is the last
*recorded* value of that column on or before the date. This is the one definition of "what a deal looked like
then": every past-dated figure (backtests, movement, the win-probability training rows) reads it here and never
today's amount, close date or owner.

Like every reduction it is written against narwhals: the table may be pandas, Polars, PyArrow, DuckDB or PySpark
and only summaries are collected (one row per deal and cut).

Definitions (per deal, counting the rows changed on or before the cut)

``changes``
    History rows of the deal.
``pushes`` / ``pulls``
    Rows whose ``expected_close`` is later / earlier than the deal's previous recorded ``expected_close``.
``days_pushed``
    Sum of the days the expected close moved later (pull-ins not subtracted).
``amount_up`` / ``amount_down``
    Rows whose ``amount`` is above / below the previous recorded amount.
``first_amount``
    The first recorded amount (so ``amount / first_amount`` is the change since creation).

Examples
--------
>>> import pandas as pd
>>> hist = pd.DataFrame({
...     "opportunity_id": ["a", "a", "a", "b"],
...     "changed_at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-01-15"]),
...     "amount": [100.0, None, 80.0, 50.0],
...     "expected_close": pd.to_datetime(["2024-02-15", "2024-03-31", None, "2024-02-01"])})
>>> v = deal_values(hist, dates=["2024-02-10", "2024-03-10"])
>>> v[["opportunity_id", "amount", "expected_close"]].astype(str).values.tolist()  # doctest: +NORMALIZE_WHITESPACE
[['a', '100.0', '2024-03-31'], ['b', '50.0', '2024-02-01'],
 ['a', '80.0', '2024-03-31'], ['b', '50.0', '2024-02-01']]
>>> c = history_changes(hist, dates=["2024-03-10"])
>>> c[["opportunity_id", "pushes", "days_pushed", "amount_down", "first_amount"]].values.tolist()
[['a', 1, 45.0, 1, 100.0], ['b', 0, 0.0, 0, 50.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import pandas as pd

from salesplan.errors import SchemaError
from salesplan.reduce.stages import _collect, _lazy

__all__ = ["deal_values", "history_changes", "VALUE_COLUMNS", "CHANGE_COLUMNS"]

_OPP = "opportunity_id"
_AT = "changed_at"
#: The value columns of ``opportunity_history`` that :func:`deal_values` reads when present.
VALUE_COLUMNS = ("expected_close", "amount", "forecast_category", "stage", "owner", "probability")
#: The counts of :func:`history_changes`.
CHANGE_COLUMNS = ("changes", "pushes", "pulls", "days_pushed", "amount_up", "amount_down", "first_amount")
_DAY_US = 86_400_000_000


def _history(history: Any, need: Sequence[str]) -> tuple[nw.LazyFrame, list[str]]:
    frame = _lazy(history, "opportunity_history")
    names = frame.collect_schema().names()
    missing = [c for c in need if c not in names]
    if missing:
        raise SchemaError.from_cases([{"table": "opportunity_history", "column": c, "check": "required", "key": "-",
                                       "value": f"missing column; table has {names[:12]}"} for c in missing])
    return frame.with_columns(nw.col(_OPP).cast(nw.String)), names


def _cuts(dates: Sequence[Any]) -> list[pd.Timestamp]:
    cuts = [pd.Timestamp(d) for d in dates]
    if not cuts:
        raise SchemaError("deal history: no dates given")
    return cuts


def deal_values(history: Any, *, dates: Sequence[Any], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Each deal's values as of each of ``dates``: per column, the last value recorded on or before the date.

    Parameters
    ----------
    history : DataFrame-like
        A validated ``opportunity_history`` table (``opportunity_id, changed_at`` unique), any engine.
    dates : sequence of date-like
        The cuts; rows changed after a cut are not known at it.
    columns : sequence of str, optional
        Value columns wanted (default every column of :data:`VALUE_COLUMNS` present).

    Returns
    -------
    DataFrame
        ``as_of, opportunity_id, last_changed_at`` and the value columns; one row per (cut, deal with a history
        row by then), sorted by cut and deal. A deal without a recorded value of a column by the cut has a
        missing value there (never its later or current value).

    Raises
    ------
    SchemaError
        ``opportunity_id``, ``changed_at`` or a requested column is missing.
    """
    wanted = list(columns) if columns is not None else None
    frame, names = _history(history, [_OPP, _AT, *(wanted or [])])
    cols = wanted if wanted is not None else [c for c in VALUE_COLUMNS if c in names]
    out = []
    for cut in _cuts(dates):
        known = frame.filter(nw.col(_AT) <= nw.lit(cut.to_pydatetime()))
        base = known.group_by(_OPP).agg(nw.col(_AT).max().alias("last_changed_at"))
        for c in cols:
            recorded = known.filter(~nw.col(c).is_null())
            last = recorded.group_by(_OPP).agg(nw.col(_AT).max().alias("_t"))
            value = recorded.join(last, left_on=[_OPP, _AT], right_on=[_OPP, "_t"], how="inner").select(_OPP, c)
            base = base.join(value, on=_OPP, how="left")
        part = _collect(base)
        part.insert(0, "as_of", cut)
        out.append(part)
    result = pd.concat(out, ignore_index=True)
    result = result[["as_of", _OPP, "last_changed_at", *cols]]
    return result.sort_values(["as_of", _OPP], kind="stable").reset_index(drop=True)


def history_changes(history: Any, *, dates: Sequence[Any]) -> pd.DataFrame:
    """How often each deal's expected close and amount changed up to each of ``dates`` (module docstring).

    Parameters
    ----------
    history : DataFrame-like
        A validated ``opportunity_history`` table, any engine; ``expected_close`` and ``amount`` are optional
        (their counts are 0 without them).
    dates : sequence of date-like
        The cuts.

    Returns
    -------
    DataFrame
        ``as_of, opportunity_id`` and :data:`CHANGE_COLUMNS`, one row per (cut, deal with a history row by then).

    Notes
    -----
    Method: per deal, ordered by ``changed_at``, each row's recorded value is compared with the previous recorded
    value of the same column (a window ``over`` the deal, evaluated in the engine); the flags are then summed per
    deal over the rows known at each cut.
    """
    frame, names = _history(history, [_OPP, _AT])
    flags = []
    for c in ("expected_close", "amount"):
        if c not in names:
            continue
        recorded = frame.filter(~nw.col(c).is_null()).select(_OPP, _AT, c)
        prev = nw.col(c).shift(1).over(_OPP, order_by=_AT)
        recorded = recorded.with_columns(_prev=prev)
        if c == "expected_close":
            shift_us = (nw.col(c) - nw.col("_prev")).dt.total_microseconds()
            recorded = recorded.with_columns(_shift=shift_us).select(
                _OPP, _AT,
                pushes=(nw.col("_shift") > 0).cast(nw.Int64).fill_null(0),
                pulls=(nw.col("_shift") < 0).cast(nw.Int64).fill_null(0),
                days_pushed=nw.when(nw.col("_shift") > 0).then(nw.col("_shift") / _DAY_US).otherwise(0.0)
                .fill_null(0.0))
        else:
            recorded = recorded.select(
                _OPP, _AT,
                amount_up=(nw.col(c) > nw.col("_prev")).cast(nw.Int64).fill_null(0),
                amount_down=(nw.col(c) < nw.col("_prev")).cast(nw.Int64).fill_null(0),
                _first_row=nw.col("_prev").is_null(), _amount=nw.col(c).cast(nw.Float64))
        flags.append(recorded)
    out = []
    for cut in _cuts(dates):
        lit = nw.lit(cut.to_pydatetime())
        base = frame.filter(nw.col(_AT) <= lit).group_by(_OPP).agg(nw.len().alias("changes"))
        for part in flags:
            known = part.filter(nw.col(_AT) <= lit)
            part_names = known.collect_schema().names()
            if "pushes" in part_names:
                agg = known.group_by(_OPP).agg(nw.col("pushes").sum(), nw.col("pulls").sum(),
                                               nw.col("days_pushed").sum())
            else:
                first = known.filter(nw.col("_first_row")).select(_OPP, first_amount=nw.col("_amount"))
                agg = known.group_by(_OPP).agg(nw.col("amount_up").sum(), nw.col("amount_down").sum()).join(
                    first, on=_OPP, how="left")
            base = base.join(agg, on=_OPP, how="left")
        part_frame = _collect(base)
        part_frame.insert(0, "as_of", cut)
        out.append(part_frame)
    result = pd.concat(out, ignore_index=True)
    for c in CHANGE_COLUMNS:
        if c not in result.columns:
            result[c] = 0 if c != "first_amount" else float("nan")
    for c in ("pushes", "pulls", "amount_up", "amount_down"):
        result[c] = result[c].fillna(0).astype("int64")
    result["days_pushed"] = result["days_pushed"].fillna(0.0).astype(float).round(6)
    result["first_amount"] = result["first_amount"].astype(float)
    result = result[["as_of", _OPP, *CHANGE_COLUMNS]]
    return result.sort_values(["as_of", _OPP], kind="stable").reset_index(drop=True)
