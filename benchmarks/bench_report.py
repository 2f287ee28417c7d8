"""Benchmark: the whole control report out of core on DuckDB (3 GB memory limit) against the pandas report.

Data (written by DuckDB itself, streaming ``COPY ... TO`` from ``range()``, never through pandas, so generation
fits in memory at any size) under benchmarks/data/report/<size>/:

* ``orders.parquet``: ``rows`` order lines of ``rows / 100`` customers (skewed: a few customers place most
  lines), three years of daily dates, 3% returns (negative amounts), 50 products;
* ``opportunities.parquet``: about ``rows / 3.6`` deals, half acquisition (5 working stages), half retention (3),
  created over three years, with amount, owner and expected close;
* ``stage_events.parquet``: about ``rows`` stage events of those deals: random depth, won / lost / open, 2% skip
  a stage (implied entries), 1% duplicated first events; events after the cut are left out (deals still open);
* ``customers.parquet`` and ``targets.parquet`` (per process and quarter): small tables, read by pandas.

Each run is its own process (peak RSS from ``os.wait4``; DuckDB runs in-process, so it is all counted): it loads
the report configuration (``[data] engine``), builds every section (:func:`salesplan.report.build_report`) and
writes ``summary.json``. The DuckDB run's default connection gets ``memory_limit`` (default 3GB), 2 threads, a
temporary directory for spilling and jemalloc's background purging (``allocator_background_threads``,
``allocator_flush_threshold = '32MB'``), so that memory DuckDB frees leaves the process. The pandas run reads the same Parquet files into memory (``--pandas-max`` sets
the largest size it is tried at). The two summary.json files are compared (all values) before figures are
printed.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_report.py --rows 1M
    nice -n 10 .venv/bin/python benchmarks/bench_report.py --rows 100M --pandas-max 0
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

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "report"
AS_OF = "2025-01-01"
log = logging.getLogger("bench_report")
ACQ = ["prospect_selected", "contacted", "qualified", "offer", "negotiation"]
RET = ["review_scheduled", "review_held", "renewal_offer"]


def parse_rows(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def generate(rows: int, folder: Path) -> dict[str, int]:
    """Write the tables of one size as Parquet with DuckDB (streaming); skip files that exist."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET threads = 2")
    con.execute(f"SET temp_directory = '{folder / 'duckdb_tmp'}'")
    n_cust = max(rows // 100, 10)
    n_opp = max(int(rows / 3.6), 10)
    cust = "'C' || lpad(CAST({} AS VARCHAR), 8, '0')"
    parts = {
        "customers": f"""SELECT {cust.format('i')} AS customer_id, 'Customer ' || CAST(i AS VARCHAR) AS name,
                                CASE WHEN hash(i, 1) % 3 = 0 THEN 'large' ELSE 'small' END AS size
                         FROM range({n_cust}) t(i)""",
        "orders": f"""SELECT {cust.format(f"CAST(floor({n_cust} * pow((hash(i, 1) % 1000000007) / 1000000007.0, 2)) AS BIGINT)")}
                             AS customer_id,
                             'R' || CAST(i // 3 AS VARCHAR) AS order_id,
                             TIMESTAMP '2022-01-01' + to_days(CAST(hash(i, 2) % 1096 AS INTEGER)) AS order_date,
                             (CASE WHEN hash(i, 3) % 100 < 3 THEN -1 ELSE 1 END)
                               * round(5 + (hash(i, 4) % 200000) / 100.0, 2) AS amount,
                             'P' || CAST(hash(i, 5) % 50 AS VARCHAR) AS product
                      FROM range({rows}) t(i)""",
        "opportunities": f"""SELECT 'O' || CAST(j AS VARCHAR) AS opportunity_id,
                                    {cust.format(f'hash(j, 9) % {n_cust}')} AS customer_id,
                                    CASE WHEN j % 2 = 0 THEN 'acquisition' ELSE 'retention' END AS process,
                                    TIMESTAMP '2022-01-01' + to_hours(CAST(hash(j, 15) % (1080 * 24) AS BIGINT))
                                      AS created_at,
                                    round(500 + (hash(j, 16) % 5000000) / 100.0, 2) AS amount,
                                    'rep' || CAST(hash(j, 17) % 40 AS VARCHAR) AS owner,
                                    TIMESTAMP '2022-03-01' + to_days(CAST(hash(j, 18) % 1200 AS INTEGER))
                                      AS expected_close
                             FROM range({n_opp}) t(j)""",
        "stage_events": f"""
              WITH opp AS (
                SELECT j, CASE WHEN j % 2 = 0 THEN 5 ELSE 3 END AS n_work,
                       hash(j, 12) % 100 AS u_out, hash(j, 13) % 50 = 0 AS skip1, hash(j, 14) % 100 = 0 AS dup0,
                       TIMESTAMP '2022-01-01' + to_hours(CAST(hash(j, 15) % (1080 * 24) AS BIGINT)) AS t0
                FROM range({n_opp}) t(j)
              ), opp1 AS (
                SELECT *, 1 + CAST(hash(j, 11) % n_work AS INTEGER) AS depth FROM opp
              ), opp2 AS (
                SELECT *, CASE WHEN depth = n_work AND u_out < 60 THEN 'won'
                               WHEN depth = n_work AND u_out < 90 THEN 'lost'
                               WHEN depth < n_work AND u_out < 80 THEN 'lost' ELSE NULL END AS outcome
                FROM opp1
              ), ev AS (
                SELECT j, k, n_work, depth, outcome, skip1,
                       t0 + to_hours(CAST(list_sum(list_transform(range(k + 1),
                                      lambda m: CASE WHEN m = 0 THEN 0 ELSE hash(j, 20 + m) % 720 END)) AS BIGINT)) AS t
                FROM opp2, range(6) s(k)
                WHERE k < depth OR (k = depth AND outcome IS NOT NULL)
              )
              SELECT 'O' || CAST(j AS VARCHAR) AS opportunity_id,
                     CASE WHEN k >= depth THEN outcome
                          WHEN n_work = 5 THEN {ACQ}[k + 1] ELSE {RET}[k + 1] END AS stage,
                     t AS entered_at
              FROM ev WHERE NOT (skip1 AND k = 1 AND depth >= 3) AND t < TIMESTAMP '{AS_OF}'
              UNION ALL
              SELECT 'O' || CAST(j AS VARCHAR), CASE WHEN n_work = 5 THEN '{ACQ[0]}' ELSE '{RET[0]}' END, t0
              FROM opp2 WHERE dup0""",
        "targets": f"""SELECT p.process, CAST(y AS VARCHAR) || '-Q' || CAST(q AS VARCHAR) AS period,
                              CAST(round({n_opp} / 2 / 12.0 * p.share) AS BIGINT) AS contracts
                       FROM (VALUES ('acquisition', 0.5), ('retention', 0.6)) p(process, share),
                            range(2022, 2026) y(y), range(1, 5) q(q)""",
    }
    for name, sql in parts.items():
        path = folder / f"{name}.parquet"
        if path.exists():
            continue
        t0 = time.perf_counter()
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
        log.info("wrote %s in %.1f s", path.name, time.perf_counter() - t0)
    counts = {name: con.sql(f"SELECT count(*) FROM '{folder / (name + '.parquet')}'").fetchall()[0][0]
              for name in parts}
    con.close()
    return counts


def write_config(folder: Path, engine: str) -> Path:
    tables = ("customers", "orders", "opportunities", "stage_events", "targets")
    lines = ["[report]", f"as_of = {AS_OF}", "seed = 11", 'formats = ["json"]', "[forecast]", "backtest = false",
             "[data]", f'engine = "{engine}"'] + [f'{t} = "{t}.parquet"' for t in tables]
    path = folder / f"report_{engine}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(engine: str, folder: Path, memory_limit: str) -> None:
    """Child process: the whole report of one engine, written to <folder>/out_<engine>/summary.json."""
    import duckdb

    from salesplan.report import build_report, load_config, load_data, write_report

    if engine == "duckdb":
        con = duckdb.default_connection() if callable(duckdb.default_connection) else duckdb.default_connection
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET threads = 2")
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"SET temp_directory = '{folder / 'duckdb_tmp'}'")
        # memory DuckDB's allocator frees is handed back at once, not kept for reuse: without these the same report
        # at 100M peaked at 4,161 MiB instead of 3,811 MiB (one run each)
        con.execute("SET allocator_background_threads = true")
        con.execute("SET allocator_flush_threshold = '32MB'")
        try:  # DuckDB's query log (1.3+): how many statements the report runs
            con.execute("CALL enable_logging('QueryLog')")
        except duckdb.Error:
            con = None
    t0 = time.perf_counter()
    cfg = load_config(write_config(folder, engine))
    data = load_data(cfg)
    report = build_report(data, cfg)
    write_report(report, folder / f"out_{engine}", formats=("json",))
    out: dict = {"seconds": time.perf_counter() - t0}
    if engine == "duckdb" and con is not None:
        out["queries"] = con.sql("SELECT count(*) FROM duckdb_logs WHERE type = 'QueryLog'").fetchall()[0][0]
    print(json.dumps(out))


def spawn(engine: str, folder: Path, memory_limit: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", engine, "--folder", str(folder),
                             "--memory-limit", memory_limit], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{engine} run failed (exit {os.waitstatus_to_exitcode(status)})")
    inner = json.loads(out.strip().splitlines()[-1])
    return {"engine": engine, "seconds": round(inner["seconds"], 1), "wall_seconds": round(wall, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "queries": inner.get("queries")}


def comparable(summary: dict) -> dict:
    """summary.json without what names the run (the config path)."""
    out = {k: v for k, v in summary.items() if k != "config"}
    if isinstance(out.get("meta"), dict):
        out["meta"] = {k: v for k, v in out["meta"].items() if k != "config"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1M", help="order lines and (about) stage events, e.g. 100k, 1M, 100M")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit")
    parser.add_argument("--pandas-max", default="5M", help="largest size at which the pandas report is run too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        logging.basicConfig(level=logging.WARNING)
        run(args.child, Path(args.folder), args.memory_limit)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = parse_rows(args.rows)
    folder = DATA / args.rows
    t0 = time.perf_counter()
    counts = generate(rows, folder)
    log.info("data %s (%.1f s): %s", folder, time.perf_counter() - t0, counts)
    results = [spawn("duckdb", folder, args.memory_limit)]
    if rows <= parse_rows(args.pandas_max):
        results.append(spawn("pandas", folder, args.memory_limit))
        same = [comparable(json.loads((folder / f"out_{e}" / "summary.json").read_text())) for e in ("duckdb",
                                                                                                       "pandas")]
        log.info("summary.json of DuckDB equals pandas: %s", same[0] == same[1])
    for r in results:
        log.info("%-7s %8.1f s (wall %.1f s, CPU %.1f s)  peak RSS %6d MB%s", r["engine"], r["seconds"],
                 r["wall_seconds"], r["cpu_seconds"], r["peak_rss_mb"],
                 f"  ({r['queries']} engine queries)" if r.get("queries") else "")
    if len(results) == 2:
        log.info("pandas / DuckDB time: %.2fx", results[1]["seconds"] / results[0]["seconds"])
    print(json.dumps({"rows": rows, "counts": counts, "load": os.getloadavg()[0], "runs": results}))
    if len(results) == 2 and same[0] != same[1]:
        raise SystemExit("the DuckDB report differs from the pandas report")


if __name__ == "__main__":
    main()
