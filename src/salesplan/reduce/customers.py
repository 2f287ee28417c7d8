"""Per-customer reductions of raw orders: RFM/CLV summaries, distinct patterns, product ownership.

Every function here is written once against narwhals and runs unchanged on pandas, Polars (eager or lazy),
PyArrow and DuckDB relations (and other narwhals backends); only the small per-customer result is collected and
returned as pandas.

Definitions (Fader, Hardie & Lee 2005; the same as ``lifetimes.utils.summary_data_from_transaction_data``)
    Dates are cut to periods of the chosen ``time_unit`` (``"D"`` days, ``"W"`` Monday-Sunday weeks, ``"M"`` calendar
    months); all purchases of a customer within one period count as one purchase whose value is their sum.

    * ``frequency``: number of *repeat* purchase periods (distinct purchase periods minus one);
    * ``recency``: periods between the first and the last purchase period (0 for one-time buyers);
    * ``T``: periods between the first purchase period and the period of ``as_of`` (the customer's age);
    * ``monetary_value``: mean value of the repeat purchase periods (0 when ``frequency == 0``).

    ``recency`` and ``T`` are divided by ``period_length`` (e.g. ``time_unit="D", period_length=7`` gives weeks
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
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from salesplan._validation import check_choice, check_positive, column_names
from salesplan.errors import ParameterError, SchemaError
from salesplan.parse import to_naive_utc

__all__ = ["customer_summary", "rfm_summary", "clv_summary", "customer_patterns", "holdout_purchases",
           "product_ownership", "purchase_span", "period_index", "PERIODS"]

logger = logging.getLogger(__name__)

#: Supported time units (``time_unit``).
PERIODS = ("D", "W", "M")

_CUST, _P = "customer_id", "_period"



def _significant(values: Any, digits: int = 12) -> np.ndarray:
    """Values rounded to ``digits`` significant digits (zeros and non-finite values kept as they are)."""
    x = np.asarray(values, dtype=float)
    # only normal magnitudes are rounded: a scale beyond 1e300 would overflow (subnormal sums stay as they are)
    usable = np.isfinite(x) & (np.abs(x) > 1e-280) & (np.abs(x) < 1e280)
    safe = np.where(usable, x, 1.0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(safe))))
    return np.where(usable, np.round(safe * scale) / scale, x)

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


def _period_expr(date_col: str, period: str, epoch_days: bool = False) -> nw.Expr:
    """Integer period number of a date column (days since 1970-01-01, Monday weeks, or months).

    ``epoch_days=True`` (zone-naive datetimes on engines with ``dt.timestamp``) takes the day number from the
    epoch microseconds, which is several times cheaper than the calendar arithmetic used otherwise.
    """
    d = nw.col(date_col)
    if period == "M":
        return d.dt.year() * 12 + d.dt.month() - 1
    if epoch_days:
        days = d.dt.timestamp("us") // 86_400_000_000
    else:
        year = d.dt.year()
        days = (365 * (year - 1970) + (year - 1969) // 4 - (year - 1901) // 100 + (year - 1601) // 400
                + d.dt.ordinal_day() - 1)
    if period == "D":
        return days
    return (days + 3) // 7  # 1970-01-01 was a Thursday; weeks start on Monday as pandas' "W" periods


def period_index(ts: pd.Timestamp, time_unit: str) -> int:
    """The integer index of the ``time_unit`` period (``"D"``, ``"W"``, ``"M"``) that holds ``ts``.

    Differences of two indices count whole periods, as ``recency`` and ``T`` do.

    Examples
    --------
    >>> period_index(pd.Timestamp("2024-03-15"), "M") - period_index(pd.Timestamp("2024-01-31"), "M")
    2
    """
    if time_unit == "M":
        return ts.year * 12 + ts.month - 1
    days = (ts.normalize() - pd.Timestamp("1970-01-01")).days
    return days if time_unit == "D" else (days + 3) // 7


def _check_period(period: str, period_length: float) -> None:
    check_choice(period, "time_unit", PERIODS)
    check_positive(period_length, "period_length")
    if not np.isfinite(period_length):
        raise ParameterError(f"period_length must be a positive number, got {period_length!r}")


def _order_columns(columns: Any) -> tuple[str, str, str, str, str]:
    """The order columns ``customer_id, order_date, amount, product, margin`` under the user's names."""
    names = column_names(columns, ("customer_id", "order_date", "amount", "product", "margin"))
    return (names["customer_id"], names["order_date"], names["amount"], names["product"], names["margin"])


def _resolve_as_of(lf: nw.LazyFrame, date_col: str, as_of: Any) -> pd.Timestamp:
    if as_of is not None:
        return to_naive_utc(as_of)
    latest = lf.select(nw.col(date_col).max()).collect().to_pandas().iloc[0, 0]
    if pd.isna(latest):
        raise SchemaError("orders: no dated order lines; cannot infer as_of")
    return pd.Timestamp(latest)


def _prepared(orders: Any, customer_col: str, date_col: str, amount_col: str, as_of: Any,
              period: str, warn_late: bool = True) -> tuple[nw.LazyFrame, pd.Timestamp, list[str]]:
    lf = _lazy(orders)
    _check_columns(lf, {"customer": customer_col, "date": date_col, "amount": amount_col})
    names = list(lf.collect_schema().names())
    as_of_ts = _resolve_as_of(lf, date_col, as_of)
    cutoff = dt.datetime.combine((as_of_ts.normalize() + pd.Timedelta(days=1)).date(), dt.time())
    # keep every line up to the end of the as_of day
    late = lf.filter(nw.col(date_col) >= cutoff).select(nw.len()).collect().to_pandas().iloc[0, 0] \
        if warn_late else 0
    if late:
        logger.warning("orders: %d line(s) dated after as_of=%s ignored", int(late), as_of_ts.date())
    is_ret = nw.col("is_return") if "is_return" in names else (nw.col(amount_col) < 0)
    dtype = lf.collect_schema()[date_col]
    naive = isinstance(dtype, nw.Datetime) and dtype.time_zone is None
    epoch_days = ((lf.implementation is nw.Implementation.POLARS and (naive or isinstance(dtype, nw.Date)))
                  or (lf.implementation is nw.Implementation.PANDAS and naive))
    lf = lf.filter(nw.col(date_col) < cutoff).with_columns(
        nw.col(customer_col).alias(_CUST), _period_expr(date_col, period, epoch_days).cast(nw.Int32).alias(_P),
        nw.col(amount_col).cast(nw.Float64).alias("_amount"), is_ret.alias("_ret"))
    return lf, as_of_ts, names


#: Stands in for the period of return lines, so that one null-free ``n_unique`` counts purchase periods.
#: Periods are Int32 (hashing them per customer is the dominant cost; days since 1970 fit for any real date).
_NO_PERIOD = -(2**31) + 1


def _period_table(lf: nw.LazyFrame) -> nw.LazyFrame:
    """customer -> first/last purchase period and number of distinct purchase periods (purchases only)."""
    return lf.filter(~nw.col("_ret")).group_by(_CUST).agg(
        nw.col(_P).min().alias("_first"), nw.col(_P).max().alias("_last"), nw.col(_P).n_unique().alias("_n_periods"))


def _summary_table(lf: nw.LazyFrame, date_col: str, with_margin: bool) -> nw.LazyFrame:
    """Everything :func:`customer_summary` needs from the order lines in one group-by per customer.

    Avoids a group-by on (customer, period), which is slow at high cardinality, and any join back to the lines:
    the first purchase period comes from a window minimum, so the value of that period is a plain conditional
    sum; distinct purchase periods are ``n_unique`` of the period with every other line mapped to one sentinel
    (subtracted again for customers that have such lines), which treats nulls identically on every engine.
    """
    purchase = ~nw.col("_ret")
    lf = lf.with_columns(
        nw.when(purchase).then(nw.col("_amount")).otherwise(0.0).alias("_pos"),
        nw.when(nw.col("_ret")).then(nw.col("_amount")).otherwise(0.0).alias("_neg"),
        nw.col("_ret").cast(nw.Int64).alias("_nret"),
        nw.when(purchase).then(nw.col(date_col)).alias("_pdate"),
        nw.when(purchase).then(nw.col(_P)).alias("_pp"),
        nw.when(purchase).then(nw.col(_P)).otherwise(nw.lit(_NO_PERIOD, nw.Int32)).alias("_pk"),
        nw.when(purchase).then(0).otherwise(1).cast(nw.Int8).alias("_other"),
    ).with_columns(nw.col("_pp").min().over(_CUST).alias("_pfirst"))
    lf = lf.with_columns(
        nw.when(nw.col("_pp") == nw.col("_pfirst")).then(nw.col("_amount")).otherwise(0.0).alias("_fv"))
    aggs = [nw.col("_pos").sum().alias("revenue"), nw.col("_neg").sum().alias("returns"),
            nw.col("_nret").sum().alias("n_returns"), nw.len().alias("n_lines"),
            nw.col("_pdate").min().alias("first_order"), nw.col("_pdate").max().alias("last_order"),
            nw.col("_pp").min().alias("_first"), nw.col("_pp").max().alias("_last"),
            nw.col("_pk").n_unique().alias("_n_keys"), nw.col("_other").max().alias("_has_other"),
            nw.col("_fv").sum().alias("_first_value")]
    if with_margin:
        aggs.append(nw.col("_margin").sum().alias("margin"))
    return lf.group_by(_CUST).agg(*aggs)


def customer_summary(
    orders: Any,
    *,
    as_of: Any = None,
    time_unit: str = "D",
    period_length: float = 1,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per-customer frequency, recency, age, spend, revenue, returns, margin and product breadth.

    Parameters
    ----------
    orders : DataFrame
        Order lines in any narwhals-supported engine (validated orders, or raw with the column names given).
    as_of : date-like, optional
        The data cut (default: the latest order date). Its period is the end of every customer's age ``T``.
    time_unit : {"D", "W", "M"}
        Period unit; see the module docstring for the definitions.
    period_length : float
        Divide recency and T by this (``time_unit="D", period_length=7``: weeks measured to the day).
    columns : mapping, optional
        ``{"their name": "canonical name"}`` for the columns ``customer_id``, ``order_date``, ``amount``,
        ``product`` and ``margin`` when the orders use other names. The optional ``product`` and ``margin``
        are used when present (``n_products`` distinct products bought, ``margin`` summed).

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
    >>> s = customer_summary(o, as_of="2024-06-30", time_unit="M")
    >>> s.loc["x", ["frequency", "recency", "T", "monetary_value", "returns", "n_returns"]].tolist()
    [1.0, 2.0, 5.0, 30.0, -10.0, 1.0]
    """
    customer_col, date_col, amount_col, product_col, margin_col = _order_columns(columns)
    period = time_unit
    _check_period(period, period_length)
    lf, as_of_ts, names = _prepared(orders, customer_col, date_col, amount_col, as_of, period)
    with_margin = bool(margin_col and margin_col in names)
    if with_margin:
        lf = lf.with_columns(nw.col(margin_col).cast(nw.Float64).alias("_margin"))
    out = _summary_table(lf, date_col, with_margin)
    if product_col and product_col in names:
        products = lf.filter(~nw.col("_ret")).group_by(_CUST).agg(nw.col(product_col).n_unique().alias("n_products"))
        out = out.join(products, on=_CUST, how="left")
    # sorted in the engine (cheap there); _finish_summary only re-sorts if pandas disagrees with the order
    out = _to_pandas(out.sort(_CUST, nulls_last=True).collect())
    return _finish_summary(out, as_of_ts, period, period_length)


def purchase_span(orders: Any, *, as_of: Any = None,
                  columns: Mapping[str, str] | None = None) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """The data cut and the first purchase on or before it, from the engine (one small query each).

    ``as_of`` defaults to the latest order date, as in :func:`customer_summary`; the first purchase is the
    earliest purchase line (returns left out) up to the end of the ``as_of`` day, so it equals the smallest
    ``first_order`` of :func:`customer_summary` at the same cut (None when there is no purchase).

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [-5.0, 10.0, 20.0],
    ...                   "order_date": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-03-01"])})
    >>> [str(t.date()) for t in purchase_span(o)]
    ['2024-03-01', '2024-01-05']
    """
    customer_col, date_col, amount_col, _, _ = _order_columns(columns)
    lf, as_of_ts, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, "D", warn_late=False)
    first = lf.filter(~nw.col("_ret")).select(nw.col(date_col).min()).collect().to_pandas().iloc[0, 0]
    return as_of_ts, None if pd.isna(first) else _naive(pd.Series([first])).iloc[0]


def _to_pandas(frame: nw.DataFrame) -> pd.DataFrame:
    """A collected per-customer result as pandas; Polars goes column by column through numpy (cheaper)."""
    if frame.implementation is nw.Implementation.POLARS:
        native = frame.to_native()
        return pd.DataFrame({name: native.get_column(name).to_numpy() for name in native.columns})
    return frame.to_pandas()


def _naive(values: pd.Series) -> pd.Series:
    """Naive datetime64[ns] in UTC (Spark TIMESTAMP columns come back zone-aware)."""
    return to_naive_utc(pd.to_datetime(values))


def _finish_summary(out: pd.DataFrame, as_of_ts: pd.Timestamp, period: str, period_length: float) -> pd.DataFrame:
    out[_CUST] = out[_CUST].astype(object)
    if not out[_CUST].is_monotonic_increasing:
        out = out.sort_values(_CUST, kind="stable")
    out = out.set_index(_CUST)
    has_first = out["_first"].notna().to_numpy()
    dropped = out[~has_first]
    if len(dropped):
        logger.warning("orders: %d customer(s) have only return lines and no purchase; left out of the summary "
                       "(see attrs['dropped']), e.g. %s", len(dropped), list(dropped.index[:5]))
        out = out[has_first]
    end = period_index(as_of_ts, period)
    first = out["_first"].to_numpy().astype("int64")
    freq = out["_n_keys"].to_numpy().astype("int64") - out["_has_other"].to_numpy().astype("int64") - 1
    # engine sums rounded to 12 significant digits: parallel group-bys add in varying order, and the last bits
    # must not change the fitted models (a customer-value fit on sums differing in the 16th digit can stop
    # elsewhere); relative, so that small amounts keep their digits
    revenue = _significant(out["revenue"])
    res = pd.DataFrame(index=out.index)
    res["frequency"] = freq
    res["recency"] = (out["_last"].to_numpy().astype("int64") - first) / period_length
    res["T"] = (end - first) / period_length
    repeat_total = revenue - _significant(out["_first_value"])
    res["monetary_value"] = np.where(freq > 0, repeat_total / np.maximum(freq, 1), 0.0)
    res["revenue"] = revenue
    res["returns"] = _significant(out["returns"])
    res["n_returns"] = out["n_returns"].astype("int64")
    res["net_revenue"] = res["revenue"] + res["returns"]
    res["n_lines"] = out["n_lines"].astype("int64")
    res["first_order"] = _naive(out["first_order"])
    res["last_order"] = _naive(out["last_order"])
    if "margin" in out:
        res["margin"] = _significant(out["margin"])
    if "n_products" in out:
        res["n_products"] = out["n_products"].astype("int64")
    res.index.name = _CUST
    res.attrs.update(as_of=as_of_ts, period=period, period_length=period_length,
                     dropped=dropped[["revenue", "returns", "n_returns"]].astype(float))
    return res


def rfm_summary(
    orders: Any,
    *,
    as_of: Any = None,
    time_unit: str = "D",
    period_length: float = 1,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Light per-customer recency, frequency and revenue for RFM and ABC: one group-by over the purchase lines.

    The values equal the same columns of :func:`customer_summary` (same definitions, periods and ``as_of``
    handling), but only what RFM scoring needs is computed, so it is several times cheaper on large order tables.
    Customers whose lines are all returns are not listed (:func:`customer_summary` reports them in
    ``attrs["dropped"]``).

    Parameters
    ----------
    orders : DataFrame
        Order lines in any narwhals-supported engine.
    as_of : date-like, optional
        The data cut (default: the latest order date).
    time_unit : {"D", "W", "M"}
        Period unit.
    period_length : float
        Divide ``recency``, ``T`` and ``days_since_last`` by this.
    columns : mapping, optional
        ``{"their name": "canonical name"}`` for the columns ``customer_id``, ``order_date``, ``amount``,
        ``product`` and ``margin`` when the orders use other names.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted): ``frequency`` (int, repeat purchase periods), ``recency``, ``T``,
        ``days_since_last`` (``T - recency``: periods since the last purchase), ``revenue`` (sum of purchase
        lines). ``attrs`` hold ``as_of``, ``period`` and ``period_length``. Pass it to
        :func:`salesplan.segment.rfm_scores` and its ``revenue`` to :func:`salesplan.segment.abc_classes`.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "amount": [10.0, 5.0, 20.0, 7.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"])})
    >>> rfm_summary(o, as_of="2024-01-31").to_dict("index")["a"]
    {'frequency': 1, 'recency': 10.0, 'T': 30.0, 'days_since_last': 20.0, 'revenue': 35.0}
    """
    customer_col, date_col, amount_col, product_col, margin_col = _order_columns(columns)
    period = time_unit
    _check_period(period, period_length)
    lf, as_of_ts, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, period)
    res, out = _light_summary(lf, as_of_ts, period, period_length, first_value=False)
    res["days_since_last"] = res["T"] - res["recency"]
    res["revenue"] = out["revenue"].to_numpy().astype(float)
    return res


def clv_summary(
    orders: Any,
    *,
    as_of: Any = None,
    time_unit: str = "D",
    period_length: float = 1,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Light per-customer BG/NBD and Gamma-Gamma inputs: frequency, recency, T, monetary value and revenue.

    The values equal the same columns of :func:`customer_summary` (the lifetimes definitions), computed from the
    purchase lines with one window minimum and one group-by and nothing else (no returns, dates or line counts),
    which is what :class:`salesplan.segment.BetaGeo`, :class:`salesplan.segment.GammaGamma` and
    :func:`salesplan.segment.customer_lifetime_value` need. Customers whose lines are all returns are not listed.

    Parameters
    ----------
    orders : DataFrame
        Order lines in any narwhals-supported engine.
    as_of : date-like, optional
        The data cut (default: the latest order date).
    time_unit : {"D", "W", "M"}
        Period unit.
    period_length : float
        Divide ``recency`` and ``T`` by this.
    columns : mapping, optional
        ``{"their name": "canonical name"}`` for the columns ``customer_id``, ``order_date``, ``amount``,
        ``product`` and ``margin`` when the orders use other names.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted): ``frequency`` (int), ``recency``, ``T``, ``monetary_value`` (mean value
        of the repeat purchase periods, 0 for one-time buyers), ``revenue``. ``attrs`` hold ``as_of``, ``period``
        and ``period_length``.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "amount": [10.0, 5.0, 20.0, 7.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"])})
    >>> clv_summary(o, as_of="2024-01-31").to_dict("index")["a"]
    {'frequency': 1, 'recency': 10.0, 'T': 30.0, 'monetary_value': 20.0, 'revenue': 35.0}
    """
    customer_col, date_col, amount_col, product_col, margin_col = _order_columns(columns)
    period = time_unit
    _check_period(period, period_length)
    lf, as_of_ts, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, period)
    res, out = _light_summary(lf, as_of_ts, period, period_length, first_value=True)
    freq = res["frequency"].to_numpy()
    revenue = out["revenue"].to_numpy().astype(float)
    repeat_total = revenue - out["_first_value"].to_numpy().astype(float)
    res["monetary_value"] = np.where(freq > 0, repeat_total / np.maximum(freq, 1), 0.0)
    res["revenue"] = revenue
    return res


def _light_summary(lf: nw.LazyFrame, as_of_ts: pd.Timestamp, period: str, period_length: float,
                   first_value: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """frequency, recency and T per customer from the purchase lines only (one group-by), plus the raw table."""
    lf = lf.filter(~nw.col("_ret"))
    aggs = [nw.col(_P).min().alias("_first"), nw.col(_P).max().alias("_last"),
            nw.col(_P).n_unique().alias("_n_periods"), nw.col("_amount").sum().alias("revenue")]
    if first_value:
        lf = lf.with_columns(nw.col(_P).min().over(_CUST).alias("_pfirst")).with_columns(
            nw.when(nw.col(_P) == nw.col("_pfirst")).then(nw.col("_amount")).otherwise(0.0).alias("_fv"))
        aggs.append(nw.col("_fv").sum().alias("_first_value"))
    out = _to_pandas(lf.group_by(_CUST).agg(*aggs).sort(_CUST, nulls_last=True).collect())
    out[_CUST] = out[_CUST].astype(object)
    if not out[_CUST].is_monotonic_increasing:
        out = out.sort_values(_CUST, kind="stable")
    end = period_index(as_of_ts, period)
    first = out["_first"].to_numpy().astype("int64")
    res = pd.DataFrame(index=pd.Index(out[_CUST].to_numpy(), name=_CUST, dtype=object))
    res["frequency"] = out["_n_periods"].to_numpy().astype("int64") - 1
    res["recency"] = (out["_last"].to_numpy().astype("int64") - first) / period_length
    res["T"] = (end - first) / period_length
    res.attrs.update(as_of=as_of_ts, period=period, period_length=period_length)
    return res, out


def customer_patterns(
    orders: Any,
    *,
    as_of: Any = None,
    time_unit: str = "D",
    period_length: float = 1,
    columns: Mapping[str, str] | None = None,
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
    customer_col, date_col, amount_col, product_col, margin_col = _order_columns(columns)
    period = time_unit
    _check_period(period, period_length)
    lf, as_of_ts, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, period)
    end = period_index(as_of_ts, period)
    rep = _period_table(lf)
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
    as_of: Any,
    end: Any,
    time_unit: str = "D",
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Purchase periods and purchase value per customer in the holdout window ``(as_of, end]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``frequency_holdout`` (distinct purchase periods), ``revenue_holdout``.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "a"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> holdout_purchases(o, as_of="2024-01-15", end="2024-03-01").to_dict("list")
    {'frequency_holdout': [1], 'revenue_holdout': [5.0]}
    """
    customer_col, date_col, amount_col, product_col, margin_col = _order_columns(columns)
    period = time_unit
    _check_period(period, 1)
    lf, cal_ts, _ = _prepared(orders, customer_col, date_col, amount_col, end, period)
    start = dt.datetime.combine((to_naive_utc(as_of).normalize() + pd.Timedelta(days=1)).date(), dt.time())
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
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Purchase value per customer and product for purchases in ``[start, as_of]`` (long format).

    A window query: lines after ``as_of`` are outside it and not logged (unlike the data cut of
    :func:`customer_summary`).

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
    customer_col, date_col, amount_col, product_col, margin_col = _order_columns(columns)
    lf, _, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, "D", warn_late=False)
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


def _window_lines(orders: Any, as_of: Any, start: Any, columns: Mapping[str, str] | None
                  ) -> tuple[nw.LazyFrame, str, str]:
    """The purchase lines (returns excluded) of ``[start, as_of]`` (whole days), as :func:`product_ownership`."""
    customer_col, date_col, amount_col, product_col, _ = _order_columns(columns)
    lf, _, _ = _prepared(orders, customer_col, date_col, amount_col, as_of, "D", warn_late=False)
    _check_columns(lf, {"product": product_col})
    lf = lf.filter(~nw.col("_ret"))
    if start is not None:
        lf = lf.filter(nw.col(date_col) >= dt.datetime.combine(pd.Timestamp(start).date(), dt.time()))
    return lf.with_columns(nw.col(product_col).cast(nw.String).alias("_product")), date_col, product_col


def product_customers(orders: Any, *, as_of: Any = None, start: Any = None,
                      columns: Mapping[str, str] | None = None) -> pd.Series:
    """Distinct customers who bought each product in ``[start, as_of]`` (one row per product, counted in the
    engine), sorted by product.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "product": ["P", "Q", "P"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> product_customers(o).to_dict()
    {'P': 2, 'Q': 1}
    """
    lf, _, _ = _window_lines(orders, as_of, start, columns)
    out = lf.filter(~nw.col("_product").is_null()).group_by("_product").agg(nw.col(_CUST).n_unique().alias("customers")).collect().to_pandas()
    return out.set_index("_product")["customers"].astype("int64").sort_index().rename_axis("product")


def product_features(orders: Any, products: Sequence[str], *, as_of: Any = None, start: Any = None,
                     columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per customer with a purchase in ``[start, as_of]``: which of ``products`` it bought (net value above 0),
    their summed value, its purchase lines (all products) and its last purchase, in one group-by in the engine.

    What :func:`product_ownership` gives in long format, reduced to the columns a next-product model reads, so
    the rows collected are one per customer, not one per (customer, product).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (sorted); one boolean column per product (in the given order), ``revenue`` (value of
        the given products), ``n_lines``, ``last_order``.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "product": ["P", "Q", "P"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> product_features(o, ["Q", "P"])[["Q", "P", "revenue", "n_lines"]].to_dict("index")
    {'a': {'Q': True, 'P': True, 'revenue': 3.0, 'n_lines': 2}, 'b': {'Q': False, 'P': True, 'revenue': 3.0, 'n_lines': 1}}
    """
    lf, date_col, _ = _window_lines(orders, as_of, start, columns)
    names = [str(p) for p in products]
    lf = lf.with_columns(*[nw.when(nw.col("_product") == p).then(nw.col("_amount")).otherwise(0.0).alias(f"_v{i}")
                           for i, p in enumerate(names)])  # plain sums below: every engine aggregates them natively
    agg = [nw.len().alias("n_lines"), nw.col(date_col).max().alias("last_order")]
    agg += [nw.col(f"_v{i}").sum() for i in range(len(names))]
    out = lf.group_by(_CUST).agg(*agg).collect().to_pandas()
    out[_CUST] = out[_CUST].astype(object)
    out = out.set_index(_CUST).sort_index(kind="stable")
    sums = out[[f"_v{i}" for i in range(len(names))]].astype(float)
    table = pd.DataFrame({p: sums[f"_v{i}"].to_numpy() > 0 for i, p in enumerate(names)}, index=out.index)
    table["revenue"] = sums.sum(axis=1).to_numpy()
    table["n_lines"] = out["n_lines"].astype("int64")
    table["last_order"] = _naive(out["last_order"])
    return table


def product_buyers(orders: Any, products: Sequence[str], *, start: Any, end: Any,
                   columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per customer with a purchase in ``[start, end]`` (whole days): whether it bought each of ``products``
    (one boolean column each), from one group-by in the engine.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "product": ["P", "Q", "P"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> product_buyers(o, ["Q"], start="2024-01-15", end="2024-03-01").to_dict("index")
    {'a': {'Q': True}, 'b': {'Q': False}}
    """
    lf, _, _ = _window_lines(orders, end, start, columns)
    names = [str(p) for p in products]
    lf = lf.with_columns(*[(nw.col("_product") == p).fill_null(False).cast(nw.Int64).alias(f"_b{i}")
                           for i, p in enumerate(names)])
    agg = [nw.col(f"_b{i}").max() for i in range(len(names))]
    out = lf.group_by(_CUST).agg(nw.len().alias("_n"), *agg).collect().to_pandas()
    out[_CUST] = out[_CUST].astype(object)
    out = out.set_index(_CUST).sort_index(kind="stable")
    return pd.DataFrame({p: out[f"_b{i}"].to_numpy() > 0 for i, p in enumerate(names)}, index=out.index)
