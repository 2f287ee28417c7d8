"""Validation rules of salesplan.schema: one test per rule, with the exact error, failure cases and message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import salesplan as sp
from salesplan.errors import SalesplanError, SchemaError
from salesplan.schema import TEXT_DTYPE, normalise_period, validate


def opps(**overrides) -> pd.DataFrame:
    base = {"opportunity_id": ["o1", "o2"], "customer_id": ["c1", "c2"], "process": ["acquisition"] * 2,
            "created_at": ["2024-01-02", "2024-02-03"]}
    base.update(overrides)
    return pd.DataFrame(base)


def orders(**overrides) -> pd.DataFrame:
    base = {"customer_id": ["c1", "c2", "c3"], "order_date": ["2024-01-05", "2024-02-01", "2024-03-01"],
            "amount": [100.0, 50.0, 20.0]}
    base.update(overrides)
    return pd.DataFrame(base)


def fails(frame, table: str, expected, **kwargs) -> SchemaError:
    """Validate, expect a SchemaError with exactly the ``expected`` (column, check, key) cases; input untouched."""
    before = frame.copy() if isinstance(frame, pd.DataFrame) else None
    with pytest.raises(SchemaError) as info:
        validate(frame, table, **kwargs)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, SalesplanError)
    cases = err.failure_cases
    assert list(cases.columns)[:5] == ["table", "column", "check", "key", "value"]
    assert list(cases.columns)[5:] in ([], ["hint"])
    assert set(cases["table"]) == {table}
    got = sorted(zip(cases["column"], cases["check"], cases["key"].astype(str), strict=True))
    assert got == sorted(expected)
    for column, check, _ in expected:
        assert f"{table}.{column} [{check}]" in str(err)
    if before is not None:
        pd.testing.assert_frame_equal(frame, before)
    return err


# --- structure -------------------------------------------------------------------------------------------------

def test_required_column_missing_names_column_and_frame_columns():
    err = fails(opps().drop(columns="created_at"), "opportunities", {("created_at", "required", "-")})
    assert "missing column" in str(err) and "opportunity_id" in err.failure_cases.loc[0, "value"]


def test_mapping_names_absent_column_and_clash():
    raw = opps().rename(columns={"created_at": "Erstellt"})
    err = fails(raw, "opportunities", {("created_at", "mapping", "-"), ("created_at", "required", "-")},
                columns={"Angelegt": "created_at"})
    assert "'Angelegt'" in str(err)
    clash = opps(Kunde=["x", "y"])
    fails(clash, "opportunities", {("customer_id", "mapping", "-")}, columns={"Kunde": "customer_id"})


def test_empty_table():
    err = fails(opps().iloc[0:0], "opportunities", {("*", "empty", "-")})
    assert "no rows" in str(err)


def test_unknown_table_is_schema_error():
    with pytest.raises(SchemaError, match="unknown table 'deals'"):
        validate(opps(), "deals")


# --- values ----------------------------------------------------------------------------------------------------

def test_not_null_for_ids_dates_and_blank_ids():
    raw = opps(customer_id=["c1", "  "], created_at=[None, "2024-01-01"])
    fails(raw, "opportunities", {("customer_id", "not_null", "o2"), ("created_at", "not_null", "o1")})


def test_unique_key_reports_every_duplicate_row_but_not_missing_keys():
    raw = pd.DataFrame({"opportunity_id": ["a", "a", None, None], "customer_id": ["c"] * 4,
                        "process": ["acquisition"] * 4, "created_at": ["2024-01-01"] * 4})
    fails(raw, "opportunities", [("opportunity_id", "unique", "a"), ("opportunity_id", "unique", "a"),
                                 ("opportunity_id", "not_null", "row 2"), ("opportunity_id", "not_null", "row 3")])


def test_date_unparseable():
    err = fails(opps(created_at=["2024-01-02", "31.02.2024x"]), "opportunities", {("created_at", "date", "o2")})
    assert err.failure_cases.loc[0, "value"] == "31.02.2024x"


def test_timezone_mixed_naive_and_aware_in_one_column():
    raw = opps(opportunity_id=["o1", "o2", "o3"], customer_id=["c"] * 3, process=["acquisition"] * 3,
               created_at=["2024-01-02 10:00", "2024-01-03 10:00+01:00", "2024-01-04 11:00"])
    err = fails(raw, "opportunities", {("created_at", "timezone", "o2")})
    assert "+01:00" in err.failure_cases.loc[0, "value"]


def test_timezone_aware_and_naive_timestamps_in_different_columns():
    raw = opps(created_at=pd.to_datetime(["2024-01-02 10:00", "2024-01-03 10:00"]).tz_localize("Europe/Berlin"),
               expected_close=["2024-03-01 12:30", "2024-03-02 08:00"])
    err = fails(raw, "opportunities", {("created_at,expected_close", "timezone", "-")})
    assert "created_at=aware, expected_close=naive" in str(err)


def test_timezone_aware_columns_in_different_zones_and_plain_dates_are_fine():
    berlin = pd.to_datetime(["2024-01-02 10:00", "2024-07-03 10:00"]).tz_localize("Europe/Berlin")
    raw = opps(created_at=berlin, expected_close=["2024-03-01", "2024-09-01"])
    out = validate(raw, "opportunities")
    assert out["created_at"].tolist() == [pd.Timestamp("2024-01-02 09:00"), pd.Timestamp("2024-07-03 08:00")]
    # summer and winter offsets in one text column are one zone, not a failure
    text = opps(created_at=["2024-01-02T10:00+01:00", "2024-07-03T10:00+02:00"])
    assert validate(text, "opportunities")["created_at"].tolist() == out["created_at"].tolist()
    ny = opps(created_at=berlin, expected_close=pd.to_datetime(["2024-03-01 12:00"] * 2).tz_localize("US/Eastern"))
    assert validate(ny, "opportunities")["expected_close"].iloc[0] == pd.Timestamp("2024-03-01 17:00")


def test_not_in_future_exempts_planned_dates():
    raw = opps(created_at=["2024-01-02", "2024-06-01"], expected_close=["2025-01-01", "2025-01-01"])
    err = fails(raw, "opportunities", {("created_at", "not_in_future", "o2")}, as_of="2024-05-31")
    assert "2024-06-01" in str(err)
    assert len(validate(raw, "opportunities", as_of=pd.Timestamp("2024-06-01", tz="UTC"))) == 2


def test_cut_off_in_another_zone_and_within_a_day():
    """The cut-off is an instant: a +02:00 cut-off is 2 hours earlier in UTC, and times within a day count."""
    # 2024-03-01 00:00 +02:00 is 2024-02-29 22:00 UTC: 21:59 is before it, 22:01 and 23:30 are after it
    raw = opps(opportunity_id=["o1", "o2", "o3"], customer_id=["c1", "c2", "c3"], process=["acquisition"] * 3,
               created_at=["2024-02-29 21:59", "2024-02-29 22:01", "2024-02-29 23:30"])
    fails(raw, "opportunities", {("created_at", "not_in_future", "o2"), ("created_at", "not_in_future", "o3")},
          as_of="2024-03-01T00:00:00+02:00")
    fails(raw, "opportunities", {("created_at", "not_in_future", "o2"), ("created_at", "not_in_future", "o3")},
          as_of=pd.Timestamp("2024-03-01", tz="Europe/Athens"))  # +02:00 in winter
    assert len(validate(raw, "opportunities", as_of="2024-02-29T23:30:00Z")) == 3
    # a naive cut-off with a time of day: one minute after it is in the future, the same instant is not
    fails(raw, "opportunities", {("created_at", "not_in_future", "o3")}, as_of="2024-02-29 22:01")
    fails(raw, "opportunities", {("created_at", "not_in_future", "o2"), ("created_at", "not_in_future", "o3")},
          as_of="2024-02-29 22:00")
    # zone-aware values against a naive (UTC) cut-off: 23:30 +02:00 is 21:30 UTC
    aware = opps(created_at=["2024-02-29T23:30:00+02:00", "2024-03-01T00:30:00+02:00"])
    fails(aware, "opportunities", {("created_at", "not_in_future", "o2")}, as_of="2024-02-29 22:00")


def test_numeric_and_finite():
    raw = orders(amount=["100", "zwölf", np.inf])
    fails(raw, "orders", {("amount", "numeric", "row 1"), ("amount", "finite", "row 2")})


def test_non_negative():
    raw = pd.DataFrame({"customer_id": ["a", "b"], "potential": [-5.0, 10.0]})
    err = fails(raw, "customers", {("potential", "non_negative", "a")})
    assert "(-5.0)" in str(err)


def test_integer_and_period_and_duplicate_targets():
    raw = pd.DataFrame({"process": ["acquisition", "acquisition", "retention", "retention"],
                        "period": ["2026-q1", "2026Q1", "2026-13", "2026"], "contracts": [10, 2.5, 3, 4]})
    fails(raw, "targets", [("contracts", "integer", "row 1"), ("period", "period", "row 2"),
                           ("process+period", "unique", "row 0"), ("process+period", "unique", "row 1")])


def test_return_sign_and_is_return_flag():
    raw = orders(amount=[100.0, -20.0, 30.0], quantity=[2, -1, -3])
    fails(raw, "orders", {("amount", "return_sign", "row 2")})
    ok = validate(orders(amount=[100.0, -20.0, 0.0], quantity=[2, -1, 0]), "orders")
    assert ok["is_return"].tolist() == [False, True, False]
    assert float(ok.loc[~ok["is_return"], "amount"].sum()) == 100.0


def test_rules_find_a_single_value_far_down_a_long_column():
    """Missing, negative, infinite and future values in the last of several blocks of the whole-column checks
    (validate asks for each column's smallest and largest value before it builds masks) are each found."""
    n = 200_000
    raw = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "order_date": ["2024-01-05"] * n,
                        "amount": np.full(n, 10.0), "quantity": np.ones(n)})
    raw.loc[n - 5, "order_date"] = "2024-06-01"
    raw.loc[n - 3, "order_date"] = None
    raw.loc[n - 4, "amount"] = np.nan
    raw.loc[n - 2, "amount"] = -5.0
    raw.loc[n - 1, "amount"] = np.inf
    assert len(validate(raw.assign(amount=1.0, order_date="2024-01-05"), "orders", as_of="2300-01-01")) == n
    assert validate(raw.assign(amount=1.0, order_date=None).iloc[:1], "orders", raise_errors=False,
                    as_of=pd.NaT).attrs["failure_cases"]["check"].tolist() == ["not_null"]
    fails(raw, "orders", {("order_date", "not_in_future", f"row {n - 5}"), ("order_date", "not_null", f"row {n - 3}"),
                          ("amount", "not_null", f"row {n - 4}"), ("amount", "return_sign", f"row {n - 2}"),
                          ("amount", "finite", f"row {n - 1}")}, as_of="2024-03-01")
    quantity = raw.assign(amount=10.0, order_date="2024-01-05")
    quantity.loc[n - 1, "quantity"] = -1.0
    fails(quantity, "orders", {("amount", "return_sign", f"row {n - 1}")})
    out = validate(raw, "orders", raise_errors=False)
    assert out["is_return"].sum() == 1 and bool(out["is_return"].iloc[n - 2])
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "potential": np.full(n, 1.0)})
    customers.loc[n - 1, "potential"] = -1.0
    fails(customers, "customers", {("potential", "non_negative", f"c{n - 1}")})


def test_known_process():
    fails(opps(process=["acquisition", "upsell"]), "opportunities", {("process", "known_process", "o2")})
    custom = {"upsell": sp.SalesProcess("upsell", ["pitch"])}
    assert validate(opps(process=["upsell", "upsell"]), "opportunities", processes=custom)["process"].tolist() == [
        "upsell", "upsell"]


def test_cross_table_rules_of_stage_events():
    clean = validate(opps(), "opportunities")
    events = pd.DataFrame({"opportunity_id": ["o1", "o9", "o1", "o2"],
                           "stage": ["contacted", "contacted", "visit", "offer"],
                           "entered_at": ["2024-01-03", "2024-01-03", "2024-01-05", "2024-02-01"]})
    err = fails(events, "stage_events", {("opportunity_id", "known_opportunity", "row 1"),
                                         ("stage", "known_stage", "row 2"),
                                         ("entered_at", "after_created", "row 3")}, opportunities=clean)
    assert "visit (process acquisition)" in str(err)
    assert "< created 2024-02-03" in str(err)


def test_known_opportunity_for_activities():
    clean = validate(opps(), "opportunities")
    acts = pd.DataFrame({"kind": ["call", "visit"], "date": ["2024-01-05", "2024-01-06"],
                         "opportunity_id": ["o1", "zz"]})
    fails(acts, "activities", {("opportunity_id", "known_opportunity", "row 1")}, opportunities=clean)


def test_every_failure_collected_in_one_error():
    raw = orders(customer_id=["c1", None, "c3"], order_date=["2024-01-05", "bad", "2030-01-01"],
                 amount=[1.0, "x", np.inf])
    err = fails(raw, "orders", {("customer_id", "not_null", "row 1"), ("order_date", "date", "row 1"),
                                ("order_date", "not_in_future", "row 2"), ("amount", "numeric", "row 1"),
                                ("amount", "finite", "row 2")}, as_of="2025-01-01")
    assert str(err).startswith("5 validation failure(s):")


def test_raise_errors_false_returns_failures_in_attrs():
    out = validate(opps(customer_id=["c1", None]), "opportunities", raise_errors=False)
    assert out.attrs["failure_cases"]["check"].tolist() == ["not_null"]


# --- coercion --------------------------------------------------------------------------------------------------

def test_coercion_of_ids_dates_and_amounts():
    raw = pd.DataFrame({"customer_id": [12345.0, 7.0, np.nan], "order_date": ["2024-01-05", "2024-01-06", "x"],
                        "amount": [1, 2, 3], "order_id": [1, 2, 3]})
    out = validate(raw, "orders", raise_errors=False)
    assert out["customer_id"].fillna("<missing>").tolist() == ["12345", "7", "<missing>"]
    assert out["customer_id"].dtype == TEXT_DTYPE and out["order_id"].dtype == TEXT_DTYPE
    assert out["order_id"].tolist() == ["1", "2", "3"]
    assert out["amount"].dtype == "float64" and out["order_date"].dtype == "datetime64[ns]"
    aware = orders(order_date=pd.to_datetime(["2024-01-05 12:00"] * 3).tz_localize("America/New_York"))
    assert validate(aware, "orders")["order_date"].iloc[0] == pd.Timestamp("2024-01-05 17:00")
    padded = orders(customer_id=[" 007 ", "008", "009"])
    assert validate(padded, "orders")["customer_id"].iloc[0] == "007"
    # text as pandas' readers return it (Arrow-backed str): tabs, no-break spaces and blanks found in the bytes
    arrow_text = orders(customer_id=pd.Series(["\t007", "008\u00a0", "  "], dtype=TEXT_DTYPE))
    out = validate(arrow_text, "orders", raise_errors=False)
    assert out["customer_id"].fillna("<missing>").tolist() == ["007", "008", "<missing>"]
    assert out.attrs["failure_cases"][["column", "check"]].values.tolist() == [["customer_id", "not_null"]]


def test_caller_frame_and_index_untouched_and_copy_returned():
    raw = orders().set_index(pd.Index([10, 20, 30]))
    before = raw.copy()
    out = validate(raw, "orders")
    pd.testing.assert_frame_equal(raw, before)
    assert list(out.index) == [0, 1, 2] and "is_return" not in raw.columns


def test_polars_input_via_narwhals():
    frame = pl.DataFrame({"customer_id": [1, 2], "order_date": ["2024-01-05", "2024-02-01"], "amount": [5, -1]})
    out = validate(frame, "orders")
    assert out["customer_id"].tolist() == ["1", "2"] and out["is_return"].tolist() == [False, True]
    with pytest.raises(SchemaError, match="customers.customer_id \\[not_null\\]"):
        validate(pl.DataFrame({"customer_id": [None, "a"]}), "customers")
    with pytest.raises(SchemaError, match="expected a DataFrame"):
        validate([1, 2], "customers")


def test_normalise_period_spellings():
    assert normalise_period("2026q3") == "2026-Q3"
    assert normalise_period("q4-2026") == "2026-Q4"
    assert normalise_period("2026-3") == "2026-03"
    assert normalise_period(pd.Period("2026-05", freq="M")) == "2026-05"
    assert normalise_period(2026.0) == "2026"
    for bad in ("2026-Q5", "2026-00", "26", None, float("nan"), "next year"):
        assert normalise_period(bad) is None
    assert str(pd.Period(normalise_period("2026q1"))) == "2026Q1"


# --- invariants ------------------------------------------------------------------------------------------------

ids = st.one_of(st.integers(0, 10**9), st.text("ab0 ", min_size=1, max_size=4).filter(str.strip))
amounts = st.floats(-1e6, 1e6, allow_nan=False)
days = st.integers(0, 2000).map(lambda d: (pd.Timestamp("2020-01-01") + pd.Timedelta(days=d)).isoformat())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ids, days, amounts), min_size=1, max_size=20))
def test_validate_is_idempotent_and_never_mutates(rows):
    raw = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    before = raw.copy()
    once = validate(raw, "orders")
    twice = validate(once, "orders")
    pd.testing.assert_frame_equal(once, twice)
    pd.testing.assert_frame_equal(raw, before)
    assert (once["is_return"] == (once["amount"] < 0)).all()
    assert once["customer_id"].map(type).eq(str).all()


def test_date_and_mapping_messages_in_full() -> None:
    """The whole text users read for ambiguous and unreadable dates, mappings, missing columns and empty tables."""

    def opps(created):
        return pd.DataFrame({"opportunity_id": ["a", "b"], "customer_id": ["c", "d"], "process": "acquisition",
                             "created_at": created})

    def message(frame, **kw) -> str:
        with pytest.raises(SchemaError) as err:
            validate(frame, "opportunities", **kw)
        return str(err.value)

    amb = "(month-first or day-first; set dayfirst= or date_format=)"
    assert message(opps(["05/03/2024", "06/04/2024"])) == (
        "2 validation failure(s):\n  opportunities.created_at [ambiguous_date]: 2 row(s), e.g. "
        f"- (05/03/2024 {amb}), - (06/04/2024 {amb})\n    hint: the dates read both month-first and day-first, with "
        "different results ('05/03/2024' is 03 May 2024 month-first or 05 Mar 2024 day-first; '06/04/2024' is 04 Jun "
        "2024 month-first or 06 Apr 2024 day-first); say which: dayfirst=True (day-first, e.g. en_GB and European "
        "exports), dayfirst=False (month-first, US exports), or date_format= (e.g. date_format='%d/%m/%Y')")
    # not raised: the column is missing (NaT), never guessed; the failures travel with the frame
    out = validate(opps(["05/03/2024", "06/04/2024"]), "opportunities", raise_errors=False)
    assert out["created_at"].isna().all() and str(out["created_at"].dtype) == "datetime64[ns]"
    cases = out.attrs["failure_cases"]
    assert cases["check"].tolist() == ["ambiguous_date"] * 2 and cases["hint"].str.startswith("the dates read").all()
    # the reading, once said, decides: day-first 5 March and 6 April; a format reads month-first
    assert validate(opps(["05/03/2024", "06/04/2024"]), "opportunities", dayfirst=True)["created_at"].tolist() == [
        pd.Timestamp("2024-03-05"), pd.Timestamp("2024-04-06")]
    assert validate(opps(["05/03/2024", "06/04/2024"]), "opportunities",
                    date_format="%m/%d/%Y")["created_at"].tolist() == [pd.Timestamp("2024-05-03"),
                                                                       pd.Timestamp("2024-06-04")]
    assert message(opps(["25/03/2024", "xx"])) == (
        "1 validation failure(s):\n  opportunities.created_at [date]: 1 row(s), e.g. b (xx)\n    hint: the column "
        "reads day-first; values that do not fit it are not dates (set dayfirst= or date_format= if this is wrong)")
    # an ambiguous column is not taken for a zone-aware one beside a naive date column
    beside = message(opps(["05/03/2024", "06/04/2024"]).assign(expected_close=["2024-07-01", "2024-08-01"]))
    assert beside.startswith("2 validation failure(s):\n  opportunities.created_at [ambiguous_date]")
    assert "[timezone]" not in beside
    # an ISO column with a value that is no date: the failure, without a reading hint
    assert message(opps(["2024-03-05", "xx"])) == (
        "1 validation failure(s):\n  opportunities.created_at [date]: 1 row(s), e.g. b (xx)")
    # zone-aware and naive values in one column: the fewer are named (the aware ones on a tie)
    aware, naive = "2024-03-05T10:00:00+02:00", "2024-03-07"
    three = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "customer_id": ["c", "d", "e"], "process": "acquisition",
                          "created_at": [aware, aware, naive]})
    assert message(three).endswith("[timezone]: 1 row(s), e.g. c (2024-03-07)")
    assert message(opps([aware, naive])).endswith(f"[timezone]: 1 row(s), e.g. a ({aware})")
    ok = opps(["2024-03-05", "2024-03-06"])
    assert message(ok.rename(columns={"created_at": "made"}), columns={"when": "created_at"}) == (
        "2 validation failure(s):\n  opportunities.created_at [mapping]: 1 row(s), e.g. - (columns= maps 'when', "
        "which the frame does not have)\n  opportunities.created_at [required]: 1 row(s), e.g. - (missing column; "
        "frame has ['opportunity_id', 'customer_id', 'process', 'made'])")
    assert message(ok.assign(made=1), columns={"made": "created_at"}) == (
        "1 validation failure(s):\n  opportunities.created_at [mapping]: 1 row(s), e.g. - (two columns have this name "
        "after mapping)")
    assert message(ok.iloc[:0]) == "1 validation failure(s):\n  opportunities.* [empty]: 1 row(s), e.g. - (table has no rows)"
    wide = ok.drop(columns="customer_id").assign(**{f"x{i}": 1 for i in range(12)})  # 15 columns: the first 12 named
    assert message(wide).endswith("(missing column; frame has ['opportunity_id', 'process', 'created_at', 'x0', 'x1', "
                                  "'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8'])")
    assert ok.index.tolist() == [0, 1] and "made" not in ok  # the caller's frame is untouched
