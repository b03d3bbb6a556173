"""The compute engine against the plain way, side by side (``make benchmark``).

For each report's main models, images per second of a training step and of an attack step (the
input gradient of the loss, what every gradient attack costs per iteration) in plain fp32 with
NCHW tensors, in fp32 with ``channels_last``, and in the engine's policy
(:func:`lib.precision.resolve` with ``auto``: bf16 autocast and ``channels_last`` where the CPU or
GPU computes bf16 natively), with the engine's ratio over plain fp32. Then three end-to-end
checks on report 002's paper-width CNN: one epoch of :func:`lib.train.fit` against a plain fp32
SGD loop, :func:`lib.attacks.pgd` against a plain fp32 PGD loop (robust accuracy beside it), and
:func:`lib.evaluate.robust_accuracy` over report 002's eps grid against torchattacks' PGD on
every image at every eps.
"""
from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lib import attacks, data, evaluate, models, precision, profiles, runtime, stats, train
from lib.defenses import abs as abs_defense
from lib.defenses import puvae
from lib.models.classifiers import ClassifierA
from lib.models.classifiers.dla import SimpleDLA
from lib.models.classifiers.report003 import Report003CNN
from lib.models.generative import CVAE_C
from lib.models.generative.abs_vae import ClassVAEs

REPORT_002_EPS = (0.001, 0.01, 0.05, 0.1, 0.3, 0.5)  # report 002, Table 1 (L-inf, pixel units)


def plain_policy(device: torch.device) -> precision.Precision:
    """fp32 with NCHW tensors: the plain way every speed-up is measured against."""
    return precision.Precision("fp32", device.type, channels_last=False, reason="plain fp32 NCHW")


def fp32_channels_last(device: torch.device) -> precision.Precision:
    return precision.Precision("fp32", device.type, channels_last=True, reason="fp32, channels_last")


def rate(step: Callable[[], None], images: int, min_seconds: float = 2.0, min_reps: int = 2) -> float:
    """Images per second of ``step`` (which handles ``images`` images), after one warm-up call,
    repeated until ``min_seconds`` and ``min_reps`` are reached."""
    step()
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_seconds:
        step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        reps += 1
    return images * reps / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- the models
@dataclass
class Case:
    """One model of the throughput table: ``build()`` a fresh model, ``shape`` of its inputs, and
    how a training step and an attack step use it (``kind``)."""

    name: str
    build: Callable[[], nn.Module]
    shape: tuple[int, int, int]
    kind: str = "classifier"      # "classifier" | "cvae" | "class_vaes" | "abs"
    batch: int = 256


def cases(quick: bool = False) -> list[Case]:
    """Report 002's CNN (quick and paper width), SimpleDLA (quick and full width), report 003's
    two classifiers, the PuVAE CVAE (network C on MNIST), the ABS class VAEs and ABS inference,
    at the sizes of the profiles (read from them, so the table follows the profiles)."""
    p002 = profiles.profiles_of("attacks_adversarial_training")
    p000 = profiles.profiles_of("abs_cifar")
    p001 = profiles.profiles_of("puvae_detector")
    out = []
    for tag in ("quick", "paper"):
        p = p002[tag]
        out.append(Case(f"002 CNN, width {p['width']} / hidden {p['hidden']} ({tag})", functools.partial(
            models.DropoutCNN, "cifar10_jpeg", width=p["width"], hidden=p["hidden"], dropout=tuple(p["dropout"])),
            (3, 32, 32)))
    for tag in ("quick", "paper"):
        w = p000[tag]["dla_width"]
        out.append(Case(f"SimpleDLA, width {w:g} ({tag})",
                        functools.partial(SimpleDLA, "cifar10_jpeg", width=w), (3, 32, 32),
                        batch=128 if w >= 1 else 256))
    out.append(Case("003 classifier, Fashion-MNIST", functools.partial(Report003CNN, "fashion_mnist"),
                    (1, 28, 28)))
    out.append(Case("003 classifier, CIFAR-10", functools.partial(Report003CNN, "cifar10_jpeg"),
                    (3, 32, 32)))
    z = p001["quick"]["z_dim"]["mnist"]
    out.append(Case(f"PuVAE CVAE C, MNIST, z {z}", functools.partial(CVAE_C, "mnist", z_dim=z), (1, 28, 28),
                    kind="cvae"))
    q = p000["quick"]
    vae = functools.partial(ClassVAEs, latent=q["vae_latent"], width=q["vae_width"])
    out.append(Case(f"ABS class VAEs, width {q['vae_width']}", vae, (3, 32, 32), kind="class_vaes", batch=64))
    out.append(Case(f"ABS inference, {q['abs_prototypes']} prototypes, {q['abs_steps']} steps",
                    functools.partial(_abs, vae, q["abs_prototypes"], q["abs_steps"]), (3, 32, 32), kind="abs",
                    batch=64))
    return out[:2] if quick else out


def _abs(vae_builder, prototypes: int, steps: int) -> nn.Module:
    return abs_defense.ABS(vae_builder(), n_prototypes=prototypes, steps=steps)


# --------------------------------------------------------------------------- one step
def _steps(case: Case, model: nn.Module, policy: precision.Precision, device) -> tuple[Callable, Callable | None]:
    """(training step, attack step) closures on one random batch, in ``policy``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((case.batch, *case.shape), generator=gen).to(device)
    y = torch.randint(0, 10, (case.batch,), generator=gen).to(device)
    model = policy.prepare(model.to(device))
    xs = policy.images(x)
    if case.kind == "abs":
        def infer():
            with torch.no_grad(), precision.using(policy):
                model(x)

        def grad_abs():
            with precision.using(policy):
                xg = x.clone().requires_grad_(True)
                with policy.autocast():
                    loss = F.cross_entropy(model(policy.images(xg)).float(), y)
                torch.autograd.grad(loss, xg)

        return infer, grad_abs
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    if case.kind == "class_vaes":
        xk = torch.rand((case.batch, 10, *case.shape), generator=gen).to(device)

        def objective():
            return model.loss(xk)
    elif case.kind == "cvae":
        clf = puvae.freeze(ClassifierA("mnist").to(device))
        policy.prepare(clf)

        def objective():
            return puvae.puvae_loss(model, xs, y, classifier=clf)[0]
    else:
        def objective():
            return F.cross_entropy(model(xs), y)

    def train_step():
        model.train()
        with policy.autocast():
            loss = objective()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if case.kind == "class_vaes":
        return train_step, None
    target = (lambda xg: clf(model(xg, y)[0])) if case.kind == "cvae" else model

    def attack_step():
        model.eval()
        xg = xs.clone().requires_grad_(True)
        with policy.autocast():
            loss = F.cross_entropy(target(xg).float(), y)
        torch.autograd.grad(loss, xg)

    return train_step, attack_step


def throughput(quick: bool = False, device=None, min_seconds: float = 2.0) -> pd.DataFrame:
    """The table: per model, training and attack-step images/s in plain fp32 NCHW, fp32
    channels_last and the engine, with the engine's ratio over plain (ABS: inference, i.e. a
    forward pass with its inner optimisation, in place of training)."""
    device = runtime.get_device(device)
    engine = precision.resolve("auto", device)
    policies = {"fp32 NCHW": plain_policy(device), "fp32 channels_last": fp32_channels_last(device),
                "engine": engine}
    rows = []
    for case in cases(quick):
        row = {"model": case.name, "batch": case.batch}
        for label, policy in policies.items():
            torch.manual_seed(0)
            model = case.build()
            train_step, attack_step = _steps(case, model, policy, device)
            row[f"train {label}"] = rate(train_step, case.batch, min_seconds)
            row[f"attack {label}"] = rate(attack_step, case.batch, min_seconds) if attack_step else float("nan")
        for what in ("train", "attack"):
            row[f"{what} ratio"] = row[f"{what} engine"] / row[f"{what} fp32 NCHW"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["engine"] = str(engine)
    return table


# --------------------------------------------------------------------------- end to end
def _plain_sgd_epoch(model: nn.Module, train_set: data.ImageData, cfg: train.TrainConfig, device) -> None:
    """What a plain script does: fp32, NCHW, the same optimiser, batches and schedule-free lr."""
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          nesterov=True)
    model.train()
    for x, y in data.batches(train_set, cfg.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0),
                             device=device):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _plain_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int) -> torch.Tensor:
    """A plain fp32 L-inf PGD loop (random start, sign steps of 2.5 eps / steps, projection)."""
    alpha = 2.5 * eps / steps
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        grad, = torch.autograd.grad(loss, x_adv)
        x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


def end_to_end(n_train: int = 5000, n_test: int = 1000, steps: int = 10, eps: float = 0.01,
               dataset: str = "cifar10_jpeg", device=None, n_fragile: int | None = None,
               fragile_epochs: int = 4) -> pd.DataFrame:
    """Three checks on report 002's paper-width CNN, one row each: ``what``, ``plain_s``,
    ``engine_s``, ``ratio`` and ``accuracy`` (plain vs engine, where one applies). The attacks
    run on a model trained with the fast recipe for ``fragile_epochs`` epochs on ``n_fragile``
    training images (default all), as fragile as the report's."""
    import torchattacks  # here: it pulls in torchvision

    device = runtime.get_device(device)
    engine = precision.resolve("auto", device)
    p = profiles.profiles_of("attacks_adversarial_training")["paper"]
    build = functools.partial(models.DropoutCNN, dataset, width=p["width"], hidden=p["hidden"],
                              dropout=tuple(p["dropout"]))
    train_set = data.load(dataset, "train", n=n_train, seed=0)
    test = data.load(dataset, "test", n=n_test, seed=0)
    x, y = test.x.to(device), test.y.to(device)
    cfg = train.TrainConfig(epochs=1)
    rows = []

    torch.manual_seed(0)
    plain_model = build().to(device)
    t0 = time.perf_counter()
    _plain_sgd_epoch(plain_model, train_set, cfg, device)
    t_plain = time.perf_counter() - t0
    torch.manual_seed(0)
    t0 = time.perf_counter()
    train.fit(build(), train_set, cfg, use_cache=False, progress_bar=False, device=device, policy=engine)
    t_engine = time.perf_counter() - t0
    rows.append(dict(what=f"one epoch on {n_train} images: lib.train.fit (defaults) vs plain fp32 SGD loop",
                     plain_s=t_plain, engine_s=t_engine, ratio=t_engine / t_plain, accuracy=""))

    # A model as fragile as the report's: the fast recipe, a few epochs, cached across benchmark runs.
    torch.manual_seed(0)
    fast = train.TrainConfig(epochs=4, batch_size=256, lr=0.2, scheduler="linear", warmup=0.2,
                             augment="flip_translate", ema=0.99)
    fast = replace(fast, epochs=fragile_epochs)
    model = train.fit(build(), data.load(dataset, "train", n=n_fragile), fast, name="benchmark-002-cnn",
                      progress_bar=False,
                      device=device, policy=engine).model.eval()
    reference = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    plain_adv = data.map_batches(lambda a, b: _plain_pgd(reference, a, b, eps, steps), x, y, batch_size=500)
    t_plain = time.perf_counter() - t0
    torch.manual_seed(0)
    with precision.using(engine):
        t0 = time.perf_counter()
        ours = data.map_batches(lambda a, b: attacks.pgd(model, a, b, eps, steps=steps), x, y, batch_size=500)
        t_engine = time.perf_counter() - t0
    ok_plain = evaluate.predict(reference, plain_adv) == y
    ok_ours = evaluate.predict(reference, ours) == y
    rows.append(dict(what=f"PGD-{steps} at L-inf {eps:g} on {n_test} images: lib.attacks.pgd vs plain fp32 loop",
                     plain_s=t_plain, engine_s=t_engine, ratio=t_engine / t_plain,
                     accuracy=f"{100 * ok_plain.float().mean():.1f} % vs {100 * ok_ours.float().mean():.1f} % "
                              f"(McNemar p = {stats.mcnemar_exact(ok_plain, ok_ours).p_value:.2g})"))

    torch.manual_seed(0)
    t0 = time.perf_counter()
    clean = evaluate.predict(reference, x) == y
    plain_acc = []
    for e in REPORT_002_EPS:
        adv = torchattacks.PGD(reference, eps=e, alpha=2.5 * e / steps, steps=steps, random_start=True)(x, y)
        plain_acc.append((clean & (evaluate.predict(reference, adv) == y)).float().mean().item())
    t_plain = time.perf_counter() - t0
    with precision.using(engine):
        t0 = time.perf_counter()
        table = evaluate.robust_accuracy(model, x, y, {"PGD": functools.partial(attacks.pgd, steps=steps)},
                                         REPORT_002_EPS, convention="all", progress_bar=False)
        t_engine = time.perf_counter() - t0
    pairs = ", ".join(f"{e:g}: {100 * a:.1f} / {100 * b:.1f}" for e, a, b in
                      zip(REPORT_002_EPS, plain_acc, table["accuracy"]))
    rows.append(dict(what=f"robust_accuracy over report 002's {len(REPORT_002_EPS)} eps vs torchattacks PGD-{steps} "
                          f"on every image and eps ({n_test} images)",
                     plain_s=t_plain, engine_s=t_engine, ratio=t_engine / t_plain,
                     accuracy=f"plain / ours in % at eps {pairs}"))
    out = pd.DataFrame(rows)
    out.attrs["engine"] = str(engine)
    return out


__all__ = ["Case", "cases", "end_to_end", "rate", "throughput"]
