"""Example data and the simulator with known ground truth.

Examples
--------
>>> from salesplan.datasets import load_example
>>> data = load_example()
>>> bool(data.status_counts().loc["acquisition", "total"] > 0)
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from salesplan.data import TABLE_ORDER, SalesData
from salesplan.datasets.simulate import CLV_PARAMS, STAGE_RATES, Truth, simulate
from salesplan.errors import SalesplanError

__all__ = ["simulate", "Truth", "load_example", "example_path", "CLV_PARAMS", "STAGE_RATES"]

EXAMPLE_SEED = 20240
EXAMPLE_ARGS = {"n_customers": 400, "years": 3, "seed": EXAMPLE_SEED}


def example_path() -> Path:
    """Folder of the bundled example data: ``$SALESPLAN_EXAMPLE_DATA`` or ``data/example`` of the source tree."""
    env = os.environ.get("SALESPLAN_EXAMPLE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "data" / "example"


def load_example() -> SalesData:
    """Load the committed example company (made by ``scripts/make_example_data.py`` with the simulator).

    Returns a validated :class:`~salesplan.SalesData`; see ``data/README.md`` for the data card.

    Raises
    ------
    SalesplanError
        When the example folder cannot be found (installed from a wheel without the source tree: set
        ``SALESPLAN_EXAMPLE_DATA`` or call :func:`simulate` with the arguments in ``data/example/meta.json``).
    """
    folder = example_path()
    if not (folder / "meta.json").exists():
        raise SalesplanError(
            f"example data not found in {folder}; set SALESPLAN_EXAMPLE_DATA to the data/example folder of a "
            f"salesplan checkout, or use salesplan.datasets.simulate(**{EXAMPLE_ARGS})"
        )
    meta = json.loads((folder / "meta.json").read_text())
    frames = {}
    for name in TABLE_ORDER:
        path = folder / f"{name}.csv"
        if path.exists():
            frames[name] = pd.read_csv(path, dtype={"customer_id": str, "opportunity_id": str, "order_id": str})
    return SalesData.from_frames(**frames, as_of=meta["as_of"])
