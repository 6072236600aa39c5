"""Running replicates: in this process, in joblib worker processes, or on a Dask cluster.

Replicates are handed out in chunks; a worker builds its model once per chunk and refits it for
every replicate of the chunk.  Each replicate carries its own ``SeedSequence`` child, so results
are the same whatever the chunking, the number of processes or the machines.  BLAS is pinned to
one thread inside workers (a busy second core otherwise makes small matrix work much slower).
"""
from __future__ import annotations

import os
import threading

from ..errors import OptionError, SemclusterError

# runs of loky workers going on in this process (threads of the app may run several)
_ACTIVE = [0]
_ACTIVE_LOCK = threading.Lock()


def _chunks(seq, size):
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def effective_jobs(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    return cores if n_jobs < 0 else min(n_jobs, max(cores, 1) * 4)


def run_replicates(fn, common: tuple, seeds: list, *, n_jobs: int = 1, backend: str = "joblib",
                   scheduler=None, progress: bool = False, desc: str = "replicates",
                   chunk_size: int | None = None) -> list:
    """Call ``fn((*common, chunk_of_seeds))`` over chunks; return per-seed results in order."""
    n_jobs = effective_jobs(n_jobs)
    # small chunks balance the load: a few resamples cost 10-20x the others
    size = chunk_size or max(5, min(50, len(seeds) // (16 * n_jobs) or 1))
    chunks = _chunks(list(seeds), size)
    tasks = [(*common, c) for c in chunks]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seeds), desc=desc, unit="rep", leave=False)
    results = [None] * len(tasks)
    try:
        if backend == "dask":
            results = _run_dask(fn, tasks, scheduler, bar)
        elif backend == "joblib":
            if n_jobs == 1:
                for i, t in enumerate(tasks):
                    results[i] = fn(t)
                    if bar:
                        bar.update(len(t[-1]))
            else:
                from joblib import Parallel, delayed

                # workers pin BLAS to one thread themselves (threadpool_limits in fn)
                # each worker is killed by the system when this process dies (kill -9)
                par = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator",
                               initializer=_die_with_parent)
                finished = False
                with _ACTIVE_LOCK:
                    _ACTIVE[0] += 1
                try:
                    for i, r in enumerate(par(delayed(fn)(t) for t in tasks)):
                        results[i] = r
                        if bar:
                            bar.update(len(tasks[i][-1]))
                    finished = True
                finally:
                    with _ACTIVE_LOCK:
                        _ACTIVE[0] -= 1
                        last = _ACTIVE[0] == 0
                    if last:     # another thread's run (the app) may still use the workers
                        shutdown_workers(kill=not finished)
        else:
            raise OptionError(f"backend must be 'joblib' or 'dask', not '{backend}'")
    finally:
        if bar:
            bar.close()
    return [x for r in results for x in r]


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In a worker process: be killed when the process that started it dies (Linux
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so that a command killed with kill -9 leaves no
    worker behind.  Elsewhere nothing (workers then end on loky's idle timeout)."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        pass


def shutdown_workers(kill: bool = False) -> None:
    """End joblib's (loky's) reusable worker processes and remove their memory-mapping folder
    (in ``/dev/shm`` or the temporary folder).  loky keeps idle workers for 300 s to reuse them;
    a command's workers must end with the command.  ``kill``: do not wait for running tasks (a
    failure or Ctrl-C)."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover - joblib is a dependency
        return
    with reusable_executor._executor_lock:
        ex = reusable_executor._executor
        reusable_executor._executor = None
        reusable_executor._executor_kwargs = None
    if ex is None:
        return
    try:
        if hasattr(ex, "terminate"):                  # joblib's memmapping executor
            ex.terminate(kill_workers=kill)
        else:
            ex.shutdown(wait=True, kill_workers=kill)
    except Exception:  # pragma: no cover - shutting down must not hide the real error
        pass


def _run_dask(fn, tasks, scheduler, bar):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SemclusterError("the dask backend needs the [distributed] extra: "
                              "pip install 'semcluster[distributed]'") from None
    own = False
    if scheduler is None:
        raise OptionError("backend='dask' needs a scheduler address (or a Client)")
    if isinstance(scheduler, Client):
        client = scheduler
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SemclusterError(f"cannot reach the Dask scheduler at {scheduler}: "
                                  f"{exc}") from None
        own = True
    try:
        futures = client.map(fn, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(tasks)
        for fut in as_completed(futures):
            i = index[fut.key]
            results[i] = fut.result()
            if bar:
                bar.update(len(tasks[i][-1]))
        return results
    finally:
        if own:
            client.close()
