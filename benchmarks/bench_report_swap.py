"""Cost of writing a report folder whole (built beside the old one and swapped in) against
writing its files one by one in place, over an earlier report with the user's files in it.

Run: python benchmarks/bench_report_swap.py [n_user_files] [repeats]
The report is shaped like ``reproduce``'s: 25 files, about 1.5 MB (tables, PNG/SVG figures,
report.html with the figures embedded); the folder also holds ``n_user_files`` files of the
user's (carried into the new folder by hard links).  Median of ``repeats`` commits each.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from semcluster.output.files import OutputFiles


def report_files(tag: str) -> dict:
    rng = __import__("random").Random(tag)
    files = {f"tables/t{i}.csv": ("x,y\n" + f"{rng.random()},{i}\n" * 200).encode()
             for i in range(14)}
    files.update({f"figures/f{i}.png": os.urandom(60_000) for i in range(4)})
    files.update({f"figures/f{i}.svg": ("<svg>" + "p" * 50_000 + "</svg>").encode()
                  for i in range(4)})
    files["report.html"] = ("<html>" + tag * 600_000 + "</html>").encode()[:700_000]
    files["report.md"] = (tag * 20_000).encode()
    files["results.json"] = ('{"tag": "%s"}' % tag).encode()
    return files


def commit(folder: Path, files: dict, in_place: bool) -> float:
    f = OutputFiles().folder(folder)
    for name, data in files.items():
        f.add_bytes(name, data)
    if in_place:
        f._make_stage = lambda: None            # the file-by-file path, as before
    t = time.perf_counter()
    f.commit()
    return time.perf_counter() - t


def main():
    n_user = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    base = Path(tempfile.mkdtemp(prefix="bench-swap-"))
    try:
        for mode in ("file by file (in place)", "whole (staged + swap)"):
            rep = base / mode.split()[0] / "report"
            commit(rep, report_files("a"), True)
            for i in range(n_user):
                (rep / f"notes{i}.txt").write_text("mine " * 100)
            times = [commit(rep, report_files("ab"[k % 2]), mode.startswith("file"))
                     for k in range(repeats)]
            print(f"{mode:26s} median {statistics.median(times) * 1000:7.1f} ms "
                  f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; "
                  f"{len(report_files('a'))} report files, {n_user} user files)")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
