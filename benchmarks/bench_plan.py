"""Benchmark: plan 1,000 targets (segment x process x month) with rate uncertainty, against a naive reference.

The plan is ``salesplan.plan.backward`` end to end (validation, moment matching, the beta-negative-binomial
quantile for every stage of every target). The naive reference answers the same question the obvious way: for
each (target, stage) count n upward from x until ``scipy.stats.betabinom.sf(x - 1, n, a, b) >= confidence``.
It is slow, so by default it runs on a random sample of (target, stage) rows and is extrapolated; ``--full`` runs
it on everything. Both must agree exactly on the rows compared.

Run: ``nice .venv/bin/python benchmarks/bench_plan.py [--targets 1000] [--sample 150] [--full]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

import salesplan as sp
from salesplan.datasets import STAGE_RATES
from salesplan.plan import backward


def make_inputs(n_targets: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Targets per (process, segment, month) and a funnel table with Beta rates per (process, segment, stage)."""
    rng = np.random.default_rng(seed)
    procs = list(STAGE_RATES)
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    n_seg = int(np.ceil(n_targets / (len(procs) * len(months))))
    segments = [f"seg{i:02d}" for i in range(n_seg)]
    rows = []
    for p in procs:
        stages = sp.DEFAULT_PROCESSES[p].stages
        for s in segments:
            evidence = rng.uniform(30, 600)  # deals behind each rate: more for big segments
            for stage, base in zip(stages, STAGE_RATES[p], strict=True):
                r = float(np.clip(base + rng.normal(0, 0.05), 0.05, 0.95))
                rows.append({"process": p, "segment": s, "stage": stage, "alpha": r * evidence,
                             "beta": (1 - r) * evidence})
    funnel = pd.DataFrame(rows)
    keys = [(p, s, m) for p in procs for s in segments for m in months][:n_targets]
    targets = pd.DataFrame(keys, columns=["process", "segment", "period"])
    targets["contracts"] = rng.integers(1, 40, len(targets))
    return targets, funnel


def naive(x: int, a: float, b: float, c: float) -> int:
    """Count n upward until P(at least x wins | n) >= c under the beta-binomial."""
    n = x
    while stats.betabinom.sf(x - 1, n, a, b) < c:
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.8)
    parser.add_argument("--sample", type=int, default=150, help="(target, stage) rows for the naive reference")
    parser.add_argument("--full", action="store_true", help="run the naive reference on every row")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    targets, funnel = make_inputs(args.targets)
    backward(targets.head(5), funnel, args.confidence)  # warm imports and caches
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        plan = backward(targets, funnel, args.confidence)
        times.append(time.perf_counter() - t0)
    vol = plan.volumes
    best, median = min(times), float(np.median(times))
    print(f"salesplan.plan.backward: {len(targets):,} targets, {len(vol):,} (target, stage) quantiles, "
          f"beta-negative-binomial, confidence {args.confidence}")
    print(f"  best {best:.3f} s, median {median:.3f} s over {args.repeats} runs  "
          f"({'PASS' if median < 1.0 else 'FAIL'}: budget 1 s)")

    rng = np.random.default_rng(1)
    rows = np.arange(len(vol)) if args.full else rng.choice(len(vol), min(args.sample, len(vol)), replace=False)
    sub = vol.iloc[rows]
    t0 = time.perf_counter()
    ref = [naive(int(r.contracts), r.win_alpha, r.win_beta, args.confidence) for r in sub.itertuples()]
    naive_time = time.perf_counter() - t0
    agree = int(np.sum(np.asarray(ref) == sub["required_entries"].to_numpy()))
    per_row_naive = naive_time / len(sub)
    est_naive = per_row_naive * len(vol)
    label = "measured" if args.full else f"extrapolated from {len(sub)} rows ({naive_time:.2f} s)"
    print(f"naive scipy.stats.betabinom count-up: {est_naive:.1f} s for all rows ({label})")
    print(f"  agreement on compared rows: {agree}/{len(sub)}")
    print(f"  speed-up (naive / salesplan, median): {est_naive / median:,.0f}x")


if __name__ == "__main__":
    main()
