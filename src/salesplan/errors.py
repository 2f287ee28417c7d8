"""Errors and warnings raised by salesplan.

Every error salesplan raises on purpose is a subclass of :class:`SalesplanError`, so a batch job can catch
``SalesplanError`` and turn it into a clean exit code while letting real bugs surface.

Examples
--------
>>> import pandas as pd
>>> from salesplan.errors import SchemaError
>>> cases = pd.DataFrame({"table": ["orders"], "column": ["amount"], "check": ["finite"],
...                       "key": ["row 3"], "value": ["inf"]})
>>> err = SchemaError.from_cases(cases)
>>> print(err)  # doctest: +NORMALIZE_WHITESPACE
1 validation failure(s):
  orders.amount [finite]: 1 row(s), e.g. row 3 (inf)
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = [
    "SalesplanError",
    "SchemaError",
    "ConfigError",
    "ParameterError",
    "NotFittedError",
    "ConvergenceError",
    "PlanInputError",
    "DataQualityWarning",
]

FAILURE_COLUMNS = ["table", "column", "check", "key", "value"]


class SalesplanError(Exception):
    """Base class of every error salesplan raises on purpose."""


class SchemaError(SalesplanError, ValueError):
    """A table broke one or more rules; ``failure_cases`` lists every failure.

    Parameters
    ----------
    message : str
        Human-readable summary.
    failure_cases : pandas.DataFrame, optional
        One row per failure with the columns ``table``, ``column``, ``check``, ``key`` (the row's key or
        position) and ``value`` (the offending value, as text).
    """

    def __init__(self, message: str, failure_cases: pd.DataFrame | None = None) -> None:
        super().__init__(message)
        if failure_cases is None:
            failure_cases = pd.DataFrame(columns=FAILURE_COLUMNS)
        self.failure_cases = failure_cases.reset_index(drop=True)

    @classmethod
    def from_cases(cls, cases: pd.DataFrame | Iterable[Mapping[str, Any]], max_examples: int = 5,
                   hints: Mapping[tuple[str, str, str], str] | None = None) -> SchemaError:
        """Build the error and its message from a table of failures.

        The message groups failures by (table, column, check) and names, per group, the count and up to
        ``max_examples`` example keys with their values, followed by a hint on what to do where one is known:
        from ``hints`` (keyed by ``(table, column, check)``) or an optional ``hint`` column of ``cases``, which
        is kept in ``failure_cases`` so that hints survive concatenation.
        """
        frame = cases if isinstance(cases, pd.DataFrame) else pd.DataFrame(list(cases))
        columns = FAILURE_COLUMNS + (["hint"] if "hint" in frame.columns or hints else [])
        frame = frame.reindex(columns=columns).astype({"key": "string", "value": "string"})
        if hints:
            keyed = [hints.get((t, c, k)) for t, c, k in zip(frame["table"], frame["column"], frame["check"],
                                                             strict=True)]
            frame["hint"] = [h if h else old for h, old in zip(keyed, frame["hint"], strict=True)]
        lines = [f"{len(frame)} validation failure(s):"]
        for (table, column, check), group in frame.groupby(["table", "column", "check"], sort=False, dropna=False):
            examples = []
            for key, value in zip(group["key"].head(max_examples), group["value"].head(max_examples), strict=True):
                examples.append(f"{key} ({value})" if pd.notna(value) and value != "" else f"{key}")
            more = len(group) - len(examples)
            tail = f" (+{more} more)" if more > 0 else ""
            line = f"  {table}.{column} [{check}]: {len(group)} row(s), e.g. {', '.join(examples)}{tail}"
            if "hint" in group.columns:
                found = [h for h in group["hint"] if isinstance(h, str) and h]
                if found:
                    line += f"\n    hint: {found[0]}"
            lines.append(line)
        return cls("\n".join(lines), frame)


class ConfigError(SalesplanError, ValueError):
    """A configuration (TOML file, process definition, argument) is invalid."""


class ParameterError(ConfigError):
    """An argument of a public function or constructor is invalid (a bad ``confidence``, ``freq``, ``horizon``...).

    The message names the parameter, the value given and what is allowed. A subclass of :class:`ConfigError`
    (a bad argument is a configuration mistake, not a table problem).
    """


class NotFittedError(SalesplanError, AttributeError):
    """An estimator was used before ``fit``."""


class ConvergenceError(SalesplanError, RuntimeError):
    """A model fit did not converge; the message says why and what to try."""


class PlanInputError(SalesplanError, ValueError):
    """A planning input (target, rate, confidence, capacity) is invalid; the message names the row."""


class DataQualityWarning(UserWarning):
    """Data were usable but something was repaired, dropped or looks suspicious."""
