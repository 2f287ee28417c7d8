"""Benchmark: the calibrated win probability per deal against its baselines, out of sample.

Three data sets, the same scores (``salesplan.forecast.score_table``: Brier score with reliability / resolution /
uncertainty, log loss, ROC AUC, calibration slope) and, per baseline, a paired-bootstrap 95% interval of
``Brier(baseline) - Brier(model)`` (positive: the model is better; ``salesplan.forecast.paired_bootstrap``).

* **Simulator, out of time.** ``simulate(n_customers=100, years=3, seed=--seed, creation_scale=2)``; the model
  is fitted on what was known 270 days before the cut (``deal_win_probability(cut_data(data, train_end))``:
  monthly snapshots from the deal history) and scored on the deals open at every month end after ``train_end``,
  labelled with the simulator's true final outcome (won ever). Baselines: the base rate of the training rows, the
  stage probability (the training rows' win rate per process and stage, as a CRM's stage probability), and the
  logistic drivers (``salesplan.funnel.drivers`` fitted at ``train_end`` on ``segment``: the censored funnel's
  P(win | stage, days in stage) shifted by the odds ratios). Bootstrap clusters: deals (one deal is open at
  several month ends).
* **IBM sales win/loss** (78,025 rows, 55 exact duplicates dropped), stratified 5-fold cross-validation (no
  usable dates). Left out as known only at the close or leaking the outcome: ``Elapsed Days In Sales Stage``,
  ``Sales Stage Change Count``, ``Total Days Identified Through Closing``, ``Total Days Identified Through
  Qualified``, the three ``Ratio Days ... To Total Days`` columns; ``Opportunity Number`` is an id.
* **X Education leads** (9,240), stratified 5-fold CV. Left out: ``Tags``, ``Lead Quality``, ``Last Activity``,
  ``Last Notable Activity`` (recorded by the sales team during or after the contact), and the ids.

For the remaining columns the script prints how each was checked: its out-of-fold single-column AUC (the win rate
of its level, or of its decile for numbers, learnt on the other folds) and the share of missing values; a column
whose AUC alone is near 1 would be a leak. Baselines on the real data: base rate and a logistic regression
(one-hot categories, standardised numbers with median imputation and a missing flag, L2 with C=1).

Usage: ``nice .venv/bin/python benchmarks/bench_win_probability.py [--only sim,ibm,xedu] [--draws 2000]``
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np
import pandas as pd

from salesplan.datasets import shared_data_dir, simulate
from salesplan.forecast import paired_bootstrap, score_table
from salesplan.forecast.evaluation import cut_data
from salesplan.forecast.win_probability import WinProbability, deal_win_probability, training_dates
from salesplan.funnel import drivers
from salesplan.reduce.history import deal_snapshots

IBM_LEAKS = ["Elapsed Days In Sales Stage", "Sales Stage Change Count", "Total Days Identified Through Closing",
             "Total Days Identified Through Qualified", "Ratio Days Identified To Total Days",
             "Ratio Days Validated To Total Days", "Ratio Days Qualified To Total Days"]
XEDU_LEAKS = ["Tags", "Lead Quality", "Last Activity", "Last Notable Activity"]


def show(title: str, y: np.ndarray, probs: dict[str, np.ndarray], draws: int, groups: np.ndarray | None = None
         ) -> None:
    print(f"\n== {title}: {len(y)} rows, share won {y.mean():.3f}")
    table = score_table(y, probs)
    print(table.round(4).to_string())
    for name in probs:
        if name == "model":
            continue
        b = paired_bootstrap(y, probs["model"], probs[name], n_draws=draws, groups=groups)
        verdict = "model better" if b["low"] > 0 else "model worse" if b["high"] < 0 else "no clear difference"
        print(f"  Brier({name}) - Brier(model) = {b['difference']:.4f}  95% [{b['low']:.4f}, {b['high']:.4f}]"
              f"  -> {verdict}")


def simulator(seed: int, draws: int) -> None:
    t0 = time.perf_counter()
    data, truth = simulate(n_customers=100, years=3, seed=seed, creation_scale=2)
    train_end = data.as_of - pd.Timedelta(days=270)
    known = cut_data(data, train_end)
    result = deal_win_probability(known, model=WinProbability(n_threads=1))
    dates = training_dates(train_end + pd.Timedelta(days=1), data.as_of - pd.Timedelta(days=1))
    snaps = deal_snapshots(data.stage_events, data.processes, data.opportunities, dates=dates,
                           history=data.opportunity_history, activities=data.activities, customers=data.customers)
    outcome = truth.outcomes.set_index("opportunity_id")["outcome"]
    y = snaps["opportunity_id"].map(outcome).isin([p.won for p in data.processes.values()]).to_numpy(float)
    train = result.training
    stage_rate = train.groupby(["process", "work_stage"])["won"].mean()
    p_stage = pd.Series(list(zip(snaps["process"], snaps["work_stage"], strict=True))).map(stage_rate)
    p_stage = p_stage.fillna(train["won"].mean()).to_numpy()
    logit = drivers(known.stage_events, known.processes, known.opportunities, ["segment"], as_of=train_end)
    p_logit = np.full(len(snaps), np.nan)
    for (proc, stage), g in snaps.groupby(["process", "work_stage"]):
        p_logit[g.index] = logit.p_win(proc, stage, g["days_in_stage"].to_numpy(), g)
    p_logit = np.where(np.isnan(p_logit), p_stage, p_logit)
    probs = {"model": result.p_win(snaps), "base_rate": np.full(len(y), train["won"].mean()),
             "stage_probability": p_stage, "logistic_drivers": np.clip(p_logit, 1e-6, 1 - 1e-6)}
    show(f"simulator (seed {seed}), out of time: trained on {len(train)} snapshots to {train_end.date()}, "
         f"tested on {len(dates)} month ends", y, probs, draws, groups=snaps["opportunity_id"].to_numpy())
    print("  top reasons of the 3 deals most at risk among the largest open deals at the training cut:")
    top = result.deals.nlargest(20, "amount").nsmallest(3, "p_win")
    for row in top.itertuples():
        print(f"    {row.opportunity_id} {row.stage} p_win {row.p_win:.2f}: {row.reasons}")
    print(f"  ({time.perf_counter() - t0:.0f} s)")


def column_checks(frame: pd.DataFrame, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Out-of-fold single-column AUC and missing share of each column."""
    from sklearn.metrics import roc_auc_score

    rows = []
    for col in frame.columns:
        x = frame[col]
        if pd.api.types.is_numeric_dtype(x) and x.nunique() > 12:
            x = pd.qcut(x.rank(method="first"), 10, labels=False).astype(float)
        key = x.astype(str)
        oof = np.empty(len(y))
        for tr, te in folds:
            rate = pd.Series(y[tr]).groupby(key.iloc[tr].to_numpy()).mean()
            oof[te] = key.iloc[te].map(rate).fillna(y[tr].mean()).to_numpy()
        rows.append({"column": col, "levels": int(frame[col].nunique()), "missing": float(frame[col].isna().mean()),
                     "auc_alone": float(roc_auc_score(y, oof))})
    return pd.DataFrame(rows).sort_values("auc_alone", ascending=False)


def cross_validated(name: str, frame: pd.DataFrame, y: np.ndarray, draws: int, seed: int) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    t0 = time.perf_counter()
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(frame, y))
    checks = column_checks(frame, y, folds)
    print(f"\n-- {name}: columns used, checked by their out-of-fold AUC alone (a leak would be near 1):")
    print(checks.round(3).to_string(index=False))
    cats = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    nums = [c for c in frame.columns if c not in cats]
    logistic = make_pipeline(
        ColumnTransformer([
            ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                                  OneHotEncoder(handle_unknown="ignore", min_frequency=20)), cats),
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), nums)]),
        LogisticRegression(C=1.0, max_iter=2000))
    p_model, p_logit, p_base = (np.empty(len(y)) for _ in range(3))
    for tr, te in folds:
        model = WinProbability(n_threads=1, seed=seed).fit(frame.iloc[tr], y[tr])
        p_model[te] = model.p_win(frame.iloc[te])
        p_logit[te] = logistic.fit(frame.iloc[tr], y[tr]).predict_proba(frame.iloc[te])[:, 1]
        p_base[te] = y[tr].mean()
    show(f"{name}, stratified 5-fold CV", y, {"model": p_model, "base_rate": p_base, "logistic": p_logit}, draws)
    print(f"  ({time.perf_counter() - t0:.0f} s)")


def ibm(draws: int, seed: int) -> None:
    raw = pd.read_csv(shared_data_dir("ibm-sales-win-loss") / "WA_Fn-UseC_-Sales-Win-Loss.csv",
                      keep_default_na=False, na_values=[""])  # "None" is a Competitor Type, not missing
    dup = int(raw.duplicated().sum())
    raw = raw.drop_duplicates().reset_index(drop=True)
    print(f"\nIBM sales win/loss: {len(raw) + dup} rows, {dup} exact duplicates dropped")
    y = (raw["Opportunity Result"] == "Won").to_numpy(float)
    frame = raw.drop(columns=["Opportunity Number", "Opportunity Result", *IBM_LEAKS])
    cross_validated("IBM sales win/loss", frame, y, draws, seed)


def xedu(draws: int, seed: int) -> None:
    raw = pd.read_csv(shared_data_dir("x-education-leads") / "Leads.csv")
    raw = raw.loc[:, ~raw.columns.str.startswith("Unnamed")]  # the empty 38th column of the trailing commas
    y = raw["Converted"].to_numpy(float)
    frame = raw.drop(columns=["Prospect ID", "Lead Number", "Converted", *XEDU_LEAKS])
    frame = frame.replace("Select", np.nan)  # "Select" means not answered
    cross_validated("X Education leads", frame, y, draws, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="sim,ibm,xedu")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average {os.getloadavg()[0]:.1f}")
    parts = set(args.only.split(","))
    if "sim" in parts:
        simulator(args.seed, args.draws)
    if "xedu" in parts:
        xedu(args.draws, args.seed)
    if "ibm" in parts:
        ibm(args.draws, args.seed)


if __name__ == "__main__":
    main()
