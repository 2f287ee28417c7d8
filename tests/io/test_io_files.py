"""read_table: CSV (sniffed separator, text ids), Parquet (file, folder, glob), Excel (sheet), clear errors."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from salesplan import validate as sp_validate
from salesplan.errors import ConfigError, SalesplanError, SchemaError
from salesplan.io import read_raw, read_table, sniff_separator

GERMAN = {"Kunde": "customer_id", "Datum": "order_date", "Betrag": "amount"}


def test_semicolon_csv_with_decimal_comma_keeps_leading_zeros(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("Kunde;Datum;Betrag;Menge\n00042;2024-01-05;1234,50;2\n0007;2024-02-01;-20,00;-1\n",
                    encoding="utf-8-sig")
    out = read_table(path, "orders", GERMAN)
    assert out["customer_id"].tolist() == ["00042", "0007"]
    assert out["amount"].tolist() == [1234.5, -20.0]
    assert out["is_return"].tolist() == [False, True]
    assert out["order_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-01")]


def test_comma_and_tab_csv_and_gzip(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,order_date,amount\n001,2024-01-05,10.5\n")
    (tmp_path / "t.tsv").write_text("customer_id\torder_date\tamount\n001\t2024-01-05\t10.5\n")
    with gzip.open(tmp_path / "g.csv.gz", "wt") as handle:
        handle.write("customer_id;order_date;amount\n001;2024-01-05;10,5\n")
    for name in ("c.csv", "t.tsv", "g.csv.gz"):
        out = read_table(tmp_path / name, "orders")
        assert out[["customer_id", "amount"]].values.tolist() == [["001", 10.5]], name


def test_cp1252_file_is_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "kunden.csv"
    path.write_bytes("customer_id;name\n01;Müller GmbH\n".encode("cp1252"))
    out = read_table(path, "customers")
    assert out["name"].tolist() == ["Müller GmbH"]
    assert "cp1252" in caplog.text


def test_reader_options_pass_through(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("export of 2024\ncustomer_id|order_date|amount\n5|2024-01-05|3\n")
    out = read_table(path, "orders", sep="|", skiprows=1)
    assert out["customer_id"].tolist() == ["5"]


def test_parquet_file_folder_and_glob(tmp_path):
    frame = pd.DataFrame({"customer_id": ["01", "02"], "order_date": pd.to_datetime(["2024-01-05", "2024-01-06"]),
                          "amount": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "one.parquet")
    parts = tmp_path / "parts"
    parts.mkdir()
    frame.iloc[:1].to_parquet(parts / "a.parquet")
    frame.iloc[1:].to_parquet(parts / "b.parquet")
    for source in (tmp_path / "one.parquet", parts, str(parts / "*.parquet")):
        out = read_table(source, "orders")
        assert sorted(out["customer_id"]) == ["01", "02"] and float(out["amount"].sum()) == 3.0


def test_excel_sheet_option(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.DataFrame({"Nr": ["007", "008"], "Name": ["A", "B"]}).to_excel(writer, sheet_name="Kunden", index=False)
    out = read_table(path, "customers", {"Nr": "customer_id"}, sheet="Kunden")
    assert out["customer_id"].tolist() == ["007", "008"]
    with pytest.raises(SchemaError, match=r"customers.customer_id \[required\]"):
        read_table(path, "customers")  # first sheet has no customer column


def test_errors_for_missing_files_unknown_types_and_tables(tmp_path):
    with pytest.raises(ConfigError, match="file not found") as info:
        read_table(tmp_path / "nope.csv", "orders")
    assert isinstance(info.value, SalesplanError)
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(ConfigError, match="unknown file type"):
        read_table(tmp_path / "data.json", "orders")
    with pytest.raises(ConfigError, match="no file matches"):
        read_table(str(tmp_path / "*.parquet"), "orders")
    with pytest.raises(ConfigError, match="unknown table 'deals'"):
        read_table(tmp_path / "data.json", "deals")


def test_validation_failures_name_rows(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("customer_id,order_date,amount\n1,2024-01-05,abc\n,2024-01-06,5\n")
    with pytest.raises(SchemaError) as info:
        read_table(path, "orders")
    cases = info.value.failure_cases
    assert sorted(zip(cases["column"], cases["check"], cases["key"], strict=True)) == [
        ("amount", "numeric", "row 0"), ("customer_id", "not_null", "row 1")]


def test_sniff_separator_and_read_raw(tmp_path):
    assert sniff_separator("a|b|c\n1|2|3\n") == "|"
    assert sniff_separator("a\tb\n1\t2\n") == "\t"
    path = tmp_path / "r.csv"
    path.write_text("id;v\n007;1,5\n")
    assert read_raw(path, text_columns=["id"]).values.tolist() == [["007", 1.5]]


def test_an_empty_id_is_missing_even_without_blanks():
    frame = pd.DataFrame({"customer_id": pd.Series(["A", ""], dtype="str"), "order_date": ["2024-01-05"] * 2,
                          "amount": [1.0, 2.0]})
    with pytest.raises(SchemaError) as err:
        sp_validate(frame, "orders")
    assert err.value.failure_cases[["column", "check"]].values.tolist() == [["customer_id", "not_null"]]


def test_plain_number_columns_are_read_as_floats_by_the_parser(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_date,amount,quantity\n007,2024-01-05,10.50,3\n008,2024-01-06,-4,-2\n"
                    "009,2024-01-07,0,\n010,2024-01-08,+2.25,NA\n011,2024-01-09,9007199254740993,12\n")
    raw = read_raw(path, text_columns=["customer_id"], number_columns=["amount", "quantity"])
    assert raw["quantity"].dtype == "float64"  # the parser's floats, no integer column copied afterwards
    out = read_table(path, "orders")
    assert out["customer_id"].tolist() == ["007", "008", "009", "010", "011"]
    assert out["amount"].tolist() == [10.5, -4.0, 0.0, 2.25, 9007199254740992.0]  # 2**53 + 1 rounds to even
    assert out["quantity"].tolist()[:2] + out["quantity"].tolist()[4:] == [3.0, -2.0, 12.0]
    assert out["quantity"].isna().tolist() == [False, False, True, True, False]
    assert out["is_return"].tolist() == [False, True, False, False, False]
    semicolon = tmp_path / "de.csv"
    semicolon.write_text("Kunde;Datum;Betrag;Menge\n1;2024-01-05;5277,76;2\n2;2024-01-06;-1,5;-1\n")
    assert read_raw(semicolon, number_columns=["Betrag", "Menge"])["Menge"].dtype == "float64"
    de = read_table(semicolon, "orders", {**GERMAN, "Menge": "quantity"})
    assert de[["amount", "quantity"]].values.tolist() == [[5277.76, 2.0], [-1.5, -1.0]]


@pytest.mark.parametrize(("late", "value"), [("USD 1,250.50", 1250.5), ("1.234,5", None), ("twelve", None)])
def test_an_amount_that_is_no_plain_number_after_the_sample_is_read_as_before(tmp_path, late, value):
    # the first 64,000 characters hold plain numbers only; the parser meets the text at the end
    rows = [f"C{i:05d},2024-01-05,{i % 97}.25,{i % 7}" for i in range(3_000)]
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_date,amount,quantity\n" + "\n".join(rows) + f'\nC99999,2024-01-06,"{late}",1\n')
    assert len(path.read_text()) > 64_000
    if value is not None:
        out = read_table(path, "orders")
        assert len(out) == 3_001 and out["amount"].iloc[-1] == value and out["amount"].iloc[2] == 2.25
        assert out["quantity"].tolist()[:8] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]
        return
    with pytest.raises(SchemaError) as err:
        read_table(path, "orders")
    cases = err.value.failure_cases
    assert cases[["column", "check", "key", "value"]].values.tolist() == [["amount", "numeric", "row 3000", late]]
