import os
import sys
from pathlib import Path

# small matrix work: one BLAS thread (a busy second core makes it far slower)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

sys.path.insert(0, str(Path(__file__).parent))


import pytest


@pytest.fixture(scope="session")
def boot1000():
    """bootstrap("h1_h5", n_boot=1000, seed=20231124) on 2 processes, without BCa: the draws
    of lavaan's fixture size, and the replicates saved in tests/fixtures/references/ (shared by
    test_bootstrap.py and test_references_bootstrap.py, so it runs once)."""
    from semcluster.analysis.bootstrap import bootstrap

    return bootstrap("h1_h5", n_boot=1000, n_jobs=2, bca=False)
