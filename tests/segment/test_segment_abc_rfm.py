"""ABC / Pareto, Gini and RFM scores: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesplan import ConfigError, SchemaError
from salesplan.segment import abc_classes, abc_summary, gini, quantile_score, rfm_scores


def test_abc_hand_computed() -> None:
    v = pd.Series({"a": 500.0, "b": 300.0, "c": 100.0, "d": 60.0, "e": 40.0})
    t = abc_classes(v)
    assert t["rank"].to_dict() == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    np.testing.assert_allclose(t["cum_share"], [0.5, 0.8, 0.9, 0.96, 1.0])
    # b reaches exactly 80% and is still A; c starts at 80% and is B; d starts at 90% (< 95%) and is B
    assert t["abc_class"].tolist() == ["A", "A", "B", "B", "C"]
    s = abc_summary(t)
    assert s["items"].tolist() == [2, 2, 1] and s["value_share"].tolist() == pytest.approx([0.8, 0.16, 0.04])
    assert t.attrs["gini"] == pytest.approx(gini(v))


def test_abc_for_products_and_frames() -> None:
    products = pd.DataFrame({"margin": [5.0, 1.0, 4.0]}, index=["P1", "P2", "P3"])
    t = abc_classes(products, "margin", thresholds=[0.5], labels=["top", "rest"])
    assert t["abc_class"].to_dict() == {"P1": "top", "P2": "rest", "P3": "rest"}


def test_abc_errors() -> None:
    with pytest.raises(SchemaError, match="finite_non_negative"):
        abc_classes(pd.Series([1.0, -2.0]))
    with pytest.raises(ConfigError, match="labels"):
        abc_classes(pd.Series([1.0]), thresholds=[0.5], labels=["A"])
    with pytest.raises(ConfigError, match="increase"):
        abc_classes(pd.Series([1.0]), thresholds=[0.9, 0.5])


def test_gini_known_values() -> None:
    assert gini([3, 3, 3]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    # uniform on [0, 1]: Gini 1/3
    assert gini(np.linspace(0, 1, 100001)) == pytest.approx(1 / 3, abs=1e-4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60))
def test_abc_invariants(values: list[float]) -> None:
    t = abc_classes(pd.Series(values))
    ordered = t.sort_values("rank")
    assert np.all(np.diff(ordered["cum_share"]) >= -1e-12)
    assert np.all(np.diff(ordered["value"]) <= 0)
    codes = ordered["abc_class"].map({"A": 0, "B": 1, "C": 2}).to_numpy()
    assert np.all(np.diff(codes) >= 0)  # classes never go back up the ranking
    if sum(values) > 0:
        assert ordered["abc_class"].iloc[0] == "A" and ordered["cum_share"].iloc[-1] == pytest.approx(1.0)
    assert 0.0 <= gini(values) <= 1.0


def test_quantile_score_ties_and_balance() -> None:
    assert quantile_score([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], bins=5).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # ties share a score
    scores = quantile_score([0, 0, 0, 0, 0, 0, 1, 2, 3, 4], bins=5)
    assert len(set(scores[:6])) == 1 and scores[-1] == 5
    with pytest.raises(ConfigError):
        quantile_score([1, 2], bins=1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=2, max_size=80), st.integers(2, 7))
def test_quantile_score_invariants(values: list[int], bins: int) -> None:
    s = quantile_score(values, bins)
    assert s.min() >= 1 and s.max() <= bins
    v = np.asarray(values)
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(s[order]) >= 0)  # monotone in the value
    for val in np.unique(v):
        assert len(set(s[v == val])) == 1  # equal values, equal score


def test_rfm_scores_and_segments() -> None:
    s = pd.DataFrame({"frequency": [0, 5, 2, 9, 1], "recency": [0.0, 300.0, 100.0, 360.0, 10.0],
                      "T": [360.0, 360.0, 200.0, 365.0, 300.0], "revenue": [10.0, 300.0, 60.0, 800.0, 20.0]},
                     index=list("abcde"))
    r = rfm_scores(s, bins=5)
    assert r.loc["d", "rfm_cell"] == "555" and r.loc["d", "segment"] == "champions"
    assert r.loc["a", "recency_value"] == 360.0 and r.loc["a", "r_score"] == 1
    assert r["rfm_score"].tolist() == (r["r_score"] + r["f_score"] + r["m_score"]).tolist()
    custom = rfm_scores(s, bins=5, segments={"top": {"m": (0.75, 1.0)}})
    assert set(custom["segment"]) == {"top", "other"}
    with pytest.raises(ConfigError, match="segment"):
        rfm_scores(s, segments={"bad": {"x": (0, 1)}})
    with pytest.raises(SchemaError, match="recency"):
        rfm_scores(s.drop(columns="T"))
