"""Checks and spans of tables that stay in their engine (DuckDB, Polars, Spark), computed there.

The report's loader keeps large tables lazy; their links to the small validated tables and their latest date are
worked out here, in ``reduce/``, the one place that reads raw rows.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from salesplan.data import SalesData
from salesplan.errors import SchemaError

logger = logging.getLogger(__name__)

#: The large tables that a non-pandas ``[data] engine`` opens lazily (they must be Parquet).
LAZY_TABLES = ("orders", "opportunities", "stage_events", "activities")


def latest_date(data: SalesData) -> Any:
    """The latest date of every table (lazy ones spanned in their engine), or ``data.as_of`` when none has dates.

    Examples
    --------
    >>> from salesplan.datasets import load_example
    >>> latest_date(load_example())
    Timestamp('2026-01-01 00:00:00')
    """
    latest = data.summary()["last_date"].dropna()
    return latest.max() if len(latest) else data.as_of


def check_lazy_links(data: SalesData, as_of: Any = None) -> None:
    """Check the links of lazily opened tables to the validated small ones, in the engine.

    Stage events and activities naming unknown opportunities, orders and opportunities naming unknown customers
    (rules ``known_opportunity`` / ``known_customer``), and with ``as_of`` dates after the cut (``not_in_future``,
    as for pandas tables); the row-level rules of the small tables ran in pandas.

    Raises
    ------
    SchemaError
        Naming table, column, rule, how many rows and up to five example keys.
    """
    import narwhals as nw

    from salesplan.engines import collect, engine_of, to_engine
    from salesplan.reduce.states import column_names

    cases: list[dict[str, Any]] = []

    def check(table: str, key: str, known: pd.DataFrame | None, rule: str) -> None:
        frame = getattr(data, table)
        if frame is None or known is None or isinstance(frame, pd.DataFrame) or key not in column_names(frame):
            return
        engine = engine_of(frame, table)
        ref = to_engine(known[[key]].drop_duplicates().astype({key: str}), engine)
        rows = nw.from_native(frame).select(nw.col(key).cast(nw.String)).filter(~nw.col(key).is_null())
        bad = rows.join(nw.from_native(ref), on=key, how="anti")
        n = int(collect(bad.select(nw.len().alias("n"))).iloc[0, 0])
        if n:
            examples = collect(bad.unique().head(5))[key].astype(str).tolist()
            cases.extend({"table": table, "column": key, "check": rule, "key": "-", "value": v}
                         for v in examples)
            logger.error("%s.%s: %d row(s) name unknown %s", table, key, n, key)

    if isinstance(data.opportunities, pd.DataFrame):
        check("stage_events", "opportunity_id", data.opportunities, "known_opportunity")
        check("activities", "opportunity_id", data.opportunities, "known_opportunity")
    elif data.opportunities is not None:
        from salesplan.reduce.states import unmatched_count

        n = unmatched_count(data.stage_events, data.opportunities, "opportunity_id", "stage_events") \
            if data.stage_events is not None else 0
        if n:
            cases.append({"table": "stage_events", "column": "opportunity_id", "check": "known_opportunity",
                          "key": "-", "value": f"{n} row(s) name an opportunity that is not in opportunities"})
    if isinstance(data.customers, pd.DataFrame):
        check("orders", "customer_id", data.customers, "known_customer")
        check("opportunities", "customer_id", data.customers, "known_customer")
    if as_of is not None:
        from salesplan.reduce.states import row_count
        from salesplan.schema import TABLES

        cut = nw.lit(pd.Timestamp(as_of).to_pydatetime())
        for table in LAZY_TABLES:
            frame = getattr(data, table)
            if frame is None or isinstance(frame, pd.DataFrame):
                continue
            names = column_names(frame)
            for col, kind in TABLES[table].columns.items():
                if kind == "date" and col in names and col not in TABLES[table].future_ok:
                    n = row_count(frame, table, where=nw.col(col) > cut)
                    if n:
                        cases.append({"table": table, "column": col, "check": "not_in_future", "key": "-",
                                      "value": f"{n} row(s) after the cut {pd.Timestamp(as_of)}"})
    if cases:
        raise SchemaError.from_cases(cases)
