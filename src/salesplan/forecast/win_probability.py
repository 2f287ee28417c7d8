"""Win probability per deal: a calibrated gradient-boosting model with reasons a sales manager reads, and scores.

Why here
    It is a forecast of each open deal's outcome, fitted out of time on past snapshots of the pipeline, and it
    feeds the pipeline forecast; the funnel (``salesplan.funnel``) estimates stage rates of the process, not
    per-deal predictions. The transparent baseline stays where it was: :func:`salesplan.funnel.drivers`.

Data
    Training rows are the deals open at past cuts (:func:`salesplan.reduce.history.deal_snapshots`: state, days in
    stage, and the amount, expected close, owner and forecast category *as known then* from the deal history,
    pushes, pull-ins, amount changes, activity recency, account attributes). The label is whether the deal was won
    (ever, or within ``horizon`` of the cut), read at the data cut; deals whose label is not yet known there are
    left out (logged). Features (:func:`deal_features`): ``process, stage, days_in_stage, stage_time_ratio`` (days
    in stage over the median of the training rows in that process and stage), ``age_days, pushes, pulls,
    days_pushed, amount, amount_change, days_to_close, forecast_category, days_since_activity, activities, owner``
    and the account attributes.

Model
    :class:`WinProbability`: scikit-learn ``HistGradientBoostingClassifier`` (native categorical splits, L2
    regularised, fixed number of trees) inside ``CalibratedClassifierCV`` (Platt scaling by default, isotonic
    regression with ``calibration="isotonic"``; Niculescu-Mizil & Caruana 2005): each of ``cv`` folds fits the
    trees on the other folds and the calibration map on its own, and the probability is the mean over the folds.
    Platt is the default because isotonic regression, on calibration folds of a few thousand deals, maps the
    lowest scores to exactly 0 (on the simulator the lowest decile got 0.05% and won 2.5%: outside its 99%
    binomial interval), which no deal's probability should be. Folds are
    contiguous (not shuffled): training rows are ordered by cut, so calibration is learnt on later rows than some
    of the trees.

Reasons
    Each feature's contribution for a deal is the change in the boosted model's probability (before
    calibration, averaged over the folds' models) when that feature alone is set to its reference value (the
    training median, or the most frequent level): an occlusion attribution (Zeiler & Fergus 2014; cf. SHAP,
    Lundberg & Lee 2017, which averages over feature orders). It is stated in words with the feature's value
    ("pushed 2 times", "3.1x the usual time in negotiation") and its effect in percentage points.

Scores
    :func:`score_table`: Brier score with Murphy's decomposition (:func:`brier_decomposition`: reliability,
    resolution, uncertainty; Murphy 1973), log loss, ROC AUC and the calibration slope (:func:`calibration_slope`:
    Cox 1958; 1 when calibrated, below 1 when over-confident). :func:`paired_bootstrap` gives an interval of the
    difference of two models' Brier scores on the same deals (resampling deals, or clusters such as deal ids).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"pushes": rng.integers(0, 4, 600), "stage": rng.choice(["offer", "negotiation"], 600)})
>>> y = rng.random(600) < np.where(X["stage"] == "negotiation", 0.6, 0.3) / (1 + X["pushes"])
>>> model = WinProbability(cv=3, max_iter=50, n_threads=1).fit(X, y)
>>> p = model.p_win(X)
>>> bool(abs(p.mean() - y.mean()) < 0.02)
True
>>> model.reasons(X.head(1), top=1).iloc[0].startswith(("pushed", "never pushed", "in stage"))
True
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesplan._validation import check_choice, check_freq, check_positive, check_probability, horizon_end
from salesplan.errors import NotFittedError, SchemaError
from salesplan.forecast.evaluation import brier_score, reliability

__all__ = ["WinProbability", "WinProbabilityResult", "deal_win_probability", "deal_features", "deal_labels",
           "deals_at_risk", "brier_decomposition", "calibration_slope", "paired_bootstrap", "score_table", "training_dates"]

logger = logging.getLogger(__name__)

_DAY = pd.Timedelta(days=1)
_MAX_LEVELS = 200  # categorical levels kept per feature (the rest are "(other)"); the trees allow up to 255


# ------------------------------------------------------------------------------------------------ features


def deal_features(snapshots: pd.DataFrame, usual_days: pd.Series | None = None) -> pd.DataFrame:
    """The model's features of deal snapshots (rows of :func:`salesplan.reduce.history.deal_snapshots`).

    Parameters
    ----------
    snapshots : DataFrame
        One row per (cut, open deal).
    usual_days : Series, optional
        Median days in stage per ``(process, stage)`` (index), for ``stage_time_ratio``; default: the medians of
        ``snapshots`` themselves (use the training medians when scoring new rows).

    Returns
    -------
    DataFrame
        Same index; the feature columns present (see the module docstring).
    """
    s = snapshots
    cut = pd.to_datetime(s["as_of"])
    x = pd.DataFrame(index=s.index)
    x["process"] = s["process"].astype(object)
    x["stage"] = s["work_stage"].astype(object)
    x["days_in_stage"] = s["days_in_stage"].astype(float)
    if usual_days is None:
        usual_days = s.groupby(["process", "work_stage"])["days_in_stage"].median()
    usual = pd.Series([usual_days.get((p, st), np.nan) for p, st in zip(s["process"], s["work_stage"], strict=True)],
                      index=s.index, dtype=float)
    x["stage_time_ratio"] = x["days_in_stage"] / usual.where(usual > 0)
    x["age_days"] = (cut - pd.to_datetime(s["created_at"])) / _DAY
    for c in ("pushes", "pulls", "days_pushed"):
        if c in s.columns:
            x[c] = s[c].astype(float)
    if "amount" in s.columns:
        x["amount"] = s["amount"].astype(float)
        if "first_amount" in s.columns:
            x["amount_change"] = s["amount"].astype(float) / s["first_amount"].astype(float).where(
                s["first_amount"] > 0) - 1
    if "expected_close" in s.columns:
        x["days_to_close"] = (pd.to_datetime(s["expected_close"]) - cut) / _DAY
    if "forecast_category" in s.columns:
        x["forecast_category"] = s["forecast_category"].astype(object)
    if "last_activity_at" in s.columns:
        x["days_since_activity"] = (cut - pd.to_datetime(s["last_activity_at"])) / _DAY
        x["activities"] = s["activities"].astype(float)
    for c in ("owner", "segment", "industry", "region", "size"):
        if c in s.columns:
            x[c] = s[c].astype(object)
    return x


def deal_labels(stage_events: Any, processes: Any, opportunities: Any, snapshots: pd.DataFrame, *,
                as_of: Any, horizon: Any = None) -> pd.Series:
    """Whether each snapshot's deal was won (ever, or within ``horizon`` of its cut), as known at ``as_of``.

    Returns
    -------
    Series
        1.0 won, 0.0 not won, NaN when not yet known at ``as_of`` (still open, or the horizon ends after it).
    """
    from salesplan.reduce.states import deal_states

    cut = pd.Timestamp(as_of)
    final = deal_states(stage_events, processes, opportunities, as_of=cut, attributes=("created_at",))
    final = final.set_index("opportunity_id")
    status = snapshots["opportunity_id"].map(final["status"])
    closed_at = snapshots["opportunity_id"].map(final["closed_at"])
    won = (status == "won").astype(float)
    if horizon is None:
        return won.where(status != "open").where(status.notna())
    cuts = pd.to_datetime(snapshots["as_of"])
    ends = {c: horizon_end(c, horizon) for c in cuts.unique()}
    end = cuts.map(ends)
    won_by = ((status == "won") & (closed_at <= end)).astype(float)
    known = (end <= cut) | ((status != "open") & (closed_at <= end)) | (status == "lost")
    return won_by.where(known & status.notna())


def training_dates(first: Any, last: Any, freq: str = "M") -> list[pd.Timestamp]:
    """Month (or ``freq``) ends from ``first`` to ``last``: the cuts of the training snapshots.

    Examples
    --------
    >>> [str(d.date()) for d in training_dates("2024-01-15", "2024-04-02")]
    ['2024-01-31', '2024-02-29', '2024-03-31']
    """
    alias = {"W": "W-SUN", "M": "ME", "Q": "QE", "Y": "YE"}[check_freq(freq)]
    return list(pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq=alias))


# ------------------------------------------------------------------------------------------------ model


_WORDS: dict[str, Callable[[Any, Mapping[str, Any]], str]] = {
    "pushes": lambda v, r: "never pushed" if v == 0 else f"pushed {int(v)} time{'s' if v != 1 else ''}",
    "pulls": lambda v, r: "never pulled in" if v == 0 else f"pulled in {int(v)} time{'s' if v != 1 else ''}",
    "days_pushed": lambda v, r: f"close date moved {v:.0f} days later in all",
    "stage_time_ratio": lambda v, r: f"{v:.1f}x the usual time in {r.get('stage', 'this stage')}",
    "days_in_stage": lambda v, r: f"{v:.0f} days in {r.get('stage', 'this stage')}",
    "age_days": lambda v, r: f"{v:.0f} days since created",
    "amount": lambda v, r: f"amount {v:,.0f}",
    "amount_change": lambda v, r: "amount unchanged since creation" if abs(v) < 0.005 else
    f"amount {'raised' if v > 0 else 'cut'} by {abs(v):.0%} since creation",
    "days_to_close": lambda v, r: f"expected close {-v:.0f} days overdue" if v < 0 else
    f"expected to close in {v:.0f} days",
    "days_since_activity": lambda v, r: f"no activity for {v:.0f} days",
    "activities": lambda v, r: f"{v:.0f} activities so far",
    "stage": lambda v, r: f"in stage {v}",
    "process": lambda v, r: f"process {v}",
    "forecast_category": lambda v, r: f"forecast category {v}",
    "owner": lambda v, r: f"owner {v}",
}


def _describe(feature: str, value: Any, row: Mapping[str, Any]) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {"days_since_activity": "no activity recorded"}.get(feature, f"{feature} unknown")
    words = _WORDS.get(feature)
    if words is not None:
        return words(value, row)
    return f"{feature} {value:,.3g}" if isinstance(value, float | int | np.number) else f"{feature} {value}"


class WinProbability:
    """Calibrated gradient boosting of winning on deal features, with per-deal reasons (module docstring).

    Parameters
    ----------
    calibration : {"sigmoid", "isotonic"}
        Platt scaling (default) or isotonic regression of the boosted scores.
    cv : int
        Folds of the calibration (each fits trees on the others and calibrates on itself).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Of ``HistGradientBoostingClassifier`` (no early stopping: a fixed number of trees).
    seed : int
        Random state of the trees.
    n_threads : int, optional
        Limit of the OpenMP threads of the trees (default: no limit); 1 avoids over-subscription when several
        processes share few cores.

    Attributes
    ----------
    model_ : CalibratedClassifierCV
    columns_ : list of str
    categorical_ : list of str
        Features treated as categories (text columns).
    reference_ : dict
        Per feature the reference value of the reasons (median, or the most frequent level).
    base_rate_ : float
        Share won among the training rows.
    """

    def __init__(self, *, calibration: str = "sigmoid", cv: int = 5, max_iter: int = 200,
                 learning_rate: float = 0.05, max_leaf_nodes: int = 15, min_samples_leaf: int = 40,
                 l2_regularization: float = 1.0, seed: int = 0, n_threads: int | None = None) -> None:
        self.calibration = calibration
        self.cv = cv
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.seed = seed
        self.n_threads = n_threads

    def _threads(self) -> Any:
        """Limit the OpenMP threads of the trees to ``n_threads`` (None: no limit)."""
        from contextlib import nullcontext

        if self.n_threads is None:
            return nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.n_threads, user_api="openmp")

    def __repr__(self) -> str:
        return f"WinProbability(calibration={self.calibration!r}, cv={self.cv})"

    def _encode(self, x: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns_ if c not in x.columns]
        if missing:
            raise SchemaError.from_cases([{"table": "features", "column": c, "check": "required", "key": "-",
                                           "value": "feature of the fitted model"} for c in missing])
        out = pd.DataFrame(index=x.index)
        for c in self.columns_:
            if c in self.categorical_:
                levels = self.levels_[c]
                vals = x[c].astype(object).where(x[c].notna(), None)
                vals = vals.where(vals.isna() | vals.isin(levels), "(other)")
                out[c] = pd.Categorical(vals, categories=[*levels, "(other)"])
            else:
                out[c] = pd.to_numeric(x[c], errors="coerce").astype(float)
        return out

    def fit(self, features: pd.DataFrame, won: Any) -> WinProbability:
        """Fit on a feature frame and 0/1 (or boolean) outcomes; returns ``self``.

        Raises
        ------
        SchemaError
            Lengths differ, outcomes are not 0/1, or only one outcome occurs.
        ParameterError
            An unknown ``calibration``.
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier

        check_choice(self.calibration, "calibration", ("sigmoid", "isotonic"))
        y = np.asarray(won, dtype=float)
        if len(y) != len(features) or not np.isin(y, (0.0, 1.0)).all():
            raise SchemaError("WinProbability.fit: won must be 0/1 with one value per feature row")
        if y.min() == y.max():
            raise SchemaError("WinProbability.fit: the training rows are all won or all lost")
        self.columns_ = list(features.columns)
        self.categorical_ = [c for c in self.columns_ if not pd.api.types.is_numeric_dtype(features[c])
                             or pd.api.types.is_bool_dtype(features[c])]
        self.levels_ = {c: [str(v) if not isinstance(v, str) else v
                            for v in features[c].value_counts().index[:_MAX_LEVELS]] for c in self.categorical_}
        feats = features.copy()
        for c in self.categorical_:
            feats[c] = feats[c].map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
        self.reference_ = {c: (self.levels_[c][0] if self.levels_[c] else None) if c in self.categorical_
                           else float(np.nanmedian(pd.to_numeric(feats[c], errors="coerce").to_numpy(float)))
                           if feats[c].notna().any() else np.nan for c in self.columns_}
        trees = HistGradientBoostingClassifier(
            categorical_features="from_dtype", max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, early_stopping=False, random_state=self.seed)
        self.model_ = CalibratedClassifierCV(trees, method=self.calibration, cv=self.cv)
        with self._threads():
            self.model_.fit(self._encode(feats), y.astype(int))
        self.base_rate_ = float(y.mean())
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("WinProbability is not fitted; call fit(features, won) first")

    def _prepare(self, features: pd.DataFrame) -> pd.DataFrame:
        feats = features.copy()
        for c in self.categorical_:
            if c in feats.columns:
                feats[c] = feats[c].map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
        return self._encode(feats)

    def p_win(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of winning per row."""
        self._check()
        with self._threads():
            return np.asarray(self.model_.predict_proba(self._prepare(features))[:, 1], dtype=float)

    def _raw(self, encoded: pd.DataFrame) -> np.ndarray:
        fits = [c.estimator for c in self.model_.calibrated_classifiers_]
        return np.mean([f.predict_proba(encoded)[:, 1] for f in fits], axis=0)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature: the change in probability the feature's value makes against its reference.

        Before calibration, in probability units (see the module docstring).
        """
        self._check()
        encoded = self._prepare(features)
        n = len(encoded)
        copies = [encoded]
        for c in self.columns_:  # one stacked frame: every occlusion in one prediction per fold model
            ref = encoded.copy()
            ref[c] = pd.Categorical([self.reference_[c]] * n, categories=ref[c].cat.categories) \
                if c in self.categorical_ else self.reference_[c]
            copies.append(ref)
        with self._threads():
            raw = self._raw(pd.concat(copies, ignore_index=True)).reshape(len(copies), n)
        return pd.DataFrame({c: raw[0] - raw[k + 1] for k, c in enumerate(self.columns_)}, index=features.index)

    def reasons(self, features: pd.DataFrame, *, top: int = 3, min_points: float = 1.0) -> pd.Series:
        """The ``top`` features that move each row's probability most, in words with their effect in points.

        Examples
        --------
        See the module docstring.
        """
        contrib = self.contributions(features)
        texts = []
        for (_, row), (_, c) in zip(features.iterrows(), contrib.iterrows(), strict=True):
            order = c.abs().sort_values(ascending=False)
            parts = []
            for name in order.index[:top]:
                points = 100 * c[name]
                if abs(points) < min_points:
                    continue
                parts.append(f"{_describe(name, row[name], row)} ({points:+.0f} points)")
            texts.append("; ".join(parts) if parts else "nothing stands out")
        return pd.Series(texts, index=features.index, dtype=object)


# ------------------------------------------------------------------------------------------------ scores


def brier_decomposition(p: Any, y: Any, bins: int = 10) -> pd.Series:
    """Murphy's decomposition of the Brier score over equal-width bins of the forecast.

    ``brier = reliability - resolution + uncertainty + within_bin``: ``reliability`` is the weighted mean squared
    gap between the mean forecast and the observed share per bin (0 when calibrated), ``resolution`` the
    weighted spread of the bins' observed shares around the overall share (higher is better), ``uncertainty``
    ``o(1 - o)`` of the overall share ``o``; ``within_bin`` is the part the binning leaves (forecasts that vary
    inside a bin; Stephenson, Coelho & Jolliffe 2008). Reference: Murphy (1973), J. Appl. Meteor. 12, 595-600.

    Examples
    --------
    >>> d = brier_decomposition([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], bins=2)
    >>> {k: round(float(v), 4) + 0.0 for k, v in d.items()}  # reliability: (0.5 (0.1 - 0.5)^2 + 0.5 (0.9 - 1)^2)
    {'brier': 0.21, 'reliability': 0.085, 'resolution': 0.0625, 'uncertainty': 0.1875, 'within_bin': 0.0}
    """
    p, y = np.asarray(p, float), np.asarray(y, float)
    brier = brier_score(p, y)
    edges = np.linspace(0, 1, int(bins) + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    o = float(y.mean())
    n = np.bincount(idx, minlength=bins).astype(float)
    used = n > 0
    pbar = np.bincount(idx, weights=p, minlength=bins)[used] / n[used]
    obar = np.bincount(idx, weights=y, minlength=bins)[used] / n[used]
    w = n[used] / len(p)
    rel = float(np.sum(w * (pbar - obar) ** 2))
    res = float(np.sum(w * (obar - o) ** 2))
    unc = o * (1 - o)
    return pd.Series({"brier": brier, "reliability": rel, "resolution": res, "uncertainty": unc,
                      "within_bin": brier - (rel - res + unc)})


def calibration_slope(p: Any, y: Any) -> float:
    """Slope ``b`` of the logistic recalibration ``logit P(won) = a + b logit(p)`` (Cox 1958).

    1 for calibrated forecasts; below 1 when they are too extreme (over-fitted), above 1 when too timid.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(0.05, 0.95, 4000)
    >>> round(calibration_slope(p, rng.random(4000) < p), 1)
    1.0
    """
    import statsmodels.api as sm
    from scipy.special import logit

    p, y = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6), np.asarray(y, float)
    fit = sm.Logit(y, sm.add_constant(logit(p), has_constant="add")).fit(disp=0)
    return float(np.asarray(fit.params)[1])


def score_table(y: Any, probabilities: Mapping[str, Any], *, bins: int = 10) -> pd.DataFrame:
    """Brier score (with its decomposition), log loss, ROC AUC and calibration slope of each model.

    Parameters
    ----------
    y : array-like of 0/1
    probabilities : mapping of model name to array-like
        Forecast probabilities of the same rows.
    bins : int
        Bins of the Brier decomposition.

    Returns
    -------
    DataFrame
        Index model; ``n, brier, reliability, resolution, uncertainty, log_loss, auc, calibration_slope``.
    """
    from sklearn.metrics import log_loss, roc_auc_score

    y = np.asarray(y, float)
    rows = {}
    for name, p in probabilities.items():
        p = np.asarray(p, float)
        d = brier_decomposition(p, y, bins)
        constant = np.ptp(p) < 0.01  # a base rate (constant up to the folds' noise) ranks and recalibrates nothing
        rows[name] = {"n": len(y), "brier": d["brier"], "reliability": d["reliability"],
                      "resolution": d["resolution"], "uncertainty": d["uncertainty"],
                      "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
                      "auc": float(roc_auc_score(y, p)) if not constant else 0.5,
                      "calibration_slope": calibration_slope(p, y) if not constant else np.nan}
    out = pd.DataFrame(rows).T
    out.index.name = "model"
    out["n"] = out["n"].astype(int)
    return out


def paired_bootstrap(y: Any, p_model: Any, p_baseline: Any, *, n_draws: int = 2000, confidence: float = 0.95,
                     seed: int = 0, groups: Any = None) -> pd.Series:
    """Percentile bootstrap interval of ``Brier(baseline) - Brier(model)`` on the same rows.

    Positive: the model is better.
    Rows are resampled with replacement (or whole ``groups``, e.g. deal ids when one deal appears at several
    cuts), and both scores are computed on each resample, so the interval reflects the paired comparison
    (Efron & Tibshirani 1993, ch. 13).

    Returns
    -------
    Series
        ``difference, low, high, n_draws, confidence``.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> p = rng.uniform(0, 1, 2000); y = rng.random(2000) < p
    >>> out = paired_bootstrap(y, p, np.full(2000, y.mean()), n_draws=300)
    >>> bool(out["low"] > 0)
    True
    """
    n_draws = int(check_positive(n_draws, "n_draws", integer=True))
    confidence = check_probability(confidence, "confidence")
    y = np.asarray(y, float)
    a = (np.asarray(p_model, float) - y) ** 2
    b = (np.asarray(p_baseline, float) - y) ** 2
    rng = np.random.default_rng(seed)
    if groups is None:
        codes = np.arange(len(y))
    else:
        codes = pd.factorize(pd.Series(np.asarray(groups)))[0]
    n_groups = int(codes.max()) + 1
    sum_a = np.bincount(codes, weights=a, minlength=n_groups)
    sum_b = np.bincount(codes, weights=b, minlength=n_groups)
    size = np.bincount(codes, minlength=n_groups).astype(float)
    draws = np.empty(n_draws)
    for i in range(n_draws):
        take = rng.integers(0, n_groups, n_groups)
        draws[i] = (sum_b[take].sum() - sum_a[take].sum()) / size[take].sum()
    tail = (1 - confidence) / 2
    return pd.Series({"difference": float(b.mean() - a.mean()), "low": float(np.quantile(draws, tail)),
                      "high": float(np.quantile(draws, 1 - tail)), "n_draws": n_draws, "confidence": confidence})


# ------------------------------------------------------------------------------------------------ on SalesData


@dataclass
class WinProbabilityResult:
    """Result of :func:`deal_win_probability`.

    Attributes
    ----------
    deals : DataFrame
        The deals open at ``as_of``: ``opportunity_id, process, stage, owner, amount, expected_close, p_win,
        reasons``, highest ``p_win`` first.
    model : WinProbability
    training : DataFrame
        The training snapshots with their features and label ``won``.
    usual_days : Series
        Median days in stage per (process, stage) of the training rows.
    as_of : Timestamp
    horizon : Any
        None for P(won ever), else the label horizon.
    dropped : int
        Training snapshots left out because their outcome was not known at ``as_of``.
    """

    deals: pd.DataFrame
    model: WinProbability
    training: pd.DataFrame
    usual_days: pd.Series
    as_of: pd.Timestamp
    horizon: Any = None
    dropped: int = 0
    feature_columns: list[str] = field(default_factory=list)

    def features(self, snapshots: pd.DataFrame) -> pd.DataFrame:
        """The model's features of new snapshots (with the training medians of days in stage)."""
        return deal_features(snapshots, self.usual_days)[self.feature_columns]

    def p_win(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Calibrated win probability of snapshots (rows of :func:`~salesplan.reduce.history.deal_snapshots`)."""
        return self.model.p_win(self.features(snapshots))

    def reasons(self, snapshots: pd.DataFrame, top: int = 3) -> pd.Series:
        """Reasons in words for snapshots."""
        return self.model.reasons(self.features(snapshots), top=top)

    def reliability(self, snapshots: pd.DataFrame, won: Any, bins: int | Sequence[float] = 10) -> pd.DataFrame:
        """Reliability table of the model on labelled snapshots (:func:`salesplan.forecast.reliability`)."""
        return reliability(self.p_win(snapshots), won, bins)

    def plot_reliability(self, snapshots: pd.DataFrame, won: Any, *, ax: Any = None) -> Any:
        """Reliability diagram on labelled snapshots; returns the Axes."""
        from salesplan.plot.forecast import reliability_chart

        ax = reliability_chart(self.reliability(snapshots, won), ax=ax)
        ax.set_xlabel("predicted win probability")
        return ax

    def summary(self) -> pd.DataFrame:
        """The open deals with their probability and reasons."""
        return self.deals

    def _repr_html_(self) -> str:
        return (f"<p><b>Win probability</b> of {len(self.deals)} open deals as of "
                f"{html.escape(str(self.as_of.date()))}</p>" + self.deals.head(20).to_html(index=False, escape=True))


def deal_win_probability(data: Any, *, as_of: Any = None, start: Any = None, freq: str = "M", horizon: Any = None,
                    settle: Any = "180D", calibration: str = "sigmoid", seed: int = 0,
                    model: WinProbability | None = None) -> WinProbabilityResult:
    """Fit the calibrated win-probability model out of time and score the deals open at ``as_of``.

    Parameters
    ----------
    data : SalesData
        ``opportunities``, ``stage_events``; ``opportunity_history`` (strongly advised: without it past
        snapshots use today's amount, close date and owner), ``activities`` and ``customers`` when present.
    as_of : date-like, optional
        The cut whose open deals are scored (default ``data.as_of``). Only data known at it is used.
    start : date-like, optional
        First training cut (default 90 days after the first opportunity).
    freq : {"W", "M", "Q", "Y"}
        Spacing of the training cuts.
    horizon : str or Timedelta, optional
        Predict P(won within horizon of the cut) instead of P(won ever).
    settle : str, Timedelta or DateOffset
        Training cuts end this long before ``as_of`` so that most of their deals have closed by then (read like
        ``horizon``).
    calibration : {"sigmoid", "isotonic"}
        Platt scaling (default) or isotonic regression (see the module docstring).
    seed : int
    model : WinProbability, optional
        An unfitted estimator with other settings.

    Returns
    -------
    WinProbabilityResult

    Raises
    ------
    SchemaError
        Missing tables; no training rows with a known outcome.
    """
    from salesplan.forecast.evaluation import cut_data
    from salesplan.reduce.history import deal_snapshots
    from salesplan.reduce.states import time_span

    if data.opportunities is None or data.stage_events is None:
        raise SchemaError("win_probability needs the opportunities and stage_events tables")
    cut = pd.Timestamp(as_of if as_of is not None else data.as_of)
    known = cut_data(data, cut)
    first, _ = time_span(known.opportunities, "created_at", "opportunities")
    begin = pd.Timestamp(start) if start is not None else first + pd.Timedelta(days=90)
    end = cut - (horizon_end(cut, settle, "settle") - cut)
    if horizon is not None:
        end = min(end, cut - (horizon_end(cut, horizon) - cut))
    dates = training_dates(begin, end, freq)
    if not dates:
        raise SchemaError(f"win_probability: no training cut between {begin.date()} and {end.date()}; "
                          f"give an earlier start or a shorter settle")

    def snaps(when: Sequence[pd.Timestamp]) -> pd.DataFrame:
        return deal_snapshots(known.stage_events, known.processes, known.opportunities, dates=when,
                              history=known.opportunity_history, activities=known.activities,
                              customers=known.customers)

    train = snaps(dates)
    train["won"] = deal_labels(known.stage_events, known.processes, known.opportunities, train, as_of=cut,
                               horizon=horizon).to_numpy()
    dropped = int(train["won"].isna().sum())
    if dropped:
        logger.info("win_probability: %d of %d training snapshots left out: outcome not known at %s", dropped,
                    len(train), cut.date())
    train = train[train["won"].notna()].reset_index(drop=True)
    if train.empty or train["won"].nunique() < 2:
        raise SchemaError("win_probability: the training snapshots need won and lost deals with known outcomes")
    usual = train.groupby(["process", "work_stage"])["days_in_stage"].median()
    feats = deal_features(train, usual)
    columns = [c for c in feats.columns if feats[c].notna().any()]
    estimator = model if model is not None else WinProbability(calibration=calibration, seed=seed)
    estimator.fit(feats[columns], train["won"].to_numpy())
    result = WinProbabilityResult(pd.DataFrame(), estimator, pd.concat([train, feats.add_prefix("x_")], axis=1),
                                  usual, cut, horizon, dropped, columns)
    now = snaps([cut])
    deals = now[["opportunity_id", "process", "work_stage", *[c for c in ("owner", "amount", "expected_close")
                                                               if c in now.columns]]].rename(
        columns={"work_stage": "stage"})
    if len(now):
        deals = deals.assign(p_win=result.p_win(now), reasons=result.reasons(now).to_numpy())
    else:
        deals = deals.assign(p_win=pd.Series(dtype=float), reasons=pd.Series(dtype=object))
    result.deals = deals.sort_values("p_win", ascending=False, kind="stable").reset_index(drop=True)
    return result


def deals_at_risk(deals: pd.DataFrame, start: Any, end: Any, *, threshold: float = 0.5,
                  top: int = 15) -> pd.DataFrame:
    """Open deals expected to close in ``[start, end)`` whose win probability is below ``threshold``.

    Largest amount first (most at stake), at most ``top``.

    Parameters
    ----------
    deals : DataFrame
        ``WinProbabilityResult.deals``: ``opportunity_id, process, stage, p_win, reasons`` and ``amount``,
        ``expected_close``, ``owner`` when known.
    start, end : date-like
        The window of the expected close (a deal without one is kept: it may close any time).
    threshold : float
        Deals below this win probability are at risk.
    top : int
        Rows kept.

    Examples
    --------
    >>> d = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "p_win": [0.2, 0.8, 0.3],
    ...                   "amount": [10.0, 50.0, 30.0], "reasons": ["x", "y", "z"],
    ...                   "expected_close": pd.to_datetime(["2026-01-10", "2026-01-12", "2026-05-01"])})
    >>> deals_at_risk(d, "2026-01-01", "2026-04-01")["opportunity_id"].tolist()
    ['a']
    """
    check_probability(threshold, "threshold")
    out = deals[deals["p_win"] < threshold]
    if "expected_close" in out.columns:
        close = pd.to_datetime(out["expected_close"])
        out = out[close.isna() | ((close >= pd.Timestamp(start)) & (close < pd.Timestamp(end)))]
    order = "amount" if "amount" in out.columns else "p_win"
    out = out.sort_values(order, ascending=order == "p_win", kind="stable").head(int(top))
    cols = [c for c in ("opportunity_id", "process", "owner", "stage", "amount", "expected_close", "p_win",
                        "reasons") if c in out.columns]
    return out[cols].reset_index(drop=True)
