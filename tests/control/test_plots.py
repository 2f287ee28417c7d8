"""Control charts: each returns its Axes with the figures drawn from the inputs."""

from __future__ import annotations

import matplotlib
import pytest

from salesplan import ConfigError
from salesplan.control import kpis, pipeline_movement, plan_vs_actual, variance
from salesplan.plot import control as pc

matplotlib.use("Agg")


def test_control_charts(tiny, tiny_plan):
    pva = plan_vs_actual(tiny_plan, tiny)
    ax = pc.plan_actual_bars(pva, "contracts")
    heights = [p.get_height() for p in ax.patches]
    assert heights == [2.0, 2.0, 1.0, 1.0]  # plan Jan, Feb; actual Jan, Feb
    res = variance(tiny_plan, tiny)
    ax = pc.variance_waterfall(res)
    bars = [p.get_height() for p in ax.patches]
    assert bars == [4.0, -2.0, -1.0, 1.0, 2.0]  # plan 4, volume -2, conversion -1, timing +1, actual 2
    ax = pc.kpi_table(kpis(tiny, start="2025-01-01"))
    assert any(t.get_text() == "snapshot win rate" for t in ax.texts)
    ax = pc.movement_chart(pipeline_movement(tiny, "2025-01-31", "2025-02-28"))
    assert ax.get_ylabel() == "opportunities"
    with pytest.raises(ConfigError):
        pc.plan_actual_bars(pva, "contracts", process="zz")
