"""Expressions users write in configuration (assignment rules), parsed by a small grammar: data, never code.

An expression is read with Python's :mod:`ast` parser and accepted only when every node belongs to a short
whitelist; it is then evaluated on a pandas frame with numpy/pandas operations (never ``DataFrame.query``/``eval``,
``eval`` or ``exec``), so a rules file shared by a team, or a report configuration that points to one, cannot run
code.

Grammar
    column names (``p_alive``; names with blanks in backticks: ```share of wallet```), numbers, strings,
    ``True``/``False``/``None``; comparisons ``== != < <= > >=`` (chained as in Python), ``in [...]`` and
    ``not in [...]`` with a list of constants; ``and``, ``or``, ``not``; ``+ - * / // % **`` and unary ``-``;
    calls of the functions in :data:`FUNCTIONS` (``abs``, ``log``, ``log1p``, ``exp``, ``sqrt``, ``min``, ``max``,
    ``clip``, ``round``, ``isna``, ``notna``) with positional arguments.

Refused with a :class:`~salesplan.ConfigError` naming the expression's owner and the offending token: ``@`` names
(variables of the calling program), attribute access (``a.b``), subscripts (``a[0]``), dunder names, calls of
anything outside the whitelist, keyword arguments, lambdas, comprehensions, f-strings, conditional expressions,
assignments and anything else that is not in the grammar; names that are not columns of the table when it is
checked (:meth:`Expression.check_columns`).

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"p_alive": [0.4, 0.9], "value_class": ["A", "C"], "spend": [100.0, 20.0]})
>>> expr = Expression("value_class in ['A', 'B'] and p_alive < 0.7", owner="rule 'retention' (when)")
>>> expr.evaluate(frame).tolist(), sorted(expr.names)
([True, False], ['p_alive', 'value_class'])
>>> Expression("spend / max(1, p_alive * 10)").evaluate(frame).tolist()
[25.0, 2.2222222222222223]
>>> Expression("p_alive.__class__", owner="rule 'x' (when)")
Traceback (most recent call last):
...
salesplan.errors.ConfigError: rule 'x' (when): 'p_alive.__class__' is not allowed (attribute access (a.b): not in the expression grammar); write columns, numbers, comparisons, and/or/not, arithmetic and the functions abs, clip, exp, isna, log, log1p, max, min, notna, round, sqrt
"""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
from collections.abc import Callable, Iterable
from functools import lru_cache, reduce
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError

__all__ = ["Expression", "FUNCTIONS", "parse_expression"]


def _nary(func: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if len(args) < 2:
            raise TypeError("needs at least two arguments")
        return reduce(func, args)

    return call


def _clip(x: Any, lower: Any = None, upper: Any = None) -> Any:
    return np.clip(x, lower, upper) if isinstance(x, pd.Series) else float(np.clip(x, lower, upper))


def _isna(x: Any) -> Any:
    return x.isna() if isinstance(x, pd.Series) else bool(pd.isna(x))


#: The functions an expression may call (elementwise on columns).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs, "log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt,
    "min": _nary(np.minimum), "max": _nary(np.maximum), "clip": _clip, "round": np.round,
    "isna": _isna, "notna": lambda x: ~_isna(x) if isinstance(x, pd.Series) else not _isna(x),
}

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge}
_WHY = {
    ast.Attribute: "attribute access (a.b)", ast.Subscript: "subscripts (a[...])", ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.JoinedStr: "f-strings", ast.IfExp: "conditional expressions",
    ast.NamedExpr: "assignments", ast.Starred: "starred arguments", ast.Await: "await", ast.Dict: "dicts",
    ast.Set: "sets",
}
_GRAMMAR = ("write columns, numbers, comparisons, and/or/not, arithmetic and the functions "
            + ", ".join(sorted(FUNCTIONS)))
_BACKTICK = re.compile(r"`([^`]*)`")


class Expression:
    """One parsed expression (see the module docstring for the grammar).

    Parameters
    ----------
    text : str
        The expression as the user wrote it.
    owner : str
        Who wrote it, for messages (e.g. ``"assignment rule 'retention' (when)"``).

    Attributes
    ----------
    names : frozenset of str
        The column names the expression uses.

    Raises
    ------
    ConfigError
        Naming ``owner`` and the offending token when the text is not in the grammar.
    """

    def __init__(self, text: str, owner: str = "expression") -> None:
        self.text = text
        self.owner = owner
        self._tree, self._columns = _parse(text, owner)
        self.names = frozenset(self._columns.values())

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def check_columns(self, columns: Iterable[Any]) -> None:
        """Raise a :class:`ConfigError` naming the first name that is not one of ``columns``."""
        have = {str(c) for c in columns}
        unknown = sorted(n for n in self.names if n not in have)
        if unknown:
            raise ConfigError(f"{self.owner}: {unknown[0]!r} is not a column of the table; columns are "
                              f"{sorted(have)[:40]}")

    def evaluate(self, frame: pd.DataFrame) -> Any:
        """The expression's value on ``frame``: a Series aligned with it, or a scalar for constant expressions.

        Raises
        ------
        ConfigError
            Unknown columns, or an operation the column types do not support (naming ``owner``).
        """
        self.check_columns(frame.columns)
        try:
            with np.errstate(all="ignore"):
                return _eval(self._tree.body, frame, self._columns)
        except ConfigError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ConfigError(f"{self.owner}: {self.text!r} cannot be evaluated on the table: "
                              f"{type(exc).__name__}: {exc}") from None


def parse_expression(text: str, owner: str = "expression") -> Expression:
    """Parse ``text`` (cached); see :class:`Expression`.

    Examples
    --------
    >>> sorted(parse_expression("not has_orders and resemblance >= 0.2").names)
    ['has_orders', 'resemblance']
    """
    return _cached(text, owner)


@lru_cache(maxsize=512)
def _cached(text: str, owner: str) -> Expression:
    return Expression(text, owner)


def _refuse(owner: str, token: str, why: str) -> ConfigError:
    return ConfigError(f"{owner}: {token!r} is not allowed ({why}: not in the expression grammar); {_GRAMMAR}")


def _parse(text: str, owner: str) -> tuple[ast.Expression, dict[str, str]]:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{owner}: expected a non-empty expression, got {text!r}")
    columns: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        name = f"_col{len(columns)}_"
        columns[name] = match.group(1)
        return name

    source = _BACKTICK.sub(placeholder, text)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ConfigError(f"{owner}: {text!r} is not a valid expression ({exc})") from None
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string == "@":
            nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
            raise _refuse(owner, f"@{nxt}", "'@' names (variables of the calling program)")
        if tok.type == tokenize.ERRORTOKEN and tok.string.strip():
            raise _refuse(owner, tok.string, f"the character {tok.string!r}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{owner}: {text!r} is not a valid expression ({exc.msg}, at column "
                          f"{exc.offset})") from None
    for node in ast.walk(tree):
        _check(node, source.strip(), owner, columns)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS:
            columns.setdefault(node.id, node.id)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    bare_functions = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in FUNCTIONS
                      and n.id not in called]
    if bare_functions:
        raise _refuse(owner, bare_functions[0], "a function name that is not called")
    return tree, columns


_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp,
            ast.Compare, ast.Name, ast.Load, ast.Constant, ast.Call, ast.List, ast.Tuple,
            *_BIN, *_CMP, ast.In, ast.NotIn)


def _check(node: ast.AST, source: str, owner: str, columns: dict[str, str]) -> None:
    segment = ast.get_source_segment(source, node) or type(node).__name__
    if not isinstance(node, _ALLOWED):
        why = _WHY.get(type(node), f"{type(node).__name__} nodes")
        raise _refuse(owner, _restore(segment, columns), why)
    if isinstance(node, ast.Name) and node.id.startswith("__"):
        raise _refuse(owner, node.id, "dunder names")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool | type(None)):
        raise _refuse(owner, segment, "this kind of constant")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = ast.get_source_segment(source, node.func) or "?"
            raise _refuse(owner, _restore(name, columns), "calls of functions outside the whitelist")
        if node.keywords:
            raise _refuse(owner, _restore(segment, columns), "keyword arguments")
    if isinstance(node, ast.List | ast.Tuple):
        if not all(isinstance(e, ast.Constant) or (isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant))
                   for e in node.elts):
            raise _refuse(owner, _restore(segment, columns), "lists of anything but constants")
    if isinstance(node, ast.Compare):
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn) != isinstance(right, ast.List | ast.Tuple):
                raise _refuse(owner, _restore(segment, columns),
                              "'in' with anything but a list of constants (and lists outside 'in')")


def _restore(segment: str, columns: dict[str, str]) -> str:
    for name, column in columns.items():
        segment = segment.replace(name, f"`{column}`")
    return segment


def _truth(value: Any) -> Any:
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value):
            return value.fillna(False).astype(bool)
        return value.astype("boolean").fillna(False).astype(bool)
    return bool(value) if not pd.isna(value) else False


def _eval(node: ast.AST, frame: pd.DataFrame, columns: dict[str, str]) -> Any:
    if isinstance(node, ast.Constant):
        value = node.value
        return np.float64(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if isinstance(node, ast.Name):
        return frame[columns.get(node.id, node.id)]
    if isinstance(node, ast.BoolOp):
        values = [_truth(_eval(v, frame, columns)) for v in node.values]
        op = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        return reduce(op, values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, frame, columns)
        if isinstance(node.op, ast.Not):
            truth = _truth(value)
            return ~truth if isinstance(truth, pd.Series) else not truth
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _BIN[type(node.op)](_eval(node.left, frame, columns), _eval(node.right, frame, columns))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, frame, columns)
        result: Any = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                options = [_eval(e, frame, columns) for e in right_node.elts]  # type: ignore[attr-defined]
                hit = left.isin(options) if isinstance(left, pd.Series) else left in options
                part = (~hit if isinstance(hit, pd.Series) else not hit) if isinstance(op, ast.NotIn) else hit
                right = None
            else:
                right = _eval(right_node, frame, columns)
                part = _CMP[type(op)](left, right)
            result = _truth(part) if result is True else result & _truth(part)
            left = right
        return result
    if isinstance(node, ast.Call):
        func = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]
        return func(*[_eval(a, frame, columns) for a in node.args])
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, frame, columns) for e in node.elts]
    raise ConfigError(f"internal: unexpected node {type(node).__name__}")  # pragma: no cover - checked at parse
