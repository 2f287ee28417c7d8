"""The fast paths: light rfm_summary, epoch-day periods, numpy ranks, cell-table segments, ABC without re-indexing."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesplan.reduce.customers import clv_summary, customer_summary, rfm_summary
from salesplan.segment import DEFAULT_SEGMENTS, abc_classes, gini, quantile_score, rfm_scores


def _label_by_rules(r: int, f: int, m: int, bins: int, segments: dict) -> str:
    """The documented rule, one customer at a time: the first segment whose bounds hold every scaled score
    ``(score - 1) / (bins - 1)``, else "other" (written here, not the vectorised code of rfm_scores)."""
    scaled = {"r": (r - 1) / (bins - 1), "f": (f - 1) / (bins - 1), "m": (m - 1) / (bins - 1)}
    for name, rule in segments.items():
        if all(lo - 1e-9 <= scaled[k] <= hi + 1e-9 for k, (lo, hi) in rule.items()):
            return name
    return "other"

RFM_COLUMNS = ["frequency", "recency", "T", "revenue"]


def _orders(n: int = 4000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"K{i:03d}" for i in rng.integers(0, 400, n)],
        "order_date": pd.Timestamp("2021-06-01") + pd.to_timedelta(rng.integers(0, 1000 * 24, n), unit="h"),
        # amounts in whole cents summed in any order give the same float, so engines agree exactly
        "amount": np.round(rng.gamma(2, 50, n) * np.where(rng.random(n) < 0.05, -1, 1)),
    })
    # a customer with returns only, and lines after as_of
    extra = pd.DataFrame({"customer_id": ["ZZZ", "K001"], "amount": [-5.0, 99.0],
                          "order_date": pd.to_datetime(["2022-01-01", "2025-01-01"])})
    return pd.concat([frame, extra], ignore_index=True)


def test_rfm_summary_hand_computed() -> None:
    o = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "c"], "amount": [10.0, 5.0, 20.0, 7.0, -3.0],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05",
                                                    "2024-01-06"])})
    s = rfm_summary(o, as_of="2024-01-31")
    assert list(s.index) == ["a", "b"]  # c has a return only
    assert s.loc["a"].tolist() == [1, 10.0, 30.0, 20.0, 35.0]
    assert s.loc["b"].tolist() == [0, 0.0, 26.0, 26.0, 7.0]
    w = rfm_summary(o, as_of="2024-01-31", time_unit="W")  # 2024-01-01 is a Monday: weeks 0, 1; Jan 31 is week 4
    assert w.loc["a", ["frequency", "recency", "T", "days_since_last"]].tolist() == [1, 1.0, 4.0, 3.0]


@pytest.mark.parametrize(("period", "length"), [("D", 1), ("D", 7), ("W", 1), ("M", 1)])
def test_rfm_summary_equals_customer_summary_on_every_engine(period: str, length: float) -> None:
    frame = _orders()
    full = customer_summary(frame, as_of="2024-03-31", time_unit=period, period_length=length)
    expected = full[RFM_COLUMNS[:3]].assign(days_since_last=full["T"] - full["recency"], revenue=full["revenue"])
    engines = {"pandas": frame, "polars": pl.from_pandas(frame), "polars_lazy": pl.from_pandas(frame).lazy(),
               "duckdb": duckdb.from_df(frame)}
    for name, native in engines.items():
        got = rfm_summary(native, as_of="2024-03-31", time_unit=period, period_length=length)
        pd.testing.assert_frame_equal(got, expected, obj=name)
        assert got.attrs["period"] == period and got.attrs["as_of"] == pd.Timestamp("2024-03-31")
    k1 = frame[(frame["customer_id"] == "K001") & (frame["amount"] >= 0) & (frame["order_date"] < "2024-04-01")]
    assert "ZZZ" not in expected.index and expected.loc["K001", "revenue"] == k1["amount"].sum()


@pytest.mark.parametrize("period", ["D", "W", "M"])
def test_clv_summary_equals_customer_summary_on_every_engine(period: str) -> None:
    frame = _orders(seed=9)
    full = customer_summary(frame, as_of="2024-03-31", time_unit=period, period_length=7 if period == "D" else 1)
    expected = full[["frequency", "recency", "T", "monetary_value", "revenue"]]
    assert (expected["frequency"] > 0).mean() > 0.5 and (expected["monetary_value"] > 0).sum() > 100
    engines = {"pandas": frame, "polars": pl.from_pandas(frame), "polars_lazy": pl.from_pandas(frame).lazy(),
               "duckdb": duckdb.from_df(frame)}
    for name, native in engines.items():
        got = clv_summary(native, as_of="2024-03-31", time_unit=period, period_length=7 if period == "D" else 1)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, obj=name)


def test_clv_summary_hand_computed_monetary_value() -> None:
    # x: day 1 (10 + 5), day 3 (20), day 3 again (4), day 9 (30), a return on day 9: repeat periods 24 and 30
    o = pd.DataFrame({"customer_id": ["x"] * 6, "amount": [10.0, 5.0, 20.0, 4.0, 30.0, -8.0],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03", "2024-01-03",
                                                    "2024-01-09", "2024-01-09"])})
    s = clv_summary(o, as_of="2024-01-10")
    assert s.loc["x"].tolist() == [2, 8.0, 9.0, 27.0, 69.0]


def test_polars_date_and_datetime_columns_give_the_same_periods() -> None:
    # Polars Date / naive Datetime take the epoch-day path; DuckDB the calendar arithmetic
    dates = [dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(2000, 2, 29), dt.date(2024, 12, 30)]
    base = pl.DataFrame({"customer_id": ["a", "a", "b", "b"], "amount": [1.0, 2.0, 3.0, 4.0], "order_date": dates})
    ref = customer_summary(base.to_pandas().assign(order_date=lambda f: pd.to_datetime(f["order_date"])),
                           as_of="2024-12-31")
    as_datetime = base.with_columns(pl.col("order_date").cast(pl.Datetime("ms")))
    for frame in (base, as_datetime, duckdb.from_arrow(as_datetime.to_arrow())):
        got = customer_summary(frame, as_of="2024-12-31")
        pd.testing.assert_frame_equal(got[["frequency", "recency", "T"]], ref[["frequency", "recency", "T"]])
    # days: 1969-12-31 -> 2024-12-31 is 20089 days; 2000-02-29 -> 2024-12-30 is 9071
    assert ref.loc["a", "T"] == 20089.0 and ref.loc["b", "recency"] == 9071.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-1.5, -0.0, 0.0, 0.5, 1.0, 2.0, 7.0, 1e9]), min_size=1, max_size=50),
       st.integers(2, 7), st.booleans())
def test_quantile_score_matches_pandas_min_rank(values: list[float], bins: int, higher: bool) -> None:
    v = np.asarray(values)
    rank = pd.Series(v if higher else -v).rank(method="min").to_numpy()
    expected = (1 + np.floor(bins * (rank - 1) / len(v))).astype(int)
    np.testing.assert_array_equal(quantile_score(v, bins, higher_is_better=higher), expected)


def test_quantile_score_with_missing_values_keeps_pandas_ranks() -> None:
    assert quantile_score([3.0, 1.0, 2.0, 1.0], bins=2).tolist() == [2, 1, 2, 1]
    with np.errstate(invalid="ignore"):  # the NaN itself has no score (pandas gives NaN, cast to int)
        scores = quantile_score([3.0, np.nan, 1.0], bins=3)
    assert scores[0] == 2 and scores[2] == 1  # NaN takes the pandas path; the others keep their ranks


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 30), st.integers(0, 5)), min_size=3, max_size=60),
       st.sampled_from([2, 3, 5, 8]))
def test_rfm_cell_table_equals_per_customer_rules(rows: list[tuple[int, int, int]], bins: int) -> None:
    f, rec, m = (np.asarray(c, dtype=float) for c in zip(*rows, strict=True))
    summary = pd.DataFrame({"frequency": f, "recency": rec, "T": rec + 10.0, "revenue": m * 10})
    segments = {"top": {"r": (0.6, 1.0), "m": (0.5, 1.0)}, **DEFAULT_SEGMENTS}
    out = rfm_scores(summary, bins=bins, segments=segments)
    r_s, f_s, m_s = (out[c].to_numpy() for c in ("r_score", "f_score", "m_score"))
    assert out["segment"].tolist() == [_label_by_rules(a, b, c, bins, segments) for a, b, c in
                                       zip(r_s, f_s, m_s, strict=True)]
    assert out["rfm_cell"].tolist() == [f"{a}{b}{c}" for a, b, c in zip(r_s, f_s, m_s, strict=True)]
    assert (out["rfm_score"] == r_s + f_s + m_s).all()


def test_rfm_many_bins_uses_separated_cells() -> None:
    summary = pd.DataFrame({"frequency": np.arange(30.0), "recency": np.arange(30.0), "T": np.full(30, 40.0),
                            "revenue": np.arange(30.0)})
    out = rfm_scores(summary, bins=25)
    assert out["rfm_cell"].iloc[-1] == "25-25-25" and out["rfm_cell"].iloc[0] == "1-1-1"


def test_abc_keeps_input_order_and_ties_by_position() -> None:
    v = pd.Series([5.0, 10.0, 5.0, 0.0, 10.0], index=["p", "q", "r", "s", "t"])
    t = abc_classes(v, thresholds=[0.5, 0.9])
    assert list(t.index) == ["p", "q", "r", "s", "t"]
    assert t["rank"].tolist() == [3, 1, 4, 5, 2]  # equal values keep their input order
    np.testing.assert_allclose(t["cum_share"], [0.8333333333, 0.3333333333, 1.0, 1.0, 0.6666666667])
    # q, t start at 0 and 1/3 (< 0.5: A); p, r at 2/3 and 5/6 (< 0.9: B); s at 1 (C)
    assert t["abc_class"].tolist() == ["B", "A", "B", "C", "A"]
    assert t.attrs["gini"] == pytest.approx(gini(v))


def test_gini_never_leaves_the_unit_interval() -> None:
    assert gini([2.6672974100340696e-186] * 5) == 0.0
    assert 0.0 <= abc_classes(pd.Series([1e-300] * 7)).attrs["gini"] <= 1.0


def test_unknown_return_flag_is_neither_purchase_nor_return_on_every_engine() -> None:
    # the sentinel that counts purchase periods must not count a line whose is_return is missing
    o = pd.DataFrame({"customer_id": ["a"] * 4 + ["b"], "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04",
                                                    "2024-01-01"]),
                      "is_return": pd.array([False, False, None, True, False], dtype="boolean")})
    for native in (o, pl.from_pandas(o), duckdb.from_df(o)):
        s = customer_summary(native, as_of="2024-01-10")
        assert s.loc["a", ["frequency", "recency", "revenue", "n_returns", "n_lines"]].tolist() == [1, 1.0, 3.0, 1, 4]
        assert clv_summary(native, as_of="2024-01-10").loc["a", "frequency"] == 1


def test_rfm_scores_on_empty_and_missing_values_keep_their_shape() -> None:
    empty = rfm_scores(pd.DataFrame({"frequency": [], "recency": [], "T": [], "revenue": []}, dtype=float))
    assert len(empty) == 0 and empty["rfm_cell"].dtype == pd.Series(["x"]).astype(str).dtype
    summary = pd.DataFrame({"frequency": [1.0, np.nan, 3.0, 2.0], "recency": [1.0, 2.0, 3.0, 0.0],
                            "T": [5.0, 5.0, 5.0, 5.0], "revenue": [1.0, 2.0, 4.0, 3.0]})
    with np.errstate(invalid="ignore"):
        out = rfm_scores(summary, bins=3)  # row 2: 4th of 4 by recency and revenue (3), 3rd by frequency (2)
    assert out["f_score"].iloc[[0, 2, 3]].tolist() == [1, 2, 1] and out["rfm_cell"].iloc[2] == "323"
