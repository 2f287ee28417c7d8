"""The README's Python examples (```python blocks) run as written, in order, on the example data.

Blocks fenced ```py show code that needs outside systems (a warehouse, a Spark cluster) and are not run here;
benchmarks/spark_example.py runs the Spark path on local Spark.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message names the block
            raise AssertionError(f"README python block {i + 1} failed: {exc!r}\n{block}") from exc
    assert namespace["orders"]["is_return"].tolist() == [False, True]
    assert namespace["fc"].expected > 0
    table = namespace["gap"].table
    parts = table[["volume_effect", "conversion_effect", "timing_effect"]].sum(axis=1)
    assert len(table) > 0
    assert (parts - table["gap"]).abs().max() < 1e-9
