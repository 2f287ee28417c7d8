"""Every ```python block of the documentation pages runs as written (one namespace per page, in order).

The pages run in a fresh folder where ``salesplan init --example-data`` wrote the example tables as CSV, as the
getting-started page tells a user to do. Blocks fenced ```bash or ```py are shown, not run. The site itself is
built by ``make docs`` (with -W); the notebooks it renders were executed by ``tests/test_notebooks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

from salesplan.cli import main

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not p.relative_to(DOCS).parts[0].startswith(("_", "examples")))
BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)


def test_the_pages_have_examples() -> None:
    with_code = [p.relative_to(DOCS).as_posix() for p in PAGES if BLOCK.search(p.read_text(encoding="utf-8"))]
    assert {"getting_started.md", "guide/segment.md", "guide/conversion.md", "guide/planning.md",
            "guide/forecast_control.md", "guide/report.md"} <= set(with_code)


@pytest.mark.parametrize("page", [p for p in PAGES if BLOCK.search(p.read_text(encoding="utf-8"))],
                         ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "init", "report.toml", "--example-data"]) == 0
    namespace: dict = {}
    for i, block in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
        try:
            exec(compile(block, f"{page.name} python block {i + 1}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message names the block
            raise AssertionError(f"{page.name} python block {i + 1} failed: {exc!r}\n{block}") from exc
    if page.name == "getting_started.md":
        rates = namespace["funnel"].rates
        assert ((rates["rate_low"] <= rates["rate"]) & (rates["rate"] <= rates["rate_high"])).all()
        assert set(rates["process"]) == {"acquisition", "new_product", "delivery_rate", "cross_selling", "retention"}
