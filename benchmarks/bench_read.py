"""Benchmark: reading and validating order lines with ``read_table`` vs a plain ``pandas.read_csv``.

Usage::

    nice .venv/bin/python benchmarks/bench_read.py [--rows 10000000] [--repeat 2] [--format iso|dayfirst|de]
        [--data FOLDER]

Creates ``benchmarks/data/orders_<rows>_<format>.csv`` once (``--data`` or the environment variable
``SALESPLAN_BENCH_DATA`` names another folder, e.g. a checkout's that already holds the file) (order lines of 100,000 customers over three years:
``order_id, customer_id, order_date, amount, quantity, product``) and times, alternately and ``--repeat`` times
each (the best and the median are printed; the machine may be shared), the time of:

* peer: ``pandas.read_csv(path)`` with pandas' defaults (dates stay text, nothing is checked);
* salesplan: ``salesplan.read_table(path, "orders")``: separator sniffing, title/footer detection, ids read as
  text, amounts and quantities read as floats by the parser (their first 64,000 characters being plain numbers), then :func:`salesplan.validate`: ids normalised, one date reading inferred for the column and parsed
  (:func:`salesplan.parse.parse_dates`), amounts and quantities checked, every rule applied.

Both wall and CPU time (user + system of this process, all threads) are printed: pandas reads on every core,
so on a busy machine the wall-time ratio says more about the load than about the code.

Formats: ``iso`` (``2024-03-05``), ``isotime`` (``2024-03-05 14:22:07``), ``dayfirst`` (``05/03/2024``, comma separator) and ``de`` (``;`` separator,
``05.03.2024`` dates, decimal commas). Prints both times and the ratio (target: at most 1.20, i.e. parsing and
validation add at most 20% to the read time) and the load average, since the machine may be shared. Each round
reads with pandas, then with salesplan, back to back; the median of the per-round ratios is printed too: the best
of each side divides by pandas' luckiest run and the separate medians by runs minutes apart, while a pair shares
the machine's state of the moment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def make_file(rows: int, fmt: str, folder: Path = DATA) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"orders_{rows}_{fmt}.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(14)
    days = pd.date_range("2023-01-01", "2025-12-31", freq="D")
    date_text = {"iso": days.strftime("%Y-%m-%d"), "dayfirst": days.strftime("%d/%m/%Y"),
                 "de": days.strftime("%d.%m.%Y"), "isotime": days.strftime("%Y-%m-%d ")}[fmt]
    times = np.asarray(pd.date_range("2024-01-01", periods=86_400, freq="s").strftime("%H:%M:%S"))
    customers = np.char.add("C", np.char.zfill(np.arange(100_000).astype(str), 6))
    products = np.array([f"P{i:02d}" for i in range(50)])
    chunk = 1_000_000
    sep = ";" if fmt == "de" else ","
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(sep.join(["order_id", "customer_id", "order_date", "amount", "quantity", "product"]) + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            frame = pd.DataFrame({
                "order_id": np.char.add("O", np.char.zfill(np.arange(start, start + n).astype(str), 9)),
                "customer_id": customers[rng.integers(0, len(customers), n)],
                "order_date": np.asarray(date_text)[rng.integers(0, len(days), n)] if fmt != "isotime" else
                np.char.add(np.asarray(date_text)[rng.integers(0, len(days), n)], times[rng.integers(0, 86_400, n)]),
                "amount": np.round(rng.gamma(2.0, 150.0, n), 2),
                "quantity": rng.integers(1, 20, n),
                "product": products[rng.integers(0, len(products), n)],
            })
            frame.to_csv(handle, header=False, index=False, sep=sep, decimal="," if fmt == "de" else ".")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--format", choices=["iso", "isotime", "dayfirst", "de"], default="iso")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SALESPLAN_BENCH_DATA", DATA)),
                        help="folder of the data files (default benchmarks/data or $SALESPLAN_BENCH_DATA)")
    args = parser.parse_args()

    import salesplan as sp

    path = make_file(args.rows, args.format, args.data)
    peer_options = {"sep": ";", "decimal": ","} if args.format == "de" else {}
    print(f"{path.name}: {path.stat().st_size / 1e6:.0f} MB, load average before {os.getloadavg()[0]:.2f}")
    times: dict[str, list[float]] = {"pandas.read_csv": [], "salesplan.read_table": []}
    cpu: dict[str, list[float]] = {"pandas.read_csv": [], "salesplan.read_table": []}
    for _ in range(args.repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        peer = pd.read_csv(path, **peer_options)
        times["pandas.read_csv"].append(time.perf_counter() - t0)
        cpu["pandas.read_csv"].append(time.process_time() - c0)
        del peer
        c0, t0 = time.process_time(), time.perf_counter()
        ours = sp.read_table(path, "orders")
        times["salesplan.read_table"].append(time.perf_counter() - t0)
        cpu["salesplan.read_table"].append(time.process_time() - c0)
        assert len(ours) == args.rows and ours["order_date"].notna().all()
        del ours
    best = {k: min(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    for name, seconds in best.items():
        print(f"{name:<22} {seconds:8.2f} s wall, {best_cpu[name]:6.2f} s CPU (best); median {median[name]:.2f} s "
              f"wall, {median_cpu[name]:.2f} s CPU  (runs: {', '.join(f'{t:.2f}' for t in times[name])})")
    pairs = [t / r for t, r in zip(times["salesplan.read_table"], times["pandas.read_csv"], strict=True)]
    pairs_cpu = [t / r for t, r in zip(cpu["salesplan.read_table"], cpu["pandas.read_csv"], strict=True)]
    ratio = best["salesplan.read_table"] / best["pandas.read_csv"]
    ratio_cpu = best_cpu["salesplan.read_table"] / best_cpu["pandas.read_csv"]
    print(f"ratio read_table / read_csv: {ratio:.2f} wall, {ratio_cpu:.2f} CPU (best; target <= 1.20); median "
          f"{median['salesplan.read_table'] / median['pandas.read_csv']:.2f} wall, "
          f"{median_cpu['salesplan.read_table'] / median_cpu['pandas.read_csv']:.2f} CPU; "
          f"load average after {os.getloadavg()[0]:.2f}")
    print(f"per pair (read_csv then read_table, back to back): median ratio {statistics.median(pairs):.2f} wall, "
          f"{statistics.median(pairs_cpu):.2f} CPU (the steadiest figure on a machine whose memory state moves "
          f"single runs by 0.3 s; target <= 1.20)")

if __name__ == "__main__":
    main()
