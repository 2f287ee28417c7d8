"""Write a report to a folder atomically: HTML, PDF, Excel and summary.json.

Every file is rendered into a staging folder beside the target; only when all of them are complete is the
staging folder swapped into place (with the Linux ``renameat2(RENAME_EXCHANGE)`` call where available, else two
renames). A run that fails at any point removes its staging folder and leaves the previous report untouched.
A folder that exists but was not written by salesplan (no ``.salesplan-report`` marker) is never replaced.

:func:`check_output` checks the target before any work (the batch command calls it before reading data), and
removes stale staging folders of earlier runs that were killed while writing: folders named
``.<out>.staging-*`` or ``.<out>.old-*`` beside the target that carry salesplan's staging marker
(``.salesplan-staging``, written first), are older than the current run and whose process is no longer running.
Each removal is logged at WARNING. Foreign folders are never touched.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> from salesplan.report.model import Report
>>> from salesplan.report.writer import write_report
>>> out = Path(tempfile.mkdtemp()) / "report"
>>> from salesplan.report.blocks import KeyFigure
>>> rep = Report("R", as_of=pd.Timestamp("2025-12-31"), key_figures=[KeyFigure("Won", 3, low=2, high=5)])
>>> paths = write_report(rep, out, formats=("html", "json"))
>>> sorted(p.name for p in paths.values())
['report.html', 'summary.json']
>>> import json
>>> figure = json.loads(paths["json"].read_text())["key_figures"][0]
>>> figure["label"], figure["value"], figure["low"], figure["high"]
('Won', 3, 2, 5)
>>> '<div class="value">3 (2 – 5)</div>' in paths["html"].read_text()
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from salesplan.errors import ConfigError
from salesplan.report.model import Report

__all__ = ["write_report", "check_output", "FILE_NAMES", "MARKER", "STAGING_MARKER"]

logger = logging.getLogger(__name__)

FILE_NAMES = {"html": "report.html", "pdf": "report.pdf", "xlsx": "report.xlsx", "json": "summary.json"}
MARKER = ".salesplan-report"
STAGING_MARKER = ".salesplan-staging"


def _render(fmt: str) -> Callable[[Report], bytes]:
    if fmt == "html":
        from salesplan.report.html import render_html

        return lambda r: render_html(r).encode("utf-8")
    if fmt == "pdf":
        from salesplan.report.pdf import render_pdf

        return render_pdf
    if fmt == "xlsx":
        from salesplan.report.excel import render_xlsx

        return render_xlsx
    if fmt == "json":
        return lambda r: (json.dumps(r.summary(), indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
    raise ConfigError(f"unknown report format {fmt!r}; formats are {list(FILE_NAMES)}")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when the call is unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"--out {out}: folder exists, is not empty and was not written by salesplan; "
                          "choose a new or empty folder (salesplan replaces the whole output folder)")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        raise ConfigError(f"--out {out}: cannot create the output folder in {parent} (not a writable folder)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale(out: Path, started: float) -> list[Path]:
    """Remove salesplan's own staging folders left beside ``out`` by runs that were killed (see module doc)."""
    removed = []
    if not out.parent.is_dir():
        return removed
    for cand in sorted(out.parent.glob(f".{out.name}.staging-*")) + sorted(out.parent.glob(f".{out.name}.old-*")):
        old = cand.name.startswith(f".{out.name}.old-")  # a previous report moved aside during a swap
        marker = cand / (MARKER if old else STAGING_MARKER)
        if not cand.is_dir() or cand.is_symlink() or not marker.is_file():
            continue
        try:
            info = {} if old else json.loads(marker.read_text())
            if cand.stat().st_mtime >= started or marker.stat().st_mtime >= started:
                continue
            if info.get("host") == socket.gethostname() and _alive(int(info.get("pid", -1))) \
                    and int(info.get("pid", -1)) != os.getpid():
                continue
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        shutil.rmtree(cand, ignore_errors=True)
        if not cand.exists():
            removed.append(cand)
            logger.warning("removed a stale staging folder of an earlier salesplan run that did not finish: %s",
                           cand)
    return removed


def check_output(out: str | Path, started: float | None = None) -> list[Path]:
    """Check an output folder before any work and remove salesplan's own stale staging folders beside it.

    Parameters
    ----------
    out : path
        The output folder (need not exist).
    started : float, optional
        Start time of the current run (``time.time()``); staging folders modified since are kept.

    Returns
    -------
    list of Path
        The stale staging folders removed (each also logged at WARNING).

    Raises
    ------
    ConfigError
        ``out`` is a file, a non-empty folder not written by salesplan, or cannot be created.

    Examples
    --------
    >>> import tempfile
    >>> check_output(Path(tempfile.mkdtemp()) / "report")
    []
    """
    out = Path(out).absolute()
    _check_target(out)
    return _remove_stale(out, time.time() if started is None else started)


def write_report(report: Report, out: str | Path, formats: Iterable[str] = tuple(FILE_NAMES),
                 progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Render ``report`` in each format and put the files in folder ``out`` in one atomic step.

    Parameters
    ----------
    report : Report
    out : path
        Output folder; created (with parents) when missing, replaced as a whole when it holds an earlier report.
    formats : iterable of {"html", "pdf", "xlsx", "json"}
    progress : callable, optional
        Called with each format name before it is rendered.

    Returns
    -------
    dict
        Format -> final path of its file.

    Raises
    ------
    ConfigError
        ``out`` is a file, or a non-empty folder not written by salesplan.
    """
    out = Path(out).absolute()
    formats = list(dict.fromkeys(formats))
    renderers = {fmt: _render(fmt) for fmt in formats}
    check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        (staging / STAGING_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                          "started": time.time()}) + "\n")
        for fmt, render in renderers.items():
            if progress is not None:
                progress(fmt)
            data = render(report)
            (staging / FILE_NAMES[fmt]).write_bytes(data)
            logger.info("rendered %s (%d bytes)", FILE_NAMES[fmt], len(data))
        (staging / MARKER).write_text(json.dumps({"files": [FILE_NAMES[f] for f in formats]}) + "\n")
        (staging / STAGING_MARKER).unlink()
        os.chmod(staging, 0o755)
        if out.exists():
            if _exchange(staging, out):
                shutil.rmtree(staging)  # staging now holds the previous report
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                old.rmdir()
                os.rename(out, old)
                try:
                    os.rename(staging, out)
                except OSError:
                    os.rename(old, out)
                    raise
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {fmt: out / FILE_NAMES[fmt] for fmt in formats}
