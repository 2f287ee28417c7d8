"""Execute every notebook in notebooks/ (they are committed without outputs).

Each notebook that runs cleanly is also written, with its outputs, to ``docs/examples/`` (git-ignored): the
documentation renders those copies instead of executing the notebooks a second time. The copy records the
SHA-256 of its source, so the docs build can refuse a stale copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXECUTED = ROOT / "docs" / "examples"


def run_notebook(path: Path, cwd: Path, kernel_name: str = "python3") -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` with working directory ``cwd``; fail on any error output."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name=kernel_name, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    return nb


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nb = run_notebook(path, path.parent)
    nb.metadata["salesplan"] = {"source_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    EXECUTED.mkdir(parents=True, exist_ok=True)
    tmp = EXECUTED / f".{path.name}.tmp"
    nbformat.write(nb, tmp)
    tmp.replace(EXECUTED / path.name)
