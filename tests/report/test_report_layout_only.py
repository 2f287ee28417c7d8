"""``report/`` only lays out: no import circle between its modules, no data arithmetic in them.

Both checks read the source (``ast``), so they see imports inside functions and every call, whether or not a
test happens to run that code path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import salesplan.report

REPORT = Path(salesplan.report.__file__).parent
MODULES = {f"salesplan.report.{p.stem}" if p.stem != "__init__" else "salesplan.report": p
           for p in sorted(REPORT.glob("*.py"))}

#: Methods that compute on data (pandas / numpy): none may be called in report/.
COMPUTING_METHODS = {
    "groupby", "merge", "join_asof", "agg", "aggregate", "pivot", "pivot_table", "crosstab", "melt", "stack",
    "unstack", "resample", "rolling", "expanding", "ewm", "transform", "apply", "map", "sum", "mean", "median",
    "min", "max", "std", "var", "quantile", "cumsum", "cumprod", "cummax", "cummin", "diff", "pct_change",
    "value_counts", "nunique", "count", "size", "prod", "clip", "round", "abs", "corr", "cov", "rank", "nlargest",
    "nsmallest", "idxmax", "idxmin", "sort_values", "drop_duplicates", "fillna", "interpolate", "where", "mask",
    "isin", "between", "query", "eval", "to_period", "dot", "div", "mul", "truediv", "floordiv",
}
#: Data-free helpers of numpy / pandas that formatting may use (type checks, constructors of labels).
ALLOWED_MODULE_CALLS = {
    ("np", "isfinite"), ("np", "isnan"), ("pd", "DataFrame"), ("pd", "Timestamp"), ("pd", "isna"),
    ("pd", "DateOffset"), ("pd", "read_csv"), ("pd", "read_parquet"), ("pd", "read_excel"),
}
#: Modules that only arrange figures: not even an arithmetic operator or an aggregating built-in. The renderers
#: and the config reader (blocks, html, pdf, excel, writer, config) may use operators for page geometry, number
#: formatting and path joins, but no numpy / pandas computation either.
STRICT = {"salesplan.report", "salesplan.report.sections", "salesplan.report.context", "salesplan.report.build",
          "salesplan.report.model"}
#: Built-ins that aggregate.
COMPUTING_BUILTINS = {"sum", "min", "max", "round", "abs", "divmod", "pow"}
ARITHMETIC = (ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult)


def _report_imports(tree: ast.AST, module: str) -> set[str]:
    """salesplan.report modules imported anywhere in ``tree`` (also inside functions), except under
    ``if TYPE_CHECKING:``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out.update(n for n in names if n in MODULES and n != module)
    return out


def test_report_modules_have_no_import_circle() -> None:
    graph = {m: _report_imports(ast.parse(p.read_text(encoding="utf-8")), m) for m, p in MODULES.items()}
    graph["salesplan.report"] = set()  # the package's re-exports are the entry point, not a layer
    # depth-first search for a back edge
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1  # on the current path
        for nxt in sorted(graph.get(node, set())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif state.get(nxt) is None:
                visit(nxt, [*path, nxt])
        state[node] = 2  # done

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert len(graph) >= 10 and sum(len(v) for v in graph.values()) >= 10
    assert not cycles, f"import circle(s) in salesplan.report: {cycles}"


def test_the_circle_check_finds_a_circle() -> None:
    a = ast.parse("from salesplan.report.model import Report")
    b = ast.parse("def f():\n    from salesplan.report.html import render_html\n")
    assert _report_imports(a, "salesplan.report.html") == {"salesplan.report.model"}
    assert _report_imports(b, "salesplan.report.model") == {"salesplan.report.html"}
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from salesplan.report.model import X\n")
    assert _report_imports(guarded, "salesplan.report.html") == set()


def _arithmetic(tree: ast.AST, strict: bool = True) -> list[str]:
    found = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if not strict and isinstance(node, ast.BinOp | ast.AugAssign):
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
            # string formatting with % is not arithmetic
            if not (isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
                    and isinstance(node.left.value, str)):
                found.append(f"{where}: {type(node.op).__name__} operator")
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ARITHMETIC):
            found.append(f"{where}: augmented {type(node.op).__name__}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                base = func.value.id if isinstance(func.value, ast.Name) else None
                if base in ("np", "numpy", "pd", "pandas", "scipy"):
                    if (base, func.attr) not in ALLOWED_MODULE_CALLS:
                        found.append(f"{where}: {base}.{func.attr}()")
                elif func.attr in COMPUTING_METHODS:
                    found.append(f"{where}: .{func.attr}()")
            elif strict and isinstance(func, ast.Name) and func.id in COMPUTING_BUILTINS:
                found.append(f"{where}: {func.id}()")
    return found


def test_report_modules_do_no_data_arithmetic() -> None:
    assert STRICT <= set(MODULES) and len(MODULES) >= 10
    problems = {}
    for module, path in MODULES.items():
        found = _arithmetic(ast.parse(path.read_text(encoding="utf-8")), strict=module in STRICT)
        if found:
            problems[module] = found
    assert not problems, f"report/ computes on data (move it into salesplan.Analysis or the library): {problems}"


def test_the_arithmetic_check_finds_arithmetic() -> None:
    code = ("t = frame.groupby('process').size()\n"
            "r = won / target\n"
            "x = np.nansum(values)\n"
            "y = pd.concat([a, b])\n"
            "z = sum(values)\n"
            "ok = f'{value:.0%}' + 'text'\n"
            "fine = np.isfinite(v)\n")
    assert _arithmetic(ast.parse("w = width * dpi\nn = max(a, b)\n"), strict=False) == []
    found = _arithmetic(ast.parse(code))
    assert sorted(f.split(": ")[1] for f in found) == sorted([".groupby()", ".size()", "Div operator",
                                                              "np.nansum()", "pd.concat()", "sum()"])
