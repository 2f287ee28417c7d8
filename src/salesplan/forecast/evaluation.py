"""Backtest of the pipeline forecast on past snapshots: totals, calibration of deal probabilities, owner bias.

At each origin the data are cut (only what was known then: opportunities created and events entered by the
origin), a funnel is estimated on the cut, the pipeline is forecast for ``horizon`` days and compared with what
the full data show happened.

Reported
    * totals per origin and process: forecast mean and ``confidence`` interval against the actual wins (of the deals
      open at the origin), beside the naive (the same count one window earlier: wins in the previous window of
      the deals open at its start) and seasonal-naive (the same a year earlier) baselines; MAE of each and the
      interval coverage;
    * calibration of the per-deal probabilities of winning within the horizon: Brier score (Brier 1950) against
      the climatological reference (always forecasting the base rate), and a reliability curve (observed share
      of wins per bin of forecast probability; DeGroot & Fienberg 1983);
    * per-owner bias: forecast minus actual wins per owner (positive: the owner's deals are over-forecast).

Examples
--------
>>> import pandas as pd
>>> from salesplan.datasets import simulate
>>> from salesplan.forecast.evaluation import cut_data
>>> data, _ = simulate(n_customers=30, years=1, seed=2)
>>> cut = cut_data(data, "2023-09-30")
>>> bool(cut.stage_events["entered_at"].max() <= pd.Timestamp("2023-09-30")), str(cut.as_of.date())
(True, '2023-09-30')
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan._results import Result
from salesplan._validation import check_horizon, check_probability
from salesplan.errors import ConfigError, SchemaError
from salesplan.forecast.pipeline import pipeline
from salesplan.parse import to_naive_utc
from salesplan.reduce.history import opportunities_as_of
from salesplan.reduce.states import deal_states, known_by, time_span

__all__ = ["cut_data", "pipeline_backtest", "PipelineBacktest", "reliability", "brier_score"]

logger = logging.getLogger(__name__)

_DATE_COLUMN = {"orders": "order_date", "opportunities": "created_at", "stage_events": "entered_at",
                "activities": "date", "opportunity_history": "changed_at", "forecast_calls": "as_of"}


def cut_data(data: Any, as_of: Any) -> Any:
    """A copy of ``data`` with only what was known at ``as_of`` (tables filtered by their date column).

    With an ``opportunity_history`` the opportunities' ``amount``, ``expected_close`` and ``owner`` are the values
    known at ``as_of`` (:func:`salesplan.reduce.history.opportunities_as_of`), not today's: every backtest and
    re-run forecast built on the cut sees only what was known then. Targets are kept. The result is a
    :class:`~salesplan.SalesData` with ``as_of`` set; ``data`` is not changed.
    """
    cut = to_naive_utc(as_of)
    first = time_span(data.opportunities, "created_at", "opportunities")[0] if data.opportunities is not None \
        else None
    if first is not None and cut < first:
        raise ConfigError(f"as_of {cut.date()} is before the data (first opportunity {first.date()})")
    changes = {}
    for name, col in _DATE_COLUMN.items():
        frame = getattr(data, name)
        if frame is not None:
            changes[name] = known_by(frame, col, cut)
    if changes.get("opportunities") is not None and changes.get("opportunity_history") is not None:
        changes["opportunities"] = opportunities_as_of(changes["opportunities"], changes["opportunity_history"],
                                                       cut)
    return dataclasses.replace(data, **changes, as_of=cut)


def brier_score(p: Any, y: Any) -> float:
    """Mean squared difference between forecast probabilities and 0/1 outcomes.

    Examples
    --------
    >>> brier_score([0.8, 0.2], [1, 0])
    0.04
    """
    p, y = np.asarray(p, float), np.asarray(y, float)
    if p.shape != y.shape or p.size == 0:
        raise SchemaError("brier_score: p and y must be non-empty and of equal length")
    return round(float(np.mean((p - y) ** 2)), 12)


def reliability(p: Any, y: Any, bins: int | Sequence[float] = 10) -> pd.DataFrame:
    """Reliability curve: per bin of forecast probability, ``n``, ``mean_forecast``, ``observed`` and a Wilson
    95% interval ``observed_low``/``observed_high`` of the observed share.

    Examples
    --------
    >>> r = reliability([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 1], bins=[0, 0.5, 1])
    >>> r[["n", "mean_forecast", "observed"]].to_dict("records")
    [{'n': 2, 'mean_forecast': 0.1, 'observed': 0.0}, {'n': 2, 'mean_forecast': 0.9, 'observed': 1.0}]
    """
    from statsmodels.stats.proportion import proportion_confint

    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0, 1, int(bins) + 1) if isinstance(bins, int) else np.asarray(bins, float)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        m = idx == b
        if not m.any():
            continue
        obs = float(y[m].mean())
        lo, hi = proportion_confint(int(round(y[m].sum())), int(m.sum()), alpha=0.05, method="wilson")
        rows.append({"bin_low": edges[b], "bin_high": edges[b + 1], "n": int(m.sum()),
                     "mean_forecast": round(float(p[m].mean()), 12), "observed": obs,
                     "observed_low": float(lo), "observed_high": float(hi)})
    return pd.DataFrame(rows)


@dataclass(frozen=True, repr=False)
class PipelineBacktest(Result):
    """Result of :func:`pipeline_backtest`.

    Attributes
    ----------
    totals : DataFrame
        Per ``origin`` and ``process`` (``"(all)"`` for the sum): ``expected``, ``low``, ``high``, ``actual``,
        ``covered``, ``naive``, ``seasonal_naive`` (NaN when the year-earlier window is before the data).
    deals : DataFrame
        Per origin and open deal: ``process, stage, owner, p_win, won`` (won within the horizon).
    confidence : float
        Interval level of the totals.
    horizon : Timedelta or DateOffset
        Length of each window after its origin.
    """

    totals: pd.DataFrame
    deals: pd.DataFrame
    confidence: float
    horizon: Any

    def title(self) -> str:
        """Origins and window of the backtest."""
        return f"Pipeline backtest: {self.totals['origin'].nunique()} origins, horizon {_horizon_text(self.horizon)}, " \
               f"{self.confidence:.0%} intervals"

    def summary(self) -> pd.DataFrame:
        """MAE of the forecast and the baselines and the interval coverage, per process."""
        t = self.totals
        g = t.groupby("process")
        out = pd.DataFrame({
            "origins": g.size(),
            "mae_forecast": g.apply(lambda d: float((d["expected"] - d["actual"]).abs().mean())),
            "mae_naive": g.apply(lambda d: float((d["naive"] - d["actual"]).abs().mean())),
            "mae_seasonal_naive": g.apply(lambda d: float((d["seasonal_naive"] - d["actual"]).abs().mean())),
            "coverage": g["covered"].mean(),
            "mean_expected": g["expected"].mean(),
            "mean_actual": g["actual"].mean(),
        })
        out["confidence"] = self.confidence
        return out

    def brier(self) -> pd.Series:
        """Brier score of the deal probabilities and of the climatological reference (the overall win share)."""
        d = self.deals
        if d.empty:
            raise SchemaError("pipeline backtest: no open deals at any origin")
        base = float(d["won"].mean())
        bs = brier_score(d["p_win"], d["won"])
        ref = brier_score(np.full(len(d), base), d["won"])
        return pd.Series({"brier": bs, "reference": ref, "skill": 1 - bs / ref if ref > 0 else np.nan,
                          "n": len(d), "base_rate": base})

    def calibration(self, bins: int | Sequence[float] = 10) -> pd.DataFrame:
        """Reliability curve of the deal probabilities (see :func:`reliability`)."""
        return reliability(self.deals["p_win"], self.deals["won"], bins)

    def by_stage(self) -> pd.DataFrame:
        """Mean forecast probability against the observed share won, per process and stage."""
        g = self.deals.groupby(["process", "stage"])
        return pd.DataFrame({"n": g.size(), "mean_forecast": g["p_win"].mean(), "observed": g["won"].mean()})

    def owner_bias(self) -> pd.DataFrame:
        """Per owner: deals, forecast wins (sum of p), actual wins, ``bias = forecast - actual`` and ``ratio``."""
        if "owner" not in self.deals.columns:
            raise SchemaError("owner_bias: the opportunities have no 'owner' column")
        g = self.deals.groupby("owner")
        out = pd.DataFrame({"deals": g.size(), "forecast": g["p_win"].sum(), "actual": g["won"].sum()})
        out["bias"] = out["forecast"] - out["actual"]
        out["ratio"] = out["actual"] / out["forecast"].where(out["forecast"] > 0)
        return out.sort_values("bias")


def _horizon_text(horizon: Any) -> str:
    if isinstance(horizon, pd.Timedelta):
        days = horizon.total_seconds() / 86400.0
        return f"{days:g} days"
    return str(horizon.freqstr if hasattr(horizon, "freqstr") else horizon)


def _of(frame: pd.DataFrame, process: str | None) -> pd.DataFrame:
    return frame if process is None else frame[frame["process"] == process]


def _window_wins(data: Any, starts: Sequence[pd.Timestamp], h: pd.Timedelta) -> dict[pd.Timestamp, pd.DataFrame]:
    """Per window start: the deals open at the start and won by ``start + h`` (their state then, path rules).

    A deal won in the window but reopened before its end is not a win of the window; one lost and reopened, then
    won, is. Values are ``opportunity_id, process, closed_at`` frames; one reduction for all windows.
    """
    first, _ = time_span(data.opportunities, "created_at", "opportunities")
    starts = sorted({s for s in starts if s >= first})
    cuts = sorted(set(starts) | {s + h for s in starts})
    states = deal_states(data.stage_events, data.processes, data.opportunities, dates=cuts,
                         attributes=("created_at",)) if cuts else pd.DataFrame(columns=["as_of"])
    by_cut = dict(tuple(states.groupby("as_of"))) if len(states) else {}
    empty = pd.DataFrame(columns=["opportunity_id", "process", "closed_at"])
    out = {}
    for start in starts:
        s0, s1 = by_cut.get(start, empty.assign(status=[])), by_cut.get(start + h, empty.assign(status=[]))
        was_open = s0.loc[s0["status"] == "open", "opportunity_id"]
        won = s1[(s1["status"] == "won") & s1["opportunity_id"].isin(was_open)]
        out[start] = won[["opportunity_id", "process", "closed_at"]]
    return out


def _default_estimator(cut: Any) -> Any:
    from salesplan.funnel import estimate

    return estimate(cut)


def pipeline_backtest(
    data: Any,
    origins: Sequence[Any] | None = None,
    *,
    horizon: Any = "30D",
    n_origins: int = 6,
    estimator: Callable[[Any], Any] | None = None,
    n_draws: int = 1000,
    confidence: float = 0.8,
    seed: int = 0,
) -> PipelineBacktest:
    """Rolling-origin backtest of :func:`~salesplan.forecast.pipeline` (open-pipeline component).

    Parameters
    ----------
    data : SalesData
        The full history.
    origins : sequence of dates, optional
        Forecast origins; default ``n_origins`` origins ``horizon`` apart, the last one ``horizon`` before the
        data cut.
    horizon : str, Timedelta or DateOffset
        How far ahead each origin forecasts (``"30D"``, ``"1MS"``).
    estimator : callable, optional
        ``estimator(cut_data) -> Funnel``; default :func:`salesplan.funnel.estimate`.
    n_draws, confidence, seed
        Passed to the pipeline forecast.

    Raises
    ------
    ConfigError
        An origin before the data or whose horizon ends after the data cut.
    """
    h = check_horizon(horizon)
    check_probability(confidence, "confidence")
    cut_all = pd.Timestamp(data.as_of)
    if origins is None:
        origins = [cut_all - h * (i + 1) for i in range(int(n_origins))][::-1]
    origins = [pd.Timestamp(o) for o in origins]
    late = [o for o in origins if o + h > cut_all]
    if late:
        raise ConfigError(f"origin(s) {[str(o.date()) for o in late]}: the horizon ends after the data cut "
                          f"{cut_all.date()}, so the outcome is unknown")
    estimator = estimator or _default_estimator
    totals, deal_frames = [], []
    first, _ = time_span(data.opportunities, "created_at", "opportunities")
    years = [o - pd.DateOffset(years=1) for o in origins]
    wins = _window_wins(data, [*origins, *[o - h for o in origins], *years], h)
    none = pd.DataFrame(columns=["opportunity_id", "process", "closed_at"])
    for i, origin in enumerate(origins):
        cut = cut_data(data, origin)
        funnel = estimator(cut)
        fc = pipeline(cut, funnel, as_of=origin, horizon=h, include_new=False, n_draws=n_draws,
                      confidence=confidence, seed=seed + i, per_deal=True)  # scored deal by deal below
        from_open = wins.get(origin, none)
        # baselines on the same definition (wins of the deals open at the window's start), one window earlier
        # and one year earlier
        prev = wins.get(origin - h, none)
        has_year = years[i] >= first
        last_year = wins.get(years[i], none) if has_year else none
        for proc in [*fc.processes, None]:
            lo, hi = fc.interval(confidence, component="pipeline", process=proc)
            actual = len(_of(from_open, proc))
            totals.append({"origin": origin, "process": proc or "(all)",
                           "expected": float(fc.samples("pipeline", process=proc).mean()), "low": lo, "high": hi,
                           "actual": actual, "covered": bool(lo <= actual <= hi),
                           "naive": float(len(_of(prev, proc))),
                           "seasonal_naive": float(len(_of(last_year, proc))) if has_year else np.nan})
        if not fc.deals.empty:
            d = fc.deals[[c for c in ("opportunity_id", "process", "stage", "owner", "p_win", "days_in_stage")
                          if c in fc.deals.columns]].copy()
            d["won"] = d["opportunity_id"].isin(from_open["opportunity_id"]).astype(int)
            d.insert(0, "origin", origin)
            deal_frames.append(d)
    deals = pd.concat(deal_frames, ignore_index=True) if deal_frames else pd.DataFrame(
        columns=["origin", "opportunity_id", "process", "stage", "p_win", "won"])
    return PipelineBacktest(pd.DataFrame(totals), deals, float(confidence), h)
