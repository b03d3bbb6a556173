"""Issue 19, items 4 and 5: a finished result folder is swapped in so that a kill at any instant
loses no complete copy, and Ctrl-C ends a run with one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib import profiles, runner

KILLER = r"""
import os, shutil, signal, sys
from pathlib import Path
from lib import runner

at = int(sys.argv[1])
real_replace, real_rmtree, calls = os.replace, shutil.rmtree, [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def replace(a, b):
    if calls[0] == at:
        die()
    calls[0] += 1
    real_replace(a, b)

def rmtree(path, *args, **kwargs):   # all three renames done: killed before or while removing the old copy
    if at == 99:
        next(p for p in Path(path).iterdir()).unlink()
    die()

os.replace = replace
shutil.rmtree = rmtree
runner._swap_in(Path(sys.argv[2]), Path(sys.argv[3]))
"""


def _folder(path: Path, run: str) -> Path:
    path.mkdir(parents=True)
    for name in ("a.csv", "b.csv", "library_tour.ipynb"):
        (path / name).write_text(run)
    return path


@pytest.mark.parametrize("kill_at", [0, 1, 2, 3, 99], ids=["before-marking", "marked", "old-moved", "swapped",
                                                           "removing-old"])
def test_a_kill_anywhere_in_the_swap_then_a_failing_run_loses_no_complete_copy(kill_at, tmp_path, monkeypatch,
                                                                                 capsys):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    root = tmp_path / "smoke"
    final = _folder(root / "library_tour", "old")
    staging = _folder(root / ".staging-library_tour-0", "new")   # renamed below to carry the killed pid
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(kill_at), str(staging), str(final)],
                            env=dict(os.environ, PYTHONPATH=str(profiles.NOTEBOOK_DIR.parent)))
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the swap must be killed part-way"
    for leftover in root.glob(".*-0"):   # what the dead process left carries its pid
        leftover.rename(leftover.with_name(leftover.name[:-1] + str(proc.pid)))

    # The finding: a kill mid-swap, then a failing run, deleted both copies.
    import papermill

    def fail(src, dst, **kwargs):
        raise RuntimeError("the next run fails")

    monkeypatch.setattr(papermill, "execute_notebook", fail)
    assert runner.main(["--profile", "smoke", "--reports", "library_tour"]) == 1
    assert "unchanged in" in capsys.readouterr().err
    expected = "old" if kill_at == 0 else "new"    # before its mark the new copy was not complete
    assert {p.name: p.read_text() for p in final.iterdir()} == {
        n: expected for n in ("a.csv", "b.csv", "library_tour.ipynb")}
    assert sorted(p.name for p in root.iterdir()) == ["library_tour", "library_tour.failed.ipynb"] or \
        sorted(p.name for p in root.iterdir()) == ["library_tour"]


def test_leftovers_of_several_dead_runs_keep_the_newest_complete_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    dead = [2**22 + 1, 2**22 + 2, 2**22 + 3]   # above the default pid_max: no such processes
    root = tmp_path / "smoke"
    _folder(root / f".old-library_tour-{dead[0]}", "oldest")
    older = _folder(root / f".complete-library_tour-{dead[1]}", "older")
    newest = _folder(root / f".complete-library_tour-{dead[2]}", "newest")
    os.utime(older, (time.time() - 100, time.time() - 100))
    os.utime(newest, (time.time(), time.time()))
    _folder(root / f".staging-library_tour-{dead[2]}", "unfinished")
    live = _folder(root / f".staging-abs_cifar-{os.getpid()}", "running now")
    runner.clean_leftovers(root)
    assert (root / "library_tour" / "a.csv").read_text() == "newest"
    assert sorted(p.name for p in root.iterdir()) == sorted(["library_tour", live.name])


def test_ctrl_c_ends_with_one_line_saying_what_was_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    ran = []

    def run_one(report, profile, overrides, **kwargs):
        if ran:
            raise KeyboardInterrupt
        ran.append(report)
        return _folder(tmp_path / profile / report, "new") / f"{report}.ipynb"

    monkeypatch.setattr(runner, "run_one", run_one)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code = runner.main(["--profile", "smoke", "--reports", "library_tour", "abs_cifar"])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    err = capsys.readouterr().err
    assert code == 130 and err.count("\n") == 1, err
    assert err.startswith("interrupted: library_tour finished and kept") and "abs_cifar stopped" in err


@pytest.mark.notebook
def test_ctrl_c_during_a_real_notebook_prints_no_traceback_and_keeps_the_previous_results(tmp_path):
    root = tmp_path / "fig" / "smoke"
    _folder(root / "library_tour", "old")
    env = dict(os.environ, ADV_FIGURES_DIR=str(tmp_path / "fig"), ADV_CHECKPOINT_DIR=str(tmp_path / "ck"),
               ADV_PROGRESS="0", PYTHONPATH=str(profiles.NOTEBOOK_DIR.parent))
    proc = subprocess.Popen([sys.executable, "-m", "lib.runner", "--profile", "smoke", "--reports", "library_tour"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(root.glob(".staging-*/*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)   # the notebook has begun writing: its kernel is busy
    os.killpg(proc.pid, signal.SIGINT)   # what a terminal's Ctrl-C does
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert err.count("\n") == 1 and err.startswith("interrupted: no notebook finished; library_tour stopped"), err
    assert (root / "library_tour" / "a.csv").read_text() == "old"
    assert not list(root.glob(".staging-*"))
