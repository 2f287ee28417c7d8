"""Per-customer reductions of raw orders: RFM/CLV summaries, distinct patterns, product ownership.

Every function here is written once against narwhals and runs unchanged on pandas, Polars (eager or lazy),
PyArrow and DuckDB relations (and other narwhals backends); only the small per-customer result is collected and
returned as pandas.

Definitions (Fader, Hardie & Lee 2005; the same as ``lifetimes.utils.summary_data_from_transaction_data``)
    Dates are cut to periods of the chosen unit (``"D"`` days, ``"W"`` Monday-Sunday weeks, ``"M"`` calendar
    months); all purchases of a customer within one period count as one purchase whose value is their sum.

    * ``frequency``: number of *repeat* purchase periods (distinct purchase periods minus one);
    * ``recency``: periods between the first and the last purchase period (0 for one-time buyers);
    * ``T``: periods between the first purchase period and the period of ``as_of`` (the customer's age);
    * ``monetary_value``: mean value of the repeat purchase periods (0 when ``frequency == 0``).

    ``recency`` and ``T`` are divided by ``period_length`` (e.g. ``period="D", period_length=7`` gives weeks
    measured to the day, as lifetimes' ``freq_multiplier``).

Returns
    Order lines with a negative amount (returns, credit notes: the ``is_return`` column that
    :func:`salesplan.validate` adds, else ``amount < 0``) never count as purchases; they are summed per customer
    in ``returns`` / ``n_returns``. Orders dated after ``as_of`` are ignored (logged). Customers whose only lines
    are returns have no first purchase; they are logged at WARNING and listed in ``result.attrs["dropped"]``.

Examples
--------
>>> import pandas as pd
>>> orders = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
...                        "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"]),
...                        "amount": [10.0, 5.0, 20.0, 7.0]})
>>> s = customer_summary(orders, as_of="2024-01-31")
>>> s[["frequency", "recency", "T", "monetary_value", "revenue"]].to_dict("index")
{'a': {'frequency': 1, 'recency': 10.0, 'T': 30.0, 'monetary_value': 20.0, 'revenue': 35.0}, 'b': {'frequency': 0, 'recency': 0.0, 'T': 26.0, 'monetary_value': 0.0, 'revenue': 7.0}}
>>> customer_patterns(orders, as_of="2024-01-31")
   frequency  recency     T  weight
0          0      0.0  26.0       1
1          1     10.0  30.0       1
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from salesplan.errors import SchemaError

__all__ = ["customer_summary", "customer_patterns", "holdout_purchases", "product_ownership", "PERIODS"]

logger = logging.getLogger(__name__)

#: Supported period units.
PERIODS = ("D", "W", "M")

_CUST, _P = "customer_id", "_period"


def _lazy(frame: Any, table: str = "orders") -> nw.LazyFrame:
    try:
        nw_frame = nw.from_native(frame)
    except TypeError as exc:
        raise SchemaError(
            f"{table}: expected a DataFrame (pandas, Polars, PyArrow, DuckDB), got {type(frame).__name__}"
        ) from exc
    return nw_frame.lazy() if isinstance(nw_frame, nw.DataFrame) else nw_frame


def _check_columns(lf: nw.LazyFrame, needed: dict[str, str], table: str = "orders") -> None:
    have = list(lf.collect_schema().names())
    missing = {role: col for role, col in needed.items() if col not in have}
    if missing:
        cases = pd.DataFrame({"table": table, "column": list(missing.values()), "check": "required", "key": "-",
                              "value": [f"{role} column missing; frame has {have[:12]}" for role in missing]})
        raise SchemaError.from_cases(cases)


def _period_expr(date_col: str, period: str) -> nw.Expr:
    """Integer period number of a date column (days since 1970-01-01, Monday weeks, or months)."""
    d = nw.col(date_col)
    year = d.dt.year()
    if period == "M":
        return year * 12 + d.dt.month() - 1
    days = (365 * (year - 1970) + (year - 1969) // 4 - (year - 1901) // 100 + (year - 1601) // 400
            + d.dt.ordinal_day() - 1)
    if period == "D":
        return days
    return (days + 3) // 7  # 1970-01-01 was a Thursday; weeks start on Monday as pandas' "W" periods


def _period_of(ts: pd.Timestamp, period: str) -> int:
    if period == "M":
        return ts.year * 12 + ts.month - 1
    days = (ts.normalize() - pd.Timestamp("1970-01-01")).days
    return days if period == "D" else (days + 3) // 7


def _check_period(period: str, period_length: float) -> None:
    if period not in PERIODS:
        raise SchemaError(f"period must be one of {PERIODS} (days, weeks, months), got {period!r}")
    if not (isinstance(period_length, int | float) and np.isfinite(period_length) and period_length > 0):
        raise SchemaError(f"period_length must be a positive number, got {period_length!r}")


def _resolve_as_of(lf: nw.LazyFrame, date_col: str, as_of: Any) -> pd.Timestamp:
    if as_of is not None:
        return pd.Timestamp(as_of)
    latest = lf.select(nw.col(date_col).max()).collect().to_pandas().iloc[0, 0]
    if pd.isna(latest):
        raise SchemaError("orders: no dated order lines; cannot infer as_of")
    return pd.Timestamp(latest)


def _prepared(orders: Any, customer_col: str, date_col: str, amount_col: str, as_of: Any,
              period: str) -> tuple[nw.LazyFrame, pd.Timestamp, list[str]]:
    lf = _lazy(orders)
    _check_columns(lf, {"customer": customer_col, "date": date_col, "amount": amount_col})
    names = list(lf.collect_schema().names())
    as_of_ts = _resolve_as_of(lf, date_col, as_of)
    cutoff = dt.datetime.combine((as_of_ts.normalize() + pd.Timedelta(days=1)).date(), dt.time())
    # keep every line up to the end of the as_of day
    late = lf.filter(nw.col(date_col) >= cutoff).select(nw.len()).collect().to_pandas().iloc[0, 0]
    if late:
        logger.warning("orders: %d line(s) dated after as_of=%s ignored", int(late), as_of_ts.date())
    is_ret = nw.col("is_return") if "is_return" in names else (nw.col(amount_col) < 0)
    lf = lf.filter(nw.col(date_col) < cutoff).with_columns(
        nw.col(customer_col).alias(_CUST), _period_expr(date_col, period).alias(_P),
        nw.col(amount_col).cast(nw.Float64).alias("_amount"), is_ret.alias("_ret"))
    return lf, as_of_ts, names


def _repeat_table(lf: nw.LazyFrame) -> nw.LazyFrame:
    """customer -> first/last purchase period, purchase periods, purchase total, first period value.

    Avoids a group-by on (customer, period), which is slow at high cardinality: distinct periods come from
    ``n_unique`` and the first period's value from a join of each customer's first period back to its lines.
    """
    purchases = lf.filter(~nw.col("_ret"))
    per_cust = purchases.group_by(_CUST).agg(
        nw.col(_P).min().alias("_first"), nw.col(_P).max().alias("_last"), nw.col(_P).n_unique().alias("_n_periods"),
        nw.col("_amount").sum().alias("_purchase_total"))
    first_value = (purchases.select(_CUST, _P, "_amount")
                   .join(per_cust.select(_CUST, "_first"), on=_CUST)
                   .filter(nw.col(_P) == nw.col("_first"))
                   .group_by(_CUST).agg(nw.col("_amount").sum().alias("_first_value")))
    return per_cust.join(first_value, on=_CUST, how="left")


def customer_summary(
    orders: Any,
    *,
    as_of: Any = None,
    period: str = "D",
    period_length: float = 1,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
    product_col: str | None = "product",
    margin_col: str | None = "margin",
) -> pd.DataFrame:
    """Per-customer frequency, recency, age, spend, revenue, returns, margin and product breadth.

    Parameters
    ----------
    orders : DataFrame
        Order lines in any narwhals-supported engine (validated orders, or raw with the column names given).
    as_of : date-like, optional
        The data cut (default: the latest order date). Its period is the end of every customer's age ``T``.
    period : {"D", "W", "M"}
        Period unit; see the module docstring for the definitions.
    period_length : float
        Divide recency and T by this (``period="D", period_length=7``: weeks measured to the day).
    customer_col, date_col, amount_col : str
        Column names.
    product_col, margin_col : str or None
        Optional columns; used when present (``n_products`` distinct products bought, ``margin`` summed).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted): ``frequency`` (int), ``recency``, ``T``, ``monetary_value``,
        ``revenue`` (sum of purchase lines), ``returns`` (sum of return lines, <= 0), ``n_returns``,
        ``net_revenue``, ``n_lines``, ``first_order``, ``last_order`` (purchases), ``margin`` and ``n_products``
        where the columns exist. ``attrs`` hold ``as_of``, ``period``, ``period_length`` and ``dropped``
        (customers with returns only).

    Raises
    ------
    SchemaError
        Missing columns, unknown period, or no dated lines.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["x", "x", "x"], "amount": [50.0, 30.0, -10.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-03-15", "2024-03-20"])})
    >>> s = customer_summary(o, as_of="2024-06-30", period="M")
    >>> s.loc["x", ["frequency", "recency", "T", "monetary_value", "returns", "n_returns"]].tolist()
    [1.0, 2.0, 5.0, 30.0, -10.0, 1.0]
    """
    _check_period(period, period_length)
    lf, as_of_ts, names = _prepared(orders, customer_col, date_col, amount_col, as_of, period)
    lf = lf.with_columns(nw.when(~nw.col("_ret")).then(nw.col("_amount")).otherwise(0.0).alias("_pos"),
                         nw.when(nw.col("_ret")).then(nw.col("_amount")).otherwise(0.0).alias("_neg"),
                         nw.col("_ret").cast(nw.Int64).alias("_nret"),
                         nw.when(~nw.col("_ret")).then(nw.col(date_col)).alias("_pdate"))
    aggs = [nw.col("_pos").sum().alias("revenue"), nw.col("_neg").sum().alias("returns"),
            nw.col("_nret").sum().alias("n_returns"), nw.len().alias("n_lines"),
            nw.col("_pdate").min().alias("first_order"), nw.col("_pdate").max().alias("last_order")]
    if margin_col and margin_col in names:
        lf = lf.with_columns(nw.col(margin_col).cast(nw.Float64).alias("_margin"))
        aggs.append(nw.col("_margin").sum().alias("margin"))
    out = lf.group_by(_CUST).agg(*aggs).join(_repeat_table(lf), on=_CUST, how="left")
    if product_col and product_col in names:
        products = lf.filter(~nw.col("_ret")).group_by(_CUST).agg(nw.col(product_col).n_unique().alias("n_products"))
        out = out.join(products, on=_CUST, how="left")
    out = out.collect().to_pandas()
    return _finish_summary(out, as_of_ts, period, period_length)


def _naive(values: pd.Series) -> pd.Series:
    """Naive datetime64[ns] in UTC (Spark TIMESTAMP columns come back zone-aware)."""
    values = pd.to_datetime(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]")


def _finish_summary(out: pd.DataFrame, as_of_ts: pd.Timestamp, period: str, period_length: float) -> pd.DataFrame:
    out[_CUST] = out[_CUST].astype(object)
    out = out.sort_values(_CUST, kind="stable").set_index(_CUST)
    dropped = out[out["_first"].isna()]
    if len(dropped):
        logger.warning("orders: %d customer(s) have only return lines and no purchase; left out of the summary "
                       "(see attrs['dropped']), e.g. %s", len(dropped), list(dropped.index[:5]))
    out = out[out["_first"].notna()].copy()
    end = _period_of(as_of_ts, period)
    first = out["_first"].astype("int64")
    freq = out["_n_periods"].astype("int64") - 1
    res = pd.DataFrame(index=out.index)
    res["frequency"] = freq
    res["recency"] = (out["_last"].astype("int64") - first) / period_length
    res["T"] = (end - first) / period_length
    repeat_total = out["_purchase_total"].astype(float) - out["_first_value"].astype(float)
    res["monetary_value"] = np.where(freq > 0, repeat_total / freq.clip(lower=1), 0.0)
    res["revenue"] = out["revenue"].astype(float)
    res["returns"] = out["returns"].astype(float)
    res["n_returns"] = out["n_returns"].astype("int64")
    res["net_revenue"] = res["revenue"] + res["returns"]
    res["n_lines"] = out["n_lines"].astype("int64")
    res["first_order"] = _naive(out["first_order"])
    res["last_order"] = _naive(out["last_order"])
    if "margin" in out:
        res["margin"] = out["margin"].astype(float)
    if "n_products" in out:
        res["n_products"] = out["n_products"].astype("int64")
    res.index.name = _CUST
    res.attrs.update(as_of=as_of_ts, period=period, period_length=period_length,
                     dropped=dropped[["revenue", "returns", "n_returns"]].astype(float))
    return res


def customer_patterns(
    orders: Any,
    *,
    as_of: Any = None,
    period: str = "D",
    period_length: float = 1,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """Distinct ``(frequency, recency, T)`` patterns with their customer counts, reduced inside the engine.

    This is the sufficient statistic of the BG/NBD likelihood: :meth:`salesplan.segment.BetaGeo.fit` accepts it
    with ``weights=result["weight"]``. Definitions as in :func:`customer_summary`.

    Returns
    -------
    pandas.DataFrame
        ``frequency`` (int), ``recency``, ``T``, ``weight`` (int, customers with that pattern), sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "b", "c"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"])})
    >>> customer_patterns(o, as_of="2024-01-10").to_dict("list")
    {'frequency': [0, 0], 'recency': [0.0, 0.0], 'T': [8.0, 9.0], 'weight': [1, 2]}
    """
    _check_period(period, period_length)
    lf, as_of_ts, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, period)
    end = _period_of(as_of_ts, period)
    rep = _repeat_table(lf)
    pat = (rep.select((nw.col("_n_periods") - 1).alias("frequency"), (nw.col("_last") - nw.col("_first"))
                      .alias("recency"), (end - nw.col("_first")).alias("T"))
           .group_by("frequency", "recency", "T").agg(nw.len().alias("weight")).collect().to_pandas())
    pat = pat.astype({"frequency": "int64", "recency": "int64", "T": "int64", "weight": "int64"})
    pat = pat.sort_values(["frequency", "recency", "T"], kind="stable").reset_index(drop=True)
    pat["recency"] = pat["recency"] / period_length
    pat["T"] = pat["T"] / period_length
    pat.attrs.update(as_of=as_of_ts, period=period, period_length=period_length)
    return pat


def holdout_purchases(
    orders: Any,
    *,
    calibration_end: Any,
    holdout_end: Any,
    period: str = "D",
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """Purchase periods and purchase value per customer in the holdout window ``(calibration_end, holdout_end]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``frequency_holdout`` (distinct purchase periods), ``revenue_holdout``.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> holdout_purchases(o, calibration_end="2024-01-15", holdout_end="2024-03-01").to_dict("list")
    {'frequency_holdout': [1], 'revenue_holdout': [5.0]}
    """
    _check_period(period, 1)
    lf, cal_ts, _ = _prepared(orders, customer_col, date_col, amount_col, holdout_end, period)
    start = dt.datetime.combine((pd.Timestamp(calibration_end).normalize() + pd.Timedelta(days=1)).date(), dt.time())
    out = (lf.filter(~nw.col("_ret") & (nw.col(date_col) >= start)).group_by(_CUST)
           .agg(nw.col(_P).n_unique().alias("frequency_holdout"), nw.col("_amount").sum().alias("revenue_holdout"))
           .collect().to_pandas())
    out[_CUST] = out[_CUST].astype(object)
    out = out.sort_values(_CUST, kind="stable").set_index(_CUST)
    return out.astype({"frequency_holdout": "int64", "revenue_holdout": float})


def product_ownership(
    orders: Any,
    *,
    as_of: Any = None,
    start: Any = None,
    product_col: str = "product",
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> pd.DataFrame:
    """Purchase value per customer and product for purchases in ``[start, as_of]`` (long format).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``product``, ``amount`` (sum of purchase lines), ``n_lines``, ``first_order``,
        ``last_order``;
        sorted by customer and product.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "product": ["P", "Q", "P"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> product_ownership(o)[["customer_id", "product", "amount"]].to_dict("list")
    {'customer_id': ['a', 'a', 'b'], 'product': ['P', 'Q', 'P'], 'amount': [1.0, 2.0, 3.0]}
    """
    lf, _, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, "D")
    _check_columns(lf, {"product": product_col})
    lf = lf.filter(~nw.col("_ret"))
    if start is not None:
        start_dt = dt.datetime.combine(pd.Timestamp(start).date(), dt.time())
        lf = lf.filter(nw.col(date_col) >= start_dt)
    out = (lf.group_by(_CUST, product_col).agg(nw.col("_amount").sum().alias("amount"), nw.len().alias("n_lines"),
                                                nw.col(date_col).min().alias("first_order"),
                                                nw.col(date_col).max().alias("last_order"))
           .collect().to_pandas().rename(columns={product_col: "product"}))
    out[_CUST] = out[_CUST].astype(object)
    out["product"] = out["product"].astype(object)
    for col in ("first_order", "last_order"):
        out[col] = _naive(out[col])
    out = out.astype({"amount": float, "n_lines": "int64"})
    return out.sort_values([_CUST, "product"], kind="stable").reset_index(drop=True)
