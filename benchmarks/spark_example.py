"""A Spark user's path: reduce raw rows on a Spark DataFrame, fit the models on the collected summaries.

The raw tables (order lines, stage events, activities) stay in Spark; salesplan's reductions run there as Spark
jobs and bring back only small pandas summaries (one row per customer, or per distinct pattern). The models
(BG/NBD, RFM, ABC, the censored funnel) then run on the laptop or the driver.

Run it (needs Java 17 and ``pip install 'salesplan[spark]'``)::

    .venv/bin/python benchmarks/spark_example.py            # local Spark, example data written as Parquet
    .venv/bin/python benchmarks/spark_example.py --keep     # keep benchmarks/data/spark_example for a look

On a cluster, replace the local session by your own and ``read_table(..., engine="spark")`` by your tables
(``spark.table("crm.stage_events")``); the salesplan calls stay the same.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

from salesplan.datasets import simulate
from salesplan.funnel import activity_ratios, fit_reduction
from salesplan.io import read_table
from salesplan.reduce.customers import customer_patterns, customer_summary
from salesplan.reduce.stages import reduce_stage_events
from salesplan.segment import BetaGeo, abc_classes, rfm_scores

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "spark_example"
log = logging.getLogger("spark_example")


def spark_session():
    """A local session. The one setting that matters for salesplan: the session time zone is UTC."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("salesplan-example")
               .config("spark.sql.session.timeZone", "UTC")  # dates compare and truncate as in pandas
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.ui.showConsoleProgress", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def write_example_tables(folder: Path) -> tuple:
    """Simulated company written as Parquet: orders partitioned by year, events and activities as files."""
    data, truth = simulate(n_customers=300, years=2, seed=11)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    orders = data.orders.assign(year=data.orders["order_date"].dt.year)
    # Spark cannot read nanosecond Parquet timestamps (pandas' default): write microseconds
    opts = {"index": False, "coerce_timestamps": "us", "allow_truncated_timestamps": True}
    orders.to_parquet(folder / "orders", partition_cols=["year"], **opts)
    data.stage_events.to_parquet(folder / "stage_events.parquet", **opts)
    data.opportunities.to_parquet(folder / "opportunities.parquet", **opts)
    data.activities.to_parquet(folder / "activities.parquet", **opts)
    return data, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the example Parquet files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)

    data, truth = write_example_tables(OUT)
    spark = spark_session()
    t0 = time.perf_counter()

    # 1. the raw tables, as Spark DataFrames (lazy: nothing is read yet)
    orders = read_table(OUT / "orders", "orders", engine="spark", connection=spark)
    events = read_table(OUT / "stage_events.parquet", "stage_events", engine="spark", connection=spark)
    opportunities = spark.read.parquet(str(OUT / "opportunities.parquet"))  # any Spark DataFrame works
    activities = spark.read.parquet(str(OUT / "activities.parquet"))
    print(f"orders: {orders.count():,} lines in Spark ({type(orders).__name__})")

    # 2. customer value: the reduction runs in Spark; the summary (one row per customer) comes back as pandas
    summary = customer_summary(orders, as_of=data.as_of, time_unit="D", period_length=7)  # weeks to the day
    patterns = customer_patterns(orders, as_of=data.as_of, time_unit="D", period_length=7)
    print(f"customer summary: {len(summary):,} customers; BG/NBD patterns: {len(patterns):,} distinct rows")
    bgnbd = BetaGeo().fit(patterns["frequency"], patterns["recency"], patterns["T"], weights=patterns["weight"])
    print("BG/NBD fitted on the collected patterns:\n", bgnbd.summary().round(3).to_string())
    rfm = rfm_scores(summary)
    abc = abc_classes(summary, "net_revenue" if (summary["net_revenue"] >= 0).all() else "revenue")
    print("RFM segments:", rfm["segment"].value_counts().head(5).to_dict())
    print("ABC classes:", abc["abc_class"].value_counts().sort_index().to_dict(), f"Gini {abc.attrs['gini']:.2f}")

    # 3. the funnel: stage events reduced in Spark to weighted spells, the censored rates fitted locally
    reduction = reduce_stage_events(events, data.processes, opportunities, as_of=data.as_of)
    print(f"funnel reduction: {reduction.spells['weight'].sum():,} stays in {len(reduction.spells):,} patterns")
    funnel = fit_reduction(reduction, data.processes)
    cols = ["process", "stage", "entered", "advanced", "lost", "open", "rate", "rate_low", "rate_high"]
    print(funnel.rates[cols].round(3).to_string(index=False))
    ratios = activity_ratios(activities, events, data.processes, opportunities, as_of=data.as_of)
    print(ratios[["process", "stage", "kind", "entries", "per_entry", "per_entry_low", "per_entry_high"]]
          .dropna().head(8).round(2).to_string(index=False))
    print(f"Spark part and models: {time.perf_counter() - t0:.1f} s")
    spark.stop()
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
