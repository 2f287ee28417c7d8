"""Forecast accountability: how good the reps' forecast calls were, and whether salesplan's forecast is better.

Definitions
    **Actual** of a person and period: the amount (or number) of the deals won in the period (close date of the
    win) whose owner at the data cut is the person, at their amount at the cut; a period counts only once it has
    ended by the data cut (``complete``).
    **Accuracy** of a forecast: forecast / actual (Gong's definition); 85-115% (:data:`BAND`) is good.
    **Bias** of a person (or week, or period): the geometric mean of forecast / actual, i.e. ``exp`` of the mean
    log ratio; above 1 over-forecasts. Its interval is a Student-t interval of the mean log ratio across the
    periods (each period's calls averaged first, because the calls of one period share one actual).
    **Week** of a call: ``1 + (days since the period start) // 7``.

salesplan's own forecast is re-run as of each date a call was made (:func:`model_calls`): the data cut there
(:func:`salesplan.forecast.evaluation.cut_data`: only events, deals and history rows known then; each deal's amount,
expected close and owner as of that date from ``opportunity_history``), a funnel estimated on the data cut at
the period start, and the pipeline forecast of the deals open then (:func:`salesplan.forecast.pipeline`) to the
period end. A person's forecast is the amount already won in the period by then plus the expected revenue of their
open deals (owner as of that date), plus a share of the process's expected revenue from deals not yet created,
split by the person's share of the deals created in the year before.

:func:`compare_forecasts` answers "is the model better than the calls, and from which week on?": per week of the
period, the mean over (person, period) of ``|log(call / actual)| - |log(model / actual)|`` (positive: the model is
closer), with a percentile interval from a paired bootstrap that resamples whole periods (Efron & Tibshirani 1993,
ch. 13; pairs keep each call with the model forecast of the same person, period and week).

References: Gong, "Forecast accuracy" (forecast / actual, 85-115% band); Tofallis (2015), "A better measure of
relative prediction accuracy" (log of the ratio).

Examples
--------
>>> import pandas as pd
>>> calls = pd.DataFrame({"owner": ["ann", "ann"], "period": ["2024-Q1", "2024-Q1"],
...                       "as_of": pd.to_datetime(["2024-01-01", "2024-03-04"]), "category": "commit",
...                       "amount": [150.0, 110.0]})
>>> actual = pd.DataFrame({"owner": ["ann"], "period": ["2024-Q1"], "amount": [100.0], "contracts": [2]})
>>> acc = score_calls(calls, actual, as_of="2024-06-30")
>>> acc[["week", "accuracy", "in_band"]].values.tolist()
[[1, 1.5, False], [10, 1.1, True]]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan._results import Result
from salesplan._validation import check_positive, check_probability
from salesplan.errors import SchemaError
from salesplan.parse import to_naive_utc

__all__ = ["BAND", "period_actuals", "score_calls", "call_accuracy", "bias_table", "model_calls",
           "compare_forecasts", "forecast_accountability", "ForecastAccountability"]

logger = logging.getLogger(__name__)

#: Gong's band of a good forecast: 85% to 115% of the actual.
BAND = (0.85, 1.15)
_PERIOD_FREQ = {"Q": "Q", "M": "M", "Y": "Y"}


def _period(label: str) -> pd.Period:
    text = str(label)
    freq = "Q" if "Q" in text else "M" if "-" in text else "Y"
    return pd.Period(text.replace("-Q", "Q"), freq=freq)


def _label(period: pd.Period) -> str:
    freq = period.freqstr[0]
    if freq == "Q":
        return f"{period.year}-Q{period.quarter}"
    return f"{period.year}-{period.month:02d}" if freq == "M" else f"{period.year}"


def period_actuals(data: Any, periods: Any) -> pd.DataFrame:
    """Amount and number of deals won per owner, process and period (see the module docstring).

    Parameters
    ----------
    data : SalesData
        With ``stage_events`` and ``opportunities`` (``owner`` and ``amount`` used when present).
    periods : sequence of str
        Period labels (``"2024-Q1"``, ``"2024-03"``, ``"2024"``).

    Returns
    -------
    DataFrame
        ``owner, process, period, amount, contracts, complete``; one row per owner, process and period with a win.
    """
    from salesplan.reduce.states import deal_states

    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("forecast accountability needs the opportunities and stage_events tables")
    states = deal_states(data.stage_events, data.processes, data.opportunities, as_of=data.as_of,
                         attributes=("created_at", "amount", "owner"), status=["won"])
    if "owner" not in states.columns:
        raise SchemaError("forecast accountability: the opportunities have no owner column")
    cut = pd.Timestamp(data.as_of)
    rows = []
    for label in dict.fromkeys(str(p) for p in periods):
        p = _period(label)
        start, end = p.start_time, p.end_time
        won = states[(states["closed_at"] >= start) & (states["closed_at"] <= end)]
        amount = won["amount"] if "amount" in won.columns else pd.Series(np.nan, index=won.index)
        g = won.assign(amount=amount).groupby(["owner", "process"], observed=True)
        t = g.agg(amount=("amount", "sum"), contracts=("opportunity_id", "size")).reset_index()
        t["period"] = label
        t["complete"] = bool(end <= cut)
        rows.append(t)
    cols = ["owner", "process", "period", "amount", "contracts", "complete"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def score_calls(calls: pd.DataFrame, actuals: pd.DataFrame, *, as_of: Any) -> pd.DataFrame:
    """Each call beside its actual: week of the period, accuracy (forecast / actual), log ratio, in the band.

    Parameters
    ----------
    calls : DataFrame
        ``owner, period, as_of, category`` and ``amount`` or ``contracts`` (``process`` optional: then the actual
        is the person's in that process, otherwise in all processes).
    actuals : DataFrame
        ``owner, period, amount, contracts`` (``process`` optional), e.g. from :func:`period_actuals`.
    as_of : date-like
        The data cut: a period that has not ended by then has no actual yet (``complete`` False, accuracy NaN).

    Returns
    -------
    DataFrame
        The calls with ``week, measure ("amount" or "contracts"), forecast, actual, accuracy, log_ratio, in_band,
        complete``. A complete period without a win has actual 0 and accuracy NaN (logged).
    """
    cut = to_naive_utc(as_of)
    out = calls.copy()
    per = out["period"].astype(str).map(_period)
    start = per.map(lambda p: p.start_time)
    out["week"] = ((pd.to_datetime(out["as_of"]) - pd.to_datetime(start)).dt.days // 7 + 1).astype(int)
    out["complete"] = per.map(lambda p: p.end_time <= cut).astype(bool)
    has_amount = out["amount"].notna() if "amount" in out.columns else pd.Series(False, index=out.index)
    out["measure"] = np.where(has_amount, "amount", "contracts")
    out["forecast"] = np.where(has_amount, out["amount"] if "amount" in out.columns else np.nan,
                               out["contracts"] if "contracts" in out.columns else np.nan).astype(float)
    by_process = "process" in out.columns and "process" in actuals.columns
    keys = ["owner", "process", "period"] if by_process else ["owner", "period"]
    act = actuals.groupby(keys, observed=True)[["amount", "contracts"]].sum()
    idx = pd.MultiIndex.from_frame(out[keys].astype(str))
    act.index = pd.MultiIndex.from_frame(act.index.to_frame().astype(str))
    amount = act["amount"].reindex(idx).to_numpy()
    contracts = act["contracts"].reindex(idx).to_numpy()
    actual = np.where(out["measure"] == "amount", amount, contracts).astype(float)
    actual = np.where(np.isnan(actual) & out["complete"].to_numpy(), 0.0, actual)
    out["actual"] = np.where(out["complete"], actual, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["forecast"] / out["actual"]
    ratio = ratio.where(out["actual"] > 0)
    zero = int((out["complete"] & (out["actual"] == 0)).sum())
    if zero:
        logger.info("score_calls: %d call(s) for a period the person won nothing in: accuracy undefined", zero)
    out["accuracy"] = ratio
    with np.errstate(divide="ignore"):
        out["log_ratio"] = np.log(ratio.where(ratio > 0))
    out["in_band"] = ratio.between(*BAND) if len(out) else pd.Series(dtype=bool)
    return out.reset_index(drop=True)


def call_accuracy(data: Any, calls: pd.DataFrame | None = None, *, team: pd.DataFrame | None = None) -> pd.DataFrame:
    """The forecast calls of ``data`` (or ``calls``) scored against the actuals (:func:`score_calls`).

    With a ``team`` table holding a ``manager`` column (:func:`salesplan.plan.read_team`), a manager's actual is
    the sum of the actuals of the reps who report to them (and their own deals, if any): a manager's call is a
    call for the team.

    Examples
    --------
    >>> from salesplan.datasets import simulate
    >>> data, truth = simulate(n_customers=40, years=1.5, seed=1)
    >>> acc = call_accuracy(data)
    >>> acc[["owner", "period", "week", "forecast", "actual", "accuracy"]].columns.size, bool(acc["accuracy"].gt(0).any())
    (6, True)
    """
    calls = data.forecast_calls if calls is None else calls
    if calls is None or len(calls) == 0:
        raise SchemaError("forecast accountability: no forecast_calls table (owner, period, as_of, category, amount)")
    actuals = period_actuals(data, calls["period"].unique())
    if team is not None and "manager" in team.columns and team["manager"].notna().any():
        reports = team.loc[team["manager"].notna(), ["owner", "manager"]]
        rolled = actuals.merge(reports, on="owner").drop(columns="owner").rename(columns={"manager": "owner"})
        actuals = pd.concat([actuals, rolled], ignore_index=True)  # score_calls sums per (owner, period)
    return score_calls(calls, actuals, as_of=data.as_of)


def bias_table(scored: pd.DataFrame, by: str | list[str] = "owner", *, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy and bias per group (default per person) of scored calls (:func:`score_calls`).

    Parameters
    ----------
    scored : DataFrame
        Output of :func:`score_calls` (or :func:`call_accuracy`); calls without an accuracy are left out.
    by : str or list of str
        Groups, e.g. ``"owner"``, ``"week"``, ``"period"``, ``["owner", "week"]``.
    confidence : float
        Level of the bias interval.

    Returns
    -------
    DataFrame
        ``by..., calls, periods, median_accuracy, in_band (share of calls in 85-115%), bias, bias_low,
        bias_high`` (bias = geometric mean of forecast / actual; interval across periods, NaN with one period).

    Examples
    --------
    >>> s = pd.DataFrame({"owner": ["a"] * 4, "period": ["2024-Q1", "2024-Q1", "2024-Q2", "2024-Q3"],
    ...                   "accuracy": [1.2, 1.0, 1.1, 0.9], "in_band": [False, True, True, True]})
    >>> s["log_ratio"] = np.log(s["accuracy"])
    >>> t = bias_table(s)
    >>> t[["calls", "periods"]].values.tolist(), float(t["in_band"].iloc[0]), round(float(t["bias"].iloc[0]), 3)
    ([[4, 3]], 0.75, 1.027)
    """
    check_probability(confidence, "confidence")
    by = [by] if isinstance(by, str) else list(by)
    ok = scored[scored["log_ratio"].notna()]
    per_period = ok.groupby([*by, "period"], observed=True)["log_ratio"].mean().rename("m").reset_index()
    rows = []
    for key, g in per_period.groupby(by, observed=True, sort=True):
        m = g["m"].to_numpy()
        n = len(m)
        mean = float(m.mean())
        if n > 1:
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * m.std(ddof=1) / np.sqrt(n))
            low, high = np.exp(mean - half), np.exp(mean + half)
        else:
            low = high = np.nan
        key = key if isinstance(key, tuple) else (key,)
        calls = ok
        for col, val in zip(by, key, strict=True):
            calls = calls[calls[col] == val]
        rows.append({**dict(zip(by, key, strict=True)), "calls": len(calls), "periods": n,
                     "median_accuracy": float(calls["accuracy"].median()), "in_band": float(calls["in_band"].mean()),
                     "bias": float(np.exp(mean)), "bias_low": low, "bias_high": high})
    cols = [*by, "calls", "periods", "median_accuracy", "in_band", "bias", "bias_low", "bias_high"]
    return pd.DataFrame(rows, columns=cols)


def model_calls(data: Any, calls: pd.DataFrame, *, n_draws: int = 200, seed: int = 0,
                estimator: Any = None) -> pd.DataFrame:
    """Salesplan's pipeline forecast re-run as of every (period, date) of ``calls``, per person (no look-ahead).

    Parameters
    ----------
    data : SalesData
        The full data; each forecast sees only :func:`~salesplan.forecast.evaluation.cut_data` at its date.
    calls : DataFrame
        ``period, as_of`` (and ``owner``): the dates to forecast from; one forecast per distinct pair.
    n_draws : int
        Monte Carlo draws of each pipeline forecast.
    seed : int
        Random seed.
    estimator : callable, optional
        ``estimator(cut_data) -> Funnel`` (default :func:`salesplan.funnel.estimate` of the stage events and
        opportunities), called once per period on the data cut at the period start.

    Returns
    -------
    DataFrame
        ``owner, process, period, as_of, category ("model"), amount, contracts``: won by then in the period plus
        the expected won by the period end, per person and process.
    """
    from salesplan.forecast.evaluation import cut_data
    from salesplan.forecast.pipeline import pipeline

    check_positive(n_draws, "n_draws", integer=True)
    if estimator is None:
        estimator = _stage_funnel
    dates = calls[["period", "as_of"]].drop_duplicates().sort_values(["period", "as_of"])
    dates = dates[pd.to_datetime(dates["as_of"]) <= pd.Timestamp(data.as_of)]
    rows = []
    funnels: dict[str, Any] = {}
    won_by: dict[str, dict[pd.Timestamp, pd.DataFrame]] = {}
    for i, (label, when) in enumerate(dates.itertuples(index=False)):
        p = _period(str(label))
        t = pd.Timestamp(when)
        if label not in funnels:
            funnels[label] = estimator(cut_data(data, min(t, p.start_time)))
            ts = sorted(pd.to_datetime(dates.loc[dates["period"] == label, "as_of"]).unique())
            won_by[label] = _won_so_far(data, [pd.Timestamp(x) for x in ts], p.start_time)
        cut = cut_data(data, t)
        end = p.end_time.normalize() + pd.Timedelta(days=1)
        fc = pipeline(cut, funnels[label], as_of=t, horizon=end - t, include_new=True, n_draws=n_draws,
                      seed=seed + i, per_deal=True)  # the owners' share needs each deal's owner
        won = won_by[label][t]
        part = [won.assign(expected=won["amount"], p=1.0)[["owner", "process", "expected", "p"]]]
        deals = fc.deals
        if len(deals) and "owner" in deals.columns:
            part.append(deals.assign(expected=deals["expected_revenue"], p=deals["p_win"])[
                ["owner", "process", "expected", "p"]])
        new = _new_by_owner(cut, fc, t)
        if len(new):
            part.append(new)
        frame = pd.concat(part, ignore_index=True)
        g = frame.groupby(["owner", "process"], observed=True)[["expected", "p"]].sum().reset_index()
        g = g.rename(columns={"expected": "amount", "p": "contracts"})
        g["period"], g["as_of"], g["category"] = label, t, "model"
        rows.append(g)
    cols = ["owner", "process", "period", "as_of", "category", "amount", "contracts"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def _won_so_far(data: Any, dates: list[pd.Timestamp], start: pd.Timestamp) -> dict[pd.Timestamp, pd.DataFrame]:
    """Per date: the deals won between ``start`` and the date, with their amount and owner as known at the date.

    One reduction for all dates (:func:`salesplan.reduce.states.deal_states` applies each cut on its own); amount
    and owner as of each date from the history, today's only where the history records none
    (:func:`salesplan.reduce.history.opportunities_as_of` does the same for one date).
    """
    from salesplan.reduce.history import deal_values
    from salesplan.reduce.states import column_names, deal_states

    opp_cols = set(column_names(data.opportunities))
    attrs = [c for c in ("amount", "owner") if c in opp_cols]
    won = deal_states(data.stage_events, data.processes, data.opportunities, dates=dates,
                      attributes=("created_at", *attrs), status=["won"])
    won["as_of"] = pd.to_datetime(won["as_of"]).astype("datetime64[ns]")
    won = won[won["closed_at"] >= start]
    history = data.opportunity_history
    if history is not None and len(won):
        cols = [c for c in attrs if c in column_names(history)]
        if cols:
            then = deal_values(history, dates=dates, columns=cols).drop(columns="last_changed_at")
            won = won.merge(then, on=["as_of", "opportunity_id"], how="left", suffixes=("", "_then"))
            for c in cols:
                won[c] = won[f"{c}_then"].where(won[f"{c}_then"].notna(), won[c])
            won = won.drop(columns=[f"{c}_then" for c in cols])
    if "amount" not in won.columns:
        won["amount"] = np.nan
    return {t: won[won["as_of"] == t] for t in dates}


def _stage_funnel(cut: Any) -> Any:
    """The funnel the pipeline forecast needs (stage rates and durations; no activity ratios) on a data cut."""
    from salesplan.funnel import estimate

    return estimate(cut.stage_events, cut.processes, cut.opportunities, as_of=cut.as_of)


def _new_by_owner(cut: Any, fc: Any, t: pd.Timestamp) -> pd.DataFrame:
    """The expected revenue and contracts of deals not yet created, per owner.

    Per process, split by each owner's share of the process's deals created in the year before ``t``.
    """
    if "new" not in fc.revenue_draws:
        return pd.DataFrame(columns=["owner", "process", "expected", "p"])
    revenue = fc.revenue_draws["new"].mean(axis=0).sum(axis=1)
    count = fc.draws["new"].mean(axis=0).sum(axis=1)
    from salesplan.reduce.states import opportunity_amounts

    created = opportunity_amounts(cut.opportunities, as_of=t, start=t - pd.Timedelta(days=365), by=["owner"],
                                  count_only=True)
    created = created[created["owner"].notna()]  # counted in the engine: any engine's opportunities
    share = created.groupby(["process", "owner"], observed=True)["weight"].sum()
    share = share / share.groupby(level=0).transform("sum")
    rows = []
    for j, proc in enumerate(fc.processes):
        if proc not in share.index.get_level_values(0):
            continue
        for owner, w in share.loc[proc].items():
            rows.append({"owner": owner, "process": proc, "expected": float(revenue[j] * w),
                         "p": float(count[j] * w)})
    return pd.DataFrame(rows, columns=["owner", "process", "expected", "p"])


def compare_forecasts(calls: pd.DataFrame, model: pd.DataFrame, *, n_boot: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[pd.DataFrame, int | None]:
    """Per week of the period: whether the model is closer to the actual than the calls (module docstring).

    Parameters
    ----------
    calls, model : DataFrame
        Scored calls and scored model forecasts (:func:`score_calls`), one row per person, period and week (the
        last call of a week counts).
    n_boot : int
        Bootstrap resamples of the periods.
    confidence : float
        Interval level.
    seed : int
        Random seed of the bootstrap.

    Returns
    -------
    table : DataFrame
        ``week, pairs, periods, calls_error, model_error, calls_in_band, model_in_band, gain, gain_low,
        gain_high`` (errors: mean ``|log(forecast / actual)|``; gain = calls_error - model_error, positive when
        the model is closer).
    from_week : int or None
        The first week from which on every week's interval lies above zero (None: no such week).

    Examples
    --------
    >>> c = pd.DataFrame({"owner": "a", "period": ["2024-Q1", "2024-Q2", "2024-Q3"], "week": 1,
    ...                   "log_ratio": [0.5, -0.4, 0.6], "in_band": False})
    >>> m = c.assign(log_ratio=[0.1, -0.05, 0.02], in_band=True)
    >>> table, week = compare_forecasts(c, m, n_boot=200)
    >>> round(float(table["gain"].iloc[0]), 3), week
    (0.443, 1)
    """
    check_probability(confidence, "confidence")
    check_positive(n_boot, "n_boot", integer=True)
    keys = ["owner", "period", "week"]
    a = calls[calls["log_ratio"].notna()].groupby(keys, observed=True).last()[["log_ratio", "in_band"]]
    b = model[model["log_ratio"].notna()].groupby(keys, observed=True).last()[["log_ratio", "in_band"]]
    pairs = a.add_suffix("_calls").join(b.add_suffix("_model"), how="inner").reset_index()
    pairs["gain"] = pairs["log_ratio_calls"].abs() - pairs["log_ratio_model"].abs()
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    rows = []
    for week, g in pairs.groupby("week", sort=True):
        periods = g["period"].unique()
        sums = g.groupby("period")["gain"].agg(["sum", "size"]).reindex(periods)
        draw = rng.integers(0, len(periods), size=(int(n_boot), len(periods)))
        s, n = sums["sum"].to_numpy()[draw].sum(axis=1), sums["size"].to_numpy()[draw].sum(axis=1)
        boot = s / n
        rows.append({"week": int(week), "pairs": len(g), "periods": len(periods),
                     "calls_error": float(g["log_ratio_calls"].abs().mean()),
                     "model_error": float(g["log_ratio_model"].abs().mean()),
                     "calls_in_band": float(g["in_band_calls"].astype(float).mean()),
                     "model_in_band": float(g["in_band_model"].astype(float).mean()),
                     "gain": float(g["gain"].mean()),
                     "gain_low": float(np.quantile(boot, alpha)) if len(periods) > 1 else np.nan,
                     "gain_high": float(np.quantile(boot, 1 - alpha)) if len(periods) > 1 else np.nan})
    table = pd.DataFrame(rows, columns=["week", "pairs", "periods", "calls_error", "model_error", "calls_in_band",
                                        "model_in_band", "gain", "gain_low", "gain_high"])
    from_week = None
    for week in table["week"][::-1]:
        if table.loc[table["week"] == week, "gain_low"].iloc[0] > 0:
            from_week = int(week)
        else:
            break
    return table, from_week


@dataclass(frozen=True, repr=False)
class ForecastAccountability(Result):
    """The reps' forecast calls and salesplan's re-run forecast, scored against what was won.

    Attributes
    ----------
    calls, model : DataFrame
        Scored calls and scored model forecasts (:func:`score_calls`; the model's category is ``"model"``).
    by_owner : DataFrame
        :func:`bias_table` of the calls per person.
    by_week : DataFrame
        :func:`bias_table` of the calls per week of the period.
    comparison : DataFrame
        :func:`compare_forecasts` per week.
    from_week : int or None
        The week from which on the model is closer than the calls (interval above zero).
    category : str
        The call category scored.
    confidence : float
    model_by_owner, model_by_week : DataFrame
        :func:`bias_table` of salesplan's re-run forecast per person and per week (the same measures as the
        calls').
    """

    calls: pd.DataFrame
    model: pd.DataFrame
    by_owner: pd.DataFrame
    by_week: pd.DataFrame
    comparison: pd.DataFrame
    from_week: int | None
    category: str
    confidence: float
    model_by_owner: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_by_week: pd.DataFrame = field(default_factory=pd.DataFrame)

    def title(self) -> str:
        """Calls scored and the verdict."""
        verdict = (f"the model is closer than the calls from week {self.from_week} on" if self.from_week is not None
                   else "the model is not clearly closer than the calls in any week run")
        return (f"Forecast accountability: {int(self.calls['accuracy'].notna().sum())} {self.category} calls "
                f"scored; {verdict} ({self.confidence:.0%} intervals)")

    def summary(self) -> pd.DataFrame:
        """The comparison per week."""
        return self.comparison


def forecast_accountability(data: Any, *, category: str = "commit", start: Any = None, weeks: Any = None,
                            n_draws: int = 200, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0,
                            estimator: Any = None) -> ForecastAccountability:
    """Score the ``category`` calls, re-run salesplan's forecast at the same dates and compare per week.

    The calls are those of ``data.forecast_calls``; see the module docstring for the definitions.

    Parameters
    ----------
    data : SalesData
        With ``forecast_calls``, ``opportunities`` (owner, amount), ``stage_events`` and ideally
        ``opportunity_history`` (without it, today's amounts and owners stand for the past: logged).
    category : str
        The call category to score (default ``"commit"``).
    start : date-like, optional
        Only periods starting on or after it are scored (default all).
    weeks : sequence of int, optional
        Weeks of the period at which the model is re-run (default every week a call was made). Fewer weeks cost
        less: each is one pipeline forecast per period (the funnel is estimated once per period).
    n_draws, seed, estimator
        Passed to :func:`model_calls`.
    n_boot, confidence
        Passed to :func:`compare_forecasts` and :func:`bias_table`.

    Returns
    -------
    ForecastAccountability

    Raises
    ------
    SchemaError
        No forecast calls, no call in ``category``, or no complete period to score.
    """
    check_probability(confidence, "confidence")
    calls = data.forecast_calls
    if calls is None or len(calls) == 0:
        raise SchemaError("forecast accountability: no forecast_calls table (owner, period, as_of, category, amount)")
    chosen = calls[calls["category"] == category]
    if chosen.empty:
        raise SchemaError(f"forecast accountability: no call in category {category!r}; categories: "
                          f"{sorted(calls['category'].dropna().unique())}")
    if data.opportunity_history is None:
        logger.warning("forecast accountability: no opportunity_history; the re-run forecasts use today's amounts, "
                       "expected close dates and owners (look-ahead)")
    if start is not None:
        chosen = chosen[chosen["period"].map(lambda p: _period(p).start_time >= to_naive_utc(start))]
    actuals = period_actuals(data, chosen["period"].unique())  # once, for the calls and the model alike
    scored = score_calls(chosen, actuals, as_of=data.as_of)
    scored = scored[scored["complete"]].reset_index(drop=True)
    if scored.empty:
        raise SchemaError("forecast accountability: no call for a period that has ended by the data cut")
    at = scored if weeks is None else scored[scored["week"].isin(list(weeks))]
    model = model_calls(data, at, n_draws=n_draws, seed=seed, estimator=estimator)
    model_scored = score_calls(model, actuals, as_of=data.as_of) if len(model) else scored.iloc[0:0]
    comparison, from_week = compare_forecasts(scored, model_scored, n_boot=n_boot, confidence=confidence,
                                              seed=seed)
    return ForecastAccountability(calls=scored, model=model_scored,
                                  by_owner=bias_table(scored, "owner", confidence=confidence),
                                  by_week=bias_table(scored, "week", confidence=confidence),
                                  comparison=comparison, from_week=from_week, category=category,
                                  confidence=float(confidence),
                                  model_by_owner=bias_table(model_scored, "owner", confidence=confidence),
                                  model_by_week=bias_table(model_scored, "week", confidence=confidence))
