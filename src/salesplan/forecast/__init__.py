"""Forecasts: the open pipeline with its full distribution, per-period time series, backtests, Bass diffusion.

* :func:`pipeline` -> :class:`PipelineForecast`: contracts and revenue won within a horizon from the open
  opportunities (and, as a separate component, from opportunities not yet created), with rate uncertainty.
* :class:`SeriesForecaster`: ETS / SARIMA / naive / seasonal-naive forecasts of contracts or revenue per period.
* :func:`backtest`: rolling-origin MAE, MASE and interval coverage beside the naive baselines.
* :func:`pipeline_backtest`: the pipeline forecast on past snapshots, calibration (Brier, reliability) and
  per-owner bias.
* :class:`BassDiffusion`: adoption of a new product among the eligible customers.
* :func:`deal_win_probability` / :class:`WinProbability`: a calibrated win probability per open deal with its
  reasons, fitted out of time on past snapshots from the deal history; :func:`score_table`,
  :func:`brier_decomposition`, :func:`paired_bootstrap` to judge it.

Examples
--------
A naive forecast repeats the last value; its interval grows with the square root of the horizon. Here the
one-step changes are +2, -1, +2, so sigma = sqrt((4 + 1 + 4) / 3) = 1.732 and the 80% half-width one month
ahead is 1.2816 * 1.732 = 2.22:

>>> import pandas as pd
>>> from salesplan.forecast import SeriesForecaster
>>> y = pd.Series([10.0, 12, 11, 13], index=pd.period_range("2025-01", periods=4, freq="M"))
>>> out = SeriesForecaster("naive").fit(y).forecast("2MS", confidence=0.8)
>>> out[["mean", "low", "high"]].round(2).values.tolist()
[[13.0, 10.78, 15.22], [13.0, 9.86, 16.14]]
"""

from salesplan.forecast.accountability import ForecastAccountability, call_accuracy, forecast_accountability
from salesplan.forecast.backtest import BacktestResult, backtest, mase_scale
from salesplan.forecast.bass import BassDiffusion, bass_cdf
from salesplan.forecast.evaluation import (
    PipelineBacktest,
    brier_score,
    cut_data,
    pipeline_backtest,
    reliability,
)
from salesplan.forecast.pipeline import FunnelParameters, PipelineForecast, open_pipeline, pipeline
from salesplan.forecast.timeseries import SeriesForecaster, as_period_series
from salesplan.forecast.win_probability import (
    WinProbability,
    WinProbabilityResult,
    brier_decomposition,
    calibration_slope,
    deal_win_probability,
    paired_bootstrap,
    score_table,
)

__all__ = [
    "pipeline",
    "PipelineForecast",
    "FunnelParameters",
    "open_pipeline",
    "SeriesForecaster",
    "as_period_series",
    "backtest",
    "BacktestResult",
    "mase_scale",
    "pipeline_backtest",
    "PipelineBacktest",
    "cut_data",
    "brier_score",
    "reliability",
    "BassDiffusion",
    "bass_cdf",
    "deal_win_probability",
    "WinProbability",
    "WinProbabilityResult",
    "brier_decomposition",
    "calibration_slope",
    "paired_bootstrap",
    "score_table",
    "forecast_accountability",
    "ForecastAccountability",
    "call_accuracy",
]
