"""The hand-made wrong numbers of issue 20 (its seven, and the BG/NBD one): apply each to the source in turn, run its test file, restore.

Each change must make its test file fail (exit 1). The source file is restored even when interrupted; run it on a
clean checkout (``git status`` before and after). Usage: ``python benchmarks/mutation_named.py [1 2 ...]``.
"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHANGES = [
    ("1 AJ variance: open stays weight 0", "src/salesplan/funnel/aalen_johansen.py",
     "var = float(np.sum(w * if_r**2))", "var = float(np.sum(np.where(outcome > 0, w, 0.0) * if_r**2))",
     "tests/funnel/test_aalen_johansen.py"),
    ("2 figcaption not escaped", "src/salesplan/report/html.py",
     'f"<figcaption>{_esc(caption)}</figcaption></figure>")', 'f"<figcaption>{caption}</figcaption></figure>")',
     "tests/report/test_html_escaping.py"),
    ("3 tz_convert of a zone-aware cut-off dropped", "src/salesplan/schema.py",
     "as_of_ts = None if as_of is None else to_naive_utc(as_of)",
     "as_of_ts = None if as_of is None else pd.Timestamp(as_of).tz_localize(None)",
     "tests/test_schema.py"),
    ("4 after the cut-off with 23 h slack", "src/salesplan/schema.py",
     'col.add(name, "not_in_future", df[name] > as_of_ts, raw)',
     'col.add(name, "not_in_future", df[name] > as_of_ts + pd.Timedelta(hours=23), raw)',
     "tests/test_schema.py"),
    ("5 dates rounded to midnight before the comparison", "src/salesplan/schema.py",
     'col.add(name, "not_in_future", df[name] > as_of_ts, raw)',
     'col.add(name, "not_in_future", df[name].dt.normalize() > as_of_ts.normalize(), raw)',
     "tests/test_schema.py"),
    ("6 summary quantiles 80% -> 53%", "src/salesplan/forecast/pipeline.py",
     "qs = [0.5 - confidence / 2, 0.5 + confidence / 2]", "qs = [0.5 - confidence / 3, 0.5 + confidence / 3]",
     "tests/forecast/test_pipeline_intervals.py"),
    ("7 shrinkage prior strength x4", "src/salesplan/funnel/shrinkage.py",
     "kappa = fit_prior_strength(x, n, m_c)", "kappa = 4 * fit_prior_strength(x, n, m_c)",
     "tests/funnel/test_shrinkage.py"),
    ("8 BG/NBD likelihood b + x - 1 -> b + x (caught before only by the published CDNOW values)",
     "src/salesplan/segment/clv.py", "a_u = a / np.where(xu > 0, b + xu - 1, 1.0)",
     "a_u = a / np.where(xu > 0, b + xu, 1.0)", "tests/segment/test_clv_likelihoods.py"),
]


def main() -> int:
    """Apply the chosen changes (default all) one at a time; return 1 if any did not fail its test file."""
    only = sys.argv[1:]
    missed = 0
    for name, path, old, new, test in CHANGES:
        if only and name.split()[0] not in only:
            continue
        f = ROOT / path
        src = f.read_text()
        if src.count(old) != 1:
            print(f"## {name}: the line to change is not in {path} (moved?)")  # noqa: T201
            missed += 1
            continue
        f.write_text(src.replace(old, new))
        try:
            cmd = [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-rf", "--no-header",
                   "--tb=no"]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            failed = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
            last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
            print(f"## {name}\n$ pytest {' '.join(cmd[3:])}\nexit {out.returncode}; {last}")  # noqa: T201
            for line in failed:
                print("  ", line[:160])  # noqa: T201
            missed += out.returncode != 1
        finally:
            f.write_text(src)
    return 1 if missed else 0  # a change that is no longer in the source counts as missed


if __name__ == "__main__":
    sys.exit(main())
