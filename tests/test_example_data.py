"""The example company ships inside the package and is exactly what its generator writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesplan.datasets import example_path, load_example, load_example_truth
from salesplan.datasets.make_example import PACKAGE_FOLDER, write_example
from salesplan.errors import SalesplanError


def test_bundled_files_are_the_generators_output_byte_for_byte(tmp_path: Path) -> None:
    written = write_example(tmp_path)
    bundled = sorted(p.name for p in PACKAGE_FOLDER.iterdir() if p.name != "README.md")
    assert [p.name for p in written] == bundled
    for path in written:
        assert path.read_bytes() == (PACKAGE_FOLDER / path.name).read_bytes(), path.name


def test_example_is_read_from_the_package_and_matches_its_data_card() -> None:
    assert Path(str(example_path())).resolve() == PACKAGE_FOLDER
    data = load_example()
    rows = {name: len(frame) for name, frame in data.tables.items()}
    # the row counts of the data card (datasets/example/README.md)
    assert rows == {"customers": 600, "orders": 1892, "opportunities": 2594, "stage_events": 8652,
                    "activities": 8106, "targets": 40, "opportunity_history": 10550,
                    "forecast_calls": 1713}
    assert len(load_example_truth()) == 63
    assert data.tables["customers"]["customer_id"].map(type).eq(str).all()


def test_override_folder_of_plain_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_example()
    orders = data.tables["orders"]
    for name, frame in data.tables.items():
        if name == "orders":  # the override is what is read: keep only the returns
            frame = frame[frame["is_return"]]
        frame.drop(columns=["is_return"], errors="ignore").to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "meta.json").write_text((PACKAGE_FOLDER / "meta.json").read_text())
    monkeypatch.setenv("SALESPLAN_EXAMPLE_DATA", str(tmp_path))
    assert len(load_example().tables["orders"]) == int(orders["is_return"].sum()) > 0


def test_missing_override_and_missing_shared_data_say_what_to_set(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from salesplan.datasets import shared_data_dir

    monkeypatch.setenv("SALESPLAN_EXAMPLE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(SalesplanError, match="SALESPLAN_EXAMPLE_DATA"):
        load_example()
    monkeypatch.setenv("SALESPLAN_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(SalesplanError, match="SALESPLAN_SHARED_DATA=.*is not a folder"):
        shared_data_dir()
    monkeypatch.delenv("SALESPLAN_SHARED_DATA")
    monkeypatch.chdir(tmp_path)  # no shared/data above a temporary folder
    with pytest.raises(SalesplanError, match="no shared/data folder in .* SALESPLAN_SHARED_DATA is not set"):
        shared_data_dir()
    (tmp_path / "shared" / "data" / "x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "shared" / "data" / "x")
    assert shared_data_dir("x") == (tmp_path / "shared" / "data" / "x").resolve()
