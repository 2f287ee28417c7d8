"""Example data, the simulator with known ground truth, and the folder of the real public data.

The example company ships inside the package (gzipped CSV under ``salesplan/datasets/example/``, read through
:mod:`importlib.resources`), so :func:`load_example`, ``salesplan demo`` and ``salesplan init --example-data``
work wherever salesplan is installed. Its data card is ``salesplan/datasets/example/README.md`` and
:mod:`salesplan.datasets.make_example` rewrites it from the simulator.

Settings (environment variables)
    ``SALESPLAN_EXAMPLE_DATA``
        A folder that replaces the bundled example (files ``<table>.csv`` or ``<table>.csv.gz`` and
        ``meta.json``, as written by :mod:`salesplan.datasets.make_example`).
    ``SALESPLAN_SHARED_DATA``
        The folder of the real public datasets used by the notebooks and tests (see :func:`shared_data_dir`).

Examples
--------
>>> from salesplan.datasets import load_example
>>> data = load_example()
>>> data.status_counts().loc["acquisition"].to_dict()  # open + won + lost = total
{'open': 18, 'won': 79, 'lost': 854, 'total': 951}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import IO

import pandas as pd

from salesplan.data import TABLE_ORDER, SalesData
from salesplan.datasets.simulate import CLV_PARAMS, STAGE_RATES, Truth, simulate
from salesplan.errors import SalesplanError

__all__ = [
    "simulate",
    "Truth",
    "load_example",
    "load_example_truth",
    "example_path",
    "shared_data_dir",
    "CLV_PARAMS",
    "STAGE_RATES",
    "EXAMPLE_ARGS",
]

EXAMPLE_SEED = 20240
#: Arguments of :func:`simulate` that made the bundled example company.
EXAMPLE_ARGS = {"n_customers": 400, "years": 3, "seed": EXAMPLE_SEED}
#: Column types fixed on reading (ids stay strings, ``"007"`` is not the number 7).
_ID_DTYPES = {"customer_id": str, "opportunity_id": str, "order_id": str}


def example_path() -> Traversable:
    """Folder of the example data: ``$SALESPLAN_EXAMPLE_DATA`` if set, else the copy inside the package.

    Returns
    -------
    importlib.resources.abc.Traversable
        A :class:`pathlib.Path` for a set variable or a package installed on a file system (the usual case);
        use ``/`` and ``.open()`` on it, which work for both.

    Examples
    --------
    >>> from salesplan.datasets import example_path
    >>> (example_path() / "meta.json").is_file()
    True
    """
    env = os.environ.get("SALESPLAN_EXAMPLE_DATA")
    if env:
        return Path(env)
    return resources.files("salesplan.datasets") / "example"


@contextmanager
def _open_table(folder: Traversable, name: str) -> Iterator[tuple[IO[bytes], str | None] | None]:
    for suffix, compression in ((".csv.gz", "gzip"), (".csv", None)):
        entry = folder / f"{name}{suffix}"
        if entry.is_file():
            with entry.open("rb") as handle:
                yield handle, compression
            return
    yield None


def _read_example_table(folder: Traversable, name: str) -> pd.DataFrame | None:
    with _open_table(folder, name) as found:
        if found is None:
            return None
        handle, compression = found
        return pd.read_csv(handle, compression=compression, dtype=_ID_DTYPES)


def _example_folder() -> Traversable:
    folder = example_path()
    if not (folder / "meta.json").is_file():
        raise SalesplanError(
            f"example data not found in {folder} (no meta.json); unset SALESPLAN_EXAMPLE_DATA to use the copy "
            f"inside the package, point it at a folder written by `python -m salesplan.datasets.make_example`, "
            f"or call salesplan.datasets.simulate(**{EXAMPLE_ARGS})"
        )
    return folder


def load_example() -> SalesData:
    """Load the example company: a simulated B2B seller with three years of CRM and order data.

    The data ship inside the package (see the data card ``salesplan/datasets/example/README.md``); they were made
    by :func:`simulate` with :data:`EXAMPLE_ARGS`, so the true model behind them is known.

    Returns
    -------
    SalesData
        The six validated tables (customers, orders, opportunities, stage_events, activities, targets) with the
        data cut ``as_of`` = 2026-01-01.

    Raises
    ------
    SalesplanError
        When ``SALESPLAN_EXAMPLE_DATA`` names a folder without the example files.

    Examples
    --------
    >>> from salesplan.datasets import load_example
    >>> data = load_example()
    >>> str(data.as_of.date()), len(data.tables["customers"])
    ('2026-01-01', 600)
    """
    folder = _example_folder()
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    frames = {}
    for name in TABLE_ORDER:
        frame = _read_example_table(folder, name)
        if frame is not None:
            frames[name] = frame
    return SalesData.from_frames(**frames, as_of=meta["as_of"])


def load_example_truth() -> pd.DataFrame:
    """The true stage advance rates behind the example company (from the simulator).

    Returns
    -------
    pandas.DataFrame
        One row per process, segment and stage (segment ``"*"`` = process level) with the true ``rate``.

    Examples
    --------
    >>> from salesplan.datasets import load_example_truth
    >>> truth = load_example_truth()
    >>> sorted(truth["process"].unique())[:2]
    ['acquisition', 'cross_selling']
    """
    frame = _read_example_table(_example_folder(), "truth_stage_rates")
    if frame is None:
        raise SalesplanError(f"example data in {example_path()} has no truth_stage_rates.csv(.gz)")
    return frame


def shared_data_dir(name: str | None = None) -> Path:
    """Folder of the real public datasets (UCI Online Retail, Olist, Maven CRM, ...) used by notebooks and tests.

    The one setting is the environment variable ``SALESPLAN_SHARED_DATA``. When it is not set, the first
    ``shared/data`` folder found in the current directory or one of its parents is used, which is the folder
    beside a checkout when working in the checkout or its ``notebooks/`` folder.

    Parameters
    ----------
    name : str, optional
        A dataset subfolder (e.g. ``"uci-online-retail"``); it must exist too.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    SalesplanError
        When the folder is absent, with what was looked for and how to set it.

    Examples
    --------
    >>> from salesplan.datasets import shared_data_dir
    >>> shared_data_dir("no-such-dataset")
    Traceback (most recent call last):
    ...
    salesplan.errors.SalesplanError: real public data...
    """
    env = os.environ.get("SALESPLAN_SHARED_DATA")
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise SalesplanError(
                f"real public data not found: SALESPLAN_SHARED_DATA={env} is not a folder; point it at the folder "
                f"that holds the datasets (uci-online-retail/, olist-marketing-funnel/, ...)"
            )
    else:
        here = Path.cwd().resolve()
        found = next((p / "shared" / "data" for p in (here, *here.parents) if (p / "shared" / "data").is_dir()),
                     None)
        if found is None:
            raise SalesplanError(
                f"real public data not found: no shared/data folder in {here} or its parents, and "
                f"SALESPLAN_SHARED_DATA is not set; set it to the folder that holds the datasets "
                f"(uci-online-retail/, olist-marketing-funnel/, ...). The example data (load_example()) needs no download."
            )
        root = found
    if name is None:
        return root
    folder = root / name
    if not folder.is_dir():
        raise SalesplanError(f"real public data: {folder} not found (SALESPLAN_SHARED_DATA or shared/data is {root})")
    return folder
