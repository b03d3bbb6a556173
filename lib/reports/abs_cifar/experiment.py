"""Report 000's steps: data, SimpleDLA, the class VAEs and ABS, and every attack run.

Everything the notebook computes goes through here, seeded, so that a re-run gives the same
numbers: trained models are cached (:func:`lib.train.fit`, :func:`fit_class_vaes`) and so is
every attack sweep (:func:`lib.sweep.cached_sweep`, keyed by weights, images and settings).

Convention (the report's, section C): accuracy over *all* test images, a misclassified clean
image counts as broken at eps 0. Eps is L2 in pixel units.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lib import attacks, data, evaluate, models, runtime, sweep, train
from lib.defenses.abs import ABS
from lib.models.generative.abs_vae import ClassVAEs, VAETrainConfig, fit_class_vaes

REPORT = "abs_cifar"  # checkpoint and result names start with the notebook id


@dataclass
class Context:
    """A run's parameters, device and data; ``test`` lives on ``device``, ``train`` on the CPU."""

    cfg: Mapping
    device: torch.device
    train: data.ImageData
    test: data.ImageData

    @property
    def title(self) -> str:
        return data.info(self.cfg["dataset"]).title

    @property
    def chance(self) -> float:
        return 1 / self.test.num_classes


def prepare(cfg: Mapping, device) -> Context:
    device = runtime.get_device(device)
    tr = data.load(cfg["dataset"], "train", n=cfg["n_train"], seed=cfg["seed"])
    te = data.load(cfg["dataset"], "test", n=cfg["n_test"], seed=cfg["seed"])
    return Context(cfg, device, tr, te.to(device))


# --------------------------------------------------------------------------- models
def fit_dla(ctx: Context) -> train.FitResult:
    """SimpleDLA with kuangliu/pytorch-cifar's recipe (SGD 0.1, momentum 0.9, weight decay 5e-4,
    cosine, batch 128), ``dla_epochs`` epochs (the report: 25)."""
    cfg = ctx.cfg
    runtime.seed_everything(cfg["seed"])
    model = models.build("simple_dla", dataset=cfg["dataset"], width=cfg["dla_width"])
    tc = train.TrainConfig(epochs=cfg["dla_epochs"], batch_size=128, optimizer="sgd", lr=cfg["dla_lr"],
                           momentum=0.9, weight_decay=5e-4, scheduler="cosine", augment=cfg["augment"],
                           seed=cfg["seed"])
    return train.fit(model, ctx.train, tc, name=f"{REPORT}-dla", device=ctx.device)


def fit_vaes(ctx: Context) -> tuple[ClassVAEs, dict]:
    """One VAE per class, each on its own class's training images (Adam, batch 128, beta)."""
    cfg = ctx.cfg
    runtime.seed_everything(cfg["seed"])
    vaes = ClassVAEs(ctx.test.num_classes, latent=cfg["vae_latent"], width=cfg["vae_width"])
    tc = VAETrainConfig(epochs=cfg["vae_epochs"], batch_size=128, lr=cfg["vae_lr"], beta=cfg["beta"],
                        seed=cfg["seed"])
    return fit_class_vaes(vaes, ctx.train, tc, name=f"{REPORT}-vaes", device=ctx.device)


def make_abs(ctx: Context, vaes: ClassVAEs, **changes) -> ABS:
    """ABS with the profile's inference settings (``changes`` overrides any of them)."""
    cfg = ctx.cfg
    kw = dict(n_prototypes=cfg["abs_prototypes"], steps=cfg["abs_steps"], lr=cfg["abs_lr"],
              clip=cfg["abs_clip"], beta=cfg["beta"], logit_scale=cfg["logit_scale"], seed=cfg["seed"])
    kw.update(changes)
    return ABS(vaes, **kw).to(ctx.device).eval()


def correct(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image clean correctness (N,) bool, on the CPU."""
    return (evaluate.predict(model, x, batch_size=250) == y).cpu()


# --------------------------------------------------------------------------- attacks
def report_attacks(cfg: Mapping) -> dict:
    """The report's three L2 attacks: the fast gradient method ("FGSM" in the report), I-FGSM
    (BIM) and PGD with a random start, ``attack_steps`` steps of 2.5 eps / steps."""
    k = cfg["attack_steps"]
    return {"FGSM": functools.partial(attacks.fgsm, norm="2"),
            "I-FGSM": functools.partial(attacks.bim, norm="2", steps=k),
            "PGD": functools.partial(attacks.pgd, norm="2", steps=k, stop_when_fooled=True)}


def adaptive_attacks(cfg: Mapping, dla, abs_unrolled: ABS | None) -> dict:
    """Beyond the report, in the order a sweep should run them (cheap first), after the report's
    three: PGD on the margin loss, a transfer attack from DLA (PGD crafted on DLA), PGD through
    the unrolled inner optimisation (crafted on ``abs_unrolled``, the same function with the
    other gradient; left out when None), and Square L2 (score-based, no gradient). ``dla``
    None leaves out the transfer attack (DLA itself is attacked white-box)."""
    k = cfg["attack_steps"]
    out = {}
    out["PGD margin"] = functools.partial(attacks.pgd, norm="2", steps=k, loss=attacks.margin,
                                          stop_when_fooled=True)
    if dla is not None:
        out["transfer from DLA"] = functools.partial(attacks.transfer, source=dla,
                                                     attack=functools.partial(attacks.pgd, norm="2", steps=k))
    if abs_unrolled is not None:
        out["PGD unrolled"] = functools.partial(
            attacks.transfer, source=abs_unrolled,
            attack=functools.partial(attacks.pgd, norm="2", steps=cfg["unrolled_steps"]))
    out["Square L2"] = functools.partial(attacks.square, norm="2", n_queries=cfg["square_queries"],
                                         seed=cfg["seed"])
    return out


def adaptive_eps(cfg: Mapping) -> list[float]:
    """Eps grid of the adaptive worst case: the report's eps and the largest of ``curve_eps``."""
    return sorted({float(e) for e in cfg["eps"]} | {float(max(cfg["curve_eps"]))})


def run_sweep(ctx: Context, model, attack_set: Mapping, eps, name: str, x=None, y=None) -> sweep.SweepResult:
    """Cached worst-case sweep in L2 over all images (convention "all"), reseeded for PGD's starts."""
    runtime.seed_everything(ctx.cfg["seed"])
    x = ctx.test.x if x is None else x
    y = ctx.test.y if y is None else y
    return sweep.cached_sweep(model, x, y, attack_set, eps, name=f"{REPORT}-{name}", norm="2",
                              batch_size=250, progress_bar=False)


def per_attack(ctx: Context, model, eps, name: str) -> dict[str, sweep.SweepResult]:
    """One sweep per report attack: an image counts as broken at eps when that attack broke it
    at this eps or a smaller one (an example inside a smaller ball is inside the larger)."""
    return {a: run_sweep(ctx, model, {a: atk}, eps, f"{name}-{a}") for a, atk in report_attacks(ctx.cfg).items()}


@dataclass
class WorstCase:
    """Per-image worst case over the report's three attacks and the adaptive ones, on the grid
    ``eps``: ``robust`` (N, len(eps)) bool, ``broken_at`` (N,) the first grid eps that broke an
    image (0: wrong clean, inf: never), ``broken_by`` the attack that did, ``clean_robust`` (N,)."""

    eps: tuple[float, ...]
    robust: torch.Tensor
    broken_at: torch.Tensor
    broken_by: list
    clean_robust: torch.Tensor

    @property
    def worst_case(self):
        import pandas as pd

        from lib import stats

        n = self.robust.shape[0]
        k = self.robust.sum(0).tolist()
        lo, hi = stats.clopper_pearson(k, [n] * len(k))
        return pd.DataFrame({"eps": self.eps, "robust": k, "n": n, "accuracy": [v / n for v in k],
                             "low": lo, "high": hi})


def worst_case(ctx: Context, model, trio: Mapping[str, sweep.SweepResult], extra: Mapping, name: str,
               eps) -> WorstCase:
    """The worst case without attacking a broken image twice: the report's three attacks are
    already run (``trio``, :func:`per_attack` on a grid containing ``eps``); an image they broke
    at the smallest eps is broken at every eps, so the ``extra`` attacks run (as one cached
    sweep, cheap ones first) only on the images the three left standing there. An image counts
    as broken at eps when any attack broke it at this eps or a smaller one."""
    eps = tuple(sorted(float(e) for e in eps))
    names = list(trio)
    cols = [[list(r.eps).index(e) for e in eps] for r in trio.values()]
    robust = torch.stack([r.robust[:, c] for r, c in zip(trio.values(), cols)]).all(0)      # (N, G)
    at = torch.stack([r.broken_at for r in trio.values()])                                  # (3, N)
    broken_at, first = at.min(0)
    broken_by = ["clean" if b == 0 else (names[int(f)] if b != float("inf") else None)
                 for b, f in zip(broken_at.tolist(), first.tolist())]
    standing = robust[:, 0].nonzero().squeeze(1)
    if len(standing) and extra:
        idx = standing.to(ctx.test.x.device)
        res = run_sweep(ctx, model, extra, eps, f"{name}-extra", x=ctx.test.x[idx], y=ctx.test.y[idx])
        robust[standing] &= res.robust
        for i, b, by in zip(standing.tolist(), res.broken_at.tolist(), res.broken_by):
            if by is not None and b < broken_at[i]:
                broken_at[i], broken_by[i] = b, by
    clean = next(iter(trio.values())).clean_robust
    return WorstCase(eps, robust, broken_at.double(), broken_by, clean)


def gradient_agreement(danskin: ABS, unrolled: ABS, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine similarity (N,) between the input gradients of the cross-entropy loss through
    Danskin's formula and through the unrolled inner optimisation, image by image."""
    grads = []
    for m in (danskin, unrolled):
        xr = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(m(xr), y, reduction="sum")
        grads.append(torch.autograd.grad(loss, xr)[0].flatten(1))
    return F.cosine_similarity(grads[0], grads[1], dim=1).cpu()


def convergence(ctx: Context, vaes: ClassVAEs) -> list[dict]:
    """Clean accuracy of ABS for every (prototypes, steps) pair of the profile's study, and the
    share of images whose decision agrees with the profile's own ABS."""
    cfg = ctx.cfg
    x, y = ctx.test.x, ctx.test.y
    main = evaluate.predict(make_abs(ctx, vaes), x, batch_size=250)
    rows = []
    for m in cfg["convergence_prototypes"]:
        for s in cfg["convergence_steps"]:
            pred = evaluate.predict(make_abs(ctx, vaes, n_prototypes=m, steps=s), x, batch_size=250)
            rows.append({"prototypes": m, "steps": s, "correct": int((pred == y).sum()), "n": len(y),
                         "agree with main": float((pred == main).float().mean())})
    return rows


def median_l2(result: WorstCase) -> float:
    """Median over the clean-correct images of the smallest grid eps that broke them (inf when
    more than half survive the whole grid): the grid's estimate of the median L2 needed."""
    at = result.broken_at[result.clean_robust]
    return float(at.median()) if len(at) else float("nan")
