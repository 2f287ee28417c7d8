"""Assemble a :class:`~salesplan.report.model.Report` from validated data and a configuration.

Every section runs in turn; a section that raises becomes a section holding only a warning. Warnings that the
models log (``logging`` at WARNING under ``salesplan``) or issue (:class:`salesplan.DataQualityWarning`) while a
section runs are collected into the data-quality table, so nothing that was dropped or repaired goes unseen.

Examples
--------
>>> from salesplan.datasets import load_example
>>> from salesplan.report import build_report, demo_config
>>> data = load_example()
>>> report = build_report(data, demo_config(sections=("overview",)))
>>> report.sections[0].key, report.period
('overview', '2025-12')
>>> [(f.label, f.text()) for f in report.key_figures][4:6]
[('retention: won 2025 Q4', '18'), ('Open opportunities', '65')]
>>> int(data.status_counts()["open"].sum())  # the same open count straight from the data: 18 + 18 + 11 + 6 + 12
65
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd

import salesplan
from salesplan.analysis import Analysis
from salesplan.data import SalesData
from salesplan.engines import release_memory
from salesplan.errors import ConfigError
from salesplan.report.blocks import Table
from salesplan.report.config import ReportConfig
from salesplan.report.context import ReportContext
from salesplan.report.model import DATA_QUALITY_COLUMNS, Report, Section
from salesplan.report.sections import SECTIONS, in_brief

__all__ = ["build_report", "Progress"]

logger = logging.getLogger(__name__)

#: ``progress(done, total, label)`` is called before each step and once at the end (done == total).
Progress = Callable[[int, int, str], None]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # plausibility flags reach the data-quality table once, from Analysis.flags (section_data_quality)
        if not record.name.startswith(("salesplan.report", "salesplan.cli", "salesplan.plausibility")):
            self.records.append(record)


@contextmanager
def _capture() -> Iterator[tuple[_Collect, list[warnings.WarningMessage]]]:
    handler = _Collect()
    root = logging.getLogger("salesplan")
    old_level = root.level
    if root.getEffectiveLevel() > logging.WARNING:  # e.g. the CLI's --quiet: still collect the findings
        root.setLevel(logging.WARNING)
    root.addHandler(handler)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", salesplan.DataQualityWarning)
            yield handler, caught
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for w in caught:  # only data-quality warnings are consumed; every other warning is passed on
            if not issubclass(w.category, salesplan.DataQualityWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def build_report(data: SalesData, config: ReportConfig, progress: Progress | None = None,
                 analysis: Analysis | None = None) -> Report:
    """Lay out every configured section of the figures of an :class:`salesplan.Analysis` of ``data``.

    Parameters
    ----------
    data : SalesData
        Validated tables (``salesplan.report.load_data(config)`` or ``salesplan.datasets.load_example()``).
    config : ReportConfig
        Options; ``config.settings()`` are the analysis settings, ``report.sections`` limits the sections.
    progress : callable, optional
        ``progress(done, total, label)``; the CLI draws a bar with it when stderr is a terminal.
    analysis : Analysis, optional
        An Analysis of the same ``data`` (e.g. explored in a notebook) whose computed figures are reused; by
        default one is made from ``data`` and ``config.settings()``.

    Returns
    -------
    Report
        Sections in order, the key figures at the top and the data-quality table. Never raises for a failing
        section (that becomes a warning); raises :class:`salesplan.ConfigError` only for configuration errors that
        make the whole report meaningless (e.g. unknown processes named in the config).
    """
    if analysis is not None and analysis.data is not data:
        raise ConfigError("build_report: analysis= was made with other data")
    ctx = ReportContext.create(data, config) if analysis is None else ReportContext(analysis, config)
    a = ctx.analysis
    try:
        a.processes  # noqa: B018 - configuration errors surface before any work
    except ConfigError as exc:
        detail = str(exc).removeprefix("'")
        raise ConfigError(f"{config.source}: 'report.{detail}") from None
    keys = list(config.report.section_keys)
    sections: list[Section] = []
    for i, key in enumerate(keys):
        if progress is not None:
            progress(i, len(keys), key)
        logger.info("section %s", key)
        with _capture() as (handler, caught):
            try:
                out = SECTIONS[key](ctx)
            except Exception as exc:  # noqa: BLE001 - a failing section must not stop the report
                logger.debug("section %s failed", key, exc_info=True)
                out = Section(key, key.replace("_", " ").capitalize())
                out.warn(f"section failed: {type(exc).__name__}: {exc}")
        new = out if isinstance(out, list) else [out]
        for record in handler.records:
            ctx.add_quality(key, "warning", f"[{record.name.removeprefix('salesplan.')}] {record.getMessage()}")
        for w in caught:
            if issubclass(w.category, salesplan.DataQualityWarning):
                ctx.add_quality(key, "warning", str(w.message))
        for sec in new:
            for message in sec.warnings:
                severity = "missing" if "not available" in message else "error"
                ctx.add_quality(sec.key, severity, message)
        sections.extend(new)
        release_memory()  # what the section freed goes back before the next one fills DuckDB's memory_limit
    if progress is not None:
        progress(len(keys), len(keys), "done")

    rows = list({tuple(row[c] for c in DATA_QUALITY_COLUMNS): row for row in ctx.dq_rows}.values())
    dq = pd.DataFrame(rows, columns=DATA_QUALITY_COLUMNS)
    for sec in sections:
        if sec.key == "data_quality":
            sec.add_table(Table("data_quality", "Data-quality findings", dq,
                                note="What was dropped, flagged or could not be computed, and why."))
    level = config.report.level
    appendix, workbook = _appendix(sections, level)
    if appendix is not None:
        sections.append(appendix)
    return Report(
        title=config.report.title,
        subtitle=config.report.subtitle or (config.report.company or ""),
        as_of=a.as_of,
        period=str(a.period),
        key_figures=list(ctx.top_figures),
        sections=sections,
        data_quality=dq,
        meta={"version": salesplan.__version__, "seed": a.settings.seed, "confidence": a.settings.confidence,
              "config": config.source, "period_label": a.period_label(), "processes": list(a.processes)},
        headline=_headline(ctx, keys),
        brief=_brief(ctx, keys, rows),
        level=level,
        workbook_tables=workbook,
        author=config.report.author or config.report.company or "salesplan",
    )


def _appendix(sections: list[Section], level: str) -> tuple[Section | None, list[Table]]:
    """Take the detail tables out of their sections.

    They go into an appendix section (level ``full``), into the workbook only with a list of them in the
    appendix (``standard``), or are dropped (``summary``).
    """
    detail = [t for sec in sections for t in sec.tables if t.appendix]
    for sec in sections:
        sec.blocks = [b for b in sec.blocks if not (isinstance(b, Table) and b.appendix)]
    if not detail or level == "summary":
        return None, []
    sec = Section("appendix", "Appendix: detail tables")
    if level == "full":
        sec.intro = "Detail tables behind the sections; every row is in report.xlsx."
        for table in detail:
            sec.add_table(table)
        return sec, []
    sec.intro = ("The detail tables behind the sections are in report.xlsx (one sheet each; its first sheet "
                 "lists them): " + "; ".join(f"{t.title} (sheet {t.name}, {len(t.frame):,} rows)" for t in detail)
                 + ". The full level ([report] level = \"full\") shows them here.")
    return sec, detail


def _headline(ctx: ReportContext, keys: list[str]) -> dict:
    if "forecast" not in keys:
        return {}
    try:
        return ctx.analysis.headline
    except Exception:  # noqa: BLE001 - the forecast section shows the failure
        return {}


def _brief(ctx: ReportContext, keys: list[str], dq_rows: list[dict]) -> list[str]:
    lines = in_brief(ctx, keys)
    problems = [row for row in dq_rows if row["severity"] in ("error", "missing", "warning")]
    if problems:
        lines.append(f"{len(problems)} data-quality or computation finding(s) need attention: see "
                     "'Data and data quality'.")
    return lines


def headline_text(report: Report) -> list[str]:
    """Key figures as ``label: value`` lines (what ``salesplan demo`` prints)."""
    return [f"{f.label}: {f.text()}" + (f" [{f.note}]" if f.note else "") for f in report.key_figures]
