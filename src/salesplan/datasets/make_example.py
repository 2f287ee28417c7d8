"""Write the example company's files from the simulator (deterministic for the seed).

Run ``python -m salesplan.datasets.make_example [FOLDER]``; without a folder it rewrites the copy inside the
package (``salesplan/datasets/example/``, the folder of the data card). The files are gzipped CSV written with a
fixed gzip header, so re-running reproduces them byte for byte.

Examples
--------
>>> import tempfile, pathlib
>>> from salesplan.datasets.make_example import write_example
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> sorted(p.name for p in write_example(folder, n_customers=40, years=1, seed=3))[:3]
['activities.csv.gz', 'customers.csv.gz', 'forecast_calls.csv.gz']

The files hold the simulated company of the same arguments, row for row:

>>> import pandas as pd
>>> from salesplan.datasets import simulate
>>> data, _ = simulate(n_customers=40, years=1, seed=3)
>>> len(pd.read_csv(folder / "opportunities.csv.gz")), len(data.opportunities)
(816, 816)
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path
from typing import Any

from salesplan.datasets import EXAMPLE_ARGS, simulate

__all__ = ["write_example", "main"]

logger = logging.getLogger(__name__)

#: The folder of the bundled copy (inside the package source).
PACKAGE_FOLDER = Path(__file__).resolve().parent / "example"


def _write_gzip(path: Path, text: str) -> None:
    # mtime=0 and no file name in the header: the same text gives the same bytes.
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))


def write_example(folder: str | Path = PACKAGE_FOLDER, **simulate_args: Any) -> list[Path]:
    """Simulate the example company and write its tables, the true stage rates and ``meta.json`` to ``folder``.

    Parameters
    ----------
    folder : str or Path, default the package's ``datasets/example``
        Where to write (created when missing).
    **simulate_args
        Arguments of :func:`salesplan.datasets.simulate`; default :data:`salesplan.datasets.EXAMPLE_ARGS`.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    args = simulate_args or dict(EXAMPLE_ARGS)
    data, truth = simulate(**args)
    written = []
    for name, frame in data.tables.items():
        path = out / f"{name}.csv.gz"
        _write_gzip(path, frame.drop(columns=["is_return"], errors="ignore").to_csv(index=False))
        written.append(path)
        logger.info("%s: %d rows", name, len(frame))
    path = out / "truth_stage_rates.csv.gz"
    _write_gzip(path, truth.stage_rates.to_csv(index=False))
    written.append(path)
    meta = {"simulate": args, "as_of": str(data.as_of)}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    written.append(out / "meta.json")
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m salesplan.datasets.make_example [FOLDER]``."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_example(Path(args[0]) if args else PACKAGE_FOLDER)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
