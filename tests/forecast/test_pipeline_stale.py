"""A funnel estimated with ``stale_after_days`` and the pipeline forecast apply one rule to open deals.

Data without loss events (Olist's marketing funnel records wins only) are read with ``stale_after_days``: a stay
open that long counts as lost. The pipeline forecast must count the deals open that long at the cut as lost too;
read from the funnel's curves they would have no loss left to come and would look certain to advance (on Olist
with 180 days, 1,792 such deals got a 0.55 chance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan import SalesProcess
from salesplan.forecast import pipeline
from salesplan.funnel import estimate

PROC = SalesProcess("p", ["lead"], won="won", lost="lost")


def test_stale_open_deals_are_lost_for_the_forecast_as_for_the_funnel() -> None:
    rng = np.random.default_rng(0)
    cut = pd.Timestamp("2025-01-01")
    n = 400
    created = cut - pd.to_timedelta(rng.uniform(1, 400, n), unit="D")
    won_after = rng.gamma(2.0, 10.0, n)
    wins = (rng.random(n) < 0.2) & (created + pd.to_timedelta(won_after, unit="D") <= cut)
    ids = [f"o{i}" for i in range(n)]
    opps = pd.DataFrame({"opportunity_id": ids, "process": "p", "created_at": created})
    events = pd.concat([pd.DataFrame({"opportunity_id": ids, "stage": "lead", "entered_at": created}),
                        pd.DataFrame({"opportunity_id": np.array(ids)[wins], "stage": "won",
                                      "entered_at": (created + pd.to_timedelta(won_after, unit="D"))[wins]})])
    funnel = estimate(events, {"p": PROC}, opps, as_of=cut, stale_after_days=120)
    assert funnel.stale_after_days == 120
    fc = pipeline(events, funnel, opportunities=opps, as_of=cut, horizon="90D", include_new=False, n_draws=200,
                  per_deal=True)
    age = (cut - created).days
    open_ids = set(np.array(ids)[~wins])
    young = {i for i, a in zip(ids, age, strict=True) if a < 120} & open_ids
    assert set(fc.deals["opportunity_id"]) == young  # the stale ones are left out, every other open deal is in
    assert fc.deals["p_advance_now"].max() < 0.5  # none looks certain
