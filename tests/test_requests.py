"""Issue 19, items 2, 5 and 10: every request checked before compute. Paths resolved once against
the directory the user ran from; devices against this machine; every number's magnitude; the
smaller findings (a file as ADV_DATA_DIR, a full disk, a gzip bomb, install leftovers, the study
summary alone, duplicate dict keys, the README's PARAMS form)."""
from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import tracemalloc
import types
from pathlib import Path

import pytest
import torch

from lib import cache, data, params, profiles, runner, runtime
from lib.data import sources
from lib.params import ConfigError


@pytest.fixture
def no_notebooks(monkeypatch):
    monkeypatch.setattr(runner, "run_one", lambda *a, **k: pytest.fail("a notebook ran"))


def _refused(argv, capsys) -> str:
    assert runner.main(["--profile", "smoke", "--reports", "library_tour", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------- item 2: paths
@pytest.fixture
def recording_papermill(monkeypatch):
    """papermill replaced by a stand-in that records the environment the kernel would inherit
    and writes a table where the notebook would (cfg.out_dir)."""
    import papermill

    seen = {}

    def execute(src, dst, parameters, cwd, **kwargs):
        seen.update({k: v for k, v in os.environ.items() if k.startswith("ADV_")}, cwd=cwd)
        os.chdir(cwd)    # the kernel's working directory: relative paths would land here
        try:
            out = runtime.output_dir("library_tour", "smoke")
            (out / "table.csv").write_text("x\n")
            Path(dst).write_text("{}")
        finally:
            os.chdir(seen["start"])

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return seen


def test_relative_paths_are_made_absolute_against_where_the_user_ran(tmp_path, monkeypatch, recording_papermill):
    monkeypatch.chdir(tmp_path)
    recording_papermill["start"] = str(tmp_path)
    monkeypatch.setenv("ADV_FIGURES_DIR", "relfigs")
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", "relck")
    monkeypatch.setenv("ADV_DATA_DIR", "./reldata/")
    assert runner.main(["--profile", "smoke", "--reports", "library_tour"]) == 0
    assert recording_papermill["ADV_FIGURES_DIR"] == str(tmp_path / "relfigs")
    assert recording_papermill["ADV_CHECKPOINT_DIR"] == str(tmp_path / "relck")
    assert recording_papermill["ADV_DATA_DIR"] == str(tmp_path / "reldata")
    assert (tmp_path / "relfigs" / "smoke" / "library_tour" / "table.csv").exists()
    assert not list(profiles.NOTEBOOK_DIR.glob("rel*")), "nothing may land under notebooks/"


def test_an_empty_path_means_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    for name in ("ADV_FIGURES_DIR", "ADV_DATA_DIR", "ADV_OUTPUT_DIR"):
        monkeypatch.setenv(name, "  ")
    assert runtime.figures_dir() == runtime.REPO_ROOT / "figures"
    assert runtime.data_dir() == runtime.REPO_ROOT / "data"
    assert runtime.output_dir("library_tour", "smoke") == \
        runtime.REPO_ROOT / "figures" / "smoke" / runtime.SCRATCH / "library_tour"
    runtime.resolve_environment()
    assert "ADV_FIGURES_DIR" not in os.environ and "ADV_DATA_DIR" not in os.environ


@pytest.mark.parametrize("variable", ["ADV_FIGURES_DIR", "ADV_CHECKPOINT_DIR", "ADV_DATA_DIR"])
def test_a_file_or_an_unwritable_folder_is_refused_with_its_name(variable, tmp_path, monkeypatch, capsys,
                                                                  no_notebooks):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    afile = tmp_path / "a-file"
    afile.write_text("")
    monkeypatch.setenv(variable, str(afile / "sub"))
    assert re.search(rf"{variable}=.*a-file.* is a file, not a folder; set {variable}", _refused([], capsys))

    readonly = tmp_path / "read-only"
    readonly.mkdir()
    readonly.chmod(0o555)   # root ignores the mode: the write test is what decides
    monkeypatch.setattr(runtime, "can_write", lambda folder: Path(folder) != readonly)
    monkeypatch.setenv(variable, str(readonly))
    if variable == "ADV_DATA_DIR":   # a read-only folder of verified data is fine to read from
        monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
        runtime.resolve_environment()
        monkeypatch.setenv(variable, str(readonly / "new"))
    assert "read-only" in _refused([], capsys)


# --------------------------------------------------------------------------- item 5: before compute
@pytest.mark.parametrize("env,argv,message", [
    ({"ADV_DEVICE": "foo"}, [], "ADV_DEVICE='foo' is not a device"),
    ({"ADV_DEVICE": "meta"}, [], "ADV_DEVICE='meta' is not a device"),
    ({"ADV_DEVICE": "cuda"}, [], "ADV_DEVICE='cuda': this machine has cpu only"),
    ({}, ["--param", "device=cuda:99"], "device='cuda:99': this machine has cpu"),
    ({}, ["--param", f"seed={10**30}"], r"seed must be an integer in \[0, 4294967295\]"),
    ({}, ["--param", "seed=" + "7" * 5000], "got a number of 5000 digits"),
    ({}, ["--param", "lr=1e300"], "lr=1e[+]300 is infinite in float32"),
    ({}, ["--param", "cw_c=1e300"], "cw_c=1e[+]300 is infinite in float32"),
    ({}, ["--param", "lr=1e-300"], "lr=1e-300 is 0.0 in float32"),
    ({}, ["--param", "epochs=1000000000000"], r"epochs must be an integer in \[1, 10000\]"),
    ({}, ["--param", "pgd_steps=1000000000"], r"pgd_steps must be an integer in \[1, 1000000\]"),
    ({}, ["--param", "eps=" + ",".join(f"{i / 2000:.5f}" for i in range(2000))], "a list of 1 to 100 values"),
    ({}, ["--param", "n_train=1000000000"], r"n_train must be an integer in \[1, 1000000\]"),
    ({}, ["--param", "n_train=100000"], "larger than the train split of synthetic28 .60000"),
])
def test_refused_before_any_kernel_starts(env, argv, message, monkeypatch, capsys, no_notebooks, tmp_path):
    if "cuda" in message and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path / "ck"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    err = _refused(argv, capsys)
    assert re.search(message, err), err


def test_a_request_far_beyond_its_profile_gets_a_one_line_estimate(capsys):
    runner.plan("smoke", ["library_tour"], {"pgd_steps": "5000"}, check_data=False)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "pgd_steps=5000 asks for 1,000x the smoke profile's 5" in out
    assert "10 hours or more" in out
    runner.plan("smoke", ["library_tour"], {"pgd_steps": "10", "seed": "123456"}, check_data=False)
    assert capsys.readouterr().out == ""


def test_the_device_is_checked_in_the_kernel_too(monkeypatch):
    monkeypatch.setenv("ADV_DEVICE", "meta")
    with pytest.raises(ConfigError, match="ADV_DEVICE='meta' is not a device"):
        runtime.get_device()
    with pytest.raises(ConfigError, match="cuda:99"):
        runtime.get_device("cuda:99") if not torch.cuda.device_count() > 99 else None
    monkeypatch.setenv("ADV_DEVICE", "")
    assert runtime.get_device().type in ("cpu", "cuda")


# --------------------------------------------------------------------------- item 10: smaller findings
def test_a_file_as_the_data_dir_is_refused_by_lib_data_without_a_traceback(tmp_path):
    afile = tmp_path / "data"
    afile.write_text("")
    proc = subprocess.run([sys.executable, "-m", "lib.data", "fetch", "mnist"], capture_output=True, text=True,
                          env=dict(os.environ, ADV_DATA_DIR=str(afile), PYTHONPATH=str(runtime.REPO_ROOT)))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"ADV_DATA_DIR={afile} (the datasets): {afile} is a file, not a folder" in proc.stderr


def test_a_full_disk_names_the_file_instead_of_inline_container(tmp_path, monkeypatch):
    def full(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr("shutil.disk_usage", lambda folder: types.SimpleNamespace(free=4096))
    with pytest.raises(cache.WriteFailed, match=r"cannot write .*model\.pt: the disk is full; 4,096 bytes free"):
        cache.atomic_save({"w": torch.zeros(3)}, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == [], "no half-written file left"


def test_a_killed_cifar_install_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_DATA_MIRROR", "")
    folder = tmp_path / "cifar10_jpeg"
    folder.mkdir()
    dead = 2**22 + 7
    leftover = folder / f".train.tmp{dead}-abc.pt"
    leftover.write_bytes(b"x" * 1000)
    with pytest.raises(data.DatasetUnavailable):
        data.ensure("cifar10_jpeg", root=tmp_path, download=False)
    assert not leftover.exists()


def test_a_gzip_bomb_is_refused_before_it_fills_the_memory(tmp_path):
    source = tmp_path / "mirror"
    source.mkdir()
    with gzip.open(source / "train-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        block = bytes(1 << 20)
        for _ in range(300):          # 300 MB of zeros in about 300 KB
            f.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(data.DatasetUnavailable, match="decompresses to more than 67,108,864 bytes"):
            sources.install_idx("mnist", source, tmp_path / "root")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * sources.GUNZIP_LIMIT, f"peak {peak:,} bytes"


def test_the_study_summary_alone_with_nothing_to_gather_is_refused(tmp_path, monkeypatch, capsys, no_notebooks):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    assert runner.main(["--profile", "smoke", "--reports", "study_summary"]) == 2
    err = capsys.readouterr().err
    assert "study_summary gathers the results of abs_cifar" in err and "none of them has run" in err
    executed = tmp_path / "smoke" / "abs_cifar" / "abs_cifar.ipynb"   # one earlier run suffices
    executed.parent.mkdir(parents=True)
    executed.write_text("{}")
    runner.plan("smoke", ["study_summary"], check_data=False)


@pytest.mark.parametrize("text", ["{'mnist': 0.01, 'mnist': 0.02}", "{mnist:0.01,mnist:0.02}"])
def test_a_key_given_twice_is_refused(text):
    with pytest.raises(ConfigError, match="key 'mnist' given twice"):
        profiles.parse_overrides("puvae_detector", {"fpr": text})


def test_the_readmes_params_form_works_through_make(monkeypatch, no_notebooks):
    """make hands PARAMS over as text, split like a shell line, which drops the quotes."""
    monkeypatch.setenv("ADV_PARAMS", "fpr={'mnist':0.001,'fashion_mnist':0.01}")
    args = type("A", (), {"profile": None, "reports": None, "param": []})()
    runner._from_env(args)
    parsed = profiles.parse_overrides("puvae_detector", profiles.split_assignments(args.param))
    assert parsed == {"fpr": {"mnist": 0.001, "fashion_mnist": 0.01}}


def test_the_hint_for_an_unreadable_dict_shows_a_form_that_works():
    with pytest.raises(ConfigError) as err:
        profiles.parse_overrides("puvae_detector", {"fpr": "{mnist:0.001"})
    hint = re.search(r"write it as (\S+)", str(err.value)).group(1)
    name, _, text = hint.partition("=")
    assert params.PerDataset(item=params.Float(gt=0, lt=1)).parse(name, text) == {"mnist": 0.3, "cifar10": 0.06}


# --------------------------------------------------------------------------- item 8: make syntax
@pytest.mark.parametrize("assignment", ["PROFILE:=smoke", "PROFILE::=smoke", "REPORTS:=library_tour",
                                        "PARAMS:=seed=1", "LAB_ARGS:=--port 9999", "PROFILE!=echo smoke",
                                        "REPORTS != echo library_tour", "PARAMS!=echo seed=1", "LAB_ARGS!=echo x"])
def test_make_refuses_user_variables_given_with_an_expanding_assignment(assignment, tmp_path):
    """make expands := / ::= and runs != while it reads its command line, before the Makefile:
    the run must stop there, before any target does anything."""
    # As typed in a terminal: not a sub-make of `make test` (which would print "Entering directory").
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADV_") and k not in ("MAKEFLAGS", "MAKELEVEL",
                                                                                         "MFLAGS")}
    env.update(ADV_CHECKPOINT_DIR=str(tmp_path / "ck"), ADV_FIGURES_DIR=str(tmp_path / "fig"))
    proc = subprocess.run(["make", "reproduce", assignment], cwd=runtime.REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    name = re.match(r"[A-Z_]+", assignment).group(0)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert re.search(rf"\*\*\* {name} was given with (:= or ::=|!=).*write {name}=\.\.\. instead", proc.stderr)
    assert not (tmp_path / "fig").exists()


def test_make_takes_a_plain_assignment_as_text():
    proc = subprocess.run(["make", "-s", "help", "PROFILE=smoke", "PARAMS=$(shell echo x)"], cwd=runtime.REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Usage" in proc.stdout
