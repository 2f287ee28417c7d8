"""Stage conversion and timing, measured honestly: open deals censored, intervals, small groups, drivers.

Start with :func:`estimate`, which returns a :class:`Funnel`. The path rules (skipped stages, moves back,
reopened deals, duplicates, events after the cut, opportunities without events) are stated in
:mod:`salesplan.funnel.paths`.

Examples
--------
>>> from salesplan.datasets import simulate
>>> from salesplan.funnel import estimate
>>> data, truth = simulate(n_customers=40, years=1, seed=5)
>>> f = estimate(data)
>>> r = f.rates.iloc[0]
>>> str(r["stage"]), round(float(r["rate"]), 3), round(float(r["rate_low"]), 3), round(float(r["rate_high"]), 3)
('prospect_selected', 0.585, 0.531, 0.638)
>>> round(truth.rate("acquisition", "prospect_selected"), 3)  # the simulator's true rate, inside the interval
0.567
"""

from salesplan.funnel.aalen_johansen import (
    AJFit,
    aalen_johansen,
    beta_interval,
    effective_beta,
    wilson_interval,
)
from salesplan.funnel.activities import activity_ratios, poisson_interval
from salesplan.funnel.cohorts import CohortRates, cohort_rates, trend_tests, win_rates_by_period
from salesplan.funnel.drivers import DriverModel, drivers
from salesplan.funnel.estimate import Funnel, estimate, fit_reduction
from salesplan.funnel.paths import path_rules
from salesplan.funnel.shrinkage import fit_prior_strength, shrink_rates
from salesplan.funnel.snapshot import SNAPSHOT_LIMITS, SnapshotFunnel, snapshot_funnel

__all__ = [
    "Funnel", "estimate", "fit_reduction", "path_rules",
    "aalen_johansen", "AJFit", "wilson_interval", "effective_beta", "beta_interval",
    "shrink_rates", "fit_prior_strength",
    "cohort_rates", "CohortRates", "trend_tests", "win_rates_by_period",
    "drivers", "DriverModel",
    "activity_ratios", "poisson_interval",
    "snapshot_funnel", "SnapshotFunnel", "SNAPSHOT_LIMITS",
]
