"""Sphinx extension of the salesplan docs: reference pages generated from the code, and a check of the notebooks.

At ``builder-inited`` it writes, into ``docs/reference/generated/`` (git-ignored):

* ``tables.rst``: the canonical tables from :data:`salesplan.schema.TABLES` (columns, kinds, keys, rules);
* ``config.rst``: every key of the report configuration from the schema in :mod:`salesplan.report.config`, with
  its type and default, followed by the commented example ``salesplan init`` writes;
* ``api_*.rst``: one page per public module listing every name of its ``__all__``; an object re-exported by
  several modules is documented once (where the sales process first needs it) and cross-referenced elsewhere.

It also refuses to build with a missing or stale executed notebook: ``docs/examples/`` holds the copies that
``tests/test_notebooks.py`` executed, each stamped with the SHA-256 of its source notebook.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "reference" / "generated"

#: Public modules in the order of the sales process: (module, title, what it holds). An object is documented on
#: the first page that lists it; the top level comes last in that order but first in the reference's table of
#: contents, so that it documents only what no subpackage holds.
API_PAGES: list[tuple[str, str, str]] = [
    ("salesplan.io", "salesplan.io: reading files and CRM exports",
     "CSV, Parquet and Excel readers with one date and number parser, CRM export adapters, public datasets."),
    ("salesplan.datasets", "salesplan.datasets: example data and simulator",
     "The example company inside the package, the simulator with known truth, the real public data folder."),
    ("salesplan.datasets.make_example", "salesplan.datasets.make_example: regenerate the example data", ""),
    ("salesplan.engines", "salesplan.engines: pandas, Polars, DuckDB, Spark", "Adapters between data engines."),
    ("salesplan.reduce.customers", "salesplan.reduce.customers: customer summaries",
     "Engine-neutral reductions of orders to per-customer patterns."),
    ("salesplan.reduce.stages", "salesplan.reduce.stages: deal paths and stage spells",
     "Engine-neutral reductions of stage events and activities."),
    ("salesplan.segment", "salesplan.segment: value segments and process assignment", ""),
    ("salesplan.funnel", "salesplan.funnel: conversion and timing", ""),
    ("salesplan.plan", "salesplan.plan: working backward from targets", ""),
    ("salesplan.forecast", "salesplan.forecast: forecasts", ""),
    ("salesplan.control", "salesplan.control: plan versus actual", ""),
    ("salesplan.plausibility", "salesplan.plausibility: figures checked against their data", ""),
    ("salesplan.plot.segment", "salesplan.plot.segment", ""),
    ("salesplan.plot.funnel", "salesplan.plot.funnel", ""),
    ("salesplan.plot.plan", "salesplan.plot.plan", ""),
    ("salesplan.plot.forecast", "salesplan.plot.forecast", ""),
    ("salesplan.plot.control", "salesplan.plot.control", ""),
    ("salesplan.plot.notebook", "salesplan.plot.notebook: charts inline in Jupyter", ""),
    ("salesplan.report", "salesplan.report: the control report", ""),
    ("salesplan.cli", "salesplan.cli: the salesplan command", ""),
    ("salesplan", "salesplan: tables, processes, validation, errors",
     "The top level re-exports the main functions of every subpackage (``sp.estimate``, ``sp.backward``, ...); "
     "they are documented in their subpackage and listed at the end of this page."),
    ("salesplan.schema", "salesplan.schema: table specifications", ""),
]


def _rst_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append("   * - " + (row[0] or " "))
        lines += [f"     - {cell or ' '}" for cell in row[1:]]
    return "\n".join(lines) + "\n"


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def tables_page() -> str:
    from salesplan.schema import TABLES

    out = [".. This page is generated from salesplan.schema.TABLES by docs/_ext/salesplan_docs.py.", "",
           _title("Canonical tables"),
           "Every table a user brings is mapped onto one of these (``columns={'their name': 'canonical name'}``) "
           "and validated by :func:`salesplan.validate`; any other column is kept untouched. Kinds: ``id`` "
           "(text, a float id ``12.0`` becomes ``\"12\"``), ``text``, ``date``, ``amount`` and ``number`` "
           "(floats). The rules are described in :mod:`salesplan.schema` below.", ""]
    for name, spec in TABLES.items():
        out += [_title(f"``{name}``", "-")]
        rows = []
        for column, kind in spec.columns.items():
            rules = []
            if column in spec.key:
                rules.append("key" if len(spec.key) == 1 else f"part of the key ({', '.join(spec.key)})")
            if column in spec.non_negative:
                rules.append(">= 0")
            if column in spec.future_ok:
                rules.append("may lie after ``as_of``")
            rows.append([f"``{column}``", kind, "required" if column in spec.required else "optional",
                         "; ".join(rules)])
        out += [_rst_table(["column", "kind", "", "rules"], rows), ""]
    out += [_title("Validation rules", "-"), ".. automodule:: salesplan.schema", "   :no-members:",
            "   :no-index:", ""]
    return "\n".join(out)


def _default_repr(value: Any) -> str:
    if value is None or value == () or value == {} or value == []:
        return ""
    if isinstance(value, tuple):
        value = list(value)
    return f"``{json.dumps(value)}``" if not isinstance(value, str) else f"``{json.dumps(value)}``"


def config_page() -> str:
    from salesplan.report import config as cfg

    schema: dict[str, dict[str, str]] = cfg._SCHEMA
    defaults: dict[str, dict[str, Any]] = cfg._DEFAULTS
    report_defaults = {f.name: f.default for f in dataclasses.fields(cfg.ReportOptions)}
    out = [".. This page is generated from salesplan.report.config by docs/_ext/salesplan_docs.py.", "",
           _title("Report configuration"),
           "``salesplan report --config report.toml`` reads a TOML file with the tables below; unknown keys, "
           "wrong types and missing files are errors naming the file and the dotted key. ``salesplan init`` "
           "writes the commented example at the end of this page.", ""]
    for group, keys in schema.items():
        out += [_title(f"``[{group}]``", "-")]
        rows = []
        for key, kind in keys.items():
            default = report_defaults.get(key) if group == "report" else defaults.get(group, {}).get(key)
            rows.append([f"``{key}``", f"``{kind}``", _default_repr(default)])
        out += [_rst_table(["key", "type", "default"], rows), ""]
        if group == "report":
            data_rows = [[f"``{t}``", "``str`` or table", "required" if t in ("opportunities", "stage_events")
                          else ""] for t in cfg.TABLE_ORDER]
            data_rows.append(["``engine``", "``str``: " + ", ".join(f"``{e}``" for e in cfg.ENGINES),
                              '``"pandas"``'])
            out += [_title("``[data]``", "-"), _rst_table(["key", "type", "default"], data_rows), "",
                    "A table given as a TOML table takes these keys:", "",
                    _rst_table(["key", "type", "default"],
                               [[f"``{k}``", f"``{v}``", ""] for k, v in cfg._TABLE_KEYS.items()]), ""]
    out += [_title("What the keys mean", "-"), ".. automodule:: salesplan.report.config", "   :no-members:", "",
            _title("Example (``salesplan init``)", "-"), ".. code-block:: toml", ""]
    out += [f"   {line}".rstrip() for line in cfg.EXAMPLE_CONFIG.splitlines()]
    return "\n".join(out) + "\n"


def _public_names(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        raise ExtensionError(f"{module.__name__} has no __all__; the API reference lists exactly __all__")
    return [n for n in names if n != "__version__"]


def api_pages() -> dict[str, str]:
    """Page name -> RST text for every module of API_PAGES (objects documented once, cross-referenced after)."""
    owner: dict[int, str] = {}
    plan: dict[str, list[tuple[str, str, Any]]] = {}
    for modname, _, _ in API_PAGES:
        module = importlib.import_module(modname)
        entries = []
        for name in _public_names(module):
            obj = getattr(module, name)
            documented = inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isroutine(obj)
            key = id(obj)
            if documented and key in owner:
                entries.append(("ref", name, owner[key]))
            else:
                if documented:
                    owner[key] = f"{modname}.{name}"
                entries.append(("doc", name, obj))
        plan[modname] = entries
    pages = {}
    for modname, title, intro in API_PAGES:
        lines = [f".. This page is generated from {modname}.__all__ by docs/_ext/salesplan_docs.py.", "",
                 _title(title), f".. automodule:: {modname}", "   :no-members:", ""]
        if intro:
            lines += [intro, ""]
        refs = []
        for kind, name, obj in plan[modname]:
            if kind == "ref":
                refs.append(f"* ``{name}``: :py:obj:`{obj}`")
                continue
            target = f"{modname}.{name}"
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                lines += [f".. autoexception:: {target}", ""]
            elif inspect.isclass(obj):
                lines += [f".. autoclass:: {target}", "   :members:", ""]
            elif callable(obj):
                lines += [f".. autofunction:: {target}", ""]
            else:
                lines += [f".. autodata:: {target}", "   :no-value:", ""]
        if refs:
            lines += [_title("Also available here", "-"), *refs, ""]
        pages[f"api_{modname.replace('.', '_')}"] = "\n".join(lines)
    return pages


def write_generated(app: Sphinx) -> None:
    """Write the generated reference pages (only when their text changed, so Sphinx rebuilds only those)."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    pages = {"tables": tables_page(), "config": config_page(), **api_pages()}
    order = [f"api_{m.replace('.', '_')}" for m, _, _ in [API_PAGES[-2], *API_PAGES[:-2], API_PAGES[-1]]]
    pages["api"] = "\n".join([".. This page is generated by docs/_ext/salesplan_docs.py.", "",
                              _title("API reference"),
                              "Every public name: the ``__all__`` of each module below. Functions and classes "
                              "re-exported by several modules are documented once and linked from the others.",
                              "", ".. toctree::", "   :maxdepth: 1", "", *[f"   {p}" for p in order], ""])
    for name, text in pages.items():
        path = GENERATED / f"{name}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for stale in GENERATED.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()


def check_notebooks(app: Sphinx) -> None:
    """Every notebook has an executed copy in docs/examples/ made from its current source."""
    problems = []
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        copy = DOCS / "examples" / source.name
        if not copy.exists():
            problems.append(f"{copy.relative_to(ROOT)} is missing")
            continue
        stamp = json.loads(copy.read_text(encoding="utf-8")).get("metadata", {}).get("salesplan", {})
        if stamp.get("source_sha256") != hashlib.sha256(source.read_bytes()).hexdigest():
            problems.append(f"{copy.relative_to(ROOT)} was executed from an older {source.relative_to(ROOT)}")
    extra = {p.name for p in (DOCS / "examples").glob("*.ipynb")} - {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    for name in sorted(extra):
        (DOCS / "examples" / name).unlink()
    if problems:
        raise ExtensionError("executed notebooks are missing or stale: " + "; ".join(problems)
                             + ". Run `make docs` (it executes them through tests/test_notebooks.py).")


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_generated)
    app.connect("builder-inited", check_notebooks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":  # `python docs/_ext/salesplan_docs.py --check-notebooks`: exit 1 when stale
    import sys

    try:
        check_notebooks(None)  # type: ignore[arg-type]
    except ExtensionError as exc:
        print(exc, file=sys.stderr)  # noqa: T201
        sys.exit(1)
