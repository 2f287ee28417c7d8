"""The Olist marketing funnel (a real, anonymised B2B seller-acquisition funnel) as canonical tables.

The public Olist "Marketing Funnel" data has two files: ``olist_marketing_qualified_leads_dataset.csv`` (8,000
marketing-qualified leads, MQLs: ``mql_id, first_contact_date, landing_page_id, origin``) and
``olist_closed_deals_dataset.csv`` (842 won deals: ``mql_id, seller_id, sdr_id, sr_id, won_date,
business_segment, lead_type, ...``). It has two stages only and no loss dates: a lead not won by the data cut is
lost or still open, which is a censoring problem for the funnel estimators, not for the loader.

Counted on the files: exactly one deal (``mql_id`` b91cf881...) is won before its first contact (won
2018-03-06 19:38:55, first contact 2018-03-08; the data card says two); 33 more are won on the day of first
contact, which is consistent because first contacts carry no time of day.

The closed deals cover wins from 2017-12-05 only, while the MQLs start on 2017-06-14: the leads of the first
months have no win recorded before December 2017 (whether they were won earlier is not in the data). A funnel
cut early in that history sees too few wins (cut 2018-02-01: stage rate 0.03 against the 10.5% of the whole
data), so the loader says so (logged at WARNING with both dates). The data also record no loss: estimate the funnel
with ``stale_after_days`` (a stay open that long counts as lost), or every open lead counts as a future win.

Examples
--------
The 8,000 MQLs and 842 won deals of the data card; the one deal won before its first contact is reported:

>>> from salesplan.datasets import shared_data_dir
>>> opps, events, report = load_olist(shared_data_dir("olist-marketing-funnel"))
>>> len(opps), events["stage"].value_counts().to_dict(), report["issue"].tolist()
(8000, {'mql': 8000, 'won': 842}, ['won_before_first_contact'])
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import pandas as pd

from salesplan.errors import ConfigError, SchemaError
from salesplan.io._common import Report
from salesplan.parse import parse_dates, parse_numbers
from salesplan.process import SalesProcess
from salesplan.schema import validate

__all__ = ["OLIST_PROCESS", "load_olist", "MQL_FILE", "DEALS_FILE"]

logger = logging.getLogger(__name__)

MQL_FILE = "olist_marketing_qualified_leads_dataset.csv"
DEALS_FILE = "olist_closed_deals_dataset.csv"

OLIST_PROCESS = SalesProcess(
    "olist", ["mql"], won="won", lost="lost",
    description="Olist seller acquisition: a marketing-qualified lead (MQL) is contacted and won as a seller.",
)
"""The two-stage Olist process: ``mql`` is the only working stage, then ``won`` (losses are not recorded)."""


def load_olist(
    folder: str | Path,
    *,
    bad_win_dates: Literal["clamp", "drop", "raise"] = "clamp",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Load the Olist marketing funnel as ``(opportunities, stage_events, report)``.

    Each MQL is one opportunity of process ``"olist"`` (and its own customer: the prospective seller), created at
    ``first_contact_date``, with ``origin`` and ``landing_page_id``; won deals add ``seller_id``, ``sdr_id`` and
    ``sr_id`` (``owner`` is the closing sales rep, ``sr_id``), ``business_segment``, ``lead_type``,
    ``lead_behaviour_profile``, ``business_type`` and the other deal columns. Stage events: ``mql`` at the first
    contact, ``won`` at ``won_date``.

    Parameters
    ----------
    folder : str or Path
        The folder holding the two CSV files.
    bad_win_dates : {"clamp", "drop", "raise"}
        What to do with deals won before their first contact. ``"clamp"`` (default) dates the win at the first
        contact (zero days to close); ``"drop"`` removes the lead and its deal; ``"raise"`` raises a
        :class:`~salesplan.SchemaError` (check ``after_created``). Either way such deals are listed in the report
        (issue ``won_before_first_contact``) and logged at WARNING.

    Returns
    -------
    opportunities, stage_events : pandas.DataFrame
        Validated canonical tables (8,000 opportunities and 8,842 events with the default ``"clamp"``).
    report : pandas.DataFrame
        What was repaired or dropped (columns ``source, table, key, column, issue, action, value``).

    Raises
    ------
    ConfigError
        A file is missing or ``bad_win_dates`` is not one of the three options.
    SchemaError
        A deal names an unknown MQL, or a file breaks validation, or ``bad_win_dates="raise"`` finds a bad date.
    """
    if bad_win_dates not in ("clamp", "drop", "raise"):
        raise ConfigError(f"bad_win_dates must be 'clamp', 'drop' or 'raise', got {bad_win_dates!r}")
    folder = Path(folder)
    paths = {name: folder / name for name in (MQL_FILE, DEALS_FILE)}
    for path in paths.values():
        if not path.exists():
            raise ConfigError(f"{path}: file not found (expected the Olist marketing funnel CSV files in {folder})")
    report = Report("olist", logger)
    mql = pd.read_csv(paths[MQL_FILE], dtype=str)
    deals = pd.read_csv(paths[DEALS_FILE], dtype=str, keep_default_na=True)
    procs = {OLIST_PROCESS.name: OLIST_PROCESS}

    opps = validate(mql.assign(customer_id=mql["mql_id"], process=OLIST_PROCESS.name), "opportunities",
                    {"mql_id": "opportunity_id", "first_contact_date": "created_at"}, processes=procs)
    won = parse_dates(deals["won_date"], "won_date", "closed deals")  # one reading for the column, never per value
    if won.bad.any():
        raise SchemaError.from_cases(
            {"table": "stage_events", "column": "won_date", "check": "date", "key": k, "value": v}
            for k, v in zip(deals.loc[won.bad, "mql_id"], deals.loc[won.bad, "won_date"], strict=True))
    revenue = parse_numbers(deals["declared_monthly_revenue"], "declared_monthly_revenue", "closed deals")
    unread = revenue.bad | revenue.mixed_currency
    report.add("opportunities", deals.loc[unread, "mql_id"], "declared_monthly_revenue", "not_a_number",
               "set missing", deals.loc[unread, "declared_monthly_revenue"], why="an attribute, not a required value")
    deals = deals.assign(won_date=won.values,
                         declared_monthly_revenue=revenue.values.where(~unread.to_numpy(), float("nan")))
    orphan = ~deals["mql_id"].isin(opps["opportunity_id"])
    if orphan.any():
        raise SchemaError.from_cases(
            {"table": "opportunities", "column": "mql_id", "check": "known_opportunity", "key": k, "value": k}
            for k in deals.loc[orphan, "mql_id"])

    created = deals["mql_id"].map(opps.set_index("opportunity_id")["created_at"])
    early = deals["won_date"] < created
    if early.any():
        shown = (deals.loc[early, "won_date"].astype(str) + " < first contact " + created[early].astype(str))
        if bad_win_dates == "raise":
            raise SchemaError.from_cases(
                {"table": "stage_events", "column": "entered_at", "check": "after_created", "key": k, "value": v}
                for k, v in zip(deals.loc[early, "mql_id"], shown, strict=True))
        action = "repaired" if bad_win_dates == "clamp" else "dropped"
        report.add("stage_events", deals.loc[early, "mql_id"], "won_date", "won_before_first_contact", action,
                   shown, why="won dated at first contact" if action == "repaired" else "lead and deal removed")
        if bad_win_dates == "clamp":
            deals.loc[early, "won_date"] = created[early]
        else:
            dropped = set(deals.loc[early, "mql_id"])
            deals = deals.loc[~early]
            opps = opps.loc[~opps["opportunity_id"].isin(dropped)].reset_index(drop=True)

    attrs = deals.drop(columns=["won_date"]).rename(columns={"mql_id": "opportunity_id"})
    attrs["owner"] = attrs["sr_id"]
    opps = opps.merge(attrs, on="opportunity_id", how="left", validate="one_to_one")
    events = pd.concat([
        pd.DataFrame({"opportunity_id": opps["opportunity_id"], "stage": "mql", "entered_at": opps["created_at"]}),
        pd.DataFrame({"opportunity_id": deals["mql_id"], "stage": OLIST_PROCESS.won,
                      "entered_at": deals["won_date"]}),
    ], ignore_index=True)
    events = validate(events, "stage_events", processes=procs, opportunities=opps)
    opps = validate(opps, "opportunities", processes=procs)
    logger.info("olist: %d MQLs, %d won", len(opps), int((events["stage"] == OLIST_PROCESS.won).sum()))
    first_mql, first_win = opps["created_at"].min(), deals["won_date"].min()
    if pd.notna(first_win) and first_win - first_mql > pd.Timedelta(days=90):
        logger.warning("olist: wins are recorded from %s only, MQLs from %s: the leads of the months before have no "
                       "win recorded before that date, so a funnel cut early in the history (or counting those "
                       "leads) understates the win rate; cut later or leave the early MQLs out",
                       first_win.date(), first_mql.date())
    return opps, events, report.frame()
