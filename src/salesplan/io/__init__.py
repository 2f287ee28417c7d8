"""Reading data: canonical tables from files, and adapters for CRM exports and the public example datasets.

* :func:`read_table` reads one canonical table from CSV, Parquet or Excel and validates it.
* :func:`from_salesforce` and :func:`from_hubspot` turn CRM stage-history exports into canonical opportunities and
  stage events, with a report of everything repaired or dropped.
* :func:`load_olist` (a real dated MQL -> won funnel) and :func:`load_maven` (a current-stage snapshot) load the
  public datasets used in the examples and tests.

Examples
--------
Olist's won share, 842 of 8,000 MQLs (the data card's 10.5%):

>>> from salesplan.datasets import shared_data_dir
>>> from salesplan.io import load_olist
>>> opps, events, report = load_olist(shared_data_dir("olist-marketing-funnel"))
>>> round(float((events["stage"] == "won").sum() / len(opps)), 4)
0.1052
"""

from __future__ import annotations

from salesplan.io._common import REPORT_COLUMNS
from salesplan.io.crm import HUBSPOT_STAGE_MAP, SALESFORCE_STAGE_MAP, from_hubspot, from_salesforce
from salesplan.io.files import read_raw, read_table, sniff_separator
from salesplan.io.maven import MAVEN_PROCESS, MAVEN_STAGES, SNAPSHOT_COLUMNS, load_maven
from salesplan.io.olist import OLIST_PROCESS, load_olist

__all__ = [
    "read_table",
    "read_raw",
    "sniff_separator",
    "from_salesforce",
    "from_hubspot",
    "SALESFORCE_STAGE_MAP",
    "HUBSPOT_STAGE_MAP",
    "load_olist",
    "OLIST_PROCESS",
    "load_maven",
    "MAVEN_PROCESS",
    "MAVEN_STAGES",
    "SNAPSHOT_COLUMNS",
    "REPORT_COLUMNS",
]
