"""Helpers shared by the plot modules."""

from __future__ import annotations

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
