"""Benchmark: transaction summary + BG/NBD + Gamma-Gamma + CLV for 1M customers, salesplan vs peers.

Usage::

    nice .venv/bin/python benchmarks/bench_clv.py [--customers 1000000] [--skip-lifetimes] [--skip-pymc]
        [--engine polars|pandas] [--pymc-priors both|default|flat] [--no-install]

Creates ``benchmarks/data/clv_<n>.parquet`` (synthetic BG/NBD + Gamma-Gamma orders, daily dates) once, then runs
on that same file, one after another:

* salesplan (this environment): ``clv_summary`` through narwhals on an in-memory Polars frame (``--engine pandas``:
  a pandas frame), read before the clock starts just as the peers read theirs into pandas first; it computes the
  same frequency/recency/T/monetary_value as the peers' summaries and nothing else. Then ``BetaGeo`` and
  ``GammaGamma`` fits (BG/NBD on distinct patterns, internally) and ``customer_lifetime_value``. The summary from a lazy
  Parquet scan (reading included) is timed separately and printed, not counted; so is the first ``summary()`` of
  both fits, where salesplan computes standard errors (lifetimes computes its Hessian inside ``fit``, so a ratio
  with them counted is printed too);
* lifetimes 0.11.3 in ``benchmarks/_venv_lifetimes`` (numpy 1.26.4, pandas 2.1.4), via subprocess;
* pymc-marketing in ``benchmarks/_venv_pymc`` (``rfm_summary``, MAP fits of ``BetaGeoModel`` and
  ``GammaGammaModel``; no CLV step), via subprocess, twice: with its default priors (row ``pymc-marketing``; their
  MAP differs from the maximum-likelihood estimate by ~2e-4) and with HalfFlat priors on the BG/NBD parameters
  (row ``pymc (flat)``; its Gamma-Gamma default is HalfFlat already), whose MAP is the maximum-likelihood estimate
  the other tools compute, so the parameters can be compared (``--pymc-priors default|flat`` runs one of them).

Peers that are not installed are created with pip unless ``--no-install``; a peer that fails is reported, not fatal.
Prints a table of times and ratios (total and per step), the parameter agreement (max relative difference) and
the load average before and after each tool, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PEERS = {
    "lifetimes": (HERE / "_venv_lifetimes", ["numpy==1.26.4", "pandas==2.1.4", "lifetimes==0.11.3", "pyarrow<16"]),
    "pymc": (HERE / "_venv_pymc", ["pymc-marketing==0.19.2", "pyarrow"]),
}


def make_data(n: int, path: Path, seed: int = 42) -> None:
    """BG/NBD purchases (per day) over 3 years, first purchases spread over the first 2 years."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2021-01-01")
    horizon = 3 * 365
    birth = rng.integers(0, 2 * 365, n)
    lam = rng.gamma(0.9, 1 / 45.0, n)
    p = rng.beta(0.6, 6.0, n)
    nu = rng.gamma(4.0, 1 / 150.0, n)
    ids, days = [np.arange(n)], [birth.astype(float)]
    t = birth.astype(float)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        nxt = t[idx] + rng.exponential(1 / lam[idx])
        ok = nxt < horizon
        won = idx[ok]
        ids.append(won)
        days.append(nxt[ok])
        t[won] = nxt[ok]
        active[idx[~ok]] = False
        active[won] = rng.random(len(won)) >= p[won]
    cid = np.concatenate(ids)
    day = np.floor(np.concatenate(days)).astype("int64")
    amount = np.round(rng.gamma(6.0, 1 / nu[cid]), 2)
    frame = pd.DataFrame({"customer_id": cid, "date": start + day.astype("timedelta64[D]"), "amount": amount})
    frame["date"] = frame["date"].astype("datetime64[us]")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def run_salesplan(path: Path, as_of: str, engine: str = "polars") -> dict:
    """Our pipeline, timed like the peers: the file is read into memory first (they time from a pandas frame)."""
    import polars as pl

    from salesplan.reduce.customers import clv_summary
    from salesplan.segment.clv import BetaGeo, GammaGamma, customer_lifetime_value

    frame = pl.read_parquet(path) if engine == "polars" else pd.read_parquet(path)
    times = {}
    t0 = time.perf_counter()
    s = clv_summary(frame, as_of=as_of, columns={"date": "order_date"})
    times["summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bg = BetaGeo().fit(s["frequency"], s["recency"], s["T"])  # compresses to distinct (x, t_x, T) itself
    times["bgnbd_fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    repeat = s[s["frequency"] > 0]
    gg = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    times["gg_fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    clv = customer_lifetime_value(bg, gg, s["frequency"], s["recency"], s["T"], s["monetary_value"], n_steps=12,
                                  step=30, discount_rate=0.01)
    times["clv"] = time.perf_counter() - t0
    # not counted in the total: salesplan computes standard errors on first use, while lifetimes computes its
    # Hessian inside fit() (pymc's MAP has none); timed here so both comparisons can be made
    t0 = time.perf_counter()
    bg.summary(), gg.summary()
    standard_errors = time.perf_counter() - t0
    del frame
    t0 = time.perf_counter()
    clv_summary(pl.scan_parquet(path), as_of=as_of, columns={"date": "order_date"})
    scan = time.perf_counter() - t0
    return {"times": times, "params": {**bg.params_.to_dict(), **gg.params_.to_dict()},
            "n_customers": len(s), "patterns": int(bg.summary().attrs["patterns"]), "clv_sum": float(np.sum(clv)),
            "clv_head": [float(v) for v in clv[:5]], "summary_from_parquet_scan": scan,
            "standard_errors": standard_errors}


LIFETIMES = """
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
path, as_of = sys.argv[1], sys.argv[2]
df = pd.read_parquet(path)
df["date"] = df["date"].astype("datetime64[ns]")
times = {}
t0 = time.perf_counter()
s = summary_data_from_transaction_data(df, "customer_id", "date", "amount", observation_period_end=as_of, freq="D")
times["summary"] = time.perf_counter() - t0
t0 = time.perf_counter()
bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
times["bgnbd_fit"] = time.perf_counter() - t0
r = s[s["frequency"] > 0]
t0 = time.perf_counter()
gg = GammaGammaFitter().fit(r["frequency"], r["monetary_value"])
times["gg_fit"] = time.perf_counter() - t0
bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # 0.11.3 lacks the alias its CLV calls
t0 = time.perf_counter()
clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"], time=12,
                                 discount_rate=0.01, freq="D")
times["clv"] = time.perf_counter() - t0
print(json.dumps({"times": times, "params": {**bg.params_.to_dict(), **gg.params_.to_dict()},
                  "n_customers": len(s), "clv_sum": float(clv.sum()), "clv_head": clv.head().tolist()}))
"""

PYMC = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
from pymc_marketing.clv.utils import rfm_summary
from pymc_extras.prior import Prior
path, as_of, priors = sys.argv[1], sys.argv[2], sys.argv[3]
# "flat": HalfFlat priors on r, alpha, a, b (its Gamma-Gamma default is HalfFlat already), so that the MAP is the
# maximum-likelihood estimate every other tool computes; "default": pymc-marketing's own priors
bg_config = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")} if priors == "flat" else None
df = pd.read_parquet(path)
df["date"] = df["date"].astype("datetime64[ns]")
times = {}
t0 = time.perf_counter()
s = rfm_summary(df, "customer_id", "date", "amount", observation_period_end=as_of, time_unit="D")
times["summary"] = time.perf_counter() - t0
t0 = time.perf_counter()
bg = BetaGeoModel(data=s[["customer_id", "frequency", "recency", "T"]], model_config=bg_config)
bg.fit(method="map")
times["bgnbd_fit"] = time.perf_counter() - t0
params = {k: float(bg.fit_result[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")}
r = s[s["frequency"] > 0]
try:
    t0 = time.perf_counter()
    gg = GammaGammaModel(data=r[["customer_id", "frequency", "monetary_value"]])
    gg.fit(method="map")
    times["gg_fit"] = time.perf_counter() - t0
    params.update({k: float(gg.fit_result[k].values.ravel()[0]) for k in ("p", "q", "v")})
except Exception as exc:  # report, do not fail
    params["gg_error"] = repr(exc)[:200]
print(json.dumps({"times": times, "params": params, "n_customers": len(s)}))
"""


def ensure_peer(name: str, install: bool) -> Path | None:
    venv, pkgs = PEERS[name]
    py = venv / "bin" / "python"
    if py.exists():
        return py
    if not install:
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *pkgs], check=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  could not install {name}: {exc}")
        return None
    return py


def run_peer(name: str, code: str, path: Path, as_of: str, install: bool, *extra: str) -> dict | None:
    py = ensure_peer(name, install)
    if py is None:
        print(f"  {name}: not installed, skipped")
        return None
    script = DATA / f"_bench_{name}.py"
    script.write_text(textwrap.dedent(code))
    t0 = time.perf_counter()
    proc = subprocess.run([str(py), str(script), str(path), as_of, *extra], capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"  {name} failed after {wall:.1f} s:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument("--skip-pymc", action="store_true")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--engine", choices=["polars", "pandas"], default="polars",
                        help="in-memory frame salesplan's summary runs on (the peers always use pandas)")
    parser.add_argument("--pymc-priors", choices=["both", "default", "flat"], default="both",
                        help="pymc-marketing BG/NBD priors: its defaults, flat (MAP = MLE, comparable parameters) "
                             "or both, one run each")
    args = parser.parse_args()
    path = DATA / f"clv_{args.customers}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        make_data(args.customers, path)
        print(f"generated {path.name} in {time.perf_counter() - t0:.1f} s")
    n_rows = pd.read_parquet(path, columns=["amount"]).shape[0]
    as_of = "2023-12-31"
    print(f"data: {args.customers:,} customers, {n_rows:,} transactions, daily periods, as_of {as_of}; "
          f"salesplan summary on an in-memory {args.engine} frame")
    loads = {}
    load0 = os.getloadavg()[0]
    results = {"salesplan": run_salesplan(path, as_of, args.engine)}
    loads["salesplan"] = (load0, os.getloadavg()[0])
    if not args.skip_lifetimes:
        load0 = os.getloadavg()[0]
        results["lifetimes"] = run_peer("lifetimes", LIFETIMES, path, as_of, not args.no_install)
        loads["lifetimes"] = (load0, os.getloadavg()[0])
    for priors in [] if args.skip_pymc else ["default", "flat"] if args.pymc_priors == "both" else [args.pymc_priors]:
        label = "pymc-marketing" if priors == "default" else "pymc (flat)"
        load0 = os.getloadavg()[0]
        results[label] = run_peer("pymc", PYMC, path, as_of, not args.no_install, priors)
        loads[label] = (load0, os.getloadavg()[0])
    steps = ["summary", "bgnbd_fit", "gg_fit", "clv"]
    ours = results["salesplan"]
    print(f"\nsalesplan: {ours['n_customers']:,} customers in {ours['patterns']:,} distinct (x, t_x, T) patterns; "
          f"summary from a lazy Parquet scan (reading included) {ours['summary_from_parquet_scan']:.2f} s; "
          f"standard errors of both fits (first summary(), not in the total) {ours['standard_errors']:.2f} s")
    header = (f"{'tool':16s}" + "".join(f"{s:>11s}" for s in steps) + f"{'total':>11s}{'ratio':>9s}"
              f"{'load 1-min (start/end)':>26s}")
    print(header)
    base = sum(ours["times"].values())
    for tool, res in results.items():
        if res is None:
            print(f"{tool:16s}  (not measured)")
            continue
        row = [res["times"].get(s, float("nan")) for s in steps]
        total = float(np.nansum(row))
        # ratio: the peer's total against our whole pipeline (all four steps, even where the peer has fewer);
        # "same steps" compares only the steps the peer ran
        ours_same = sum(ours["times"][s] for s, v in zip(steps, row, strict=True) if np.isfinite(v))
        res["total"], res["ratio"], res["ratio_same_steps"] = total, total / base, total / ours_same
        res["load"] = loads.get(tool)
        load = loads.get(tool, (float("nan"), float("nan")))
        print(f"{tool:16s}" + "".join(f"{v:11.2f}" for v in row) + f"{total:11.2f}{total / base:8.1f}x"
              f"{load[0]:13.2f} / {load[1]:.2f}")
        if tool != "salesplan":
            per_step = ", ".join(f"{s} {v / ours['times'][s]:.1f}x" for s, v in zip(steps, row, strict=True)
                                 if np.isfinite(v))
            with_se = total / (base + ours["standard_errors"])
            print(f"{'':16s} per step: {per_step}; same steps {total / ours_same:.1f}x; "
                  f"with our standard errors counted {with_se:.1f}x")
    print(f"(ratio = peer total / salesplan total of all four steps; {os.cpu_count()} cores)")
    print("\nparameters:")
    for tool, res in results.items():
        if res is None:
            continue
        params = {k: v for k, v in res["params"].items() if isinstance(v, float)}
        rel = {k: abs(v / ours["params"][k] - 1) for k, v in params.items() if k in ours["params"]}
        shown = ", ".join(f"{k}={v:.6g}" for k, v in params.items())
        extra = f"  max rel diff vs salesplan {max(rel.values()):.2e}" if rel and tool != "salesplan" else ""
        print(f"  {tool:16s} {shown}{extra}")
        if "clv_sum" in res:
            print(f"  {'':16s} CLV sum {res['clv_sum']:,.2f}; first five {np.round(res['clv_head'], 4).tolist()}")
        if "gg_error" in res["params"]:
            print(f"  {'':16s} Gamma-Gamma MAP failed: {res['params']['gg_error']}")
    (DATA / "bench_clv_results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
