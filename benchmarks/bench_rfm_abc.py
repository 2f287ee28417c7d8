"""Benchmark: RFM + ABC from 10M raw transactions (reduction in Polars via narwhals, scoring in pandas/numpy).

Usage::

    nice .venv/bin/python benchmarks/bench_rfm_abc.py [--rows 10000000] [--customers 500000]

Creates ``benchmarks/data/rfm_<rows>.parquet`` once. Times (a) the per-customer reduction on an in-memory Polars
frame and on a lazy Parquet scan, (b) RFM scores and segments, (c) ABC classes with Gini. Target: (a, in memory)
+ (b) + (c) under 2 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from salesplan.reduce.customers import customer_summary
from salesplan.segment import abc_classes, rfm_scores

DATA = Path(__file__).resolve().parent / "data"


def make_data(rows: int, customers: int, path: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    weight = rng.pareto(1.5, customers) + 0.05
    cid = rng.choice(customers, rows, p=weight / weight.sum())
    day = rng.integers(0, 3 * 365, rows)
    amount = np.round(rng.gamma(2.0, 60.0, rows) * np.where(rng.random(rows) < 0.02, -0.5, 1.0), 2)
    frame = pl.DataFrame({"customer_id": cid, "order_date": pl.Series(np.datetime64("2022-01-01") +
                                                                       day.astype("timedelta64[D]")),
                          "amount": amount, "product": rng.integers(0, 500, rows)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=500_000)
    args = parser.parse_args()
    path = DATA / f"rfm_{args.rows}.parquet"
    if not path.exists():
        make_data(args.rows, args.customers, path)
    frame = pl.read_parquet(path)
    as_of = "2024-12-31"
    times = {}
    t0 = time.perf_counter()
    summary = customer_summary(frame, as_of=as_of, product_col=None, margin_col=None)
    times["reduce (in-memory Polars)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rfm = rfm_scores(summary)
    times["RFM scores + segments"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    abc = abc_classes(summary["revenue"])
    times["ABC + Gini"] = time.perf_counter() - t0
    total = sum(times.values())
    t0 = time.perf_counter()
    customer_summary(pl.scan_parquet(path), as_of=as_of, product_col=None, margin_col=None)
    scan = time.perf_counter() - t0
    print(f"{frame.height:,} transactions, {len(summary):,} customers")
    for name, sec in times.items():
        print(f"  {name:28s} {sec:6.2f} s")
    print(f"  {'total':28s} {total:6.2f} s   (target < 2 s: {'met' if total < 2 else 'MISSED'})")
    print(f"  reduce from a lazy Parquet scan {scan:6.2f} s (includes reading the file)")
    print(f"  segments: {rfm['segment'].value_counts().head(3).to_dict()}; A customers "
          f"{int((abc['abc_class'] == 'A').sum()):,}; Gini {abc.attrs['gini']:.3f}")
    pd.Series(times).to_json(DATA / "bench_rfm_abc_results.json")


if __name__ == "__main__":
    main()
