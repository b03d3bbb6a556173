"""The command line: PARAMS across reports, --list and --describe for a reader, progress in a
pipe, lib.data list."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from lib import progress, runner, runtime
from lib.params import ConfigError


@pytest.fixture
def no_notebooks(monkeypatch):
    monkeypatch.setattr(runner, "run_one", lambda *a, **k: pytest.fail("a notebook ran"))


def test_a_parameter_goes_to_the_reports_that_declare_it_and_the_run_says_which():
    chosen = ["abs_cifar", "library_tour", "study_summary"]
    per, took = runner.route(chosen, {"epochs": "2", "seed": "1"})
    assert per["library_tour"] == {"epochs": "2", "seed": "1"} and per["abs_cifar"] == {"seed": "1"}
    assert per["study_summary"] == {} and took["epochs"] == ["library_tour"]
    notes = "\n".join(runner.routing_note(chosen, {"epochs": "2"}))
    assert "epochs: taken by library_tour; not declared by abs_cifar, study_summary" in notes


def test_report_dot_name_targets_one_report_and_wins_over_the_plain_name():
    profile, jobs = runner.plan("smoke", ["library_tour", "attacks_adversarial_training"],
                                {"epochs": "2", "library_tour.epochs": "3"}, check_data=False)
    epochs = {report: cfg.epochs for report, _, cfg in jobs}
    assert epochs == {"library_tour": 3, "attacks_adversarial_training": 2}
    notes = runner.routing_note(["library_tour", "attacks_adversarial_training"],
                                {"epochs": "2", "library_tour.epochs": "3"})
    assert any("replaced by a report-specific value in library_tour" in n for n in notes)


@pytest.mark.parametrize("params,message", [
    ({"bogus": "1"}, "unknown parameter 'bogus': none of this run's reports"),
    ({"epochs": "2"}, r"only \['attacks_adversarial_training', 'library_tour'\] declare it"),
    ({"nope.seed": "1"}, "report 'nope' is not one of this run's reports"),
    ({"abs_cifar.bogus": "1"}, "unknown parameter 'bogus' for 'abs_cifar'"),
])
def test_parameters_no_report_of_the_run_takes_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        runner.plan("smoke", ["abs_cifar"], params, check_data=False)


def test_the_readme_example_with_epochs_runs_across_all_reports(capsys, no_notebooks, monkeypatch):
    monkeypatch.setenv("ADV_DRY_RUN", "1")
    assert runner.main(["--profile", "smoke", "--param", "seed=1", "--param", "epochs=2"]) == 0
    out = capsys.readouterr().out
    assert "epochs: taken by attacks_adversarial_training, library_tour; not declared by" in out


def test_describe_is_wrapped_to_the_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "60")
    assert runner.main(["--describe", "puvae_detector"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 40 and max(len(line) for line in lines) <= 60


def test_list_gives_titles_reports_and_datasets(capsys):
    assert runner.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "puvae_detector: PuVAE purification with a reconstruction-error detector" in out
    assert '"Augmenting robustness using adversarial detection" (001_f6812e576f281240.txt)' in out
    assert "datasets (quick): mnist, fashion_mnist" in out


def test_progress_in_a_pipe_prints_a_line_per_section_not_per_update(monkeypatch):
    monkeypatch.setenv(progress.ENV, "1")
    out = io.StringIO()
    bar = progress.progress(total=100, desc="report", unit="cell", file=out)
    for i in range(100):
        if i % 50 == 0:
            bar.set_description(f"report: section {i // 50 + 1}")
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["report (100 cells)", "report: section 1", "report: section 2"]
    assert len(lines) == 4 and lines[3].startswith("report: section 2: 100/100 cells in") and "\r" not in out.getvalue()
    assert list(progress.progress(range(3), desc="x", file=io.StringIO())) == [0, 1, 2]


def test_data_list_says_what_is_present_where_and_verified(tmp_path):
    env = dict(os.environ, ADV_DATA_DIR=str(tmp_path / "empty"))
    proc = subprocess.run([sys.executable, "-m", "lib.data", "list"], cwd=runtime.REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "(missing)" in lines["mnist"] and "get it: .venv/bin/python -m lib.data fetch mnist" in lines["mnist"]
    assert "generated" in lines["synthetic28"] and f"data dir: {tmp_path / 'empty'}" in proc.stdout
