"""The ``salesplan`` command: batch control reports, the demo and an example configuration.

Commands
--------
``salesplan demo [--out DIR]``
    Builds the full control report on the bundled example company and prints the validated-data summary, the
    headline figures and where the report is.
``salesplan report --config report.toml --out DIR``
    Loads the data named in the configuration, builds the report and writes ``report.html``, ``report.pdf``,
    ``report.xlsx`` and ``summary.json`` into ``DIR`` in one atomic step.
``salesplan init [PATH] [--example-data]``
    Writes a commented example configuration (and, with ``--example-data``, the example tables beside it, so
    ``salesplan report`` runs at once).

Batch behaviour: no prompts; logging to stderr (``-q`` errors only, ``-v`` progress messages, ``-vv`` debug with
tracebacks); a progress bar only when stderr is a terminal; the same data and seed give the same report.

Exit codes: 0 success; 2 bad configuration, bad input data or bad arguments (the message names the file, key
or column); 1 anything unexpected (and, with ``--strict``, a report in which a section could not be built);
130 interrupted.

Examples
--------
>>> import tempfile, pathlib
>>> from salesplan.cli import main
>>> path = pathlib.Path(tempfile.mkdtemp()) / "report.toml"
>>> main(["-q", "init", str(path)]), path.read_text().startswith("# salesplan report configuration")
(0, True)
>>> main(["-q", "report", "--config", str(path.with_name("missing.toml")), "--out", "x"])
2
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import salesplan
from salesplan.errors import ConfigError, SalesplanError

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_UNEXPECTED", "EXIT_INPUT"]

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_UNEXPECTED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Progress:
    """A one-line progress bar on a terminal; silent when the stream is not a TTY (a log file, a pipe)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and _isatty(stream)
        self.start = time.monotonic()

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        width = 28
        filled = int(round(width * done / max(total, 1)))
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {label[:30]:<30} {time.monotonic() - self.start:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="log errors only; print only where the report is")
    parser.add_argument("-v", "--verbose", action="count", default=default if suppress else 0,
                        help="log progress (-v) or debug details and tracebacks (-vv)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``salesplan`` command."""
    parser = argparse.ArgumentParser(
        prog="salesplan",
        description="Plan, forecast and control sales processes: batch control reports from your CRM data.",
        epilog="Exit codes: 0 success, 2 bad configuration or input, 1 unexpected error.")
    parser.add_argument("--version", action="version", version=f"salesplan {salesplan.__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,report,init}")

    demo = sub.add_parser("demo", help="build the control report on the bundled example company")
    demo.add_argument("--out", default="demo-report", type=Path, help="output folder (default: demo-report)")
    report = sub.add_parser("report", help="build the control report described by a TOML configuration")
    report.add_argument("--config", required=True, type=Path, help="the report configuration (TOML)")
    report.add_argument("--out", required=True, type=Path, help="output folder (replaced atomically)")
    report.add_argument("--as-of", dest="as_of", default=None, help="data cut (overrides report.as_of)")
    for p in (demo, report):
        p.add_argument("--formats", default=None,
                       help="comma-separated subset of html,pdf,xlsx,json (default: the config's, else all)")
        p.add_argument("--sections", default=None,
                       help="comma-separated subset of the report's sections (default: the config's, else all)")
        p.add_argument("--strict", action="store_true",
                       help="exit 1 when any section of the report could not be built")
        _add_common(p, suppress=True)
    init = sub.add_parser("init", help="write a commented example configuration")
    init.add_argument("path", nargs="?", default="report.toml", type=Path, help="where to write (report.toml)")
    init.add_argument("--example-data", action="store_true",
                      help="also write the example tables into data/ beside the configuration")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    _add_common(init, suppress=True)
    return parser


def _setup_logging(args: argparse.Namespace, stream: TextIO) -> None:
    level = logging.ERROR if args.quiet else {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("salesplan: %(levelname)s: %(message)s"))
    root = logging.getLogger("salesplan")
    for h in list(root.handlers):
        if getattr(h, "_salesplan_cli", False):
            root.removeHandler(h)
    handler._salesplan_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(min(level, logging.WARNING))  # the handler filters; warnings still reach the report


def _formats(args: argparse.Namespace, default: Sequence[str]) -> tuple[str, ...]:
    from salesplan.report.config import FORMATS

    if args.formats is None:
        return tuple(default)
    chosen = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise ConfigError(f"--formats: unknown format(s) {bad or chosen}; choose from {','.join(FORMATS)}")
    return chosen


def _run_report(data: Any, cfg: Any, args: argparse.Namespace, out: TextIO, err: TextIO,
                show_summary: bool) -> int:
    from salesplan.report import build_report, headline_text, write_report

    formats = _formats(args, cfg.report.formats)
    if args.sections is not None:
        import dataclasses

        from salesplan.report.sections import SECTION_KEYS

        chosen = tuple(x.strip() for x in args.sections.split(",") if x.strip())
        bad = [x for x in chosen if x not in SECTION_KEYS]
        if bad or not chosen:
            raise ConfigError(f"--sections: unknown section(s) {bad or chosen}; choose from {','.join(SECTION_KEYS)}")
        cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, sections=chosen))
    bar = _Progress(err, enabled=not args.quiet)
    try:
        report = build_report(data, cfg, progress=bar)
        bar(0, len(formats), "writing " + ", ".join(formats))
        paths = write_report(report, args.out, formats,
                             progress=lambda fmt: bar(formats.index(fmt), len(formats), f"writing {fmt}"))
    finally:
        bar.close()
    lines = []
    if show_summary and not args.quiet:
        summary = data.summary()
        summary["first_date"] = summary["first_date"].dt.strftime("%Y-%m-%d")
        summary["last_date"] = summary["last_date"].dt.strftime("%Y-%m-%d")
        lines += [f"{report.title}", f"Data cut {report.as_of:%Y-%m-%d %H:%M}; reporting period "
                  f"{report.meta.get('period_label', report.period)}", "",
                  "Validated data:", summary.fillna("").to_string(index=False), "",
                  "Opportunities per process:", data.status_counts().to_string(), ""]
    if not args.quiet:
        lines += ["Headline figures:"] + [f"  {line}" for line in headline_text(report)]
        if report.brief:
            lines += ["", "In brief:"] + [f"  - {line}" for line in report.brief]
        lines += ["", f"Report: {len(report.sections)} sections, {len(report.charts())} charts, "
                      f"{len(report.data_quality)} data-quality finding(s)"]
        if report.failed_sections:
            lines.append(f"Sections with warnings: {', '.join(report.failed_sections)}")
    for fmt, path in paths.items():
        lines.append(f"{fmt:>5}: {path}")
    out.write("\n".join(lines) + "\n")
    if args.strict and report.failed_sections:
        logger.error("--strict: %d section(s) could not be built completely: %s", len(report.failed_sections),
                     ", ".join(report.failed_sections))
        return EXIT_UNEXPECTED
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from salesplan.datasets import load_example
    from salesplan.report import demo_config

    logger.info("loading the example data")
    data = load_example()
    return _run_report(data, demo_config(), args, out, err, show_summary=True)


def _cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import dataclasses

    import pandas as pd

    from salesplan.report import load_config, load_data

    cfg = load_config(args.config)
    if args.as_of is not None:
        try:
            stamp = pd.Timestamp(args.as_of)
        except ValueError as exc:
            raise ConfigError(f"--as-of: not a date: {args.as_of!r} ({exc})") from None
        cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, as_of=stamp))
    logger.info("loading data named in %s", args.config)
    data = load_data(cfg)
    return _run_report(data, cfg, args, out, err, show_summary=not args.quiet)


def _cmd_init(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from salesplan.report.config import EXAMPLE_CONFIG

    path: Path = args.path
    if path.is_dir():
        path = path / "report.toml"
    targets = [path]
    data_dir = path.parent / "data"
    if args.example_data:
        targets += [data_dir / f"{t}.csv" for t in ("customers", "orders", "opportunities", "stage_events",
                                                     "activities", "targets")]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.force:
        raise ConfigError(f"init: {', '.join(existing)} already exist(s); use --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = EXAMPLE_CONFIG
    written = [path]
    if args.example_data:
        from salesplan.datasets import load_example

        data = load_example()
        text = text.replace("# as_of = 2025-12-31 ", f"as_of = {data.as_of:%Y-%m-%d}   ", 1)
        data_dir.mkdir(exist_ok=True)
        for name, frame in data.tables.items():
            frame = frame.drop(columns=[c for c in ("is_return",) if c in frame.columns])
            target = data_dir / f"{name}.csv"
            frame.to_csv(target, index=False)
            written.append(target)
    path.write_text(text, encoding="utf-8")
    if not args.quiet:
        out.write("".join(f"wrote {p}\n" for p in written))
        out.write(f"next: salesplan report --config {path} --out report\n")
    return EXIT_OK


COMMANDS = {"demo": _cmd_demo, "report": _cmd_report, "init": _cmd_init}


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the ``salesplan`` command; returns the exit code (never prompts).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).
    stdout, stderr : text streams, optional
        Where results and log messages go (default the process's).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help / --version exit 0, usage errors exit 2
        return int(exc.code or 0)
    _setup_logging(args, err)
    try:
        return COMMANDS[args.command](args, out, err)
    except SalesplanError as exc:
        err.write(f"salesplan: error: {exc}\n")
        logger.debug("details", exc_info=True)
        return EXIT_INPUT
    except KeyboardInterrupt:
        err.write("salesplan: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - batch contract: unexpected errors exit 1 with a message
        err.write(f"salesplan: unexpected error: {type(exc).__name__}: {exc} (rerun with -vv for the traceback)\n")
        logger.debug("traceback", exc_info=True)
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
