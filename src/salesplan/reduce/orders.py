"""Order revenue per period, reduced in the orders' own engine.

Examples
--------
>>> import pandas as pd
>>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [10.0, -2.0, 5.0],
...                   "order_date": pd.to_datetime(["2025-11-03", "2025-12-01", "2025-12-20"])})
>>> order_revenue(o, freq="M").to_dict("records")
[{'period': '2025-11', 'lines': 1, 'amount': 10.0}, {'period': '2025-12', 'lines': 2, 'amount': 3.0}]
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import pandas as pd

from salesplan.errors import SchemaError
from salesplan.parse import to_naive_utc
from salesplan.reduce.stages import _collect, _lazy
from salesplan.reduce.states import _check_freq, period_label

__all__ = ["order_revenue"]


def order_revenue(orders: Any, *, freq: str = "M", as_of: Any = None) -> pd.DataFrame:
    """Order lines and net revenue (returns included as negative lines) per period.

    Parameters
    ----------
    orders : DataFrame-like
        ``order_date, amount`` in any engine narwhals reads.
    freq : {"W", "M", "Q", "Y"}
    as_of : date-like, optional
        Orders after the cut are not counted.

    Returns
    -------
    DataFrame
        ``period, lines, amount``, sorted by period.
    """
    trunc = _check_freq(freq)
    lazy = _lazy(orders, "orders")
    names = lazy.collect_schema().names()
    missing = [c for c in ("order_date", "amount") if c not in names]
    if missing:
        raise SchemaError.from_cases([{"table": "orders", "column": c, "check": "required", "key": "-",
                                       "value": "missing column"} for c in missing])
    if as_of is not None:
        lazy = lazy.filter(nw.col("order_date") <= nw.lit(to_naive_utc(as_of).to_pydatetime()))
    lazy = lazy.with_columns(period=nw.col("order_date").dt.truncate(trunc), _amount=nw.col("amount").cast(nw.Float64))
    out = _collect(lazy.group_by("period").agg(nw.len().alias("lines"), nw.col("_amount").sum().alias("amount")))
    out = out.sort_values("period", kind="stable").reset_index(drop=True)
    out["period"] = period_label(out["period"], freq)
    out["lines"] = out["lines"].astype(int)
    out["amount"] = out["amount"].astype(float).round(6)  # parallel sums add in varying order: stable digits
    return out[["period", "lines", "amount"]]
