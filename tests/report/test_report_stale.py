"""Output safety: stale staging folders of killed runs are removed (and said so), foreign ones never touched; the
output path is checked before any work."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.report.model import Report
from salesplan.report.writer import STAGING_MARKER, check_output, write_report


def _staging(parent, name: str, pid: int | None, age: float):
    folder = parent / name
    folder.mkdir()
    (folder / "report.html").write_text("half written")
    if pid is not None:
        (folder / STAGING_MARKER).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                                         "started": time.time() - age}))
    stamp = time.time() - age
    for p in [*folder.iterdir(), folder]:
        os.utime(p, (stamp, stamp))
    return folder


def test_stale_staging_of_a_killed_run_is_removed_and_logged(tmp_path, caplog):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    killed = _staging(tmp_path, ".out.staging-killed1", dead_pid, age=3600)
    running = _staging(tmp_path, ".out.staging-running", os.getppid(), age=3600)  # its process still runs
    foreign = _staging(tmp_path, ".out.staging-foreign", None, age=3600)  # no marker: not ours
    other = _staging(tmp_path, ".other.staging-x", dead_pid, age=3600)  # another output's
    with caplog.at_level(logging.WARNING, logger="salesplan"):
        write_report(Report("R", as_of=pd.Timestamp("2025-12-31")), tmp_path / "out", formats=("json",))
    assert not killed.exists()
    assert running.exists() and foreign.exists() and other.exists()
    assert any("stale staging folder" in r.getMessage() and "killed1" in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".salesplan-report", "summary.json"]


def test_output_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        check_output(tmp_path / "file")
    with pytest.raises(ConfigError, match="cannot create the output folder"):
        check_output(tmp_path / "file" / "report")
    assert check_output(tmp_path / "new" / "report") == []
