"""Benchmark: funnel rates with intervals + stage durations vs pm4py (DFG + performance DFG) vs plain DuckDB SQL.

The log: N opportunities through Lead -> Qualified -> Proposal -> Negotiation -> Won/Lost (advance probability 0.7
per stage, about 3.5 events per opportunity, string ids), written to Parquet under benchmarks/data/. Every
contender is timed in one run, side by side:

* from the in-memory pandas frame most users pass (the Parquet read into pandas once, not timed):
  ``salesplan.funnel.estimate(frame, process, as_of=...)`` on that pandas frame, the same call on a Polars
  LazyFrame of that frame (converted before the clock starts), and pm4py's ``discover_dfg`` +
  ``discover_performance_dfg`` on the same data read into pandas inside pm4py's own process (own venv,
  benchmarks/_venv_pm4py; only the discovery is timed, on the frame as read, with the column names passed as
  keys; pm4py's ``format_dataframe`` is timed apart, for reference). For reference also the pandas call with the
  entry conversion of :mod:`salesplan.reduce.stages` set to ``codes`` (what runs when Polars is not installed)
  and ``off`` (pandas as given: the path before the conversion existed). Targets: pm4py / pandas >= 10,
  pandas / Polars <= 1.5. Each salesplan figure is the best of ``--repeat`` interleaved runs.
* from the Parquet file: salesplan on a Polars lazy scan and on a DuckDB relation (narwhals), and the same counts
  (entered, advanced, lost, open per stage) and median durations per (stage, outcome) in plain DuckDB SQL.

Peak memory of salesplan (pandas frame read in the process, Polars scan, DuckDB relation; and, for reference, of
the plain SQL) at 10M events is measured in a fresh process per engine (``VmHWM``). Every figure is printed
with the 1-minute load average, since the machine is shared; the figures are also written to
benchmarks/data/bench_funnel_results.json.

Create the pm4py venv once: ``python -m venv benchmarks/_venv_pm4py && benchmarks/_venv_pm4py/bin/pip install
pm4py`` (git-ignored).

Usage: ``nice .venv/bin/python benchmarks/bench_funnel.py [--opportunities 1000000] [--memory-events 10000000]
[--repeat 3]``
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


def run_frame(frame: Any, as_of: pd.Timestamp, entry: str = "auto") -> tuple[float, pd.DataFrame]:
    """``estimate`` on an in-memory frame (pandas or a Polars LazyFrame), with the reduction's entry conversion
    set to ``entry`` (``auto`` is the default users get)."""
    import salesplan.reduce.stages as stages
    from salesplan import SalesProcess
    from salesplan.funnel import estimate

    proc = SalesProcess("bench", STAGES, won="Won", lost="Lost")
    before, stages.FAST_ENTRY = stages.FAST_ENTRY, entry
    try:
        t0 = time.perf_counter()
        funnel = estimate(frame, proc, as_of=as_of)
        _ = funnel.durations, funnel.win_rate
        return time.perf_counter() - t0, funnel.rates
    finally:
        stages.FAST_ENTRY = before


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
import pandas as pd
import pm4py
t0 = time.perf_counter()
df = pd.read_parquet(sys.argv[1])
t1 = time.perf_counter()
keys = dict(case_id_key="opportunity_id", activity_key="stage", timestamp_key="entered_at")
dfg, start, end = pm4py.discover_dfg(df, **keys)
perf, _, _ = pm4py.discover_performance_dfg(df, **keys)
t2 = time.perf_counter()
pm4py.format_dataframe(df, case_id="opportunity_id", activity_key="stage", timestamp_key="entered_at")
t3 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "discovery": t2 - t1, "format": t3 - t2, "edges": len(dfg),
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


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB): ``VmHWM`` of /proc/self/status, which starts afresh at exec
    (``ru_maxrss`` would carry over the RSS of the forking benchmark process, several GB here)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(path: Path, engine: str) -> tuple[float, float]:
    """Peak RSS (MB) and time of salesplan (engine ``pandas``: the Parquet read into a pandas frame in the
    process, then ``estimate`` on it; ``polars`` / ``duckdb``: lazy scans) or the plain SQL (``sql``) on ``path``,
    in a fresh process."""
    if engine == "sql":
        call = "b.run_duckdb_sql(p)"
    elif engine == "pandas":
        call = "b.run_frame(f, f['entered_at'].max())"
    else:
        call = f"b.run_salesplan(p, {engine!r})"
    read = "import pandas as pd; f = pd.read_parquet(p); " if engine == "pandas" else ""
    code = (f"import sys, time; sys.path.insert(0, {str(HERE)!r}); import bench_funnel as b; "
            f"from pathlib import Path; p = Path({str(path)!r}); {read}t, _ = {call}; "
            f"print(t, b.peak_rss_mb())")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    secs, mb = res.stdout.strip().split()[-2:]
    return float(mb), float(secs)


def in_memory(path: Path, repeat: int) -> dict[str, Any]:
    """salesplan from one in-memory pandas frame (string ids) and from a Polars LazyFrame of it; best of
    ``repeat`` interleaved runs each."""
    import polars as pl

    frame = pd.read_parquet(path)
    as_of = frame["entered_at"].max()
    lazy = pl.from_pandas(frame).lazy()
    log.info("in-memory pandas frame: %s rows, dtypes %s", f"{len(frame):,}",
             ", ".join(f"{c}: {t}" for c, t in frame.dtypes.items()))
    runs = {"pandas": lambda: run_frame(frame, as_of), "polars_lazy": lambda: run_frame(lazy, as_of),
            "pandas_codes": lambda: run_frame(frame, as_of, "codes"),
            "pandas_off": lambda: run_frame(frame, as_of, "off")}
    for run in (lambda: run_frame(frame.head(2000), as_of), lambda: run_frame(lazy.head(2000), as_of)):
        run()  # warm-up: imports and first-call costs stay out of the figures
    best: dict[str, float] = {}
    rates: dict[str, pd.DataFrame] = {}
    for rep in range(repeat):
        for name, run in runs.items():
            secs, rates[name] = run()
            best[name] = min(best.get(name, secs), secs)
            log.info("  run %d salesplan[%s]: %.2f s  (%s)", rep + 1, name, secs, load())
    for name in runs:
        pd.testing.assert_frame_equal(rates["pandas_off"], rates[name], obj=name)
    log.info("rates identical on every input and entry: True")
    return {"best": best, "rates": rates["pandas"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--memory-events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the peak-memory figures")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("salesplan").setLevel(logging.ERROR)

    path = DATA / f"funnel_{args.opportunities}.parquet"
    n_events = make_log(args.opportunities, path)
    log.info("log: %s opportunities, %s events (%s)", f"{args.opportunities:,}", f"{n_events:,}", path.name)

    results: dict[str, Any] = {"events": n_events}
    if args.memory_only:
        memory(args, n_events, results)
        return
    mem = in_memory(path, args.repeat)
    for name, secs in mem["best"].items():
        results[f"salesplan[{name}]"] = secs
    scans = {}
    for engine in ("polars", "duckdb"):
        secs, scans[engine] = run_salesplan(path, engine)
        results[f"salesplan[{engine} scan]"] = secs
        log.info("salesplan (%s lazy scan of the Parquet): %.2f s  (%s)", engine, secs, load())
    secs, sql = run_duckdb_sql(path)
    results["duckdb_sql"] = secs
    log.info("plain DuckDB SQL (counts + medians, from the Parquet): %.2f s  (%s)", secs, load())
    pm = run_pm4py(path)
    if pm:
        results.update({f"pm4py_{k}": v for k, v in pm.items()})
        log.info("pm4py DFG + performance DFG on the in-memory frame: %.2f s (Parquet read %.2f s, not timed; "
                 "format_dataframe %.2f s, apart)  (%s)", pm["discovery"], pm["load"], pm["format"], load())

    # the counts agree with the SQL (and pm4py's Lead -> Qualified edge with the advances from Lead)
    ref = sql.set_index("stage")[["entered", "advanced", "lost", "open"]]
    for name, got in (("pandas", mem["rates"]), ("polars scan", scans["polars"]), ("duckdb scan", scans["duckdb"])):
        got = got.set_index("stage")[["entered", "advanced", "lost", "open"]]
        same = bool((got.loc[STAGES].to_numpy() == ref.loc[STAGES].to_numpy()).all())
        log.info("counts of salesplan[%s] equal to the SQL reference: %s", name, same)
        results[f"counts_equal_sql[{name}]"] = same
    if pm:
        advanced = int(mem["rates"].set_index("stage").loc["Lead", "advanced"])
        log.info("pm4py Lead -> Qualified edge %s = salesplan advanced from Lead %s: %s", pm["lead_qualified"],
                 advanced, pm["lead_qualified"] == advanced)
    log.info("\n%s", mem["rates"][["stage", "entered", "advanced", "lost", "open", "rate", "rate_low", "rate_high",
                                    "closed_only_rate"]].round(4).to_string(index=False))

    best = mem["best"]
    log.info("ratios (in-memory frame, %s events; best of %d):", f"{n_events:,}", args.repeat)
    if pm:
        results["ratio_pm4py_over_pandas"] = pm["discovery"] / best["pandas"]
        log.info("  pm4py / salesplan[pandas]         = %5.1fx  (target >= 10x)", results["ratio_pm4py_over_pandas"])
        results["ratio_pm4py_over_pandas_codes"] = pm["discovery"] / best["pandas_codes"]
        log.info("  pm4py / salesplan[pandas, codes]  = %5.1fx  (without Polars installed)",
                 results["ratio_pm4py_over_pandas_codes"])
    results["ratio_pandas_over_polars"] = best["pandas"] / best["polars_lazy"]
    log.info("  salesplan[pandas] / [Polars lazy]  = %5.2fx  (target <= 1.5x)", results["ratio_pandas_over_polars"])
    results["ratio_pandas_off_over_pandas"] = best["pandas_off"] / best["pandas"]
    log.info("  salesplan[pandas, entry off] / [pandas] = %5.2fx  (speed-up of the entry conversion)",
             results["ratio_pandas_off_over_pandas"])
    scan = min(results["salesplan[polars scan]"], results["salesplan[duckdb scan]"])
    results["ratio_salesplan_scan_over_sql"] = scan / results["duckdb_sql"]
    log.info("  salesplan[best scan] / DuckDB SQL = %5.1fx  (target <= 5x; both from the Parquet)",
             results["ratio_salesplan_scan_over_sql"])

    if not args.skip_memory:
        memory(args, n_events, results)
    (DATA / "bench_funnel_results.json").write_text(json.dumps(results, indent=2))


def memory(args: argparse.Namespace, n_events: int, results: dict[str, Any]) -> None:
    """Peak memory at about ``--memory-events`` events, one fresh process per engine."""
    n_mem = int(round(args.memory_events / n_events * args.opportunities))
    mpath = DATA / f"funnel_{n_mem}.parquet"
    m_events = make_log(n_mem, mpath)
    results["memory_events"] = m_events
    for engine in ("pandas", "polars", "duckdb", "sql"):
        mb, secs = measure_memory(mpath, engine)
        name = "plain DuckDB SQL" if engine == "sql" else f"salesplan[{engine}]"
        results[f"peak_mb[{engine}]"] = mb
        log.info("peak memory at %s events, %s: %.0f MB (%.1f s; target < 2048 MB)  (%s)",
                 f"{m_events:,}", name, mb, secs, load())


if __name__ == "__main__":
    main()
