"""Execute every notebook in notebooks/ (they are committed without outputs).

Each notebook that runs cleanly is also written, with its outputs, to ``docs/examples/`` (git-ignored): the
documentation renders those copies instead of executing the notebooks a second time. The copy records the
SHA-256 of its source, so the docs build can refuse a stale copy. The control-report notebook is executed once,
by ``tests/test_packaging.py`` on the installed wheel, which writes its copy the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Notebooks executed by another test (file name -> test), not a second time here.
EXECUTED_ELSEWHERE = {"05_control_report.ipynb": "tests/test_packaging.py"}
NOTEBOOKS = [p for p in ALL_NOTEBOOKS if p.name not in EXECUTED_ELSEWHERE]
#: Charts each notebook must show inline as PNG (figures built outside pyplot are shown with ``display(fig)``).
PNG_CHARTS = {"06_forecast_accountability.ipynb": 3}
#: Key figures a notebook prints, checked against the simulator's truth (patterns of its text output).
KEY_FIGURES = {"06_forecast_accountability.ipynb": [
    # the reps' known biases recovered: inside their 95% intervals for about 95% of the 15 reps
    r"true bias inside the 95% interval for (1[3-5]) of 15 reps",
    # in week 13 salesplan's re-run forecast, which knows most of the quarter, is closer than the calls
    r"calls scored; the model is closer than the calls from week 13 on",
]}


def run_notebook(path: Path, cwd: Path, kernel_name: str = "python3") -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` with working directory ``cwd``; fail on any error output."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name=kernel_name, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    return nb


def test_display_check_flags_a_chart_shown_as_text(display_problems) -> None:
    """The check cannot be hollow: an Axes value without a PNG and a Figure placeholder are both caught."""
    nb = nbformat.v4.new_notebook()
    text_only = nbformat.v4.new_output("execute_result", {"text/plain": "<Axes: title={'center': 'x'}>"})
    with_png = nbformat.v4.new_output("execute_result", {"text/plain": "[chart: x]", "image/png": "iVBORw0KGgo="})
    placeholder = nbformat.v4.new_output("stream", name="stdout", text="<Figure size 700x400 with 1 Axes>\n")
    nb.cells = [nbformat.v4.new_code_cell("ax", outputs=[text_only]), nbformat.v4.new_code_cell("fig", outputs=[with_png]),
                nbformat.v4.new_code_cell("print(fig)", outputs=[placeholder])]
    assert [p.split(":")[0] for p in display_problems(nb)] == ["cell 0", "cell 2"]


def test_every_notebook_shows_its_charts_inline() -> None:
    """Charts are built outside pyplot; each notebook registers their inline display (salesplan.plot.notebook)."""
    for path in ALL_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "show_inline()" in source, f"{path.name} does not call salesplan.plot.notebook.show_inline()"
        assert 'matplotlib.use("Agg")' not in source and "%matplotlib" not in source, path.name
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs"


def test_every_notebook_is_executed_by_a_test() -> None:
    for name, test in EXECUTED_ELSEWHERE.items():
        assert (ROOT / "notebooks" / name).exists() and name in (ROOT / test).read_text(encoding="utf-8")
    assert len(NOTEBOOKS) + len(EXECUTED_ELSEWHERE) == len(ALL_NOTEBOOKS) >= 5


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, save_executed_notebook, display_problems) -> None:
    nb = run_notebook(path, path.parent)
    assert not display_problems(nb), f"{path.name}: " + "; ".join(display_problems(nb))
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert pngs >= PNG_CHARTS.get(path.name, 0), f"{path.name}: {pngs} inline PNG chart(s)"
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for pattern in KEY_FIGURES.get(path.name, []):
        assert re.search(pattern, text), f"{path.name}: no output matches {pattern!r}"
    save_executed_notebook(nb, path)
