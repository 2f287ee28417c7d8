"""The rules of ``validate`` that test_schema.py states in words, checked here on tiny frames by their exact output.

Options given per column, blanks that mean "missing", the names of rows without a key, a failed date or amount
reported once (not again as missing), the zone-aware/naive rule across columns, and the structure messages. Part of
the mutation-test selection of ``schema.py`` (benchmarks/mutation.py), so every case is a few rows.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesplan import schema
from salesplan.errors import SchemaError
from salesplan.schema import _as_id, validate


def _cases(frame: pd.DataFrame, table: str, **kw) -> list[tuple[str, str, str, str]]:
    out = validate(frame, table, raise_errors=False, **kw)
    cases = out.attrs.get("failure_cases")
    if cases is None:
        return []
    return list(zip(cases["column"], cases["check"], cases["key"].astype(str), cases["value"], strict=True))


def _orders(amount, **extra) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["c1", "c2"], "order_date": ["2024-01-05", "2024-02-01"], "amount": amount,
                         **extra})


def test_number_separators_are_passed_on_per_column():
    text = ["1.234,50", "2.000,00"]
    # one setting for every column, or one per column: amount reads "1.234,50" as 1234.5
    got = validate(_orders(text), "orders", decimal=",", thousands=".")["amount"].tolist()
    assert got == [1234.5, 2000.0]
    got = validate(_orders(text, margin=["1,5", "2,25"]), "orders", decimal={"amount": ",", "margin": ","},
                   thousands={"amount": "."})
    assert got["amount"].tolist() == [1234.5, 2000.0] and got["margin"].tolist() == [1.5, 2.25]
    # "1.234" reads as a decimal by default; decimal="," for the column makes it 1234; thousands="." alone for the
    # column leaves "." as both separators: refused, not guessed
    three = ["1.234", "12.345"]
    assert validate(_orders(three), "orders")["amount"].tolist() == [1.234, 12.345]
    assert validate(_orders(three), "orders", decimal={"amount": ","})["amount"].tolist() == [1234.0, 12345.0]
    assert [c[1] for c in _cases(_orders(three), "orders", thousands={"amount": "."})] == ["numeric", "numeric"]
    # an option for another column does not apply: "1,234.50" read with the default (inferred) separators
    got = validate(_orders(["1,234.50", "2,000.00"]), "orders", decimal={"margin": ","}, thousands={"margin": "."})
    assert got["amount"].tolist() == [1234.5, 2000.0]


def test_date_readings_are_passed_on_per_column():
    frame = pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["c", "d"], "process": "acquisition",
                          "created_at": ["05/03/2024", "06/04/2024"], "expected_close": ["05/07/2024", "06/08/2024"]})
    out = validate(frame, "opportunities", dayfirst={"created_at": True, "expected_close": False})
    assert out["created_at"].tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-04-06")]
    assert out["expected_close"].tolist() == [pd.Timestamp("2024-05-07"), pd.Timestamp("2024-06-08")]
    out = validate(frame, "opportunities", date_format={"created_at": "%d/%m/%Y", "expected_close": "%m/%d/%Y"})
    assert out["created_at"].tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-04-06")]
    assert out["expected_close"].tolist() == [pd.Timestamp("2024-05-07"), pd.Timestamp("2024-06-08")]


def test_blank_text_is_missing_only_where_it_means_missing():
    # a blank stage is no stage (not_null); a blank owner is kept as written
    ev = pd.DataFrame({"opportunity_id": ["o1", "o2", "o3"], "stage": ["lead", "  ", "offer"],
                       "entered_at": ["2024-01-02", "2024-01-03", "2024-01-04"], "owner": ["ann", " ", "bob"]})
    assert _cases(ev, "stage_events") == [("stage", "not_null", "row 1", "  ")]
    out = validate(ev.assign(stage="lead"), "stage_events")
    assert out["owner"].tolist() == ["ann", " ", "bob"]
    blank_process = pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["c", "d"], "process": ["", "acquisition"],
                                  "created_at": ["2024-01-02", "2024-01-03"]})
    assert _cases(blank_process, "opportunities") == [("process", "not_null", "a", "")]


def test_rows_without_a_key_are_named_by_position():
    # stage events have no one-column key: rows are "row i"; an opportunity without an id is "row i" too
    ev = pd.DataFrame({"opportunity_id": ["o1", "o2"], "stage": ["lead", "offer"],
                       "entered_at": ["2024-01-02", "soon"]})
    assert _cases(ev, "stage_events") == [("entered_at", "date", "row 1", "soon")]
    opps = pd.DataFrame({"opportunity_id": ["a", None, "c"], "customer_id": ["c", "d", "e"], "process": "acquisition",
                         "created_at": ["2024-01-02", "2024-01-03", "never"]})
    assert _cases(opps, "opportunities") == [("opportunity_id", "not_null", "row 1", "missing"),
                                             ("created_at", "date", "c", "never")]
    # history rows are named by their deal although the key has two columns
    hist = pd.DataFrame({"opportunity_id": ["o1", "o2"], "changed_at": ["2024-01-02", "2024-01-03"],
                         "amount": [5.0, -1.0]})
    assert _cases(hist, "opportunity_history") == [("amount", "non_negative", "o2", "-1.0")]
    targets = pd.DataFrame({"process": "acquisition", "period": ["2024-Q1", "2024-Q2"], "contracts": [3, -2]})
    assert _cases(targets, "targets") == [("contracts", "non_negative", "row 1", "-2.0")]
    # zero and fractions of one are not negative
    assert _cases(targets.assign(contracts=[0, 1], revenue=[0.0, 0.5]), "targets") == []


def test_a_value_that_fails_to_parse_is_not_also_missing():
    opps = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "customer_id": ["c", "d", "e"], "process": "acquisition",
                         "created_at": ["2024-01-02", "never", None]})
    assert _cases(opps, "opportunities") == [("created_at", "date", "b", "never"),
                                             ("created_at", "not_null", "c", "missing")]
    orders = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "order_date": "2024-01-05",
                           "amount": ["10", "ten", None]})
    assert _cases(orders, "orders") == [("amount", "numeric", "row 1", "ten"),
                                        ("amount", "not_null", "row 2", "missing")]
    targets = pd.DataFrame({"process": "acquisition", "period": ["2024-Q1", "2024-Q2", "2024-Q3"],
                            "contracts": ["3", "three", np.nan]})
    assert _cases(targets, "targets") == [("contracts", "numeric", "row 1", "three"),
                                          ("contracts", "not_null", "row 2", "missing")]


def test_missing_values_are_found_in_every_storage():
    # whether anything is missing is first asked cheaply (Arrow's null count, NaT as the smallest date, NaN through
    # min); a missing value must be found in Arrow text, plain ISO dates, numbers (also beside an infinity), datetimes
    orders = pd.DataFrame({"customer_id": pd.Series(["c1", None, "c3", "c4"], dtype="str"),
                           "order_date": pd.Series(["2024-01-05", "2024-01-06", None, "2024-01-07"], dtype="str"),
                           "amount": [-np.inf, 2.0, 3.0, np.nan]})
    expected = [("customer_id", "not_null", "row 1", "missing"), ("order_date", "not_null", "row 2", "missing"),
                ("amount", "finite", "row 0", "-inf"), ("amount", "not_null", "row 3", "missing")]
    assert _cases(orders, "orders") == expected
    as_objects = orders.astype({"customer_id": object, "order_date": object})
    assert _cases(as_objects, "orders") == expected
    stamped = orders.assign(order_date=pd.to_datetime(orders["order_date"]))
    assert _cases(stamped, "orders") == expected
    assert _cases(orders.iloc[[0, 2]].assign(customer_id="c", amount=1.0), "orders") == [
        ("order_date", "not_null", "row 1", "missing")]
    assert _cases(orders.iloc[[0, 3]].assign(order_date="2024-01-01", amount=1.0), "orders") == []


def test_new_columns_are_exact_and_the_users_to_change(monkeypatch):
    # dates and integer quantities are written into arrays from Arrow's memory pool (no huge-page advice): the
    # values are exact, the columns are the user's to change, and the caller's frame is untouched
    from salesplan import parse

    monkeypatch.setattr(parse, "CONCURRENT_ROWS", 1)  # the two-halves date pass too
    raw = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_date": pd.Series(["2024-03-05", "2023-12-31", None],
                                                                                 dtype="str"),
                        "amount": [1.5, 2.0, 3.0], "quantity": np.array([3, -2, 2**40], dtype=np.int64)})
    out = validate(raw, "orders", raise_errors=False)
    assert out["order_date"].tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2023-12-31"), pd.NaT]
    assert out["quantity"].tolist() == [3.0, -2.0, float(2**40)] and out["quantity"].dtype == np.float64
    out.loc[0, "quantity"] = 7.0
    out.loc[1, "order_date"] = pd.Timestamp("2020-01-01")
    assert out["quantity"].tolist()[0] == 7.0 and out["order_date"].tolist()[1] == pd.Timestamp("2020-01-01")
    assert raw["quantity"].tolist() == [3, -2, 2**40] and raw["order_date"].tolist()[1] == "2023-12-31"


def test_zone_aware_and_naive_timestamps_across_columns():
    aware = ["2024-01-02T10:00:00+01:00", "2024-01-03T10:00:00+01:00"]
    frame = pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["c", "d"], "process": "acquisition",
                          "created_at": aware, "expected_close": ["2024-03-01 12:30", "2024-03-02 08:00"]})
    assert _cases(frame, "opportunities") == [
        ("created_at,expected_close", "timezone", "-",
         "zone-aware and naive timestamps in one table: created_at=aware, expected_close=naive")]
    # naive dates without a time of day beside a zone-aware column: fine (a date has no zone)
    assert _cases(frame.assign(expected_close=["2024-03-01", "2024-03-02"]), "opportunities") == []
    # no zone-aware column at all: times of day are fine
    assert _cases(frame.assign(created_at=["2024-01-02 10:00", "2024-01-03"]), "opportunities") == []
    # an ambiguous column (read neither way) is not a zone-aware one: no timezone failure beside naive times
    amb = frame.assign(created_at=["05/03/2024", "06/04/2024"])
    assert [c[:2] for c in _cases(amb, "opportunities")] == [("created_at", "ambiguous_date")] * 2


def test_structure_messages():
    ok = pd.DataFrame({"opportunity_id": ["a"], "customer_id": ["c"], "process": "acquisition",
                       "created_at": ["2024-01-02"]})
    # one row is a table, not an empty one
    assert len(validate(ok, "opportunities")) == 1
    out = validate(ok.iloc[:0], "opportunities", raise_errors=False)
    assert out.attrs["failure_cases"][["column", "check", "key", "value"]].values.tolist() == [
        ["*", "empty", "-", "table has no rows"]]
    assert _cases(ok.drop(columns="process"), "opportunities") == [
        ("process", "required", "-", "missing column; frame has ['opportunity_id', 'customer_id', 'created_at']")]
    assert _cases(ok, "opportunities", columns={"nope": "owner"}) == [
        ("owner", "mapping", "-", "columns= maps 'nope', which the frame does not have")]
    assert _cases(ok.assign(made="x"), "opportunities", columns={"made": "process"}) == [
        ("process", "mapping", "-", "two columns have this name after mapping")]
    # several problems at once, in one error; the frame returned when not raising is the renamed one
    out = validate(ok.rename(columns={"created_at": "made"}), "opportunities", columns={"made": "created_at"})
    assert out["created_at"].tolist() == [pd.Timestamp("2024-01-02")]
    with pytest.raises(SchemaError, match=r"^unknown table 'deals'; canonical tables are \['activities', "):
        validate(ok, "deals")
    with pytest.raises(SchemaError, match=r"^opportunities: expected a DataFrame \(pandas, .*\), got list$"):
        validate([1, 2], "opportunities")


def test_processes_given_replace_the_defaults():
    from salesplan import SalesProcess

    ok = pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["c", "d"], "process": ["p", "acquisition"],
                       "created_at": ["2024-01-02", "2024-01-03"]})
    own = {"p": SalesProcess("p", ["lead", "offer"])}
    assert _cases(ok, "opportunities", processes=own) == [("process", "known_process", "b", "acquisition")]
    assert _cases(ok, "opportunities") == [("process", "known_process", "a", "p")]


def test_cross_table_and_forecast_call_rules():
    opps = validate(pd.DataFrame({"opportunity_id": ["o1"], "customer_id": ["c1"], "process": "acquisition",
                                  "created_at": ["2024-01-02"], "owner": ["ann"]}), "opportunities")
    ev = pd.DataFrame({"opportunity_id": ["o1", "o9"], "stage": ["contacted", "contacted"],
                       "entered_at": ["2024-01-03", "2024-01-03"]})
    assert _cases(ev, "stage_events", opportunities=opps) == [("opportunity_id", "known_opportunity", "row 1", "o9")]
    calls = pd.DataFrame({"owner": ["ann", "bob"], "period": ["2026-Q1", "soon"], "as_of": ["2026-01-05", "2026-01-06"],
                          "category": ["commit", "maybe"], "amount": [100.0, None]})
    assert _cases(calls, "forecast_calls") == [
        ("period", "period", "row 1", "soon (not a month, quarter or year such as 2026-Q1)"),
        ("category", "known_category", "row 1", "maybe (configured: commit, best_case, pipeline)"),
        ("amount", "value", "row 1", "no amount and no contracts")]
    assert _cases(calls, "forecast_calls", forecast_categories=["maybe", "commit"], opportunities=opps) == [
        ("period", "period", "row 1", "soon (not a month, quarter or year such as 2026-Q1)"),
        ("amount", "value", "row 1", "no amount and no contracts"),
        ("owner", "known_owner", "row 1", "bob (owns no opportunity)")]
    assert validate(calls.iloc[:1], "forecast_calls")["period"].tolist() == ["2026-Q1"]
    # a manager who owns no opportunity is admitted when the team names them (people=), and only then
    boss = calls.iloc[:1].assign(owner="zoe")
    assert _cases(boss, "forecast_calls", opportunities=opps, people=["zoe"]) == []
    assert _cases(boss, "forecast_calls", opportunities=opps, people=["max"]) == [
        ("owner", "known_owner", "row 0", "zoe (owns no opportunity, not in the team)")]


def test_a_key_of_several_columns_names_its_duplicates():
    # targets are keyed by process, period and segment: the two rows of acquisition / 2024-Q1 / key collide
    # (a missing first key column is not a duplicate); the value shows the key's parts, a missing one as "missing"
    t = pd.DataFrame({"process": ["acquisition", "acquisition", "acquisition", None, None],
                      "period": ["2024-Q1", "2024-Q1", "2024-Q2", "2024-Q1", "2024-Q1"],
                      "segment": ["key", "key", "key", None, None], "contracts": [1, 2, 3, 4, 5]})
    assert [c for c in _cases(t, "targets") if c[1] == "unique"] == [
        ("process+period+segment", "unique", "row 0", "acquisition|2024-Q1|key"),
        ("process+period+segment", "unique", "row 1", "acquisition|2024-Q1|key")]
    dup = t.assign(segment=[None, None, "key", "x", "x"], process="acquisition")
    assert [c[2:] for c in _cases(dup, "targets") if c[1] == "unique"] == [
        ("row 0", "acquisition|2024-Q1|missing"), ("row 1", "acquisition|2024-Q1|missing"),
        ("row 3", "acquisition|2024-Q1|x"), ("row 4", "acquisition|2024-Q1|x")]


_PIECES = st.sampled_from(["a", "7", "b c", " ", "\t", "\u00a0", "é", "", "\n"])


@given(st.lists(st.one_of(st.none(), st.lists(_PIECES, max_size=4).map("".join)), min_size=1, max_size=25),
       st.integers(0, 4), st.sampled_from([1 << 20, 1, 2, 3]))
@settings(max_examples=150, deadline=None)
def test_ids_lose_surrounding_blanks_and_blank_ids_are_missing_whatever_the_text(values, start, block) -> None:
    """The quick look at the ids' first and last bytes never skips a value that strip or blank-to-missing would
    change (also in a slice, whose Arrow data does not start at offset 0, and when the look goes block by block,
    as it does on large columns)."""
    series = pd.Series(values, dtype="str").iloc[start:]
    expected = [None if v is None or not v.strip() else v.strip() for v in values[start:]]
    saved, schema._BLOCK = schema._BLOCK, block
    try:
        got = _as_id(series)
    finally:
        schema._BLOCK = saved
    assert [None if pd.isna(v) else v for v in got] == expected


def test_large_tables_are_converted_in_threads_with_the_same_failures(monkeypatch) -> None:
    """From ``CONCURRENT_ROWS`` rows on, ids, dates and numbers are converted side by side in threads; what users
    see does not change: every failure in column order, an ambiguous date column refused, ids stripped."""
    monkeypatch.setattr(schema, "CONCURRENT_ROWS", 1)
    monkeypatch.setattr(schema, "_cores", lambda: 2)
    threads: set[str] = set()
    parse = schema._parse_dates

    def recorded(*args, **kw):
        threads.add(threading.current_thread().name)
        return parse(*args, **kw)

    monkeypatch.setattr(schema, "_parse_dates", recorded)
    opps = pd.DataFrame({"opportunity_id": [" a", "b", "b"], "customer_id": ["c", None, "d"], "process": "acquisition",
                         "created_at": ["05/03/2024", "06/04/2024", "07/05/2024"],
                         "expected_close": ["2024-07-01", None, "2024-08-01"], "amount": [10, -1, "x"]})
    amb = "(month-first or day-first; set dayfirst= or date_format=)"
    assert _cases(opps, "opportunities") == [
        ("customer_id", "not_null", "b", "missing"),
        ("created_at", "ambiguous_date", "-", f"05/03/2024 {amb}"),
        ("created_at", "ambiguous_date", "-", f"06/04/2024 {amb}"),
        ("created_at", "ambiguous_date", "-", f"07/05/2024 {amb}"),
        ("amount", "numeric", "b", "x"),
        ("amount", "non_negative", "b", "-1.0"),
        ("opportunity_id", "unique", "b", "b"), ("opportunity_id", "unique", "b", "b")]
    assert threads and all(name.startswith("salesplan-validate") for name in threads)
    one = validate(opps.iloc[:1], "opportunities", dayfirst=True)
    assert one[["opportunity_id", "created_at", "expected_close", "amount"]].values.tolist() == [
        ["a", pd.Timestamp("2024-03-05"), pd.Timestamp("2024-07-01"), 10.0]]


def test_a_column_of_only_missing_values_is_missing_not_a_crash() -> None:
    # a column with no value at all (None in every row: Excel, frames) is missing in each row, dates and amounts alike
    frame = pd.DataFrame({"customer_id": ["a", "b"], "order_date": [None, None], "amount": [None, None]})
    assert _cases(frame, "orders") == [
        ("order_date", "not_null", "row 0", "missing"), ("order_date", "not_null", "row 1", "missing"),
        ("amount", "not_null", "row 0", "missing"), ("amount", "not_null", "row 1", "missing")]
