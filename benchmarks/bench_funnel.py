"""Benchmark: funnel rates with intervals + stage durations vs pm4py (DFG + performance DFG) vs plain DuckDB SQL.

The log: N opportunities through Lead -> Qualified -> Proposal -> Negotiation -> Won/Lost (advance probability 0.7
per stage, about 3.5 events per opportunity), written to Parquet under benchmarks/data/. Every contender starts
from the Parquet file and is timed in one run, side by side:

* salesplan: ``reduce_stage_events`` on a Polars lazy scan and on a DuckDB relation (narwhals), then
  ``fit_reduction`` (Aalen-Johansen rates with intervals, effective Betas, win rates, censored durations);
* pm4py: ``discover_dfg`` (frequencies) + ``discover_performance_dfg`` on the pandas log (own venv,
  benchmarks/_venv_pm4py; timed inside its process, Parquet read included);
* DuckDB SQL: the same counts (entered, advanced, lost, open per stage) and median durations per (stage, outcome).

Peak memory of salesplan (and, for reference, of the plain SQL) at 10M events is measured in a fresh process per
engine (``ru_maxrss``). Every figure is printed with the 1-minute load average, since the machine is shared; the
figures are also written to benchmarks/data/bench_funnel_results.json.

Usage: ``nice .venv/bin/python benchmarks/bench_funnel.py [--opportunities 1000000] [--memory-events 10000000]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PM4PY = HERE / "_venv_pm4py" / "bin" / "python"
STAGES = ["Lead", "Qualified", "Proposal", "Negotiation"]
log = logging.getLogger("bench_funnel")


def make_log(n_opps: int, path: Path, seed: int = 0) -> int:
    """Write the event log to Parquet; returns the number of events."""
    if path.exists():
        return int(pd.read_parquet(path, columns=["stage"]).shape[0])
    rng = np.random.default_rng(seed)
    start = np.datetime64("2022-01-01T00:00")
    horizon_min = 3 * 365 * 24 * 60
    created = rng.integers(0, horizon_min, n_opps)
    t = created.astype(np.int64)
    alive = np.ones(n_opps, dtype=bool)
    ids = np.array([f"O{i:08d}" for i in range(n_opps)])
    parts = []
    cut = horizon_min
    for k, stage in enumerate(STAGES):
        keep = alive & (t <= cut)
        parts.append((ids[keep], np.full(keep.sum(), stage), t[keep]))
        adv = rng.random(n_opps) < 0.7
        stay = np.where(adv, rng.gamma(2.0, 5.0 + 3 * k, n_opps), rng.gamma(1.5, (10.0 + 6 * k) / 1.5 * 2, n_opps))
        t_next = t + (stay * 24 * 60).astype(np.int64)
        lost = alive & ~adv
        keep = lost & (t_next <= cut)
        parts.append((ids[keep], np.full(keep.sum(), "Lost"), t_next[keep]))
        alive = alive & adv
        t = t_next
    keep = alive & (t <= cut)
    parts.append((ids[keep], np.full(keep.sum(), "Won"), t[keep]))
    frame = pd.DataFrame({
        "opportunity_id": np.concatenate([p[0] for p in parts]),
        "stage": np.concatenate([p[1] for p in parts]),
        "entered_at": start + np.concatenate([p[2] for p in parts]).astype("timedelta64[m]"),
    })
    frame["entered_at"] = frame["entered_at"].astype("datetime64[us]")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return len(frame)


def run_salesplan(path: Path, engine: str) -> tuple[float, pd.DataFrame]:
    import polars as pl

    from salesplan import SalesProcess
    from salesplan.funnel import fit_reduction
    from salesplan.reduce.stages import reduce_stage_events

    proc = SalesProcess("bench", STAGES, won="Won", lost="Lost")
    t0 = time.perf_counter()
    if engine == "polars":
        native = pl.scan_parquet(path)
    else:
        native = _duckdb().read_parquet(str(path))
    red = reduce_stage_events(native, proc, resolution_hours=1.0)
    funnel = fit_reduction(red, {"bench": proc})
    _ = funnel.durations, funnel.win_rate
    return time.perf_counter() - t0, funnel.rates


def _duckdb() -> Any:
    """A fresh DuckDB connection without the progress bar (it would clutter the output)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


DUCKDB_SQL = """
WITH ev AS (
  SELECT DISTINCT opportunity_id, stage, entered_at,
         CASE stage WHEN 'Lead' THEN 0 WHEN 'Qualified' THEN 1 WHEN 'Proposal' THEN 2 WHEN 'Negotiation' THEN 3
                    WHEN 'Won' THEN 4 ELSE 5 END AS code
  FROM read_parquet('{path}')
), seq AS (
  SELECT *, LEAD(code) OVER w AS next_code, LEAD(entered_at) OVER w AS next_at
  FROM ev WINDOW w AS (PARTITION BY opportunity_id ORDER BY entered_at, code)
), spells AS (
  SELECT stage, code,
         CASE WHEN next_code IS NULL THEN 'open' WHEN next_code = 5 THEN 'loss' ELSE 'advance' END AS outcome,
         epoch(COALESCE(next_at, (SELECT max(entered_at) FROM ev)) - entered_at) / 86400.0 AS days
  FROM seq WHERE code < 4
)
SELECT stage, code, count(*) AS entered,
       count(*) FILTER (WHERE outcome = 'advance') AS advanced,
       count(*) FILTER (WHERE outcome = 'loss') AS lost,
       count(*) FILTER (WHERE outcome = 'open') AS open,
       median(days) FILTER (WHERE outcome = 'advance') AS median_advance_days,
       median(days) FILTER (WHERE outcome = 'loss') AS median_loss_days
FROM spells GROUP BY stage, code ORDER BY code
"""


def run_duckdb_sql(path: Path) -> tuple[float, pd.DataFrame]:

    t0 = time.perf_counter()
    out = _duckdb().sql(DUCKDB_SQL.format(path=path)).df()
    return time.perf_counter() - t0, out


PM4PY_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
import pm4py
df = pd.read_parquet(sys.argv[1])
df = pm4py.format_dataframe(df, case_id="opportunity_id", activity_key="stage", timestamp_key="entered_at")
t1 = time.perf_counter()
dfg, start, end = pm4py.discover_dfg(df)
perf, _, _ = pm4py.discover_performance_dfg(df)
t2 = time.perf_counter()
print(json.dumps({"total": t2 - t0, "load_format": t1 - t0, "dfg_perf": t2 - t1, "edges": len(dfg),
                  "lead_qualified": dfg.get(("Lead", "Qualified"))}))
"""


def run_pm4py(path: Path) -> dict | None:
    if not PM4PY.exists():
        log.warning("pm4py venv missing (%s): create it with python -m venv and pip install pm4py", PM4PY)
        return None
    res = subprocess.run([str(PM4PY), "-c", PM4PY_SCRIPT, str(path)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        log.warning("pm4py failed: %s", res.stderr[-2000:])
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def load() -> str:
    """The 1-minute load average, printed beside every figure (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.1f}"


def measure_memory(path: Path, engine: str) -> tuple[float, float]:
    """Peak RSS (MB) and time of salesplan (engine ``polars`` / ``duckdb``) or the plain SQL (``sql``) on
    ``path``, in a fresh process."""
    call = "b.run_duckdb_sql(p)" if engine == "sql" else f"b.run_salesplan(p, {engine!r})"
    code = (f"import sys, resource, time; sys.path.insert(0, {str(HERE)!r}); import bench_funnel as b; "
            f"from pathlib import Path; p = Path({str(path)!r}); t, _ = {call}; "
            f"print(t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    secs, mb = res.stdout.strip().split()[-2:]
    return float(mb), float(secs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--memory-events", type=int, default=10_000_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("salesplan").setLevel(logging.ERROR)

    path = DATA / f"funnel_{args.opportunities}.parquet"
    n_events = make_log(args.opportunities, path)
    log.info("log: %s opportunities, %s events (%s)", f"{args.opportunities:,}", f"{n_events:,}", path.name)

    results = {}
    for engine in ("polars", "duckdb"):
        secs, rates = run_salesplan(path, engine)
        results[f"salesplan[{engine}]"] = secs
        log.info("salesplan (%s lazy): %.2f s  (%s)", engine, secs, load())
    secs, sql = run_duckdb_sql(path)
    results["duckdb_sql"] = secs
    log.info("plain DuckDB SQL (counts + medians): %.2f s  (%s)", secs, load())
    pm = run_pm4py(path)
    if pm:
        results["pm4py"] = pm["total"]
        log.info("pm4py DFG + performance DFG: %.2f s (load+format %.2f s, discovery %.2f s)  (%s)", pm["total"],
                 pm["load_format"], pm["dfg_perf"], load())

    # the counts agree with the SQL
    got = rates.set_index("stage")[["entered", "advanced", "lost", "open"]]
    ref = sql.set_index("stage")[["entered", "advanced", "lost", "open"]]
    same = bool((got.loc[STAGES].to_numpy() == ref.loc[STAGES].to_numpy()).all())
    log.info("counts equal to the SQL reference: %s", same)
    results["counts_equal_sql"] = same
    results["events"] = n_events
    log.info("\n%s", rates[["stage", "entered", "advanced", "lost", "open", "rate", "rate_low", "rate_high",
                             "closed_only_rate"]].round(4).to_string(index=False))

    best = min(results["salesplan[polars]"], results["salesplan[duckdb]"])
    log.info("ratios (best salesplan = %.2f s):", best)
    if "pm4py" in results:
        results["ratio_pm4py_over_salesplan"] = results["pm4py"] / best
        log.info("  pm4py / salesplan       = %.1fx  (target >= 5x)", results["pm4py"] / best)
    results["ratio_salesplan_over_sql"] = best / results["duckdb_sql"]
    log.info("  salesplan / DuckDB SQL  = %.1fx  (target <= 5x)", best / results["duckdb_sql"])

    if not args.skip_memory:
        n_mem = int(round(args.memory_events / n_events * args.opportunities))
        mpath = DATA / f"funnel_{n_mem}.parquet"
        m_events = make_log(n_mem, mpath)
        results["memory_events"] = m_events
        for engine in ("polars", "duckdb", "sql"):
            mb, secs = measure_memory(mpath, engine)
            name = "plain DuckDB SQL" if engine == "sql" else f"salesplan[{engine}]"
            results[f"peak_mb[{engine}]"] = mb
            log.info("peak memory at %s events, %s: %.0f MB (%.1f s; target < 2048 MB)  (%s)",
                     f"{m_events:,}", name, mb, secs, load())
    (DATA / "bench_funnel_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
