"""Control: plan against actual, why contracts differ from plan, KPIs and pipeline movement.

* :func:`plan_vs_actual`: entries, conversions, contracts, revenue and activities per process, period, stage.
* :func:`variance` / :func:`decompose_gap`: the contract gap as volume + conversion + timing effects (exact sum),
  with the conversion effect split over the stages.
* :func:`kpis`: coverage against the coverage the measured conversion requires, velocity, win rates, cycle time,
  activity attainment.
* :mod:`salesplan.control.attainment`: won against target (targets pro-rated by time), the chance of reaching a
  target, coverage at the data cut.
* :func:`pipeline_movement`: new, advanced, pushed, slipped, won and lost between two dates, with values.

Examples
--------
Planned 50 new opportunities and 10 contracts (conversion 0.2); 60 were created, 9 of them won, and 11 contracts
closed in the period. Volume (60 - 50) * 0.2 = +2, conversion 9 - 60 * 0.2 = -3, timing 11 - 9 = +2, which add up
to the gap of +1:

>>> import pandas as pd
>>> from salesplan.control import decompose_gap
>>> t = pd.DataFrame({"process": ["acq"], "period": ["2025-Q1"], "planned_entries": [50.0],
...                   "planned_contracts": [10.0], "actual_entries": [60], "cohort_wins": [9],
...                   "actual_contracts": [11]})
>>> decompose_gap(t)[["gap", "volume_effect", "conversion_effect", "timing_effect"]].iloc[0].tolist()
[1.0, 2.0, -3.0, 2.0]
"""

from salesplan.control.actuals import actual_activities, actual_volumes
from salesplan.control.attainment import (
    attainment_table,
    chance_of_target,
    coverage_at_cut,
    target_between,
    wins_between,
)
from salesplan.control.kpis import KPI_COLUMNS, kpis
from salesplan.control.movement import Movement, pipeline_movement, state_at
from salesplan.control.plan_vs_actual import plan_vs_actual
from salesplan.control.variance import VarianceResult, decompose_gap, variance
from salesplan.control.waterfall import Waterfall, pipeline_waterfall

__all__ = [
    "plan_vs_actual",
    "variance",
    "decompose_gap",
    "VarianceResult",
    "kpis",
    "KPI_COLUMNS",
    "pipeline_movement",
    "Movement",
    "state_at",
    "pipeline_waterfall",
    "Waterfall",
    "actual_volumes",
    "actual_activities",
    "attainment_table",
    "target_between",
    "wins_between",
    "chance_of_target",
    "coverage_at_cut",
]
