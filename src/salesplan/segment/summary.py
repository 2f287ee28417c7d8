"""Customer summaries for segmentation: the order reduction plus compression of a summary to patterns.

The reductions themselves live in :mod:`salesplan.reduce.customers` (the only code that touches raw order rows);
this module re-exports them (including the light :func:`rfm_summary` and :func:`clv_summary`, one group-by each,
for large order tables) and adds helpers that work on an already collected per-customer summary.

Examples
--------
>>> import pandas as pd
>>> s = pd.DataFrame({"frequency": [0, 0, 2], "recency": [0.0, 0.0, 5.0], "T": [9.0, 9.0, 9.0]})
>>> summary_patterns(s).to_dict("list")
{'frequency': [0, 2], 'recency': [0.0, 5.0], 'T': [9.0, 9.0], 'weight': [2, 1]}
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from salesplan.errors import SchemaError
from salesplan.reduce.customers import (
    clv_summary,
    customer_patterns,
    customer_summary,
    holdout_purchases,
    product_ownership,
    rfm_summary,
)

__all__ = ["customer_summary", "rfm_summary", "clv_summary", "customer_patterns", "holdout_purchases",
           "product_ownership", "summary_patterns"]


def summary_patterns(summary: pd.DataFrame, columns: Sequence[str] = ("frequency", "recency", "T")) -> pd.DataFrame:
    """Collapse a per-customer summary into distinct patterns with a ``weight`` (number of customers).

    Use ``columns=("frequency", "monetary_value")`` for the Gamma-Gamma model.
    """
    cols = list(columns)
    missing = [c for c in cols if c not in summary.columns]
    if missing:
        raise SchemaError(f"summary_patterns: summary lacks column(s) {missing}")
    sizes = summary.groupby(cols, sort=True).size()
    # columns straight from the group index levels: reset_index() on a float MultiIndex builds Python tuples
    index = sizes.index
    out = pd.DataFrame({c: index.get_level_values(c) if index.nlevels > 1 else index for c in cols})
    out["weight"] = sizes.to_numpy().astype("int64")
    return out
