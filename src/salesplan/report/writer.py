"""Write a report to a folder atomically: HTML, PDF, Excel and summary.json.

Every file is rendered into a staging folder beside the target; only when all of them are complete is the
staging folder swapped into place (with the Linux ``renameat2(RENAME_EXCHANGE)`` call where available, else two
renames). A run that fails at any point removes its staging folder and leaves the previous report untouched.
A folder that exists but was not written by salesplan (no ``.salesplan-report`` marker) is never replaced.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> from salesplan.report.model import Report
>>> from salesplan.report.writer import write_report
>>> out = Path(tempfile.mkdtemp()) / "report"
>>> paths = write_report(Report("R", as_of=pd.Timestamp("2025-12-31")), out, formats=("html", "json"))
>>> sorted(p.name for p in paths.values())
['report.html', 'summary.json']
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from salesplan.errors import ConfigError
from salesplan.report.model import Report

__all__ = ["write_report", "FILE_NAMES", "MARKER"]

logger = logging.getLogger(__name__)

FILE_NAMES = {"html": "report.html", "pdf": "report.pdf", "xlsx": "report.xlsx", "json": "summary.json"}
MARKER = ".salesplan-report"


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
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        for fmt, render in renderers.items():
            if progress is not None:
                progress(fmt)
            data = render(report)
            (staging / FILE_NAMES[fmt]).write_bytes(data)
            logger.info("rendered %s (%d bytes)", FILE_NAMES[fmt], len(data))
        (staging / MARKER).write_text(json.dumps({"files": [FILE_NAMES[f] for f in formats]}) + "\n")
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
