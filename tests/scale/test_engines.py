"""salesplan.engines and read_table(engine=...): wrapping, refusing, collecting, lazy Parquet, date arithmetic."""

from __future__ import annotations

import datetime as dt

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesplan.engines import (
    ENGINES,
    collect,
    count_rows,
    engine_of,
    epoch_days,
    materialise,
    released_after,
    scan_parquet,
    seconds_between,
    to_narwhals,
)
from salesplan.errors import ConfigError, SchemaError
from salesplan.io import read_table
from salesplan.reduce.customers import customer_summary

ORDERS = pd.DataFrame({
    "Kunde": ["007", "007", "042", "042", "042"],
    "Datum": pd.to_datetime(["2023-12-30", "2024-01-03", "2024-01-02", "2024-02-10", "2024-02-11"]),
    "Betrag": [10.0, 20.0, 5.0, -2.0, 8.0],
    "year": [2023, 2024, 2024, 2024, 2024],
})
MAPPING = {"Kunde": "customer_id", "Datum": "order_date", "Betrag": "amount"}


def test_engine_names_round_trip(to_native, engine):
    native = to_native(ORDERS)
    assert engine_of(native) == engine
    wrapped = to_narwhals(native, "orders", lazy=True)
    assert isinstance(wrapped, nw.LazyFrame)
    total = collect(wrapped.select(nw.col("Betrag").sum()), max_rows=1)
    assert total["Betrag"].tolist() == [41.0]
    assert count_rows(native) == 5
    back = collect(native).sort_values(["Kunde", "Datum"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, ORDERS.astype({"year": "int64"}), check_dtype=False)
    assert back["Datum"].dtype == "datetime64[ns]" and back["Kunde"].dtype == object


@pytest.mark.parametrize("thing", [[1, 2], {"a": [1]}, np.arange(3), pd.Series([1.0]), "orders.csv", None])
def test_unsupported_types_name_every_supported_engine(thing):
    with pytest.raises(SchemaError) as err:
        to_narwhals(thing, "orders")
    message = str(err.value)
    assert message.startswith("orders: expected a table in a supported engine")
    for described in ENGINES.values():
        assert described in message
    assert type(thing).__name__ in message


def test_collect_guards_against_raw_rows():
    lf = pl.LazyFrame({"a": range(1000)})
    assert len(collect(lf, max_rows=1000)) == 1000
    with pytest.raises(SchemaError) as err:
        collect(lf, max_rows=10, table="spells")
    assert err.value.failure_cases[["table", "check"]].values.tolist() == [["spells", "max_rows"]]
    with pytest.raises(ConfigError):
        collect(lf, max_rows=-1)


def test_collect_normalises_zone_aware_and_nullable_types():
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 12:00"]).tz_localize("Europe/Berlin"),
                          "n": pd.array([1], dtype="Int32"), "s": pd.array(["x"], dtype="string")})
    out = collect(frame)
    assert out["t"].tolist() == [pd.Timestamp("2024-01-01 11:00")]  # naive UTC
    assert out["n"].dtype == "int64" and out["s"].dtype == object


def test_materialise_keeps_duckdb_data_in_duckdb_and_drops_tables():
    con = duckdb.connect()
    rel = nw.from_native(con.sql("select range as a, range % 3 as g from range(100)"))

    @released_after
    def grouped(frame):
        done = materialise(frame.filter(nw.col("a") >= 10))
        assert engine_of(done) == "duckdb"
        tables = con.sql("select count(*) from duckdb_tables() where table_name like '__salesplan_%'").fetchall()
        assert tables[0][0] == 1
        return collect(done.group_by("g").agg(nw.len().alias("n")).sort("g"))

    assert grouped(rel)["n"].tolist() == [30, 30, 30]
    left = con.sql("select count(*) from duckdb_tables() where table_name like '__salesplan_%'").fetchall()
    assert left[0][0] == 0


# --- lazy reading ------------------------------------------------------------------------------------------------

@pytest.fixture
def hive_folder(tmp_path):
    """orders/year=2023/part-0.parquet, orders/year=2024/part-0.parquet (the year lives in the folder name)."""
    root = tmp_path / "orders"
    for year, part in ORDERS.groupby("year"):
        (root / f"year={year}").mkdir(parents=True)
        part.drop(columns="year").to_parquet(root / f"year={year}" / "part-0.parquet", index=False)
    return root


LAZY_TYPES = {"duckdb": "DuckDBPyRelation", "polars": "LazyFrame", "spark": "DataFrame"}


@pytest.mark.parametrize("lazy_engine", ["duckdb", "polars", "spark"])
def test_read_table_lazy_folder_and_glob(hive_folder, lazy_engine, request):
    session = request.getfixturevalue("spark") if lazy_engine == "spark" else None
    expected = customer_summary(read_table(hive_folder, "orders", MAPPING), as_of="2024-03-01")
    for source in (hive_folder, str(hive_folder / "*" / "*.parquet")):
        table = read_table(source, "orders", MAPPING, engine=lazy_engine, connection=session)
        assert type(table).__name__ == LAZY_TYPES[lazy_engine]
        assert count_rows(table) == 5
        names = to_narwhals(table).collect_schema().names()
        assert {"customer_id", "order_date", "amount"} <= set(names)
        got = customer_summary(table, as_of="2024-03-01")
        pd.testing.assert_frame_equal(got.drop(columns="n_lines"), expected.drop(columns="n_lines"))
        assert got["n_lines"].tolist() == [2, 3]
    partitioned = collect(read_table(hive_folder, "orders", MAPPING, engine=lazy_engine, connection=session))
    assert sorted(partitioned["year"].astype(int).unique().tolist()) == [2023, 2024]  # hive partition column
    assert partitioned["customer_id"].map(type).eq(str).all()  # ids read as text: leading zeros kept
    assert sorted(partitioned["customer_id"].unique().tolist()) == ["007", "042"]


def test_read_table_lazy_casts_ids_and_text_dates(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"opportunity_id": [12, 13], "stage": ["lead", "won"],
                  "entered_at": ["2024-01-05 10:00:00", "2024-02-01 00:00:00"]}).to_parquet(path)
    for lazy_engine in ("duckdb", "polars"):
        out = collect(read_table(path, "stage_events", engine=lazy_engine))
        assert out["opportunity_id"].tolist() == ["12", "13"], lazy_engine
        assert out["entered_at"].tolist() == [pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-02-01")]


def test_read_table_lazy_errors(tmp_path, hive_folder):
    with pytest.raises(SchemaError) as err:
        read_table(hive_folder, "orders", {"Kunde": "customer_id", "Nope": "amount"}, engine="duckdb")
    cases = err.value.failure_cases
    assert sorted(zip(cases["column"], cases["check"], strict=True)) == [
        ("amount", "mapping"), ("amount", "required"), ("order_date", "required")]
    csv = tmp_path / "orders.csv"
    csv.write_text("customer_id,order_date,amount\n1,2024-01-01,3\n")
    with pytest.raises(ConfigError, match="reads Parquet"):
        read_table(csv, "orders", engine="duckdb")
    with pytest.raises(ConfigError, match="unknown engine"):
        read_table(hive_folder, "orders", MAPPING, engine="dask")
    with pytest.raises(ConfigError, match=r"\['sep'\] only apply to engine='pandas'"):
        read_table(hive_folder, "orders", MAPPING, engine="polars", sep=";")
    with pytest.raises(ConfigError, match="no Parquet file"):
        scan_parquet(tmp_path / "missing", "duckdb")
    # the pandas path is unchanged: validated pandas frame
    assert isinstance(read_table(hive_folder, "orders", MAPPING), pd.DataFrame)


# --- date arithmetic that works on every engine --------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31)),
       st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31)))
def test_epoch_days_and_seconds_between_match_pandas(a, b):
    frame = pd.DataFrame({"a": pd.to_datetime([a]), "b": pd.to_datetime([b])})
    out = nw.from_native(frame).select(days=epoch_days(nw.col("a")),
                                       secs=seconds_between(nw.col("b"), nw.col("a"))).to_native()
    assert out["days"].iloc[0] == (pd.Timestamp(a).normalize() - pd.Timestamp("1970-01-01")).days
    assert out["secs"].iloc[0] == pytest.approx((pd.Timestamp(b) - pd.Timestamp(a)).total_seconds(), abs=1e-6)


def test_seconds_between_on_every_engine(to_native, engine):
    frame = pd.DataFrame({"a": pd.to_datetime(["2023-12-31 23:59:59.5", "2024-02-28 12:00"], format="ISO8601"),
                          "b": pd.to_datetime(["2024-01-01 00:00:00.25", "2024-03-01 12:00"], format="ISO8601")})
    out = collect(to_narwhals(to_native(frame), lazy=True).select(
        s=seconds_between(nw.col("b"), nw.col("a")), d=epoch_days(nw.col("b"))))
    assert out["s"].tolist() == [0.75, 2 * 86400.0]  # leap day counted
    assert out["d"].tolist() == [19723, 19783]
