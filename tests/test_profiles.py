"""lib.profiles and lib.runner: parameter sets and the checks made before anything runs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from lib import profiles, runner, runtime


@pytest.mark.parametrize("report", profiles.reports())
def test_every_profile_has_the_same_parameters(report):
    table = profiles.profiles_of(report)
    assert set(table) == set(profiles.PROFILE_NAMES)
    keys = {name: set(params) for name, params in table.items()}
    assert keys["smoke"] == keys["quick"] == keys["paper"], keys
    assert {"seed", "device"} <= keys["smoke"]
    for name in profiles.PROFILE_NAMES:
        profiles.resolve(report, name)  # every shipped profile passes validation


@pytest.mark.parametrize("report", profiles.reports())
def test_every_profile_module_has_a_notebook(report):
    assert (profiles.NOTEBOOK_DIR / f"{report}.ipynb").exists()


def test_smoke_uses_synthetic_data_and_quick_real_fashion_mnist():
    for report in profiles.reports():
        smoke, quick = profiles.resolve(report, "smoke"), profiles.resolve(report, "quick")
        names = lambda c: [v for k, v in c.items() if k in ("dataset", "datasets")]  # noqa: E731
        flat = lambda c: [d for v in names(c) for d in (v if isinstance(v, list) else [v])]  # noqa: E731
        assert all(d.startswith("synthetic") for d in flat(smoke)), report
        assert flat(quick) and all(d == "fashion_mnist" for d in flat(quick)), report


@pytest.mark.parametrize("args,match", [
    (("no_such_report", "quick", None), "unknown report"),
    (("library_tour", "fast", None), "unknown profile"),
    (("library_tour", "quick", {"epochz": 3}), "unknown parameter"),
    (("library_tour", "quick", {"eps": [0.1, -0.1]}), "must be >= 0"),
    (("library_tour", "quick", {"dataset": "imagenet"}), "unknown dataset"),
    (("library_tour", "quick", {"epochs": -1}), "must be >= 0"),
])
def test_bad_configuration_is_refused(args, match):
    with pytest.raises(profiles.ConfigError, match=match):
        profiles.resolve(*args)


def test_overrides_apply_and_config_knows_its_output_dir():
    cfg = profiles.resolve("library_tour", "smoke", {"epochs": 3})
    assert cfg.epochs == 3 and cfg.profile == "smoke"
    assert cfg.out_dir == runtime.figures_dir() / "smoke" / "library_tour"
    with pytest.raises(AttributeError, match="no parameter"):
        cfg.nothing


def test_default_profile_follows_the_hardware(capsys):
    expected = "paper" if runtime.has_gpu() else "quick"
    assert profiles.default_profile() == expected
    assert expected in capsys.readouterr().out


def test_parse_assignments():
    assert profiles.parse_assignments(["epochs=2", "eps=[0.1, 0.2]", "dataset=mnist"]) == \
        {"epochs": 2, "eps": [0.1, 0.2], "dataset": "mnist"}
    with pytest.raises(profiles.ConfigError):
        profiles.parse_assignments(["epochs"])


@pytest.mark.parametrize("argv,message", [
    (["--reports", "nope"], "unknown report"),
    (["--param", "bogus=1"], "unknown parameter"),
    (["--param", "eps=[-1]", "--reports", "library_tour"], "must be >= 0"),
])
def test_runner_refuses_before_running(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(runner, "run_one", lambda *a, **k: pytest.fail("ran a notebook"))
    assert runner.main(["--profile", "smoke", *argv]) == 2
    assert message in capsys.readouterr().err


def test_runner_rejects_unknown_profile_on_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "lib.runner", "--profile", "fast"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_make_help_lists_targets():
    proc = subprocess.run(["make", "-s", "help"], cwd=runtime.REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    for target in ("reproduce", "test", "lab", "data", "install"):
        assert target in proc.stdout


def test_per_dataset_values_are_checked_too():
    with pytest.raises(profiles.ConfigError, match="must be >= 0"):
        profiles.validate({"eps": {"mnist": 0.3, "cifar10": -0.06}})
    with pytest.raises(profiles.ConfigError, match="unknown dataset"):
        profiles.validate({"datasets": ["mnist", "svhn"]})


def test_a_reports_own_check_runs_in_resolve(monkeypatch):
    import lib.reports.library_tour.profile as module

    def check(cfg):
        if cfg.n_cw > cfg.n_test:
            raise profiles.ConfigError("n_cw must not exceed n_test")

    monkeypatch.setattr(module, "check", check, raising=False)
    with pytest.raises(profiles.ConfigError, match="n_cw must not exceed"):
        profiles.resolve("library_tour", "smoke", {"n_cw": 10_000})
