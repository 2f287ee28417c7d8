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
>>> from salesplan.forecast import SeriesForecaster
>>> SeriesForecaster("naive")
SeriesForecaster(method='naive')
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
