"""Charts for a controller's report: one module per topic, every function takes ``ax=None`` and returns the Axes.

Modules are imported on first use, so ``import salesplan`` does not import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_TOPICS = ("segment", "funnel", "plan", "forecast", "control", "overview")


def __getattr__(name: str) -> Any:
    if name in _TOPICS:
        return importlib.import_module(f"salesplan.plot.{name}")
    raise AttributeError(f"module 'salesplan.plot' has no attribute {name!r}")
