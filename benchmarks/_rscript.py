"""Running lavaan beside semcluster in a benchmark: one R script, BLAS pinned to one thread."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile


def run_r(script: str, *, timeout: float = 1200) -> str | None:
    """The standard output of an R script run by Rscript with OPENBLAS/OMP pinned to one
    thread; None where Rscript is missing, the script fails (the end of its error output is
    printed) or it runs past ``timeout`` seconds."""
    if not shutil.which("Rscript"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(script)
    try:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        out = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, env=env,
                             check=False, timeout=timeout)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return None
        return out.stdout
    except subprocess.SubprocessError:
        return None
    finally:
        os.unlink(fh.name)
