"""The monthly control report: configuration, assembly and the HTML / PDF / Excel / JSON writers.

Typical use (this is what ``salesplan report`` does)::

    cfg = load_config("report.toml")
    data = load_data(cfg)
    report = build_report(data, cfg)
    write_report(report, "out", cfg.report.formats)

Examples
--------
>>> from salesplan.report import demo_config, parse_config
>>> demo_config().report.formats
('html', 'pdf', 'xlsx', 'json')
"""

from __future__ import annotations

from salesplan.report.build import build_report, headline_text
from salesplan.report.config import (
    EXAMPLE_CONFIG,
    ReportConfig,
    ReportOptions,
    TableSource,
    demo_config,
    load_config,
    load_data,
    parse_config,
)
from salesplan.report.model import Chart, KeyFigure, Note, Report, Section, Table
from salesplan.report.sections import SECTION_KEYS, SECTIONS
from salesplan.report.writer import FILE_NAMES, write_report

__all__ = [
    "build_report",
    "headline_text",
    "write_report",
    "load_config",
    "load_data",
    "parse_config",
    "demo_config",
    "EXAMPLE_CONFIG",
    "ReportConfig",
    "ReportOptions",
    "TableSource",
    "Report",
    "Section",
    "KeyFigure",
    "Chart",
    "Table",
    "Note",
    "SECTIONS",
    "SECTION_KEYS",
    "FILE_NAMES",
]
