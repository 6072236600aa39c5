"""Open report.html in headless Chromium: every figure loads, no script errors, screenshot.

Needs Debian's chromium (.ci/run installs it). The report itself carries no test code: the test
opens a copy with a small probe script appended that writes into the DOM how many images
decoded and which errors were raised, and reads the DOM back (--dump-dom).
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from semcluster.study.report import reproduce_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--disable-quic"]
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const p = document.createElement('pre'); p.id = 'probe';
  p.textContent = 'IMAGES ' + imgs.length + ' LOADED ' + ok + ' ERRORS ' + window.__errors.length;
  document.body.appendChild(p);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_in_headless_chromium(tmp_path):
    out = reproduce_report(None, tmp_path / "report", n_boot=30, power_reps=10,
                       power_grid=(160, 400), n_jobs=1, progress=False)
    probe = tmp_path / "probe.html"
    probe.write_text((out / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'u'}",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r"IMAGES (\d+) LOADED (\d+) ERRORS (\d+)", dom.stdout)
    assert m, dom.stderr[-2000:]
    n, loaded, errors = map(int, m.groups())
    assert n == 5 and loaded == n and errors == 0
    shot = tmp_path / "top.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'u2'}",
                    "--window-size=1200,1500", f"--screenshot={shot}",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:4] == b"\x89PNG"
