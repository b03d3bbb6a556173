"""One run, one bundle: every run is stamped (run id, parameters, commit, date, versions, device,
precision), interactive runs write to a scratch folder, and make handin takes only a report whose
notebook, tables and figures share one run id."""
from __future__ import annotations

import json

import nbformat
import pytest

from lib import handin, precision, profiles, provenance, runner, runtime
from lib.params import ConfigError


def test_a_stamp_says_everything_about_the_run(monkeypatch):
    monkeypatch.delenv(provenance.RUN_ID_ENV, raising=False)
    monkeypatch.delenv(provenance.PRECISION_ENV, raising=False)
    cfg = profiles.resolve("library_tour", "smoke", {"epochs": 2})
    stamp = cfg.provenance
    for key in ("run_id", "report", "profile", "parameters", "commit", "dirty", "date", "versions", "device",
                "precision", "launched_by"):
        assert key in stamp, key
    assert stamp["parameters"]["epochs"] == 2 and stamp["profile"] == "smoke"
    assert stamp["precision"] == str(precision.resolve("auto", "cpu"))     # what the run computes in
    assert stamp["versions"]["torch"] and stamp["device"].startswith("cpu")
    assert stamp["launched_by"].startswith("interactive")
    json.dumps(stamp)  # all of it JSON


def test_precision_comes_from_the_config_then_the_environment(monkeypatch):
    monkeypatch.delenv(provenance.PRECISION_ENV, raising=False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert provenance.precision_of({"device": "cpu"}).startswith("fp32 on cpu")        # auto, no native bf16
    monkeypatch.setenv(provenance.PRECISION_ENV, "bf16")
    assert provenance.precision_of({"device": "cpu"}).startswith("bf16 on cpu")        # the variable overrides auto
    assert provenance.precision_of({"precision": "fp32", "device": "cpu"}).startswith("fp32")  # a parameter beats it
    assert provenance.precision_of({"precision": "fp16", "device": "cpu"}) == "fp16"  # not possible here: as asked


def test_the_runners_run_id_is_taken_and_an_interactive_run_writes_to_the_scratch_folder(monkeypatch):
    monkeypatch.delenv("ADV_OUTPUT_DIR", raising=False)
    monkeypatch.setenv(provenance.RUN_ID_ENV, "run-from-the-runner")
    cfg = profiles.resolve("library_tour", "smoke")
    assert cfg.out_dir == runtime.figures_dir() / "smoke" / "lab" / "library_tour"
    assert provenance.read(cfg.out_dir)["run_id"] == "run-from-the-runner"


def _papermill(report, dst, overrides):
    """A plain papermill run (not the runner's), as a user would type it."""
    import papermill as pm

    pm.execute_notebook(str(profiles.NOTEBOOK_DIR / f"{report}.ipynb"), str(dst), kernel_name=runner.kernel_name(),
                        parameters={"profile": "smoke", "overrides": overrides}, cwd=str(profiles.NOTEBOOK_DIR),
                        progress_bar=False)


@pytest.mark.notebook
def test_handin_takes_one_run_refuses_a_papermill_overwrite_and_takes_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    small = {"n_train": 500, "n_test": 100, "n_cw": 10, "cw_steps": 10, "pgd_steps": 2}
    runner.run_one("library_tour", "smoke", dict(small, eps=[0, 0.1, 0.2, 0.3]))
    handin.build("smoke", ["library_tour"])

    # A papermill run whose executed notebook replaces the reproduced one: its tables and figures
    # go to the scratch folder (as a lab run's do, tests/test_lab.py), and the bundle is refused,
    # naming both runs.
    owned = tmp_path / "smoke" / "library_tour" / "library_tour.ipynb"
    _papermill("library_tour", owned, dict(small, eps=[0, 0.1]))
    assert (tmp_path / "smoke" / "lab" / "library_tour" / "robust_accuracy.csv").is_file()
    with pytest.raises(ConfigError) as err:
        handin.build("smoke", ["library_tour"])
    message = str(err.value)
    assert "library_tour.ipynb is from run" in message and "eps [0.0, 0.1] vs [0.0, 0.1, 0.2, 0.3]" in message
    assert "make reproduce PROFILE=smoke REPORTS=library_tour" in message

    runner.run_one("library_tour", "smoke", dict(small, eps=[0, 0.1]))
    folder, _ = handin.build("smoke", ["library_tour"])
    nb = nbformat.read(folder.parent / "library_tour" / "library_tour.ipynb", as_version=4)
    assert provenance.of_notebook(nb)["run_id"] == provenance.read(folder.parent / "library_tour")["run_id"]
