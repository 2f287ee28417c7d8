"""The simulated deal history: close-date pushes, pull-ins, amount changes and owner changes with known rules.

Each simulated opportunity gets an ``opportunity_history`` (the canonical table of :mod:`salesplan.schema`): a
row at creation and at every stage change, and a row for every other change, each carrying the values after the
change (``stage, expected_close, amount, forecast_category, owner``), like Salesforce's OpportunityHistory.

The rules (:data:`HISTORY_PARAMS`, also in ``Truth.history_params``)
    * The first expected close is the creation date plus the process's mean cycle (rounded to the day).
    * **Slips are pushed:** when the expected close passes while the deal is open, the owner pushes it
      ``Uniform(0, slip_review_days)`` days later to that date plus ``Gamma(2, push_mean_days / 2)`` days, again
      and again until the deal closes. Lost deals last longer (losses are slower), so they are pushed more.
    * **Sandbagged deals are pushed early:** with probability ``extra_push_lost`` (deals that will be lost) or
      ``extra_push_won`` (deals that will be won) the owner pushes once at a uniform time in the deal's life.
    * **Pull-ins:** a deal that will be won is pulled in with probability ``pull_in_won`` when it enters its last
      working stage, to that date plus ``Gamma(2, 2)`` days when that is earlier.
    * **Amount changes:** on entering each stage from the third on, with probability ``amount_change``, the amount
      is multiplied by ``LogNormal(mu, 0.15)``, ``mu = -0.02`` for deals that will be won, ``-0.10`` for those
      that will be lost (discounts under pressure). The amounts are scaled so that the amount known at the data
      cut is the opportunity's ``amount``.
    * **Owner changes:** with probability ``owner_change`` a deal is handed over on entering a stage (before the
      data cut) from another rep of the process to its current owner.
    * **Close:** the closing row sets the expected close to the close date; the forecast category follows the
      stage (``pipeline`` before the last two working stages, ``best_case``, ``commit``, ``closed`` when won,
      ``omitted`` when lost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.process import SalesProcess

__all__ = ["HISTORY_PARAMS", "simulate_history", "forecast_category"]

#: The true rules of the simulated deal history (see the module docstring).
HISTORY_PARAMS: dict[str, float] = {
    "slip_review_days": 5.0,
    "push_mean_days": 14.0,
    "extra_push_lost": 0.4,
    "extra_push_won": 0.1,
    "pull_in_won": 0.25,
    "amount_change": 0.35,
    "amount_mu_won": -0.02,
    "amount_mu_lost": -0.10,
    "amount_sigma": 0.15,
    "owner_change": 0.05,
}
_DAY = pd.Timedelta(days=1)


def forecast_category(process: SalesProcess, stage: str) -> str:
    """The forecast category of a stage.

    ``pipeline``, ``best_case`` (second-last working stage), ``commit`` (last working stage), ``closed`` (won) or
    ``omitted`` (lost).

    Examples
    --------
    >>> from salesplan.process import DEFAULT_PROCESSES
    >>> acq = DEFAULT_PROCESSES["acquisition"]
    >>> [forecast_category(acq, s) for s in acq.all_stages]
    ['pipeline', 'pipeline', 'pipeline', 'best_case', 'commit', 'closed', 'omitted']
    """
    if stage == process.won:
        return "closed"
    if stage == process.lost:
        return "omitted"
    k, n = process.stages.index(stage), len(process.stages)
    return "commit" if k == n - 1 else "best_case" if k == n - 2 else "pipeline"


def _one_deal(rng: np.random.Generator, proc: SalesProcess, created: float, cycle: float,
              entries: list[tuple[str, float]], won: bool, as_of: float, owner_now: str, other_owner: str,
              prm: dict[str, float]) -> list[dict]:
    """Rows of one deal on a day clock (floats); amounts as factors, scaled by the caller."""
    rows: dict[float, dict] = {}
    close_t = entries[-1][1] if entries[-1][0] in (proc.won, proc.lost) else np.inf
    expected = float(np.floor(created + cycle))
    factor = 1.0
    rows[created] = {"stage": entries[0][0], "expected_close": expected, "factor": factor}
    pending: list[tuple[float, str, str]] = [(t, "stage", s) for s, t in entries[1:]]
    if rng.random() < (prm["extra_push_won"] if won else prm["extra_push_lost"]) and np.isfinite(close_t):
        pending.append((created + rng.uniform(0.1, 0.8) * (close_t - created), "push", ""))
    pending.sort()
    handover = None
    if rng.random() < prm["owner_change"]:
        candidates = [t for t, kind, _ in pending if kind == "stage" and t <= as_of]
        if candidates:
            handover = candidates[rng.integers(len(candidates))]
    delay = rng.uniform(0, prm["slip_review_days"])
    horizon = max(as_of, close_t if np.isfinite(close_t) else as_of) + 365
    n_stages = len(proc.stages)
    while True:
        nxt = pending[0][0] if pending else np.inf
        slip_at = expected + delay
        if slip_at < nxt and slip_at < close_t and slip_at < horizon:
            expected = float(np.ceil(slip_at + rng.gamma(2.0, prm["push_mean_days"] / 2)))
            rows.setdefault(slip_at, {})["expected_close"] = expected
            delay = rng.uniform(0, prm["slip_review_days"])
            continue
        if not pending:
            break
        t, kind, stage = pending.pop(0)
        row = rows.setdefault(t, {})
        if kind == "push":
            expected = float(np.ceil(max(expected, t) + rng.gamma(2.0, prm["push_mean_days"] / 2)))
            row["expected_close"] = expected
            delay = rng.uniform(0, prm["slip_review_days"])
            continue
        row["stage"] = stage
        if t == handover:
            row["owner"] = owner_now
        if stage in (proc.won, proc.lost):
            row["expected_close"] = float(np.floor(t))
            break
        k = proc.stages.index(stage)
        if k >= 2 and rng.random() < prm["amount_change"]:
            mu = prm["amount_mu_won"] if won else prm["amount_mu_lost"]
            factor *= float(rng.lognormal(mu, prm["amount_sigma"]))
            row["factor"] = factor
        if won and k == n_stages - 1 and rng.random() < prm["pull_in_won"]:
            target = float(np.ceil(t + rng.gamma(2.0, 2.0)))
            if target < expected:
                expected = target
                row["expected_close"] = expected
                delay = rng.uniform(0, prm["slip_review_days"])
    out = []
    owner = other_owner if handover is not None else owner_now
    for t in sorted(rows):
        row = rows[t]
        owner = row.get("owner", owner)
        out.append({"t": t, "stage": row.get("stage"), "expected_close": row.get("expected_close"),
                    "factor": row.get("factor"), "owner": owner})
    return out


def simulate_history(opportunities: pd.DataFrame, latent_events: pd.DataFrame,
                     processes: dict[str, SalesProcess], cycle_days: dict[str, float], as_of: pd.Timestamp,
                     owners: dict[str, list[str]], params: dict[str, float] | None = None, *,
                     seed: int | list[int] = 0) -> pd.DataFrame:
    """The full (latent) history of ``opportunities``, including rows after ``as_of``.

    ``seed`` seeds the history's own random stream (the simulator passes ``[seed, 18]``).

    Returns
    -------
    DataFrame
        ``opportunity_id, changed_at, stage, expected_close, amount, forecast_category, owner``: every row
        carries all values after the change (the stage, category and owner current at that row).
    """
    prm = dict(HISTORY_PARAMS if params is None else params)
    rng = np.random.default_rng(seed)
    origin = opportunities["created_at"].min().floor("D")
    day = lambda ts: (ts - origin) / _DAY  # noqa: E731
    cut = day(as_of)
    # each deal's events as a slice of arrays sorted by deal (a pandas group-by loop is far slower)
    ev_ids = latent_events["opportunity_id"].to_numpy(dtype=object)
    order = np.argsort(ev_ids, kind="stable")
    ev_ids = ev_ids[order]
    ev_stages = latent_events["stage"].to_numpy(dtype=object)[order]
    ev_t = day(latent_events["entered_at"]).to_numpy(dtype=float)[order]
    uniq, first = np.unique(ev_ids, return_index=True)
    bounds = dict(zip(uniq, zip(first, [*first[1:], len(ev_ids)], strict=True), strict=True))
    created_days = day(opportunities["created_at"]).to_numpy(dtype=float)
    records = []
    for oid, pname, created_day, owner, amount in zip(
            opportunities["opportunity_id"], opportunities["process"], created_days, opportunities["owner"],
            opportunities["amount"], strict=True):
        proc = processes[pname]
        if oid not in bounds:
            continue
        lo, hi = bounds[oid]
        entries = list(zip(ev_stages[lo:hi], ev_t[lo:hi], strict=True))
        won = entries[-1][0] == proc.won
        others = [o for o in owners.get(pname, []) if o != owner] or [owner]
        rows = _one_deal(rng, proc, created_day, cycle_days[pname], entries, won, cut, owner,
                         others[int(rng.integers(len(others)))], prm)
        # the amount known at the cut is the opportunity's amount
        factor, known_factor, stage = 1.0, 1.0, entries[0][0]
        for row in rows:
            if row["factor"] is not None:
                factor = row["factor"]
            if row["t"] <= cut:
                known_factor = factor
        scale = float(amount) / known_factor
        factor, expected = 1.0, None
        for row in rows:
            factor = row["factor"] if row["factor"] is not None else factor
            expected = row["expected_close"] if row["expected_close"] is not None else expected
            stage = row["stage"] if row["stage"] is not None else stage
            records.append((oid, row["t"], stage, expected, round(scale * factor, 2),
                            forecast_category(proc, stage), row["owner"]))
    hist = pd.DataFrame(records, columns=["opportunity_id", "t", "stage", "expected_close", "amount",
                                          "forecast_category", "owner"])
    hist.insert(1, "changed_at", (origin + pd.to_timedelta(hist.pop("t"), unit="D")).dt.round("min"))
    hist["expected_close"] = origin + pd.to_timedelta(hist["expected_close"], unit="D")
    # two changes in one minute are one row (the later values)
    hist = hist.drop_duplicates(["opportunity_id", "changed_at"], keep="last")
    return hist.reset_index(drop=True)
