"""Checks of the vocabulary parameters, shared by every public function and constructor.

One name per idea (see CONTRIBUTING.md, "Vocabulary"): ``confidence`` and ``target_probability`` are
probabilities in (0, 1), ``significance`` too, ``freq`` one of the period aliases ``W``, ``M``, ``Q``, ``Y``,
``horizon`` a :class:`pandas.Timedelta`, a :class:`pandas.DateOffset` or a string read as an offset first
(``"3MS"`` is three month starts, not three milliseconds), ``n_draws`` a positive integer. A bad value raises
:class:`salesplan.ParameterError` naming the parameter, the value and what is allowed.

Examples
--------
>>> import pandas as pd
>>> check_probability(0.9, "confidence")
0.9
>>> horizon_end(pd.Timestamp("2026-01-15"), "3MS")
Timestamp('2026-04-01 00:00:00')
>>> check_freq("q")
'Q'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ParameterError

#: The period aliases ``freq`` takes (engine and pandas spellings are derived inside ``reduce/``).
FREQS: tuple[str, ...] = ("W", "M", "Q", "Y")


def check_probability(value: Any, name: str = "confidence") -> float:
    """``value`` as a float strictly between 0 and 1, else :class:`~salesplan.ParameterError`.

    Examples
    --------
    >>> check_probability(1.5, "confidence")
    Traceback (most recent call last):
    ...
    salesplan.errors.ParameterError: confidence must be a probability strictly between 0 and 1, got 1.5
    """
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not 0 < float(value) < 1:
        raise ParameterError(f"{name} must be a probability strictly between 0 and 1, got {value!r}")
    return float(value)


def check_positive(value: Any, name: str, *, integer: bool = False) -> Any:
    """``value`` if it is a number > 0 (an integer when ``integer``), else :class:`~salesplan.ParameterError`.

    Examples
    --------
    >>> check_positive(2000, "n_draws", integer=True)
    2000
    """
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ParameterError(f"{name} must be {kind}, got {value!r}")
    return int(value) if integer else value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``, else :class:`~salesplan.ParameterError` listing them.

    Examples
    --------
    >>> check_choice("required", "basis", ("expected", "required"))
    'required'
    """
    allowed = list(choices)
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def check_freq(value: Any, name: str = "freq", choices: Iterable[str] = FREQS) -> str:
    """A period alias ``W``, ``M``, ``Q`` or ``Y`` (case-insensitive), upper-cased.

    Examples
    --------
    >>> check_freq("1mo")
    Traceback (most recent call last):
    ...
    salesplan.errors.ParameterError: freq must be one of ['W', 'M', 'Q', 'Y'], got '1mo'
    """
    allowed = list(choices)
    if not isinstance(value, str) or value.upper() not in allowed:
        raise ParameterError(f"{name} must be one of {allowed}, got {value!r}")
    return value.upper()


def check_horizon(value: Any, name: str = "horizon") -> pd.offsets.BaseOffset | pd.Timedelta:
    """``horizon`` as an offset or a Timedelta; a string is read as a pandas offset first.

    ``"3MS"`` is three month starts and ``"90D"`` ninety days; strings that are no offset are read as a
    Timedelta (``"36h"``). A bare number is refused (its unit would be a guess).

    Examples
    --------
    >>> check_horizon("3MS")
    <3 * MonthBegins>
    >>> check_horizon(90)
    Traceback (most recent call last):
    ...
    salesplan.errors.ParameterError: horizon must be a pandas Timedelta, a DateOffset or a string such as '90D' or '3MS', got 90
    """
    hint = "a pandas Timedelta, a DateOffset or a string such as '90D' or '3MS'"
    if isinstance(value, pd.offsets.BaseOffset):
        if getattr(value, "n", 1) <= 0:
            raise ParameterError(f"{name} must be positive, got {value!r}")
        return value
    if isinstance(value, pd.Timedelta | np.timedelta64) or type(value).__name__ == "timedelta":
        out = pd.Timedelta(value)
        if out <= pd.Timedelta(0):
            raise ParameterError(f"{name} must be positive, got {value!r}")
        return out
    if isinstance(value, str):
        try:
            offset = pd.tseries.frequencies.to_offset(value)
        except ValueError:
            offset = None
        if offset is not None:
            if getattr(offset, "n", 1) <= 0:
                raise ParameterError(f"{name} must be positive, got {value!r}")
            return offset
        try:
            out = pd.Timedelta(value)
        except ValueError:
            tip = ""
            if value[-1:].upper() in ("M", "Q", "Y") and value[:-1].isdigit():
                tip = f" (pandas reads 'M', 'Q', 'Y' as no offset: write {value[:-1] + value[-1].upper() + 'S'!r})"
            raise ParameterError(f"{name} must be {hint}, got {value!r}{tip}") from None
        if out <= pd.Timedelta(0):
            raise ParameterError(f"{name} must be positive, got {value!r}")
        return out
    raise ParameterError(f"{name} must be {hint}, got {value!r}")


def horizon_end(start: pd.Timestamp, horizon: Any, name: str = "horizon") -> pd.Timestamp:
    """The end of a horizon that starts at ``start`` (``start + horizon``; checked with :func:`check_horizon`).

    Examples
    --------
    >>> horizon_end(pd.Timestamp("2026-01-01"), "90D")
    Timestamp('2026-04-01 00:00:00')
    """
    end = pd.Timestamp(start) + check_horizon(horizon, name)
    if end <= pd.Timestamp(start):
        raise ParameterError(f"{name} {horizon!r} ends at {end}, not after its start {start}")
    return end


def horizon_days(start: pd.Timestamp, horizon: Any, name: str = "horizon") -> float:
    """The length in days of a horizon that starts at ``start``.

    Examples
    --------
    >>> horizon_days(pd.Timestamp("2026-01-01"), "1MS")
    31.0
    """
    return (horizon_end(start, horizon, name) - pd.Timestamp(start)).total_seconds() / 86400.0


def horizon_periods(last: pd.Period, horizon: Any, name: str = "horizon") -> int:
    """How many periods after ``last`` start before the horizon ends (the horizon starts where ``last`` ends).

    Examples
    --------
    >>> horizon_periods(pd.Period("2026-03", "M"), "3MS")
    3
    >>> horizon_periods(pd.Period("2026-Q1", "Q"), "6MS")
    2
    """
    origin = (last + 1).start_time
    end = horizon_end(origin, horizon, name)
    n = 0
    p = last + 1
    while p.start_time < end:
        n += 1
        p = p + 1
    return n


def check_columns(columns: Any, name: str = "columns") -> dict[str, str]:
    """A ``columns`` mapping ``{"their name": "canonical name"}`` as a dict (``None`` -> ``{}``).

    Examples
    --------
    >>> check_columns({"Kunde": "customer_id"})
    {'Kunde': 'customer_id'}
    """
    if columns is None:
        return {}
    if not isinstance(columns, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in columns.items()):
        raise ParameterError(f"{name} must map the user's column names to canonical names "
                             f"({{'their name': 'canonical name'}}), got {columns!r}")
    return dict(columns)


def column_names(columns: Any, canonical: Iterable[str], name: str = "columns") -> dict[str, str]:
    """Canonical name -> the user's column, from a ``columns`` mapping (unmapped names stay themselves).

    Examples
    --------
    >>> column_names({"Kunde": "customer_id"}, ["customer_id", "amount"])
    {'customer_id': 'Kunde', 'amount': 'amount'}
    """
    mapping = check_columns(columns, name)
    known = list(canonical)
    unknown = sorted(set(mapping.values()) - set(known))
    if unknown:
        raise ParameterError(f"{name}: {unknown} are no canonical column names here; use {known}")
    names = {c: c for c in known}
    for theirs, canon in mapping.items():
        names[canon] = theirs
    return names
