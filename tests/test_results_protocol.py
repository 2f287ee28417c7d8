"""Every public result type follows one protocol: immutable once built, ``summary()`` a DataFrame with intervals
beside their estimates, ``repr`` and ``_repr_html_`` derived from it (salesplan._results)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import salesplan
from salesplan import SalesProcess
from salesplan._results import Result, interval_columns

PROC = SalesProcess("p", ["lead", "offer"])
EVENTS = pd.DataFrame({"opportunity_id": ["a", "a", "b", "c", "c", "c"],
                       "stage": ["lead", "won", "lead", "lead", "offer", "lost"],
                       "entered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03",
                                                     "2024-01-10", "2024-02-01"])})
MONTHLY = pd.Series(np.arange(12.0) % 4 + 5, index=pd.period_range("2024-01", periods=12, freq="M"))


def _funnel() -> Any:
    return salesplan.estimate(EVENTS, PROC)


def _plan() -> Any:
    return salesplan.backward(5, {"lead": 0.5, "offer": 0.5})


def _pipeline() -> Any:
    from salesplan.forecast import FunnelParameters, pipeline

    params = FunnelParameters.from_values({"p": PROC}, rates={("p", "lead"): (0.5, 100), ("p", "offer"): (0.5, 100)},
                                          advance_days={("p", "lead"): 10.0, ("p", "offer"): 10.0},
                                          loss_days={("p", "lead"): 20.0, ("p", "offer"): 20.0})
    opps = pd.DataFrame({"opportunity_id": ["a", "b"], "process": "p", "created_at": pd.Timestamp("2023-12-31"),
                         "amount": 10.0})
    ev = pd.DataFrame({"opportunity_id": ["a", "b"], "stage": "lead", "entered_at": pd.Timestamp("2024-01-02")})
    return pipeline(ev, params, opportunities=opps, as_of="2024-01-15", horizon="60D", n_draws=200)


def _snapshot() -> Any:
    snap = pd.DataFrame({"deal_stage": ["Won", "Lost", "Engaging", "Prospecting", "Won"],
                         "engage_date": ["2024-01-01", "2024-01-01", "2024-01-05", None, "2024-01-02"],
                         "close_date": ["2024-01-11", "2024-01-21", None, None, "2024-01-30"]})
    return salesplan.snapshot_funnel(snap, stages=["Prospecting", "Engaging"], stage="deal_stage", won="Won",
                                     lost="Lost", entered="engage_date", closed="close_date")


def _pipeline_backtest() -> Any:
    from salesplan.forecast.evaluation import PipelineBacktest

    totals = pd.DataFrame({"origin": pd.to_datetime(["2024-01-01", "2024-02-01"]), "process": "p",
                           "expected": [2.0, 3.0], "low": [1.0, 1.0], "high": [3.0, 5.0], "actual": [2, 6],
                           "covered": [True, False], "naive": [1.0, 2.0], "seasonal_naive": [np.nan, np.nan]})
    deals = pd.DataFrame({"origin": totals["origin"], "opportunity_id": ["a", "b"], "process": "p",
                          "stage": "lead", "p_win": [0.3, 0.6], "won": [0, 1]})
    return PipelineBacktest(totals, deals, 0.8, pd.Timedelta(days=30))


def _capacity() -> Any:
    teams = pd.DataFrame({"team": ["inside"], "process": ["p"], "people": [1], "hours": [10.0]})
    plan = salesplan.backward(5, {"lead": 0.5, "offer": 0.5}, process="p", period="2026-05",
                              activity_ratios={"p": {"lead": {"calls": 2.0}}})
    return plan.capacity(teams, {"calls": 0.25})


def _accountability() -> Any:
    from salesplan.forecast.accountability import ForecastAccountability, bias_table, compare_forecasts

    calls = pd.DataFrame({"owner": "a", "period": ["2024-Q1", "2024-Q2", "2024-Q3"], "week": 1,
                          "accuracy": [1.5, 0.7, 1.8], "in_band": False})
    calls["log_ratio"] = np.log(calls["accuracy"])
    model = calls.assign(accuracy=[1.1, 0.95, 1.02], in_band=True)
    model["log_ratio"] = np.log(model["accuracy"])
    table, week = compare_forecasts(calls, model, n_boot=100)
    return ForecastAccountability(calls, model, bias_table(calls), bias_table(calls, "week"), table, week, "commit",
                                  0.95)


BUILDERS: dict[str, Callable[[], Any]] = {
    "ForecastAccountability": _accountability,
    "Funnel": _funnel,
    "CohortRates": lambda: salesplan.cohort_rates(EVENTS, PROC),
    "SnapshotFunnel": _snapshot,
    "Plan": _plan,
    "CapacityReport": _capacity,
    "PipelineForecast": _pipeline,
    "BacktestResult": lambda: salesplan.backtest(MONTHLY, methods=("naive",), min_train=5, seasonal_periods=4),
    "PipelineBacktest": _pipeline_backtest,
}


def _result_types() -> set[type]:
    found = set()
    for info in pkgutil.walk_packages(salesplan.__path__, "salesplan."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, Result) and obj is not Result:
                found.add(obj)
    return found


def test_every_result_type_is_exercised_here() -> None:
    names = {t.__name__ for t in _result_types()}
    assert set(BUILDERS) <= names
    assert names - set(BUILDERS) <= {"DriverModel", "VarianceResult", "Movement"}  # built on larger data below


def _check(result: Any) -> None:
    assert isinstance(result, Result)
    assert dataclasses.is_dataclass(result) and type(result).__dataclass_params__.frozen  # type: ignore[attr-defined]
    field = dataclasses.fields(result)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, field, None)
    table = result.summary()
    assert isinstance(table, pd.DataFrame) and len(table.columns) > 0
    cols = [str(c) for c in table.columns]
    for est, low, high in interval_columns(cols):
        assert high in cols and cols.index(high) == cols.index(low) + 1, (type(result).__name__, cols)
        assert est and not est.endswith(("_low", "_high")), (type(result).__name__, cols)
    # repr and notebook HTML come from the summary, not from hand-written code per class
    assert type(result).__repr__ is Result.__repr__ and type(result)._repr_html_ is Result._repr_html_
    text = repr(result)
    first = table.columns[0][0] if isinstance(table.columns, pd.MultiIndex) else table.columns[0]
    assert text.startswith(result.title()) and str(first) in text
    assert result.title() in result._repr_html_() and "<table" in result._repr_html_()


@pytest.mark.parametrize("name", list(BUILDERS))
def test_result_protocol(name: str) -> None:
    _check(BUILDERS[name]())


def test_result_protocol_of_control_and_driver_results() -> None:
    # built from small tables (their computation is tested in tests/control and tests/funnel)
    from salesplan.control.movement import Movement
    from salesplan.control.variance import VarianceResult
    from salesplan.funnel.drivers import DriverModel

    table = pd.DataFrame({"process": ["p", "p"], "period": ["2026-01", "2026-02"], "planned_contracts": [4.0, 5.0],
                          "actual_contracts": [3.0, 6.0], "gap": [-1.0, 1.0], "volume_effect": [-0.5, 0.5],
                          "conversion_effect": [-0.5, 0.25], "timing_effect": [0.0, 0.25]})
    _check(VarianceResult(table, pd.DataFrame()))
    moves = pd.DataFrame({"process": ["(all)", "(all)"], "category": ["new", "won"], "count": [3, 1],
                          "value": [30.0, 10.0]})
    _check(Movement(pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01"), moves, pd.DataFrame()))
    ors = pd.DataFrame({"odds_ratio": [1.0, 2.0], "low": [0.5, 1.1], "high": [2.0, 3.6], "p_value": [1.0, 0.02]},
                       index=pd.Index(["intercept", "segment[key]"], name="term"))
    _check(DriverModel(ors, None, ["segment"], pd.DataFrame(), _funnel(), ["segment[key]"],
                       {"segment": ["other", "key"]}, np.array([0.3])))
