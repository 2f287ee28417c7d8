"""The state of one report run: the :class:`salesplan.Analysis` whose figures the sections lay out, the
configuration, and what the run collects (the figures at the top, the data-quality rows).

Sections read figures from ``ctx.analysis`` only; nothing is computed here and nothing passes between sections
except through the Analysis.

Examples
--------
>>> from salesplan.datasets import load_example
>>> from salesplan.report import demo_config
>>> from salesplan.report.context import ReportContext
>>> ctx = ReportContext.create(load_example(), demo_config())
>>> ctx.data.as_of  # the example's data cut: the report covers the last whole month before it
Timestamp('2026-01-01 00:00:00')
>>> ctx.analysis.period_label()
'December 2025'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salesplan.analysis import Analysis, FigureUnavailable
from salesplan.data import SalesData
from salesplan.errors import SalesplanError
from salesplan.report.blocks import Chart, KeyFigure
from salesplan.report.config import ReportConfig

if TYPE_CHECKING:
    from salesplan.report.model import Section

__all__ = ["ReportContext", "render", "piece"]

logger = logging.getLogger(__name__)


@contextmanager
def piece(section: Section, label: str) -> Iterator[None]:
    """Run one part of a section; turn any failure into a warning of the section."""
    try:
        yield
    except FigureUnavailable as exc:
        section.warn(f"{label}: not available — {exc}")
    except SalesplanError as exc:
        section.warn(f"{label}: {exc}")
    except Exception as exc:  # noqa: BLE001 - the report must not stop; the traceback goes to the log
        logger.debug("%s failed", label, exc_info=True)
        section.warn(f"{label} failed: {type(exc).__name__}: {exc}")


def render(plot: Callable[..., Any], title: str, caption: str = "", /, **kwargs: Any) -> Chart:
    """Call a plot function (``ax=None`` convention) and render the Figure of the Axes it returns."""
    ax = plot(**kwargs)
    if isinstance(ax, list | tuple):
        ax = ax[0]
    elif hasattr(ax, "ravel"):
        ax = ax.ravel()[0]
    fig = ax.figure if hasattr(ax, "figure") else ax
    fig = fig.get_figure(root=True) if hasattr(fig, "get_figure") else fig
    return Chart.from_figure(fig, title=title, caption=caption)


@dataclass
class ReportContext:
    """What a section function may read (``analysis``, ``config``) and what it adds to (figures at the top of
    the report, data-quality rows)."""

    analysis: Analysis
    config: ReportConfig
    dq_rows: list[dict[str, Any]] = field(default_factory=list)
    top_figures: list[KeyFigure] = field(default_factory=list)

    @classmethod
    def create(cls, data: SalesData, config: ReportConfig) -> ReportContext:
        """A context whose Analysis is made from ``data`` and ``config.settings()`` (the large tables of a
        non-pandas ``[data] engine`` are already native lazy frames in ``data``, see
        :func:`salesplan.report.load_data`)."""
        return cls(Analysis(data, config.settings()), config)

    @property
    def full(self) -> bool:
        """Whether the report is at ``[report] level = "full"`` (every chart and detail table)."""
        return self.config.report.level == "full"

    @property
    def data(self) -> SalesData:
        """The validated data of the Analysis."""
        return self.analysis.data

    def headline(self, figure: KeyFigure) -> KeyFigure:
        """Put a key figure at the top of the report (and into summary.json's key figures)."""
        self.top_figures.append(figure)
        return figure

    def add_quality(self, section: str, severity: str, message: str, table: str = "", rows: Any = None) -> None:
        """Add a row to the data-quality table."""
        self.dq_rows.append({"section": section, "severity": severity, "table": table,
                             "rows": None if rows is None else int(rows), "message": message})
