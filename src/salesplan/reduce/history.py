"""Deal history: each deal's values as of any date, how often they changed, and its snapshot at past dates.

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

__all__ = ["deal_values", "history_changes", "activity_recency", "deal_snapshots", "opportunities_as_of",
           "VALUE_COLUMNS", "CHANGE_COLUMNS"]

_OPP = "opportunity_id"
_AT = "changed_at"
#: The value columns of ``opportunity_history`` that :func:`deal_values` reads when present.
VALUE_COLUMNS = ("expected_close", "amount", "forecast_category", "stage", "owner", "probability")
#: The counts of :func:`history_changes`.
CHANGE_COLUMNS = ("changes", "pushes", "pulls", "days_pushed", "amount_up", "amount_down", "first_amount")
_DAY_US = 86_400_000_000


def _fast(native: Any) -> Any:
    """A pandas table as a Polars LazyFrame when Polars is installed (group-bys on strings are much faster);
    other engines unchanged."""
    if isinstance(native, pd.DataFrame):
        try:
            import polars as pl
        except ImportError:  # pragma: no cover - polars is an optional extra
            return native
        return pl.from_pandas(native).lazy()
    return native


def _history(history: Any, need: Sequence[str]) -> tuple[nw.LazyFrame, list[str]]:
    frame = _lazy(_fast(history), "opportunity_history")
    names = frame.collect_schema().names()
    missing = [c for c in need if c not in names]
    if missing:
        raise SchemaError.from_cases([{"table": "opportunity_history", "column": c, "check": "required", "key": "-",
                                       "value": f"missing column; table has {names[:12]}"} for c in missing])
    return frame.with_columns(nw.col(_OPP).cast(nw.String)), names


def _cuts(dates: Sequence[Any]) -> list[pd.Timestamp]:
    cuts = sorted({pd.Timestamp(d) for d in dates})
    if not cuts:
        raise SchemaError("deal history: no dates given")
    return cuts


def _stacked(frame: nw.LazyFrame, column: str, cuts: Sequence[pd.Timestamp]) -> nw.LazyFrame:
    """The rows known at each cut (``column <= cut``), stacked with the cut in ``as_of``: one query for all cuts."""
    parts = [frame.filter(nw.col(column) <= nw.lit(cut.to_pydatetime())).with_columns(
        as_of=nw.lit(cut.to_pydatetime()).cast(nw.Datetime("us"))) for cut in cuts]
    return nw.concat(parts, how="vertical")


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[ns]")
    return frame.sort_values(["as_of", _OPP], kind="stable").reset_index(drop=True)


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
    known = _stacked(frame.select(_OPP, _AT, *cols), _AT, _cuts(dates))
    keys = ["as_of", _OPP]
    base = known.group_by(*keys).agg(nw.col(_AT).max().alias("last_changed_at"))
    for c in cols:
        recorded = known.filter(~nw.col(c).is_null())
        last = recorded.group_by(*keys).agg(nw.col(_AT).max().alias("_t"))
        value = recorded.join(last, left_on=[*keys, _AT], right_on=[*keys, "_t"], how="inner").select(*keys, c)
        base = base.join(value, on=keys, how="left")
    result = _collect(base)
    return _finish(result[[*keys, "last_changed_at", *cols]])


def _as_of_lazy(known: Any, history: Any, cut: pd.Timestamp) -> Any:
    """:func:`opportunities_as_of` inside the opportunities' engine: per column, the last value recorded by
    ``cut`` joined on the deal, today's value where none (``coalesce``); the same columns in the same order."""
    from salesplan.engines import engine_of, to_engine

    engine = engine_of(known, "opportunities")
    if isinstance(history, pd.DataFrame):  # a pandas history (the report reads it so) joins in the deals' engine
        history = to_engine(history, "polars-lazy" if engine == "polars" else engine)
    opps = nw.from_native(known)
    lazy = opps if isinstance(opps, nw.LazyFrame) else opps.lazy()
    schema = lazy.collect_schema()
    hist, names = _history(history, [_OPP, _AT])
    cols = [c for c in AS_OF_COLUMNS if c in names and c in schema]
    if not cols:
        return known
    upto = hist.filter(nw.col(_AT) <= nw.lit(cut.to_pydatetime()))
    out = lazy
    for c in cols:
        recorded = upto.filter(~nw.col(c).is_null()).select(_OPP, _AT, c)
        last = recorded.group_by(_OPP).agg(nw.col(_AT).max().alias("_t"))
        then = recorded.join(last, left_on=[_OPP, _AT], right_on=[_OPP, "_t"], how="inner").select(
            nw.col(_OPP).alias("_then_id"), nw.col(c).cast(schema[c]).alias(f"_then_{c}"))
        out = out.with_columns(nw.col(_OPP).cast(nw.String).alias("_id")).join(
            then, left_on="_id", right_on="_then_id", how="left")
        out = out.with_columns(nw.coalesce(nw.col(f"_then_{c}"), nw.col(c)).alias(c)).select(*schema.names())
    return nw.to_native(out)


#: The opportunity columns that :func:`opportunities_as_of` reads from the history.
AS_OF_COLUMNS = ("amount", "expected_close", "owner")


def opportunities_as_of(opportunities: Any, history: Any, as_of: Any) -> Any:
    """The opportunities with ``amount``, ``expected_close`` and ``owner`` as they were known at ``as_of``.

    Each value is the deal's last value recorded in ``history`` on or before ``as_of`` (:func:`deal_values`);
    today's value stands only for a deal whose history records no value of that column by then (a deal without
    history rows, or a field the export does not carry), and that is logged. Only opportunities created by
    ``as_of`` are kept (as :func:`salesplan.reduce.states.known_by` does).

    Parameters
    ----------
    opportunities : DataFrame-like
        A validated opportunities table, any engine: a pandas frame comes back as pandas; a lazy frame of another
        engine (DuckDB relation, Polars, Spark) comes back as a native lazy frame of that engine, the values
        joined in the engine (no row collected; the count of deals whose current value stands is not logged).
    history : DataFrame-like or None
        A validated ``opportunity_history`` table, any engine; None returns the opportunities unchanged.
    as_of : date-like
        The cut.

    Returns
    -------
    DataFrame
        A new frame; the input is not changed.

    Examples
    --------
    >>> opps = pd.DataFrame({"opportunity_id": ["a"], "created_at": pd.to_datetime(["2024-01-01"]),
    ...                      "amount": [80.0], "owner": ["ann"]})
    >>> hist = pd.DataFrame({"opportunity_id": ["a", "a"], "changed_at": pd.to_datetime(["2024-01-01", "2024-03-01"]),
    ...                      "amount": [100.0, 80.0], "owner": ["bob", "ann"]})
    >>> opportunities_as_of(opps, hist, "2024-02-01")[["amount", "owner"]].values.tolist()
    [[100.0, 'bob']]
    """
    from salesplan.parse import to_naive_utc
    from salesplan.reduce.states import known_by

    cut = to_naive_utc(as_of)
    known = known_by(opportunities, "created_at", cut)
    if history is None:
        return known
    if not isinstance(known, pd.DataFrame):
        return _as_of_lazy(known, history, cut)
    names = _history(history, [_OPP, _AT])[1]
    cols = [c for c in AS_OF_COLUMNS if c in names and c in known.columns]
    if not cols or known.empty:
        return known
    values = deal_values(history, dates=[cut], columns=cols).set_index(_OPP)
    out = known.copy()
    ids = out[_OPP].astype(str)
    for c in cols:
        then = ids.map(values[c]) if len(values) else pd.Series(index=out.index, dtype=object)
        missing = then.isna() & out[c].notna()
        if missing.any():
            import logging

            logging.getLogger(__name__).info("opportunities_as_of %s: %d deal(s) have no %s recorded by then; "
                                             "their current value stands", cut.date(), int(missing.sum()), c)
        out[c] = then.where(~missing, out[c]).astype(out[c].dtype) if c != "owner" else \
            then.where(~missing, out[c])
    return out


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
    cuts = _cuts(dates)
    keys = ["as_of", _OPP]
    base = _stacked(frame.select(_OPP, _AT), _AT, cuts).group_by(*keys).agg(nw.len().alias("changes"))
    for c in ("expected_close", "amount"):
        if c not in names:
            continue
        recorded = frame.filter(~nw.col(c).is_null()).select(_OPP, _AT, c)
        recorded = recorded.with_columns(_prev=nw.col(c).shift(1).over(_OPP, order_by=_AT))
        if c == "expected_close":
            shift_us = (nw.col(c) - nw.col("_prev")).dt.total_microseconds()
            flags = recorded.with_columns(_shift=shift_us).select(
                _OPP, _AT,
                _push=(nw.col("_shift") > 0).cast(nw.Int64).fill_null(0),
                _pull=(nw.col("_shift") < 0).cast(nw.Int64).fill_null(0),
                _days=nw.when(nw.col("_shift") > 0).then(nw.col("_shift") / _DAY_US).otherwise(0.0).fill_null(0.0))
            agg = _stacked(flags, _AT, cuts).group_by(*keys).agg(
                nw.col("_push").sum().alias("pushes"), nw.col("_pull").sum().alias("pulls"),
                nw.col("_days").sum().alias("days_pushed"))
        else:
            flags = recorded.select(
                _OPP, _AT,
                _up=(nw.col(c) > nw.col("_prev")).cast(nw.Int64).fill_null(0),
                _down=(nw.col(c) < nw.col("_prev")).cast(nw.Int64).fill_null(0),
                _first=nw.when(nw.col("_prev").is_null()).then(nw.col(c).cast(nw.Float64)).otherwise(None))
            agg = _stacked(flags, _AT, cuts).group_by(*keys).agg(
                nw.col("_up").sum().alias("amount_up"), nw.col("_down").sum().alias("amount_down"),
                nw.col("_first").max().alias("first_amount"))
        base = base.join(agg, on=keys, how="left")
    result = _collect(base)
    for c in CHANGE_COLUMNS:
        if c not in result.columns:
            result[c] = 0 if c != "first_amount" else float("nan")
    for c in ("changes", "pushes", "pulls", "amount_up", "amount_down"):
        result[c] = result[c].fillna(0).astype("int64")
    result["days_pushed"] = result["days_pushed"].fillna(0.0).astype(float).round(6)
    result["first_amount"] = result["first_amount"].astype(float)
    return _finish(result[[*keys, *CHANGE_COLUMNS]])


def activity_recency(activities: Any, *, dates: Sequence[Any]) -> pd.DataFrame:
    """Per deal and cut: when its last activity happened and how many it had, counting activities on or before
    the cut only.

    Parameters
    ----------
    activities : DataFrame-like
        ``date, opportunity_id`` (activities without a deal are ignored), any engine.
    dates : sequence of date-like

    Returns
    -------
    DataFrame
        ``as_of, opportunity_id, last_activity_at, activities``.

    Examples
    --------
    >>> acts = pd.DataFrame({"kind": "calls", "opportunity_id": ["a", "a", None],
    ...                      "date": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-01-05"])})
    >>> activity_recency(acts, dates=["2024-01-31"])[["opportunity_id", "activities"]].values.tolist()
    [['a', 1]]
    """
    frame = _lazy(_fast(activities), "activities")
    names = frame.collect_schema().names()
    missing = [c for c in ("date", _OPP) if c not in names]
    if missing:
        raise SchemaError.from_cases([{"table": "activities", "column": c, "check": "required", "key": "-",
                                       "value": "missing column"} for c in missing])
    frame = frame.filter(~nw.col(_OPP).is_null()).select(nw.col(_OPP).cast(nw.String), "date")
    result = _collect(_stacked(frame, "date", _cuts(dates)).group_by("as_of", _OPP).agg(
        nw.col("date").max().alias("last_activity_at"), nw.len().alias("activities")))
    result["activities"] = result["activities"].astype("int64")
    return _finish(result[["as_of", _OPP, "last_activity_at", "activities"]])


def deal_snapshots(
    stage_events: Any,
    processes: Any,
    opportunities: Any,
    *,
    dates: Sequence[Any],
    history: Any = None,
    activities: Any = None,
    customers: Any = None,
    opportunity_columns: Sequence[str] = ("segment",),
    customer_columns: Sequence[str] = ("industry", "region", "size"),
) -> pd.DataFrame:
    """Every deal open at each of ``dates`` as it looked then: state, values, changes, activity and account.

    Parameters
    ----------
    stage_events, processes, opportunities
        As for :func:`salesplan.reduce.states.deal_states` (any engine).
    dates : sequence of date-like
        The cuts.
    history : DataFrame-like, optional
        ``opportunity_history``: ``amount, expected_close, owner, forecast_category`` and the change counts are
        read as of each cut. Without it the opportunities' current values are used (look-ahead for past cuts:
        logged at WARNING) and the change counts are missing.
    activities : DataFrame-like, optional
        For ``days_since_activity`` and ``activities``.
    customers : DataFrame-like, optional
        Account attributes ``customer_columns`` (those present), joined on ``customer_id``.
    opportunity_columns, customer_columns : sequence of str
        Static attributes carried (when present).

    Returns
    -------
    DataFrame
        One row per (cut, deal open at it): the :data:`~salesplan.reduce.states.STATE_COLUMNS`, the attributes,
        ``amount, expected_close, owner, forecast_category`` as of the cut, :data:`CHANGE_COLUMNS`,
        ``last_activity_at, activities`` and ``values_from`` (``"history"`` or ``"current"``).

    Examples
    --------
    >>> from salesplan import SalesProcess
    >>> opps = pd.DataFrame({"opportunity_id": ["a"], "process": "p", "amount": [999.0],
    ...                      "created_at": pd.to_datetime(["2024-01-01"])})
    >>> ev = pd.DataFrame({"opportunity_id": ["a"], "stage": ["lead"], "entered_at": pd.to_datetime(["2024-01-01"])})
    >>> hist = pd.DataFrame({"opportunity_id": ["a", "a"], "changed_at": pd.to_datetime(["2024-01-01", "2024-03-01"]),
    ...                      "amount": [100.0, 999.0]})
    >>> snap = deal_snapshots(ev, SalesProcess("p", ["lead", "offer"]), opps, dates=["2024-02-01"], history=hist)
    >>> snap[["opportunity_id", "work_stage", "amount", "values_from"]].values.tolist()  # the amount known then
    [['a', 'lead', 100.0, 'history']]
    """
    import logging

    from salesplan.reduce.states import deal_states

    opp_names = _lazy(opportunities, "opportunities").collect_schema().names()
    static = [c for c in ("customer_id", *opportunity_columns) if c in opp_names]
    current = [c for c in ("amount", "expected_close", "owner") if c in opp_names]
    states = deal_states(stage_events, processes, opportunities, dates=dates,
                         attributes=("created_at", *static, *([] if history is not None else current)),
                         status=["open"])
    keys = ["as_of", _OPP]
    if history is not None:
        hist_names = _lazy(history, "opportunity_history").collect_schema().names()
        wanted = [c for c in ("amount", "expected_close", "owner", "forecast_category") if c in hist_names]
        values = deal_values(history, dates=dates, columns=wanted).drop(columns="last_changed_at")
        states = states.merge(values, on=keys, how="left").merge(history_changes(history, dates=dates), on=keys,
                                                                 how="left")
        states["values_from"] = "history"
    else:
        logging.getLogger(__name__).warning(
            "deal_snapshots: no opportunity_history; today's amount, expected close and owner stand for their "
            "past values (look-ahead)")
        for c in CHANGE_COLUMNS:
            states[c] = float("nan")
        states["values_from"] = "current"
    if activities is not None:
        states = states.merge(activity_recency(activities, dates=dates), on=keys, how="left")
        states["activities"] = states["activities"].fillna(0).astype("int64")
    if customers is not None and "customer_id" in states.columns:
        cust = _lazy(customers, "customers")
        cols = [c for c in customer_columns if c in cust.collect_schema().names() and c not in states.columns]
        if cols:
            table = _collect(cust.select(nw.col("customer_id").cast(nw.String), *cols))
            states = states.merge(table.drop_duplicates("customer_id"), on="customer_id", how="left")
    return states
