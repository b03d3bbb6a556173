"""lib.runner, the Makefile and lib.lab: requests that cannot hurt.

Hostile or malformed input is refused before any kernel starts, never reaches a shell,
and a failed run leaves the previous results intact."""
from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from lib import cache, runner, runtime


@pytest.fixture
def no_notebooks(monkeypatch):
    monkeypatch.setattr(runner, "run_one", lambda *a, **k: pytest.fail("a notebook ran"))


@pytest.mark.parametrize("argv,message", [
    (["--reports", "nope"], "unknown report"),
    (["--reports"], "REPORTS is empty"),
    (["--reports", "library_tour", "library_tour"], "named twice"),
    (["--param", "bogus=1"], "unknown parameter"),
    (["--param", "eps=-1", "--reports", "library_tour"], r"eps\[0\] must be a finite number >= 0"),
    (["--param", "epochs=abc", "--reports", "library_tour"], r"epochs must be an integer in \[1, 10000\], got 'abc'"),
    (["--param", "lr=1e999", "--reports", "library_tour"], "lr must be a finite number > 0"),
    (["--param", "epochs"], "not of the form name=value"),
    (["--profile", "fast"], "unknown profile 'fast'"),
])
def test_runner_refuses_before_running(argv, message, capsys, no_notebooks):
    argv = argv if "--profile" in argv else ["--profile", "smoke", *argv]
    assert runner.main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_params_from_the_environment_are_split_like_a_shell_line_but_never_run(monkeypatch, tmp_path,
                                                                               no_notebooks, capsys):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("ADV_PROFILE", "smoke")
    monkeypatch.setenv("ADV_REPORTS", "library_tour")
    monkeypatch.setenv("ADV_PARAMS", f"'eps=[0.1, 0.2]' epochs=`touch {marker}`")
    assert runner.main(["--from-env"]) == 2
    assert "is not of the form name=value" in capsys.readouterr().err
    monkeypatch.setenv("ADV_PARAMS", "'eps=[0.1, 0.2]' epochs=`id`")
    assert runner.main(["--from-env"]) == 2
    assert "epochs must be an integer in [1, 10000], got '`id`'" in capsys.readouterr().err
    assert not marker.exists()


def test_plan_types_the_overrides_per_report():
    profile, jobs = runner.plan("smoke", ["library_tour"], {"eps": "[0.1, 0.2]", "epochs": "2"},
                                check_data=False)
    (report, overrides, cfg), = jobs
    assert overrides == {"eps": [0.1, 0.2], "epochs": 2} and cfg.epochs == 2


MAKE_ATTACKS = [
    "PARAMS=epochs=`touch {m}`",
    "PARAMS=epochs=$$(touch {m})",
    "PARAMS=epochs=$(shell touch {m})",
    "PARAMS=epochs=1; touch {m}",
    "PARAMS=epochs=abc; true",
    "REPORTS=library_tour; touch {m}",
    "PROFILE=smoke; touch {m}",
    "REPORTS=",
    "REPORTS=library_tour library_tour",
]


@pytest.mark.parametrize("assignment", MAKE_ATTACKS)
def test_make_reproduce_never_evaluates_user_input(assignment, tmp_path):
    """`make reproduce` with shell syntax in its variables: refused (exit != 0), nothing run."""
    marker = tmp_path / "pwned"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADV_")}
    env.update(ADV_CHECKPOINT_DIR=str(tmp_path / "ck"), ADV_FIGURES_DIR=str(tmp_path / "fig"))
    args = ["make", "-s", "reproduce", assignment.format(m=marker)]
    if not assignment.startswith("REPORTS"):
        args.append("REPORTS=library_tour")
    if not assignment.startswith("PROFILE"):
        args.append("PROFILE=smoke")
    proc = subprocess.run(args, cwd=runtime.REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not marker.exists(), "user input was executed"
    assert not (tmp_path / "fig").exists() or not any((tmp_path / "fig").rglob("*.ipynb"))


def test_make_reproduce_without_reports_plans_every_report(tmp_path):
    """No REPORTS means all of them (a bad value then names the first report's parameter)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADV_") and k != "REPORTS"}
    env.update(ADV_CHECKPOINT_DIR=str(tmp_path / "ck"), ADV_FIGURES_DIR=str(tmp_path / "fig"))
    proc = subprocess.run(["make", "-s", "reproduce", "PROFILE=smoke", "PARAMS=seed=-1"], cwd=runtime.REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "seed must be an integer in [0, 4294967295], got -1" in proc.stderr and "REPORTS is empty" not in proc.stderr


def test_make_help_lists_targets():
    proc = subprocess.run(["make", "-s", "help"], cwd=runtime.REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    for target in ("reproduce", "test", "lint", "notebooks", "lab", "data", "install", "benchmark"):
        assert target in proc.stdout


# --------------------------------------------------------------------------- staging
@pytest.fixture
def fake_papermill(monkeypatch):
    """papermill replaced by a stand-in that writes into the staging folder, then fails or not."""
    import papermill

    outcome = {"fail": False}

    class Failed(Exception):
        ename, evalue = "ConfigError", "n_cw=600 must not exceed n_test=500\nsecond line of the message"

    def execute(src, dst, parameters, **kwargs):
        out = Path(os.environ["ADV_OUTPUT_DIR"])
        (out / "table.csv").write_text(f"run {parameters['overrides'].get('seed', 0)}\n")
        Path(dst).write_text("{}")
        if outcome["fail"]:
            raise Failed()

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return outcome


def test_success_swaps_results_in_and_failure_keeps_them(fake_papermill, tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    path = runner.run_one("library_tour", "smoke", {"seed": 1})
    folder = tmp_path / "smoke" / "library_tour"
    assert path == folder / "library_tour.ipynb" and (folder / "table.csv").read_text() == "run 1\n"
    assert stat.S_IMODE(os.stat(folder / "table.csv").st_mode) == 0o644

    fake_papermill["fail"] = True
    with pytest.raises(runner.NotebookFailed) as err:
        runner.run_one("library_tour", "smoke", {"seed": 2})
    assert (folder / "table.csv").read_text() == "run 1\n", "previous results must stay intact"
    assert err.value.user_error and "second line of the message" in str(err.value)
    assert err.value.failed == tmp_path / "smoke" / "library_tour.failed.ipynb" and err.value.failed.exists()
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == ["library_tour", "library_tour.failed.ipynb"]

    fake_papermill["fail"] = False
    runner.run_one("library_tour", "smoke", {"seed": 3})
    assert (folder / "table.csv").read_text() == "run 3\n"
    assert not (tmp_path / "smoke" / "library_tour.failed.ipynb").exists()


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    root = tmp_path / "fig"
    (root / f".staging-library_tour-{dead}").mkdir(parents=True)
    (root / f".old-library_tour-{dead}").mkdir()
    (tmp_path / "ck").mkdir()
    stale = tmp_path / "ck" / f".model-abc.tmp{dead}-xyz.pt"
    stale.write_text("half")
    live = tmp_path / "ck" / f".model-abc.tmp{os.getpid()}-xyz.pt"
    live.write_text("being written")
    removed = runner.clean_leftovers(root)
    assert len(removed) == 2 and not stale.exists() and live.exists()
    # The unfinished staging folder goes; the old copy, the only complete one, is put back.
    assert [p.name for p in root.iterdir()] == ["library_tour"]


def test_atomic_files_are_readable_by_others(tmp_path):
    path = cache.atomic_write_text("x", tmp_path / "a.txt")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
