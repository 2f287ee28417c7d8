"""salesplan: plan, forecast and control sales processes from your own CRM and order data.

The public API is re-exported here; capabilities live in subpackages (``salesplan.segment``,
``salesplan.funnel``, ``salesplan.plan``, ``salesplan.forecast``, ``salesplan.control``, ``salesplan.plot``).

Examples
--------
Opportunities needed for 10 contracts at a 25% win rate (40 expected), so that the target is reached with
probability 0.8, and the probability that 49 opportunities bring at least 10 contracts:

>>> import salesplan as sp
>>> int(sp.required_entries(10, 0.25, target_probability=0.8))
49
>>> round(float(sp.win_probability(49, 10, 0.25)), 3)
0.817
"""

from __future__ import annotations

import logging

from salesplan.data import SalesData
from salesplan.errors import (
    ConfigError,
    ConvergenceError,
    DataQualityWarning,
    NotFittedError,
    ParameterError,
    PlanInputError,
    SalesplanError,
    SchemaError,
)
from salesplan.process import (
    DEFAULT_PROCESSES,
    SalesProcess,
    default_processes,
    load_processes,
    save_processes,
)
from salesplan.schema import TABLES, validate

__version__ = "0.1.0"

# Capabilities re-exported flat, imported on first use so that `import salesplan` stays light (no statsmodels,
# scikit-learn or matplotlib until a model or chart is asked for).
_LAZY: dict[str, str] = {
    # reading data
    "read_table": "salesplan.io", "from_salesforce": "salesplan.io", "from_hubspot": "salesplan.io",
    "load_olist": "salesplan.io", "load_maven": "salesplan.io",
    # segmentation
    "customer_summary": "salesplan.segment", "customer_patterns": "salesplan.segment",
    "abc_classes": "salesplan.segment", "gini": "salesplan.segment", "rfm_scores": "salesplan.segment",
    "BetaGeo": "salesplan.segment", "GammaGamma": "salesplan.segment",
    "customer_lifetime_value": "salesplan.segment", "calibration_holdout": "salesplan.segment",
    "holdout_comparison": "salesplan.segment", "share_of_wallet": "salesplan.segment",
    "portfolio_matrix": "salesplan.segment", "CrossSell": "salesplan.segment",
    "customer_segments": "salesplan.segment", "assign_processes": "salesplan.segment",
    "assignment_summary": "salesplan.segment", "AssignmentRule": "salesplan.segment",
    # conversion
    "estimate": "salesplan.funnel", "Funnel": "salesplan.funnel", "snapshot_funnel": "salesplan.funnel",
    "activity_ratios": "salesplan.funnel", "cohort_rates": "salesplan.funnel", "drivers": "salesplan.funnel",
    # planning
    "backward": "salesplan.plan", "Plan": "salesplan.plan", "CapacityReport": "salesplan.plan",
    "required_entries": "salesplan.plan", "win_probability": "salesplan.plan",
    "targets_from_revenue": "salesplan.plan", "optimise_mix": "salesplan.plan",
    "compare_scenarios": "salesplan.plan",
    # forecast and control
    "pipeline": "salesplan.forecast", "PipelineForecast": "salesplan.forecast",
    "SeriesForecaster": "salesplan.forecast", "backtest": "salesplan.forecast",
    "pipeline_backtest": "salesplan.forecast", "BassDiffusion": "salesplan.forecast",
    "deal_win_probability": "salesplan.forecast", "WinProbability": "salesplan.forecast",
    "forecast_accountability": "salesplan.forecast",
    "plan_vs_actual": "salesplan.control", "decompose_gap": "salesplan.control", "variance": "salesplan.control",
    "kpis": "salesplan.control", "pipeline_movement": "salesplan.control",
    # every figure of a reporting run
    "Analysis": "salesplan.analysis", "AnalysisSettings": "salesplan.analysis",
    "FigureUnavailable": "salesplan.analysis",
    # report
    "build_report": "salesplan.report", "write_report": "salesplan.report", "load_config": "salesplan.report",
}


#: Subpackages reachable as attributes without an explicit import (``salesplan.datasets.load_example()``).
_SUBMODULES = ("control", "datasets", "engines", "forecast", "funnel", "io", "plan", "plot", "reduce", "report",
               "segment")


def __getattr__(name: str) -> object:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"salesplan.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'salesplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))

__all__ = [
    "SalesData",
    "SalesProcess",
    "DEFAULT_PROCESSES",
    "default_processes",
    "load_processes",
    "save_processes",
    "validate",
    "TABLES",
    "SalesplanError",
    "SchemaError",
    "ConfigError",
    "ConvergenceError",
    "NotFittedError",
    "ParameterError",
    "PlanInputError",
    "DataQualityWarning",
    "__version__",
    *_LAZY,
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
