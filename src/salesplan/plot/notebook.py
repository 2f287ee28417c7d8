"""Show the charts of :mod:`salesplan.plot` inline in Jupyter.

The plot functions build their Figures without pyplot (:func:`salesplan.plot._base.get_ax`), so that a report or
a server never collects figures in pyplot's global state. Jupyter's inline backend only registers a PNG display
for Figures once pyplot is set up, and it never shows an Axes; a cell whose value is a chart then shows
``<Figure size 700x400 with 1 Axes>``. :func:`show_inline` registers, in the running IPython shell, a PNG display
for any matplotlib Figure or Axes that is a cell's value (or passed to ``display``) and a plain-text fallback
naming the chart's title.

Examples
--------
Outside IPython it does nothing and says so:

>>> show_inline()
False
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["show_inline", "figure_png"]


def figure_png(chart: Any, dpi: float = 100) -> bytes:
    """The PNG bytes of a Figure, or of the Figure holding an Axes (tight bounding box).

    Examples
    --------
    >>> from salesplan.plot._base import get_ax
    >>> figure_png(get_ax())[:4]
    b'\\x89PNG'
    """
    fig = _figure(chart)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _figure(chart: Any) -> Any:
    fig = getattr(chart, "figure", chart)
    return fig.get_figure(root=True) if hasattr(fig, "get_figure") else fig


def _title(chart: Any) -> str:
    fig = _figure(chart)
    for ax in fig.axes:
        for loc in ("center", "left", "right"):
            if ax.get_title(loc):
                return ax.get_title(loc)
    return "untitled"


def show_inline(shell: Any = None, dpi: float = 100) -> bool:
    """Display matplotlib Figures and Axes as PNG images in Jupyter (no pyplot state involved).

    Registers display formatters for :class:`matplotlib.figure.Figure` and :class:`matplotlib.axes.Axes` with
    IPython's display system (``DisplayFormatter.formatters["image/png"].for_type``): a cell ending in a plot
    function's Axes, ``ax.figure`` or a Figure of several Axes shows the chart. Call it once per notebook.

    Parameters
    ----------
    shell : IPython InteractiveShell, optional
        Default: the running shell (``IPython.get_ipython()``).
    dpi : float
        Resolution of the PNG images.

    Returns
    -------
    bool
        True when the formatters were registered; False outside IPython.

    Examples
    --------
    >>> show_inline()  # in a notebook's first cell; outside IPython it returns False
    False
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    formatters = shell.display_formatter.formatters

    def png(chart: Any) -> bytes:
        return figure_png(chart, dpi=dpi)

    def text(chart: Any, printer: Any, cycle: bool) -> None:
        printer.text(f"[chart: {_title(chart)}]")

    for cls in (Figure, Axes):
        formatters["image/png"].for_type(cls, png)
        formatters["text/plain"].for_type(cls, text)
    return True
