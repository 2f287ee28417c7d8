"""salesplan: plan, forecast and control sales processes from your own CRM and order data.

The public API is re-exported here; capabilities live in subpackages (``salesplan.segment``,
``salesplan.funnel``, ``salesplan.plan``, ``salesplan.forecast``, ``salesplan.control``, ``salesplan.plot``).

Examples
--------
>>> import salesplan as sp
>>> sorted(sp.DEFAULT_PROCESSES)[:2]
['acquisition', 'cross_selling']
"""

from __future__ import annotations

import logging

from salesplan.data import SalesData
from salesplan.errors import (
    ConfigError,
    ConvergenceError,
    DataQualityWarning,
    NotFittedError,
    PlanInputError,
    SalesplanError,
    SchemaError,
)
from salesplan.process import DEFAULT_PROCESSES, SalesProcess, default_processes, load_processes, save_processes
from salesplan.schema import TABLES, validate

__version__ = "0.1.0"

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
    "PlanInputError",
    "DataQualityWarning",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
