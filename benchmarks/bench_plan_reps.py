"""Benchmark (issue 17): targets netted against a large open pipeline, split to reps by week.

Data (generated, nothing written): ``--segments`` segments x 5 processes x ``--months`` months of contract targets
(default 10 x 5 x 20 = 1,000 targets), ``--deals`` open deals (default 50,000) spread over the processes and
segments, in random stages with random ages, uncertain stage rates (Beta with 200 pseudo-observations), a team of
``--reps`` reps (default 200) each working one process.

Timed, in one run (the least wall and CPU time of each step over ``--repeat`` runs): the pipeline forecast of the open deals (``salesplan.forecast.pipeline``,
``--draws`` draws, grouped by segment: the simulation of those deals' outcomes with rate uncertainty), the
backward plan with the rates' uncertainty, netting against the forecast (``Plan.net_of``: shared rate draws), and
the whole-number split to reps by week (``Plan.per_rep``). There is no peer library that plans net of a pipeline
per rep (so no ratio is printed; the script says so); it prints each step's wall time, user and system CPU time of
this process (CPU time is the figure to compare on a shared machine: the wall time also counts other jobs), the
total against the 2 s target, the first (cold) run beside the least, the load average and CPU pressure before and
after, and checks the result (whole numbers add up to the rounded totals, netted entries never above the gross
ones).

System time on Linux includes the kernel's zeroing (and, under memory pressure, compaction) of the transparent huge
pages numpy asks for on large arrays; on a loaded machine it varies several-fold between identical runs. Setting
``NUMPY_MADVISE_HUGEPAGE=0`` in the environment shows how much of it that is.

Usage: ``nice .venv/bin/python benchmarks/bench_plan_reps.py [--deals 50000] [--segments 10] [--months 20]
[--reps 200] [--draws 500] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time

import numpy as np
import pandas as pd

import salesplan as sp
from salesplan.forecast.pipeline import FunnelParameters, pipeline
from salesplan.plan import backward, read_team

CUT = pd.Timestamp("2026-01-01")
PROCS = {name: sp.SalesProcess(name, tuple(f"{name[:3]}_s{i}" for i in range(k)))
         for name, k in (("acquisition", 5), ("new_product", 4), ("delivery_rate", 4), ("cross_selling", 4),
                         ("retention", 3))}


def build(n_deals: int, n_segments: int, n_months: int, n_reps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    segs = [f"seg{i:02d}" for i in range(n_segments)]
    rrows, drows = [], []
    for proc in PROCS.values():
        for seg in segs:
            for stage in proc.stages:
                rate = float(rng.uniform(0.4, 0.8))
                rrows.append({"process": proc.name, "segment": seg, "stage": stage, "rate": rate,
                              "alpha": rate * 200, "beta": (1 - rate) * 200})
                for outcome, days in (("advance", rng.uniform(5, 20)), ("loss", rng.uniform(10, 60))):
                    drows.append({"process": proc.name, "segment": seg, "stage": stage, "outcome": outcome,
                                  "mu": np.log(days), "sigma": 0.6})
    params = FunnelParameters(dict(PROCS), ["segment"], pd.DataFrame(rrows), pd.DataFrame(drows))
    names = list(PROCS)
    proc = rng.choice(names, n_deals)
    seg = rng.choice(segs, n_deals)
    ids = [f"d{i:07d}" for i in range(n_deals)]
    stage = [PROCS[p].stages[rng.integers(len(PROCS[p].stages))] for p in proc]
    entered = CUT - pd.to_timedelta(rng.integers(1, 60, n_deals), unit="D")
    events = pd.DataFrame({"opportunity_id": ids, "stage": stage, "entered_at": entered})
    opps = pd.DataFrame({"opportunity_id": ids, "process": proc, "segment": seg, "amount": 1000.0,
                         "created_at": entered - pd.Timedelta(days=1)})
    months = [str(p) for p in pd.period_range(CUT, periods=n_months, freq="M")]
    targets = pd.DataFrame([(p, s, m, int(rng.integers(2, 12))) for p in names for s in segs for m in months],
                           columns=["process", "segment", "period", "contracts"])
    reps = [{"owner": f"rep{i:03d}", "processes": [names[i % len(names)]], "hours_per_week": 30.0}
            for i in range(n_reps)]
    return params, events, opps, targets, read_team(reps)


def _load() -> str:
    """The load averages and, where the kernel reports it, the share of time tasks waited for a CPU (10 s)."""
    one, five, fifteen = os.getloadavg()
    text = f"load {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} CPUs"
    try:
        with open("/proc/pressure/cpu") as fh:
            text += f", CPU pressure {fh.readline().split()[1].split('=')[1]}%"
    except (OSError, IndexError):
        pass
    return text


def _clock() -> tuple[float, float, float]:
    """Wall, user CPU and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime, usage.ru_stime


def _since(start: tuple[float, float, float]) -> tuple[float, float, float]:
    now = _clock()
    return now[0] - start[0], now[1] - start[1], now[2] - start[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=50_000)
    ap.add_argument("--segments", type=int, default=10)
    ap.add_argument("--months", type=int, default=20)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    params, events, opps, targets, team = build(args.deals, args.segments, args.months, args.reps)
    print(f"{len(targets):,} targets, {len(events):,} open deals, {len(team)} reps, {args.draws} draws; "
          f"{_load()}; NUMPY_MADVISE_HUGEPAGE={os.environ.get('NUMPY_MADVISE_HUGEPAGE', 'unset')}")
    print("peer: none (no library plans net of an open pipeline per rep and week), so no ratio")
    best: dict[str, tuple[float, float, float]] = {}
    first: tuple[float, float, float] | None = None
    for _ in range(args.repeat):
        times = {}
        t0 = t = _clock()
        fc = pipeline(events, params, opportunities=opps, as_of=CUT, horizon=pd.DateOffset(months=args.months),
                      freq="M", include_new=False, n_draws=args.draws, seed=1)
        times["forecast (simulate open deals)"] = _since(t)
        t = _clock()
        plan = backward(targets, params.rates, 0.8, processes=PROCS,
                        durations={p: {s: 10 for s in proc.stages} for p, proc in PROCS.items()})
        times["backward plan"] = _since(t)
        t = _clock()
        net = plan.net_of(fc)
        times["netting"] = _since(t)
        t = _clock()
        reps = net.per_rep(team, freq="W")
        times["per rep and week"] = _since(t)
        times["total"] = _since(t0)
        first = times["total"] if first is None else first
        # the least of each time over the repeats (on a shared machine the least is the best estimate of the
        # step's own cost)
        best = {k: v if k not in best else tuple(min(a, b) for a, b in zip(v, best[k], strict=True))
                for k, v in times.items()}
    # CPU time (this process) beside the wall time: on a shared machine the wall time also counts other jobs; the
    # system time is the kernel's (mostly the first touch of fresh memory), which varies with the machine's load
    print(f"  {'step':32s} {'wall':>9s} {'user cpu':>9s} {'sys cpu':>9s} {'user+sys':>9s}  (least of {args.repeat})")
    for name, (sec, user, system) in best.items():
        print(f"  {name:32s} {sec:7.2f} s {user:7.2f} s {system:7.2f} s {user + system:7.2f} s")
    wall, user, system = best["total"]
    assert first is not None
    print(f"  {'total of the first run':32s} {first[0]:7.2f} s {first[1]:7.2f} s {first[2]:7.2f} s "
          f"{first[1] + first[2]:7.2f} s")
    print(f"total {wall:.2f} s wall, {user + system:.2f} s CPU ({user:.2f} s user + {system:.2f} s system) against "
          f"the 2 s target: {'met' if user + system < 2 else 'NOT met'} (CPU), "
          f"{'met' if user < 2 else 'NOT met'} (user CPU), {'met' if wall < 2 else 'NOT met'} (wall); "
          f"after: {_load()}")
    vol = net.volumes
    assert (vol["required_entries"] <= vol["gross_required_entries"]).all()
    calls = reps.table.groupby("item")["count"].sum()
    sched = net.schedule("W")
    entries = sched[sched["item"] == "entries"].groupby("stage")["required"].sum()
    print(f"check: netted entries <= gross everywhere; {int(calls.sum()):,} whole units to {reps.table['owner'].nunique()}"
          f" reps; entries (all stages) {int(reps.table[reps.table['kind'] == 'entries']['count'].sum()):,} "
          f"(fractional plan {entries.sum():,.1f})")


if __name__ == "__main__":
    main()
