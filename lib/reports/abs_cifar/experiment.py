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
from torch import nn

from lib import attacks, cache, data, evaluate, models, robustness, runtime, stats, sweep, train
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
    """SimpleDLA, ``dla_epochs`` epochs (the report: 25) of Nesterov SGD (momentum 0.9, weight
    decay 5e-4) with the profile's batch, peak learning rate, warm-up, decay, weight average and
    augmentation (the paper profile: kuangliu/pytorch-cifar's recipe, the report's)."""
    cfg = ctx.cfg
    runtime.seed_everything(cfg["seed"])
    model = models.build("simple_dla", dataset=cfg["dataset"], width=cfg["dla_width"])
    tc = train.TrainConfig(epochs=cfg["dla_epochs"], batch_size=cfg["dla_batch"], optimizer="sgd", lr=cfg["dla_lr"],
                           momentum=0.9, weight_decay=5e-4, scheduler=cfg["dla_schedule"], warmup=cfg["dla_warmup"],
                           ema=cfg["dla_ema"], augment=cfg["augment"], seed=cfg["seed"])
    return train.fit(model, ctx.train, tc, name=f"{REPORT}-dla", device=ctx.device)


def fit_vaes(ctx: Context) -> tuple[ClassVAEs, dict]:
    """One VAE per class, each on its own class's training images (Adam, batch 128, beta)."""
    cfg = ctx.cfg
    runtime.seed_everything(cfg["seed"])
    vaes = ClassVAEs(ctx.test.num_classes, latent=cfg["vae_latent"], width=cfg["vae_width"])
    tc = VAETrainConfig(epochs=cfg["vae_epochs"], batch_size=128, lr=cfg["vae_lr"], beta=cfg["beta"],
                        seed=cfg["seed"], decay=cfg["vae_decay"])
    return fit_class_vaes(vaes, ctx.train, tc, name=f"{REPORT}-vaes", device=ctx.device)


def make_abs(ctx: Context, vaes: ClassVAEs, **changes) -> ABS:
    """ABS with the profile's inference settings (``changes`` overrides any of them)."""
    cfg = ctx.cfg
    kw = dict(n_prototypes=cfg["abs_prototypes"], steps=cfg["abs_steps"], lr=cfg["abs_lr"],
              clip=cfg["abs_clip"], beta=cfg["beta"], logit_scale=cfg["logit_scale"], seed=cfg["seed"])
    kw.update(changes)
    return ABS(vaes, **kw).to(ctx.device).eval()


@dataclass
class Models:
    """The report's two models, trained or loaded from the checkpoint cache: SimpleDLA, the
    class VAEs (``vae_loss``: last epoch's loss per image) and ABS on them, once with Danskin's
    gradient (``abs``) and once with the gradient through the unrolled inner optimisation
    (``abs_unrolled``: the same function, evaluated in chunks of 64 images because its graph
    holds every inner step)."""

    dla: nn.Module
    dla_from_cache: bool
    vaes: ClassVAEs
    vaes_from_cache: bool
    vae_loss: float
    abs: ABS
    abs_unrolled: ABS

    def describe(self) -> str:
        cached = lambda c: "loaded from cache" if c else "trained"  # noqa: E731
        return (f"SimpleDLA: {sum(p.numel() for p in self.dla.parameters()):,} parameters, "
                f"{cached(self.dla_from_cache)}; class VAEs: {sum(p.numel() for p in self.vaes.parameters()):,} "
                f"parameters, {cached(self.vaes_from_cache)}, final loss per image {self.vae_loss:.1f}")


def fit_models(ctx: Context) -> Models:
    """Section 1: SimpleDLA (:func:`fit_dla`), the class VAEs (:func:`fit_vaes`) and ABS."""
    dla = fit_dla(ctx)
    vaes, info = fit_vaes(ctx)
    abs_model = make_abs(ctx, vaes)
    return Models(dla=dla.model.eval(), dla_from_cache=dla.from_cache, vaes=vaes, vaes_from_cache=info["from_cache"],
                  vae_loss=float(info["history"][-1]["loss"]), abs=abs_model,
                  abs_unrolled=abs_model.variant(mode="unrolled", chunk=64))


def predictions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted labels (N,) of ``model`` on ``x`` (on its device), remembered across runs by
    the model's settings and weights and the images' content (:func:`lib.cache.memo`): ABS's
    inference optimises latents for every image, class and budget of the convergence study,
    which a warm re-run then reads instead."""
    return cache.memo(f"{REPORT}-predict", evaluate.predict, model, x, batch_size=250).to(x.device)


def correct(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image clean correctness (N,) bool, on the CPU."""
    return (predictions(model, x) == y).cpu()


def clean_flags(ctx: Context, models: Models) -> dict[str, torch.Tensor]:
    """Per model ("ABS", "SimpleDLA") its clean correctness on the test images, (N,) bool."""
    x, y = ctx.test.x, ctx.test.y
    return {"ABS": correct(models.abs, x, y), "SimpleDLA": correct(models.dla, x, y)}


def reconstruction_rmse(ctx: Context, models: Models) -> torch.Tensor:
    """Per-pixel RMSE (n,) of ABS's reconstruction of the true class, G_y(z*), against the image,
    over the first ``n_adaptive`` test images (pixels in [0, 1]): how well the class VAEs explain
    an image of their own class."""
    n = ctx.cfg["n_adaptive"]
    x, y = ctx.test.x[:n], ctx.test.y[:n]
    own = models.abs.reconstructions(x)[torch.arange(len(y)), y]
    return (own - x).pow(2).flatten(1).mean(1).sqrt().cpu()


# --------------------------------------------------------------------------- attacks
def report_attacks(cfg: Mapping) -> dict:
    """The report's three L2 attacks: the fast gradient method ("FGSM" in the report), I-FGSM
    (BIM) and PGD with a random start, ``attack_steps`` steps of 2.5 eps / steps."""
    k = cfg["attack_steps"]
    return {"FGSM": functools.partial(attacks.fgsm, norm="2"),
            "I-FGSM": functools.partial(attacks.bim, norm="2", steps=k),
            "PGD": functools.partial(attacks.pgd, norm="2", steps=k, stop_when_fooled=True)}


def budget(cfg: Mapping) -> robustness.Budget:
    """The registry's strong L2 set at this profile's attack budget: ``attack_steps`` PGD and
    APGD iterations, one restart, ``square_queries`` Square queries."""
    k = cfg["attack_steps"]
    return robustness.Budget(pgd_steps=k, restarts=1, apgd_steps=k, square_queries=cfg["square_queries"],
                             seed=cfg["seed"])


def adaptive_attacks(cfg: Mapping, dla, abs_unrolled: ABS | None) -> dict:
    """Beyond the report: the registry's strong L2 set (:func:`lib.robustness.strong_set`: PGD on
    the cross-entropy and the margin, APGD-CE, APGD-DLR, then Square L2, score-based, last),
    without its single-step FGM (the report's own "FGSM" has run), extended among its gradient
    attacks by a transfer attack from DLA (PGD crafted on DLA) and PGD through the unrolled
    inner optimisation (crafted on ``abs_unrolled``, the same function with the other
    gradient). ``dla`` / ``abs_unrolled`` None leave those out (DLA itself is attacked
    white-box)."""
    k = cfg["attack_steps"]
    extra = {}
    if dla is not None:
        extra["transfer from DLA"] = functools.partial(attacks.transfer, source=dla,
                                                       attack=functools.partial(attacks.pgd, norm="2", steps=k))
    if abs_unrolled is not None:
        extra["PGD unrolled"] = functools.partial(
            attacks.transfer, source=abs_unrolled,
            attack=functools.partial(attacks.pgd, norm="2", steps=cfg["unrolled_steps"]))
    return robustness.strong_set("L2", budget(cfg), gradient=extra, without=[robustness.SINGLE_STEP])


def adaptive_eps(cfg: Mapping) -> list[float]:
    """Eps grid of the adaptive worst case: the report's eps and the largest of ``curve_eps``."""
    return sorted({float(e) for e in cfg["eps"]} | {float(max(cfg["curve_eps"]))})


def run_sweep(ctx: Context, model, attack_set: Mapping, eps, name: str, x=None, y=None) -> sweep.SweepResult:
    """Cached worst-case sweep in L2 over all images (convention "all"), seeded inside the
    cached computation for PGD's random starts."""
    x = ctx.test.x if x is None else x
    y = ctx.test.y if y is None else y
    return sweep.cached_sweep(model, x, y, attack_set, eps, name=f"{REPORT}-{name}", norm="2", seed=ctx.cfg["seed"],
                              batch_size=250, progress_bar=False)


def report_evaluation(ctx: Context, models: Models) -> dict[str, dict[str, sweep.SweepResult]]:
    """Section 2: per model ("ABS", "SimpleDLA") the report's three attacks, each as its own
    sweep over all test images on the grid ``curve_eps`` (:func:`per_attack`)."""
    eps = ctx.cfg["curve_eps"]
    return {"ABS": per_attack(ctx, models.abs, eps, "abs"), "SimpleDLA": per_attack(ctx, models.dla, eps, "dla")}


def figure1_examples(ctx: Context, fgm: sweep.SweepResult, eps: float, k: int = 3):
    """The first ``k`` test images (in the subset's order, not picked) that ABS classifies
    correctly and the fast gradient method (``fgm``, the report's "FGSM" sweep) breaks at
    ``eps`` or below: (x, x_adv, y), or None when there is none."""
    broken = (fgm.clean_robust & (fgm.broken_at <= eps)).nonzero().squeeze(1)[:k]
    if not len(broken):
        return None
    idx = fgm.index[broken].to(ctx.test.x.device)
    return ctx.test.x[idx], fgm.x_adv[broken].to(ctx.test.x.device), ctx.test.y[idx]


def per_attack(ctx: Context, model, eps, name: str) -> dict[str, sweep.SweepResult]:
    """One sweep per report attack: an image counts as broken at eps when that attack broke it
    at this eps or a smaller one (an example inside a smaller ball is inside the larger)."""
    return {a: run_sweep(ctx, model, {a: atk}, eps, f"{name}-{a}") for a, atk in report_attacks(ctx.cfg).items()}


def worst_case(ctx: Context, model, trio: Mapping[str, sweep.SweepResult], extra: Mapping, name: str,
               eps) -> sweep.SweepResult:
    """The worst case per image over the report's three attacks (``trio``, :func:`per_attack`,
    already run on a grid containing ``eps``) and the ``extra`` attacks, without attacking a
    broken image twice: an image the three broke at the smallest eps is broken at every eps,
    so the extra attacks run (as one cached sweep, cheap ones first) only on the images left
    standing there; :func:`lib.sweep.combine` joins the four sweeps."""
    eps = sorted(float(e) for e in eps)
    parts = list(trio.values())
    robust = torch.stack([r.robust[:, list(r.eps).index(eps[0])] for r in parts]).all(0)
    standing = robust.nonzero().squeeze(1)
    if not (len(standing) and extra):
        return sweep.combine(parts, eps=eps)
    idx = standing.to(ctx.test.x.device)
    rest = run_sweep(ctx, model, extra, eps, f"{name}-extra", x=ctx.test.x[idx], y=ctx.test.y[idx])
    return sweep.combine([*parts, rest], positions=[*[None] * len(parts), standing], eps=eps)


def worst_cases(ctx: Context, models: Models, report: Mapping[str, Mapping[str, sweep.SweepResult]]
                ) -> dict[str, sweep.SweepResult]:
    """Section 4: per model the worst case over the report's three attacks (``report``, from
    :func:`report_evaluation`) and :func:`adaptive_attacks` (for DLA without the attacks
    specific to ABS), on :func:`adaptive_eps`."""
    cfg, grid = ctx.cfg, adaptive_eps(ctx.cfg)
    return {"ABS": worst_case(ctx, models.abs, report["ABS"], adaptive_attacks(cfg, models.dla, models.abs_unrolled),
                              "abs-adaptive", grid),
            "SimpleDLA": worst_case(ctx, models.dla, report["SimpleDLA"], adaptive_attacks(cfg, None, None),
                                    "dla-adaptive", grid)}


def robust_under(sweeps: Mapping[str, sweep.SweepResult], eps: float) -> torch.Tensor:
    """Per image (N,): survives every sweep of ``sweeps`` (the report's three attacks) at ``eps``."""
    return torch.stack([r.robust[:, list(r.eps).index(float(eps))] for r in sweeps.values()]).all(0)


@dataclass
class GradientCheck:
    """Danskin's gradient against the unrolled one on the first ``n`` test images: their cosine
    similarity per image (``cosine``, (n,)), and per-image robustness (``robust``: attack name
    -> (n,) bool) under PGD with each at L2 ``eps``, for McNemar's test."""

    n: int
    eps: float
    cosine: torch.Tensor
    robust: dict[str, torch.Tensor]

    def mcnemar(self) -> stats.McNemar:
        a, b = self.robust.values()
        return stats.mcnemar_exact(b, a)


def gradient_check(ctx: Context, models: Models) -> GradientCheck:
    """Section 4: :func:`gradient_agreement` on the first ``n_adaptive`` images, and PGD with
    ``unrolled_steps`` steps through each gradient at the smallest report eps (cached sweeps)."""
    cfg = ctx.cfg
    n, eps, k = cfg["n_adaptive"], min(cfg["eps"]), cfg["unrolled_steps"]
    x, y = ctx.test.x[:n], ctx.test.y[:n]
    cos = gradient_agreement(models.abs, models.abs_unrolled, x, y)
    pgd = functools.partial(attacks.pgd, norm="2", steps=k)
    both = {f"PGD Danskin ({k} steps)": pgd,
            f"PGD unrolled ({k} steps)": functools.partial(attacks.transfer, source=models.abs_unrolled, attack=pgd)}
    robust = {name: run_sweep(ctx, models.abs, {name: atk}, [eps], f"abs-mode-{i}", x=x, y=y).robust[:, -1]
              for i, (name, atk) in enumerate(both.items())}
    return GradientCheck(n=n, eps=float(eps), cosine=cos, robust=robust)


def gradient_agreement(danskin: ABS, unrolled: ABS, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine similarity (N,) between the input gradients of the cross-entropy loss through
    Danskin's formula and through the unrolled inner optimisation, image by image."""
    grads = []
    for m in (danskin, unrolled):
        xr = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(m(xr), y, reduction="sum")
        grads.append(torch.autograd.grad(loss, xr)[0].flatten(1))
    return F.cosine_similarity(grads[0], grads[1], dim=1).cpu()


def convergence(ctx: Context, models: Models) -> list[dict]:
    """Clean accuracy of ABS for every (prototypes, steps) pair of the profile's study, and the
    share of images whose decision agrees with the profile's own ABS."""
    cfg, vaes = ctx.cfg, models.vaes
    x, y = ctx.test.x, ctx.test.y
    main = predictions(models.abs, x)
    rows = []
    for m in cfg["convergence_prototypes"]:
        for s in cfg["convergence_steps"]:
            pred = predictions(make_abs(ctx, vaes, n_prototypes=m, steps=s), x)
            rows.append({"prototypes": m, "steps": s, "correct": int((pred == y).sum()), "n": len(y),
                         "agree with main": float((pred == main).float().mean())})
    return rows


def median_l2(result: sweep.SweepResult) -> float:
    """Median over the clean-correct images of the smallest grid eps that broke them (inf when
    more than half survive the whole grid): the grid's estimate of the median L2 needed."""
    at = result.broken_at[result.clean_robust]
    return float(at.median()) if len(at) else float("nan")
