"""The Maven Analytics CRM pipeline (a fictional B2B hardware company): a current-stage snapshot.

``sales_pipeline.csv`` has one row per deal with its *current* stage only (Prospecting, Engaging, Won, Lost), an
``engage_date`` (missing for Prospecting deals) and a ``close_date`` and ``close_value`` (closed deals only).
There is no stage history, so this is not a canonical ``stage_events`` table: :func:`load_maven` returns the
snapshot in its own documented shape, for snapshot-based funnel estimates.

Known defects, repaired and reported by :func:`load_maven`: the product "GTXPro" in the pipeline is "GTX Pro" in
``products.csv``; the sector "technolgy" in ``accounts.csv`` is "technology"; open deals lacking an account
(1,425) are kept with a missing ``customer_id``.

Examples
--------
The data card's counts: 4,238 won, 2,473 lost, 500 + 1,589 open; the three documented defects are reported:

>>> from salesplan.datasets import shared_data_dir
>>> opps, snap, report = load_maven(shared_data_dir("maven-crm-opportunities"))
>>> snap["status"].value_counts().to_dict()
{'won': 4238, 'lost': 2473, 'open': 2089}
>>> report["issue"].value_counts().to_dict()
{'product_name_typo': 1480, 'no_account': 1425, 'sector_typo': 12}
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.io._common import Report
from salesplan.process import SalesProcess
from salesplan.schema import validate

__all__ = ["MAVEN_PROCESS", "MAVEN_STAGES", "load_maven", "SNAPSHOT_COLUMNS"]

logger = logging.getLogger(__name__)

MAVEN_PROCESS = SalesProcess(
    "maven", ["prospecting", "engaging"], won="won", lost="lost",
    description="Maven CRM pipeline: Prospecting > Engaging > Won / Lost.",
)
"""The Maven pipeline as a process: prospecting and engaging, then won or lost."""

MAVEN_STAGES = {"Prospecting": "prospecting", "Engaging": "engaging", "Won": "won", "Lost": "lost"}
"""Maven ``deal_stage`` values mapped onto :data:`MAVEN_PROCESS`."""

SNAPSHOT_COLUMNS = ["opportunity_id", "process", "stage", "status", "engaged_at", "closed_at"]
"""Columns of the snapshot table returned by :func:`load_maven`."""

PRODUCT_FIXES = {"GTXPro": "GTX Pro"}
SECTOR_FIXES = {"technolgy": "technology"}
_FILES = ("sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv")


def load_maven(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Load the Maven CRM pipeline as ``(opportunities, snapshot, report)``.

    Parameters
    ----------
    folder : str or Path
        The folder with ``sales_pipeline.csv``, ``accounts.csv``, ``products.csv`` and ``sales_teams.csv``.

    Returns
    -------
    opportunities : pandas.DataFrame
        One row per deal, canonical names and types: ``opportunity_id``, ``customer_id`` (the account; missing for
        open deals without one), ``process`` (``"maven"``), ``created_at`` (the engage date: missing for
        Prospecting deals, which the export does not date), ``amount`` (``close_value`` of won deals, else
        missing), ``owner`` (sales agent), ``manager``, ``regional_office``, ``product``, ``series``,
        ``list_price`` (the product's sales price), ``sector``, ``account_revenue`` (million USD),
        ``employees``, ``year_established``, ``office_location``, ``subsidiary_of``, ``close_value`` (as
        exported: 0 for lost deals). Because of the two documented gaps it is not a fully valid canonical table;
        every other rule is checked.
    snapshot : pandas.DataFrame
        One row per deal with what is known of its stage (:data:`SNAPSHOT_COLUMNS`): ``stage`` (current stage of
        :data:`MAVEN_PROCESS`), ``status`` (``open``, ``won``, ``lost``), ``engaged_at`` (entry into
        ``engaging``; missing for Prospecting deals), ``closed_at`` (entry into ``won``/``lost``; missing for open
        deals). ``snapshot.attrs["as_of"]`` is the data cut, the latest date in the file (2017-12-31).
    report : pandas.DataFrame
        Rows repaired (product and sector typos) or kept despite a problem (open deals without an account).

    Raises
    ------
    ConfigError
        A file is missing.
    SchemaError
        The pipeline breaks a rule beyond the documented gaps (unknown stage, duplicate id, bad date, ...).
    """
    folder = Path(folder)
    for name in _FILES:
        if not (folder / name).exists():
            raise ConfigError(f"{folder / name}: file not found (expected the Maven CRM files in {folder})")
    report = Report("maven", logger)
    pipe = pd.read_csv(folder / "sales_pipeline.csv", dtype={"opportunity_id": str, "account": str})
    accounts = pd.read_csv(folder / "accounts.csv", dtype={"account": str})
    products = pd.read_csv(folder / "products.csv")
    teams = pd.read_csv(folder / "sales_teams.csv")

    typo = pipe["product"].isin(list(PRODUCT_FIXES))
    report.add("opportunities", pipe.loc[typo, "opportunity_id"], "product", "product_name_typo", "repaired",
               pipe.loc[typo, "product"] + " -> " + pipe.loc[typo, "product"].map(PRODUCT_FIXES),
               why="pipeline product names that differ from products.csv")
    pipe["product"] = pipe["product"].replace(PRODUCT_FIXES)
    sector_typo = accounts["sector"].isin(list(SECTOR_FIXES))
    report.add("accounts", accounts.loc[sector_typo, "account"], "sector", "sector_typo", "repaired",
               accounts.loc[sector_typo, "sector"] + " -> " + accounts.loc[sector_typo, "sector"].map(SECTOR_FIXES),
               why="misspelt sector names")
    accounts = accounts.assign(sector=accounts["sector"].replace(SECTOR_FIXES))

    unknown_stage = ~pipe["deal_stage"].isin(list(MAVEN_STAGES))
    if unknown_stage.any():
        raise SchemaError.from_cases(
            {"table": "opportunities", "column": "deal_stage", "check": "known_stage", "key": k, "value": v}
            for k, v in zip(pipe.loc[unknown_stage, "opportunity_id"], pipe.loc[unknown_stage, "deal_stage"],
                            strict=True))
    stage = pipe["deal_stage"].map(MAVEN_STAGES)
    is_open = ~stage.isin([MAVEN_PROCESS.won, MAVEN_PROCESS.lost])
    no_account = pipe["account"].isna()
    report.add("opportunities", pipe.loc[no_account, "opportunity_id"], "customer_id", "no_account", "kept",
               pipe.loc[no_account, "deal_stage"], why="open deals without an account keep a missing customer_id")

    opps = pipe.rename(columns={"account": "customer_id", "engage_date": "created_at", "sales_agent": "owner"})
    opps = opps.assign(process=MAVEN_PROCESS.name,
                       amount=pipe["close_value"].where(stage == MAVEN_PROCESS.won))
    opps = opps.merge(teams, left_on="owner", right_on="sales_agent", how="left").drop(columns="sales_agent")
    opps = opps.merge(products.rename(columns={"sales_price": "list_price"}), on="product", how="left")
    opps = opps.merge(accounts.rename(columns={"account": "customer_id", "revenue": "account_revenue"}),
                      on="customer_id", how="left")
    opps = opps.drop(columns=["deal_stage", "close_date"])
    checked = validate(opps, "opportunities", processes={MAVEN_PROCESS.name: MAVEN_PROCESS}, raise_errors=False)
    cases = checked.attrs.pop("failure_cases", None)
    if cases is not None:
        gap = (cases["check"] == "not_null") & (
            ((cases["column"] == "created_at") & cases["key"].isin(pipe.loc[stage == "prospecting",
                                                                             "opportunity_id"]))
            | ((cases["column"] == "customer_id") & cases["key"].isin(pipe.loc[no_account & is_open,
                                                                               "opportunity_id"])))
        if not gap.all():
            raise SchemaError.from_cases(cases.loc[~gap])
    dates = pipe[["engage_date", "close_date"]].apply(pd.to_datetime, format="mixed")
    snapshot = pd.DataFrame({
        "opportunity_id": checked["opportunity_id"], "process": MAVEN_PROCESS.name, "stage": stage,
        "status": stage.where(~is_open, "open"), "engaged_at": dates["engage_date"].astype("datetime64[ns]"),
        "closed_at": dates["close_date"].astype("datetime64[ns]")})
    snapshot.attrs["as_of"] = max(snapshot["engaged_at"].max(), snapshot["closed_at"].max())
    return checked, snapshot, report.frame()
