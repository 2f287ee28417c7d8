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
>>> sorted(f.processes)[:2]
['acquisition', 'cross_selling']
"""

from salesplan.funnel.aalen_johansen import AJFit, aalen_johansen, wilson_interval
from salesplan.funnel.estimate import Funnel, estimate, fit_reduction
from salesplan.funnel.shrinkage import shrink_rates

__all__ = ["Funnel", "estimate", "fit_reduction", "aalen_johansen", "AJFit", "wilson_interval", "shrink_rates"]
