"""Worker processes end with the command: after it returns, and when it is killed with kill -9;
no joblib memory-mapping folder is left in /dev/shm or the temporary folder."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

psutil = pytest.importorskip("psutil")

from semcluster.cli import main  # noqa: E402


def _tracker_pids() -> set:
    """loky's and multiprocessing's resource trackers: helper processes that live as long as
    the process that started them (they remove leaked semaphores and memory maps when it
    ends); not workers."""
    import multiprocessing.resource_tracker as mp_tracker

    from joblib.externals.loky.backend import resource_tracker

    return {getattr(t._resource_tracker, "_pid", None)
            for t in (resource_tracker, mp_tracker)}


def _memmap_folders(pid: int) -> list:
    pats = [os.path.join(d, f"joblib_memmapping_folder_{pid}_*")
            for d in ("/dev/shm", tempfile.gettempdir())]
    return [f for p in pats for f in glob.glob(p)]


def _workers() -> list:
    trackers = _tracker_pids()
    return [c for c in psutil.Process().children(recursive=True)
            if c.pid not in trackers and c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_no_worker_process_remains_after_a_command_with_two_jobs(capsys):
    assert main(["bootstrap", "cfa", "--n-boot", "20", "--no-bca", "--jobs", "2"]) == 0
    assert _workers() == []
    assert _memmap_folders(os.getpid()) == []


def _sum_plus_seed(task):
    big, seeds = task
    return [float(big.sum()) + s for s in seeds]


def test_the_memory_mapping_folder_is_removed_when_the_replicates_are_done():
    """An array over joblib's 1 MB threshold is memory-mapped through a folder in /dev/shm
    (or the temporary folder); it must not outlive the run."""
    import numpy as np

    from semcluster.analysis.parallel import run_replicates

    big = np.ones(400_000)                            # 3.2 MB
    out = run_replicates(_sum_plus_seed, (big,), list(range(20)), n_jobs=2, chunk_size=5)
    assert out == [400_000.0 + s for s in range(20)]
    assert _memmap_folders(os.getpid()) == []
    assert _workers() == []


def test_a_command_with_one_job_starts_no_worker(capsys):
    before = {c.pid for c in _workers()}
    assert main(["bootstrap", "cfa", "--n-boot", "10", "--no-bca", "--jobs", "1"]) == 0
    assert {c.pid for c in _workers()} == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_workers_die_when_the_command_is_killed_with_kill_9():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen([sys.executable, "-m", "semcluster", "bootstrap", "cfa", "--n-boot",
                          "5000", "--no-bca", "--jobs", "2"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    parent = psutil.Process(p.pid)
    deadline = time.monotonic() + 90
    kids = []
    workers = []
    while time.monotonic() < deadline and p.poll() is None:
        # the workers are busy with replicates (a worker runs loky's initializer, which asks
        # to die with its parent, before its first task; a second of CPU is well past it)
        kids = parent.children(recursive=True)
        workers = [k for k in kids if "LokyProcess" in " ".join(k.cmdline())]
        if len(workers) == 2 and all(k.cpu_times().user > 1.5 for k in workers):
            break
        time.sleep(0.2)
    assert p.poll() is None and len(workers) == 2, "the command ended before it started workers"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    gone, alive = psutil.wait_procs(kids, timeout=20)
    assert alive == [], [(a.pid, a.name()) for a in alive]
    assert _memmap_folders(p.pid) == []
