"""Dates and numbers as exports write them: one reading per column, refusal only when both readings fit; the one
time-zone rule through the library and the report."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import salesplan as sp
from salesplan.errors import SchemaError
from salesplan.parse import parse_dates, parse_numbers, to_naive_utc

# (format, order): order None = unambiguous; "mdy"/"dmy" = numeric with a month/day order that a swap may also fit
FORMATS = [
    ("%Y-%m-%d", None), ("%Y-%m-%dT%H:%M:%S", None), ("%Y-%m-%d %H:%M", None), ("%Y/%m/%d", None),
    ("%d %b %Y", None), ("%b %d, %Y", None), ("%d.%m.%Y", None), ("%d.%m.%Y %H:%M", None),
    ("%m/%d/%Y", "mdy"), ("%m/%d/%Y %I:%M %p", "mdy"), ("%m/%d/%y", "mdy"), ("%m-%d-%Y", "mdy"),
    ("%d/%m/%Y", "dmy"), ("%d/%m/%Y %H:%M", "dmy"), ("%d/%m/%y", "dmy"), ("%d-%m-%Y %H:%M:%S", "dmy"),
]
moments = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2035, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0))


def _text(moment: dt.datetime, fmt: str, unpadded: bool) -> str:
    text = moment.strftime(fmt)
    if unpadded and fmt.startswith(("%m/", "%d/")):  # US exports write 3/5/2024
        head, _, rest = text.partition("/")
        text = f"{int(head)}/{rest}"
    return text


@settings(max_examples=60, deadline=None)
@given(st.lists(moments, min_size=1, max_size=25), st.sampled_from(FORMATS), st.booleans())
def test_exact_dates_back_unless_both_readings_fit(values, format_order, unpadded):
    fmt, order = format_order
    has_time = any(code in fmt for code in ("%H", "%I"))
    truth = [v if has_time else v.replace(hour=0, minute=0) for v in values]
    if "%S" not in fmt and has_time:
        truth = [v.replace(second=0) for v in truth]
    texts = pd.Series([_text(v, fmt, unpadded) for v in truth])
    both_fit = order is not None and all(v.day <= 12 for v in truth)
    same = all(v.day == v.month for v in truth)
    if both_fit and not same:
        with pytest.raises(SchemaError) as info:
            parse_dates(texts, "created_at", "opportunities")
        assert set(info.value.failure_cases["check"]) == {"ambiguous_date"}
        assert "opportunities.created_at" in str(info.value) and "dayfirst=" in str(info.value)
        chosen = parse_dates(texts, "created_at", dayfirst=order == "dmy")  # saying which always works
        assert chosen.values.tolist() == [pd.Timestamp(v) for v in truth]
    else:
        got = parse_dates(texts, "created_at")
        assert not got.bad.any()
        assert got.values.tolist() == [pd.Timestamp(v) for v in truth]


@pytest.mark.parametrize("texts", [
    ["2024-03-05", None, "2024-03-05 14:22", "2024-02-29T23:59:59.5"],  # all plain ISO: Arrow's one pass
    ["2024-03-05", "2024-03-05T10:00:00+02:00", "2024-03-05T10:00:00Z"],  # offsets: the full rules
    ["2024-03-05", " 2024-03-06 ", "", "2024-3-7"],  # padding, blank, unpadded: the full rules
    ["2024-03-05", "2024-02-30"],  # an invalid day is named, not dropped
    ["1677-09-22", "2262-04-11", None, "2024-03-05"],  # plain dates at the edges of what nanoseconds hold: Arrow's date pass
    ["2024-03-05", "1677-09-21"],  # a valid day nanoseconds cannot hold: the full rules name it
    ["2024-03-05", "9999-12-31", "2024-03-06 10:00"],
])
def test_arrow_text_and_object_text_read_the_same(texts):
    arrow = parse_dates(pd.Series(texts, dtype="str"), "order_date")
    plain = parse_dates(pd.Series(texts, dtype=object), "order_date")
    assert arrow.values.tolist() == plain.values.tolist()
    assert arrow.bad.tolist() == plain.bad.tolist() and arrow.aware.tolist() == plain.aware.tolist()
    if texts[1] is None:  # the fast path: every present value exact, the missing one NaT and not "bad"
        assert arrow.values.tolist()[0::2] == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-05 14:22")]
        assert arrow.values.isna().tolist() == [False, True, False, False] and not arrow.bad.any()
    if "Z" in texts[-1]:
        assert arrow.aware.tolist() == [False, True, True]
        assert arrow.values.tolist()[1] == pd.Timestamp("2024-03-05 08:00")


@pytest.mark.parametrize("threads", [False, True])
def test_a_column_in_several_arrow_chunks_reads_as_one(monkeypatch, threads):
    """Text read from a large CSV comes in many Arrow chunks (plain dates in some, times of day or missing values
    in others); it is read piece by piece (chunks, long ones cut), on large columns by two threads at once, and
    gives the full rules' dates, or the full rules' verdict when one value anywhere does not fit."""
    import numpy as np
    import pyarrow as pa

    from salesplan import parse

    if threads:  # two threads take the pieces; chunks are cut into pieces of two rows
        monkeypatch.setattr(parse, "CONCURRENT_ROWS", 1)
        monkeypatch.setattr(parse, "_cores", lambda: 2)
        monkeypatch.setattr(parse, "_PIECE", 2)
    chunks = [["2024-03-05", "2024-03-06"], ["2024-03-07 14:22", None, "2024-03-08"], [None, "1999-12-31"]]
    for bad_at, layout in itertools.product((None, (0, 1), (1, 2), (2, 1)), ("chunks", "one chunk")):
        data = [list(c) for c in chunks]
        if bad_at is not None:
            data[bad_at[0]][bad_at[1]] = "2024-02-30"
        if layout == "one chunk":
            data = [[v for c in data for v in c]]
        column = pd.Series(pd.array(pa.chunked_array(data, type=pa.large_string()),
                                    dtype=pd.StringDtype(na_value=np.nan)))
        flat = [v for c in data for v in c]
        arrow, plain = parse_dates(column, "order_date"), parse_dates(pd.Series(flat, dtype=object), "order_date")
        assert arrow.values.tolist() == plain.values.tolist() and arrow.bad.tolist() == plain.bad.tolist()
        assert arrow.values.tolist() == [pd.NaT if v is None or v == "2024-02-30" else pd.Timestamp(v) for v in flat]
        assert arrow.bad.sum() == (bad_at is not None)
        ints = arrow.values.to_numpy().view("int64")  # the extent found on the way: NaT's integer, 2024-03-08
        assert arrow.extent == (None if bad_at is not None else (ints.min(), ints.max()))
        assert bad_at is not None or ints.max() == pd.Timestamp("2024-03-08").value


def test_dates_nanoseconds_cannot_hold_are_named_not_wrapped_round():
    # pandas keeps 1600-01-01 in microseconds; a cast to nanoseconds wrapped it round to 2184-07-20 without a word
    far = ["2024-03-05", "1600-01-01", "9999-12-31", "1677-09-22", "1677-09-21", "2262-04-12"]
    bad = [False, True, True, False, True, True]
    for column in (pd.Series(far, dtype=object), pd.Series(far, dtype="str"),
                   pd.Series([dt.datetime.fromisoformat(v) for v in far], dtype=object)):
        got = parse_dates(column, "order_date")
        assert got.bad.tolist() == bad
        assert got.values.tolist() == [pd.NaT if b else pd.Timestamp(v) for v, b in zip(far, bad, strict=True)]
    stamps = pd.Series(pd.to_datetime(far[:3]).astype("datetime64[s]"))  # e.g. from Parquet: no crash either
    for column in (stamps, stamps.dt.tz_localize("Europe/Berlin")):
        got = parse_dates(column, "order_date")
        assert got.bad.tolist() == bad[:3] and got.values.tolist()[0] == pd.Timestamp("2024-03-05") - (
            pd.Timedelta(hours=1) if column.dt.tz is not None else pd.Timedelta(0))
    orders = pd.DataFrame({"customer_id": ["a", "b"], "order_date": ["2024-03-05", "1600-01-01"], "amount": 1.0})
    with pytest.raises(SchemaError) as info:
        sp.validate(orders, "orders")
    assert info.value.failure_cases[["column", "check", "value"]].values.tolist() == [
        ["order_date", "date", "1600-01-01"]]


def test_a_value_that_fits_no_format_is_named_never_guessed():
    frame = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "customer_id": "c", "process": "acquisition",
                          "created_at": ["25/03/2024", "05/03/2024", "2024-31-12"]})
    with pytest.raises(SchemaError) as info:
        sp.validate(frame, "opportunities")
    cases = info.value.failure_cases
    assert cases[["column", "check", "key", "value"]].values.tolist() == [
        ["created_at", "date", "c", "2024-31-12"]]
    assert "day-first" in str(info.value)  # the hint names the column's reading
    ok = sp.validate(frame.iloc[:2], "opportunities")
    assert ok["created_at"].tolist() == [pd.Timestamp("2024-03-25"), pd.Timestamp("2024-03-05")]


def test_validate_options_and_the_issue_shape():
    """The issue: '05/03/2024' and '25/03/2024' in one column were read as May 3 and March 25."""
    frame = pd.DataFrame({"opportunity_id": ["x", "y"], "stage": ["contacted", "won"],
                          "entered_at": ["05/03/2024 09:00", "25/03/2024 14:22"]})
    got = sp.validate(frame, "stage_events")
    assert got["entered_at"].tolist() == [pd.Timestamp("2024-03-05 09:00"), pd.Timestamp("2024-03-25 14:22")]
    with pytest.raises(SchemaError, match=r"stage_events.entered_at \[ambiguous_date\]"):
        sp.validate(frame.iloc[:1], "stage_events")
    assert sp.validate(frame.iloc[:1], "stage_events", dayfirst=False)["entered_at"][0] == pd.Timestamp(
        "2024-05-03 09:00")
    assert sp.validate(frame.iloc[:1], "stage_events", date_format="%d/%m/%Y %H:%M")["entered_at"][0] == \
        pd.Timestamp("2024-03-05 09:00")
    with pytest.raises(SchemaError, match=r"stage_events.entered_at \[date\]"):
        sp.validate(frame, "stage_events", dayfirst=False)  # 25/03 is no month-first date


def test_blank_stage_is_refused():
    frame = pd.DataFrame({"opportunity_id": ["x", "y"], "stage": ["contacted", "  "],
                          "entered_at": ["2024-03-05", "2024-03-06"]})
    with pytest.raises(SchemaError) as info:
        sp.validate(frame, "stage_events")
    assert info.value.failure_cases[["column", "check", "key"]].values.tolist() == [["stage", "not_null", "row 1"]]


@pytest.mark.parametrize(("values", "kwargs", "expected", "currency"), [
    (["USD 25,000.00", "USD 1,250.50", "USD 3"], {}, [25000.0, 1250.5, 3.0], "USD"),
    (["1.234,56 EUR", "5277,76 EUR", "100,00- EUR"], {}, [1234.56, 5277.76, -100.0], "EUR"),
    (["25 000,00", "1 250,5", "7"], {}, [25000.0, 1250.5, 7.0], None),
    (["(1,234.00)", "$ 12", "-$5"], {}, [-1234.0, 12.0, -5.0], "$"),
    (["1,234", "2,500"], {"decimal": ","}, [1.234, 2.5], None),
    (["1,234", "2,500"], {"decimal": "."}, [1234.0, 2500.0], None),
    (["1.234", "2.500"], {"decimal": ","}, [1234.0, 2500.0], None),
    (["1'234.50", "12"], {}, [1234.5, 12.0], None),
])
def test_amounts(values, kwargs, expected, currency):
    got = parse_numbers(pd.Series(values), "amount", **kwargs)
    assert not got.bad.any(), got.hint
    assert got.values.tolist() == pytest.approx(expected)
    assert got.currency == currency


def test_number_refusals_carry_hints():
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_date": "2024-01-05",
                          "amount": ["1,234", "2,500", "12"]})
    with pytest.raises(SchemaError) as info:
        sp.validate(frame, "orders")
    assert "decimal=',' or decimal='.'" in str(info.value)
    assert sp.validate(frame, "orders", decimal=".")["amount"].tolist() == [1234.0, 2500.0, 12.0]
    frame["amount"] = ["USD 5", "EUR 6", "EUR 7"]
    with pytest.raises(SchemaError) as info:
        sp.validate(frame, "orders")
    assert info.value.failure_cases[["column", "check", "key"]].values.tolist() == [["amount", "currency", "row 0"]]
    assert "one currency per column" in str(info.value)


AS_OF = "2025-03-01T01:00:00+02:00"  # = 2025-02-28 23:00 UTC


def test_offset_as_of_means_one_instant_in_library_and_report(tmp_path):
    from salesplan.reduce.stages import reduce_stage_events
    from salesplan.report import load_config

    opps = pd.DataFrame({"opportunity_id": ["o1"], "customer_id": ["c1"], "process": ["acquisition"],
                         "created_at": ["2025-02-01"]})
    events = pd.DataFrame({"opportunity_id": ["o1", "o1"], "stage": ["contacted", "qualified"],
                           "entered_at": ["2025-02-01 10:00", "2025-02-28 23:30"]})
    with pytest.raises(SchemaError, match=r"entered_at \[not_in_future\]"):  # 23:30 UTC is after the cut
        sp.SalesData.from_frames(opportunities=opps, stage_events=events, as_of=AS_OF)
    data = sp.SalesData.from_frames(opportunities=opps, stage_events=events.iloc[:1], as_of=AS_OF)
    assert data.as_of == pd.Timestamp("2025-02-28 23:00")
    red = reduce_stage_events(data.stage_events, sp.DEFAULT_PROCESSES["acquisition"], as_of=AS_OF)
    assert red.as_of == pd.Timestamp("2025-02-28 23:00")
    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nas_of = 2025-03-01T01:00:00+02:00\n[data]\nopportunities = "o.csv"\n'
                   'stage_events = "e.csv"\n')
    assert load_config(cfg).report.as_of == data.as_of
    assert to_naive_utc(AS_OF) == data.as_of


@pytest.mark.parametrize("late", ["2024-03-07 14:22", "2024-03-07", "25/03/2024", "05/03/2024", "2024-02-30", None])
def test_a_value_after_the_first_64_of_a_chunk_decides_as_any_other(late):
    """Arrow's cast is tried on a chunk's first 64 values before the whole chunk; a value further down (a time of
    day after plain dates, a plain date after times of day, a day-first date, an ambiguous one, an invalid day)
    gives what the full rules give for the column."""
    import numpy as np
    import pyarrow as pa

    days = [f"2024-01-{d:02d}" for d in range(1, 29)] * 4  # 112 plain dates
    times = [f"{d} 09:{i % 60:02d}" for i, d in enumerate(days)]
    chunks = [days[:100], times[:70] + days[:30], days[:90] + [late] + days[:9]]
    column = pd.Series(pd.array(pa.chunked_array(chunks, type=pa.large_string()),
                                dtype=pd.StringDtype(na_value=np.nan)))
    flat = [v for c in chunks for v in c]
    if late == "05/03/2024":  # month-first and day-first both fit: refused, never guessed
        for texts in (column, pd.Series(flat, dtype=object)):
            with pytest.raises(SchemaError, match="month-first and day-first"):
                parse_dates(texts, "order_date")
        return
    arrow, plain = parse_dates(column, "order_date"), parse_dates(pd.Series(flat, dtype=object), "order_date")
    assert arrow.values.tolist() == plain.values.tolist() and arrow.bad.tolist() == plain.bad.tolist()
    expected = [pd.NaT if v in (None, "2024-02-30") else pd.Timestamp(v) for v in flat]
    if late == "25/03/2024":
        expected[290] = pd.Timestamp("2024-03-25")
    assert arrow.values.tolist() == expected
    assert arrow.bad.sum() == (late == "2024-02-30")


def test_the_public_readers_give_real_masks_on_their_fast_paths():
    """``validate`` reads without making all-False masks; ``parse_dates`` and ``parse_numbers`` still give each
    result a mask of its own, one per row, that can be written to without touching another."""
    import numpy as np

    texts = pd.Series(["2024-03-05", None, "2024-03-07"], dtype="str")  # Arrow-backed ISO text: the fast path
    for result, masks in ((parse_dates(texts), ("bad", "aware")),
                          (parse_dates(pd.Series(pd.to_datetime(["2024-03-05", None, "2024-03-07"]))), ("bad", "aware")),
                          (parse_dates(pd.Series([None, None, None], dtype=object)), ("bad", "aware")),
                          (parse_numbers(pd.Series([1.5, np.nan, 2.0])), ("bad", "mixed_currency")),
                          (parse_numbers(pd.Series([1, 2, 3])), ("bad", "mixed_currency")),
                          (parse_numbers(pd.Series([None, None, None], dtype=object)), ("bad", "mixed_currency"))):
        first, second = (getattr(result, name) for name in masks)
        assert first.tolist() == second.tolist() == [False, False, False]
        first.iloc[0] = True
        assert second.tolist() == [False, False, False] and first.tolist() == [True, False, False]
