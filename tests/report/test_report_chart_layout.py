"""Every chart of a built report passes the layout check of tests/plot/chart_check.py.

The report of a small simulated company is built once in-process with every section that draws charts; each
Figure is checked as the report renders it (``Chart.from_figure``), with the titles and arguments the report's
sections pass. The plot functions themselves are checked on their own in tests/plot/test_chart_layout.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

# two processes draw every kind of per-process chart (the same two as the other hostile-data tests)
PROCESSES = ("acquisition", "retention")
# every section but accountability: its re-run of the forecast at each call date costs about half of the build,
# and its two charts (waterfall, calls against model) are checked on their own in tests/plot
SECTIONS = ("overview", "forecast", "processes", "breakdowns", "kpis", "activity", "segments", "data_quality")
CHECKER = Path(__file__).resolve().parents[1] / "plot" / "chart_check.py"


def _checker() -> Any:
    if "chart_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("chart_check", CHECKER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["chart_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["chart_check"]


@pytest.fixture(scope="module")
def report_charts(hostile_data) -> dict[str, list[str]]:
    """Chart title -> layout problems, for every chart of the full report of ``hostile_data``."""
    from dataclasses import fields

    from salesplan.report import build_report, demo_config
    from salesplan.report.blocks import Chart
    from salesplan.report.config import ReportOptions

    check = _checker().figure_problems
    found: dict[str, list[str]] = {}
    original = Chart.from_figure.__func__  # type: ignore[attr-defined]

    def recording(cls: type, fig: Any, *args: Any, **kwargs: Any) -> Any:
        title = kwargs.get("title", args[0] if args else "?")
        found[f"{title} #{len(found)}"] = check(fig)
        return original(cls, fig, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(Chart, "from_figure", classmethod(recording))
    try:
        # every chart: the full level where the report has levels
        full = {"level": "full"} if "level" in {f.name for f in fields(ReportOptions)} else {}
        build_report(hostile_data, demo_config(title="chart layout", processes=PROCESSES,
                                         sections=SECTIONS, **full))
    finally:
        mp.undo()
    return found


def test_every_report_chart_passes_the_layout_check(report_charts) -> None:
    assert len(report_charts) >= 10, list(report_charts)
    bad = {title: problems for title, problems in report_charts.items() if problems}
    assert not bad, "\n".join(f"{t}:\n  " + "\n  ".join(p) for t, p in bad.items())
