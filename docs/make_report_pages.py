"""Render the first page of two own-study reports to docs/figures/: the Word file (via
LibreOffice and pdftoppm) and the html page (headless Chromium).

* ``report_docx_zh_page1.png`` / ``report_html_zh_page1.png``: the SPSS study with Chinese
  labels and two ownership groups (tests/fixtures/own_studies/spss_zh), ``--lang zh --style
  three-line``;
* ``report_docx_en_page1.png`` / ``report_html_en_page1.png``: the mediation study, APA style.

Needs soffice, pdftoppm and chromium.  Run from the repository root:
``python docs/make_report_pages.py``
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from semcluster.cli import main

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "tests" / "fixtures" / "own_studies"
OUT = ROOT / "docs" / "figures"

RUNS = {
    "zh": ["spss_zh.lav", "--data", "spss_zh.sav", "--group", "own", "--hypotheses",
           "spss_zh_hypotheses.yaml", "--labels", "spss_zh_labels.yaml", "--lang", "zh",
           "--style", "three-line"],
    "en": ["mediation.lav", "--data", "mediation.csv", "--hypotheses",
           "mediation_hypotheses.yaml", "--labels", "mediation_labels.yaml"],
}


def first_page(docx: Path, png: Path, tmp: Path) -> None:
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp),
                    str(docx)], check=True, capture_output=True, timeout=300)
    pdf = tmp / (docx.stem + ".pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(png.with_suffix(""))], check=True, timeout=120)


def html_page(page: Path, png: Path) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1100,1400",
                    f"--screenshot={png}", page.as_uri()], check=True, capture_output=True,
                   timeout=120)


def main_() -> None:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for lang, args in RUNS.items():
            argv = ["report"] + [str(OWN / a) if (OWN / a).is_file() else a for a in args]
            out = tmp / f"report_{lang}"
            assert main(argv + ["--format", "html,md,docx", "--n-boot", "200", "--jobs", "1",
                                "--out", str(out)]) == 0
            first_page(out / "report.docx", OUT / f"report_docx_{lang}_page1.png", tmp)
            html_page(out / "report.html", OUT / f"report_html_{lang}_page1.png")
            shutil.copy(out / "report.md", tmp / f"report_{lang}.md")
    print(f"wrote {OUT}/report_docx_*_page1.png and report_html_*_page1.png")


if __name__ == "__main__":
    main_()
