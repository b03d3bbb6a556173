"""lib.params and lib.profiles: every parameter typed, every bad value refused before anything runs."""
from __future__ import annotations

import math

import pytest

from lib import params, profiles, runtime

REAL_DATA_OF_QUICK = {  # the reports' own datasets (the library tour may stay on Fashion-MNIST)
    "library_tour": {"fashion_mnist"},
    "attacks_adversarial_training": {"cifar10_jpeg"},
    "puvae_detector": {"mnist", "fashion_mnist"},
    "abs_cifar": {"cifar10_jpeg"},
    "generative_lipschitz": {"mnist", "fashion_mnist", "cifar10_jpeg"},
    "study_summary": set(),   # reads the others' tables, loads no data
}


def _datasets(cfg) -> set[str]:
    return set(profiles.datasets_of(cfg))


@pytest.mark.parametrize("report", profiles.reports())
def test_every_parameter_is_declared_and_every_profile_resolves(report):
    specs, table = profiles.specs_of(report), profiles.profiles_of(report)
    assert set(table) == set(profiles.PROFILE_NAMES)
    for name in profiles.PROFILE_NAMES:
        assert set(table[name]) == set(specs), f"{report}/{name}: values and specs disagree"
        profiles.resolve(report, name)
    if not profiles.run_last(report):   # the summary computes nothing: no seed, no device
        assert {"seed", "device"} <= set(specs)
    assert all(isinstance(s, params.Param) and s.describe() for s in specs.values())


@pytest.mark.parametrize("report", profiles.reports())
def test_every_report_has_a_paired_notebook(report):
    assert (profiles.NOTEBOOK_DIR / f"{report}.py").exists()
    assert (profiles.NOTEBOOK_DIR / f"{report}.ipynb").exists()


@pytest.mark.parametrize("report", profiles.reports())
def test_smoke_is_synthetic_and_quick_uses_the_reports_own_data(report):
    assert all(d.startswith("synthetic") for d in _datasets(profiles.resolve(report, "smoke")))
    assert _datasets(profiles.resolve(report, "quick")) == REAL_DATA_OF_QUICK[report]


@pytest.mark.parametrize("overrides,match", [
    ({"epochz": 3}, "unknown parameter"),
    ({"epochs": 2.5}, r"epochs must be an integer in \[1, 10000\], got 2.5"),
    ({"epochs": "3"}, r"epochs must be an integer in \[1, 10000\], got '3'"),
    ({"epochs": True}, r"epochs must be an integer in \[1, "),
    ({"epochs": 0}, r"epochs must be an integer in \[1, "),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"lr": 1e999}, "lr must be a finite number > 0"),
    ({"lr": -0.1}, "lr must be a finite number > 0"),
    ({"eps": [0.1, -0.1]}, r"eps\[1\] must be a finite number >= 0"),
    ({"eps": [0.1, 0.1]}, "must not repeat"),
    ({"eps": []}, "a list of 1 to 100"),
    ({"eps": 0.1}, "eps must be a list"),
    ({"large_eps": 2.0}, "large_eps must be a finite number > 0 and <= 1"),
    ({"dataset": "imagenet"}, "dataset must be one of"),
    ({"dataset": ["mnist"]}, "dataset must be one of"),
    ({"n_test": 0}, r"n_test must be an integer in \[1, "),
    ({"n_test": 10_001}, "n_test=10001 is larger than the test split of fashion_mnist"),
    ({"n_train": 60_001}, "n_train=60001 is larger than the train split"),
    ({"device": "gpu"}, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\]"),
    ({"seed": 1.5}, r"seed must be an integer in \[0, 4294967295\]"),
    ({"n_cw": 600}, "n_cw=600 must not exceed n_test"),
])
def test_bad_values_are_refused_with_the_parameters_name(overrides, match):
    with pytest.raises(profiles.ConfigError, match=match):
        profiles.resolve("library_tour", "quick", overrides)


@pytest.mark.parametrize("args,match", [
    (("no_such_report", "quick"), "unknown report"),
    ((["library_tour"], "quick"), "unknown report"),
    (("library_tour", "fast"), "unknown profile"),
])
def test_unknown_reports_and_profiles(args, match):
    with pytest.raises(profiles.ConfigError, match=match):
        profiles.resolve(*args)


def test_overrides_must_be_a_dict():
    with pytest.raises(profiles.ConfigError, match="overrides must be a dict"):
        profiles.resolve("library_tour", "smoke", [("epochs", 2)])


def test_report_specific_fractions_and_per_dataset_values():
    with pytest.raises(profiles.ConfigError, match="fpr must be a finite number > 0 and < 1"):
        profiles.resolve("puvae_detector", "smoke", {"fpr": 1.5})
    with pytest.raises(profiles.ConfigError, match=r"eps\['mnist'\] must be a finite number > 0"):
        profiles.resolve("puvae_detector", "smoke", {"eps": {"mnist": -0.3}})
    with pytest.raises(profiles.ConfigError, match="unknown dataset 'svhn'"):
        profiles.resolve("puvae_detector", "smoke", {"eps": {"svhn": 0.3}})
    with pytest.raises(profiles.ConfigError, match="datasets"):
        profiles.resolve("puvae_detector", "smoke", {"datasets": ["mnist", "svhn"]})
    with pytest.raises(profiles.ConfigError, match="contrastive_weight must be a finite number >= 0"):
        profiles.resolve("attacks_adversarial_training", "smoke", {"contrastive_weight": -1.0})
    with pytest.raises(profiles.ConfigError, match="augment must be one of 'crop_flip', 'flip_translate' or None"):
        profiles.resolve("attacks_adversarial_training", "smoke", {"augment": "mixup"})


def test_overrides_apply_and_config_knows_its_output_dir(monkeypatch):
    monkeypatch.delenv("ADV_OUTPUT_DIR", raising=False)
    cfg = profiles.resolve("library_tour", "smoke", {"epochs": 3, "lr": 1})
    assert cfg.epochs == 3 and cfg.profile == "smoke" and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    # Not run by the runner: a scratch folder, never what `make reproduce` owns.
    assert cfg.out_dir == runtime.figures_dir() / "smoke" / "lab" / "library_tour"
    with pytest.raises(AttributeError, match="no parameter"):
        cfg.nothing  # noqa: B018


def test_default_profile_follows_the_hardware(capsys):
    expected = "paper" if runtime.has_gpu() else "quick"
    assert profiles.default_profile() == expected
    assert expected in capsys.readouterr().out


# --------------------------------------------------------------------------- parsing text
@pytest.mark.parametrize("spec,text,value", [
    (params.Int(min=1), "3", 3),
    (params.Int(), "-2", -2),
    (params.Float(gt=0), "1e-3", 1e-3),
    (params.Float(gt=0), "2", 2.0),
    (params.Bool(), "true", True),
    (params.Bool(), "0", False),
    (params.Choice(options=("a", "b")), "'b'", "b"),
    (params.Choice(options=("a",), optional=True), "None", None),
    (params.DatasetName(), "mnist", "mnist"),
    (params.eps_list("grid"), "0.1,0.2", [0.1, 0.2]),
    (params.eps_list("grid"), "[0.1, 0.2]", [0.1, 0.2]),
    (params.eps_list("grid"), "(0.3,)", [0.3]),
    (params.ListOf(item=params.DatasetName()), "mnist,cifar10_jpeg", ["mnist", "cifar10_jpeg"]),
    (params.ListOf(item=params.DatasetName()), "['mnist']", ["mnist"]),
    (params.PerDataset(item=params.Float(gt=0)), "{'mnist': 0.3, 'cifar10': 0.06}",
     {"mnist": 0.3, "cifar10": 0.06}),
    (params.PerDataset(item=params.Float(gt=0)), "0.3", 0.3),
])
def test_text_is_parsed_by_the_declared_type(spec, text, value):
    assert spec.parse("p", text) == value


@pytest.mark.parametrize("spec,text,match", [
    (params.Int(min=1), "abc", "must be an integer"),
    (params.Int(min=1), "2.5", "must be an integer"),
    (params.Int(min=1), "1e3", "must be an integer"),
    (params.Float(gt=0), "nan", "finite"),
    (params.Float(gt=0), "1e999", "finite"),
    (params.Float(gt=0), "__import__('os')", "must be a finite number"),
    (params.Bool(), "maybe", "true or false"),
    (params.Choice(options=("a",)), "b", "one of 'a'"),
    (params.eps_list("grid"), "[0.1, __import__('os').system('true')]", "cannot read"),
    (params.eps_list("grid"), "0.1,abc", r"p\[1\] must be a finite number"),
    (params.PerDataset(item=params.Float(gt=0)), "{'mnist': 0.3", "cannot read"),
])
def test_text_that_does_not_parse_is_an_error_not_a_string(spec, text, match):
    with pytest.raises(params.ConfigError, match=match):
        spec.parse("p", text)


def test_parse_overrides_and_split_assignments():
    items = profiles.split_assignments(["epochs=2", "eps=0.1,0.2", "dataset=mnist", "lr=1e-2"])
    typed = profiles.parse_overrides("library_tour", items)
    assert typed == {"epochs": 2, "eps": [0.1, 0.2], "dataset": "mnist", "lr": 0.01}
    with pytest.raises(profiles.ConfigError, match="not of the form name=value"):
        profiles.split_assignments(["epochs"])
    with pytest.raises(profiles.ConfigError, match="given twice"):
        profiles.split_assignments(["epochs=1", "epochs=2"])
    with pytest.raises(profiles.ConfigError, match="unknown parameter"):
        profiles.parse_overrides("library_tour", {"bogus": "1"})


def test_describe_lists_every_parameter_with_its_type():
    table = profiles.describe("puvae_detector")
    assert set(table["parameter"]) == set(profiles.specs_of("puvae_detector"))
    assert not table["type"].isna().any() and all(table["type"].str.len() > 0)
    assert math.isfinite(len(table))
