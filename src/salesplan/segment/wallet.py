"""Wallet (a customer's total annual spend in our category) and share of wallet (our delivery rate).

Method
    The wallet of a customer is ``customers.potential`` where it is given. Otherwise it is estimated as a high
    conditional quantile (default the 90th percentile) of annual spend with us among comparable customers:
    a linear quantile regression (``statsmodels`` ``QuantReg``) of log annual spend on the customer attributes
    (default industry, size, region; one-hot coded). The idea (Perlich, Rosset, Lawrence & Zadrozny, "High-quantile
    modeling for customer wallet estimation", KDD 2007) is that the customers who spend most with us among similar
    ones give most of their wallet to us, so a high quantile of spend approximates the wallet of that group.
    With fewer than ``min_customers`` buyers or no usable attributes the overall quantile is used instead.

    Share of wallet = annual spend / wallet, bounded to [0, 1]. The ``basis`` column says where each wallet came
    from: ``"potential"``, ``"quantreg_q90"`` or ``"overall_q90"`` (for quantile 0.9).

Annual spend
    Revenue (purchases, returns excluded) divided by the customer's tenure in years, with tenure at least
    ``min_tenure_days`` (so a customer won last week is not extrapolated 50-fold). Customers without orders
    (prospects) have annual spend 0 and get a wallet estimate too (for acquisition).

Examples
--------
>>> import pandas as pd
>>> summary = pd.DataFrame({"revenue": [1000.0, 3000.0], "first_order": pd.to_datetime(["2023-01-01"] * 2)},
...                        index=pd.Index(["a", "b"], name="customer_id"))
>>> customers = pd.DataFrame({"customer_id": ["a", "b"], "potential": [4000.0, 2000.0]})
>>> w = share_of_wallet(summary, customers, as_of="2024-12-31")
>>> w[["annual_spend", "wallet", "share_of_wallet", "basis"]].round(3).to_dict("index")["a"]
{'annual_spend': 500.342, 'wallet': 4000.0, 'share_of_wallet': 0.125, 'basis': 'potential'}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import SchemaError
from salesplan.parse import to_naive_utc

__all__ = ["share_of_wallet", "annual_spend"]

logger = logging.getLogger(__name__)


def annual_spend(summary: pd.DataFrame, as_of: Any = None, *, min_tenure_days: float = 90,
                 revenue: str = "revenue") -> pd.Series:
    """Revenue per year of tenure (tenure from the first order to ``as_of``, at least ``min_tenure_days``).

    Examples
    --------
    >>> s = pd.DataFrame({"revenue": [730.5], "first_order": [pd.Timestamp("2022-12-31")]}, index=["a"])
    >>> round(float(annual_spend(s, "2024-12-31").iloc[0]), 2)
    365.0
    """
    for col in (revenue, "first_order"):
        if col not in summary.columns:
            raise SchemaError(f"annual_spend: summary lacks column {col!r} (use customer_summary(...))")
    as_of_ts = to_naive_utc(as_of if as_of is not None else summary.attrs.get("as_of", summary["first_order"].max()))
    tenure = (as_of_ts - summary["first_order"]).dt.days.astype(float).clip(lower=min_tenure_days)
    return (summary[revenue].astype(float) * 365.25 / tenure).rename("annual_spend")


def share_of_wallet(
    summary: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    as_of: Any = None,
    quantile: float = 0.9,
    features: Sequence[str] = ("industry", "size", "region"),
    min_customers: int = 30,
    min_group: int = 20,
    min_tenure_days: float = 90,
    use_potential: bool = True,
) -> pd.DataFrame:
    """Wallet, annual spend and share of wallet (delivery rate) per customer, with the basis of each wallet.

    Parameters
    ----------
    summary : DataFrame
        Per-customer summary indexed by customer id with ``revenue`` and ``first_order``.
    customers : DataFrame, optional
        Canonical customers table (``customer_id``, optional ``potential`` and attribute columns). Customers in it
        without orders are included as prospects.
    as_of : date-like, optional
        Data cut (default ``summary.attrs["as_of"]``).
    quantile : float
        Conditional quantile of annual spend used as the wallet where no potential is given.
    features : sequence of str
        Customer attributes defining "comparable customers" (those present are used).
    min_customers : int
        Fewer buyers than this: use the overall quantile instead of the regression.
    min_group : int
        Attribute values held by fewer buyers than this are pooled into ``"other"`` before the regression.
    min_tenure_days : float
        See :func:`annual_spend`.
    use_potential : bool
        Set False to ignore ``customers.potential`` (e.g. to compare the estimate with it).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id: ``annual_spend``, ``wallet``, ``share_of_wallet`` in [0, 1], ``open_wallet``
        (``wallet - annual_spend``, at least 0), ``basis``, ``has_orders``.
    """
    if not 0 < quantile < 1:
        raise SchemaError(f"share_of_wallet: quantile must be in (0, 1), got {quantile}")
    spend = annual_spend(summary, as_of, min_tenure_days=min_tenure_days)
    if customers is not None:
        if "customer_id" not in customers.columns:
            raise SchemaError("share_of_wallet: customers table lacks column 'customer_id'")
        attrs = customers.drop_duplicates("customer_id").set_index("customer_id")
        index = attrs.index.union(spend.index, sort=False)
        attrs = attrs.reindex(index)
    else:
        index = spend.index
        attrs = pd.DataFrame(index=index)
    out = pd.DataFrame(index=index)
    out.index.name = "customer_id"
    out["annual_spend"] = spend.reindex(index).fillna(0.0)
    out["has_orders"] = index.isin(spend.index)
    tag = f"q{round(quantile * 100):d}"
    wallet = pd.Series(np.nan, index=index)
    basis = pd.Series("", index=index, dtype=object)
    if use_potential and "potential" in attrs.columns:
        pot = pd.to_numeric(attrs["potential"], errors="coerce")
        given = pot.notna() & (pot > 0)
        wallet[given] = pot[given]
        basis[given] = "potential"
    todo = wallet.isna()
    if todo.any():
        buyers = out["has_orders"] & (out["annual_spend"] > 0)
        cols = [c for c in features if c in attrs.columns and attrs.loc[buyers, c].notna().any()]
        fitted = None
        if cols and buyers.sum() >= min_customers:
            fitted = _quantreg(_pool_rare(attrs[cols], buyers, min_group), np.log(out.loc[buyers, "annual_spend"]),
                               buyers, quantile)
        if fitted is not None:
            wallet[todo] = np.exp(fitted[todo])
            basis[todo] = f"quantreg_{tag}"
        else:
            if not buyers.any():
                raise SchemaError("share_of_wallet: no customer with positive spend and no potential given")
            overall = float(np.quantile(out.loc[buyers, "annual_spend"], quantile))
            wallet[todo] = overall
            basis[todo] = f"overall_{tag}"
            logger.info("share_of_wallet: %d wallet(s) from the overall %s quantile of annual spend (%s)",
                        int(todo.sum()), tag, "too few buyers" if cols else "no attribute columns")
    out["wallet"] = wallet
    out["share_of_wallet"] = (out["annual_spend"] / out["wallet"]).clip(0.0, 1.0)
    out["open_wallet"] = (out["wallet"] - out["annual_spend"]).clip(lower=0.0)
    out["basis"] = basis
    out.attrs.update(quantile=quantile, features=list(features))
    return out[["annual_spend", "wallet", "share_of_wallet", "open_wallet", "basis", "has_orders"]]


def _pool_rare(attrs: pd.DataFrame, buyers: pd.Series, min_group: int) -> pd.DataFrame:
    """Replace attribute values that fewer than ``min_group`` buyers hold by ``"other"``."""
    out = attrs.astype(object).fillna("unknown").astype(str)
    for col in out.columns:
        counts = out.loc[buyers[buyers].index, col].value_counts()
        rare = counts.index[counts < min_group]
        out.loc[out[col].isin(rare) | ~out[col].isin(counts.index), col] = "other"
    return out


def _quantreg(attrs: pd.DataFrame, y: pd.Series, train: pd.Series, quantile: float) -> pd.Series | None:
    """Fit a linear quantile regression on one-hot attributes; predict the quantile for every row."""
    import statsmodels.api as sm

    design = pd.get_dummies(attrs.astype(object).fillna("unknown").astype(str), drop_first=True, dtype=float)
    design.insert(0, "const", 1.0)
    x_train = design.loc[train[train].index]
    keep = x_train.columns[(x_train.std() > 0) | (x_train.columns == "const")]
    try:
        res = sm.QuantReg(y.to_numpy(), x_train[keep].to_numpy()).fit(q=quantile, max_iter=5000)
    except (ValueError, np.linalg.LinAlgError) as exc:
        logger.warning("share_of_wallet: quantile regression failed (%s); using the overall quantile", exc)
        return None
    return pd.Series(design[keep].to_numpy() @ res.params, index=design.index)
