"""report.html in headless Chromium and report.pdf through poppler: charts visible, no console errors, not blank.

Chromium and poppler-utils are Debian packages that ``.ci/run`` installs; a missing browser is a failure, not a
skip, because CI must run these checks. Screenshots go to the test's tmp folder and, when the environment
variable ``SALESPLAN_ARTIFACTS`` names a folder, are copied there.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from salesplan.report.html import render_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]

# Recorded into the DOM on load: image state, error events and CSP violations. It runs under a nonce that the
# test adds to the page's Content-Security-Policy; everything else the policy forbids stays forbidden.
PROBE = """<script nonce="probe">
(function(){var errs=[],csp=[];
window.addEventListener('error',function(e){errs.push(String(e.message||(e.target&&e.target.alt)||'error'))},true);
document.addEventListener('securitypolicyviolation',function(e){csp.push(e.violatedDirective+' '+e.blockedURI)});
window.addEventListener('load',function(){var imgs=Array.prototype.slice.call(document.images);
var out={n:imgs.length,
 broken:imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).map(function(i){return i.alt}),
 small:imgs.filter(function(i){var r=i.getBoundingClientRect();return r.width<200||r.height<100})
   .map(function(i){return i.alt}),
 errors:errs,csp:csp,title:document.title,pwned:document.body.dataset.pwned||null,
 text:document.body.textContent};
var pre=document.createElement('pre');pre.id='probe';pre.textContent=JSON.stringify(out);
document.body.appendChild(pre);});})();
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium not found: install the Debian package chromium (.ci/run does)")


def _run_browser(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{page.stem}"
    cmd = [_browser(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def probe(page_html: str, tmp: Path, name: str) -> tuple[dict, list[str]]:
    """Open ``page_html`` with the probe in headless Chromium; return the probe's record and console lines."""
    assert "default-src 'none';" in page_html
    patched = page_html.replace("default-src 'none';", "default-src 'none'; script-src 'nonce-probe';", 1)
    patched = patched.replace("<meta name=\"viewport\"", PROBE + "\n<meta name=\"viewport\"", 1)
    page = tmp / f"{name}.html"
    page.write_text(patched, encoding="utf-8")
    done = _run_browser(page, tmp, "--dump-dom")
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match, f"probe did not run: {done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1))), _console_lines(done.stderr)


def _not_blank(png: Path) -> tuple[float, float]:
    image = imread(png)[..., :3]
    gray = image.mean(axis=2)
    return float((gray < 0.9).mean()), float(gray.std())


def _keep(path: Path) -> None:
    target = os.environ.get("SALESPLAN_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_probe_detects_broken_images_and_console_errors(tmp_path):
    """Negative control: the probe must see a broken chart, a blocked request and a blocked inline script."""
    bad = ("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "img-src data:\"><meta name=\"viewport\" content=\"width=device-width\"></head><body>"
           "<img alt=\"bad\" src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\">"
           "<img alt=\"net\" src=\"https://example.com/x.png\"><script>document.body.dataset.pwned='1'</script>"
           "</body></html>")
    record, console = probe(bad, tmp_path, "negative")
    assert set(record["broken"]) == {"bad", "net"}
    assert any("img-src" in c for c in record["csp"])
    assert record["pwned"] is None
    assert any("inline script" in line for line in console)  # a blocked script shows up on the console


def test_demo_html_renders_every_chart_without_errors(demo_out, demo_summary, tmp_path):
    page = demo_out / "report.html"
    shot = tmp_path / "report-screenshot.png"
    done = _run_browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2200")
    assert shot.exists(), done.stderr[-2000:]
    _keep(shot)
    assert _console_lines(done.stderr) == []
    ink, spread = _not_blank(shot)
    assert ink > 0.05 and spread > 0.05

    record, console = probe(page.read_text(encoding="utf-8"), tmp_path, "demo")
    assert console == []
    assert record["n"] == demo_summary["charts"] >= 6
    assert record["broken"] == [] and record["small"] == []
    assert record["errors"] == [] and record["csp"] == []
    assert record["title"] == demo_summary["title"]


def test_html_markup_in_names_shows_as_text_in_the_browser(hostile_report, shown_hostile_names, tmp_path):
    page_html = render_html(hostile_report)
    record, console = probe(page_html, tmp_path, "hostile")
    assert record["pwned"] is None
    assert record["csp"] == [] and record["errors"] == [] and console == []
    assert record["title"] == "Report <for> \"hostile\" & data"
    shown = shown_hostile_names
    assert shown
    for name in shown:
        assert name in record["text"]  # the literal markup is visible text
    assert "<i>rep</i>" in record["text"]
    page = tmp_path / "hostile-page.html"
    page.write_text(page_html, encoding="utf-8")
    shot = tmp_path / "hostile-screenshot.png"
    _run_browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    _keep(shot)
    assert _not_blank(shot)[0] > 0.05


def test_pdf_first_page_is_not_blank(demo_out, tmp_path):
    tool = shutil.which("pdftoppm")
    if tool is None:
        pytest.fail("pdftoppm not found: install the Debian package poppler-utils (.ci/run does)")
    pdf = demo_out / "report.pdf"
    subprocess.run([tool, "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=120)
    page = next(tmp_path.glob("page*.png"))
    _keep(page)
    ink, spread = _not_blank(page)
    assert ink > 0.03 and spread > 0.05
    info = subprocess.run([shutil.which("pdfinfo") or "pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 6  # title + one page per process at least


def test_blank_page_is_detected(tmp_path):
    """Negative control of the blank check."""
    from matplotlib.image import imsave

    path = tmp_path / "white.png"
    imsave(path, np.ones((50, 50, 3)))
    assert _not_blank(path)[0] == 0.0
