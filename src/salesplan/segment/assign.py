"""Which customers go into which sales process: the segment table, assignment rules and their summary.

The seed idea: first decide whether customers are to be won (acquisition) or developed; differentiate the existing
ones by value; then decide per group what is to be achieved (stabilise, cross-sell, raise the delivery rate,
introduce a new product).

:func:`customer_segments` builds one row per customer (and prospect) with everything the rules need: value class
(ABC on CLV), RFM segment, P(alive), expected purchases, CLV, wallet and share of wallet, best cross-selling
product, and for prospects a *resemblance* score: the probability, from a logistic regression on the customer
attributes, that a customer with these attributes is an A customer.

:func:`assign_processes` applies :class:`AssignmentRule` s (expressions in the package's own small grammar,
:mod:`salesplan.expressions`, configurable in code or TOML via :func:`load_rules`; a rule is data and never runs
code) and returns customer -> process with a priority, a potential (value at stake) and an
expected value (potential times a probability). :func:`assignment_summary` counts customers, potential and expected
value per process and value class: the input of the planning step.

Default rules (:data:`DEFAULT_RULES`, first match wins when ``exclusive``)
    1. ``retention``: A/B customers at risk (``p_alive < 0.7``); potential = annual spend, expected value =
       annual spend x (1 - p_alive) (the revenue at risk).
    2. ``delivery_rate``: A/B customers alive (``p_alive >= 0.5``) whose share of wallet is below the typical
       share (the median share of wallet of the buyers, ``typical_share``); potential = the spend a typical share
       would add, ``wallet x (typical_share - share_of_wallet)``, expected value = potential x p_alive. (Not the
       whole open wallet: no process wins a customer's entire remaining wallet in a year, and the open wallet of a
       customer with a small share is many times its spend, so it overstated the value ten-fold; see
       :mod:`salesplan.plausibility`.)
    3. ``new_product``: A customers, ``p_alive >= 0.8`` (loyal pilot customers); potential = 10% of annual spend.
    4. ``cross_selling``: customers alive with a cross-selling score >= 0.1; potential = annual spend per product
       owned, expected value = potential x score. Needs the ``cross_sell_score`` column, which
       :func:`customer_segments` derives from the orders' ``product`` column (or takes from ``cross_sell``).
    5. ``acquisition``: prospects (no orders) with resemblance >= 0.2; potential = wallet x typical share of
       wallet, expected value = potential x resemblance.

Examples
--------
>>> import pandas as pd
>>> seg = pd.DataFrame({"has_orders": [True, True, False], "value_class": ["A", "C", None],
...                     "p_alive": [0.4, 0.9, float("nan")], "annual_spend": [1000.0, 50.0, 0.0],
...                     "share_of_wallet": [0.8, 0.1, 0.0], "open_wallet": [250.0, 450.0, 9000.0],
...                     "wallet": [1250.0, 500.0, 9000.0], "resemblance": [float("nan")] * 2 + [0.5],
...                     "typical_share": [0.3] * 3, "n_products": [2, 1, 0]},
...                    index=pd.Index(["a", "b", "p"], name="customer_id"))
>>> a = assign_processes(seg)
>>> a[["customer_id", "process", "expected_value"]].to_dict("records")
[{'customer_id': 'a', 'process': 'retention', 'expected_value': 600.0}, {'customer_id': 'p', 'process': 'acquisition', 'expected_value': 1350.0}]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesplan._toml import read_toml
from salesplan._validation import check_horizon, horizon_days
from salesplan.engines import release_memory
from salesplan.errors import ConfigError, ParameterError, SchemaError
from salesplan.expressions import Expression, parse_expression

__all__ = ["AssignmentRule", "DEFAULT_RULES", "load_rules", "customer_segments", "assign_processes",
           "assignment_summary"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssignmentRule:
    """One rule: which customers (``when``) go into ``process``, with what value.

    Parameters
    ----------
    process : str
        Process name (e.g. one of the default processes).
    when : str
        Condition on the segment table (:mod:`salesplan.expressions` grammar: columns, numbers, strings,
        comparisons, ``in [...]``, ``and``/``or``/``not``, arithmetic, ``abs``, ``log``, ``min``, ``max``, ...).
    potential : str
        Expression in the same grammar: the value at stake per customer.
    probability : str
        Expression in [0, 1]; ``expected_value = potential * probability``.
    priority : int
        Lower = more important; with ``exclusive`` a customer gets the matching rule of lowest priority.
    requires : tuple of str
        Columns the rule needs; when one is missing from the table the rule is skipped (logged at WARNING and
        flagged by :func:`salesplan.plausibility.check_rules`), not an error.
    description : str
        Free text.

    Examples
    --------
    >>> AssignmentRule("retention", when="p_alive < 0.5", potential="annual_spend").priority
    1
    """

    process: str
    when: str
    potential: str
    probability: str = "1"
    priority: int = 1
    requires: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("process", "when", "potential", "probability"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"assignment rule {self.process!r}: {name} must be a non-empty string, "
                                  f"got {value!r}")
        for name in ("when", "potential", "probability"):
            self.expression(name)  # refused here, when the rule is made or loaded, if not in the grammar
        object.__setattr__(self, "requires", tuple(self.requires))

    def expression(self, name: str) -> Expression:
        """The parsed ``when``, ``potential`` or ``probability`` expression."""
        return parse_expression(getattr(self, name), f"assignment rule {self.process!r} ({name})")


#: The default rules (see the module docstring).
DEFAULT_RULES: tuple[AssignmentRule, ...] = (
    AssignmentRule("retention", "has_orders and value_class in ['A', 'B'] and p_alive < 0.7", "annual_spend",
                   "1 - p_alive", 1, (), "valuable customers at risk of lapsing: stabilise the relationship"),
    AssignmentRule("delivery_rate", "has_orders and value_class in ['A', 'B'] and p_alive >= 0.5 and "
                   "share_of_wallet < typical_share", "wallet * (typical_share - share_of_wallet)", "p_alive", 2,
                   ("typical_share",),
                   "valuable active customers with a low share of wallet: raise the delivery rate"),
    AssignmentRule("new_product", "has_orders and value_class == 'A' and p_alive >= 0.8", "0.1 * annual_spend",
                   "p_alive", 3, (), "loyal top customers: pilot customers for new products"),
    AssignmentRule("cross_selling", "has_orders and p_alive >= 0.5 and cross_sell_score >= 0.1",
                   "annual_spend / max(n_products, 1)", "cross_sell_score", 4, ("cross_sell_score",),
                   "active customers likely to buy a further product"),
    AssignmentRule("acquisition", "not has_orders and resemblance >= 0.2", "wallet * typical_share", "resemblance",
                   5, ("resemblance",), "prospects resembling high-value customers"),
)


def load_rules(source: str | Path | Mapping[str, Any]) -> tuple[AssignmentRule, ...]:
    """Read rules from a TOML file (or a parsed mapping) with one ``[[rules]]`` table per rule.

    Examples
    --------
    >>> text = '''
    ... [[rules]]
    ... process = "retention"
    ... when = "p_alive < 0.5"
    ... potential = "annual_spend"
    ... '''
    >>> import tomllib
    >>> load_rules(tomllib.loads(text))[0].process
    'retention'
    """
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        data = read_toml(source)
    entries = data.get("rules")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("assignment rules: expected a non-empty list of [[rules]] tables")
    allowed = set(AssignmentRule.__dataclass_fields__)
    rules = []
    for i, entry in enumerate(entries):
        unknown = set(entry) - allowed
        if unknown:
            raise ConfigError(f"assignment rule #{i + 1}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}")
        try:
            rules.append(AssignmentRule(**entry))
        except TypeError as exc:
            raise ConfigError(f"assignment rule #{i + 1}: {exc}") from exc
        except ConfigError as exc:
            raise ConfigError(f"assignment rule #{i + 1}: {exc}") from None
    return tuple(rules)


def rules_to_dict(rules: Iterable[AssignmentRule]) -> dict[str, list[dict[str, Any]]]:
    """Rules as a mapping ready for ``tomli_w.dumps`` (the inverse of :func:`load_rules`)."""
    return {"rules": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(r).items()} for r in rules]}


def _resemblance(table: pd.DataFrame, customers: pd.DataFrame | None, features: Sequence[str]) -> pd.Series:
    """P(A customer | attributes) from a logistic regression fitted on existing customers."""
    from sklearn.linear_model import LogisticRegression

    base = float((table.loc[table["has_orders"], "value_class"] == "A").mean())
    if customers is None:
        return pd.Series(base, index=table.index)
    attrs = customers.drop_duplicates("customer_id").set_index("customer_id").reindex(table.index)
    cols = [c for c in features if c in attrs.columns]
    design = pd.get_dummies(attrs[cols].astype(object).fillna("unknown").astype(str), dtype=float) if cols else \
        pd.DataFrame(index=attrs.index)
    if "potential" in attrs.columns:
        design["log_potential"] = np.log1p(pd.to_numeric(attrs["potential"], errors="coerce").fillna(0.0))
    known = table["has_orders"].to_numpy()
    y = (table["value_class"] == "A").to_numpy()[known]
    if design.shape[1] == 0 or y.all() or not y.any():
        logger.info("customer_segments: no attributes to score prospects; resemblance = share of A customers")
        return pd.Series(base, index=table.index)
    model = LogisticRegression(max_iter=2000)
    x = design.to_numpy()
    mu, sd = x[known].mean(axis=0), x[known].std(axis=0)
    sd[sd == 0] = 1.0
    model.fit((x[known] - mu) / sd, y)
    return pd.Series(model.predict_proba((x - mu) / sd)[:, 1], index=table.index)


def customer_segments(
    orders: Any,
    customers: pd.DataFrame | None = None,
    *,
    as_of: Any = None,
    value: str = "clv",
    thresholds: Sequence[float] = (0.8, 0.95),
    horizon: Any = "365D",
    discount_rate: float = 0.01,
    cross_sell: pd.DataFrame | bool | None = None,
    features: Sequence[str] = ("industry", "size", "region"),
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per customer (and prospect) with value, RFM, CLV, wallet and cross-selling columns.

    Steps: :func:`~salesplan.reduce.customers.customer_summary` (daily periods), BG/NBD and Gamma-Gamma fitted on
    distinct patterns, P(alive), expected purchases within ``horizon`` (``"365D"``; an offset such as ``"12MS"``
    counts from ``as_of``), 12-month CLV (monthly discount ``discount_rate``), ABC on ``value``, RFM, :func:`~salesplan.segment.wallet.share_of_wallet`, resemblance of
    prospects to A customers, the best cross-selling product (from :meth:`CrossSell.score` output).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``. Prospects have ``has_orders`` False, no value class and NaN model columns.
        ``attrs`` hold the fitted models (``purchase_model``, ``spend_model``).

    Other parameters: ``columns`` maps the orders' own column names to ``customer_id``, ``order_date``,
    ``amount``, ``product`` (``{"their name": "canonical name"}``). ``cross_sell``: scores from
    :meth:`CrossSell.score`; by default (None) they are derived from the orders by
    :func:`~salesplan.segment.cross_sell.recent_cross_sell` on the last ``horizon`` (at most half the order
    history), so the cross-selling rule has its column; ``False`` leaves the cross-selling columns out.

    Raises
    ------
    ConvergenceError
        When the CLV models cannot be fitted (e.g. all customers one-time buyers); use ``value="revenue"``...
        the error says why.
    """
    from salesplan.reduce.customers import customer_patterns, customer_summary, purchase_span
    from salesplan.segment.abc import abc_classes
    from salesplan.segment.clv import BetaGeo, GammaGamma, customer_lifetime_value
    from salesplan.segment.rfm import rfm_scores
    from salesplan.segment.wallet import share_of_wallet

    check_horizon(horizon)
    if not (cross_sell is None or isinstance(cross_sell, (bool, pd.DataFrame))):
        raise ParameterError(f"customer_segments: cross_sell must be a DataFrame of scores, None or False, got "
                             f"{type(cross_sell).__name__}")
    as_of, first_purchase = purchase_span(orders, as_of=as_of, columns=columns)
    # The steps that read every order line run first and one after another, each while Python holds little
    # (on DuckDB each fills the engine's memory_limit): the cross-selling scores, reduced at once to one row
    # per customer, then the BG/NBD patterns, then the per-customer summary.
    best = None
    if cross_sell is None or cross_sell is True:
        cross_sell = _derived_cross_sell(orders, as_of, first_purchase, horizon, columns)
    if isinstance(cross_sell, pd.DataFrame):
        best = cross_sell.sort_values("score", ascending=False, kind="stable").drop_duplicates("customer_id")
        best = best.set_index("customer_id")[["product", "score"]]
        del cross_sell
        release_memory()
    pat = customer_patterns(orders, as_of=as_of, columns=columns)
    summary = customer_summary(orders, as_of=as_of, columns=columns)
    bg = BetaGeo().fit(pat["frequency"], pat["recency"], pat["T"], weights=pat["weight"])
    gg = GammaGamma().fit(summary["frequency"], summary["monetary_value"])
    x, tx, t, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    table = summary.copy()
    table["p_alive"] = bg.probability_alive(x, tx, t)
    table["expected_purchases"] = bg.expected_purchases(horizon_days(summary.attrs["as_of"], horizon), x, tx, t)
    table["expected_spend"] = gg.expected_spend(x, m)
    table["clv"] = customer_lifetime_value(bg, gg, x, tx, t, m, n_steps=12, step=30,
                                           discount_rate=discount_rate)
    if value not in table.columns:
        raise SchemaError(f"customer_segments: value column {value!r} unknown; use one of {list(table.columns)}")
    abc = abc_classes(table[value].clip(lower=0), thresholds=thresholds)
    table["value_class"] = abc["abc_class"]
    table["value_rank"] = abc["rank"]
    rfm = rfm_scores(table)
    table[["r_score", "f_score", "m_score", "rfm_segment"]] = rfm[["r_score", "f_score", "m_score", "segment"]]
    wallet = share_of_wallet(summary, customers, as_of=summary.attrs["as_of"], features=features)
    table = table.reindex(wallet.index)
    for col in wallet.columns:
        table[col] = wallet[col]
    if "n_products" not in table.columns:
        table["n_products"] = table["frequency"] + 1
    table["n_products"] = table["n_products"].fillna(0)
    owners = table["has_orders"] & (table["share_of_wallet"] > 0)
    table["typical_share"] = float(table.loc[owners, "share_of_wallet"].median()) if owners.any() else 0.0
    table["resemblance"] = _resemblance(table, customers, features).where(~table["has_orders"])
    if best is not None:
        table["cross_sell_product"] = best["product"].reindex(table.index)
        table["cross_sell_score"] = best["score"].reindex(table.index)
    table.index.name = "customer_id"
    table.attrs.update(purchase_model=bg, spend_model=gg, as_of=summary.attrs["as_of"], value=value)
    return table


def _derived_cross_sell(orders: Any, as_of: pd.Timestamp, first_purchase: pd.Timestamp | None, horizon: Any,
                        columns: Mapping[str, str] | None) -> pd.DataFrame | None:
    """Cross-selling scores from the last ``horizon`` of the orders, at most half of the order history.

    The window is capped so the features at its start have a history too
    (:func:`~salesplan.segment.cross_sell.recent_cross_sell`).
    """
    from salesplan.segment.cross_sell import recent_cross_sell

    history = (as_of - first_purchase).days if first_purchase is not None else 0
    days = int(min(horizon_days(as_of, horizon), history // 2))
    if days < 30:
        logger.warning("cross-selling scores not derived: %d day(s) of order history, need at least 60 "
                       "(the cross-selling rule will assign no one)", history)
        return None
    return recent_cross_sell(orders, as_of=as_of, start=as_of - pd.Timedelta(days=days), columns=columns)


def assign_processes(
    segments: pd.DataFrame,
    rules: Sequence[AssignmentRule] | str | Path | None = None,
    *,
    exclusive: bool = True,
) -> pd.DataFrame:
    """Apply assignment rules to the segment table.

    Parameters
    ----------
    segments : DataFrame
        From :func:`customer_segments` (or any per-customer table with the columns the rules use).
    rules : sequence of AssignmentRule, or a TOML path
        Default :data:`DEFAULT_RULES`.
    exclusive : bool
        True: each customer gets the matching rule with the lowest priority number (ties: rule order).
        False: one row per matching rule.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``process``, ``priority``, ``value_class``, ``potential``, ``expected_value``,
        ``rank`` (1 = highest expected value within the process), ``rule`` (description); sorted by priority and
        rank.

    Raises
    ------
    ConfigError
        A rule expression that fails on the table (names the rule and the pandas error).
    """
    if rules is None:
        rules = DEFAULT_RULES
    elif isinstance(rules, str | Path):
        rules = load_rules(rules)
    frame = segments.reset_index()
    if "customer_id" not in frame.columns:
        frame = frame.rename(columns={frame.columns[0]: "customer_id"})
    if "value_class" not in frame.columns:
        frame["value_class"] = None
    parts = []
    order = sorted(range(len(rules)), key=lambda i: (rules[i].priority, i))
    for i in order:
        rule = rules[i]
        missing = [c for c in rule.requires if c not in frame.columns]
        if missing:
            logger.warning("assign_processes: rule %r assigns no one: column(s) %s not in the segment table",
                           rule.process, missing)
            continue
        for name in ("when", "potential", "probability"):
            rule.expression(name).check_columns(frame.columns)
        mask = _broadcast(rule.expression("when").evaluate(frame), frame.index)
        hit = frame.loc[mask.astype(bool)]
        potential = _numbers(rule, "potential", hit)
        prob = _numbers(rule, "probability", hit)
        part = pd.DataFrame({"customer_id": hit["customer_id"].to_numpy(), "process": rule.process,
                             "priority": rule.priority, "value_class": hit["value_class"].to_numpy(),
                             "potential": potential.to_numpy(), "expected_value": (potential * prob.clip(0, 1))
                             .to_numpy(), "rule": rule.description or rule.when})
        parts.append(part)
    cols = ["customer_id", "process", "priority", "value_class", "potential", "expected_value", "rank", "rule"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    if exclusive:
        out = out.drop_duplicates("customer_id", keep="first")
    out["rank"] = out.groupby("process")["expected_value"].rank(method="first", ascending=False).astype(int)
    out = out.sort_values(["priority", "rank"], kind="stable").reset_index(drop=True)
    return out[cols]


def _broadcast(value: Any, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.reindex(index)
    return pd.Series(value, index=index)


def _numbers(rule: AssignmentRule, name: str, hit: pd.DataFrame) -> pd.Series:
    """A rule's numeric expression on the matching rows, as float (a ConfigError names rule and expression)."""
    if not len(hit):
        return pd.Series(dtype=float)
    value = _broadcast(rule.expression(name).evaluate(hit), hit.index)
    try:
        return value.astype(float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"assignment rule {rule.process!r} ({name}): {getattr(rule, name)!r} is not a number on "
                          f"the segment table ({exc})") from None


def assignment_summary(assignments: pd.DataFrame) -> pd.DataFrame:
    """Customers, potential and expected value per process and value class (plus an ``"all"`` class per process).

    Examples
    --------
    >>> a = pd.DataFrame({"customer_id": ["a", "b", "c"], "process": ["retention"] * 2 + ["acquisition"],
    ...                   "value_class": ["A", "B", None], "potential": [10.0, 5.0, 7.0],
    ...                   "expected_value": [4.0, 1.0, 2.0]})
    >>> int(assignment_summary(a).loc[("retention", "all"), "customers"])
    2
    """
    frame = assignments.assign(value_class=assignments["value_class"].fillna("prospect"))
    agg = {"customers": ("customer_id", "nunique"), "potential": ("potential", "sum"),
           "expected_value": ("expected_value", "sum")}
    by_class = frame.groupby(["process", "value_class"]).agg(**agg)
    total = frame.groupby("process").agg(**agg)
    total.index = pd.MultiIndex.from_arrays([total.index, ["all"] * len(total)], names=["process", "value_class"])
    return pd.concat([by_class, total]).sort_index()
