"""The paper profile, proven on a CPU: ``make paper-check``.

A paper run takes hours on a GPU; a code path only the paper profile takes (a full-width
network, CIFAR-10's network D with z = 1024, PGD restarts, all nine targets, a three-dataset
section) must not crash a user's run after those hours. ``make paper-check`` runs every
notebook with the paper profile's *structure* (its architectures, widths, datasets by name,
attack sets, restarts, draws) and its *sizes* shrunk (:data:`SHRINK`: one epoch, a few
hundred images, attack budgets of a few steps), through the runner like any run (staging,
provenance, failure handling), into its own folder ``figures/paper-check/paper/<report>/``
(``figures/paper/`` is never touched) with its own checkpoint folder
``<checkpoints>/paper-check/``, emptied first so that every training path runs.

Per report every parameter of its paper profile is either shrunk (:data:`SHRINK`, a value no
larger than the paper's) or kept (:data:`KEEP`); ``tests/test_paper_check.py`` holds both
to that, so a parameter added later must be classified here before the test passes.
A shrunk size keeps the code path of the paper's value where that differs from the quick
profile's (restarts and EOT draws stay above one, argmin_targets stays at all nine).

The paper profiles name ``cifar10`` (torchvision's original, online only). Where it cannot be
had, :func:`substitutions` replaces it by ``cifar10_jpeg`` (the JPEG copy, same shape and
classes) in every dataset parameter and every per-dataset dict key, and the run says so.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib import profiles, runtime
from lib.params import ConfigError, DatasetName, ListOf, PerDataset

#: Where paper-check's results and checkpoints go, inside the figures and checkpoint folders.
FOLDER = "paper-check"
PROFILE = "paper"
#: Dataset names the paper profiles use that may be unobtainable here, and their stand-in.
STAND_IN = {"cifar10": "cifar10_jpeg"}

_ATTACK_CHECKS = dict(convergence_steps=[1, 2], convergence_restarts=[1, 2])

#: Per report, shrunk values (each no larger than the paper profile's; lists: fewer and no
#: larger entries). Everything not here is the paper profile's value (:data:`KEEP`).
SHRINK: dict[str, dict[str, Any]] = {
    "abs_cifar": dict(
        n_train=500, n_test=100, dla_epochs=1, vae_epochs=1,
        abs_prototypes=500, abs_steps=2, attack_steps=2, curve_eps=[0.1, 0.2, 0.3, 2.0],
        n_adaptive=20, square_queries=10, unrolled_steps=2,
        convergence_prototypes=[80, 500], convergence_steps=[0, 2]),
    "attacks_adversarial_training": dict(
        n_train=600, n_val=100, n_test=200, epochs=1, noise_epochs=1, at_epochs=1, contrastive_epochs=1,
        pgd_steps=2, at_steps=2, eot_draws=2, n_eot=50, n_latent_plot=100, n_strong=100,
        strong_pgd_steps=2, strong_restarts=2, apgd_steps=3, square_queries=10, n_convergence=20,
        attack_draws=2, eval_draws=2, eot_sweep_draws=[1, 2], **_ATTACK_CHECKS),
    "puvae_detector": dict(
        n_train=500, n_val=200, n_test=100, clf_epochs=1, vae_epochs=1, n_eps=3,
        bim_steps=2, pgd_steps=2, n_adaptive=20, adaptive_steps=2, adaptive_eot=2,
        square_queries=10, n_checks=10, **_ATTACK_CHECKS),
    "generative_lipschitz": dict(
        n_gen_train=256, n_train=600, n_val=100, n_test=200, n_attack=20,
        vae_epochs=1, fc_gan_epochs=1, fashion_gan_epochs=[1, 2, 3], dcgan_epochs=1, cifar_gan_epochs=1,
        clf_epochs=1, mnist_clf_epochs=1, cifar_clf_epochs=None, lip_epochs=1, cw_steps=[2, 3],
        cw_binary_steps=[1, 2], control_steps=3,
        pgd_steps=2, apgd_steps=3, square_queries=10, n_samples=40, n_kid_real=80, kid_subsets=4,
        gan_checkpoints=2),
    "library_tour": dict(
        n_train=500, n_test=100, epochs=1, pgd_steps=2, n_cw=20, cw_steps=3, cw_binary_search_steps=2),
    "study_summary": {},
}

#: Per report, the parameters kept at the paper profile's value: the structure (datasets by
#: name, architectures and widths, attack sets and eps, restarts / draws / targets whose count
#: selects a code path) and what does not size the work (seeds, rates, weights, batch sizes).
KEEP: dict[str, set[str]] = {
    "abs_cifar": {"seed", "device", "precision", "dataset", "dla_width", "dla_lr", "dla_batch", "dla_schedule",
                  "dla_warmup", "dla_ema", "augment", "vae_decay", "vae_latent",
                  "vae_width", "vae_lr", "beta", "abs_lr", "abs_clip", "logit_scale", "eps"},
    "attacks_adversarial_training": {
        "seed", "device", "precision", "dataset", "width", "hidden", "dropout", "batch_size", "lr", "tune_lr",
        "schedule", "warmup", "ema", "weight_decay", "augment", "finetune", "n_finetune", "eps", "table2_eps",
        "example_eps", "n_examples", "at_eps", "noise_sigma", "eot_eps", "contrastive_alpha",
        "contrastive_weight", "refs_per_class", "reference_draws", "latent_eps", "strong_eps"},
    "puvae_detector": {
        "seed", "device", "precision", "datasets", "clf_filters", "clf_hidden", "clf_batch_size", "clf_lr",
        "vae_filters", "vae_dec_filters", "vae_hidden", "z_dim", "vae_batch_size", "vae_lr", "scheduler", "warmup",
        "w_rec", "w_kl", "w_ce", "kl_reduction", "sample_at_inference", "fpr", "eps", "eps_range",
        "bim_rel_step", "pgd_rel_step", "st_temperature", "reject_scale", "adaptive_eps", "adaptive_restarts",
        "adaptive_rel_step", "n_show", "argmin_targets", "st_temperatures"},
    "generative_lipschitz": {
        "seed", "device", "precision", "mnist_data", "fashion_data", "cifar_data", "n_show", "z_dim",
        "vae_hidden", "vae_lr", "gan_k", "gan_batch_size", "gan_lr", "gan_z_dim", "dcgan_width",
        "clf_batch_size", "clf_lr", "clf_ema", "clf_warmup", "clf_weight_decay", "fashion_augment",
        "cifar_augment", "gan_k_compare", "dropout", "lip_lr", "lip_scale", "fgsm_eps", "cw_c", "cw_lr",
        "control_c", "control_temperature", "l2_eps", "summary_eps"},
    "library_tour": {"seed", "device", "precision", "dataset", "width", "batch_size", "lr", "eps", "large_eps",
                     "pgd_restarts", "cw_c", "cw_lr"},
    "study_summary": {"precision", "reports"},
}


def reports() -> list[str]:
    """The reports paper-check covers (every report with a notebook and a profile)."""
    from lib import runner

    return [r for r in runner.available() if r in SHRINK]


def obtainable(name: str) -> bool:
    """Whether dataset ``name`` is on disk or can be fetched now (never raises)."""
    from lib import data

    try:
        data.ensure(name)
    except data.DatasetUnavailable:
        return False
    return True


def substitutions(names: set[str] | None = None) -> dict[str, str]:
    """``{paper dataset: stand-in}`` for the datasets of :data:`STAND_IN` (among ``names``, when
    given) that cannot be obtained here."""
    return {name: alt for name, alt in STAND_IN.items()
            if (names is None or name in names) and not obtainable(name)}


def _rename(value: Any, spec, subs: Mapping[str, str]) -> Any:
    """``value`` of a parameter declared by ``spec`` with dataset names replaced by ``subs``."""
    item = spec.item if isinstance(spec, ListOf) else spec
    if isinstance(item, DatasetName):
        if isinstance(value, (list, tuple)):
            return [subs.get(v, v) for v in value]
        return subs.get(value, value)
    if isinstance(spec, PerDataset) and isinstance(value, dict):
        return {subs.get(k, k): v for k, v in value.items()}
    return value


def overrides(report: str, subs: Mapping[str, str] | None = None, shrink: bool = True) -> dict[str, Any]:
    """The overrides that turn the paper profile of ``report`` into its paper-check: the shrunk
    sizes (unless ``shrink=False``: the full paper profile), and, for each dataset in ``subs``,
    the stand-in in every parameter that names it."""
    paper = profiles.profiles_of(report)[PROFILE]
    specs = profiles.specs_of(report)
    out = dict(SHRINK[report]) if shrink else {}
    for name, spec in specs.items():
        value = out.get(name, paper.get(name))
        renamed = _rename(value, spec, subs or {})
        if renamed != value:
            out[name] = renamed
    return out


def datasets_named(chosen: list[str]) -> set[str]:
    """Every dataset the paper profiles of ``chosen`` name."""
    return {d for r in chosen for d in profiles.datasets_of(profiles.profiles_of(r)[PROFILE] | {"report": r})}


def scoped(chosen: list[str], subs: Mapping[str, str]) -> dict[str, Any]:
    """Per-report overrides in the runner's ``report.name`` form, for :func:`lib.runner.plan`."""
    return {f"{r}.{k}": v for r in chosen for k, v in overrides(r, subs).items()}


@contextlib.contextmanager
def folders() -> Iterator[tuple[Path, Path]]:
    """Point the figures and checkpoint folders at paper-check's own (``figures/paper-check`` and
    ``<checkpoints>/paper-check``, the latter emptied: every model is trained again) for the
    duration; yields ``(figures, checkpoints)``. The notebooks' kernels inherit them."""
    figures, checkpoints = runtime.figures_dir() / FOLDER, runtime.checkpoint_dir() / FOLDER
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("ADV_FIGURES_DIR", "ADV_CHECKPOINT_DIR")}
    os.environ.update(ADV_FIGURES_DIR=str(figures), ADV_CHECKPOINT_DIR=str(checkpoints))
    try:
        yield figures, checkpoints
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Check:
    """One paper-check run: the reports, the stand-ins for datasets not obtainable here, and the
    folder of the estimates' rate cache (the real checkpoint folder's, which paper-check's own
    checkpoint folder does not replace)."""

    chosen: list[str]
    subs: dict[str, str]
    cache: Path

    @classmethod
    def of(cls, reports_given: list[str] | None) -> Check:
        """Paper-check of ``reports_given`` (None: every report); unknown names are left for the
        runner's plan to refuse, a report without shrink settings is refused here."""
        from lib import runner

        known = runner.available()
        chosen = list(reports_given) if reports_given else reports()
        lacking = [r for r in chosen if r in known and r not in SHRINK]
        if lacking:
            raise ConfigError(f"no paper-check settings for {lacking}: add them to lib/paper_check.py SHRINK and KEEP")
        chosen = [r for r in chosen if r in SHRINK]
        return cls(chosen, substitutions(datasets_named(chosen)), runtime.checkpoint_dir() / "estimates")

    @classmethod
    def from_args(cls, args) -> Check:
        """``--paper-check`` of the runner: the paper profile (another one is refused), the
        reports asked for, announced."""
        if args.profile not in (None, PROFILE):
            raise ConfigError(f"--paper-check runs the paper profile's structure; PROFILE={args.profile!r} "
                              "cannot go with it (leave PROFILE out)")
        args.profile = PROFILE
        checked = cls.of(args.reports)
        checked.announce()
        return checked

    @property
    def overrides(self) -> dict[str, Any]:
        return scoped(self.chosen, self.subs)

    def folders(self):
        return folders()

    def announce(self) -> None:
        print("paper-check: the paper profile's architectures, widths, datasets and attack sets, its sizes "
              "shrunk (lib/paper_check.py), every model trained afresh; results in "
              f"{runtime.figures_dir() / FOLDER / PROFILE}", flush=True)
        for name, alt in self.subs.items():
            print(f"paper-check: {name!r} cannot be obtained here (the paper profile's dataset; torchvision's "
                  f"download needs network access): {alt!r} stands in for it, same shape and classes", flush=True)

    def full_configs(self) -> dict[str, profiles.Config]:
        """The full paper profile of each report (with the same stand-ins), for its estimate."""
        return {r: profiles.resolve(r, PROFILE, overrides(r, self.subs, shrink=False)) for r in self.chosen}

    def calibration(self, estimates, measured: Mapping[str, tuple[float, str]], peaks: Mapping[str, int]) -> str:
        """Per notebook: measured time and status beside the estimate for the shrunk configuration
        (their ratio is the cost model's error at this size), the measured peak resident memory
        of its kernel beside the estimate, and the estimate for the full paper profile."""
        from lib.estimate import human_bytes, human_seconds

        width = max(len(r) for r in measured)
        lines = ["", f"paper-check calibration on {estimates.device} ({estimates.policy}):",
                 f"{'notebook':<{width}}  status  measured  estimated  ratio  peak RSS  est. peak  | full paper: "
                 "time, peak memory"]
        for r, (seconds, status) in measured.items():
            e = estimates.rows.get(r)
            f = (estimates.full or {}).get(r)
            if e is None:
                continue
            ratio = seconds / e.seconds if e.seconds > 0 else math.nan
            rss = human_bytes(peaks[r]) if peaks.get(r) else "n/a"
            lines.append(f"{r:<{width}}  {status:<6}  {seconds:7.0f} s  {e.seconds:8.0f} s  {ratio:5.2f}  {rss:>8}  "
                         f"{human_bytes(e.ram):>9}  | " + (f"{human_seconds(f.seconds)}, {f.memory()}" if f else ""))
        total_m = sum(t for t, _ in measured.values())
        total_e = sum(e.seconds for r, e in estimates.rows.items() if r in measured)
        total_f = sum(f.seconds for f in (estimates.full or {}).values())
        lines.append(f"{'total':<{width}}          {total_m:7.0f} s  {total_e:8.0f} s  "
                     f"{total_m / total_e if total_e else math.nan:5.2f}                       | "
                     f"{human_seconds(total_f)}")
        lines.append("(ratio = measured / estimated; the estimated peak is the largest model step plus the "
                     "data, beside the kernel's whole resident memory)")
        return "\n".join(lines)
