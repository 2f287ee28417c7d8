"""One protocol for every result object: immutable once built, ``summary()`` a DataFrame, repr derived from it.

A result (a fitted funnel, a plan, a forecast, a backtest, ...) is a frozen dataclass that subclasses
:class:`Result`. It implements :meth:`Result.summary`, a :class:`pandas.DataFrame` in which every interval stands
beside its estimate (``rate, rate_low, rate_high``; ``expected, low, high``), and :meth:`Result.title`, one line
that says what it is. ``repr()`` (text) and ``_repr_html_`` (notebooks) are derived from those two, as in
statsmodels' summary protocol, so no result writes its own. Fitted state that other modules read is public
(``levels_``, ``samples()``), never an underscore name.

Examples
--------
>>> from dataclasses import dataclass
>>> import pandas as pd
>>> @dataclass(frozen=True, repr=False)
... class Share(Result):
...     won: int
...     n: int
...     def title(self) -> str:
...         return "Share won"
...     def summary(self) -> pd.DataFrame:
...         return pd.DataFrame({"share": [self.won / self.n], "share_low": [0.2], "share_high": [0.8]})
>>> print(Share(5, 10))
Share won
   share  share_low  share_high
0    0.5        0.2         0.8
"""

from __future__ import annotations

import html
from typing import ClassVar

import pandas as pd

__all__ = ["Result", "interval_columns", "rounded"]


class Result:
    """Base of the result objects (see the module docstring)."""

    #: Rows shown by ``repr`` and in notebooks (the full table is ``summary()``).
    max_rows: ClassVar[int] = 40

    def title(self) -> str:
        """One line saying what the result is (the heading of its repr)."""
        return type(self).__name__

    def summary(self) -> pd.DataFrame:
        """The result as a table, intervals beside their estimates."""
        raise NotImplementedError

    def __repr__(self) -> str:
        table = self.summary()
        return f"{self.title()}\n{table.to_string(max_rows=self.max_rows)}"

    def _repr_html_(self) -> str:
        table = self.summary()
        return (f"<p><b>{html.escape(self.title())}</b></p>"
                + table.to_html(max_rows=self.max_rows, escape=True, float_format=lambda v: f"{v:.4g}"))


def interval_columns(columns: list[str]) -> list[tuple[str, str, str]]:
    """``(estimate, low, high)`` column triples of a summary: ``x, x_low, x_high`` or ``x, low, high``.

    Examples
    --------
    >>> interval_columns(["stage", "rate", "rate_low", "rate_high", "expected", "low", "high"])
    [('rate', 'rate_low', 'rate_high'), ('expected', 'low', 'high')]
    """
    out = []
    for i, col in enumerate(columns):
        if col == "low" or col.endswith("_low"):
            est = columns[i - 1] if i > 0 else ""
            high = "high" if col == "low" else col[: -len("_low")] + "_high"
            out.append((est, col, high))
    return out


def rounded(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``frame`` with its float columns rounded for display (dates and labels untouched).

    Examples
    --------
    >>> rounded(pd.DataFrame({"rate": [0.12345], "n": [3]})).to_dict("records")
    [{'rate': 0.123, 'n': 3}]
    """
    floats = frame.select_dtypes("float").columns
    return frame.round({c: digits for c in floats})
