"""Customer value segmentation: summaries, ABC, RFM, CLV, share of wallet, portfolio, cross-selling, processes.

Examples
--------
>>> import pandas as pd
>>> from salesplan.segment import abc_classes
>>> abc_classes(pd.Series({"a": 90.0, "b": 10.0}))["abc_class"].tolist()
['A', 'B']
"""

from salesplan.segment.abc import abc_classes, abc_summary, gini
from salesplan.segment.assign import (
    DEFAULT_RULES,
    AssignmentRule,
    assign_processes,
    assignment_summary,
    customer_segments,
    load_rules,
)
from salesplan.segment.clv import (
    BetaGeo,
    GammaGamma,
    calibration_holdout,
    customer_lifetime_value,
    holdout_comparison,
    sample_bgnbd,
)
from salesplan.segment.cross_sell import CrossSell, ownership_matrix, recent_cross_sell
from salesplan.segment.portfolio import portfolio_matrix, portfolio_summary
from salesplan.segment.rfm import DEFAULT_SEGMENTS, quantile_score, rfm_scores
from salesplan.segment.summary import (
    clv_summary,
    customer_patterns,
    customer_summary,
    rfm_summary,
    summary_patterns,
)
from salesplan.segment.wallet import annual_spend, share_of_wallet

__all__ = [
    "customer_summary",
    "customer_patterns",
    "rfm_summary",
    "clv_summary",
    "summary_patterns",
    "abc_classes",
    "abc_summary",
    "gini",
    "rfm_scores",
    "quantile_score",
    "DEFAULT_SEGMENTS",
    "BetaGeo",
    "GammaGamma",
    "customer_lifetime_value",
    "calibration_holdout",
    "holdout_comparison",
    "sample_bgnbd",
    "share_of_wallet",
    "annual_spend",
    "portfolio_matrix",
    "portfolio_summary",
    "CrossSell",
    "ownership_matrix",
    "recent_cross_sell",
    "AssignmentRule",
    "DEFAULT_RULES",
    "load_rules",
    "customer_segments",
    "assign_processes",
    "assignment_summary",
]
