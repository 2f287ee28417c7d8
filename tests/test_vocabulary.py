"""One name per idea: every public signature uses the vocabulary of CONTRIBUTING.md, and every vocabulary parameter
rejects a bad value with :class:`salesplan.ParameterError`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

import salesplan
from salesplan import ConfigError, ParameterError, SalesplanError, SalesProcess, SchemaError

#: Names that say an idea of the vocabulary in another way, with the name to use.
BANNED = {
    "level": "confidence (interval level) or significance (test)",
    "alpha_level": "significance",
    "significance_level": "significance",
    "conf": "confidence",
    "confidence_level": "confidence",
    "ci": "confidence",
    "horizon_days": "horizon",
    "horizon_months": "horizon",
    "horizon_periods": "horizon",
    "days_ahead": "horizon",
    "draws": "n_draws",
    "n_samples": "n_draws",
    "n_sims": "n_draws",
    "n_simulations": "n_draws",
    "random_state": "seed",
    "rng": "seed",
    "cutoff": "as_of",
    "cut": "as_of",
    "cutoff_date": "as_of",
    "calibration_end": "as_of",
    "holdout_end": "end",
    "customer_col": "columns",
    "date_col": "columns",
    "amount_col": "columns",
    "product_col": "columns",
    "margin_col": "columns",
    "column_map": "columns",
    "col_map": "columns",
    "group": "by",
    "groupby": "by",
    "group_by": "by",
    "segment_col": "by",
    "period_unit": "time_unit",
}

#: (qualified name, parameter) pairs where a banned word means something else, with the reason.
ALLOWED = {
    ("salesplan.report.model.Section", "level"): "heading level of a report section, not an interval",
    ("salesplan.report.model.Section.__init__", "level"): "heading level of a report section, not an interval",
    ("salesplan.report.config.ReportOptions", "level"): "[report] level = summary / standard / full (issue 19)",
    ("salesplan.report.config.ReportOptions.__init__", "level"): "[report] level: how much the report shows",
    ("salesplan.report.model.Report", "level"): "the report level it was built at (summary / standard / full)",
    ("salesplan.report.model.Report.__init__", "level"): "the report level it was built at",
    ("salesplan.forecast.pipeline.PipelineForecast", "draws"): "the simulated outcomes themselves, not a count",
    ("salesplan.forecast.pipeline.PipelineForecast.__init__", "draws"): "the simulated outcomes, not a count",
    ("salesplan.report.config.ReportConfig.option", "group"): "a TOML table name ([plan], [forecast], ...)",
    ("salesplan.funnel.estimate.Funnel.time_to_win_cdf", "group"): "one group's key, not a grouping",
    ("salesplan.funnel.estimate.Funnel.stay_curve", "group"): "one group's key, not a grouping",
}


def _public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    seen: set[int] = set()
    for info in pkgutil.walk_packages(salesplan.__path__, "salesplan."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name, None)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            if not str(getattr(obj, "__module__", "")).startswith("salesplan"):
                continue
            seen.add(id(obj))
            yield f"{obj.__module__}.{obj.__qualname__}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    func = member.__func__ if isinstance(member, classmethod | staticmethod) else member
                    if inspect.isfunction(func):
                        yield f"{obj.__module__}.{obj.__qualname__}.{attr}", func


def test_public_signatures_use_the_vocabulary() -> None:
    checked, offences = 0, []
    for qualname, obj in _public_callables():
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            continue
        checked += 1
        for name in params:
            if name in BANNED and (qualname, name) not in ALLOWED:
                offences.append(f"{qualname}({name}=...): use {BANNED[name]}")
    assert checked > 200  # the walk reached the whole package
    assert not offences, "\n".join(offences)


# ------------------------------------------------------------------------------------------- invalid values
PROC = SalesProcess("p", ["lead", "offer"])
EVENTS = pd.DataFrame({"opportunity_id": ["a", "a", "b"], "stage": ["lead", "won", "lead"],
                       "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02"])})
ORDERS = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [1.0, 2.0, 3.0],
                       "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"])})
MONTHLY = pd.Series([5.0, 7, 6, 8, 7, 9], index=pd.period_range("2024-01", periods=6, freq="M"))


def _pipeline(**kwargs: Any) -> Any:
    from salesplan.forecast import FunnelParameters, pipeline

    params = FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, 100), ("p", "offer"): (0.5, 100)},
                                          advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                          loss_days={("p", "lead"): 20.0, ("p", "offer"): 20.0})
    opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "created_at": pd.Timestamp("2023-12-31")})
    ev = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": "lead", "entered_at": pd.Timestamp("2024-01-02")})
    return pipeline(ev, params, opportunities=opps, as_of="2024-01-15", include_new=False, n_draws=200, **kwargs)


def _plan() -> Any:
    from salesplan.plan import backward

    return backward(5, {"lead": 0.5, "offer": 0.5})


def _rates() -> pd.DataFrame:
    return pd.DataFrame({"process": "p", "stage": "s", "cohort": pd.period_range("2024-01", periods=4, freq="M"),
                         "rate": 0.5, "n_eff": 10.0, "mature": True})


INVALID: dict[str, Callable[[], Any]] = {
    "confidence (BetaGeo constructor)": lambda: salesplan.BetaGeo(confidence=1.5),
    "confidence (SeriesForecaster constructor)": lambda: salesplan.SeriesForecaster(confidence=0.0),
    "confidence (BassDiffusion constructor)": lambda: salesplan.BassDiffusion(confidence=-0.1),
    "confidence (estimate)": lambda: salesplan.estimate(EVENTS, PROC, confidence=95),
    "confidence (pipeline)": lambda: _pipeline(confidence=1.0),
    "confidence (drivers)": lambda: salesplan.drivers(EVENTS, PROC, None, attributes=["segment"], confidence=2),
    "confidence (activity_ratios)": lambda: salesplan.activity_ratios(ORDERS, EVENTS, PROC, confidence=-1),
    "target_probability (backward)": lambda: salesplan.backward(5, {"lead": 0.5}, target_probability=1.5),
    "significance (trend_tests)": lambda: importlib.import_module("salesplan.funnel.cohorts").trend_tests(
        _rates(), significance=5),
    "freq (pipeline)": lambda: _pipeline(freq="1mo"),
    "freq (cohort_rates)": lambda: salesplan.cohort_rates(EVENTS, PROC, freq="3mo"),
    "horizon (pipeline: a bare number)": lambda: _pipeline(horizon=90),
    "horizon (estimate)": lambda: salesplan.estimate(EVENTS, PROC, horizon=30),
    "horizon (SeriesForecaster.forecast)": lambda: salesplan.SeriesForecaster("naive").fit(MONTHLY).forecast(3),
    "horizon (pipeline: not positive)": lambda: _pipeline(horizon="0D"),
    "processes (estimate)": lambda: salesplan.estimate(EVENTS, "p"),
    "columns (customer_summary: not a mapping)": lambda: salesplan.customer_summary(ORDERS, columns=["customer_id"]),
    "columns (customer_summary: unknown canonical name)": lambda: salesplan.customer_summary(
        ORDERS, columns={"amount": "value"}),
    "by (Plan.cost)": lambda: _plan().cost({"calls": 1.0}, by="segment"),
    "n_draws (BassDiffusion constructor)": lambda: salesplan.BassDiffusion(n_draws=0),
    "time_unit (customer_summary)": lambda: salesplan.customer_summary(ORDERS, time_unit="Q"),
    "end before as_of (calibration_holdout)": lambda: salesplan.calibration_holdout(
        ORDERS, as_of="2024-02-01", end="2024-01-15"),
}


@pytest.mark.parametrize("call", list(INVALID.values()), ids=list(INVALID))
def test_a_bad_vocabulary_value_raises_parameter_error(call: Callable[[], Any]) -> None:
    with pytest.raises(ParameterError):
        call()


def test_parameter_error_is_a_config_error_not_a_schema_error() -> None:
    assert issubclass(ParameterError, ConfigError) and issubclass(ParameterError, SalesplanError)
    assert not issubclass(ParameterError, SchemaError)


def test_horizon_string_is_an_offset_first() -> None:
    # "3MS" is three month starts (pandas would read it as three milliseconds as a Timedelta)
    fc = _pipeline(horizon="3MS")
    assert fc.end == pd.Timestamp("2024-04-01")
    assert _pipeline(horizon="90D").end == pd.Timestamp("2024-01-15") + pd.Timedelta(days=90)
    assert _pipeline(horizon=pd.DateOffset(months=1)).end == pd.Timestamp("2024-02-15")
    # periods of a monthly series that start within the horizon after the data
    fc = salesplan.SeriesForecaster("naive").fit(MONTHLY).forecast("3MS")
    assert [str(p) for p in fc.index] == ["2024-07", "2024-08", "2024-09"]
    assert len(salesplan.SeriesForecaster("naive").fit(MONTHLY).forecast("90D")) == 3  # Jul 1 + 90 days: Sep 29


def test_freq_takes_period_aliases_everywhere() -> None:
    rates = salesplan.cohort_rates(EVENTS, PROC, freq="Q").rates
    assert rates["cohort"].nunique() == 1  # both deals entered in 2024 Q1
    fc = _pipeline(horizon="120D", freq="Q")
    assert list(fc.periods) == ["2024-Q1", "2024-Q2"]


def test_old_toml_keys_name_the_new_ones() -> None:
    from salesplan.report.config import parse_config

    base = {"data": {"opportunities": "o.csv", "stage_events": "e.csv"}}
    for group, old, new in (("report", "period", "freq"), ("plan", "confidence", "target_probability"),
                            ("forecast", "horizon_months", "horizon")):
        with pytest.raises(ConfigError, match=rf"'{group}\.{old}' was renamed to '{group}\.{new}'"):
            parse_config({**base, group: {old: 1}}, source="r.toml")
