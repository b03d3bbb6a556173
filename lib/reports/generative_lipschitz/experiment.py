"""Report 003's steps after the generative models (those are in
:mod:`~lib.reports.generative_lipschitz.generative`): the classifiers (section IV), the
Lipschitz classifier and its certificate (VI), FGSM and Carlini-Wagner (V), and what the report
did not do (the logit-scaling control of fixed-c CW, the worst case over the study's strong
attack set).

Everything per dataset is keyed by the report's role (:data:`ROLES`: ``"fashion_mnist"``,
``"cifar10"``), and per classifier held in a :class:`Pair` (the plain classifier and its
Lipschitz twin). Models are cached by :func:`lib.train.fit`; attack runs by
:func:`lib.sweep.cached_sweep` and :func:`lib.cache.memo` (keyed by the model's weights, the
images, the attack and its settings, and the seed, which is set inside the cached computation),
so a re-run is fast and does not depend on what ran before it.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import pandas as pd
import torch
from torch import nn

from lib import attacks, cache, robustness, runtime, sweep
from lib import data as data_mod
from lib import train as train_mod
from lib.defenses import lipschitz as lip
from lib.evaluate import distortion, predict
from lib.models.classifiers.report003 import Report003CNN
from lib.reports.generative_lipschitz import reference as ref

REPORT = "generative_lipschitz"  # checkpoint and result names start with the notebook id
#: The report's two classification tasks: role -> the profile key naming its dataset.
ROLES = {"fashion_mnist": "fashion_data", "cifar10": "cifar_data"}
LABELS = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
KINDS = ("plain", "Lipschitz")
#: Two per-image distortions differ only when one exceeds the other by more than this share:
#: float noise of a converged attack, or two grid eps of the strong set, are not a difference.
TIE_TOLERANCE = 0.05
T = TypeVar("T")


@dataclass
class Context:
    """A run's parameters and device."""

    cfg: Mapping
    device: torch.device

    def dataset(self, role: str) -> str:
        """The dataset playing ``role`` (a key of :data:`ROLES`) in this profile."""
        return self.cfg[ROLES[role]]

    def real(self, role: str) -> bool:
        return not self.dataset(role).startswith("synthetic")

    @property
    def title(self) -> str:
        return ", ".join(data_mod.info(self.dataset(r)).title for r in ROLES)


def prepare(cfg: Mapping, device=None) -> Context:
    return Context(cfg, runtime.get_device(device))


@dataclass
class Pair(Generic[T]):
    """One thing per classifier: the plain one and its Lipschitz twin."""

    plain: T
    lipschitz: T

    def items(self) -> Iterator[tuple[str, T]]:
        """("plain", ...), ("Lipschitz", ...)."""
        yield from zip(KINDS, (self.plain, self.lipschitz))

    def __getitem__(self, kind: str) -> T:
        return {"plain": self.plain, "Lipschitz": self.lipschitz}[kind]


# --------------------------------------------------------------------------- sections IV and VI
def classifier_splits(cfg, dataset: str):
    """(train, val, test) for a classifier: ``n_train`` images less ``n_val`` held out for the
    learning curves (Figures 15-16), and ``n_test`` test images."""
    full = data_mod.load(dataset, "train", n=cfg["n_train"], seed=cfg["seed"])
    train, val = data_mod.train_val_split(full, cfg["n_val"], seed=cfg["seed"])
    return train, val, data_mod.load(dataset, "test", n=cfg["n_test"], seed=cfg["seed"])


def build_classifier(cfg, dataset: str, lipschitz: bool) -> Report003CNN:
    runtime.seed_everything(cfg["seed"])
    if lipschitz:
        return lip.lipschitz_cnn(dataset, logit_scale=cfg["lip_scale"], dropout=cfg["dropout"])
    return Report003CNN(dataset, dropout=cfg["dropout"])


def freeze(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with its parameters out of autograd: an attack then differentiates
    the input only, not every weight (the weight gradients of 2 x 2 convolutions cost most of a
    backward pass on this CPU). Returns the model."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def classifier_epochs(cfg, dataset: str, lipschitz: bool) -> int:
    """The profile's epochs of one classifier: ``lip_epochs`` for the Lipschitz network, else
    ``clf_epochs``, or ``cifar_clf_epochs`` (where set) for the plain one of 32 x 32 colour images."""
    if lipschitz:
        return cfg["lip_epochs"]
    colour = data_mod.info(dataset).shape[0] == 3
    return cfg["cifar_clf_epochs"] if colour and cfg.get("cifar_clf_epochs") is not None else cfg["clf_epochs"]


def train_classifier(cfg, dataset: str, train: data_mod.ImageData, val: data_mod.ImageData, *,
                     lipschitz: bool, device=None, epochs: int | None = None) -> train_mod.FitResult:
    """The report's classifier (section IV) or its Lipschitz-constrained twin (section VI),
    trained with the engine's recipe (the report names no optimiser): Nesterov SGD at peak
    ``clf_lr`` / ``lip_lr``, a linear warm-up over ``clf_warmup`` of the steps then a linear decay
    to 0, weight decay ``clf_weight_decay``, an EMA of the weights (``clf_ema``) and, per dataset,
    the augmentation of ``fashion_augment`` / ``cifar_augment`` (the CIFAR role's for 32 x 32
    colour images, the Fashion-MNIST role's otherwise); cross-entropy. The Lipschitz network has
    no weight average: averaging its power-iteration vectors and raw weights does not give a
    spectrally normalised network (measured on CIFAR-10: the averaged network's certified bound
    was 260 where each layer should be at most 1, i.e. about 12 in all, and it classified at chance).
    ``epochs`` overrides
    ``clf_epochs`` / ``lip_epochs`` (the MNIST feature network); ``cifar_clf_epochs``, where set,
    replaces ``clf_epochs`` for the plain classifier of 32 x 32 colour images."""
    lr = cfg["lip_lr"] if lipschitz else cfg["clf_lr"]
    colour = data_mod.info(dataset).shape[0] == 3
    augment = cfg["cifar_augment"] if colour else cfg["fashion_augment"]
    tc = train_mod.TrainConfig(epochs=epochs or classifier_epochs(cfg, dataset, lipschitz),
                               batch_size=cfg["clf_batch_size"], optimizer="sgd", lr=lr,
                               weight_decay=cfg["clf_weight_decay"], scheduler="linear", warmup=cfg["clf_warmup"],
                               augment=None if augment == "none" else augment,
                               ema=None if lipschitz else cfg["clf_ema"], seed=cfg["seed"])
    return train_mod.fit(build_classifier(cfg, dataset, lipschitz), train, tc, val=val, device=device,
                         name=f"{REPORT}-{'lip' if lipschitz else 'clf'}-{dataset}")


@dataclass
class Trained:
    """A trained classifier (eval mode), its per-epoch ``history`` (Figures 15-16) and its
    clean correctness on the task's test images (``correct``: (n_test,) bool, CPU)."""

    model: nn.Module
    history: pd.DataFrame
    correct: torch.Tensor
    from_cache: bool


@dataclass
class Task:
    """One of the report's classification tasks: its ``role`` and ``label`` ("Fashion-MNIST",
    "CIFAR-10"), the ``dataset`` playing it, the report's accuracy (a fraction), the classifiers'
    training images (``n_train``, after the validation split), the ``test`` images (on the
    device; every attack runs on the first ``n_attack``) and the two classifiers."""

    role: str
    label: str
    dataset: str
    report_accuracy: float
    n_train: int
    test: data_mod.ImageData
    n_attack: int
    models: Pair[Trained]

    @property
    def x_attack(self) -> torch.Tensor:
        return self.test.x[:self.n_attack]

    @property
    def y_attack(self) -> torch.Tensor:
        return self.test.y[:self.n_attack]

    def correct_attacked(self, kind: str) -> torch.Tensor:
        """Clean correctness (n_attack,) of one classifier on the attacked images."""
        return self.models[kind].correct[:self.n_attack]


def fit_classifiers(ctx: Context) -> dict[str, Task]:
    """Sections IV and VI: per role the report's classifier and its Lipschitz twin, trained on
    the same images, with their clean correctness on ``n_test`` test images."""
    cfg, out = ctx.cfg, {}
    for role in ROLES:
        name = ctx.dataset(role)
        train, val, test = classifier_splits(cfg, name)
        test = test.to(ctx.device)
        fits = [train_classifier(cfg, name, train, val, lipschitz=lipschitz, device=ctx.device)
                for lipschitz in (False, True)]
        trained = [Trained(freeze(f.model), f.history, (predict(f.model, test.x) == test.y).cpu(), f.from_cache)
                   for f in fits]
        out[role] = Task(role=role, label=LABELS[role], dataset=name, report_accuracy=ref.REPORT_ACCURACY[role] / 100,
                         n_train=len(train), test=test, n_attack=cfg["n_attack"], models=Pair(*trained))
    return out


# --------------------------------------------------------------------------- section VI: certificate
@dataclass
class Certificate:
    """An upper bound ``bound`` (L) on a classifier's Lipschitz constant, logits in L2 over
    images in L2, with its per-layer table (``layers``), and every test image's certified L2
    radius (``radius``: (n_test,), 0 where misclassified)."""

    bound: float
    layers: pd.DataFrame
    radius: torch.Tensor


def certificate(model: Report003CNN, x: torch.Tensor, y: torch.Tensor) -> Certificate:
    model.eval()
    bound, layers = lip.network_bound(model, tuple(x.shape[1:]))
    return Certificate(bound, layers, lip.certified_radius(model, x, y, bound))


def certify(tasks: Mapping[str, Task]) -> dict[str, Pair[Certificate]]:
    """Section 5 of the notebook: the bound and certified radii of both classifiers of each task."""
    return {role: Pair(*(certificate(t.models[k].model, t.test.x, t.test.y) for k in KINDS))
            for role, t in tasks.items()}


# --------------------------------------------------------------------------- section V: attacks
def fgsm_sweep(cfg, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tag: str) -> sweep.SweepResult:
    """FGSM (L-inf) over ``fgsm_eps`` (the report gives no eps). As a sweep, an image broken at a
    smaller eps counts as broken at every larger one (its example lies in every larger ball)."""
    return sweep.cached_sweep(model, x, y, {"FGSM": functools.partial(attacks.fgsm, norm="inf")}, cfg["fgsm_eps"],
                              norm="inf", seed=cfg["seed"], name=f"{REPORT}-fgsm-{tag}", progress_bar=False)


def cw_batched(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, c: float, steps: int, binary_steps: int,
               lr: float, batch_size: int = 500) -> torch.Tensor:
    """Carlini-Wagner L2 (:func:`lib.attacks.cw_l2`) on every image in batches; x_adv on the CPU
    (N x C x H x W), the clean image where CW found nothing."""
    return data_mod.map_batches(
        lambda xb, yb: attacks.cw_l2(model, xb, yb, c=c, steps=steps, lr=lr, binary_search_steps=binary_steps),
        x, y, batch_size=batch_size).cpu()


def cw_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, c: float, steps: int, binary_steps: int,
          lr: float) -> torch.Tensor:
    """:func:`cw_batched`, remembered across runs (:func:`lib.cache.memo`: keyed by the model's
    weights, the images and every setting, so the control below reuses section V's run);
    x_adv on the images' device."""
    return cache.memo(f"{REPORT}-cw", cw_batched, model, x, y, c=float(c), steps=int(steps),
                      binary_steps=int(binary_steps), lr=float(lr)).to(x.device)


def cw_distances(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Per image (N,) the L2 distortion of the CW example where it fools a correctly classified
    image, ``inf`` where the attack failed, ``0`` where the image is misclassified clean."""
    clean_ok = (predict(model, x) == y).cpu()
    fooled = clean_ok & (predict(model, x_adv) != y).cpu()
    dist = distortion(x, x_adv, "2").cpu()
    out = torch.where(fooled, dist, torch.full_like(dist, float("inf")))
    return torch.where(clean_ok, out, torch.zeros_like(out))


@dataclass
class Attacked:
    """The report's two attacks on one classifier, on the task's ``n_attack`` images: FGSM over
    the L-inf grid (``fgsm``) and CW-L2 with a binary search over c (its examples ``cw_adv`` and
    per image the L2 distortion it needed, ``cw_dist``: :func:`cw_distances`; the least over the
    budgets of the ladder, :func:`best_of`), and each budget's own distortions (``cw_ladder``, one
    (n_attack,) tensor per budget of :func:`cw_budgets`, for the convergence ladder)."""

    fgsm: sweep.SweepResult
    cw_adv: torch.Tensor
    cw_dist: torch.Tensor
    cw_ladder: tuple[torch.Tensor, ...] = ()

    @property
    def cw_fooled(self) -> torch.Tensor:
        """(n_attack,) bool: correct clean and fooled by CW."""
        return torch.isfinite(self.cw_dist) & (self.cw_dist > 0)


def cw_budgets(cfg) -> list[tuple[int, int]]:
    """The CW budgets of the profile, smallest first: (binary-search steps, iterations) pairs of
    ``cw_binary_steps`` x ``cw_steps``, the rungs of the convergence ladder
    (:mod:`~lib.reports.generative_lipschitz.convergence`)."""
    return [(int(b), int(s)) for b, s in zip(cfg["cw_binary_steps"], cfg["cw_steps"])]


def cw_budget(cfg) -> tuple[int, int]:
    """The largest CW budget of the profile (the logit-scaling control's)."""
    return cw_budgets(cfg)[-1]


def cw_runs(cfg, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """CW-L2 at every budget of :func:`cw_budgets` (each run cached by :func:`cw_l2`): per budget
    ``(x_adv, distortion per image)`` (:func:`cw_distances`)."""
    out = []
    for binary_steps, steps in cw_budgets(cfg):
        x_cw = cw_l2(model, x, y, c=cfg["cw_c"], steps=steps, binary_steps=binary_steps, lr=cfg["cw_lr"])
        out.append((x_cw, cw_distances(model, x, y, x_cw)))
    return out


def best_of(runs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image the example of least distortion over several CW runs on the same images (each is
    a valid adversarial example, so the least is the attack's answer: the best restart, decided on
    the fp32 distortions of :func:`cw_distances`). ``runs``: ``(x_adv N x C x H x W, dist (N,))``
    pairs -> ``(x_adv, dist)``; ties go to the earlier run."""
    dists = torch.stack([d for _, d in runs])                       # R x N
    pick = dists.argmin(0)                                          # first of equal minima
    advs = torch.stack([a.to(runs[0][0].device) for a, _ in runs])  # R x N x C x H x W
    idx = torch.arange(dists.shape[1])
    return advs[pick.to(advs.device), idx.to(advs.device)], dists[pick, idx]


def attack_one(cfg, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tag: str) -> Attacked:
    """FGSM over the grid; CW per image at the least distortion any budget of the ladder found."""
    runs = cw_runs(cfg, model, x, y)
    x_cw, dist = best_of(runs)
    return Attacked(fgsm_sweep(cfg, model, x, y, tag), x_cw, dist, tuple(d for _, d in runs))


def attack(ctx: Context, tasks: Mapping[str, Task]) -> dict[str, Pair[Attacked]]:
    """Section V: FGSM and CW on both classifiers of each task."""
    return {role: Pair(*(attack_one(ctx.cfg, t.models[k].model, t.x_attack, t.y_attack, f"{k}-{t.dataset}")
                         for k in KINDS)) for role, t in tasks.items()}


def fgsm_eps_shown(cfg) -> float:
    """The FGSM eps of Figures 17-18 and of the claim that FGSM breaks the classifiers: the
    middle of the grid (the report gives none)."""
    grid = sorted(cfg["fgsm_eps"])
    return float(grid[len(grid) // 2])


# --------------------------------------------------------------------------- beyond the report
def budget(cfg) -> robustness.Budget:
    """The registry's strong set at this profile's budget (``pgd_steps``, ``apgd_steps``,
    ``square_queries``; one restart)."""
    return robustness.Budget(pgd_steps=cfg["pgd_steps"], restarts=1, apgd_steps=cfg["apgd_steps"],
                             square_queries=cfg["square_queries"], seed=cfg["seed"])


def strong_attacks(cfg) -> dict:
    """The study's strong L2 set (:func:`lib.robustness.strong_set`: FGM, PGD on the
    cross-entropy and on the margin, APGD-CE, APGD-DLR, which is invariant to the logits' scale,
    then the gradient-free Square, which would expose masked gradients)."""
    return robustness.strong_set("L2", budget(cfg))


def worst_case(cfg, model: nn.Module, x: torch.Tensor, y: torch.Tensor, cw: Attacked, tag: str) -> sweep.SweepResult:
    """The worst case per image over CW (the report's attack, as a sweep:
    :func:`lib.sweep.from_distances`) and :func:`strong_attacks` on the L2 grid ``l2_eps``,
    without attacking a broken image again: an image CW broke within the smallest eps is broken
    at every eps, so the strong set runs (one cached sweep, seeded inside) only on the images
    left standing there, and :func:`lib.sweep.combine` joins the two. Its ``broken_at`` is per
    image the least L2 distortion any attack needed (CW's distance, or the grid eps at which the
    strong set broke it; inf: never, 0: wrong clean)."""
    eps = sorted(float(e) for e in cfg["l2_eps"])
    parts = [sweep.from_distances(cw.cw_dist, eps, cw.cw_adv, attack="CW-L2")]
    standing = (cw.cw_dist > eps[0]).nonzero().squeeze(1)
    if not len(standing):
        return sweep.combine(parts, eps=eps)
    idx = standing.to(x.device)
    rest = sweep.cached_sweep(model, x[idx], y[idx], strong_attacks(cfg), eps, norm="2", seed=cfg["seed"],
                              name=f"{REPORT}-strong-{tag}", progress_bar=False)
    return sweep.combine([*parts, rest], positions=[None, standing], eps=eps)


def worst_cases(ctx: Context, tasks: Mapping[str, Task], attacked: Mapping[str, Pair[Attacked]]
                ) -> dict[str, Pair[sweep.SweepResult]]:
    """Section 8 of the notebook: :func:`worst_case` for both classifiers of each task."""
    return {role: Pair(*(worst_case(ctx.cfg, t.models[k].model, t.x_attack, t.y_attack, attacked[role][k],
                                    f"{k}-{t.dataset}") for k in KINDS)) for role, t in tasks.items()}


def robust_at(result: sweep.SweepResult, eps: float) -> torch.Tensor:
    """Per image (N,) robust at ``eps`` (one of the sweep's grid)."""
    return result.robust[:, result.eps.index(float(eps))]


@dataclass
class Control:
    """The logit-scaling control on one task's plain classifier: its logits divided by
    ``temperature`` (``same_decisions``: every decision unchanged), attacked by CW with a fixed
    c (``control_c``, one run of ``control_steps``) and with the binary search, each on the
    plain and the scaled model; per image the distortion needed (:func:`cw_distances`)."""

    role: str
    temperature: float
    same_decisions: bool
    fixed_plain: torch.Tensor
    fixed_scaled: torch.Tensor
    search_plain: torch.Tensor
    search_scaled: torch.Tensor

    def rows(self) -> list[tuple[str, str, torch.Tensor]]:
        """(model, CW mode, distances) for each of the four runs."""
        scaled = f"plain / {self.temperature:g}"
        return [("plain", "fixed c", self.fixed_plain), (scaled, "fixed c", self.fixed_scaled),
                ("plain", "binary search", self.search_plain), (scaled, "binary search", self.search_scaled)]


def logit_scaling_control(ctx: Context, tasks: Mapping[str, Task], role: str = "fashion_mnist") -> Control:
    """Dividing the logits by ``control_temperature`` changes no decision; does the noise CW
    needs change? Fixed c (``control_c``, one search step of ``control_steps``) against the
    binary search (the ``cw_*`` settings), each on the plain model and the scaled one."""
    cfg, task = ctx.cfg, tasks[role]
    model, x, y = task.models.plain.model, task.x_attack, task.y_attack
    scaled = lip.ScaledLogits(model, cfg["control_temperature"]).eval()
    dist = {}
    for name, m in (("plain", model), ("scaled", scaled)):
        for mode, (c, bs, steps) in (("fixed", (cfg["control_c"], 1, cfg["control_steps"])),
                                     ("search", (cfg["cw_c"], *cw_budget(cfg)))):
            x_adv = cw_l2(m, x, y, c=c, steps=steps, binary_steps=bs, lr=cfg["cw_lr"])
            dist[f"{mode}_{name}"] = cw_distances(m, x, y, x_adv)
    return Control(role=role, temperature=float(cfg["control_temperature"]),
                   same_decisions=bool((predict(model, x) == predict(scaled, x)).all()), **dist)


# --------------------------------------------------------------------------- the certificate check
def certificate_violations(x: torch.Tensor, radius: torch.Tensor,
                           examples: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> pd.DataFrame:
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


def certificate_check(task: Task, cert: Certificate, cw: Attacked, worst: sweep.SweepResult) -> pd.DataFrame:
    """:func:`certificate_violations` of the Lipschitz classifier's CW examples and of the
    examples of its worst case (per image the first example any attack found)."""
    fooled_worst = torch.tensor([b not in (None, sweep.CLEAN) for b in worst.broken_by], dtype=torch.bool)
    x = task.x_attack
    return certificate_violations(x, cert.radius[:task.n_attack],
                                  {"CW": (cw.cw_adv, cw.cw_fooled),
                                   "worst case (every attack)": (worst.x_adv.to(x.device), fooled_worst)})
