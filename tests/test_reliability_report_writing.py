"""A report folder is written as a whole or not at all.

``reproduce --out DIR`` and ``measure --out DIR`` write many files.  Whatever stops the write-out
(a full disk after k files, kill -9 at any step, Ctrl-C) the folder afterwards holds exactly the
old report or exactly the new one: every file's SHA-256 is compared with the two known states.
The user's own files in the folder (notes, a data file, a folder of drafts) are in both states
and are never lost.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semcluster.errors import OutputPathError
from semcluster.output.files import MANIFEST, OutputFiles

OLD = {"report.md": "old report\n", "report.html": "<p>old</p>\n", "results.json": '{"n": 130}\n',
       "tables/cfa_fit.csv": "chisq\n248.15\n", "tables/stale.csv": "only in the old report\n",
       "figures/f.svg": "<svg>old</svg>\n"}
NEW = {"report.md": "new report\n", "report.html": "<p>new</p>\n", "results.json": '{"n": 160}\n',
       "tables/cfa_fit.csv": "chisq\n234.19\n", "tables/loadings.csv": "est\n0.7\n",
       "figures/f.svg": "<svg>new</svg>\n", "figures/g.png": "png-ish\n"}
USER = {"notes.md": "my notes\n", "mydata.csv": "a,b\n1,2\n", "drafts/ch1.txt": "draft\n",
        "tables/mine.csv": "my own table\n"}


def _state(folder: Path) -> dict:
    """``{relative path: sha256}`` of every file under ``folder`` (the manifest aside)."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = Path(dirpath) / f
            rel = p.relative_to(folder).as_posix()
            if rel != MANIFEST:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _expected(report: dict) -> dict:
    return {k: hashlib.sha256(v.encode()).hexdigest() for k, v in {**report, **USER}.items()}


def _write(folder: Path, files: dict) -> None:
    f = OutputFiles().folder(folder)
    for name, text in files.items():
        f.add_text(name, text)
    f.commit()


@pytest.fixture
def old_report(tmp_path):
    rep = tmp_path / "work" / "rep"
    _write(rep, OLD)
    for name, text in USER.items():
        (rep / name).parent.mkdir(parents=True, exist_ok=True)
        (rep / name).write_text(text)
    (rep / "empty-drafts").mkdir()
    assert _state(rep) == _expected(OLD)
    return rep


def _no_leftovers(rep: Path) -> bool:
    return [p.name for p in rep.parent.iterdir() if p.name != rep.name] == []


def test_a_new_report_replaces_the_old_one_and_keeps_the_users_files(old_report):
    _write(old_report, NEW)
    assert _state(old_report) == _expected(NEW)
    assert (old_report / "empty-drafts").is_dir()
    assert json.loads((old_report / MANIFEST).read_text())["files"].keys() == NEW.keys()
    assert _no_leftovers(old_report)


@pytest.mark.parametrize("k", range(len(NEW) + 1))
def test_a_disk_full_after_k_files_leaves_the_old_report_whole(old_report, monkeypatch, k):
    """The k+1-th file written fails with ENOSPC (the manifest counts as a file)."""
    written = []
    real = Path.write_bytes

    def write_bytes(self, data):
        if len(written) >= k:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(self)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(OutputPathError, match="No space left on device") as e:
        _write(old_report, NEW)
    monkeypatch.undo()
    assert len(str(e.value).splitlines()) == 1
    assert _state(old_report) == _expected(OLD)
    assert _no_leftovers(old_report)
    _write(old_report, NEW)                          # and a rerun with space succeeds
    assert _state(old_report) == _expected(NEW)


def test_ctrl_c_during_the_write_out_leaves_the_old_report(old_report, monkeypatch):
    calls = []
    real = Path.write_bytes

    def write_bytes(self, data):
        calls.append(self)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(KeyboardInterrupt):
        _write(old_report, NEW)
    monkeypatch.undo()
    assert _state(old_report) == _expected(OLD)
    assert _no_leftovers(old_report)


# a child process writes the new report, printing a line before every file-system step and
# pausing there; the test kills it with SIGKILL after step k
CHILD = textwrap.dedent("""
    import os, sys, time, json, pathlib, shutil
    import semcluster.output.files as of
    steps = [0]
    writing = [False]
    def slow(fn):
        def wrapped(*a, **k):
            if not writing[0]:
                return fn(*a, **k)
            steps[0] += 1
            print("step", steps[0], fn.__name__, flush=True)
            time.sleep(float(os.environ["STEP_PAUSE"]))
            return fn(*a, **k)
        return wrapped
    for mod, names in ((os, ("rename", "replace", "link", "unlink", "rmdir", "mkdir",
                              "symlink")),
                       (pathlib.Path, ("write_bytes",)),
                       (shutil, ("copy2",))):
        for n in names:
            setattr(mod, n, slow(getattr(mod, n)))
    if hasattr(of, "_exchange"):
        of._exchange = slow(of._exchange)
    f = of.OutputFiles().folder(sys.argv[1])
    for name, text in json.loads(sys.argv[2]).items():
        f.add_text(name, text)
    writing[0] = True                     # the steps counted: those of the write-out
    f.commit()
    print("done", flush=True)
""")


def _child(rep: Path, pause: float) -> subprocess.Popen:
    env = {**os.environ, "STEP_PAUSE": str(pause),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(rep), json.dumps(NEW)],
                            stdout=subprocess.PIPE, text=True, env=env)


def _count_steps(rep: Path, tmp_path: Path) -> int:
    import shutil

    trial = tmp_path / "trial" / "rep"
    trial.parent.mkdir()
    shutil.copytree(rep, trial, symlinks=True)
    p = _child(trial, 0.0)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0 and out.rstrip().endswith("done")
    assert _state(trial) == _expected(NEW)
    return sum(line.startswith("step") for line in out.splitlines())


def test_kill_9_at_any_step_of_the_write_out_leaves_one_whole_report(old_report, tmp_path):
    """SIGKILL after each step of the write-out in turn (a sample of them, always including
    the last few, where the swap is): the folder is the old report or the new one; the next
    run then writes the new report and leaves no staging folder behind."""
    n = _count_steps(old_report, tmp_path)
    assert n > 10, n
    ks = sorted(set(range(1, n + 1, max(1, n // 8))) | set(range(max(1, n - 6), n + 1)))
    seen = set()
    for k in ks:
        p = _child(old_report, 0.02)
        for line in p.stdout:
            if line.startswith("step") and int(line.split()[1]) >= k:
                p.send_signal(signal.SIGKILL)
                break
        p.wait(timeout=60)
        p.stdout.close()
        state = _state(old_report)
        assert state in (_expected(OLD), _expected(NEW)), f"mixture after step {k} of {n}"
        seen.add("new" if state == _expected(NEW) else "old")
        # the next run tidies what the killed one left and writes the whole new report
        _write(old_report, NEW)
        assert _state(old_report) == _expected(NEW) and _no_leftovers(old_report)
        # back to the old report for the next kill
        _write(old_report, OLD)
        assert _state(old_report) == _expected(OLD) and _no_leftovers(old_report)
    print(f"write-out of {n} steps; killed after steps {ks}; states seen {sorted(seen)}")
    assert seen == {"old", "new"}          # the kills landed both before and after the swap


def test_without_an_atomic_exchange_two_renames_are_used(old_report, monkeypatch):
    import semcluster.output.files as of

    monkeypatch.setattr(of, "_exchange", lambda a, b: False)
    _write(old_report, NEW)
    assert _state(old_report) == _expected(NEW) and _no_leftovers(old_report)


def test_a_kill_between_the_two_renames_is_repaired_by_the_next_run(old_report, monkeypatch):
    """Without an atomic exchange the folder is absent for a moment: a run killed then leaves
    the old report aside; the next run puts a whole report back before it starts."""
    import semcluster.output.files as of

    monkeypatch.setattr(of, "_exchange", lambda a, b: False)
    real = os.rename

    class Killed(BaseException):
        pass

    def rename(a, b):
        real(a, b)
        if Path(b).name.startswith(f".{old_report.name}.semcluster-old-"):
            raise Killed                       # the folder has just been moved aside

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(of, "_pid_alive", lambda pid: False)
    with pytest.raises(Killed):
        f = OutputFiles().folder(old_report)
        for name, text in NEW.items():
            f.add_text(name, text)
        f._fill_stage(stage := f._make_stage(), f.check())
        of._swap(stage, f.path)
    monkeypatch.setattr(os, "rename", real)
    assert not old_report.exists()
    of._recover_leftovers(old_report)
    assert _state(old_report) in (_expected(OLD), _expected(NEW))
    assert _no_leftovers(old_report)


def test_measure_out_is_written_through_the_staging_folder(tmp_path, monkeypatch, capsys):
    """``measure --out`` over its earlier output (the bundled data) with other data (its
    first 130 rows: every table differs) and a disk that fills after 3 files: the earlier
    tables stay, all of them."""
    import pandas as pd

    from semcluster.cli import main
    from semcluster.resources import data_path

    fewer = tmp_path / "fewer.csv"
    pd.read_csv(data_path("paper_synthetic.csv")).head(130).to_csv(fewer, index=False)
    out = tmp_path / "o" / "m"
    assert main(["measure", "--parallel-iter", "10", "--out", str(out)]) == 0
    before = _state(out)
    (out / "notes.txt").write_text("mine")
    before["notes.txt"] = hashlib.sha256(b"mine").hexdigest()
    real, n = Path.write_bytes, []

    def write_bytes(self, data):
        n.append(1)
        if len(n) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    assert main(["measure", "--data", str(fewer), "--parallel-iter", "10",
                 "--out", str(out)]) == 2
    monkeypatch.undo()
    assert "No space left on device" in capsys.readouterr().err
    assert _state(out) == before and _no_leftovers(out)


def test_a_users_file_that_cannot_be_carried_over_falls_back_to_writing_in_place(
        old_report, monkeypatch):
    """A file of the user's that can be neither hard-linked nor copied into the new folder
    (unreadable to this user): the report is written file by file as before, and the user's
    file stays where it is."""
    import shutil

    real_link, real_copy = os.link, shutil.copy2

    def refuse(name, real):
        def f(src, dst, *a, **k):
            if Path(src).name == "notes.md":
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(src, dst, *a, **k)
        return f

    monkeypatch.setattr(os, "link", refuse("link", real_link))
    monkeypatch.setattr(shutil, "copy2", refuse("copy2", real_copy))
    _write(old_report, NEW)
    assert _state(old_report) == _expected(NEW) and _no_leftovers(old_report)


def test_an_older_report_without_a_manifest_is_replaced_without_leftovers(tmp_path):
    """A report folder of an older semcluster (a marker file, no manifest): its files are
    semcluster's; the swapped-out folder is removed whole, and files the new report does not
    write are kept, as before."""
    import warnings

    rep = tmp_path / "work" / "rep"
    (rep / "tables").mkdir(parents=True)
    (rep / ".semcluster-report").write_text("written by semcluster reproduce\n")
    (rep / "report.md").write_text("old")
    (rep / "tables" / "gone.csv").write_text("old table")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _write(rep, {"report.md": "new"})
    assert (rep / "report.md").read_text() == "new"
    assert (rep / "tables" / "gone.csv").read_text() == "old table"
    assert _no_leftovers(rep)


def test_ctrl_c_just_after_the_swap_leaves_the_new_report_and_no_leftovers(old_report,
                                                                          monkeypatch):
    import semcluster.output.files as of

    real = of._swap

    def swap_then_interrupt(stage, target):
        real(stage, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(of, "_swap", swap_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _write(old_report, NEW)
    assert _state(old_report) == _expected(NEW) and _no_leftovers(old_report)


def test_reproduce_on_a_full_disk_leaves_the_earlier_report_whole(old_report, monkeypatch,
                                                                   capsys):
    """The issue's case: ``reproduce --out`` over an earlier report, the disk full after 19
    files: exit 2, one line, and every file is still the earlier report's."""
    from semcluster.cli import main

    real, n = Path.write_bytes, []

    def write_bytes(self, data):
        n.append(self)
        if len(n) > 19:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    code = main(["reproduce", "--out", str(old_report), "--n-boot", "10", "--power-reps", "10",
                 "--jobs", "1"])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err
    assert len(n) == 20                                 # it failed in the write-out
    assert _state(old_report) == _expected(OLD) and _no_leftovers(old_report)


@pytest.mark.parametrize("where", [".", "tables"])
def test_a_report_folder_holding_the_working_folder_is_written_in_place(old_report,
                                                                       monkeypatch, where):
    """Swapping the folder one works in would leave the shell in the removed old folder: it is
    written file by file instead, and the working folder stays the same folder."""
    monkeypatch.chdir(old_report / where)
    before = os.stat(".").st_ino
    _write(old_report, NEW)
    assert _state(old_report) == _expected(NEW) and _no_leftovers(old_report)
    assert os.stat(".").st_ino == before and os.path.samefile(".", old_report / where)


def test_the_apps_report_zip_appears_only_when_complete(tmp_path, monkeypatch):
    """The app's worker zips the report folder under a temporary name and renames it: a
    failure while zipping leaves no semcluster_report.zip (the download button offers that
    file as soon as it exists)."""
    import shutil

    from semcluster.app import worker

    job = tmp_path / "job"
    job.mkdir()
    monkeypatch.setattr("semcluster.output.report.build_report",
                        lambda data, out, **kw: _write(Path(out), NEW))
    real = shutil.make_archive

    def fail_half_way(base, fmt, **kw):
        Path(base + ".zip").write_bytes(b"PK\x03\x04 truncated")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "make_archive", fail_half_way)
    with pytest.raises(OSError):
        worker.run_report(job, {"options": {}, "study": "h1_h5"})
    assert not (job / "semcluster_report.zip").exists()
    monkeypatch.setattr(shutil, "make_archive", real)
    worker.run_report(job, {"options": {}, "study": "h1_h5"})
    import zipfile

    with zipfile.ZipFile(job / "semcluster_report.zip") as z:
        assert "report/report.md" in z.namelist()
