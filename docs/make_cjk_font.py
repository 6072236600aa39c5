"""Build the Chinese font bundled with semcluster (src/semcluster/resources/fonts/).

The diagrams' Chinese labels must render on a machine with no CJK font installed, so the package
ships a subset of Noto Sans CJK SC Regular (SIL Open Font License 1.1, © 2014-2021 Adobe; no
Reserved Font Name applies to "Noto").  The subset holds every character of GB 2312 (the 6,763
common simplified Han characters, CJK punctuation, full-width forms), Basic Latin, Latin-1, Greek
and the mathematical signs the figures print (− ≥ ≤ χ² …), and is renamed "Semcluster Sans CJK SC"
so matplotlib never confuses it with a system-wide Noto.

Run from the repository root, on a machine with Debian's ``fonts-noto-cjk``:
    python docs/make_cjk_font.py [path/to/NotoSansCJK-Regular.ttc]
"""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
OUT = Path(__file__).resolve().parents[1] / "src" / "semcluster" / "resources" / "fonts"
FAMILY = "Semcluster Sans CJK SC"


def gb2312() -> set[int]:
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes([hi, lo]).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return chars


def codepoints() -> set[int]:
    cps = gb2312()
    cps |= set(range(0x20, 0x7F)) | set(range(0xA0, 0x180))      # Latin, Latin-1, Latin ext-A
    cps |= set(range(0x370, 0x400))                                # Greek
    cps |= set(range(0x2000, 0x2070)) | set(range(0x2070, 0x20A0))  # punctuation, super/subscripts
    cps |= set(range(0x2190, 0x2200)) | set(range(0x2200, 0x2300))  # arrows, mathematical operators
    cps |= set(range(0x3000, 0x3040)) | set(range(0xFF00, 0xFFF0))  # CJK punctuation, full-width
    return cps


def main(source: str = SOURCE) -> Path:
    coll = TTCollection(source)
    font = next(f for f in coll.fonts if f["name"].getDebugName(1) == "Noto Sans CJK SC")
    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    opts.hinting = False            # matplotlib renders unhinted CJK text well; saves ~25 %
    opts.desubroutinize = False
    sub = subset.Subsetter(opts)
    cmap = font.getBestCmap()
    sub.populate(unicodes=[c for c in codepoints() if c in cmap])
    sub.subset(font)
    name = font["name"]
    for rec in list(name.names):
        if rec.nameID in (1, 4, 16):
            rec.string = FAMILY
        elif rec.nameID == 6:
            rec.string = FAMILY.replace(" ", "") + "-Regular"
        elif rec.nameID == 3:
            rec.string = "2.004;semcluster-subset;" + FAMILY.replace(" ", "")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "SemclusterSansCJKsc-Regular.otf"
    font.save(path)
    TTFont(path).close()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(font.getBestCmap())} characters)")
    return path


if __name__ == "__main__":
    main(*sys.argv[1:])
