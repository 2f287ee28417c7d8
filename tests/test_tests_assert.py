"""No hollow tests: every test function asserts something (a guard on the suite itself).

A test function passes this check when its body (or a helper function of the same module that it calls, or a
fixture-free module helper one call deep) contains an ``assert`` statement, ``pytest.raises``/``pytest.warns``,
or a ``*.testing.assert_*`` call. This catches tests that only run code ("no exception"); it cannot judge whether
an assertion is strong, which the value tests and ``make mutation`` (benchmarks/mutation.py) address.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKS = ("raises", "warns", "deprecated_call", "fail")


def _asserts(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Call):
            f = sub.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in CHECKS or name.startswith("assert_"):
                return True
    return False


def _called_names(node: ast.AST) -> set[str]:
    return {sub.func.id for sub in ast.walk(node) if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)}


def hollow_tests(path: Path) -> list[str]:
    """Names of the test functions of ``path`` that assert nothing, directly or through a module helper."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    asserting = {name for name, f in funcs.items() if _asserts(f)}
    for _ in range(3):  # helpers calling helpers
        asserting |= {name for name, f in funcs.items() if _called_names(f) & asserting}
    return [name for name, f in funcs.items() if name.startswith("test_") and name not in asserting]


def test_every_test_function_asserts() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 40
    hollow = {str(p.relative_to(TESTS)): names for p in files if (names := hollow_tests(p))}
    assert not hollow, f"test functions that assert nothing: {hollow}"


def test_the_check_finds_a_hollow_test(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("def helper(x):\n    assert x\n\n"
                      "def test_runs():\n    sum([1, 2])\n\n"
                      "def test_via_helper():\n    helper(1)\n\n"
                      "def test_raises():\n    with pytest.raises(ValueError):\n        int('x')\n")
    assert hollow_tests(sample) == ["test_runs"]
