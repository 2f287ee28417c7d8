"""Required entries and win probabilities worked by hand (fast; the mutation-test selection of plan/volumes.py).

Known rate: ``P(W >= x | n)`` is a binomial tail, small enough to add up by hand. Uncertain rate: with a uniform
prior, ``Beta(1, 1)``, the beta-binomial is uniform on ``0..n`` (``P(W = k | n) = 1 / (n + 1)``), so
``P(W >= x | n) = (n - x + 1) / (n + 1)`` and the required entries are the smallest ``n`` with
``(n + 1)(1 - c) >= x``; for ``Beta(a, 1)`` (density ``a p^(a-1)``) the same tail is
``1 - sum_{k<x} C(n, k) a B(a + k, n - k + 1)``, worked below for ``x = 1``: ``P(W >= 1 | n) = 1 - a B(a, n + 1)``
= ``1 - n! / ((a + 1) ... (a + n))``. The property tests (test_volumes.py) check minimality for random inputs.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from salesplan import ParameterError, PlanInputError
from salesplan.plan import volumes
from salesplan.plan.volumes import check_target_probability, required_entries, win_probability


def _uniform_tail(n: int, x: int) -> float:
    return (n - x + 1) / (n + 1)


def _binom_tail(n: int, x: int, p: float) -> float:
    return sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(x, n + 1))


@pytest.mark.parametrize(("x", "p", "c", "n"), [
    (1, 0.5, 0.75, 2),   # 1 - 0.5^2 = 0.75
    (1, 0.5, 0.76, 3),   # 1 - 0.5^3 = 0.875
    (2, 0.5, 0.5, 3),    # 1 - (1 + 3) / 8 = 0.5
    (3, 0.5, 0.9, 9),    # n = 8: 0.855; n = 9: 0.910
    (2, 0.3, 0.6, 7),    # n = 6: 0.580; n = 7: 0.671
    (7, 1.0, 0.99, 7),   # a certain win: exactly x
    (0, 0.3, 0.9, 0),    # nothing to win: nothing needed
])
def test_known_rate_by_hand(x, p, c, n):
    got, prob = required_entries(x, p, c, return_probability=True)
    assert (int(got), got.dtype) == (n, np.int64)
    assert float(prob) == pytest.approx(_binom_tail(n, x, p) if x else 1.0, rel=1e-12)
    assert float(win_probability(n, x, p)) == pytest.approx(_binom_tail(n, x, p), rel=1e-12)
    if n > x:
        assert _binom_tail(n - 1, x, p) < c <= _binom_tail(n, x, p)


@pytest.mark.parametrize(("x", "c", "n"), [
    (3, 0.72, 10),          # (n + 1) * 0.28 >= 3: n = 10 (8/11 = 0.727; n = 9: 0.7)
    (1, 0.45, 1),           # 1/2 (n = 0: 0)
    (2, 0.58, 4),           # 3/5 = 0.6; n = 3: 0.5
    (1, 0.993, 142),        # 142/143 = 0.99301; 141/142 = 0.99296
    (1, 0.9989995, 999),    # 0.999 against 0.998999: far beyond the first scan block (a heavy tail)
    (5, 0.949, 98),         # 94/99 = 0.94949; n = 97: 0.94898
])
def test_uniform_prior_by_hand(x, c, n):
    got, prob = required_entries(x, 0.5, c, alpha=1.0, beta=1.0, return_probability=True)
    assert int(got) == n
    assert float(prob) == pytest.approx(_uniform_tail(n, x), rel=1e-9)
    assert _uniform_tail(n - 1, x) < c <= _uniform_tail(n, x)
    assert float(win_probability(n, x, 0.5, alpha=1.0, beta=1.0)) == pytest.approx(_uniform_tail(n, x), rel=1e-9)
    assert float(win_probability(n - 1, x, 0.5, alpha=1.0, beta=1.0)) == pytest.approx(_uniform_tail(n - 1, x))


@pytest.mark.parametrize(("a", "c", "n"), [(2.0, 0.92, 4), (3.0, 0.96, 4), (0.5, 0.8, 19), (4.0, 0.99, 5)])
def test_beta_a_1_prior_by_hand(a, c, n):
    # P(W >= 1 | n) = 1 - prod_{i=1..n} i / (a + i) under Beta(a, 1)
    def tail(m: int) -> float:
        return 1 - float(np.prod([i / (a + i) for i in range(1, m + 1)]))

    assert tail(n - 1) < c <= tail(n)
    got, prob = required_entries(1, a / (a + 1), c, alpha=a, beta=1.0, return_probability=True)
    assert int(got) == n and float(prob) == pytest.approx(tail(n), rel=1e-9)
    assert float(win_probability(n, 1, 0.3, alpha=a, beta=1.0)) == pytest.approx(tail(n), rel=1e-9)


def test_rows_are_broadcast_and_keep_their_own_rate():
    # contracts (2, 1) against target probabilities (3,): a 2 x 3 plan; first row known rate 0.5, second uniform
    x = np.array([[3], [3]])
    c = np.array([0.45, 0.72, 0.89])
    got, prob = required_entries(x, 0.5, c, alpha=np.array([[np.nan], [1.0]]), beta=np.array([[np.nan], [1.0]]),
                                 return_probability=True)
    assert got.shape == (2, 3) and got.dtype == np.int64
    # known 0.5: n = 5 (tail 0.5; n = 4: 0.3125), n = 7 (0.773; n = 6: 0.656), n = 9 (0.910; n = 8: 0.855);
    # uniform: (n - 2) / (n + 1): 3/6, 8/11, 25/28 (n = 26: 24/27 = 0.8889)
    assert got.tolist() == [[5, 7, 9], [5, 10, 27]]
    np.testing.assert_allclose(prob, [[_binom_tail(5, 3, .5), _binom_tail(7, 3, .5), _binom_tail(9, 3, .5)],
                                      [3 / 6, 8 / 11, 25 / 28]], rtol=1e-9)
    # without return_probability: the counts alone; only alpha or only beta given: the rate is known
    assert required_entries(x, 0.5, c, alpha=1.0).tolist() == [[5, 7, 9]] * 2
    assert required_entries(x, 0.5, c, beta=1.0).tolist() == [[5, 7, 9]] * 2
    # zero contracts among uncertain and known rows: 0 entries, probability 1
    got, prob = required_entries([0, 3, 0], 0.5, 0.72, alpha=[1.0, 1.0, np.nan], beta=[1.0, 1.0, np.nan],
                                 return_probability=True)
    assert got.tolist() == [0, 10, 0] and prob.tolist() == pytest.approx([1.0, 8 / 11, 1.0])
    # a certain uncertain rate, Beta(a, 0): p = 1, no losses; x entries with probability 1
    got, prob = required_entries([4, 2], 1.0, 0.9, alpha=[1.0, 3.0], beta=[0.0, 0.0], return_probability=True)
    assert got.tolist() == [4, 2] and prob.tolist() == [1.0, 1.0]
    # plain lists and scalars in, an integer array out
    assert required_entries([1, 2], [0.5, 0.3], 0.6).tolist() == [2, 7]


def test_many_rows_scan_in_groups():
    # uniform rows with targets 1..200 at c = 0.72: n = ceil(x / 0.28) - 1 = ceil(25 x / 7) - 1 (multiples of 7,
    # where 25 x / 7 is whole and the tail equals c exactly, are left out: rounding decides those)
    x = np.array([i for i in range(1, 201) if i % 7])
    got = required_entries(x, 0.5, 0.72, alpha=1.0, beta=1.0)
    expected = -(-25 * x // 7) - 1
    assert got.tolist() == expected.tolist()
    # rows in reverse order give the same answers (the scan sorts and groups rows internally)
    assert required_entries(x[::-1], 0.5, 0.72, alpha=1.0, beta=1.0).tolist() == expected[::-1].tolist()


def test_bad_inputs_name_their_positions():
    with pytest.raises(PlanInputError, match=r"^contracts must be whole numbers >= 0; bad at position\(s\) "
                                             r"\[1, 2, 3, 5, 6\]$"):
        required_entries([1, -1, 2.5, np.nan, 3, np.inf, -2, 0.5], 0.5, 0.8)
    with pytest.raises(ParameterError, match=r"^target_probability must lie strictly between 0 and 1; bad at "
                                             r"position\(s\) \[1, 2, 4\]$"):
        required_entries(1, 0.5, [0.5, 0.0, 1.0, 0.3, np.nan])
    with pytest.raises(PlanInputError, match=r"^win rates must lie in \(0, 1\]; bad at position\(s\) \[1, 3, 4\]$"):
        required_entries(1, [0.5, 0.0, 1.0, 1.2, np.nan], 0.8)
    with pytest.raises(PlanInputError, match=r"^Beta parameters must be alpha > 0, beta >= 0; bad at position\(s\) "
                                             r"\[1, 2, 3\]$"):
        required_entries(1, 0.5, 0.8, alpha=[1.0, 0.0, 1.0, -1.0, np.nan], beta=[1.0, 1.0, -0.5, 1.0, -1.0])
    with pytest.raises(PlanInputError, match=r"position\(s\) \[0, 1, 2, 3, 4\]$"):  # at most five named
        required_entries([-1] * 7, 0.5, 0.8)
    with pytest.raises(ParameterError, match=r"position\(s\) \[0, 1, 2, 3, 4\]$"):
        required_entries(1, 0.5, [2.0] * 7)
    with pytest.raises(PlanInputError, match=r"position\(s\) \[0, 1, 2, 3, 4\]$"):
        required_entries(1, [2.0] * 7, 0.5)
    with pytest.raises(PlanInputError, match=r"position\(s\) \[0, 1, 2, 3, 4\]$"):
        required_entries(1, 0.5, 0.5, alpha=[0.0] * 7, beta=1.0)
    # each rule alone (a zero contract, a zero target probability, a rate of 1 and a Beta beta of 0 are fine)
    with pytest.raises(PlanInputError, match=r"position\(s\) \[1\]$"):
        required_entries([0, -1], 0.5, 0.8)
    with pytest.raises(PlanInputError, match=r"position\(s\) \[0\]$"):
        required_entries([np.nan, 1], 0.5, 0.8)
    for c in (0.0, 1.0, 1.5):
        with pytest.raises(ParameterError, match=r"position\(s\) \[1\]$"):
            required_entries(1, 0.5, [0.5, c])
    with pytest.raises(PlanInputError, match=r"position\(s\) \[1\]$"):
        required_entries(1, [1.0, 0.0], 0.8)
    with pytest.raises(PlanInputError, match=r"position\(s\) \[0\]$"):
        required_entries(1, 0.5, 0.8, alpha=[0.0, 1.0, 1.0], beta=[1.0, 0.0, 0.5])
    assert required_entries(1, [0.5, 1.0, 0.5], 0.5, alpha=[1.0, 2.0, 1.0], beta=[1.0, 0.0, 0.5]).tolist() == [1, 1, 1]
    # win_probability checks the same inputs
    with pytest.raises(PlanInputError, match="whole numbers"):
        win_probability(5, 1.5, 0.5)
    assert check_target_probability(0.8) == 0.8 and isinstance(check_target_probability(np.float32(0.5)), float)
    with pytest.raises(ParameterError, match=r"^target_probability must be a probability strictly between 0 and 1, "
                                             r"got 1.0$"):
        check_target_probability(1.0)


def test_a_rate_too_uncertain_to_plan_is_refused(monkeypatch):
    # Beta(1, 1) with x = 1 needs about 1 / (1 - c) entries: with c = 0.9999 about 10,000, above a cap of 1,000
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 1_000)
    with pytest.raises(PlanInputError, match=r"^rate too uncertain to plan: more than 1,000 entries needed at "
                                             r"position 2 \(alpha=1, beta=2.5\); gather more data or lower the "
                                             r"target probability$"):
        required_entries([1, 1, 1], 0.5, [0.5, 0.5, 0.9999], alpha=[1.0, 1.0, 1.0], beta=[1.0, 1.0, 2.5])
    # below the cap it is planned: (n + 1) * 0.0101 >= 1: n = 99 (99/100; n = 98: 98/99 = 0.98990 < 0.9899)
    assert int(required_entries(1, 0.5, 0.9899, alpha=1.0, beta=1.0)) == 99


def test_the_cap_holds_whatever_the_scan_blocks(monkeypatch):
    # the uniform prior's first scan block is 272 losses (its guess 64 (x + 1)(b + 1) / a = 256, plus 16): a row
    # needing 476 entries (c = 0.9979: (n + 1) * 0.0021 >= 1) is found in the second block, and is more than a cap
    # of 272 all the same; under the cap it is planned
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 272)
    with pytest.raises(PlanInputError, match=r"more than 272 entries needed at position 0 \(alpha=1, beta=1\)"):
        required_entries(1, 0.5, 0.9979, alpha=1.0, beta=1.0)
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 475)
    assert int(required_entries(1, 0.5, 0.9979, alpha=1.0, beta=1.0)) == 476  # 475 losses, one win
    # the position is the row's place in the input, known rates included
    with pytest.raises(PlanInputError, match=r"more than 475 entries needed at position 2 \(alpha=1, beta=1\)"):
        required_entries([5, 1, 1], 0.5, [0.8, 0.5, 0.9999], alpha=[np.nan, 1.0, 1.0], beta=[np.nan, 1.0, 1.0])


def test_the_cap_on_rows_found_past_it(monkeypatch):
    # found in the pass that crossed the cap: the row is named by its input position, the one needing most first
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 472)
    with pytest.raises(PlanInputError, match=r"more than 472 entries needed at position 1 \(alpha=1, beta=1\)"):
        required_entries([5, 1], 0.5, [0.8, 0.9979], alpha=[np.nan, 1.0], beta=[np.nan, 1.0])
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 300)  # 333 and 475 losses: the second row is named
    with pytest.raises(PlanInputError, match=r"more than 300 entries needed at position 1 \(alpha=1, beta=1\)"):
        required_entries([1, 1], 0.5, [0.997, 0.9979], alpha=1.0, beta=1.0)
    # exactly at the cap is within it: 272 losses ((k + 1) / (k + 2) >= 0.99634 from k = 272) with a cap of 272
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 272)
    assert int(required_entries(1, 0.5, 0.99634, alpha=1.0, beta=1.0)) == 273


def test_the_cap_names_the_row_that_needs_most(monkeypatch):
    # two uniform-ish rows, both far beyond a cap of 1,000 (about 10,000 and 25,000 entries): the one whose scan
    # got furthest (the wider second row, Beta(1, 2.5)) is named
    monkeypatch.setattr(volumes, "MAX_ENTRIES", 1_000)
    with pytest.raises(PlanInputError, match=r"at position 1 \(alpha=1, beta=2.5\)"):
        required_entries([1, 1], 0.5, 0.9999, alpha=[1.0, 1.0], beta=[1.0, 2.5])


def test_defaults_and_exact_ties():
    # the default target probability is 0.8: 10 contracts at 25% need 49 entries (P = 0.817; 48 give 0.795)
    assert int(required_entries(10, 0.25)) == 49
    # a uniform prior and one contract: one entry wins with probability exactly 1/2, which meets a target of 1/2
    got, prob = required_entries(1, 0.5, 0.5, alpha=1.0, beta=1.0, return_probability=True)
    assert (int(got), float(prob)) == (1, 0.5)


def test_win_probability_by_hand():
    # known rate: 1 - 0.5^2 = 0.75; 3 of 4 at 0.5: (4 + 1) / 16
    assert win_probability([2, 4], [1, 3], 0.5).tolist() == pytest.approx([0.75, 5 / 16], rel=1e-12)
    # uniform prior: (n - x + 1) / (n + 1); n < x: impossible; x = 0: certain
    got = win_probability([10, 2, 5, 4], [3, 3, 0, 4], 0.5, alpha=1.0, beta=1.0)
    assert got.tolist() == pytest.approx([8 / 11, 0.0, 1.0, 1 / 5])
    # entries broadcast against contracts: P(W >= 1 | n) = n / (n + 1)
    got = win_probability(np.array([[1], [3]]), [1, 2], 0.5, alpha=1.0, beta=1.0)
    np.testing.assert_allclose(got, [[1 / 2, 0.0], [3 / 4, 2 / 4]], rtol=1e-12)
    assert got.dtype == float
