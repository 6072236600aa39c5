"""The documentation builds with mkdocs (strict: no broken links or missing pages)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_every_doc_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages and all(p in nav for p in pages), pages
    # the course: docs/course is a link to notebooks/, every notebook in both languages
    course = {f"course/{p.parent.name}/{p.name}" for p in (ROOT / "notebooks").glob("*/*.ipynb")}
    assert len(course) == 14 and all(p in nav for p in course), course


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                        str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()
    # the course pages carry the outputs stored in the notebooks (not executed by the build)
    for lang, words in (("en", "composite slope averages"), ("zh", "合成分数斜率的均值为")):
        page = (tmp_path / "site" / "course" / lang / "02_measurement_error" /
                "index.html").read_text(encoding="utf-8")
        assert words in page and "data:image/png;base64" in page, lang
    teaching = (tmp_path / "site" / "teaching" / "index.html").read_text(encoding="utf-8")
    assert "course_en.png" in teaching and "course_zh.png" in teaching
