"""Adapters for CRM exports: Salesforce stage history and HubSpot deals.

Each adapter returns ``(opportunities, stage_events, report)``: the two canonical tables, validated, and a report
DataFrame (columns ``source, table, key, column, issue, action, value``) with one row per record that was
repaired, dropped or kept despite a problem. Every report issue is also logged at WARNING.

The CRM's stage names are mapped onto a :class:`~salesplan.SalesProcess` with ``stage_map``
(``{"their stage": "our stage"}``; map a stage to ``None`` to drop its rows on purpose). A stage name found in the
data but absent from ``stage_map`` is a :class:`~salesplan.SchemaError` (check ``stage_map``) listing every such
name, so no stage is lost silently.

Examples
--------
>>> import io
>>> import pandas as pd
>>> history = pd.read_csv(io.StringIO(
...     "OpportunityId,StageName,CreatedDate,Amount,CloseDate\\n"
...     "006A,Prospecting,2024-01-02T09:00:00.000+0000,1000,2024-03-01\\n"
...     "006A,Closed Won,2024-02-10T15:30:00.000+0000,1200,2024-02-10\\n"))
>>> opps, events, report = from_salesforce(history, SALESFORCE_STAGE_MAP)
>>> events[["stage", "entered_at"]].astype(str).values.tolist()
[['contacted', '2024-01-02 09:00:00'], ['won', '2024-02-10 15:30:00']]
>>> float(opps.loc[0, "amount"]), report["issue"].tolist()  # no Opportunity export: no account ids
(1200.0, ['no_account'])
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Literal, overload

import pandas as pd

from salesplan.errors import SchemaError
from salesplan.io._common import (
    Report,
    as_frame,
    check_stage_map,
    collapse_repeats,
    export_dates,
    find_column,
    resolve_process,
)
from salesplan.process import SalesProcess
from salesplan.schema import validate

__all__ = ["from_salesforce", "from_hubspot", "SALESFORCE_STAGE_MAP", "HUBSPOT_STAGE_MAP",
           "SALESFORCE_FORECAST_CATEGORIES"]

logger = logging.getLogger(__name__)

SALESFORCE_STAGE_MAP: dict[str, str | None] = {
    "Prospecting": "contacted",
    "Qualification": "qualified",
    "Needs Analysis": "qualified",
    "Value Proposition": "qualified",
    "Id. Decision Makers": "qualified",
    "Perception Analysis": "qualified",
    "Proposal/Price Quote": "offer",
    "Negotiation/Review": "negotiation",
    "Closed Won": "won",
    "Closed Lost": "lost",
}
"""Salesforce's default opportunity stages mapped onto the default ``acquisition`` process."""

HUBSPOT_STAGE_MAP: dict[str, str | None] = {
    "Appointment Scheduled": "contacted",
    "Qualified To Buy": "qualified",
    "Presentation Scheduled": "qualified",
    "Decision Maker Bought-In": "offer",
    "Contract Sent": "negotiation",
    "Closed Won": "won",
    "Closed Lost": "lost",
}
"""HubSpot's default sales-pipeline stages mapped onto the default ``acquisition`` process."""


def _unmapped_error(source: str, column: str, names: pd.Series, keys: pd.Series,
                    stage_map: Mapping[str, Any]) -> SchemaError:
    frame = pd.DataFrame({"name": names.astype(str).to_numpy(), "key": keys.astype(str).to_numpy()})
    rows = []
    for name, group in frame.groupby("name", sort=True):
        rows.append({"table": "stage_events", "column": column, "check": "stage_map", "key": group["key"].iloc[0],
                     "value": f"{name!r} ({len(group)} rows) is not in stage_map"})
    err = SchemaError.from_cases(rows)
    listed = ", ".join(repr(r["value"].split(" (")[0].strip("'")) for r in rows)
    return SchemaError(f"{source}: stage names not in stage_map: {listed}; map each to a stage of the process "
                       f"(or to None to drop it). Known: {sorted(stage_map)}\n{err}", err.failure_cases)


def _map_stages(events: pd.DataFrame, stage_map: Mapping[str, str | None], report: Report, source: str,
                column: str) -> pd.DataFrame:
    """Replace ``source_stage`` by the mapped ``stage``; unknown names raise, names mapped to None are dropped."""
    unknown = ~events["source_stage"].isin(list(stage_map))
    if unknown.any():
        raise _unmapped_error(source, column, events.loc[unknown, "source_stage"],
                              events.loc[unknown, "opportunity_id"], stage_map)
    events = events.assign(stage=events["source_stage"].map(stage_map))
    drop = events["stage"].isna()
    report.add("stage_events", events.loc[drop, "opportunity_id"], column, "stage_mapped_to_none", "dropped",
               events.loc[drop, "source_stage"], why="stage_map maps these stages to None")
    return events.loc[~drop].drop(columns="source_stage")


def _own_customer(opps: pd.DataFrame, report: Report, issue: str, why: str) -> pd.DataFrame:
    """Opportunities without a customer become their own customer (reported)."""
    customer = opps["customer_id"] if "customer_id" in opps.columns else pd.Series(None, opps.index, dtype=object)
    customer = customer.astype(object)
    lacking = customer.isna()
    report.add("opportunities", opps.loc[lacking, "opportunity_id"], "customer_id", issue, "repaired",
               "customer_id = opportunity_id", why=why)
    return opps.assign(customer_id=customer.where(~lacking, opps["opportunity_id"]))


def _require(frame: pd.DataFrame, names: list[str], shape: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SchemaError.from_cases(
            [{"table": shape, "column": n, "check": "required", "key": "-",
              "value": f"missing column; frame has {list(frame.columns)[:12]}"} for n in missing])


def _finish(opps: pd.DataFrame, events: pd.DataFrame, report: Report, procs: dict[str, SalesProcess],
            reader_options: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Move creation dates back to the first event where needed (reported), then validate both tables."""
    first = events.groupby("opportunity_id")["entered_at"].min()
    first_for = opps["opportunity_id"].map(first)
    early = first_for.notna() & (opps["created_at"].isna() | (first_for < opps["created_at"]))
    report.add("opportunities", opps.loc[early, "opportunity_id"], "created_at", "event_before_created",
               "repaired", opps.loc[early, "created_at"].astype(str) + " -> " + first_for[early].astype(str),
               why="created_at moved back to the first stage event")
    opps = opps.assign(created_at=opps["created_at"].where(~early, first_for))
    numbers = {k: v for k, v in (reader_options or {}).items() if k in ("decimal", "thousands")}
    clean_opps = validate(opps, "opportunities", processes=procs, **numbers)
    clean_events = validate(events, "stage_events", processes=procs, opportunities=clean_opps)
    return clean_opps, clean_events, report.frame()


#: Salesforce forecast categories (``ForecastCategory`` API values and ``ForecastCategoryName`` labels) onto
#: salesplan's names.
SALESFORCE_FORECAST_CATEGORIES: dict[str, str] = {
    "pipeline": "pipeline", "best case": "best_case", "bestcase": "best_case", "forecast": "commit",
    "commit": "commit", "closed": "closed", "omitted": "omitted",
}
#: OpportunityFieldHistory ``Field`` values (lower case) and the history column each one changes.
_FIELD_COLUMNS = {"stagename": "stage", "stage": "stage", "amount": "amount", "closedate": "expected_close",
                  "forecastcategoryname": "forecast_category", "forecastcategory": "forecast_category",
                  "owner": "owner", "ownerid": "owner", "ownerassignment": "owner", "probability": "probability"}
#: OpportunityHistory columns and the history column each one fills.
_HISTORY_COLUMNS = {"StageName": "stage", "Amount": "amount", "CloseDate": "expected_close",
                    "ForecastCategory": "forecast_category", "ForecastCategoryName": "forecast_category",
                    "Probability": "probability"}


def _salesforce_history(hist: pd.DataFrame, field_shape: bool, stage_map: Mapping[str, str | None],
                        opps: pd.DataFrame, report: Report, procs: dict[str, SalesProcess]) -> pd.DataFrame:
    """The canonical ``opportunity_history`` of an export: every row, also those that repeat the stage."""
    if field_shape:
        field = hist["Field"].astype(str).str.strip().str.lower().str.replace(" ", "", regex=False)
        parts = []
        created = hist["OpportunityId"].map(opps.set_index("opportunity_id")["created_at"])
        for name, column in _FIELD_COLUMNS.items():
            rows = hist.loc[field == name]
            if rows.empty:
                continue
            first = rows.groupby("OpportunityId", sort=False).head(1)  # the value before the first change
            parts.append(pd.DataFrame({"opportunity_id": first["OpportunityId"],
                                       "changed_at": created.loc[first.index].fillna(first["_at"]),
                                       column: first["OldValue"]}))
            parts.append(pd.DataFrame({"opportunity_id": rows["OpportunityId"], "changed_at": rows["_at"],
                                       column: rows["NewValue"]}))
        if not parts:
            return pd.DataFrame({"opportunity_id": pd.Series(dtype=object),
                                 "changed_at": pd.Series(dtype="datetime64[ns]")})
        long = pd.concat(parts, ignore_index=True)
    else:
        present = {src: dst for src, dst in _HISTORY_COLUMNS.items() if src in hist.columns}
        long = pd.DataFrame({"opportunity_id": hist["OpportunityId"], "changed_at": hist["_at"],
                             **{dst: hist[src] for src, dst in present.items()}})
    long = long.assign(changed_at=pd.to_datetime(long["changed_at"]))
    if "stage" in long.columns:
        text = long["stage"].where(long["stage"].notna()).astype(object)
        text = text.where(text.isna(), text.astype(str).str.strip())
        long["stage"] = text.map(lambda v: stage_map.get(v) if isinstance(v, str) else None)
    if "forecast_category" in long.columns:
        cat = long["forecast_category"].astype(object)
        long["forecast_category"] = cat.map(
            lambda v: SALESFORCE_FORECAST_CATEGORIES.get(str(v).strip().lower(), str(v).strip())
            if pd.notna(v) else None)
    values = [c for c in long.columns if c not in ("opportunity_id", "changed_at")]
    dup = long.duplicated(["opportunity_id", "changed_at"], keep=False)
    if not field_shape and dup.any():
        report.add("opportunity_history", long.loc[dup, "opportunity_id"].unique(), "CreatedDate",
                   "same_time", "repaired", "values of the last row kept",
                   why="several history rows of one opportunity at the same time stamp: one change")
    # one row per (deal, time): the last recorded value of each column at that time
    long = long.groupby(["opportunity_id", "changed_at"], sort=True, as_index=False)[values].last()
    return validate(long, "opportunity_history", processes=procs, opportunities=opps)


@overload
def from_salesforce(history: Any, stage_map: Mapping[str, str | None], process: str | SalesProcess = ...,
                    opportunities: Any = ..., *, processes: Mapping[str, SalesProcess] | None = ...,
                    columns: Mapping[str, str] | None = ..., dayfirst: bool | None = ...,
                    date_format: str | None = ..., with_history: Literal[False] = ...,
                    **reader_options: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]: ...


@overload
def from_salesforce(history: Any, stage_map: Mapping[str, str | None], process: str | SalesProcess = ...,
                    opportunities: Any = ..., *, processes: Mapping[str, SalesProcess] | None = ...,
                    columns: Mapping[str, str] | None = ..., dayfirst: bool | None = ...,
                    date_format: str | None = ..., with_history: Literal[True],
                    **reader_options: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]: ...


def from_salesforce(
    history: Any,
    stage_map: Mapping[str, str | None],
    process: str | SalesProcess = "acquisition",
    opportunities: Any = None,
    *,
    processes: Mapping[str, SalesProcess] | None = None,
    columns: Mapping[str, str] | None = None,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    with_history: bool = False,
    **reader_options: Any,
) -> tuple[pd.DataFrame, ...]:
    """Canonical opportunities and stage events from a Salesforce stage-history export.

    Two export shapes are read (the shape is recognised from the columns):

    * **OpportunityHistory**: one row per change of stage, amount, close date or probability, with
      ``OpportunityId, StageName, CreatedDate`` and optionally ``Amount, CloseDate, Probability,
      ForecastCategory, IsDeleted``. Rows that repeat the previous stage (amount or date edits) are not stage
      changes and are dropped from the stage events (reported), but kept in the deal history
      (``with_history=True``). The first row of an opportunity marks its creation.
    * **OpportunityFieldHistory**: ``OpportunityId, Field, OldValue, NewValue, CreatedDate``. Rows with
      ``Field == "StageName"`` are stage changes; the ``OldValue`` of the first change is the stage the
      opportunity was created in, entered at its creation (the ``Opportunity`` export's ``CreatedDate``, else a
      ``Field == "created"`` row, else the first change: reported).

    Parameters
    ----------
    history : DataFrame or path
        The export (pandas, anything narwhals reads, or a CSV/Parquet/Excel path).
    stage_map : mapping
        Salesforce stage name -> stage of ``process`` (see :data:`SALESFORCE_STAGE_MAP`).
    process : str or SalesProcess
        The process all these opportunities follow (default ``"acquisition"``).
    opportunities : DataFrame or path, optional
        The ``Opportunity`` export (``Id`` and optionally ``AccountId, CreatedDate, Amount, CloseDate, OwnerId,
        StageName``): gives customers, creation dates and owners, and opportunities that never changed stage
        (their current ``StageName`` becomes one event at creation, reported). Without it, each opportunity is
        its own customer (reported once).
    processes : mapping, optional
        Processes to validate with (default the five defaults plus ``process``).
    columns : mapping, optional
        Renames applied to both exports first, e.g. ``{"Opportunity ID": "OpportunityId"}`` for report exports
        that use field labels.
    dayfirst, date_format : optional
        How to read numeric dates (see :func:`salesplan.parse.parse_dates`): the date columns of an export get
        one reading together, inferred from their values; dates that read both month-first and day-first
        (``05/03/2024`` only) are refused until ``dayfirst=True/False`` or ``date_format=`` says which.
    **reader_options
        For paths: passed to :func:`salesplan.io.read_raw` (``sep``, ``encoding``, ``skiprows``, ``skipfooter``,
        ``decimal``, ``thousands``, ``sheet``...). A Salesforce report's title rows and footer are detected and
        skipped (listed in the report as ``export_title`` / ``export_footer``).

    Returns
    -------
    opportunities, stage_events, report : pandas.DataFrame
        Validated canonical tables (times in UTC, naive) and the repair report. ``opportunities`` has
        ``amount`` (last known), ``expected_close`` (last ``CloseDate``) and ``probability`` where given.

    Raises
    ------
    SchemaError
        Missing columns, stage names not in ``stage_map`` (all listed), unparseable dates, or failed validation.
    ConfigError
        ``stage_map`` targets that are not stages of ``process``; an unknown process name.
    """
    proc, procs = resolve_process(process, processes)
    stage_map = check_stage_map(stage_map, proc)
    report = Report("salesforce", logger)
    hist = as_frame(history, "history", ["OpportunityId", "Id"], report, **reader_options)
    if columns:
        hist = hist.rename(columns=dict(columns))
    opp_raw = None
    if opportunities is not None:
        opp_raw = as_frame(opportunities, "opportunities", ["Id", "AccountId", "OwnerId"], report,
                           **reader_options)
        if columns:
            opp_raw = opp_raw.rename(columns=dict(columns))
        _require(opp_raw, ["Id"], "salesforce Opportunity")
        opp_raw = opp_raw.assign(Id=opp_raw["Id"].astype(str).str.strip())
        opp_raw = opp_raw.assign(**export_dates(opp_raw, ["CreatedDate", "CloseDate"], opp_raw["Id"], "salesforce",
                                                "opportunities", dayfirst=dayfirst, date_format=date_format))

    field_shape = {"Field", "NewValue"} <= set(hist.columns)
    if field_shape:
        _require(hist, ["OpportunityId", "Field", "OldValue", "NewValue", "CreatedDate"],
                 "salesforce OpportunityFieldHistory")
    else:
        _require(hist, ["OpportunityId", "StageName", "CreatedDate"], "salesforce OpportunityHistory")
    hist = hist.assign(OpportunityId=hist["OpportunityId"].astype(str).str.strip())
    parsed = export_dates(hist, ["CreatedDate", "CloseDate"], hist["OpportunityId"], "salesforce", "stage_events",
                          dayfirst=dayfirst, date_format=date_format)
    hist = hist.assign(_at=parsed["CreatedDate"], **{k: v for k, v in parsed.items() if k != "CreatedDate"})
    bad_date = hist["_at"].isna()
    if bad_date.any():
        raise SchemaError.from_cases(
            {"table": "stage_events", "column": "CreatedDate", "check": "date", "key": k, "value": str(v)}
            for k, v in zip(hist.loc[bad_date, "OpportunityId"], hist.loc[bad_date, "CreatedDate"], strict=True))
    if "IsDeleted" in hist.columns:
        deleted = hist["IsDeleted"].astype(str).str.strip().str.lower().isin(["true", "1"])
        report.add("stage_events", hist.loc[deleted, "OpportunityId"], "IsDeleted", "deleted_row", "dropped",
                   why="rows marked IsDeleted")
        hist = hist.loc[~deleted]
    if opp_raw is not None:
        orphan = ~hist["OpportunityId"].isin(opp_raw["Id"])
        report.add("stage_events", hist.loc[orphan, "OpportunityId"], "OpportunityId", "unknown_opportunity",
                   "dropped", why="history rows whose opportunity is not in the Opportunity export")
        hist = hist.loc[~orphan]
    hist = hist.sort_values(["OpportunityId", "_at"], kind="stable")

    created_row = pd.Series(dtype="datetime64[ns]")
    if field_shape:
        is_stage = hist["Field"].astype(str).str.strip().str.lower().isin(["stagename", "stage"])
        is_created = hist["Field"].astype(str).str.strip().str.lower() == "created"
        created_row = hist.loc[is_created].groupby("OpportunityId")["_at"].min()
        changes = hist.loc[is_stage]
        first = changes.groupby("OpportunityId", sort=False).head(1)
        initial = pd.DataFrame({"opportunity_id": first["OpportunityId"], "source_stage": first["OldValue"],
                                "entered_at": pd.NaT})
        moves = pd.DataFrame({"opportunity_id": changes["OpportunityId"], "source_stage": changes["NewValue"],
                              "entered_at": changes["_at"]})
        events = pd.concat([initial, moves], ignore_index=True)
        events = events.loc[events["source_stage"].notna()]
    else:
        changes = hist
        events = pd.DataFrame({"opportunity_id": hist["OpportunityId"], "source_stage": hist["StageName"],
                               "entered_at": hist["_at"]})
    events = events.assign(source_stage=events["source_stage"].astype(str).str.strip())

    # Opportunities: ids, creation, customer, amount, close date, owner.
    ids = pd.Index(events["opportunity_id"].unique())
    if opp_raw is not None:
        ids = ids.union(pd.Index(opp_raw["Id"]), sort=False)
    opps = pd.DataFrame({"opportunity_id": ids, "process": proc.name})
    first_seen = changes.groupby("OpportunityId")["_at"].min()
    created = opps["opportunity_id"].map(created_row) if field_shape else opps["opportunity_id"].map(first_seen)
    if opp_raw is not None:
        by_id = opp_raw.drop_duplicates("Id").set_index("Id")
        if "CreatedDate" in by_id.columns:
            created = opps["opportunity_id"].map(by_id["CreatedDate"]).fillna(created)
        for src, dst in (("AccountId", "customer_id"), ("OwnerId", "owner"), ("Amount", "amount"),
                         ("CloseDate", "expected_close")):
            if src in by_id.columns:
                opps[dst] = opps["opportunity_id"].map(by_id[src])
    opps["created_at"] = created
    if not field_shape:
        last = hist.groupby("OpportunityId").tail(1).set_index("OpportunityId")
        for src, dst in (("Amount", "amount"), ("CloseDate", "expected_close"), ("Probability", "probability")):
            if src in last.columns:
                mapped = opps["opportunity_id"].map(last[src])
                opps[dst] = mapped.fillna(opps[dst]) if dst in opps.columns else mapped
    if "expected_close" in opps.columns:
        opps["expected_close"] = opps["expected_close"].astype("datetime64[ns]")
    opps = _own_customer(opps, report, "no_account", "no AccountId: each such opportunity is its own customer")

    # Initial stage of field-history opportunities: entered at creation.
    if field_shape:
        at_creation = events["opportunity_id"].map(opps.set_index("opportunity_id")["created_at"])
        guessed = events["entered_at"].isna() & at_creation.isna()
        first_change = events["opportunity_id"].map(changes.groupby("OpportunityId")["_at"].min())
        report.add("stage_events", events.loc[guessed, "opportunity_id"], "entered_at", "creation_unknown",
                   "repaired", "first stage change",
                   why="no creation date: the initial stage is dated at the first stage change")
        events["entered_at"] = events["entered_at"].fillna(at_creation).fillna(first_change)
    # Opportunities without any history row: one event, their current stage, at creation.
    if opp_raw is not None and "StageName" in opp_raw.columns:
        quiet = ~opps["opportunity_id"].isin(events["opportunity_id"])
        if quiet.any():
            stage_now = opps.loc[quiet, "opportunity_id"].map(by_id["StageName"])
            extra = pd.DataFrame({"opportunity_id": opps.loc[quiet, "opportunity_id"],
                                  "source_stage": stage_now.astype(str).str.strip(),
                                  "entered_at": opps.loc[quiet, "created_at"]}).loc[stage_now.notna()]
            report.add("stage_events", extra["opportunity_id"], "stage", "no_history", "repaired",
                       extra["source_stage"], why="current StageName used as the only event, dated at creation")
            events = pd.concat([events, extra], ignore_index=True)

    events = _map_stages(events, stage_map, report, "salesforce", "NewValue" if field_shape else "StageName")
    events = collapse_repeats(events, report, proc, why="same stage as the previous row (amount or date edits, or "
                                                  "several Salesforce stages mapped onto one stage; kept in the "
                                                  "deal history)")
    clean_opps, clean_events, report_frame = _finish(opps, events[["opportunity_id", "stage", "entered_at"]],
                                                     report, procs, reader_options)
    if not with_history:
        return clean_opps, clean_events, report_frame
    history_table = _salesforce_history(hist, field_shape, stage_map, clean_opps, report, procs)
    return clean_opps, clean_events, report.frame(), history_table


_DATE_ENTERED = re.compile(r"^\s*date\s+entered\s*[:\-]?\s*[\"'“”‘’]?(?P<stage>.*?)[\"'“”‘’]?\s*$", re.IGNORECASE)
_PIPELINE_SUFFIX = re.compile(r"^(?P<stage>.*?)\s*\((?P<pipeline>[^()]*)\)$")


def _hubspot_stage(label: str, stage_map: Mapping[str, Any]) -> str:
    """The stage name of a HubSpot label, without a ``(Pipeline)`` suffix unless ``stage_map`` uses it."""
    label = label.strip()
    if label in stage_map:
        return label
    match = _PIPELINE_SUFFIX.match(label)
    return match.group("stage").strip() if match else label


def from_hubspot(
    deals: Any,
    stage_map: Mapping[str, str | None],
    process: str | SalesProcess = "acquisition",
    *,
    processes: Mapping[str, SalesProcess] | None = None,
    columns: Mapping[str, str] | None = None,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    **reader_options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Canonical opportunities and stage events from a HubSpot deals export.

    The export has one row per deal with ``Deal ID`` (or ``Record ID``), ``Create Date``, ``Deal Stage`` and
    optionally ``Amount``, ``Close Date``, ``Deal owner`` and ``Associated Company IDs``, plus one
    ``Date entered <stage>`` column per stage (labels such as ``Date entered "Closed Won (Sales Pipeline)"``
    are understood; the pipeline suffix is dropped unless ``stage_map`` names it). Column names are matched
    ignoring case. Each non-empty ``Date entered`` cell is a stage event.

    HubSpot keeps only the latest entry into a stage, so a deal that went back shows a later date for the earlier
    stage; events are kept in time order as they are. When the current ``Deal Stage`` has no date, an event is
    added at ``Close Date`` (or the latest known date, or the creation date) and reported. ``Date entered``
    columns that are empty for every deal (other pipelines' stages) are ignored.

    One call maps one pipeline onto one process. An export with several pipelines (a ``Pipeline`` column) is split
    by that column and each part read with its own ``stage_map`` and ``process``; the results are concatenated
    (see the example in ``tests/io/test_exports.py``)::

        parts = [from_hubspot(deals[deals["Pipeline"] == name], maps[name], process)
                 for name, process in {"Sales Pipeline": "acquisition", "Renewals": "retention"}.items()]
        opportunities = pd.concat([p[0] for p in parts], ignore_index=True)

    Parameters
    ----------
    deals : DataFrame or path
        The export.
    stage_map : mapping
        HubSpot stage label -> stage of ``process`` (see :data:`HUBSPOT_STAGE_MAP`).
    process : str or SalesProcess
        The process the deals follow.
    processes : mapping, optional
        Processes to validate with.
    columns : mapping, optional
        Renames applied first (e.g. a localised export's labels onto the English ones).
    dayfirst, date_format : optional
        How to read numeric dates; all date columns of the export get one reading (see :func:`from_salesforce`).
    **reader_options
        For paths: passed to :func:`salesplan.io.read_raw`; title rows above the header are skipped and reported.

    Returns
    -------
    opportunities, stage_events, report : pandas.DataFrame

    Raises
    ------
    SchemaError
        Missing id or creation column, stage labels not in ``stage_map`` (all listed), failed validation.

    Examples
    --------
    >>> import io
    >>> import pandas as pd
    >>> deals = pd.read_csv(io.StringIO(
    ...     "Deal ID,Create Date,Deal Stage,Amount,Date entered Appointment Scheduled,Date entered Closed Won\\n"
    ...     "101,2024-01-02,Closed Won,500,2024-01-02,2024-01-20\\n"))
    >>> opps, events, report = from_hubspot(deals, HUBSPOT_STAGE_MAP)
    >>> events["stage"].tolist(), len(report)
    (['contacted', 'won'], 1)
    """
    proc, procs = resolve_process(process, processes)
    stage_map = check_stage_map(stage_map, proc)
    report = Report("hubspot", logger)
    raw = as_frame(deals, "deals", ["Deal ID", "Record ID"], report, **reader_options)
    if columns:
        raw = raw.rename(columns=dict(columns))
    id_col = find_column(raw, "Deal ID", "Record ID", "hs_object_id", "Deal Id")
    created_col = find_column(raw, "Create Date", "Created Date", "createdate")
    missing = [label for label, c in (("Deal ID", id_col), ("Create Date", created_col)) if c is None]
    if missing:
        _require(raw, missing, "hubspot deals")
    ids = raw[id_col].map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip())
    entered_cols = {c: _hubspot_stage(m.group("stage"), stage_map)
                    for c in raw.columns if (m := _DATE_ENTERED.match(str(c)))}
    close_col = find_column(raw, "Close Date")
    parsed = export_dates(raw, [created_col, close_col, *entered_cols], ids, "hubspot", "deals",
                          dayfirst=dayfirst, date_format=date_format)
    entered_cols = {c: s for c, s in entered_cols.items() if parsed[c].notna().any()}
    if not entered_cols:
        logger.warning("hubspot: no non-empty 'Date entered <stage>' column; only Deal Stage is used")
    long = [pd.DataFrame({"opportunity_id": ids, "source_stage": stage, "entered_at": parsed[c]})
            for c, stage in entered_cols.items()]
    events = pd.concat(long, ignore_index=True) if long else pd.DataFrame(
        {"opportunity_id": pd.Series(dtype=object), "source_stage": pd.Series(dtype=object),
         "entered_at": pd.Series(dtype="datetime64[ns]")})
    events = events.loc[events["entered_at"].notna()]

    opps = pd.DataFrame({"opportunity_id": ids, "process": proc.name, "created_at": parsed[created_col]})
    for dst, names in (("customer_id", ("Associated Company IDs", "Associated Company ID", "Company ID",
                                        "Associated Company")),
                       ("amount", ("Amount",)), ("expected_close", ("Close Date",)),
                       ("owner", ("Deal owner", "Deal Owner", "Owner"))):
        src = find_column(raw, *names)
        if src is not None:
            opps[dst] = parsed[src].to_numpy() if src in parsed else raw[src].to_numpy()
    if "customer_id" in opps.columns:  # "123;456" lists several companies: the first is the customer
        opps["customer_id"] = opps["customer_id"].map(
            lambda v: str(v).split(";")[0].strip() if pd.notna(v) else None)
    opps = _own_customer(opps, report, "no_company", "no associated company: each such deal is its own customer")

    stage_col = find_column(raw, "Deal Stage", "dealstage")
    if stage_col is not None:
        current = pd.Series([_hubspot_stage(str(v), stage_map) if pd.notna(v) else None for v in raw[stage_col]],
                            index=raw.index)
        have = set(zip(events["opportunity_id"], events["source_stage"], strict=True))
        lacking = current.notna() & pd.Series([(i, s) not in have for i, s in zip(ids, current, strict=True)],
                                               index=raw.index)
        if lacking.any():
            latest = events.groupby("opportunity_id")["entered_at"].max()
            closing = current.map(stage_map).isin([proc.won, proc.lost])
            when = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
            if "expected_close" in opps.columns:
                when = when.where(~closing, opps["expected_close"])
            when = when.fillna(ids.map(latest)).fillna(opps["created_at"])
            extra = pd.DataFrame({"opportunity_id": ids[lacking], "source_stage": current[lacking],
                                  "entered_at": when[lacking]})
            report.add("stage_events", extra["opportunity_id"], "Deal Stage", "current_stage_undated",
                       "repaired", extra["source_stage"],
                       why="current Deal Stage has no 'Date entered' value; dated at Close Date, the latest "
                           "known date or creation")
            events = pd.concat([events, extra], ignore_index=True)

    events = _map_stages(events, stage_map, report, "hubspot", "Date entered")
    events = collapse_repeats(events, report, proc, why="several HubSpot stages mapped onto one stage")
    return _finish(opps, events[["opportunity_id", "stage", "entered_at"]], report, procs, reader_options)
