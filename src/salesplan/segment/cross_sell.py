"""Cross-selling propensity: which products a customer has not bought yet, and how likely each one is next.

Method (next-product-to-buy)
    From orders up to ``as_of``, each customer's product ownership (bought / not bought, per product) plus its
    activity (log revenue, log order lines, products owned, log days since the last purchase) are the features. For every product with at least
    ``min_buyers`` new buyers in the window ``(as_of, end]`` a logistic regression (scikit-learn, standardised
    features, L2 penalty) is fitted on the customers that did not own it at ``as_of``, with "bought it in the
    window" as the target. Scores are probabilities of buying the product in a window of the same length.
    Validation is on a time split: fit on one window, then :meth:`CrossSell.evaluate` on a later one reports, per
    product and pooled, the AUC and the lift in the top decile (buy rate of the 10% highest scores / base rate).

Reference: Knott, Hayes & Neslin (2002), "Next-product-to-buy models for cross-selling applications",
Journal of Interactive Marketing 16(3).

Examples
--------
>>> from salesplan.datasets import simulate
>>> data, _ = simulate(n_customers=300, years=2, seed=4, n_prospects=0)
>>> cs = CrossSell(min_buyers=5).fit(data.orders, as_of="2024-06-30", end="2024-12-31")
>>> scores = cs.score(data.orders, as_of="2024-12-31")
>>> sorted(scores.columns)
['customer_id', 'product', 'rank', 'score']
>>> bool(scores["score"].between(0, 1).all())
True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan._validation import check_columns, check_positive
from salesplan.errors import ConvergenceError, NotFittedError, SalesplanError, SchemaError
from salesplan.parse import to_naive_utc

__all__ = ["CrossSell", "ownership_matrix", "recent_cross_sell"]

logger = logging.getLogger(__name__)


def ownership_matrix(orders: Any, *, as_of: Any = None, start: Any = None, products: list[str] | None = None,
                     columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Customers x products matrix of purchase value up to ``as_of`` (0 = never bought).

    ``columns`` maps the orders' own column names to ``customer_id``, ``order_date``, ``amount``, ``product``.

    Examples
    --------
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "product": ["P", "Q", "P"], "amount": [1.0, 2.0, 3.0],
    ...                   "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
    >>> ownership_matrix(o).to_dict("index")
    {'a': {'P': 1.0, 'Q': 2.0}, 'b': {'P': 3.0, 'Q': 0.0}}
    """
    from salesplan.reduce.customers import product_ownership

    long = product_ownership(orders, as_of=as_of, start=start, columns=columns)
    wide = long.pivot_table(index="customer_id", columns="product", values="amount", aggfunc="sum", fill_value=0.0)
    if products is not None:
        wide = wide.reindex(columns=products, fill_value=0.0)
    wide.columns.name = None
    return wide.astype(float)


def _features(table: pd.DataFrame, products: list[str]) -> pd.DataFrame:
    """Model features from :func:`salesplan.reduce.customers.product_features`.

    Ownership (0/1) of each product, log days since the last purchase (against the latest purchase of anyone), log
    value of the modelled products, log purchase lines, products owned.
    """
    x = table[products].astype(float)
    idle = (table["last_order"].max() - table["last_order"]).dt.days.astype(float)
    x["_log_idle_days"] = np.log1p(idle.fillna(0.0).clip(lower=0))
    x["_log_revenue"] = np.log1p(table["revenue"].astype(float).clip(lower=0))
    x["_log_lines"] = np.log1p(table["n_lines"].astype(float))
    x["_n_products"] = table[products].sum(axis=1).astype(float)
    return x


def _lift(y: np.ndarray, s: np.ndarray, top: float = 0.1) -> float:
    if y.sum() == 0:
        return float("nan")
    k = max(1, int(round(top * len(y))))
    best = np.argsort(-s, kind="stable")[:k]
    return float(y[best].mean() / y.mean())


class CrossSell:
    """Next-product-to-buy propensity per customer and product (see the module docstring).

    Parameters
    ----------
    products : list of str, optional
        Products to model; default the ``max_products`` bought by most customers.
    max_products : int
        Cap on modelled products (also the ownership features).
    min_buyers : int
        Products with fewer new buyers in the training window are not modelled (logged).
    C : float
        Inverse L2 penalty of the logistic regressions.
    columns : dict, optional
        ``{"their name": "canonical name"}`` for the order columns ``customer_id``, ``order_date``, ``amount``,
        ``product``.

    Attributes
    ----------
    products_ : list of str
        Ownership features.
    models_ : dict
        Product -> fitted scikit-learn pipeline.
    training_ : DataFrame
        Per modelled product: ``candidates`` (non-owners at ``as_of``), ``buyers`` (new buyers in the window).
    """

    def __init__(self, *, products: list[str] | None = None, max_products: int = 30, min_buyers: int = 10,
                 C: float = 1.0, columns: Mapping[str, str] | None = None) -> None:
        self.products = products
        self.max_products = check_positive(max_products, "max_products", integer=True)
        self.min_buyers = check_positive(min_buyers, "min_buyers", integer=True)
        self.C = check_positive(C, "C")
        self.columns = check_columns(columns) or None

    def _features_at(self, orders: Any, as_of: Any) -> pd.DataFrame:
        """Features of every customer with a purchase on or before ``as_of`` (one group-by in the engine)."""
        from salesplan.reduce.customers import product_features

        table = product_features(orders, self.products_, as_of=to_naive_utc(as_of), columns=self.columns)
        if table.empty:
            raise SchemaError(f"CrossSell: no purchases on or before as_of {to_naive_utc(as_of).date()}")
        return _features(table, self.products_)

    def _bought(self, orders: Any, as_of: Any, end: Any) -> pd.DataFrame:
        """Whether each customer bought each modelled product in ``(as_of, end]``."""
        from salesplan.reduce.customers import product_buyers

        cut = to_naive_utc(as_of)
        return product_buyers(orders, self.products_, start=cut + pd.Timedelta(days=1), end=end,
                              columns=self.columns)

    def fit(self, orders: Any, as_of: Any, end: Any) -> CrossSell:
        """Fit one model per product: features at ``as_of``, targets = first purchases in ``(as_of, end]``.

        Raises
        ------
        ConvergenceError
            No product has ``min_buyers`` new buyers in the window (use a longer window or lower
            ``min_buyers``).
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from salesplan.reduce.customers import product_customers

        if self.products is not None:
            self.products_ = [str(p) for p in self.products]
        else:
            counts = product_customers(orders, as_of=to_naive_utc(as_of), columns=self.columns)
            if counts.empty:
                raise SchemaError(f"CrossSell: no purchases on or before as_of {to_naive_utc(as_of).date()}")
            counts = counts.sort_values(ascending=False, kind="stable")  # ties: by product, as sorted
            self.products_ = [str(p) for p in counts.index[: self.max_products]]
        features = self._features_at(orders, as_of)
        bought = self._bought(orders, as_of, end).reindex(features.index, fill_value=False)
        self.models_, rows = {}, []
        for product in self.products_:
            cand = features.index[features[product] == 0]
            y = bought.loc[cand, product].to_numpy(dtype=int)
            rows.append({"product": product, "candidates": len(cand), "buyers": int(y.sum())})
            if y.sum() < self.min_buyers or y.sum() == len(y):
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))
            model.fit(features.loc[cand].drop(columns=[product]).to_numpy(), y)
            self.models_[product] = model
        self.training_ = pd.DataFrame(rows).set_index("product")
        skipped = [p for p in self.products_ if p not in self.models_]
        if skipped:
            logger.info("CrossSell: %d product(s) with fewer than %d new buyers not modelled: %s", len(skipped),
                        self.min_buyers, skipped[:10])
        if not self.models_:
            raise ConvergenceError(f"CrossSell: no product has {self.min_buyers} or more new buyers between "
                                   f"{pd.Timestamp(as_of).date()} and {pd.Timestamp(end).date()}; use a longer "
                                   "window or a lower min_buyers")
        self.window_days_ = (to_naive_utc(end) - to_naive_utc(as_of)).days
        return self

    def _check(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("CrossSell is not fitted yet; call fit(orders, as_of, end) first")

    def _scores(self, features: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for product, model in self.models_.items():
            cand = features.index[features[product] == 0]
            if len(cand) == 0:
                continue
            prob = model.predict_proba(features.loc[cand].drop(columns=[product]).to_numpy())[:, 1]
            parts.append(pd.DataFrame({"customer_id": cand.astype(object), "product": product, "score": prob}))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["customer_id", "product",
                                                                                      "score"])
        return out

    def score(self, orders: Any, as_of: Any = None) -> pd.DataFrame:
        """Scores for every (customer, modelled product not yet bought) at ``as_of``.

        Returns
        -------
        pandas.DataFrame
            ``customer_id``, ``product``, ``score`` (probability of buying within a window as long as the
            training window), ``rank`` (1 = best product for that customer); sorted by customer and rank.
        """
        self._check()
        out = self._scores(self._features_at(orders, as_of if as_of is not None else pd.Timestamp.max.floor("D")))
        out["rank"] = out.groupby("customer_id")["score"].rank(method="first", ascending=False).astype(int)
        return out.sort_values(["customer_id", "rank"], kind="stable").reset_index(drop=True)

    def evaluate(self, orders: Any, as_of: Any, end: Any, top: float = 0.1) -> pd.DataFrame:
        """Out-of-time validation: score at ``as_of``, compare with first purchases in ``(as_of, end]``.

        Returns
        -------
        pandas.DataFrame
            Per product plus a ``"(pooled)"`` row: ``candidates``, ``buyers``, ``base_rate``, ``auc`` and
            ``lift_top`` (buy rate among the ``top`` share of scores over the base rate).
        """
        from sklearn.metrics import roc_auc_score

        self._check()
        scores = self._scores(self._features_at(orders, as_of))
        bought = self._bought(orders, as_of, end)
        hit = bought.stack()
        hit = set(hit.index[hit.to_numpy(dtype=bool)])
        scores["bought"] = [int((c, p) in hit) for c, p in zip(scores["customer_id"], scores["product"],
                                                               strict=True)]
        rows = []
        for product, grp in [*scores.groupby("product", sort=False), ("(pooled)", scores)]:
            y, s = grp["bought"].to_numpy(), grp["score"].to_numpy()
            auc = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")
            rows.append({"product": product, "candidates": len(y), "buyers": int(y.sum()),
                         "base_rate": float(y.mean()) if len(y) else float("nan"), "auc": auc,
                         "lift_top": _lift(y, s, top)})
        return pd.DataFrame(rows).set_index("product")


def recent_cross_sell(orders: Any, *, as_of: Any, start: Any, min_buyers: int = 10,
                      columns: Mapping[str, str] | None = None) -> pd.DataFrame | None:
    """Cross-selling scores at ``as_of`` from a :class:`CrossSell` fitted on the window ``(start, as_of]``.

    Features are taken at ``start``, targets are first purchases of a product in ``(start, as_of]``; the fitted
    models then score every customer at ``as_of``, so a score is the probability of buying the product within a
    window as long as the training window. This is what :func:`~salesplan.segment.customer_segments` uses when
    no scores are given, so the default cross-selling rule has its ``cross_sell_score`` column.

    Returns
    -------
    pandas.DataFrame or None
        As :meth:`CrossSell.score`; None (logged at WARNING with the reason) when the orders have no product
        column, no purchases before ``start`` or too few new buyers of any product in the window.

    Examples
    --------
    Four customers bought P and one Q in January; a and b also bought Q in the window (February and March), so c
    and d get a score for Q:

    >>> o = pd.DataFrame({"customer_id": list("abcdeab"), "product": list("PPPPQQQ"), "amount": 10.0,
    ...                   "order_date": pd.to_datetime(["2024-01-05"] * 5 + ["2024-02-10", "2024-03-10"])})
    >>> s = recent_cross_sell(o, as_of="2024-04-01", start="2024-02-01", min_buyers=1)
    >>> s[["customer_id", "product"]].to_dict("list"), s.attrs["window_days"]
    ({'customer_id': ['c', 'd'], 'product': ['Q', 'Q']}, 60)
    >>> recent_cross_sell(o, as_of="2024-04-01", start="2024-02-01", min_buyers=5) is None  # logged at WARNING
    True
    """
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    try:
        # many small logistic regressions: a threaded BLAS wakes its pool per call, which on a busy machine
        # costs more than the arithmetic (3x slower on the example data)
        with threadpool_limits(limits=1, user_api="blas"):
            model = CrossSell(min_buyers=min_buyers, columns=columns).fit(orders, as_of=start, end=as_of)
            scores = model.score(orders, as_of=as_of)
    except SalesplanError as exc:
        logger.warning("cross-selling scores not derived (the cross-selling rule will assign no one): %s", exc)
        return None
    scores.attrs["window_days"] = model.window_days_
    return scores
