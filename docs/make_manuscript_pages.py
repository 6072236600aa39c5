"""Render the first page of a sample Word manuscript (APA 7, English; three-line tables,
Chinese) to docs/figures/manuscript_apa_page1.png and manuscript_three_line_page1.png.

The sample is the common-method-bias section on the bundled (synthetic) study data: Harman's
test with a scree plot, the one-factor / measurement / method-factor models and the method
loadings.  Needs LibreOffice (soffice) and pdftoppm (Debian: libreoffice-writer,
poppler-utils, fonts-noto-cjk).

Run from the repository root:  python docs/make_manuscript_pages.py
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from semcluster.output import manuscript  # noqa: E402
from semcluster.result.document import Document, Figure, Paragraph, Section  # noqa: E402
from semcluster.analysis.method_bias import CAVEATS, method_factor_check  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"


def scree(eigenvalues, lang):
    fig, ax = plt.subplots(figsize=(5.0, 2.8))
    k = range(1, len(eigenvalues) + 1)
    ax.plot(k, eigenvalues, "o-", color="black", markersize=4)
    ax.axhline(1.0, linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("Component")
    ax.set_ylabel("Eigenvalue")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def sample(res, lang):
    zh = lang == "zh"
    tables = res.tables(lang)
    doc = Document(title="共同方法偏差检验" if zh else "Common-Method Bias", lang=lang)
    s = Section("harman", "Harman 单因子检验" if zh else "Harman's Single-Factor Test")
    share = 100 * res.harman.share
    s.add(Paragraph(
        f"全部 {len(res.harman.items)} 个题目的未旋转主成分分析中，第一个主成分解释了 "
        f"{share:.1f}% 的方差，低于 50%。" if zh else
        f"In an unrotated principal-component analysis of all {len(res.harman.items)} items, "
        f"the first component explained {share:.1f} % of the variance, below 50 %."))
    s.add(tables[0])
    s.add(Figure("scree", "特征值碎石图" if zh else "Eigenvalues of the Items",
                 scree(res.harman.eigenvalues, lang)))
    m = Section("ulmc", "方法因子模型" if zh else "Method-Factor Model")
    m.add(tables[1])
    m.add(tables[2])
    m.add(Paragraph(CAVEATS[lang][1], kind="note"))
    m.add(tables[3])
    doc.sections += [s, m]
    doc.warnings = ["paper_synthetic.csv is SYNTHETIC (calibrated to the paper's Tables 2-3)"]
    return doc


def render(docx_path: Path, png: Path, tmp: Path) -> None:
    subprocess.run([shutil.which("soffice"), "--headless",
                    f"-env:UserInstallation=file://{tmp}/lo-profile", "--convert-to", "pdf",
                    "--outdir", str(tmp), str(docx_path)], check=True, capture_output=True)
    pdf = tmp / (docx_path.stem + ".pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(png.with_suffix(""))], check=True)
    print("wrote", png)


def main() -> None:
    res = method_factor_check("h1_h5")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for lang, style, name in (("en", "apa", "manuscript_apa_page1.png"),
                                  ("zh", "three-line", "manuscript_three_line_page1.png")):
            path = tmp / f"sample_{lang}.docx"
            manuscript.write_docx(sample(res, lang), path, style=style)
            render(path, OUT / name, tmp)


if __name__ == "__main__":
    main()
