"""Segmentation plots: each takes ax=None, returns the Axes, labels axes, draws the data it is given."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from salesplan.plot import segment as psg
from salesplan.segment import abc_classes, portfolio_matrix, rfm_scores


def _summary() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    freq = rng.poisson(2, n)
    rec = np.where(freq > 0, rng.uniform(0, 300, n), 0.0)
    return pd.DataFrame({"frequency": freq, "recency": rec, "T": rec + rng.uniform(0, 60, n),
                         "revenue": rng.gamma(1.0, 500, n), "clv": rng.gamma(1.0, 800, n),
                         "share_of_wallet": rng.uniform(0, 1, n)}, index=[f"c{i}" for i in range(n)])


def test_pareto_curve_draws_bands_and_curve() -> None:
    t = abc_classes(_summary()["revenue"])
    ax = psg.pareto_curve(t)
    assert ax.get_xlabel().startswith("cumulative share of items")
    line = ax.get_lines()[0]
    assert abs(line.get_ydata()[-1] - 100.0) < 1e-9 and len(line.get_xdata()) == 201
    assert "Gini" in ax.get_title()


def test_rfm_heatmap_counts_customers() -> None:
    r = rfm_scores(_summary())
    ax = psg.rfm_heatmap(r)
    grid = ax.images[0].get_array()
    assert np.nansum(grid) == 200


def test_clv_by_segment_and_portfolio_and_holdout_use_given_axes() -> None:
    s = _summary()
    s["value_class"] = abc_classes(s["clv"])["abc_class"]
    fig = Figure()
    axes = fig.subplots(1, 3)
    assert psg.clv_by_segment(s, ax=axes[0], unit="EUR") is axes[0]
    assert axes[0].get_ylabel() == "clv (EUR, log scale)"
    m = portfolio_matrix(s)
    assert psg.portfolio_plot(m, ax=axes[1]) is axes[1]
    assert sum(len(c.get_offsets()) for c in axes[1].collections) == 200
    comp = pd.DataFrame({"actual": [0.2, 0.6, 1.1], "predicted": [0.25, 0.55, 1.2], "customers": [50, 20, 5]},
                        index=pd.Index([0, 1, 2], name="frequency"))
    comp.attrs["max_frequency"] = 2
    ax = psg.calibration_holdout_plot(comp, ax=axes[2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2+"]
    assert list(ax.get_lines()[0].get_ydata()) == [0.2, 0.6, 1.1]
