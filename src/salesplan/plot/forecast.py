"""Forecast charts: fan chart, pipeline forecast distribution, reliability curve, Bass diffusion.

Every function takes ``ax=None`` (a new Figure without pyplot state is made then) and returns the Axes.

Examples
--------
>>> import pandas as pd
>>> from salesplan.forecast import SeriesForecaster
>>> y = pd.Series([5.0, 7, 6, 8, 7, 9, 8, 10], index=pd.period_range("2024-01", periods=8, freq="M"))
>>> f = SeriesForecaster("naive").fit(y)
>>> ax = fan_chart(y, {0.5: f.forecast("3MS", 0.5), 0.8: f.forecast("3MS", 0.8)})
>>> ax.get_ylabel()
'contracts per period'
>>> ax.lines[-1].get_ydata().tolist(), len(ax.collections)  # the naive mean and one band per level
([10.0, 10.0, 10.0, 10.0], 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.plot._base import compact_numbers, date_axis, get_ax, legend_outside, readable

__all__ = ["fan_chart", "pipeline_chart", "reliability_chart", "bass_chart", "backtest_chart"]

_BLUE = "#1f5f99"
_ORANGE = "#ef6c00"


def _x(index: pd.Index) -> np.ndarray:
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp().to_numpy()
    return np.asarray(index)


def fan_chart(history: pd.Series, forecast: pd.DataFrame | Mapping[float, pd.DataFrame], *, ax: Any = None,
              ylabel: str = "contracts per period", title: str | None = None) -> Any:
    """History line and forecast mean with one shaded band per interval level.

    The title defaults to "History and forecast"; a model code such as ``ETS(A,N,N)`` belongs in a caption.

    Parameters
    ----------
    history : Series
        Observed values per period.
    forecast : DataFrame or mapping level -> DataFrame
        ``mean``, ``low``, ``high`` per forecast period (``SeriesForecaster.forecast``); several levels give a fan.
    """
    ax = get_ax(ax)
    fcs = dict(forecast) if isinstance(forecast, Mapping) else {float(forecast["confidence"].iloc[0])
                                                                 if "confidence" in forecast else 0.8: forecast}
    ax.plot(_x(history.index), history.to_numpy(dtype=float), color="black", lw=1.5, label="actual")
    levels = sorted(fcs, reverse=True)
    for i, lev in enumerate(levels):
        f = fcs[lev]
        ax.fill_between(_x(f.index), f["low"].to_numpy(float), f["high"].to_numpy(float), color=_BLUE,
                        alpha=0.15 + 0.2 * i / max(len(levels), 1), lw=0, label=f"{lev:.0%} interval")
    f0 = fcs[levels[0]]
    xs = np.concatenate([_x(history.index[-1:]), _x(f0.index)])
    ys = np.concatenate([history.to_numpy(float)[-1:], f0["mean"].to_numpy(float)])
    ax.plot(xs, ys, color=_BLUE, lw=2, ls="--", label="forecast")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("period")
    compact_numbers(ax.yaxis)
    date_axis(ax.xaxis)
    ax.set_title(title or "History and forecast")
    legend_outside(ax)
    return ax


def pipeline_chart(forecast: Any, *, ax: Any = None, component: str = "total", process: str | None = None,
                   confidence: float | None = None) -> Any:
    """Distribution of the contracts won in the window (bars) with the mean and the ``confidence`` interval."""
    ax = get_ax(ax)
    pmf = forecast.distribution(component=component, process=process)
    lo, hi = forecast.interval(confidence, component=component, process=process)
    inside = (pmf.index >= lo) & (pmf.index <= hi)
    ax.bar(pmf.index[inside], pmf.to_numpy()[inside], color=_BLUE, label=f"{(confidence or forecast.confidence):.0%} interval")
    ax.bar(pmf.index[~inside], pmf.to_numpy()[~inside], color="#9bb7d4")
    mean = float(forecast.samples(component, process=process).mean())
    ax.axvline(mean, color=_ORANGE, lw=2, label=f"expected {mean:.1f}")
    ax.set_xlabel(f"contracts won {forecast.as_of.date()} to {forecast.end.date()}")
    ax.set_ylabel("probability")
    ax.set_title(f"{readable(process) if process else 'All processes'}: contracts won ({readable(component)})")
    legend_outside(ax)
    return ax


def reliability_chart(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Reliability curve (observed share against mean forecast per bin, Wilson intervals) and the diagonal."""
    ax = get_ax(ax, figsize=(6.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="perfect calibration")
    yerr = np.clip(np.vstack([table["observed"] - table["observed_low"], table["observed_high"] - table["observed"]]),
                   0, None)  # a Wilson bound equal to the share can differ from it in the last bit
    ax.errorbar(table["mean_forecast"], table["observed"], yerr=yerr, fmt="o-", color=_BLUE, capsize=3,
                label="observed share won")
    for x, y, n in zip(table["mean_forecast"], table["observed"], table["n"], strict=True):
        ax.annotate(str(int(n)), (x, y), textcoords="offset points", xytext=(4, -10), fontsize="x-small")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("forecast probability of winning within the horizon")
    ax.set_ylabel("observed share won")
    ax.set_title("Calibration of the win probabilities")
    legend_outside(ax)
    return ax


def bass_chart(model: Any, horizon: Any = "12MS", *, ax: Any = None, confidence: float | None = None) -> Any:
    """Observed launch contracts, the fitted Bass curve and its forecast with interval."""
    ax = get_ax(ax)
    y = model.y_
    ax.bar(_x(y.index), y.to_numpy(float), width=20, color="#9bb7d4", label="contracts")
    ax.plot(_x(y.index), model.fitted().to_numpy(), color=_BLUE, lw=2, label="Bass fit")
    f = model.forecast(horizon, confidence)
    ax.plot(_x(f.index), f["mean"].to_numpy(), color=_BLUE, lw=2, ls="--", label="forecast")
    ax.fill_between(_x(f.index), f["low"], f["high"], color=_BLUE, alpha=0.2, lw=0,
                    label=f"{(confidence or model.confidence):.0%} interval")
    ax.set_ylabel("contracts per period")
    ax.set_xlabel("period")
    date_axis(ax.xaxis)
    ax.set_title("Launch contracts: Bass diffusion fit and forecast")
    legend_outside(ax)
    return ax


def backtest_chart(result: Any, *, ax: Any = None, methods: list[str] | None = None,
                   ylabel: str = "contracts per period", title: str = "Backtest: one-step-ahead forecasts") -> Any:
    """One-step backtest forecasts of each method against the actuals."""
    ax = get_ax(ax)
    f = result.forecasts[result.forecasts["step"] == 1]
    actual = f.drop_duplicates("period").set_index("period")["actual"]
    ax.plot(_x(pd.PeriodIndex(actual.index)), actual.to_numpy(), color="black", lw=2, marker="o", label="actual")
    for name in methods or list(f["method"].unique()):
        g = f[f["method"] == name]
        ax.plot(_x(pd.PeriodIndex(g["period"])), g["mean"].to_numpy(), marker=".", lw=1, label=_method(name))
    ax.set_ylabel(ylabel)
    ax.set_xlabel("period forecast (one step ahead)")
    compact_numbers(ax.yaxis)
    date_axis(ax.xaxis)
    ax.set_title(title)
    legend_outside(ax)
    return ax


def _method(name: Any) -> str:
    """A forecaster's name for a reader: ``ETS(A,N,A)`` -> ``ETS (exponential smoothing)``."""
    text = str(name)
    if text.upper().startswith("ETS"):
        return "ETS (exponential smoothing)"
    if text.upper().startswith("ARIMA"):
        return "ARIMA"
    return readable(text)
