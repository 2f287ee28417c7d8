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

Exit codes: 0 success; 2 bad configuration, bad input data or bad arguments (the message names the
configuration file, the ``[data]`` key and data file, table, column, rule and example rows); 1 anything unexpected,
which is a bug in salesplan (the message asks to report it), and, with ``--strict``, a report in which a section
could not be built; 130 interrupted. The output folder is checked before any data are read.

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
from salesplan.errors import ConfigError, SalesplanError, SchemaError

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_UNEXPECTED", "EXIT_INPUT"]

logger = logging.getLogger(__name__)
_PERIOD_NAMES = {"M": "month", "Q": "quarter"}

EXIT_OK, EXIT_UNEXPECTED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
_STARTED = 0.0  # start of the current command; staging folders older than it may be stale


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
                       help="comma-separated subset of the report's sections (default: the config's, else the "
                            "level's)")
        p.add_argument("--level", default=None, choices=("summary", "standard", "full"),
                       help="report level: summary, standard (about 10 pages) or full (default: the config's, "
                            "else standard)")
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
    if getattr(args, "level", None) is not None:
        import dataclasses

        cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, level=args.level))
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
    from salesplan.report.writer import check_output

    check_output(args.out, started=_STARTED)
    logger.info("loading the example data")
    data = load_example()
    return _run_report(data, demo_config(), args, out, err, show_summary=True)


def _cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import dataclasses

    import pandas as pd

    from salesplan.parse import to_naive_utc
    from salesplan.report import load_config, load_data
    from salesplan.report.writer import check_output

    cfg = load_config(args.config)
    as_of_key = f"{cfg.source}: 'report.as_of'"
    if args.as_of is not None:
        try:
            stamp = to_naive_utc(pd.Timestamp(args.as_of))
        except ValueError as exc:
            raise ConfigError(f"--as-of: not a date: {args.as_of!r} ({exc})") from None
        cfg = dataclasses.replace(cfg, report=dataclasses.replace(cfg.report, as_of=stamp))
        as_of_key = "--as-of"
    check_output(args.out, started=_STARTED)
    logger.info("loading data named in %s", args.config)
    try:
        data = load_data(cfg)
    except SchemaError as exc:
        raise _data_error(exc, cfg, as_of_key) from None
    _check_as_of(data, cfg, as_of_key)
    return _run_report(data, cfg, args, out, err, show_summary=not args.quiet)


def _date_range(data: Any) -> tuple[Any, Any]:
    summary = data.summary()
    return summary["first_date"].min(), summary["last_date"].max()


def _data_error(exc: SchemaError, cfg: Any, as_of_key: str) -> SalesplanError:
    """Name the configuration file, the [data] keys and files behind a validation error; explain a bad as-of."""
    import dataclasses

    from salesplan.report import load_data

    cases = exc.failure_cases
    tables = [t for t in dict.fromkeys(cases["table"].astype(str)) if t in cfg.data]
    lines = [f"{cfg.source}: the data named in [data] broke validation rules:"]
    lines += [f"  'data.{t}.path' = {cfg.data[t].path}" for t in tables]
    as_of = cfg.report.as_of
    if as_of is not None and (cases["check"] == "not_in_future").any():
        try:
            first, last = _date_range(load_data(dataclasses.replace(
                cfg, report=dataclasses.replace(cfg.report, as_of=None))))
        except SalesplanError:
            first = last = None
        if first is not None and as_of < first:
            return ConfigError(f"{as_of_key} = {as_of:%Y-%m-%d %H:%M} lies before all the data, which run from "
                               f"{first:%Y-%m-%d} to {last:%Y-%m-%d}: every date would be in the future of the "
                               "data cut. Choose an as-of date on or after the latest date, or leave it out to use "
                               "the latest date in the data.")
        n_future = int((cases["check"] == "not_in_future").sum())
        span = f" (the data run to {last:%Y-%m-%d})" if last is not None else ""
        lines.insert(1, f"  {as_of_key} = {as_of:%Y-%m-%d %H:%M} lies before {n_future} date(s) in the data"
                        f"{span}: dates after the data cut are 'not_in_future' failures; move the as-of date or "
                        "filter the data")
    return SchemaError("\n".join(lines) + "\n" + str(exc), cases)


def _check_as_of(data: Any, cfg: Any, as_of_key: str) -> None:
    """An as-of date whose reporting period holds no data at all is refused (it is after all the data)."""
    import pandas as pd

    as_of = cfg.report.as_of
    if as_of is None:
        return
    first, last = _date_range(data)
    if pd.isna(last):
        return
    last_instant = pd.Timestamp(as_of) - pd.Timedelta(seconds=1)  # as the report: the period holding it
    start = pd.Period(last_instant, freq=cfg.report.freq).start_time
    if last < start:
        raise ConfigError(f"{as_of_key} = {as_of:%Y-%m-%d %H:%M} lies after all the data, which run from "
                          f"{first:%Y-%m-%d} to {last:%Y-%m-%d}: the reporting {_PERIOD_NAMES[cfg.report.freq]} that ends at "
                          "it holds no data. Choose an as-of date within the data, or leave it out to use the "
                          "latest date in the data.")


def _cmd_init(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from salesplan.report.config import EXAMPLE_CONFIG

    path: Path = args.path
    if path.is_dir():
        path = path / "report.toml"
    targets = [path]
    data_dir = path.parent / "data"
    if args.example_data:
        targets += [data_dir / f"{t}.csv" for t in ("customers", "orders", "opportunities", "stage_events",
                                                     "activities", "targets", "opportunity_history",
                                                     "forecast_calls")]
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
    global _STARTED
    _STARTED = time.time()
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
        err.write(f"salesplan: unexpected error: {type(exc).__name__}: {exc}\n"
                  "salesplan: this is a bug in salesplan, not a problem with your data or configuration; please "
                  "report it to the salesplan developers with the command line and the output of the same command "
                  "run with -vv (which shows the traceback)\n")
        logger.debug("traceback", exc_info=True)
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
