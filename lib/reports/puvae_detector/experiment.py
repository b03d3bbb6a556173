"""Report 001's experiment, one function per notebook step: settings per dataset, data,
training, transfer-attack sweeps and the worst eps (the adaptive evaluation is
:mod:`lib.reports.puvae_detector.adaptive`).

The defense itself is :mod:`lib.defenses.puvae`; tables and figures are in
:mod:`lib.reports.puvae_detector.tables` and ``.figures``.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib import attacks, models, runtime
from lib import data as data_mod
from lib import train as train_mod
from lib.defenses.puvae import PuVAEPipeline, check_fpr, freeze, puvae_loss, report_correct
from lib.evaluate import attack_in_batches, predict
from lib.params import ConfigError
from lib.progress import progress

# --------------------------------------------------------------------------- settings
_PER_DATASET_HINT = "a value, or a dict {dataset: value} with an entry for every dataset"


def settings(cfg: Mapping, dataset: str) -> SimpleNamespace:
    """The parameters for one dataset: a dict-valued parameter ``{dataset: value}`` is
    resolved to its entry, any other value is shared. Checked before any compute."""
    out = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping):
            if dataset not in value:
                raise ConfigError(f"parameter {key!r} has no entry for {dataset!r}; "
                                  f"give {_PER_DATASET_HINT}")
            value = value[dataset]
        out[key] = value
    out["dataset"] = dataset
    s = SimpleNamespace(**out)
    _check_settings(s)
    return s


def check_config(cfg: Mapping) -> list[SimpleNamespace]:
    """Resolve and check the settings of every dataset in ``cfg['datasets']`` up front
    (types and ranges are :data:`lib.reports.puvae_detector.profile.PARAMS`' business)."""
    return [settings(cfg, d) for d in cfg["datasets"]]


def _check_settings(s: SimpleNamespace) -> None:
    """What depends on more than one parameter, or on the dataset."""
    check_fpr(s.fpr)
    if not s.eps_range[0] <= s.eps_range[1]:
        raise ConfigError(f"eps_range must be [low, high] with low <= high, got {s.eps_range!r}")
    try:
        architecture_names(s.dataset)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    size = data_mod.split_size(s.dataset, "train")
    if s.n_train is not None and size is not None and s.n_train + s.n_val > size:
        raise ConfigError(f"n_train + n_val = {s.n_train + s.n_val} exceeds the {size} training "
                          f"images of {s.dataset}")
    if s.n_val >= (size or float("inf")):
        raise ConfigError(f"n_val={s.n_val} leaves no training images of {s.dataset}")
    n_test = s.n_test if s.n_test is not None else data_mod.split_size(s.dataset, "test")
    if n_test is not None and s.n_adaptive > n_test:
        raise ConfigError(f"n_adaptive={s.n_adaptive} exceeds the {n_test} test images of {s.dataset}")
    if s.n_checks > s.n_adaptive:
        raise ConfigError(f"n_checks={s.n_checks} must not exceed n_adaptive={s.n_adaptive}")
    if s.argmin_targets > 9:
        raise ConfigError(f"argmin_targets={s.argmin_targets}: there are only 9 wrong classes")


def eps_grid(s: SimpleNamespace) -> list[float]:
    """``n_eps`` evenly spaced eps in ``eps_range`` (report Figure 7: 30 values in
    [0.01, 0.3] for MNIST / Fashion-MNIST, [0.002, 0.06] for CIFAR-10), plus the table's eps."""
    lo, hi = s.eps_range
    grid = np.linspace(lo, hi, s.n_eps) if s.n_eps > 1 else np.array([hi])
    return sorted({round(float(e), 6) for e in grid} | {round(float(s.eps), 6)})


# --------------------------------------------------------------------------- data and models
def load_splits(s: SimpleNamespace):
    """(train, val, test) :class:`~lib.data.ImageData`. ``val`` (``n_val`` images, held out
    from both networks' training) only sets the detector's threshold (report section 5.1)."""
    n = None if s.n_train is None else s.n_train + s.n_val
    full = data_mod.load(s.dataset, "train", n=n, seed=s.seed)
    train, val = data_mod.train_val_split(full, s.n_val, seed=s.seed)
    test = data_mod.load(s.dataset, "test", n=s.n_test, seed=s.seed)
    return train, val, test


def architecture_names(dataset: str) -> tuple[str, str]:
    """(classifier, CVAE) registry names: A and C for 1 x 28 x 28 images, B and D for 3 x 32 x 32."""
    shape = data_mod.info(dataset).shape
    if shape == (1, 28, 28):
        return "puvae_a", "puvae_c"
    if shape == (3, 32, 32):
        return "puvae_b", "puvae_d"
    raise ValueError(f"no Table 6 architecture for images of shape {shape}")


def _width(**kw) -> dict:
    """Keep only the width arguments a profile sets (``None`` means Table 6's size)."""
    return {k: v for k, v in kw.items() if v is not None}


def build_classifier(s: SimpleNamespace) -> nn.Module:
    name, _ = architecture_names(s.dataset)
    runtime.seed_everything(s.seed)
    return models.build(name, dataset=s.dataset, **_width(filters=s.clf_filters, hidden=s.clf_hidden))


def build_cvae(s: SimpleNamespace) -> nn.Module:
    _, name = architecture_names(s.dataset)
    runtime.seed_everything(s.seed + 1)
    return models.build(name, dataset=s.dataset, z_dim=s.z_dim,
                        sample_at_inference=s.sample_at_inference,
                        **_width(filters=s.vae_filters, hidden=s.vae_hidden,
                                 dec_filters=s.vae_dec_filters))


def train_classifier(s: SimpleNamespace, train: data_mod.ImageData, val=None, device=None):
    """Classifier A or B with Table 1's batch size and epochs (Adam; the report names no
    optimiser). Returns :class:`lib.train.FitResult`."""
    cfg = train_mod.TrainConfig(epochs=s.clf_epochs, batch_size=s.clf_batch_size, optimizer="adam",
                                lr=s.clf_lr, weight_decay=0.0, scheduler=s.scheduler, seed=s.seed)
    return train_mod.fit(build_classifier(s), train, cfg, name=f"puvae_detector-clf-{s.dataset}", val=val,
                         device=device)


def train_puvae(s: SimpleNamespace, classifier: nn.Module, train: data_mod.ImageData, device=None):
    """Conditional VAE C or D trained with :func:`puvae_loss` (Table 2's batch size, epochs
    and z size in the paper profile). The classifier is frozen first. Returns a FitResult."""
    freeze(classifier)
    loss_fn = functools.partial(puvae_loss, classifier=classifier, w_rec=float(s.w_rec),
                                w_kl=float(s.w_kl), w_ce=float(s.w_ce), kl_reduction=s.kl_reduction)
    cfg = train_mod.TrainConfig(epochs=s.vae_epochs, batch_size=s.vae_batch_size, optimizer="adam",
                                lr=s.vae_lr, weight_decay=0.0, scheduler=s.scheduler, seed=s.seed)
    # val=None: fit's val_acc is model(x).argmax, which means nothing for a CVAE.
    return train_mod.fit(build_cvae(s), train, cfg, name=f"puvae_detector-cvae-{s.dataset}",
                         loss_fn=loss_fn, device=device)


@torch.no_grad()
def input_dependence(vae: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0,
                     batch_size: int = 250) -> tuple[float, float]:
    """Does the CVAE reconstruct the input, or only its label? ``(own, other)``: the mean RMSE
    between each image and its reconstruction under its true label, and between each image
    and the reconstruction of *another* image of the same class under that label (the next
    one of its class in ``x``, cyclically). A CVAE that ignores its input has own = other.
    Images alone in their class are skipped."""
    partner = torch.full((len(y),), -1, dtype=torch.long)
    for c in y.unique():
        idx = (y == c).nonzero().flatten().cpu()
        if len(idx) > 1:
            partner[idx] = idx.roll(-1)
    keep = (partner >= 0).nonzero().flatten()
    if len(keep) == 0:
        raise ValueError("need two images of one class to test input dependence")
    torch.manual_seed(seed)  # the CVAE's sampling
    keep = keep.to(x.device)

    def errors(xs, ys, xo):
        return tuple((vae(src, ys)[0] - xs).pow(2).flatten(1).mean(1).sqrt() for src in (xs, xo))

    own, other = data_mod.map_batches(errors, x[keep], y[keep], x[partner[keep.cpu()].to(x.device)],
                                      batch_size=batch_size)
    return own.mean().item(), other.mean().item()


# --------------------------------------------------------------------------- transfer attacks
def transfer_attacks(s: SimpleNamespace, seed: int | None = None) -> dict[str, Callable]:
    """FGSM, BIM and PGD (L-inf) as ``attack(model, x, y, eps) -> x_adv``, to be made against
    the undefended classifier as in the report (section 5; Foolbox there). Step sizes are
    relative to eps (``bim_rel_step``, ``pgd_rel_step``); PGD's random starts come from a
    generator seeded here, so a run is repeatable."""
    gen = torch.Generator().manual_seed(s.seed if seed is None else seed)

    def fgsm(model, x, y, eps):
        return attacks.fgsm(model, x, y, eps, "inf")

    def bim(model, x, y, eps):
        return attacks.bim(model, x, y, eps, "inf", steps=s.bim_steps, step_size=s.bim_rel_step * eps)

    def pgd(model, x, y, eps):
        return attacks.pgd(model, x, y, eps, "inf", steps=s.pgd_steps,
                           step_size=s.pgd_rel_step * eps, generator=gen)

    return {"FGSM": fgsm, "BIM": bim, "PGD": pgd}


def sweep(classifier: nn.Module, pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor,
          attack_fns: Mapping[str, Callable], eps_list: Sequence[float], *, seed: int = 0,
          batch_size: int = 250, keep: Sequence[tuple[str, float]] = (), progress_bar: bool = True):
    """Transfer attacks on the classifier, scored for the three defenses, over eps.

    For each attack and eps: ``x_adv = attack(classifier, x, y, eps)``, then the accuracy
    of the undefended classifier (``no_defense``), of PuVAE (``puvae``) and of PuVAE +
    detector under the report's scoring (``ours``), the share of inputs rejected, i.e.
    predictions equal to the "adversarial" label (report Figure 8), and the mean RMSE of
    the best reconstruction. A first row ``attack="none", eps=0`` scores clean inputs
    (a rejection is then an error). Returns ``(table, {(attack, eps): (x_adv, Decision)})``
    for the pairs in ``keep``.
    """
    torch.manual_seed(seed)  # the CVAE's sampling
    rows, kept = [], {}

    def score(name, eps, xa, adversarial):
        plain = predict(classifier, xa, batch_size)
        dec = pipeline.decide(xa, batch_size)
        rows.append({
            "attack": name, "eps": float(eps), "n": len(y),
            "no_defense": (plain == y).float().mean().item(),
            "puvae": (dec.puvae == y).float().mean().item(),
            "ours": report_correct(dec.label, y, adversarial=adversarial,
                                   reject_label=pipeline.reject_label).float().mean().item(),
            "rejected": dec.rejected.float().mean().item(),
            "rmse_mean": dec.rmse.mean().item(),
        })
        if (name, float(eps)) in {(a, float(e)) for a, e in keep}:
            kept[(name, float(eps))] = (xa, dec)

    score("none", 0.0, x, adversarial=False)
    jobs = [(a, e) for a in attack_fns for e in eps_list]
    for name, eps in progress(jobs, desc="transfer attacks", disable=not progress_bar):
        xa = attack_in_batches(attack_fns[name], classifier, x, y, eps, batch_size)
        score(name, eps, xa, adversarial=True)
    return pd.DataFrame(rows), kept


def transfer_sweep(s: SimpleNamespace, classifier: nn.Module, pipeline: PuVAEPipeline, x: torch.Tensor,
                   y: torch.Tensor, keep: Sequence[tuple[str, float]] = ()):
    """:func:`sweep` with the report's transfer attacks over :func:`eps_grid`, remembered across
    runs by the models' weights, the images and every attack setting (a warm re-run with
    cached checkpoints attacks nothing). Returns what :func:`sweep` returns."""
    from lib import cache
    from lib.defenses.puvae import Decision

    key = dict(classifier=classifier, pipeline=pipeline, x=x, y=y, eps=eps_grid(s), seed=s.seed,
               attacks=[s.bim_steps, s.bim_rel_step, s.pgd_steps, s.pgd_rel_step], keep=[list(k) for k in keep])

    def run() -> tuple:
        table, kept = sweep(classifier, pipeline, x, y, transfer_attacks(s), eps_grid(s), seed=s.seed, keep=keep)
        # A Decision is not a plain value: kept as its fields.
        return table, [[a, e, xa, d.label, d.puvae, d.rmse, d.chosen, d.reject_label]
                       for (a, e), (xa, d) in kept.items()]

    table, kept = cache.cached_result(f"puvae-transfer-{s.dataset}", key, run)
    return table, {(a, e): (xa, Decision(label, pu, rmse, chosen, reject_label=rl))
                   for a, e, xa, label, pu, rmse, chosen, rl in kept}


def worst_case(grid: pd.DataFrame) -> pd.DataFrame:
    """Per attack, the eps of the grid at which PuVAE + detector does worst (report's
    "Ours (worst)" and the diamond of Figures 7-8). Columns: attack, eps, ours, rejected."""
    adv = grid[grid["attack"] != "none"]
    idx = adv.groupby("attack", sort=False)["ours"].idxmin()
    return adv.loc[idx, ["attack", "eps", "ours", "puvae", "rejected"]].reset_index(drop=True)
