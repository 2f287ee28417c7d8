"""Engine-agnostic reductions: raw rows in any engine -> small weighted summaries (pandas).

The only code in salesplan that touches raw rows lives here. Each reduction is written against narwhals, so
the same function runs on pandas, Polars, PyArrow, DuckDB or PySpark input and collects only the summary.
"""
