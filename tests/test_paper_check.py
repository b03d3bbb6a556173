"""``make paper-check`` (lib.paper_check) and the time estimates (lib.estimate, lib.cost_models).

Cheap: no notebook runs here. The shrink settings of every report are held to their contract:
they name only the report's parameters, every paper parameter is either shrunk or kept, a
shrunk size is no larger than the paper's, the structure (architectures, widths, datasets,
attack sets) is the paper's, and the result resolves. ``make paper-check`` itself runs the
notebooks (about ten minutes on a 2-core CPU; see the README for why it is not in ``make test``)."""
from __future__ import annotations

import json
import math
from numbers import Number

import pytest
import torch

from lib import cost_models, estimate, paper_check, profiles, runner

REPORTS = runner.available()
CIFAR = {"cifar10": "cifar10_jpeg"}


def not_larger(small, big) -> bool:
    """``small`` asks for no more work than ``big``: numbers no larger, ``None`` (the whole split)
    only where the paper has it too, dicts per dataset, lists no longer and no larger."""
    if big is None:
        return True
    if small is None:
        return False
    if isinstance(big, dict):
        smalls = small if isinstance(small, dict) else {k: small for k in big}
        return all(k in big and not_larger(v, big[k]) for k, v in smalls.items())
    if isinstance(big, (list, tuple)):
        return (isinstance(small, (list, tuple)) and len(small) <= len(big)
                and max(small, default=0) <= max(big, default=0))
    assert isinstance(small, Number) and isinstance(big, Number), (small, big)
    return small <= big


@pytest.mark.parametrize("report", REPORTS)
def test_every_paper_parameter_is_shrunk_or_kept_and_no_other(report):
    assert report in paper_check.SHRINK and report in paper_check.KEEP, \
        f"{report} has a notebook but no paper-check settings in lib/paper_check.py"
    shrink, keep = set(paper_check.SHRINK[report]), paper_check.KEEP[report]
    params = set(profiles.specs_of(report))
    assert shrink <= params, f"unknown parameters in SHRINK[{report!r}]: {sorted(shrink - params)}"
    assert keep <= params, f"unknown parameters in KEEP[{report!r}]: {sorted(keep - params)}"
    assert not shrink & keep, sorted(shrink & keep)
    assert params == shrink | keep, (f"classify {sorted(params - shrink - keep)} of {report} in lib/paper_check.py: "
                                     "SHRINK (a size, shrunk) or KEEP (structure, the paper's value)")


@pytest.mark.parametrize("report", REPORTS)
def test_shrink_settings_shrink_and_keep_the_structure(report):
    paper = profiles.profiles_of(report)["paper"]
    for name, value in paper_check.SHRINK[report].items():
        assert not_larger(value, paper[name]), f"{report}.{name}={value!r} grows the paper's {paper[name]!r}"
    # A count that selects a code path (restarts, EOT draws, targets) stays above one where the paper's is.
    for name, value in paper_check.SHRINK[report].items():
        if any(w in name for w in ("restarts", "draws", "eot", "targets")) and isinstance(value, int):
            assert value > 1 or paper[name] == 1, f"{report}.{name}: the paper's {paper[name]} > 1 takes another path"
    same = paper_check.overrides(report, {})
    for name in paper_check.KEEP[report]:
        assert name not in same, f"{report}.{name} is kept, but paper-check overrides it"


@pytest.mark.parametrize("report", REPORTS)
@pytest.mark.parametrize("subs", [{}, CIFAR], ids=["as named", "cifar10 stand-in"])
def test_shrunk_paper_profile_resolves(report, subs):
    cfg = profiles.resolve(report, "paper", paper_check.overrides(report, subs))
    full = profiles.resolve(report, "paper", paper_check.overrides(report, subs, shrink=False))
    for name in paper_check.KEEP[report]:     # the structure: the paper's own values (datasets renamed)
        assert cfg[name] == full[name], name
    if subs:
        named = json.dumps({k: v for k, v in cfg.items()}, default=str)
        assert '"cifar10"' not in named, "a dataset parameter (or a per-dataset key) still names cifar10"


def test_the_stand_in_renames_every_dataset_parameter_and_per_dataset_key():
    out = paper_check.overrides("puvae_detector", CIFAR)
    assert out["datasets"][-1] == "cifar10_jpeg"
    assert set(out["z_dim"]) == {"mnist", "fashion_mnist", "cifar10_jpeg"} and out["z_dim"]["cifar10_jpeg"] == 1024
    assert paper_check.overrides("attacks_adversarial_training", CIFAR)["dataset"] == "cifar10_jpeg"
    assert "dataset" not in paper_check.overrides("attacks_adversarial_training", {})
    assert paper_check.overrides("generative_lipschitz", CIFAR)["cifar_data"] == "cifar10_jpeg"


def test_paper_check_plans_the_paper_profile_shrunk_into_its_own_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    monkeypatch.setenv("ADV_DRY_RUN", "1")
    monkeypatch.setattr(paper_check, "substitutions", lambda names=None: dict(CIFAR))
    monkeypatch.setattr(runner, "_ensure_data", lambda name: None)   # no real data needed to plan
    assert runner.main(["--paper-check", "--reports", "library_tour", "attacks_adversarial_training"]) == 0
    out = capsys.readouterr().out
    assert f"-> {tmp_path / 'figures' / 'paper-check' / 'paper'}" in out
    assert "'cifar10_jpeg' stands in for it" in out
    import os
    assert os.environ["ADV_FIGURES_DIR"] == str(tmp_path / "figures")   # restored after the run
    checked = paper_check.Check.of(["library_tour"])
    with checked.folders():
        _, jobs = runner.plan("paper", ["library_tour"], {}, checked.overrides, check_data=False)
    (_, overrides, cfg), = jobs
    assert cfg.profile == "paper" and cfg.epochs == 1 and cfg.n_train == 500 and cfg.width == 32


def test_paper_check_refuses_another_profile(capsys):
    assert runner.main(["--paper-check", "--profile", "quick", "--reports", "library_tour"]) == 2
    assert "cannot go with it" in capsys.readouterr().err


# --------------------------------------------------------------------------- estimates
@pytest.mark.parametrize("report", REPORTS)
def test_every_report_has_a_cost_model_that_grows_from_paper_check_to_paper(report):
    small = cost_models.plan(report, profiles.resolve(report, "paper", paper_check.overrides(report, CIFAR)))
    full = cost_models.plan(report, profiles.resolve(report, "paper", paper_check.overrides(report, CIFAR, False)))
    assert all(w.images >= 0 and w.kind in estimate.KINDS for w in small.work + full.work)
    if report != "study_summary":
        assert sum(w.images for w in full.work) > 10 * sum(w.images for w in small.work) > 0
        assert full.host_data > small.host_data > 0


class FixedRates:
    """Rates of 100 image-passes per second and 1 MiB per step for every unit; a start-up of
    2 s and 100 MiB, on a CPU."""

    device = torch.device("cpu")

    def get(self, unit, kind):
        return {"rate": 100.0, "peak": 2.0 ** 20}

    def startup(self):
        return {"seconds": 2.0, "rss": 100 * 2.0 ** 20}


def test_an_estimate_is_images_over_rates_plus_start_up():
    cfg = profiles.resolve("library_tour", "paper", paper_check.overrides("library_tour", {}))
    plan = cost_models.plan("library_tour", cfg)
    e = estimate.evaluate("library_tour", plan, FixedRates())
    assert math.isclose(e.seconds, 2.0 + sum(w.images for w in plan.work) / 100.0)
    assert e.gpu is None and e.ram == 101 * 2.0 ** 20 + plan.host_data    # a CPU: one memory, the host's
    assert e.parts[0][1] >= e.parts[1][1]          # largest part first


def test_rates_are_measured_once_per_device_and_cached(tmp_path, monkeypatch):
    from lib import models

    unit = estimate.Unit("test SmallCNN", lambda: models.SmallCNN("synthetic28", width=4), (1, 28, 28), 16)
    policy = estimate.precision.resolve("fp32", "cpu")
    rates = estimate.Rates(torch.device("cpu"), policy, tmp_path)
    assert rates.want([estimate.Plan([estimate.Work(unit, "train", 10, "x"), estimate.Work(unit, "grad", 10, "y")])])
    got = rates.get(unit, "train")
    assert got["rate"] > 0 and got["peak"] > 0 and rates.measured == 1
    assert rates.get(unit, "grad")["rate"] > 0 and rates.measured == 1     # one build measured both kinds
    monkeypatch.setattr(estimate, "measure", lambda *a, **k: pytest.fail("measured again"))
    again = estimate.Rates(torch.device("cpu"), policy, tmp_path)
    assert again.get(unit, "train") == got


def test_cpu_peak_counts_weights_gradients_optimiser_state_and_what_a_step_allocates(monkeypatch):
    lin = torch.nn.Linear(100, 10)
    unit = estimate.Unit("linear", lambda: torch.nn.Sequential(torch.nn.Flatten(), lin), (1, 10, 10), 64,
                         cpu_batch=8)
    policy = estimate.precision.resolve("fp32", "cpu")
    params = (100 * 10 + 10) * 4
    monkeypatch.setattr(estimate, "_reset_peak_rss", lambda: False)     # tensor sizes (no /proc)
    got = estimate.measure(unit, ["train", "forward"], policy, torch.device("cpu"), seconds=0.01)
    acts = 64 * (100 + 10) * 4                    # Flatten's and Linear's outputs, scaled to batch 64
    assert got["train"]["peak"] == params * 3 + acts          # weights, gradients, momentum
    assert got["forward"]["peak"] == params + acts
    monkeypatch.undo()
    if estimate._reset_peak_rss():               # Linux: the measured rise of the peak resident memory
        big = estimate.Unit("big", lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 4096)),
                            (3, 32, 32), 2048, cpu_batch=256)
        got = estimate.measure(big, ["forward"], policy, torch.device("cpu"), seconds=0.01)["forward"]
        out = 2048 * 4096 * 4                      # the output alone at batch 2048: 32 MiB
        assert out < got["peak"] - 3072 * 4096 * 4 < 20 * out


def test_the_calibration_puts_measured_time_and_memory_beside_the_estimates():
    rows = {"library_tour": estimate.Estimate("library_tour", 10.0, [("train", 8.0)], None, 2 ** 30)}
    full = {"library_tour": estimate.Estimate("library_tour", 3600.0, [("CW", 3000.0)], None, 2 ** 31)}
    estimates = estimate.Estimates("cpu", "fp32", rows, full)
    checked = paper_check.Check.of(["library_tour"])
    text = checked.calibration(estimates, {"library_tour": (20.0, "ok")}, peaks={"library_tour": 2 ** 29})
    line = next(li for li in text.splitlines() if li.startswith("library_tour"))
    assert "20 s" in line and "2.00" in line and "0.5 GiB" in line and "1.0 GiB" in line
    assert "60.0 min" in line and "RAM 2.0 GiB" in line
