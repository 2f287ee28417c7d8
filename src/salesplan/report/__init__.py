"""The monthly control report: configuration, assembly and the HTML / PDF / Excel / JSON writers.

Typical use (this is what ``salesplan report`` does)::

    cfg = load_config("report.toml")
    data = load_data(cfg)
    report = build_report(data, cfg)
    write_report(report, "out", cfg.report.formats)

Examples
--------
The settings of a ``report.toml`` (here as a dict) are read as written; what is not set takes its default (the
standard level, monthly, EUR), and a misspelt key is refused with the file's name:

>>> from salesplan.report import parse_config
>>> cfg = parse_config({"report": {"title": "Q4 review", "confidence": 0.8, "formats": ["html", "json"]}},
...                    source="report.toml")
>>> cfg.report.title, cfg.report.confidence, cfg.report.formats, cfg.report.level, cfg.report.freq
('Q4 review', 0.8, ('html', 'json'), 'standard', 'M')
>>> parse_config({"report": {"confidance": 0.8}}, source="report.toml")
Traceback (most recent call last):
...
salesplan.errors.ConfigError: report.toml: unknown key...
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
