"""Report 003's experiment, one function per notebook step: data, the VAE and GANs (section III),
the classifiers (IV), FGSM and Carlini-Wagner (V), the Lipschitz classifier and its
certificate (VI), and the evaluation the report did not do (the logit-scaling control, the
adaptive worst case).

Models are cached by :func:`lib.train.fit` / the generative trainers; attack runs by
:func:`lib.cache.cached_result` / :func:`lib.sweep.cached_sweep`, so a re-run is fast.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib import attacks, cache, runtime
from lib import data as data_mod
from lib import train as train_mod
from lib.attacks import external
from lib.attacks.losses import margin
from lib.defenses import lipschitz as lip
from lib.evaluate import distortion, predict
from lib.models.classifiers.report003 import Report003CNN
from lib.models.generative import gan, vae
from lib.stats import clopper_pearson
from lib.sweep import SweepResult, cached_sweep

REPORT = "generative_lipschitz"  # checkpoint names start with the notebook id


# --------------------------------------------------------------------------- data
def gen_data(cfg, dataset: str) -> data_mod.ImageData:
    """Training images of a generative model (``n_gen_train``, class-stratified; labels unused)."""
    return data_mod.load(dataset, "train", n=cfg.n_gen_train, seed=cfg.seed)


def classifier_splits(cfg, dataset: str):
    """(train, val, test) for a classifier: ``n_train`` images less ``n_val`` held out for the
    learning curves (Figures 15-16), and ``n_test`` test images."""
    full = data_mod.load(dataset, "train", n=cfg.n_train, seed=cfg.seed)
    train, val = data_mod.train_val_split(full, cfg.n_val, seed=cfg.seed)
    return train, val, data_mod.load(dataset, "test", n=cfg.n_test, seed=cfg.seed)


# --------------------------------------------------------------------------- section III
def train_vae(cfg, dataset: str, train: data_mod.ImageData, device=None) -> vae.VAEResult:
    """The VAE of section III-A (Figures 4-7) on ``train``."""
    runtime.seed_everything(cfg.seed)
    model = vae.VAE(dataset, z_dim=cfg.z_dim, hidden=cfg.vae_hidden)
    return vae.train_vae(model, train, epochs=cfg.vae_epochs, lr=cfg.vae_lr, seed=cfg.seed,
                         name=f"{REPORT}-vae-{dataset}", device=device)


def train_fc_gan(cfg, dataset: str, train: data_mod.ImageData, epochs: int, checkpoints: Sequence[int] = (),
                 device=None) -> gan.GANResult:
    """The fully connected GAN (Figures 9-12), k = ``gan_k``; fixed-noise samples at
    ``checkpoints`` (default: the first, middle and last epoch)."""
    runtime.seed_everything(cfg.seed)
    g, d = gan.FCGenerator(dataset, z_dim=cfg.gan_z_dim), gan.FCDiscriminator(dataset)
    checkpoints = checkpoints or sorted({1, max(epochs // 2, 1), epochs})
    return gan.train_gan(g, d, train, epochs=epochs, k=cfg.gan_k, batch_size=cfg.gan_batch_size, lr=cfg.gan_lr,
                         checkpoints=checkpoints, seed=cfg.seed, name=f"{REPORT}-fcgan-{dataset}", device=device)


def train_dcgan(cfg, dataset: str, train: data_mod.ImageData, epochs: int, depth: int,
                device=None) -> gan.GANResult:
    """DCGAN on MNIST (``depth`` 2, Figure 8) or the deeper one on CIFAR (``depth`` 3, Figure 13);
    fixed-noise samples after the first, the middle and the last epoch."""
    runtime.seed_everything(cfg.seed)
    g = gan.DCGenerator(dataset, z_dim=cfg.gan_z_dim, width=cfg.dcgan_width, depth=depth)
    d = gan.DCDiscriminator(dataset, width=cfg.dcgan_width, depth=depth)
    return gan.train_gan(g, d, train, epochs=epochs, k=cfg.gan_k, batch_size=cfg.gan_batch_size, lr=cfg.gan_lr,
                         checkpoints=sorted({1, max(epochs // 2, 1), epochs}), seed=cfg.seed,
                         name=f"{REPORT}-dcgan{depth}-{dataset}", device=device)


# --------------------------------------------------------------------------- sections IV and VI
def build_classifier(cfg, dataset: str, lipschitz: bool) -> Report003CNN:
    runtime.seed_everything(cfg.seed)
    if lipschitz:
        return lip.lipschitz_cnn(dataset, logit_scale=cfg.lip_scale, dropout=cfg.dropout)
    return Report003CNN(dataset, dropout=cfg.dropout)


def train_classifier(cfg, dataset: str, train: data_mod.ImageData, val: data_mod.ImageData, *,
                     lipschitz: bool, device=None) -> train_mod.FitResult:
    """The report's classifier (section IV) or its Lipschitz-constrained twin (section VI), Adam
    with a cosine schedule (the report names no optimiser), cross-entropy."""
    epochs, lr = (cfg.lip_epochs, cfg.lip_lr) if lipschitz else (cfg.clf_epochs, cfg.clf_lr)
    tc = train_mod.TrainConfig(epochs=epochs, batch_size=cfg.clf_batch_size, optimizer="adam", lr=lr,
                               weight_decay=0.0, scheduler="cosine", seed=cfg.seed)
    return train_mod.fit(build_classifier(cfg, dataset, lipschitz), train, tc, val=val, device=device,
                         name=f"{REPORT}-{'lip' if lipschitz else 'clf'}-{dataset}")


def accuracy_row(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Correct count, accuracy and its 95 % Clopper-Pearson interval on (x, y)."""
    ok = predict(model, x) == y
    k, n = int(ok.sum()), len(y)
    low, high = clopper_pearson(k, n)
    return {"correct": k, "n": n, "accuracy": k / n, "low": low, "high": high}


# --------------------------------------------------------------------------- section V: attacks
def fgsm_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_list: Sequence[float], tag: str) -> SweepResult:
    """FGSM (L-inf) over the eps grid. As a sweep, an image broken at a smaller eps counts as
    broken at every larger one (its example lies in every larger ball)."""
    fgsm = functools.partial(attacks.fgsm, norm="inf")
    return cached_sweep(model, x, y, {"FGSM": fgsm}, eps_list, norm="inf", name=f"{REPORT}-fgsm-{tag}")


def cw_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, c: float, steps: int, binary_steps: int,
          lr: float, tag: str, batch_size: int = 500) -> torch.Tensor:
    """Carlini-Wagner L2 (``lib.attacks.cw_l2``) on every image, remembered across runs.
    Returns x_adv (N x C x H x W); where CW found nothing, the clean image."""
    def run():
        return data_mod.map_batches(
            lambda xb, yb: attacks.cw_l2(model, xb, yb, c=c, steps=steps, lr=lr, binary_search_steps=binary_steps),
            x, y, batch_size=batch_size).cpu()

    key = dict(model=model, x=x, y=y, c=float(c), steps=steps, binary_steps=binary_steps, lr=float(lr))
    return cache.cached_result(f"{REPORT}-cw-{tag}", key, run).to(x.device)


def cw_distances(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Per image (N,) the L2 distortion of the CW example where it fools a correctly classified
    image, ``inf`` where the attack failed, ``0`` where the image is misclassified clean."""
    clean_ok = (predict(model, x) == y).cpu()
    fooled = clean_ok & (predict(model, x_adv) != y).cpu()
    dist = distortion(x, x_adv, "2").cpu()
    out = torch.where(fooled, dist, torch.full_like(dist, float("inf")))
    return torch.where(clean_ok, out, torch.zeros_like(out))


def adaptive_attacks(cfg) -> dict:
    """The adaptive L2 set, cheap first: margin-loss PGD (stops per image once fooled), APGD with
    the DLR loss (invariant to the logits' scale), and the gradient-free Square attack."""
    return {"PGD (margin)": functools.partial(attacks.pgd, norm="2", steps=cfg.pgd_steps, loss=margin,
                                              stop_when_fooled=True),
            "APGD-DLR": functools.partial(external.apgd, norm="2", loss="dlr", steps=cfg.apgd_steps, seed=cfg.seed),
            "Square": functools.partial(external.square, norm="2", n_queries=cfg.square_queries, seed=cfg.seed)}


def adaptive_sweep(cfg, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tag: str) -> SweepResult:
    """Worst case per image over :func:`adaptive_attacks` on the L2 grid ``l2_eps``."""
    torch.manual_seed(cfg.seed)  # PGD's random starts
    return cached_sweep(model, x, y, adaptive_attacks(cfg), cfg.l2_eps, norm="2", name=f"{REPORT}-adaptive-{tag}")


def worst_case(sweep: SweepResult, cw_dist: torch.Tensor) -> pd.DataFrame:
    """Per L2 eps of the sweep: images robust to every attack of the sweep *and* to CW (an image
    is broken by CW at eps when its CW distortion is at most eps), with intervals. Columns
    eps, robust, n, accuracy, low, high, sweep_only (robust to the sweep alone)."""
    rows = []
    d = cw_dist[sweep.index]
    for j, eps in enumerate(sweep.eps):
        robust = sweep.robust[:, j] & ~(d <= eps)
        k, n = int(robust.sum()), len(robust)
        low, high = clopper_pearson(k, n)
        rows.append({"eps": eps, "robust": k, "n": n, "accuracy": k / n, "low": low, "high": high,
                     "sweep_only": int(sweep.robust[:, j].sum())})
    return pd.DataFrame(rows)


def needed_distortion(sweep: SweepResult, cw_dist: torch.Tensor) -> torch.Tensor:
    """Per image (N,) the least L2 distortion any of our attacks needed: CW's distance, or the
    sweep eps at which the adaptive set first broke it, whichever is smaller (an upper bound on
    the true minimal distortion); ``inf`` where nothing broke it, 0 where it is wrong clean."""
    at = torch.full_like(cw_dist, float("inf"))
    at[sweep.index] = sweep.broken_at.to(cw_dist.dtype)
    return torch.minimum(cw_dist, at)


def robust_flags(sweep: SweepResult, cw_dist: torch.Tensor, eps: float) -> np.ndarray:
    """Per image (N,) robust to the sweep and CW at ``eps`` (one of the grid), for McNemar."""
    j = list(sweep.eps).index(float(eps))
    return (sweep.robust[:, j] & ~(cw_dist[sweep.index] <= eps)).numpy()


# --------------------------------------------------------------------------- section VI: certificate
def certificate(model: Report003CNN, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The bound L (with its per-layer table) and every image's certified L2 radius."""
    model.eval()
    bound, layers = lip.network_bound(model, tuple(x.shape[1:]))
    return {"L": bound, "layers": layers, "radius": lip.certified_radius(model, x, y, bound)}


def certificate_violations(x: torch.Tensor, radius: torch.Tensor, examples: dict[str, tuple[torch.Tensor, torch.Tensor]]
                           ) -> pd.DataFrame:
    """For each attack's examples ``{name: (x_adv, fooled)}``: how many fooled images lie inside
    their certified radius (must be 0) and the smallest ratio distance / radius among the
    certified ones (>= 1 if the certificate holds)."""
    rows = []
    for name, (x_adv, fooled) in examples.items():
        ok = lip.outside_radius(x, x_adv, radius, fooled)
        dist = distortion(x, x_adv.to(x.device), "2").cpu()
        sel = fooled.cpu() & (radius > 0)
        ratio = float((dist[sel] / radius[sel]).min()) if sel.any() else float("nan")
        rows.append({"attack": name, "fooled": int(fooled.sum()), "fooled_and_certified": int(sel.sum()),
                     "inside_radius": int((~ok).sum()), "min distance / radius": ratio})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the control
def logit_scaling_control(cfg, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tag: str) -> dict:
    """Dividing the logits by ``control_temperature`` changes no decision; does CW's "noise needed"
    change? Fixed c (``control_c``, one search step of ``control_steps``) vs the binary search
    (``cw_*`` settings),
    each on the plain model and the scaled one. Returns ``{"same_decisions", "dist": {(model,
    mode): distances (N,)}}`` with distances as :func:`cw_distances`."""
    scaled = lip.ScaledLogits(model, cfg.control_temperature).eval()
    same = bool((predict(model, x) == predict(scaled, x)).all())
    dist = {}
    for name, m in (("plain", model), (f"plain / {cfg.control_temperature:g}", scaled)):
        for mode, (c, bs, steps) in (("fixed c", (cfg.control_c, 1, cfg.control_steps)),
                                     ("binary search", (cfg.cw_c, cfg.cw_binary_steps, cfg.cw_steps))):
            x_adv = cw_l2(m, x, y, c=c, steps=steps, binary_steps=bs, lr=cfg.cw_lr, tag=tag)
            dist[(name, mode)] = cw_distances(m, x, y, x_adv)
    return {"same_decisions": same, "dist": dist}
