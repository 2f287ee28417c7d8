"""Cross-selling on an engine: one row per customer comes back (not one per customer and product), and the scores
equal the pandas ones (issue 13: at 100M order lines the long (customer, product) table filled 12 GB)."""

from __future__ import annotations

import duckdb
import pandas as pd

from salesplan.datasets import simulate
from salesplan.reduce.customers import product_features, product_ownership
from salesplan.segment.cross_sell import CrossSell


def test_cross_sell_on_duckdb_equals_pandas_and_reads_one_row_per_customer():
    data, _ = simulate(n_customers=300, years=2, seed=4, n_prospects=0)
    orders = data.orders
    want = CrossSell(min_buyers=5).fit(orders, as_of="2024-06-30", end="2024-12-31")
    got = CrossSell(min_buyers=5).fit(duckdb.from_df(orders), as_of="2024-06-30", end="2024-12-31")
    assert got.products_ == want.products_
    pd.testing.assert_frame_equal(got.training_, want.training_)
    pd.testing.assert_frame_equal(got.score(duckdb.from_df(orders), as_of="2024-12-31"),
                                  want.score(orders, as_of="2024-12-31"), check_exact=False, rtol=1e-9)
    # the features against the long ownership table, by hand
    long = product_ownership(orders, as_of="2024-06-30")
    wide = product_features(duckdb.from_df(orders), want.products_, as_of="2024-06-30")
    assert len(wide) == long["customer_id"].nunique() < len(long)
    owned = long[long["amount"] > 0].groupby("customer_id")["product"].apply(set)
    for product in want.products_:
        assert set(wide.index[wide[product]]) == {c for c, ps in owned.items() if product in ps}
    in_model = long[long["product"].isin(want.products_)].groupby("customer_id")["amount"].sum()
    pd.testing.assert_series_equal(wide["revenue"], in_model.reindex(wide.index, fill_value=0.0),
                                   check_names=False)
    assert (wide["n_lines"] == long.groupby("customer_id")["n_lines"].sum().reindex(wide.index)).all()


def test_purchase_span_is_the_summary_cut_and_first_purchase_on_every_engine():
    """customer_segments reads the history length from purchase_span before the summary exists (so that the
    cross-selling queries run while Python holds no per-customer table): it must equal the summary's."""
    import polars as pl

    from salesplan.reduce.customers import customer_summary, purchase_span

    data, _ = simulate(n_customers=120, years=2, seed=9, n_prospects=0)
    orders = data.orders.copy()
    first = orders["order_date"] == orders["order_date"].min()
    orders.loc[first, "amount"] = -orders.loc[first, "amount"].abs()  # the earliest lines are returns
    if "is_return" in orders.columns:
        orders.loc[first, "is_return"] = True
    summary = customer_summary(orders)
    want = (summary.attrs["as_of"], summary["first_order"].min())
    assert want[1] > orders["order_date"].min()  # the return is not a purchase
    for native in (orders, duckdb.from_df(orders), pl.from_pandas(orders)):
        assert purchase_span(native) == want
    cut = pd.Timestamp("2024-03-31")
    assert purchase_span(orders, as_of=cut) == (cut, customer_summary(orders, as_of=cut)["first_order"].min())
