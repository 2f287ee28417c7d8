"""`SalesData`: the validated tables of one company, its processes and the data cut.

Examples
--------
>>> import pandas as pd
>>> import salesplan as sp
>>> data = sp.SalesData.from_frames(
...     customers=pd.DataFrame({"customer_id": ["c1"]}),
...     opportunities=pd.DataFrame({"opportunity_id": ["o1"], "customer_id": ["c1"],
...                                 "process": ["acquisition"], "created_at": ["2025-01-02"]}),
...     stage_events=pd.DataFrame({"opportunity_id": ["o1", "o1"], "stage": ["prospect_selected", "won"],
...                                "entered_at": ["2025-01-02", "2025-02-01"]}))
>>> data.opportunity_status()[["opportunity_id", "status", "stage"]].to_dict("records")
[{'opportunity_id': 'o1', 'status': 'won', 'stage': 'won'}]
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from salesplan.errors import SchemaError
from salesplan.parse import to_naive_utc
from salesplan.process import DEFAULT_PROCESSES, SalesProcess
from salesplan.schema import TABLES, validate

__all__ = ["SalesData"]

TABLE_ORDER = ("customers", "orders", "opportunities", "stage_events", "activities", "targets", "opportunity_history",
               "forecast_calls")


@dataclass
class SalesData:
    """Validated canonical tables plus the sales processes they use.

    Build it with :meth:`from_frames`, which validates every table and the links between them and raises one
    :class:`~salesplan.SchemaError` listing every failure. Tables not given are ``None``.

    Attributes
    ----------
    customers, orders, opportunities, stage_events, activities, targets, opportunity_history, forecast_calls : \
pandas.DataFrame or None
        Validated pandas frames; a large table may instead be a native engine frame (a DuckDB relation, a
        Polars LazyFrame, a Spark DataFrame over Parquet, as ``salesplan.report.load_data`` opens them with
        ``[data] engine``), read only through the reductions of :mod:`salesplan.reduce`.
    processes : dict of str to SalesProcess
    as_of : pandas.Timestamp
        The data cut: given, or the latest date found in the tables.
    """

    customers: pd.DataFrame | None = None
    orders: pd.DataFrame | None = None
    opportunities: pd.DataFrame | None = None
    stage_events: pd.DataFrame | None = None
    activities: pd.DataFrame | None = None
    targets: pd.DataFrame | None = None
    opportunity_history: pd.DataFrame | None = None
    forecast_calls: pd.DataFrame | None = None
    processes: dict[str, SalesProcess] = field(default_factory=lambda: dict(DEFAULT_PROCESSES))
    as_of: pd.Timestamp | None = None

    @classmethod
    def from_frames(
        cls,
        *,
        customers: Any = None,
        orders: Any = None,
        opportunities: Any = None,
        stage_events: Any = None,
        activities: Any = None,
        targets: Any = None,
        opportunity_history: Any = None,
        forecast_calls: Any = None,
        processes: Mapping[str, SalesProcess] | None = None,
        columns: Mapping[str, Mapping[str, str]] | None = None,
        as_of: Any = None,
        forecast_categories: Sequence[str] | None = None,
        people: Sequence[str] | None = None,
    ) -> SalesData:
        """Validate the given tables and the links between them.

        Parameters
        ----------
        customers, orders, opportunities, stage_events, activities, targets, opportunity_history, forecast_calls : \
DataFrame, optional
            Raw tables in canonical shape (or mapped with ``columns``). ``opportunity_history`` holds each deal's
            values after every change (``opportunity_id, changed_at`` and any of ``expected_close, amount,
            forecast_category, stage, owner, probability``); read with :func:`salesplan.reduce.history.deal_values`.
            ``forecast_calls`` holds the calls of reps and managers (``owner, period, as_of, category`` and
            ``amount`` or ``contracts``); read with :func:`salesplan.forecast.accountability.call_accuracy`.
        processes : mapping, optional
            Sales processes by name; default the five defaults.
        columns : mapping, optional
            Per table, a ``{"their column": "canonical column"}`` mapping, e.g.
            ``{"orders": {"Kunde": "customer_id"}}``.
        as_of : date-like, optional
            The data cut; dates after it are errors. Default: the latest date in the tables.
        forecast_categories : sequence of str, optional
            The categories a forecast call may name (default ``commit, best_case, pipeline``).
        people : sequence of str, optional
            Who may make forecast calls besides the owners of opportunities: the team's reps and managers (e.g.
            ``owner`` and ``manager`` of :func:`salesplan.plan.read_team`).

        Raises
        ------
        SchemaError
            One error with the failures of every table and every cross-table rule: orders, opportunities and
            activities naming unknown customers (``known_customer``), stage events and activities naming unknown
            opportunities, stages outside the opportunity's process, events and history rows before creation,
            forecast calls by unknown people, for unreadable periods or in categories outside the list.
        """
        procs = dict(DEFAULT_PROCESSES if processes is None else processes)
        raw = {"customers": customers, "orders": orders, "opportunities": opportunities,
               "stage_events": stage_events, "activities": activities, "targets": targets,
               "opportunity_history": opportunity_history, "forecast_calls": forecast_calls}
        columns = dict(columns or {})
        unknown = set(columns) - set(TABLES)
        if unknown:
            raise SchemaError(f"columns= names unknown table(s) {sorted(unknown)}; tables are {list(TABLE_ORDER)}")
        clean: dict[str, pd.DataFrame | None] = {}
        failures: list[pd.DataFrame] = []
        for name in TABLE_ORDER:
            if raw[name] is None:
                clean[name] = None
                continue
            frame = validate(raw[name], name, columns.get(name), as_of=as_of, processes=procs,
                             opportunities=clean.get("opportunities"), raise_errors=False,
                             forecast_categories=forecast_categories, people=people)
            if "failure_cases" in frame.attrs:
                failures.append(frame.attrs.pop("failure_cases"))
            clean[name] = frame
        failures.extend(_cross_checks(clean))
        if failures:
            raise SchemaError.from_cases(pd.concat(failures, ignore_index=True))
        cut = to_naive_utc(as_of) if as_of is not None else _latest_date(clean)
        return cls(**clean, processes=procs, as_of=cut)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables that are present, by name."""
        return {n: getattr(self, n) for n in TABLE_ORDER if getattr(self, n) is not None}

    def opportunity_status(self, as_of: Any = None) -> pd.DataFrame:
        """One row per opportunity: process, status (open / won / lost), current stage and when it closed.

        The state after the path rules (:mod:`salesplan.funnel.paths`), from
        :func:`salesplan.reduce.states.deal_states`, the one definition every part of salesplan uses: only
        the last event closes a deal (a deal won, reopened and lost is lost; one reopened into a working stage is
        open), a skipped stage counts as passed, a move back does not undo an advance (``stage`` is the furthest
        working stage of an open deal), and opportunities without events are open in their process's first
        stage. ``stage`` of a closed deal is its outcome; ``work_stage`` is where it was lost or open.

        Parameters
        ----------
        as_of : date-like, optional
            The cut (default :attr:`as_of`); opportunities created after it are left out.
        """
        if self.opportunities is None:
            raise SchemaError("opportunity_status needs the opportunities table")
        from salesplan.reduce.states import deal_states

        events = self.stage_events
        if events is None:
            events = pd.DataFrame({"opportunity_id": pd.Series(dtype=object), "stage": pd.Series(dtype=object),
                                   "entered_at": pd.Series(dtype="datetime64[ns]")})
        cut = as_of if as_of is not None else self.as_of
        states = deal_states(events, self.processes, self.opportunities, as_of=cut, attributes=("created_at",))
        return states[["opportunity_id", "process", "created_at", "status", "stage", "closed_at", "work_stage",
                       "days_in_stage"]].reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Per table: rows, columns and date range; used by ``repr`` and the demo."""
        from salesplan.reduce.states import column_names, row_count, time_span

        rows = []
        for name, frame in self.tables.items():
            if isinstance(frame, pd.DataFrame):
                dates = [c for c, k in TABLES[name].columns.items() if k == "date" and c in frame.columns]
                spans = {c: (frame[c].min(), frame[c].max()) for c in dates}
                n, width = len(frame), frame.shape[1]
            else:  # a native engine table: counted and spanned in its engine
                names = column_names(frame)
                dates = [c for c, k in TABLES[name].columns.items() if k == "date" and c in names]
                spans = {c: time_span(frame, c, name) for c in dates}
                n, width = row_count(frame, name), len(names)
            lo = min((spans[c][0] for c in dates if pd.notna(spans[c][0])), default=pd.NaT)
            hi = max((spans[c][1] for c in dates if c not in TABLES[name].future_ok and pd.notna(spans[c][1])),
                     default=pd.NaT)
            rows.append({"table": name, "rows": n, "columns": width, "first_date": lo, "last_date": hi})
        return pd.DataFrame(rows)

    def status_counts(self) -> pd.DataFrame:
        """Open / won / lost opportunities per process."""
        status = self.opportunity_status()
        table = pd.crosstab(status["process"], status["status"]).reindex(columns=["open", "won", "lost"],
                                                                         fill_value=0)
        table["total"] = table.sum(axis=1)
        return table

    def __repr__(self) -> str:
        lines = [f"SalesData(as_of={self.as_of}, processes={list(self.processes)})"]
        for row in self.summary().itertuples():
            span = "" if pd.isna(row.first_date) else f"  {row.first_date:%Y-%m-%d} .. {row.last_date:%Y-%m-%d}"
            lines.append(f"  {row.table:<13} {row.rows:>9,} rows{span}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = f"<p><b>SalesData</b> as of {html.escape(str(self.as_of))}; processes: " \
               f"{html.escape(', '.join(self.processes))}</p>"
        return head + self.summary().to_html(index=False, escape=True)


def _latest_date(tables: Mapping[str, pd.DataFrame | None]) -> pd.Timestamp | None:
    latest = []
    for name, frame in tables.items():
        if frame is None:
            continue
        for col, kind in TABLES[name].columns.items():
            if kind == "date" and col in frame.columns and col not in TABLES[name].future_ok:
                latest.append(frame[col].max())
    latest = [t for t in latest if pd.notna(t)]
    return max(latest) if latest else None


def _cross_checks(tables: Mapping[str, pd.DataFrame | None]) -> list[pd.DataFrame]:
    """Failures of the links between tables (customer references)."""
    out = []
    customers = tables.get("customers")
    if customers is None or "customer_id" not in customers.columns:  # reported by its own validation
        return out
    known = set(customers["customer_id"].dropna())
    for name in ("orders", "opportunities", "activities"):
        frame = tables.get(name)
        if frame is None or "customer_id" not in frame.columns:
            continue
        bad = frame["customer_id"].notna() & ~frame["customer_id"].isin(known)
        if bad.any():
            key_col = "opportunity_id" if name == "opportunities" else None
            keys = frame.loc[bad, key_col] if key_col else pd.Series([f"row {i}" for i in frame.index[bad]])
            out.append(pd.DataFrame({"table": name, "column": "customer_id", "check": "known_customer",
                                     "key": keys.astype(str).to_numpy(),
                                     "value": frame.loc[bad, "customer_id"].astype(str).to_numpy()}))
    return out
