"""Benchmark: salesplan's reductions out of core on DuckDB vs hand-written DuckDB SQL, at 10M and 100M rows.

Data (written by DuckDB itself, streaming ``COPY ... TO`` from ``range()``, never through pandas) under
benchmarks/data/scale/:

* ``orders_<size>.parquet``: order lines of ``rows / 100`` customers (skewed: a few customers place most lines),
  three years of daily dates, 3% returns (negative amounts), 50 products;
* ``events_<size>.parquet``: stage events of the acquisition process (5 working stages, won, lost) for about
  ``rows / 3.8`` opportunities: random depth, 2% skip a stage (implied entries), 1% duplicated first events, some
  events after the cut, open deals censored.

Tasks, each in its own process (peak RSS from ``os.wait4``; DuckDB runs in-process, so it is all counted):

* ``summary``: :func:`salesplan.reduce.customers.customer_summary` on ``read_table(..., engine="duckdb")`` vs a
  SQL query computing the same per-customer frequency, recency, T, monetary value, revenue, returns, dates and
  product breadth;
* ``rfm_abc``: the summary plus :func:`salesplan.segment.rfm_scores` and :func:`salesplan.segment.abc_classes`
  vs SQL with rank windows (same tie rule) and a running share (both on revenue rounded to cents, so that ties are
  exact whatever the order of summation);
* ``funnel``: :func:`salesplan.reduce.stages.reduce_stage_events` (spells, closes, outcomes) vs SQL applying the
  same path rules (cut, duplicates, only the last event closes, furthest stage, implied entries, hour resolution).

Both sides use one DuckDB connection configured alike (``--memory-limit``, 2 threads, a temp directory for
spilling; ``--sql-memory-limit`` gives the SQL side more memory where its window functions cannot spill enough). Results are checked equal (all rows, all columns) before any figure is printed.

Usage::

    nice .venv/bin/python benchmarks/bench_scale.py --rows 10M
    nice .venv/bin/python benchmarks/bench_scale.py --rows 100M --memory-limit 3GB
    nice .venv/bin/python benchmarks/bench_scale.py --rows 100M --tasks funnel --sql-memory-limit 12GB
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
DATA = HERE / "data" / "scale"
AS_OF = "2025-01-01"
STAGES = ["prospect_selected", "contacted", "qualified", "offer", "negotiation"]
log = logging.getLogger("bench_scale")


def parse_rows(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def connect(memory_limit: str):
    import duckdb

    tmp = DATA / "duckdb_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"memory_limit": memory_limit, "threads": 2, "temp_directory": str(tmp),
                                  "preserve_insertion_order": False})


# --- data -----------------------------------------------------------------------------------------------------

def generate(rows: int, label: str, memory_limit: str) -> dict[str, int]:
    """Write orders and stage events as Parquet with DuckDB (streaming); skip files that exist."""
    DATA.mkdir(parents=True, exist_ok=True)
    con = connect(memory_limit)
    orders, events = DATA / f"orders_{label}.parquet", DATA / f"events_{label}.parquet"
    n_cust = max(rows // 100, 10)
    if not orders.exists():
        t0 = time.perf_counter()
        con.execute(f"""
            COPY (
              SELECT 'C' || lpad(CAST(CAST(floor({n_cust} * pow((hash(i, 1) % 1000000007) / 1000000007.0, 2))
                                          AS BIGINT) AS VARCHAR), 8, '0') AS customer_id,
                     TIMESTAMP '2022-01-01' + to_days(CAST(hash(i, 2) % 1096 AS INTEGER)) AS order_date,
                     (CASE WHEN hash(i, 3) % 100 < 3 THEN -1 ELSE 1 END)
                       * round(5 + (hash(i, 4) % 200000) / 100.0, 2) AS amount,
                     'P' || CAST(hash(i, 5) % 50 AS VARCHAR) AS product
              FROM range({rows}) t(i)
            ) TO '{orders}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
        log.info("wrote %s in %.1f s", orders.name, time.perf_counter() - t0)
    if not events.exists():
        t0 = time.perf_counter()
        n_opp = int(rows / 3.8)
        stage_list = "[" + ", ".join(f"'{s}'" for s in STAGES) + "]"
        con.execute(f"""
            COPY (
              WITH opp AS (
                SELECT j,
                       1 + CAST(hash(j, 11) % 5 AS INTEGER) AS depth,
                       hash(j, 12) % 100 AS u_out,
                       hash(j, 13) % 50 = 0 AS skip1,
                       hash(j, 14) % 100 = 0 AS dup0,
                       TIMESTAMP '2022-01-01' + to_hours(CAST(hash(j, 15) % (1080 * 24) AS BIGINT)) AS t0
                FROM range({n_opp}) t(j)
              ), opp2 AS (
                SELECT *, CASE WHEN depth = 5 AND u_out < 60 THEN 'won'
                               WHEN depth = 5 AND u_out < 90 THEN 'lost'
                               WHEN depth < 5 AND u_out < 80 THEN 'lost' ELSE NULL END AS outcome
                FROM opp
              ), ev AS (
                SELECT j, k, depth, outcome, skip1, dup0,
                       t0 + to_hours(CAST(list_sum(list_transform(range(k + 1),
                                      lambda m: CASE WHEN m = 0 THEN 0 ELSE hash(j, 20 + m) % 720 END)) AS BIGINT)) AS t
                FROM opp2, range(6) s(k)
                WHERE k < depth OR (k = depth AND outcome IS NOT NULL)
              )
              SELECT 'O' || CAST(j AS VARCHAR) AS opportunity_id,
                     CASE WHEN k < depth THEN {stage_list}[k + 1] ELSE outcome END AS stage,
                     t AS entered_at
              FROM ev WHERE NOT (skip1 AND k = 1 AND depth >= 3)
              UNION ALL
              SELECT 'O' || CAST(j AS VARCHAR), '{STAGES[0]}', t0 FROM opp2 WHERE dup0
            ) TO '{events}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
        log.info("wrote %s in %.1f s", events.name, time.perf_counter() - t0)
    counts = {name: con.sql(f"SELECT count(*) FROM '{path}'").fetchall()[0][0]
              for name, path in (("order_lines", orders), ("stage_events", events))}
    con.close()
    return counts


# --- hand-written SQL -------------------------------------------------------------------------------------------

def summary_sql(orders: Path) -> str:
    """Per-customer summary (daily periods) exactly as customer_summary defines it."""
    return f"""
      WITH o AS (
        SELECT customer_id, order_date, CAST(amount AS DOUBLE) AS amount, product, amount < 0 AS ret,
               CAST(datediff('day', DATE '1970-01-01', CAST(order_date AS DATE)) AS BIGINT) AS p
        FROM '{orders}' WHERE order_date < TIMESTAMP '{AS_OF}' + INTERVAL 1 DAY
      ), c AS (
        SELECT customer_id,
               sum(CASE WHEN NOT ret THEN amount ELSE 0 END) AS revenue,
               sum(CASE WHEN ret THEN amount ELSE 0 END) AS returns,
               count(*) FILTER (WHERE ret) AS n_returns, count(*) AS n_lines,
               min(order_date) FILTER (WHERE NOT ret) AS first_order,
               max(order_date) FILTER (WHERE NOT ret) AS last_order,
               count(DISTINCT product) FILTER (WHERE NOT ret) AS n_products,
               min(p) FILTER (WHERE NOT ret) AS first_p, max(p) FILTER (WHERE NOT ret) AS last_p,
               count(DISTINCT p) FILTER (WHERE NOT ret) AS n_periods
        FROM o GROUP BY customer_id
      ), fv AS (
        SELECT o.customer_id, sum(o.amount) AS first_value
        FROM o JOIN c ON o.customer_id = c.customer_id AND o.p = c.first_p AND NOT o.ret GROUP BY o.customer_id
      )
      SELECT c.customer_id, n_periods - 1 AS frequency, CAST(last_p - first_p AS DOUBLE) AS recency,
             CAST(datediff('day', DATE '1970-01-01', DATE '{AS_OF}') - first_p AS DOUBLE) AS "T",
             CASE WHEN n_periods > 1 THEN (revenue - first_value) / (n_periods - 1) ELSE 0.0 END AS monetary_value,
             revenue, returns, n_returns, revenue + returns AS net_revenue, n_lines, first_order, last_order,
             n_products
      FROM c JOIN fv USING (customer_id)
      WHERE first_p IS NOT NULL
      ORDER BY customer_id"""


def rfm_abc_sql(orders: Path, bins: int = 5) -> str:
    return f"""
      WITH s0 AS ({summary_sql(orders)}), s AS (SELECT * REPLACE (round(revenue, 2) AS revenue) FROM s0), r AS (
        SELECT customer_id, "T" - recency AS recency_value, frequency, revenue, count(*) OVER () AS n,
               rank() OVER (ORDER BY "T" - recency DESC) AS r_rank,
               rank() OVER (ORDER BY frequency) AS f_rank,
               rank() OVER (ORDER BY revenue) AS m_rank,
               sum(revenue) OVER (ORDER BY revenue DESC, customer_id ROWS UNBOUNDED PRECEDING) AS cum_value,
               sum(revenue) OVER () AS total
        FROM s
      )
      SELECT customer_id,
             CAST(1 + floor({bins} * (r_rank - 1) / n) AS BIGINT) AS r_score,
             CAST(1 + floor({bins} * (f_rank - 1) / n) AS BIGINT) AS f_score,
             CAST(1 + floor({bins} * (m_rank - 1) / n) AS BIGINT) AS m_score,
             cum_value / total AS cum_share,
             CASE WHEN (cum_value - revenue) / total >= 0.95 THEN 'C'
                  WHEN (cum_value - revenue) / total >= 0.8 THEN 'B' ELSE 'A' END AS abc_class
      FROM r ORDER BY customer_id"""


def funnel_sql(con, events: Path) -> dict:
    """Spells, closes and outcomes under the path rules of salesplan.funnel.paths (single process)."""
    n = len(STAGES)
    codes = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate([*STAGES, "won", "lost"]))
    cut = f"TIMESTAMP '{AS_OF}'"
    con.execute(f"""
      CREATE TEMP TABLE sql_rows AS
      WITH ev AS (
        SELECT DISTINCT opportunity_id AS o, CASE stage {codes} END AS code, entered_at AS t
        FROM '{events}' WHERE entered_at <= {cut}
      ), fin AS (
        SELECT o, max(t) AS t_last, arg_max(code, (t, code)) AS final_code FROM ev GROUP BY o
      ), firsts AS (
        SELECT ev.o, ev.code, min(ev.t) AS t_first, fin.final_code, fin.t_last
        FROM ev JOIN fin USING (o)
        WHERE ev.code < {n} OR (ev.code = {n} AND fin.final_code = {n})
        GROUP BY ev.o, ev.code, fin.final_code, fin.t_last
      ), w AS (
        SELECT *, min(t_first) OVER (PARTITION BY o ORDER BY code DESC ROWS UNBOUNDED PRECEDING) AS t_entry,
               coalesce(lag(code) OVER (PARTITION BY o ORDER BY code), -1) AS prev_code
        FROM firsts
      ), w2 AS (
        SELECT *, lead(t_entry) OVER (PARTITION BY o ORDER BY code) AS t_next,
               CASE WHEN final_code = {n} THEN 'won' WHEN final_code = {n + 1} THEN 'lost' ELSE 'open' END AS final,
               CASE WHEN final_code >= {n} THEN t_last ELSE {cut} END AS closed_at
        FROM w
      ), r AS (
        SELECT o, code, final, closed_at, t_entry, t_next, t_first > t_entry AS implied FROM w2 WHERE code < {n}
        UNION ALL
        SELECT o, prev_code + g AS code, final, closed_at, t_entry, t_entry AS t_next, true AS implied
        FROM w2, range(1, {n + 1}) gs(g) WHERE code - prev_code - 1 >= g
      )
      SELECT o, code, final, t_entry, implied,
             CASE WHEN t_next IS NOT NULL THEN 'advance' WHEN final = 'lost' THEN 'loss' ELSE 'open' END AS outcome,
             floor(epoch_us(coalesce(t_next, closed_at) - t_entry) / 3600e6) / 24.0 AS days,
             floor(epoch_us(closed_at - t_entry) / 3600e6) / 24.0 AS close_days,
             CASE WHEN final <> 'open' THEN closed_at END AS closed_at,
             min(t_entry) OVER (PARTITION BY o) AS first_entered_at
      FROM r""")
    spells = con.sql("SELECT code AS stage_idx, outcome, days, implied, count(*) AS weight FROM sql_rows "
                     "GROUP BY ALL ORDER BY ALL").df()
    closes = con.sql("SELECT code AS stage_idx, final, close_days AS days, count(*) AS weight FROM sql_rows "
                     "GROUP BY ALL ORDER BY ALL").df()
    outcomes = con.sql("""
      SELECT date_trunc('month', first_entered_at) AS cohort, date_trunc('month', closed_at) AS closed_period,
             final, count(*) AS weight
      FROM (SELECT * FROM sql_rows QUALIFY code = min(code) OVER (PARTITION BY o)) GROUP BY ALL ORDER BY ALL""").df()
    con.execute("DROP TABLE sql_rows")
    return {"spells": spells, "closes": closes, "outcomes": outcomes}


# --- tasks (each runs in its own process) ------------------------------------------------------------------------

def run_task(task: str, label: str, memory_limit: str, out_dir: Path) -> None:
    import pandas as pd

    con = connect(memory_limit)
    orders, events = DATA / f"orders_{label}.parquet", DATA / f"events_{label}.parquet"
    t0 = time.perf_counter()
    results: dict[str, pd.DataFrame] = {}
    if task.startswith("salesplan"):
        from salesplan.io import read_table
        from salesplan.process import DEFAULT_PROCESSES
        from salesplan.reduce.customers import customer_summary
        from salesplan.reduce.stages import reduce_stage_events
        from salesplan.segment import abc_classes, rfm_scores

        kind = task.split("_", 1)[1]
        if kind in ("summary", "rfm_abc"):
            rel = read_table(orders, "orders", engine="duckdb", connection=con)
            summary = customer_summary(rel, as_of=AS_OF)
            if kind == "summary":
                results["summary"] = summary.reset_index()
            else:
                # revenue in cents, so that equal revenues tie exactly whatever the order of summation
                summary = summary.assign(revenue=summary["revenue"].round(2))
                rfm = rfm_scores(summary, bins=5)
                abc = abc_classes(summary, "revenue")
                results["rfm_abc"] = pd.DataFrame({
                    "customer_id": summary.index, "r_score": rfm["r_score"].to_numpy(),
                    "f_score": rfm["f_score"].to_numpy(), "m_score": rfm["m_score"].to_numpy(),
                    "cum_share": abc["cum_share"].to_numpy(), "abc_class": abc["abc_class"].to_numpy()})
        else:
            rel = read_table(events, "stage_events", engine="duckdb", connection=con)
            red = reduce_stage_events(rel, DEFAULT_PROCESSES["acquisition"], as_of=AS_OF)
            results["spells"] = red.spells[["stage_idx", "outcome", "days", "implied", "weight"]]
            results["closes"] = red.closes[["stage_idx", "final", "days", "weight"]]
            results["outcomes"] = red.outcomes[["cohort", "closed_period", "final", "weight"]]
    else:
        kind = task.split("_", 1)[1]
        if kind == "summary":
            results["summary"] = con.sql(summary_sql(orders)).df()
        elif kind == "rfm_abc":
            results["rfm_abc"] = con.sql(rfm_abc_sql(orders)).df()
        else:
            results.update(funnel_sql(con, events))
    seconds = time.perf_counter() - t0
    for name, frame in results.items():
        frame = frame.copy()
        frame.attrs = {}
        frame.to_parquet(out_dir / f"{task}_{name}.parquet")
    (out_dir / f"{task}.json").write_text(json.dumps({"seconds": seconds}))


def spawn(task: str, label: str, memory_limit: str, out_dir: Path) -> dict:
    """Run one task in a fresh process; wall time inside it, peak RSS of the process from the kernel."""
    cmd = [sys.executable, __file__, "--task", task, "--rows", label, "--memory-limit", memory_limit,
           "--out", str(out_dir)]
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"task {task} failed with status {status}")
    info = json.loads((out_dir / f"{task}.json").read_text())
    info["peak_rss_mb"] = usage.ru_maxrss / 1024
    return info


def _canon(frame, keys):
    import pandas as pd

    frame = frame.copy()
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(frame[col]):
            frame[col] = frame[col].astype(bool)
        elif pd.api.types.is_integer_dtype(frame[col]):
            frame[col] = frame[col].astype("int64")
        elif pd.api.types.is_float_dtype(frame[col]):
            frame[col] = frame[col].astype(float)
        else:
            frame[col] = frame[col].astype(object)
    return frame.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def check_equal(kind: str, out_dir: Path) -> str:
    """Compare salesplan's and the SQL's results; raise on any difference."""
    import pandas as pd

    names = {"summary": ["summary"], "rfm_abc": ["rfm_abc"], "funnel": ["spells", "closes", "outcomes"]}[kind]
    notes = []
    for name in names:
        ours = pd.read_parquet(out_dir / f"salesplan_{kind}_{name}.parquet")
        sql = pd.read_parquet(out_dir / f"sql_{kind}_{name}.parquet")
        keys = [c for c in sql.columns if c not in ("weight", "cum_share") and sql[c].dtype != float] or list(sql.columns)
        if name in ("spells", "closes"):
            keys = [c for c in sql.columns if c != "weight"]
        ours, sql = _canon(ours[list(sql.columns)], keys), _canon(sql, keys)
        if name == "rfm_abc":
            diff = int((ours["abc_class"] != sql["abc_class"]).sum())
            if diff > 2:  # a running sum in another order may move an item sitting exactly on a threshold
                raise AssertionError(f"{kind}/{name}: {diff} ABC classes differ")
            notes.append(f"{name}: {diff} ABC boundary difference(s)")
            pd.testing.assert_frame_equal(ours.drop(columns="abc_class"), sql.drop(columns="abc_class"),
                                          check_exact=False, rtol=1e-9, atol=1e-9)
        else:
            pd.testing.assert_frame_equal(ours, sql, check_exact=False, rtol=1e-9, atol=1e-6)
        notes.append(f"{name}: {len(ours)} rows equal")
    return "; ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="10M", help="order lines and stage events, e.g. 10M or 100M")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit for both contenders")
    parser.add_argument("--sql-memory-limit", help="a different memory_limit for the SQL side (default: the same)")
    parser.add_argument("--tasks", default="summary,rfm_abc,funnel")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    label = args.rows.upper()
    if args.task:
        run_task(args.task, label, args.memory_limit, Path(args.out))
        return
    rows = parse_rows(args.rows)
    t0 = time.perf_counter()
    counts = generate(rows, label, args.memory_limit)
    log.info("data ready in %.1f s: %s", time.perf_counter() - t0, counts)
    if args.generate_only:
        return
    out_dir = DATA / f"results_{label}"
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"rows": label, "counts": counts, "memory_limit": args.memory_limit,
              "sql_memory_limit": args.sql_memory_limit or args.memory_limit, "tasks": {}}
    for kind in args.tasks.split(","):
        ours = spawn(f"salesplan_{kind}", label, args.memory_limit, out_dir)
        sql = spawn(f"sql_{kind}", label, args.sql_memory_limit or args.memory_limit, out_dir)
        check = check_equal(kind, out_dir)
        report["tasks"][kind] = {"salesplan": ours, "sql": sql, "ratio": ours["seconds"] / sql["seconds"],
                                 "check": check}
        print(f"{kind:8s} salesplan {ours['seconds']:8.1f} s {ours['peak_rss_mb']:8.0f} MB | "
              f"SQL {sql['seconds']:8.1f} s {sql['peak_rss_mb']:8.0f} MB | ratio {ours['seconds'] / sql['seconds']:.2f}x"
              f" | {check}", flush=True)
    (DATA / f"bench_scale_{label}.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
