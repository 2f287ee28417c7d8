"""Mutation testing of the numeric core with mutmut, one module at a time against its own test files.

``make mutation`` runs this script. For each module below it builds a scratch copy of ``src`` and ``tests`` under
``build/mutation/<module>/`` with a ``[tool.mutmut]`` section that mutates only that file and runs only its test
files, runs ``mutmut run`` there (forking workers, 2 by default), and reads the verdicts with ``mutmut results``.
The repository itself is never mutated. Scores are printed and written to ``build/mutation/scores.md``; each
module's surviving mutants, with their diffs, to ``build/mutation/<module>/survivors.txt``. The recorded scores
and the review of every survivor are in ``benchmarks/MUTATION.md``.

Not part of ``make test`` or CI. ``make mutation`` runs every mutant (about 1,400 CPU seconds for the 3,700 mutants:
12-24 minutes on an idle 2-core machine); ``--budget`` (``MUTATION_BUDGET``) stops a module after that many
seconds, and mutants not reached are reported apart. Scores are given over all mutants, with the CPU time.

Usage::

    python benchmarks/mutation.py                 # every module
    python benchmarks/mutation.py aalen_johansen  # one module (names below)
    python benchmarks/mutation.py --jobs 1 shrinkage
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "mutation"
log = logging.getLogger("mutation")


@dataclass(frozen=True)
class Target:
    """One module to mutate: its source file, its test files and (optionally) which functions to mutate."""

    name: str
    source: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # mutmut name globs, e.g. "*xǁBetaGeoǁ_nll_grad__mutmut_*"; () = whole file
    #: "forkserver" for tests that run polars/duckdb code: each mutant then forks from a clean fork server, not from
    #: the process that ran the clean tests, which holds their thread pools (a fork of it waits forever on a lock of
    #: a thread the fork does not have: the "timeouts" of variance and schema_dates in the first recorded run were
    #: such deadlocks, 0% CPU, one thread, futex wait). "fork" (mutmut's default) is 3-4 times faster per mutant.
    isolation: str = "fork"


TARGETS = [
    Target("aalen_johansen", "src/salesplan/funnel/aalen_johansen.py", ("tests/funnel/test_aalen_johansen.py",)),
    Target("shrinkage", "src/salesplan/funnel/shrinkage.py", ("tests/funnel/test_shrinkage.py",)),
    # volumes: the cases worked by hand and the deterministic tests of test_volumes.py (its property and forward
    # Monte Carlo tests are the random check of the same minimality, too slow to run once per mutant)
    Target("volumes", "src/salesplan/plan/volumes.py",
           ("tests/plan/test_volumes_by_hand.py",
            *(f"tests/plan/test_volumes.py::{t}" for t in (
                "test_hand_computed_cases", "test_heavy_tails_need_several_scan_blocks",
                "test_win_probability_edges_against_the_beta_binomial", "test_target_probability_outside_unit_interval",
                "test_bad_rate", "test_bad_contracts")))),
    Target("clv_likelihoods", "src/salesplan/segment/clv.py", ("tests/segment/test_clv_likelihoods.py",),
           ("*xǁBetaGeoǁ_nll_grad__mutmut_*", "*xǁGammaGammaǁ_nll_grad__mutmut_*")),
    # variance: the hand-worked cases on flows written out by hand (no reduction runs, no polars thread pool in the
    # process mutmut forks from) and the pure decompose_gap tests of test_variance.py
    Target("variance", "src/salesplan/control/variance.py",
           ("tests/control/test_variance_by_hand.py",
            *(f"tests/control/test_variance.py::{t}" for t in (
                "test_effects_add_up_to_the_gap", "test_decompose_gap_rejects_bad_rows",
                "test_decompose_gap_names_only_the_bad_rows")))),
    Target("schema_dates", "src/salesplan/schema.py",
           ("tests/test_schema_by_hand.py", *(f"tests/test_schema.py::{t}" for t in (
               "test_date_unparseable", "test_timezone_mixed_naive_and_aware_in_one_column",
               "test_timezone_aware_and_naive_timestamps_in_different_columns",
               "test_timezone_aware_columns_in_different_zones_and_plain_dates_are_fine",
               "test_not_in_future_exempts_planned_dates", "test_cut_off_in_another_zone_and_within_a_day",
               "test_coercion_of_ids_dates_and_amounts", "test_not_null_for_ids_dates_and_blank_ids",
               "test_every_failure_collected_in_one_error", "test_required_column_missing_names_column_and_frame_columns",
               "test_mapping_names_absent_column_and_clash", "test_empty_table", "test_unknown_table_is_schema_error",
               "test_date_and_mapping_messages_in_full", "test_unique_key_reports_every_duplicate_row_but_not_missing_keys"))),
           ("*x__as_date__mutmut_*", "*x_validate__mutmut_*")),
    Target("pipeline_intervals", "src/salesplan/forecast/pipeline.py", ("tests/forecast/test_pipeline_intervals.py",),
           ("*xǁPipelineForecastǁsamples__mutmut_*", "*xǁPipelineForecastǁinterval__mutmut_*",
            "*xǁPipelineForecastǁdistribution__mutmut_*", "*xǁPipelineForecastǁsummary__mutmut_*")),
    Target("html_escaping", "src/salesplan/report/html.py", ("tests/report/test_html_escaping.py",)),
]

LINE = re.compile(r"^\s+(\S+): (.+)$")


def _scratch(target: Target) -> Path:
    """A scratch project with src, tests and a pyproject.toml whose [tool.mutmut] names this target."""
    work = OUT / target.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    tests = ", ".join(f'"{t}"' for t in target.tests)
    section = f"""

[tool.mutmut]
source_paths = ["src"]
only_mutate = ["{target.source}"]
pytest_add_cli_args_test_selection = [{tests}]
# no:unraisableexception / no:threadexception: their clean-up runs gc.collect() twice per session, which in a
# forked child copies the whole inherited heap (0.45 -> 0.18 s of CPU per mutant, measured on a variance mutant)
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:unraisableexception",
                       "-p", "no:threadexception", "-q", "-m", "not slow"]
use_git_change_detection = false
# a mutant is "timeout" after (its tests' clean CPU time + constant) x multiplier x 2 CPU seconds (mutmut 3.8
# limits CPU time, not wall time, so a loaded machine does not cause timeouts): a mutant that makes a scan loop
# (volumes' _bnb_quantile) stops after about 20 s of CPU instead of 15 minutes
timeout_constant = 2.0
timeout_multiplier = 5.0
process_isolation = "{target.isolation}"
"""
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + section)
    if target.functions:
        _exclude_other_functions(work / target.source, target.functions)
    return work


def _exclude_other_functions(path: Path, selected: tuple[str, ...]) -> None:
    """Mark every line of the functions outside ``selected`` with mutmut's ``# pragma: no mutate`` (in the
    scratch copy only): mutmut then generates no mutants there, which keeps generation fast on large modules."""
    import ast
    import io
    import tokenize
    from fnmatch import fnmatch

    text = path.read_text()
    tree = ast.parse(text)
    skip: set[int] = set()

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"xǁ{node.name}ǁ")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{node.name}" if prefix else f"x_{node.name}"
                if not any(fnmatch(f"m.{name}__mutmut_1", pat) for pat in selected):
                    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    skip.update(range(start, (node.end_lineno or node.lineno) + 1))

    visit(tree.body, "")
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    ends = {tok.start[0] for tok in tokens if tok.type in (tokenize.NEWLINE, tokenize.NL)}
    comments = {tok.start[0]: tok.start[1] for tok in tokens if tok.type == tokenize.COMMENT}
    lines = text.splitlines()
    for i in sorted(skip & ends):
        line = lines[i - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if i in comments:  # "# note" -> "# pragma: no mutate # note"
            col = comments[i]
            lines[i - 1] = line[:col] + "# pragma: no mutate " + line[col:]
        else:
            lines[i - 1] = line + "  # pragma: no mutate"
    path.write_text("\n".join(lines) + "\n")


def _mutmut(work: Path, *args: str, budget: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run mutmut in ``work``; stop it (its whole process group) after ``budget`` seconds."""
    exe = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "SALESPLAN_SHARED_DATA": os.environ.get("SALESPLAN_SHARED_DATA",
                                                                  str(ROOT.parent / "shared" / "data")),
           "SALESPLAN_HYPOTHESIS_PROFILE": "mutation",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}
    proc = subprocess.Popen([str(exe), *args], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        err += f"\nstopped after the time budget of {budget:.0f} s"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _changed_lines(mutated: Path) -> dict[str, str]:
    """``mutant -> "line  =>  mutated line"`` read from mutmut's trampolined copy (faster than ``mutmut show``)."""
    import ast
    import difflib

    tree = ast.parse(mutated.read_text())
    lines = mutated.read_text().splitlines()
    funcs: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name:
            funcs[node.name] = [ln.strip() for ln in lines[node.lineno - 1: node.end_lineno]]
    out = {}
    for name, body in funcs.items():
        base, _, num = name.rpartition("__mutmut_")
        orig = funcs.get(f"{base}__mutmut_orig")
        if num == "orig" or orig is None:
            continue
        old = [ln for ln in difflib.ndiff(orig[1:], body[1:]) if ln[:1] == "-"]
        new = [ln for ln in difflib.ndiff(orig[1:], body[1:]) if ln[:1] == "+"]
        if orig[0].replace("__mutmut_orig", f"__mutmut_{num}") != body[0]:
            old, new = [orig[0], *old], [body[0], *new]
        out[name] = "  |  ".join(x.lstrip("- ") for x in old) + "\n    => " + "  |  ".join(x.lstrip("+ ")
                                                                                      for x in new)
    return out


def run_target(target: Target, jobs: int, budget: float | None) -> dict[str, object]:
    """Mutate one module (for at most ``budget`` seconds), return its counts and survivors."""
    work = _scratch(target)
    start = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = _mutmut(work, "run", "--max-children", str(jobs), *target.functions, budget=budget)
    seconds = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # mutmut and every fork it waited for
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    (work / "run.log").write_text(done.stdout + "\n" + done.stderr)
    res = _mutmut(work, "results", "--all", "true")
    status: dict[str, str] = {}
    for line in res.stdout.splitlines():
        m = LINE.match(line)
        if m:
            status[m.group(1)] = m.group(2).strip()
    if target.functions:
        from fnmatch import fnmatch

        status = {k: v for k, v in status.items() if any(fnmatch(k, pat) for pat in target.functions)}
    counts: dict[str, int] = {}
    for v in status.values():
        counts[v] = counts.get(v, 0) + 1
    survivors = sorted(k for k, v in status.items() if v not in ("killed", "timeout", "not checked"))
    changes = _changed_lines(work / "mutants" / target.source)
    with open(work / "survivors.txt", "w") as fh:
        for k in survivors:
            fh.write(f"{k.rsplit('.', 1)[-1]}  [{status[k]}]\n    {changes.get(k.rsplit('.', 1)[-1], '?')}\n")
    tested = sum(n for s, n in counts.items() if s not in ("skipped", "not checked", "no tests"))
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    score = killed / tested if tested else float("nan")
    unchecked = counts.get("not checked", 0) + counts.get("no tests", 0)
    # the score that counts: of every mutant of the module, reached or not ("no tests" and "not checked" are
    # not killed)
    score_all = killed / (tested + unchecked) if tested + unchecked else float("nan")
    if done.returncode != 0 and not status:
        log.error("%s: mutmut failed (exit %s), see %s", target.name, done.returncode, work / "run.log")
    return {"module": target.name, "source": target.source, "mutants": tested, "killed": killed,
            "timeouts": counts.get("timeout", 0),
            "unchecked": unchecked, "survived": tested - killed, "score": score, "score_all": score_all, "seconds": seconds, "cpu": cpu, "counts": counts,
            "survivors": survivors}


def main(argv: list[str] | None = None) -> int:
    """Run the targets named on the command line (default: all) and write the score table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"subset of {[t.name for t in TARGETS]}")
    parser.add_argument("--jobs", type=int, default=2, help="mutmut workers (default 2)")
    parser.add_argument("--functions", nargs="+", default=None, metavar="GLOB",
                        help="mutate only these functions of the one module named (mutmut name globs, e.g. "
                        "'*x__bnb_quantile__mutmut_*'): to finish one function of a large module in a budget")
    parser.add_argument("--budget", type=float, default=0, help="seconds per module, 0 = no limit (mutants are "
                        "run fastest first; those not reached are reported as unchecked)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    unknown = set(args.modules) - {t.name for t in TARGETS}
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}")
    chosen = [t for t in TARGETS if not args.modules or t.name in args.modules]
    if args.functions:
        if len(chosen) != 1:
            parser.error("--functions needs exactly one module")
        from dataclasses import replace

        chosen = [replace(chosen[0], functions=tuple(args.functions))]
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for target in chosen:
        log.info("mutating %s with %s ...", target.source, ", ".join(target.tests))
        row = run_target(target, args.jobs, args.budget or None)
        rows.append(row)
        log.info("  %s: %s of %s mutants killed (%.1f%%) in %.0f s (%.0f s CPU; load %.1f); %s", row["module"],
                 row["killed"], row["mutants"], 100 * float(row["score"]), row["seconds"], row["cpu"],
                 os.getloadavg()[0], row["counts"])
        with open(OUT / "log.md", "a") as fh:  # every run, appended
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M')} {row['module']}: {row['killed']}/{row['mutants']} "
                     f"killed, {row['unchecked']} not reached, {row['seconds']:.0f} s, {row['cpu']:.0f} s CPU, "
                     f"load {os.getloadavg()[0]:.1f}\n")
    table = ["| module | source | mutants run | killed (of which timeout) | survived | score of those run | not "
             "reached or no tests | score of all | seconds | CPU seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
    table += [f"| {r['module']} | `{r['source']}` | {r['mutants']} | {r['killed']} ({r['timeouts']}) | "
              f"{r['survived']} | {100 * float(r['score']):.1f}% | {r['unchecked']} | "
              f"{100 * float(r['score_all']):.1f}% | {float(r['seconds']):.0f} | "
              f"{float(r['cpu']):.0f} |" for r in rows]
    total = sum(float(r["seconds"]) for r in rows)
    table.append(f"\n{sum(int(r['mutants']) for r in rows)} mutants in {total:.0f} s "
                 f"({sum(float(r['cpu']) for r in rows):.0f} s CPU), load average at the end "
                 f"{os.getloadavg()[0]:.1f}")
    text = "\n".join(table) + "\n"
    (OUT / ("scores.md" if not args.modules else f"scores-{'-'.join(args.modules)}.md")).write_text(text)
    log.info("\n%s", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
