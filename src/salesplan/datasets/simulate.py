"""A simulated B2B company with known ground truth, for tests, examples and the demo.

The world
    * Customers (existing accounts) with industry, region, size, segment (``key`` for large accounts, else
      ``standard``) and a potential (annual wallet). Prospects are customers without orders; they feed the
      acquisition process.
    * Orders follow the BG/NBD model exactly (Fader, Hardie & Lee 2005): each account buys as a Poisson process
      with rate ``lambda ~ Gamma(r, alpha)`` per week while alive and drops out after each repeat purchase
      with probability ``p ~ Beta(a, b)``. Spend per order follows the Gamma-Gamma model (Fader & Hardie 2013):
      ``nu ~ Gamma(q, rate=v)``, ``z ~ Gamma(p, rate=nu)``. About 1% of orders are followed by a partial return
      (a negative order line). Product families follow account-specific Dirichlet preferences.
      The true wallet is the expected annual spend divided by a true share of wallet ``~ Beta(2, 3)``.
    * Opportunities in every process arrive as a seasonal Poisson process. At each working stage an opportunity
      advances with the true rate for its (process, segment, stage) or is lost; advances take
      ``Gamma(2, mean_advance)`` days and losses ``Gamma(1.5, mean_loss)`` days, with losses slower, so a
      closed-only conversion rate is biased. Events after the data cut are not in the data (open deals) but
      are kept in ``Truth.latent_events``.
    * Activities are Poisson per opportunity and stage entered, with the true ratio per (process, stage, kind),
      dated uniformly while the opportunity sits in the stage.
    * Targets per process and quarter for the last simulated year and the next one.
    * The deal history (``opportunity_history``): close-date pushes when deals slip, early pushes (more often
      for deals that will be lost), pull-ins, amount changes and hand-overs, with the rules of
      :mod:`salesplan.datasets.deal_history`; rows after the cut are in ``Truth.latent_history``. The
      opportunities' ``amount``, ``expected_close`` and ``owner`` are the values known at the cut.
    * Forecast calls (``forecast_calls``): every rep calls the amount they will win in each quarter, weekly, with a
      known bias per rep (``Truth.call_bias``); the rules are in :mod:`salesplan.datasets.forecast_calls`.

Examples
--------
>>> from salesplan.datasets import simulate
>>> data, truth = simulate(n_customers=60, years=1, seed=1)
>>> sorted(data.tables)
['activities', 'customers', 'forecast_calls', 'opportunities', 'opportunity_history', 'orders', 'stage_events', 'targets']
>>> round(truth.rate("retention", "review_scheduled"), 3)
0.906
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.data import SalesData
from salesplan.datasets.deal_history import HISTORY_PARAMS, simulate_history
from salesplan.datasets.forecast_calls import CALL_PARAMS, simulate_calls
from salesplan.process import DEFAULT_PROCESSES, SalesProcess

__all__ = ["simulate", "Truth", "STAGE_RATES", "CLV_PARAMS"]

#: True advance probability per working stage, standard segment.
STAGE_RATES: dict[str, list[float]] = {
    "acquisition": [0.55, 0.60, 0.55, 0.60, 0.70],
    "new_product": [0.60, 0.65, 0.60, 0.60, 0.75],
    "delivery_rate": [0.70, 0.60, 0.55, 0.70],
    "cross_selling": [0.65, 0.60, 0.60, 0.70],
    "retention": [0.90, 0.85, 0.80],
}
#: Odds multiplier of the advance probability for key accounts.
KEY_ODDS = 1.6
#: Mean days to advance per stage (losses take LOSS_SLOWER times as long on average).
ADVANCE_DAYS: dict[str, list[float]] = {
    "acquisition": [6, 12, 10, 18, 14],
    "new_product": [8, 10, 21, 14, 10],
    "delivery_rate": [10, 14, 18, 12],
    "cross_selling": [7, 12, 15, 10],
    "retention": [10, 7, 14],
}
LOSS_SLOWER = 2.0
#: Gamma shapes of the days in a stage: stays that end in an advance, and in a loss (means as above).
ADVANCE_SHAPE = 2.0
LOSS_SHAPE = 1.5
#: New opportunities per week (mean over the year).
CREATION_PER_WEEK: dict[str, float] = {
    "acquisition": 6.0, "new_product": 2.0, "delivery_rate": 2.5, "cross_selling": 3.0, "retention": 2.5,
}
SEASONAL_AMPLITUDE = 0.3
#: Mean deal size per process (lognormal, sigma 0.6).
DEAL_SIZE: dict[str, float] = {
    "acquisition": 12000, "new_product": 8000, "delivery_rate": 15000, "cross_selling": 6000, "retention": 20000,
}
#: BG/NBD (per week) and Gamma-Gamma parameters of the order process.
CLV_PARAMS: dict[str, float] = {"r": 0.6, "alpha": 8.0, "a": 0.8, "b": 4.0, "p": 6.0, "q": 4.0, "v": 2500.0}
HOURS = {"calls": 0.25, "visits": 2.5, "offers": 1.5}
PRODUCTS = ("A", "B", "C", "D", "E", "F")
INDUSTRIES = ("manufacturing", "retail", "services", "public", "energy")
REGIONS = ("north", "south", "east", "west")


@dataclass
class Truth:
    """Ground truth of a simulated world.

    Attributes
    ----------
    stage_rates : DataFrame
        ``process, segment, stage, next_stage, rate``; ``segment == '*'`` is the process-level rate (the
        segment rates mixed by the share of each segment among entries to the stage).
    win_rates : DataFrame
        ``process, segment, stage, win_rate``: probability of winning from each working stage.
    durations : DataFrame
        ``process, stage, outcome ('advance'/'loss'), mean_days, median_days, q25_days, q75_days``.
    activity_ratios : DataFrame
        ``process, stage, kind, per_entry``: expected activities per opportunity entering the stage.
    clv_params : dict
        The BG/NBD (weeks) and Gamma-Gamma parameters of the order process.
    creation_per_week : dict
        Mean new opportunities per week and process.
    latent_events : DataFrame
        Every stage event including those after the data cut (what will happen to open deals).
    outcomes : DataFrame
        ``opportunity_id, process, segment, outcome, closed_at``: each deal's latent final outcome.
    share_of_wallet : Series
        True share of wallet per customer id.
    customer_params : DataFrame
        True ``lam`` (purchases per week), ``p`` (dropout probability) and ``nu`` per customer, and ``alive``.
    latent_history : DataFrame
        The whole ``opportunity_history``, including the rows after the data cut.
    history_params : dict
        The rules of the deal history (:data:`salesplan.datasets.deal_history.HISTORY_PARAMS`).
    call_bias : dict
        Per rep, the true bias of their forecast calls (median of call / actual won amount).
    call_params : dict
        The rules of the forecast calls (:data:`salesplan.datasets.forecast_calls.CALL_PARAMS`).
    """

    stage_rates: pd.DataFrame
    win_rates: pd.DataFrame
    durations: pd.DataFrame
    activity_ratios: pd.DataFrame
    clv_params: dict[str, float]
    creation_per_week: dict[str, float]
    latent_events: pd.DataFrame
    outcomes: pd.DataFrame
    share_of_wallet: pd.Series
    customer_params: pd.DataFrame
    as_of: pd.Timestamp = field(default_factory=pd.Timestamp.now)
    latent_history: pd.DataFrame = field(default_factory=pd.DataFrame)
    history_params: dict[str, float] = field(default_factory=lambda: dict(HISTORY_PARAMS))
    call_bias: dict[str, float] = field(default_factory=dict)
    call_params: dict[str, float] = field(default_factory=lambda: dict(CALL_PARAMS))

    def rate(self, process: str, stage: str, segment: str = "*") -> float:
        """The true advance rate of one stage."""
        row = self.stage_rates.query("process == @process and stage == @stage and segment == @segment")
        return float(row["rate"].iloc[0])

    def open_deal_chances(self, deals: pd.DataFrame, start_days: float, end_days: float, *, n_draws: int = 4000,
                          seed: int = 0) -> pd.DataFrame:
        """The true chances of open deals: to advance, to be won at all, to be won within a window after the cut.

        The window is ``(start_days, end_days]`` days after the cut.

        ``deals`` has ``process, stage, segment, days_in_stage`` (a pipeline forecast's ``deals`` with the
        opportunities' ``segment``). Method: the simulator's own model, the deal's segment's stage rates and the
        gamma days in a stage (:data:`ADVANCE_SHAPE`, :data:`LOSS_SHAPE`, the means of :attr:`durations`), the
        current stay conditioned on the days already spent: ``r S_a(t) / (r S_a(t) + (1 - r) S_l(t))`` exactly,
        the time to a win by ``n_draws`` simulated continuations per deal.

        Returns
        -------
        DataFrame
            ``advance, won, in_window``, on ``deals``' index.

        Examples
        --------
        A fresh offer advances with nearly its stage rate; one 200 days old (advances take 18 days on average)
        hardly ever:

        >>> _, truth = simulate(n_customers=20, years=0.5, seed=1)
        >>> deals = pd.DataFrame({"process": "acquisition", "stage": "offer", "segment": "standard",
        ...                       "days_in_stage": [1.0, 200.0]})
        >>> c = truth.open_deal_chances(deals, 0, 3650)
        >>> round(float(c["advance"].iloc[0]), 2), bool(c["advance"].iloc[1] < 1e-3), truth.rate(
        ...     "acquisition", "offer", "standard")
        (0.6, True, 0.6)
        """
        rates = self.stage_rates.set_index(["process", "segment", "stage"])["rate"]
        means = self.durations.set_index(["process", "stage", "outcome"])["mean_days"]
        rng = np.random.default_rng(seed)
        order = {name: list(dict.fromkeys(g["stage"])) for name, g in self.stage_rates.groupby("process")}
        rows = []
        for name, stage, seg, age in zip(deals["process"], deals["stage"], deals["segment"], deals["days_in_stage"],
                                         strict=True):
            stages = order[name]  # working stages in process order (the table is built stage by stage)
            k = stages.index(stage)
            r = float(rates[(name, seg, stage)])
            adv = stats.gamma(ADVANCE_SHAPE, scale=means[(name, stage, "advance")] / ADVANCE_SHAPE)
            los = stats.gamma(LOSS_SHAPE, scale=means[(name, stage, "loss")] / LOSS_SHAPE)
            s_a, s_l = float(adv.sf(age)), float(los.sf(age))
            p_adv = r * s_a / (r * s_a + (1 - r) * s_l) if r * s_a + (1 - r) * s_l > 0 else 0.0
            later = float(np.prod([rates[(name, seg, s)] for s in stages[k + 1:]]))
            won = rng.random(n_draws) < p_adv
            t = adv.ppf(np.minimum(adv.cdf(age) + rng.random(n_draws) * s_a, 1 - 1e-12)) - age
            for j in range(k + 1, len(stages)):
                won &= rng.random(n_draws) < float(rates[(name, seg, stages[j])])
                mean = means[(name, stages[j], "advance")]
                t = t + rng.gamma(ADVANCE_SHAPE, mean / ADVANCE_SHAPE, n_draws)
            rows.append((p_adv, p_adv * later, float(np.mean(won & (t > start_days) & (t <= end_days)))))
        return pd.DataFrame(rows, columns=["advance", "won", "in_window"], index=deals.index)


def _odds_scale(p: np.ndarray | float, mult: float) -> np.ndarray:
    odds = np.asarray(p) / (1 - np.asarray(p)) * mult
    return np.asarray(odds / (1 + odds))


def _true_tables(processes: dict[str, SalesProcess], key_share: dict[str, float]) -> tuple[pd.DataFrame, ...]:
    rate_rows, win_rows, dur_rows, act_rows = [], [], [], []
    for name, proc in processes.items():
        base = np.array(STAGE_RATES[name])
        by_seg = {"standard": base, "key": _odds_scale(base, KEY_ODDS)}
        share = {"key": key_share[name], "standard": 1 - key_share[name]}
        reach = {s: np.concatenate([[1.0], np.cumprod(r)[:-1]]) for s, r in by_seg.items()}
        for k, stage in enumerate(proc.stages):
            nxt = proc.next_stage(stage)
            for seg, rates in by_seg.items():
                rate_rows.append((name, seg, stage, nxt, float(rates[k])))
                win_rows.append((name, seg, stage, float(np.prod(rates[k:]))))
            weight = {s: share[s] * reach[s][k] for s in by_seg}
            mixed = sum(weight[s] * by_seg[s][k] for s in by_seg) / sum(weight.values())
            rate_rows.append((name, "*", stage, nxt, float(mixed)))
            win_mixed = sum(weight[s] * np.prod(by_seg[s][k:]) for s in by_seg) / sum(weight.values())
            win_rows.append((name, "*", stage, float(win_mixed)))
            mean_adv = ADVANCE_DAYS[name][k]
            for outcome, shape, mean in (("advance", ADVANCE_SHAPE, mean_adv),
                                         ("loss", LOSS_SHAPE, mean_adv * LOSS_SLOWER)):
                dist = stats.gamma(shape, scale=mean / shape)
                dur_rows.append((name, stage, outcome, mean, *dist.ppf([0.5, 0.25, 0.75])))
            for kind, ratio in proc.activities.get(stage, {}).items():
                act_rows.append((name, stage, kind, ratio))
    return (
        pd.DataFrame(rate_rows, columns=["process", "segment", "stage", "next_stage", "rate"]),
        pd.DataFrame(win_rows, columns=["process", "segment", "stage", "win_rate"]),
        pd.DataFrame(dur_rows, columns=["process", "stage", "outcome", "mean_days", "median_days", "q25_days",
                                        "q75_days"]),
        pd.DataFrame(act_rows, columns=["process", "stage", "kind", "per_entry"]),
    )


def _orders(rng: np.random.Generator, cust: pd.DataFrame, start: pd.Timestamp, weeks: float,
            as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    prm = CLV_PARAMS
    n = len(cust)
    lam = rng.gamma(prm["r"], 1 / prm["alpha"], n)
    p_drop = rng.beta(prm["a"], prm["b"], n)
    nu = rng.gamma(prm["q"], 1 / prm["v"], n)
    # first purchase spread over the first 80% of the window, so T varies across customers
    birth = rng.uniform(0, weeks * 0.8, n)
    prefs = rng.dirichlet(np.full(len(PRODUCTS), 0.5), n)
    rows = []
    alive = np.ones(n, dtype=bool)
    for i in range(n):
        t = birth[i]
        while t <= weeks:
            amount = rng.gamma(prm["p"], 1 / nu[i])
            prod = PRODUCTS[rng.choice(len(PRODUCTS), p=prefs[i])]
            rows.append((i, t, amount, prod, 1.0))
            if rng.random() < 0.01:
                rows.append((i, t + rng.uniform(0.5, 3), -amount * rng.uniform(0.1, 0.5), prod, -1.0))
            # BG/NBD: a customer may drop out after each *repeat* purchase, never right after the first
            if t > birth[i] and rng.random() < p_drop[i]:
                alive[i] = False
                break
            t += rng.exponential(1 / lam[i])
    orders = pd.DataFrame(rows, columns=["i", "week", "amount", "product", "quantity"])
    orders = orders[orders["week"] <= weeks]
    orders["order_date"] = (start + pd.to_timedelta(orders["week"] * 7, unit="D")).dt.floor("min")
    orders = orders[orders["order_date"] <= as_of]
    orders["customer_id"] = cust["customer_id"].to_numpy()[orders["i"]]
    orders = orders.sort_values("order_date", kind="stable").reset_index(drop=True)
    orders["order_id"] = [f"O{i:06d}" for i in range(1, len(orders) + 1)]
    orders["amount"] = orders["amount"].round(2)
    params = pd.DataFrame({"customer_id": cust["customer_id"], "lam": lam, "p": p_drop, "nu": nu, "alive": alive})
    return orders[["order_id", "customer_id", "order_date", "amount", "product", "quantity"]], params


def simulate(
    n_customers: int = 400,
    years: float = 3,
    seed: int = 0,
    *,
    start: str = "2023-01-01",
    n_prospects: int | None = None,
    creation_scale: float = 1.0,
    processes: dict[str, SalesProcess] | None = None,
) -> tuple[SalesData, Truth]:
    """Simulate a B2B company: customers, orders, opportunities, stage events, activities, targets.

    Parameters
    ----------
    n_customers : int
        Existing accounts (with order histories).
    years : float
        Length of the simulated history; the data cut is ``start + years``.
    seed : int
        Random seed; the same seed gives identical data.
    start : str
        First day of the history.
    n_prospects : int, optional
        Prospects without orders (default ``n_customers // 2``).
    creation_scale : float
        Multiplies every process's opportunity creation rate (use > 1 for large statistical tests).
    processes : dict, optional
        Processes to simulate; default the five defaults (their names must be the default names).

    Returns
    -------
    (SalesData, Truth)

    Examples
    --------
    >>> data, truth = simulate(n_customers=50, years=1, seed=3)
    >>> data.as_of
    Timestamp('2024-01-01 00:00:00')
    >>> data2, _ = simulate(n_customers=50, years=1, seed=3)
    >>> data.orders.equals(data2.orders)
    True
    """
    rng = np.random.default_rng(seed)
    procs = dict(DEFAULT_PROCESSES if processes is None else processes)
    start_ts = pd.Timestamp(start)
    if float(years).is_integer():
        as_of = start_ts + pd.DateOffset(years=int(years))
    else:
        as_of = start_ts + pd.DateOffset(days=int(round(365.25 * years)))
    weeks = (as_of - start_ts).days / 7
    n_prospects = n_customers // 2 if n_prospects is None else n_prospects

    # --- customers and prospects -------------------------------------------------------------------------
    n_all = n_customers + n_prospects
    size = rng.choice(["S", "M", "L"], n_all, p=[0.55, 0.3, 0.15])
    cust = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(1, n_all + 1)],
        "name": [f"Company {i:05d}" for i in range(1, n_all + 1)],
        "industry": rng.choice(INDUSTRIES, n_all),
        "region": rng.choice(REGIONS, n_all),
        "size": size,
        "segment": np.where(size == "L", "key", "standard"),
    })
    existing = cust.iloc[:n_customers]
    orders, cparams = _orders(rng, existing, start_ts, weeks, as_of)
    share = rng.beta(2, 3, n_all)
    expected_spend = np.full(n_all, np.nan)
    expected_spend[:n_customers] = cparams["lam"] * 52 * CLV_PARAMS["p"] / cparams["nu"]
    size_scale = pd.Series(size).map({"S": 0.5, "M": 1.0, "L": 3.0}).to_numpy()
    prospect_wallet = rng.lognormal(np.log(40000), 0.8, n_all) * size_scale
    wallet = np.where(np.isnan(expected_spend), prospect_wallet, expected_spend / share)
    cust["potential"] = np.round(wallet, -2)
    sow = pd.Series(np.where(np.isnan(expected_spend), 0.0, share), index=cust["customer_id"])

    # --- opportunities and stage events ------------------------------------------------------------------
    horizon_days = (as_of - start_ts).days
    start_ns = int(start_ts.as_unit("ns").value)  # times of the loop below in integer nanoseconds (see _days_ns)
    key_share = {}
    opp_rows, ev_rows, act_rows, out_rows = [], [], [], []
    owners = {name: [f"{name[:3]}_rep{j}" for j in range(1, 4)] for name in procs}
    pool = {"acquisition": cust.iloc[n_customers:] if n_prospects else cust.iloc[:n_customers]}
    seg_of = dict(zip(cust["customer_id"], cust["segment"], strict=True))
    opp_no = 0
    for name, proc in procs.items():
        candidates = pool.get(name, existing)
        key_share[name] = float((candidates["segment"] == "key").mean())
        base = np.array(STAGE_RATES[name])
        rates = {"standard": base, "key": _odds_scale(base, KEY_ODDS)}
        # seasonal Poisson arrivals by thinning, peak in spring (day 100)
        rate_day = CREATION_PER_WEEK[name] * creation_scale / 7
        n_max = rng.poisson(rate_day * (1 + SEASONAL_AMPLITUDE) * horizon_days)
        t = np.sort(rng.uniform(0, horizon_days, n_max))
        season = 1 + SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (t - 100) / 365.25)
        t = t[rng.random(n_max) < season / (1 + SEASONAL_AMPLITUDE)]
        cust_ids = rng.choice(candidates["customer_id"].to_numpy(), len(t))
        for created_day, cid in zip(t, cust_ids, strict=True):
            opp_no += 1
            oid = f"P{opp_no:06d}"
            seg = seg_of[cid]
            created = _floor_minute(start_ns + _days_ns(float(created_day)))
            owner = owners[name][rng.integers(3)]
            amount = round(float(rng.lognormal(np.log(DEAL_SIZE[name]) - 0.18, 0.6)), 2)
            opp_rows.append((oid, cid, name, created, amount, owner, seg))
            now = created
            outcome = proc.won
            for k, stage in enumerate(proc.stages):
                ev_rows.append((oid, stage, now))
                advance = rng.random() < rates[seg][k]
                mean_adv = ADVANCE_DAYS[name][k]
                stay = rng.gamma(ADVANCE_SHAPE, mean_adv / ADVANCE_SHAPE) if advance else \
                    rng.gamma(LOSS_SHAPE, mean_adv * LOSS_SLOWER / LOSS_SHAPE)
                leave = _floor_minute(now + _days_ns(float(stay)))
                for kind, ratio in proc.activities.get(stage, {}).items():
                    for _ in range(rng.poisson(ratio)):
                        act_rows.append((kind, _floor_minute(now + int((leave - now) * rng.random())), oid, cid,
                                         owner, name))
                now = leave
                if not advance:
                    outcome = proc.lost
                    break
            ev_rows.append((oid, outcome, now))
            out_rows.append((oid, name, seg, outcome, now))
    rate_t, win_t, dur_t, act_t = _true_tables(procs, key_share)

    opps = _stamped(pd.DataFrame(opp_rows, columns=["opportunity_id", "customer_id", "process", "created_at",
                                                    "amount", "owner", "segment"]), "created_at")
    latent = _stamped(pd.DataFrame(ev_rows, columns=["opportunity_id", "stage", "entered_at"]), "entered_at")
    events = latent[latent["entered_at"] <= as_of].reset_index(drop=True)
    opps = opps[opps["created_at"] <= as_of].reset_index(drop=True)
    acts = _stamped(pd.DataFrame(act_rows, columns=["kind", "date", "opportunity_id", "customer_id", "owner",
                                                    "process"]), "date")
    acts = acts[acts["date"] <= as_of].sort_values("date", kind="stable").reset_index(drop=True)
    acts["hours"] = acts["kind"].map(HOURS)
    acts["cost"] = (acts["hours"] * 80 + np.where(acts["kind"] == "visits", 60, 0)).round(2)
    outcomes = _stamped(pd.DataFrame(out_rows, columns=["opportunity_id", "process", "segment", "outcome",
                                                        "closed_at"]), "closed_at")

    # expected close: created + sum of mean advance days (a planning date, may lie after the cut)
    cycle = {n: pd.Timedelta(days=float(sum(ADVANCE_DAYS[n]))) for n in procs}
    opps["expected_close"] = (opps["created_at"] + opps["process"].map(cycle)).dt.floor("D")
    # the deal history on its own random stream, so the rest of the world is the same with or without it
    latent_history = simulate_history(opps, latent, procs, {n: float(sum(ADVANCE_DAYS[n])) for n in procs}, as_of,
                                      owners, seed=[seed, 18])
    history = latent_history[latent_history["changed_at"] <= as_of].reset_index(drop=True)
    known = history.groupby("opportunity_id").tail(1).set_index("opportunity_id")
    opps["expected_close"] = opps["opportunity_id"].map(known["expected_close"]).fillna(opps["expected_close"])

    # forecast calls with a known bias per rep, on their own random stream
    final = latent_history.dropna(subset=["amount"]).groupby("opportunity_id").tail(1).set_index("opportunity_id")
    won = outcomes[outcomes["outcome"] == outcomes["process"].map({n: p.won for n, p in procs.items()})]
    won = won[won["opportunity_id"].isin(final.index)]
    won = won.assign(owner=won["opportunity_id"].map(final["owner"]), amount=won["opportunity_id"].map(final["amount"]))
    calls, call_bias = simulate_calls(won, owners, start_ts, as_of, seed=[seed, 18, 3])

    targets = _targets(procs, rate_t, as_of, creation_scale)
    data = SalesData.from_frames(customers=cust, orders=orders, opportunities=opps, stage_events=events,
                                 activities=acts, targets=targets, opportunity_history=history,
                                 forecast_calls=calls if len(calls) else None, processes=procs,
                                 as_of=as_of)
    truth = Truth(stage_rates=rate_t, win_rates=win_t, durations=dur_t, activity_ratios=act_t,
                  clv_params=dict(CLV_PARAMS),
                  creation_per_week={n: CREATION_PER_WEEK[n] * creation_scale for n in procs},
                  latent_events=latent, outcomes=outcomes, share_of_wallet=sow,
                  customer_params=cparams, as_of=as_of, latent_history=latent_history, call_bias=call_bias)
    return data, truth


_MINUTE_NS = 60_000_000_000


def _days_ns(days: float) -> int:
    """``pd.Timedelta(days=days).value``: the nanoseconds pandas makes of a float number of days (as an int).

    Examples
    --------
    >>> _days_ns(1.2345678) == pd.Timedelta(days=1.2345678).value
    True
    """
    return int(days * 24 * 3600 * 1_000_000_000)


def _floor_minute(ns: int) -> int:
    """A time in nanoseconds floored to the minute (``Timestamp.floor("min")``)."""
    return ns - ns % _MINUTE_NS


def _stamped(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` (integer nanoseconds) as datetimes, as pandas makes a column of Timestamps (nanoseconds).

    An empty frame is left as it is (as a frame of no Timestamps).
    """
    if len(frame):
        frame[column] = pd.to_datetime(frame[column].to_numpy(dtype=np.int64), unit="ns")
    return frame


def _targets(procs: dict[str, SalesProcess], rates: pd.DataFrame, as_of: pd.Timestamp,
             creation_scale: float) -> pd.DataFrame:
    """Quarterly contract targets: 10% above the expected wins, for the last year and the next one."""
    rows = []
    first = pd.Period(as_of - pd.DateOffset(years=1), freq="Q")
    quarters = pd.period_range(first, periods=8, freq="Q")
    for name in procs:
        win = rates.query("process == @name and segment == '*'")["rate"].prod()
        per_quarter = CREATION_PER_WEEK[name] * creation_scale * 13 * win
        for q in quarters:
            contracts = int(np.ceil(per_quarter * 1.1))
            rows.append((name, str(q), contracts, round(contracts * DEAL_SIZE[name], -2)))
    return pd.DataFrame(rows, columns=["process", "period", "contracts", "revenue"])
