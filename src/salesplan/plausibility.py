"""Plausibility checks: a figure compared with the data it comes from, flagged with the reason when they disagree.

Each check takes a computed figure and the data behind it and returns :class:`Flag` s (figure, process, value,
reference, reason), each also logged at WARNING, so that an implausible figure is never shown without comment.
:attr:`salesplan.Analysis.flags` collects them for the control report, which lists them in its data-quality
section.

Checks
    :func:`check_expected_value`
        An expected value above the customer's whole wallet; a process whose expected value exceeds the revenue
        of all customers in the last year; a rule whose probability is 1 for every customer (the expected value
        then equals the potential and says nothing about the chance of success).
    :func:`check_wallet`
        Customers who spend more per year than their whole wallet (share of wallet capped at 1).
    :func:`check_rules`
        An assignment rule that assigns no one because a column it needs is missing or empty.
    :func:`check_mix`
        A mix that puts every contract into one process, with the reason (the cheapest option's bound covers the
        total, so a linear cost fills it alone).
    :func:`check_backtest`
        A backtest with too few forecasts to judge interval coverage (``confidence ** n >= significance``: all
        ``n`` inside the interval is then likely even when the level holds), or coverage far from the level.

Examples
--------
>>> import pandas as pd
>>> seg = pd.DataFrame({"wallet": [100.0, 50.0]}, index=pd.Index(["a", "b"], name="customer_id"))
>>> asg = pd.DataFrame({"customer_id": ["a", "b"], "process": "delivery_rate", "potential": [200.0, 10.0],
...                     "expected_value": [150.0, 5.0]})
>>> [f.reason for f in check_expected_value(asg, seg)]
['1 customer(s) with an expected value above their whole wallet (largest a: 150 against a wallet of 100)']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Flag", "flags_table", "check_expected_value", "check_wallet", "check_rules", "check_mix", "check_backtest",
           "forecasts_needed"]

logger = logging.getLogger(__name__)

ALL = "(all)"


@dataclass(frozen=True)
class Flag:
    """One implausible figure: what it is, its value, what it was compared with and why it is flagged.

    Attributes
    ----------
    figure : str
        The figure (``"expected value"``, ``"process assignment"``, ``"mix"``, ``"backtest coverage"``).
    process : str
        The sales process it belongs to, or ``"(all)"``.
    value : float
        The figure's value.
    reference : float
        The value from the data it was compared with (NaN when there is none).
    reason : str
        Why it is implausible, in words a reader can act on.

    Examples
    --------
    >>> Flag("mix", "retention", 200.0, 200.0, "all contracts in one process").message
    'mix (retention): all contracts in one process'
    >>> Flag("share of wallet", "(all)", 2.0, 1.0, "spend above the wallet").message  # no process named
    'share of wallet: spend above the wallet'
    """

    figure: str
    process: str
    value: float
    reference: float
    reason: str

    @property
    def message(self) -> str:
        """``figure (process): reason``, the line of the data-quality table (``figure: reason`` for all processes)."""
        if self.process == ALL:
            return f"{self.figure}: {self.reason}"
        return f"{self.figure} ({self.process}): {self.reason}"


def _flag(figure: str, process: str, value: float, reference: float, reason: str) -> Flag:
    flag = Flag(figure, str(process), float(value), float(reference), reason)
    logger.warning("implausible %s", flag.message)
    return flag


def flags_table(flags: Iterable[Flag]) -> pd.DataFrame:
    """The flags as a table: ``figure, process, value, reference, reason``.

    Examples
    --------
    >>> flags_table([Flag("mix", "retention", 1.0, 1.0, "why")]).columns.tolist()
    ['figure', 'process', 'value', 'reference', 'reason']
    """
    return pd.DataFrame([asdict(f) for f in flags], columns=["figure", "process", "value", "reference", "reason"])


# ------------------------------------------------------------------------------------------- segments
def check_expected_value(assignment: pd.DataFrame, segments: pd.DataFrame, *, revenue: float | None = None,
                         rtol: float = 1e-3) -> list[Flag]:
    """Expected values of the process assignment against the wallets and the revenue they come from.

    Parameters
    ----------
    assignment : DataFrame
        :func:`salesplan.segment.assign_processes` output (``customer_id``, ``process``, ``potential``,
        ``expected_value``).
    segments : DataFrame
        :func:`salesplan.segment.customer_segments` output, indexed by customer id (``wallet`` is used).
    revenue : float, optional
        Revenue of all customers in the last year (the reference for a process total).
    rtol : float
        A process whose expected value is at least ``1 - rtol`` of its potential is flagged (probability about
        1: in notebook 01, P(alive) is 0.998 or more for every customer).

    Returns
    -------
    list of Flag
        Per process: customers whose expected value is above their whole wallet (value: the largest expected
        value among them, reference: that customer's wallet; a customer spending more than the wallet counts
        its annual spend as the wallet, :func:`check_wallet` flags that contradiction); a total expected value
        above ``revenue``; a total expected value equal to the total potential (two or more customers).

    Examples
    --------
    >>> seg = pd.DataFrame({"wallet": [1e6, 1e6]}, index=pd.Index(["a", "b"], name="customer_id"))
    >>> asg = pd.DataFrame({"customer_id": ["a", "b"], "process": "x", "potential": [5e5, 3e5],
    ...                     "expected_value": [4e5, 2e5]})
    >>> [(f.value, f.reference) for f in check_expected_value(asg, seg, revenue=5e5)]
    [(600000.0, 500000.0)]
    >>> check_expected_value(asg, seg, revenue=1e6)
    []
    """
    flags: list[Flag] = []
    if assignment is None or not len(assignment):
        return flags
    def column(name: str) -> np.ndarray:
        if name not in segments.columns:
            return np.full(len(assignment), np.nan)
        return pd.to_numeric(segments[name], errors="coerce").reindex(assignment["customer_id"]).to_numpy()

    # a customer spending more than the wallet is flagged by check_wallet; its value is bounded by its spend
    frame = assignment.assign(_wallet=np.fmax(column("wallet"), column("annual_spend")))
    for process, grp in frame.groupby("process", sort=False):
        ev = grp["expected_value"].astype(float)
        over = grp[(ev > grp["_wallet"]) & (grp["_wallet"] > 0)]
        if len(over):
            top = over.loc[over["expected_value"].idxmax()]
            flags.append(_flag("expected value", process, top["expected_value"], top["_wallet"],
                               f"{len(over)} customer(s) with an expected value above their whole wallet (largest "
                               f"{top['customer_id']}: {top['expected_value']:,.0f} against a wallet of "
                               f"{top['_wallet']:,.0f})"))
        total = float(ev.sum())
        if revenue is not None and np.isfinite(revenue) and revenue > 0 and total > revenue:
            flags.append(_flag("expected value", process, total, revenue,
                               f"the expected value of the process, {total:,.0f}, is above the revenue of all "
                               f"customers in the last year, {revenue:,.0f}"))
        potential = float(grp["potential"].astype(float).sum())
        if len(grp) >= 2 and potential > 0 and total >= (1 - rtol) * potential:
            flags.append(_flag("expected value", process, total, potential,
                               f"the expected value is {total / potential:.2%} of the potential over the "
                               f"{len(grp)} customers: the rule's probability is about 1 for each (e.g. P(alive) "
                               "when the purchase model sees no drop-out), so nothing discounts the value for the "
                               "chance of success"))
    return flags


def check_wallet(segments: pd.DataFrame) -> list[Flag]:
    """Customers who spend more per year than their whole wallet (their share of wallet is shown as 1).

    Either the wallet (``customers.potential`` or its estimate) is too low or the annual spend is extrapolated
    from a short tenure; the flag names how many, and the largest gap. Value: that customer's annual spend;
    reference: its wallet.

    Examples
    --------
    >>> seg = pd.DataFrame({"annual_spend": [50.0, 300.0], "wallet": [100.0, 120.0], "basis": "potential"},
    ...                    index=pd.Index(["a", "b"], name="customer_id"))
    >>> [(f.value, f.reference) for f in check_wallet(seg)]
    [(300.0, 120.0)]
    """
    if not {"annual_spend", "wallet"} <= set(segments.columns):
        return []
    spend = pd.to_numeric(segments["annual_spend"], errors="coerce")
    wallet = pd.to_numeric(segments["wallet"], errors="coerce")
    over = (spend > wallet) & (wallet > 0)
    if not over.any():
        return []
    gap = (spend - wallet)[over]
    top = gap.idxmax()
    basis = ", ".join(sorted(set(segments.loc[over, "basis"].astype(str)))) if "basis" in segments.columns else ""
    return [_flag("share of wallet", ALL, float(spend[top]), float(wallet[top]),
                  f"{int(over.sum())} customer(s) spend more per year than their wallet ({basis or 'wallet'}), so "
                  f"their share of wallet is capped at 1 (largest {top}: annual spend {spend[top]:,.0f} against a "
                  f"wallet of {wallet[top]:,.0f}); the wallet is too low or the spend is annualised from a short "
                  "tenure")]


def check_rules(segments: pd.DataFrame, rules: Sequence[Any] | None = None, *,
                processes: Iterable[str] | None = None) -> list[Flag]:
    """Assignment rules that assign no one because a column they need is missing or has no values.

    Parameters
    ----------
    segments : DataFrame
        The segment table the rules run on.
    rules : sequence of AssignmentRule, optional
        Default :data:`salesplan.segment.DEFAULT_RULES`.
    processes : iterable of str, optional
        Check only the rules of these processes.

    Returns
    -------
    list of Flag
        One per such rule: value 0 (customers assigned), reference the customers in the table.

    Examples
    --------
    >>> seg = pd.DataFrame({"has_orders": [True], "p_alive": [0.9]})
    >>> [f.reason for f in check_rules(seg, processes=["cross_selling"])]
    ["the rule assigns no one: column(s) ['cross_sell_score'] missing from the segment table"]
    """
    from salesplan.segment.assign import DEFAULT_RULES

    keep = None if processes is None else set(processes)
    flags: list[Flag] = []
    columns = {str(c) for c in segments.columns}
    for rule in DEFAULT_RULES if rules is None else rules:
        if keep is not None and rule.process not in keep:
            continue
        names = set(rule.requires) | set().union(*(rule.expression(n).names for n in ("when", "potential",
                                                                                     "probability")))
        missing = sorted(c for c in rule.requires if c not in columns)
        if missing:
            flags.append(_flag("process assignment", rule.process, 0, len(segments),
                               f"the rule assigns no one: column(s) {missing} missing from the segment table"))
            continue
        empty = sorted(c for c in names if c in columns and segments[c].isna().all())
        if not empty:
            continue
        try:
            hits = int(pd.Series(rule.expression("when").evaluate(segments)).fillna(False).astype(bool).sum())
        except Exception:  # noqa: BLE001 - assign_processes reports a failing rule itself
            continue
        if hits == 0:
            flags.append(_flag("process assignment", rule.process, 0, len(segments),
                               f"the rule assigns no one: column(s) {empty} have no values"))
    return flags


# ----------------------------------------------------------------------------------------------- plan
def check_mix(mix: pd.DataFrame) -> list[Flag]:
    """A mix (:func:`salesplan.plan.optimise_mix`) that puts every contract into one process, with the reason.

    The mix minimises a linear cost, so the cheapest option is filled up to its bound before any other is used;
    when that bound covers the total, every contract lands in one process. That is the optimum of the inputs,
    not a balanced plan: the flag names the option, its effort per contract against the next cheapest one and
    the bound that did not stop it.

    Examples
    --------
    >>> mix = pd.DataFrame({"process": ["a", "b"], "hours_per_contract": [6.0, 15.0], "upper_bound": [212.0, 65.0],
    ...                     "contracts": [200, 0]})
    >>> check_mix(mix)[0].reason.split(":")[0]
    'all 200 contracts in a'
    >>> check_mix(mix.assign(contracts=[150, 50]))
    []
    """
    if mix is None or len(mix) < 2 or "contracts" not in mix.columns:
        return []
    contracts = mix["contracts"].astype(float)
    total = float(contracts.sum())
    used = contracts > 0
    bounds = mix["upper_bound"].astype(float) if "upper_bound" in mix.columns else pd.Series(np.inf, mix.index)
    others = ~used & (bounds > 0)
    if total <= 0 or used.sum() != 1 or not others.any():
        return []
    col = mix.attrs.get("effort_column", "hours_per_contract")
    where = mix.loc[used].iloc[0]
    name = str(where["process"]) + (f" / {where['segment']}" if "segment" in mix.columns
                                    and str(where["segment"]) not in ("", "all", ALL, "nan") else "")
    effort = ""
    if col in mix.columns:
        rest = mix.loc[others].sort_values(col, kind="stable").iloc[0]
        effort = (f"it has the lowest {col} ({float(where[col]):,.2f}; next {rest['process']} at "
                  f"{float(rest[col]):,.2f}) and ")
    return [_flag("mix", str(where["process"]), total, total,
                  f"all {total:,.0f} contracts in {name}: {effort}its bound ({float(bounds[used].iloc[0]):,.0f}) "
                  "covers the total, so the least-effort mix uses no other process; this is the optimum of the "
                  "inputs, not a balanced plan (bound the option with max_contracts or fewer "
                  "entries_per_customer to spread the contracts)")]


# ------------------------------------------------------------------------------------------- forecast
def forecasts_needed(confidence: float, significance: float = 0.05) -> int:
    """Forecasts needed before interval coverage can be judged against ``confidence``.

    The smallest ``n`` with ``confidence ** n < significance``: with fewer, all ``n`` actuals inside their
    intervals is likely even when the level holds, so a perfect coverage proves nothing.

    Examples
    --------
    >>> forecasts_needed(0.8), forecasts_needed(0.9)
    (14, 29)
    """
    return int(math.floor(math.log(significance) / math.log(confidence))) + 1


def check_backtest(result: Any, *, significance: float = 0.05) -> list[Flag]:
    """Whether a backtest (:func:`salesplan.forecast.backtest`) can judge the coverage of its intervals.

    Per method other than the naive baselines: flags too few forecasts (fewer than :func:`forecasts_needed`),
    and, with enough, a coverage that differs from the stated level at ``significance`` (two-sided binomial
    test). Value: the coverage; reference: the level.

    Examples
    --------
    >>> from salesplan.forecast.backtest import BacktestResult
    >>> f = pd.DataFrame({"origin": [1, 2, 3], "method": "ets", "covered": True})
    >>> check_backtest(BacktestResult(f, 0.9))[0].reason.split(":")[0]
    '3 one-step forecasts from 3 origins cannot judge a 90% interval'
    """
    from scipy import stats

    from salesplan.forecast.backtest import BASELINES

    f = result.forecasts
    level = float(result.confidence)
    need = forecasts_needed(level, significance)
    flags: list[Flag] = []
    methods = [m for m in f["method"].unique() if m not in BASELINES] or list(f["method"].unique())
    for method in methods:
        rows = f[f["method"] == method]
        n, k = len(rows), int(rows["covered"].sum())
        coverage = k / n if n else float("nan")
        steps = "one-step " if "step" not in rows.columns or rows["step"].max() == 1 else ""
        if n < need:
            flags.append(_flag("backtest coverage", ALL, coverage, level,
                               f"{n} {steps}forecasts from {rows['origin'].nunique()} origins cannot judge a "
                               f"{level:.0%} interval: all {n} fall inside with probability {level ** n:.2f} even "
                               f"when the level holds; {need} or more are needed ({method}: coverage "
                               f"{coverage:.2f})"))
            continue
        p = stats.binomtest(k, n, level).pvalue
        if p < significance:
            flags.append(_flag("backtest coverage", ALL, coverage, level,
                               f"{method}: {k} of {n} actuals inside the {level:.0%} intervals, coverage "
                               f"{coverage:.2f} differs from the level (binomial test p = {p:.3f}): the intervals "
                               f"are too {'narrow' if coverage < level else 'wide'}"))
    return flags
