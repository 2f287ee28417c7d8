"""Build the sdist and wheel, install the wheel outside the checkout and use it there as a new user would.

The fresh virtual environment gets salesplan from the wheel only (``pip install --no-deps``); its dependencies are
borrowed from the running environment through a ``.pth`` file, so the test needs no network and no second copy
of numpy and friends. A ``.pth`` entry is a plain path, so the editable install of the running environment (which
hooks in through its own ``.pth`` file, not processed there) stays invisible: the test checks that ``salesplan``
is imported from the fresh environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

import salesplan

ROOT = Path(__file__).resolve().parents[1]
#: Executed here only (on the wheel); its executed copy is what the docs render (see tests/test_notebooks.py).
NOTEBOOK = ROOT / "notebooks" / "05_control_report.ipynb"


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def _source_copy(dest: Path) -> Path:
    """The files git would commit (tracked or new, not ignored): no stale build/ or egg-info leaks into the wheel."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("build")
    src = _source_copy(tmp / "src")
    out = tmp / "dist"
    # --no-isolation: the build backend (setuptools, from the dev extra) is already installed; nothing is downloaded
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, src, cwd=tmp)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("user")
    assert ROOT not in home.parents
    env_dir = home / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=home)
    python = env_dir / "bin" / "python"
    (wheel,) = dist.glob("*.whl")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel,
         cwd=home)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home).strip())
    (site / "_salesplan_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESPLAN_", "PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)  # no user-level Jupyter kernels or configs of the machine
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.mark.slow
def test_sdist_and_wheel_build_and_pass_twine_check(dist: Path) -> None:
    sdist, wheel = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    version = salesplan.__version__
    assert [p.name for p in sdist] == [f"salesplan-{version}.tar.gz"]
    assert [p.name for p in wheel] == [f"salesplan-{version}-py3-none-any.whl"]
    assert "PASSED" in _run(sys.executable, "-m", "twine", "check", "--strict", *sdist, *wheel, cwd=dist)
    names = zipfile.ZipFile(wheel[0]).namelist()
    for table in ("customers", "orders", "opportunities", "stage_events", "activities", "targets"):
        assert f"salesplan/datasets/example/{table}.csv.gz" in names
    assert "salesplan/py.typed" in names and "salesplan/__main__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "data/", "docs/"))]
    assert wheel[0].stat().st_size < 2_000_000


@pytest.mark.slow
def test_installed_wheel_works_outside_the_checkout(venv: Path) -> None:
    home = venv.parent
    env = _env(home)
    python, salesplan_cmd = venv / "bin" / "python", venv / "bin" / "salesplan"

    # the package comes from the wheel in the fresh environment, not from the editable checkout
    code = ("import salesplan; d = salesplan.datasets.load_example(); "
            "print(salesplan.__file__); print(salesplan.__version__); print(len(d.tables['orders']))")
    file, version, n_orders = _run(python, "-c", code, cwd=home, env=env).split()
    assert Path(file).is_relative_to(venv) and version == salesplan.__version__ and n_orders == "1892"
    assert _run(python, "-m", "salesplan", "--version", cwd=home, env=env).strip() == f"salesplan {version}"

    # the main job: the demo report, all four files, with content
    out = home / "report"
    _run(salesplan_cmd, "-q", "demo", "--out", out, cwd=home, env=env)
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    assert sizes.keys() >= {"report.html", "report.pdf", "report.xlsx", "summary.json"}
    assert sizes["report.html"] > 50_000 and sizes["report.pdf"] > 20_000 and sizes["report.xlsx"] > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary and str(summary).count("acquisition") > 0
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")

    # a project skeleton with the example data, ready for `salesplan report`
    project = home / "project"
    printed = _run(salesplan_cmd, "init", project / "report.toml", "--example-data", cwd=home, env=env)
    assert f"wrote {project / 'report.toml'}" in printed and "as_of = 2026-01-01" in (project / "report.toml").read_text()
    assert sum(1 for _ in (project / "data" / "orders.csv").open()) == 1892 + 1


@pytest.mark.slow
@pytest.mark.notebook
def test_control_report_notebook_runs_on_the_installed_wheel(venv: Path, save_executed_notebook,
                                                              display_problems) -> None:
    home = venv.parent
    env = _env(home)
    python = venv / "bin" / "python"
    _run(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", "salesplan-wheel", cwd=home, env=env)
    work = home / "notebook"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    executed = work / "executed.ipynb"
    script = f"""
import nbformat
from nbclient import NotebookClient
nb = nbformat.read({str(work / NOTEBOOK.name)!r}, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import salesplan; print(salesplan.__file__)"))
NotebookClient(nb, timeout=600, kernel_name="salesplan-wheel", resources={{"metadata": {{"path": {str(work)!r}}}}}).execute()
errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
assert not errors, errors
print(nb.cells[-1].outputs[0].text.strip())
nb.cells.pop()
nbformat.write(nb, {str(executed)!r})
"""
    printed = _run(python, "-c", script, cwd=work, env=env).strip().splitlines()[-1]
    assert Path(printed).is_relative_to(venv)
    nb = nbformat.read(executed, as_version=4)
    assert not display_problems(nb), "; ".join(display_problems(nb))
    # the docs render this run's outputs instead of executing the notebook again
    save_executed_notebook(nb, NOTEBOOK)
