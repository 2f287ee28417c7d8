"""Helpers shared by the plot modules."""

from __future__ import annotations

import math
import re
from typing import Any


def get_ax(ax: Any = None, figsize: tuple[float, float] = (7.0, 4.0)) -> Any:
    """Return ``ax`` or a new Axes on a new Figure (never touches pyplot's global state).

    Examples
    --------
    >>> ax = get_ax(figsize=(6.0, 3.0))
    >>> ax.figure.get_size_inches().tolist(), get_ax(ax) is ax
    ([6.0, 3.0], True)
    """
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def compact_numbers(axis: Any) -> Any:
    """Tick labels in thousands (``12K``) or millions (``1.5M``) with separators, never a ``1e6`` offset.

    One unit per axis, chosen from the largest visible value at draw time; decimals from the tick step.

    Examples
    --------
    >>> ax = get_ax()
    >>> _ = ax.bar([0, 1], [1_200_000, 2_600_000])
    >>> _ = compact_numbers(ax.yaxis)
    >>> ax.figure.canvas.draw()
    >>> [t.get_text() for t in ax.get_yticklabels()][:3]
    ['0.0M', '0.5M', '1.0M']
    """
    from matplotlib.ticker import Formatter

    class _Compact(Formatter):
        ticks: list[float] = []

        def set_locs(self, locs: Any) -> None:
            self.ticks = sorted(float(v) for v in locs)

        def __call__(self, x: float, pos: int | None = None) -> str:
            lo, hi = self.axis.get_view_interval()  # type: ignore[union-attr]
            top = max(abs(lo), abs(hi))
            scale, suffix = (1e6, "M") if top >= 1e6 else (1e3, "K") if top >= 1e4 else (1.0, "")
            locs = self.ticks
            step = min((b - a for a, b in zip(locs, locs[1:], strict=False) if b > a), default=top or 1.0)
            decimals = max(0, -math.floor(math.log10(step / scale) + 1e-9)) if step > 0 else 0
            return f"{x / scale:,.{min(decimals, 3)}f}{suffix}"

    axis.set_major_formatter(_Compact())
    return axis


def readable(name: Any) -> str:
    """A column or method name as words: ``seasonal_naive`` -> ``seasonal naive``; ``(all)`` -> ``all``.

    Examples
    --------
    >>> readable("seasonal_naive"), readable("(all)")
    ('seasonal naive', 'all')
    """
    text = str(name).replace("_", " ")
    return re.sub(r"^\((.*)\)$", r"\1", text)


def legend_outside(ax: Any, **kwargs: Any) -> Any:
    """A legend right of the Axes, outside the data area (constrained layout makes room); returns it.

    Examples
    --------
    >>> ax = get_ax()
    >>> _ = ax.plot([0, 1], label="a")
    >>> legend_outside(ax).get_texts()[0].get_text()
    'a'
    """
    kwargs.setdefault("fontsize", "small")
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0, **kwargs)


def date_axis(axis: Any) -> Any:
    """Concise date ticks (``2025``, ``Feb``, ``Mar`` ...) that do not run into each other.

    Examples
    --------
    >>> import pandas as pd
    >>> ax = get_ax()
    >>> _ = ax.plot(pd.date_range("2025-01-01", periods=3, freq="MS"), [1, 2, 3])
    >>> type(date_axis(ax.xaxis).get_major_formatter()).__name__
    'ConciseDateFormatter'
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)
    axis.set_major_locator(locator)
    axis.set_major_formatter(ConciseDateFormatter(locator))
    return axis
