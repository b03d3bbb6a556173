"""torchattacks' AutoAttack components behind the study's signature ``attack(model, x, y, eps, norm)``.

The reference implementations (``torchattacks`` 3.5, ported from Croce and Hein's
``auto-attack``) of

- :func:`apgd`   APGD with cross-entropy or DLR loss (Croce and Hein 2020, ICML, sections 3-4),
- :func:`apgdt`  targeted APGD on the targeted DLR loss, one run per target class (ibid., section 4),
- :func:`fab`    FAB, the fast adaptive boundary attack (Croce and Hein 2020, ICML, "Minimally
                 distorted adversarial examples ..."), untargeted or FAB-T,
- :func:`square` the Square attack, a score-based random search that needs no gradient
                 (Andriushchenko et al. 2020, ECCV), as used in AutoAttack,

each as a plain function: ``model`` maps images N x C x H x W in [0, 1] to logits (it
normalises inside, so torchattacks' own normalisation stays off), ``eps`` is in pixel
units, ``norm`` is ``"inf"`` or ``"2"`` (``"Linf"`` / ``"L2"`` there). Returned images are
detached, in [0, 1] and inside the eps-ball (re-projected against float round-off). Like
AutoAttack, these attacks return the *clean* image wherever they found no adversarial
example. Defaults follow AutoAttack's "standard" version (100 steps, 1 restart, 5000 queries),
which runs APGD-CE, APGD-T (9 target classes), FAB-T (``fab(targeted=True)``) and Square.

In low precision (:mod:`lib.precision`) torchattacks is given the model under autocast, with
fp32 logits; its internal choices rest on them, and every caller scores the result in fp32.

Around every call the wrappers keep the caller's state intact: the model is attacked in
eval mode and every submodule's training flag is restored afterwards; torchattacks seeds
torch's global generator from ``seed`` (so a call is deterministic), and the caller's
generator state is restored afterwards.

Defenses with a reject option (K + 1 logits, the last one "rejected") are attacked with
``reject=True``: for the attacker a rejected input is not a success, so it must look to
torchattacks like the true class. :func:`fold_reject` replaces the true class's logit by
``max(z_y, z_reject)`` and drops the reject logit; then ``argmax != y`` (torchattacks'
success test, and the goal of every loss it uses) holds exactly when the defense outputs a
wrong label *and* does not reject. The fold needs the true label at forward time, and
torchattacks calls the model on shrinking subsets of the batch (only images not yet
fooled), so a module closing over the batch's labels would misalign; instead the batch is
split by true class and each class is attacked through :func:`reject_as_correct` for that
class, a module whose fold does not depend on which images it sees.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from lib import precision
from lib.attacks.gradient import check_inputs, project

_TA_NORM = {"inf": "Linf", "2": "L2"}


def _torchattacks():
    # Imported on first use: it pulls in torchvision (~1 s), which `import lib.attacks` avoids.
    import torchattacks

    return torchattacks


# --------------------------------------------------------------------------- reject option
def fold_reject(logits: torch.Tensor, label) -> torch.Tensor:
    """K + 1 logits (last = rejected) -> K logits with the reject logit folded into ``label``.

    ``label`` is one class (int) or one per row (N,). Row i becomes ``z_j`` for ``j != label_i``
    and ``max(z_label_i, z_reject)`` for the label, so ``argmax != label`` exactly when the
    defense's output is neither the label nor "rejected". Differentiable (a.e.).
    """
    z, reject = logits[:, :-1], logits[:, -1:]
    if isinstance(label, torch.Tensor):
        idx = label.reshape(-1, 1).to(device=logits.device, dtype=torch.long)
    else:
        idx = torch.full((len(logits), 1), int(label), dtype=torch.long, device=logits.device)
    folded = torch.maximum(z.gather(1, idx), reject)
    return z.scatter(1, idx, folded)


class RejectAsCorrect(nn.Module):
    """``model`` (K + 1 logits, last = reject) seen as a K-class model for images of true class
    ``label``: a rejection counts as answering ``label``. See :func:`fold_reject`."""

    def __init__(self, model, label: int):
        super().__init__()
        self.model, self.label = model, int(label)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold_reject(self.model(x), self.label)


def reject_as_correct(model, label: int) -> RejectAsCorrect:
    """The K-logit adapter of a reject-option ``model`` for a batch whose true class is
    ``label`` (all of it: one adapter per class, so any subset of the batch stays valid)."""
    return RejectAsCorrect(model, label)


# --------------------------------------------------------------------------- plumbing
class _Target(nn.Module):
    """What torchattacks is given: the model as an ``nn.Module`` whose first parameter sits
    on the images' device (torchattacks reads its device from ``next(model.parameters())``,
    and a plain callable has none)."""

    def __init__(self, model, device: torch.device):
        super().__init__()
        self.anchor = nn.Parameter(torch.empty(0, device=device), requires_grad=False)
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _training_flags(model) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []


def _cuda_devices(x: torch.Tensor) -> list[int]:
    if not torch.cuda.is_available():
        return []
    devices = {torch.cuda.current_device()}
    if x.is_cuda and x.device.index is not None:
        devices.add(x.device.index)
    return sorted(devices)


def _check_counts(**values) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")


def _run(build, model, x: torch.Tensor, y: torch.Tensor, eps: float, norm, reject: bool,
         min_classes: int = 2, gradient_free: bool = False) -> torch.Tensor:
    """Check inputs, then run ``build(target_module, ta_norm, n_classes) -> torchattacks.Attack``
    on the batch (per true class with ``reject``), keeping the caller's RNG and training flags."""
    norm = check_inputs(x, eps, norm, y)
    x, y = x.detach(), y.detach()
    if eps == 0:
        return x.clone()
    flags = _training_flags(model)
    # torchattacks sees the model through the precision policy (fp32 logits computed under
    # autocast); its result is scored again in fp32 by every caller (lib.sweep, lib.evaluate),
    # so a success that holds only in low precision is never counted.
    model = precision.wrap(model)
    grad_mode = torch.no_grad() if gradient_free else torch.enable_grad()
    try:
        with torch.random.fork_rng(devices=_cuda_devices(x)), grad_mode:
            if not reject:
                groups = [(torch.arange(len(y), device=y.device), model)]
            else:
                groups = [((y == c).nonzero().squeeze(1), reject_as_correct(model, c))
                          for c in torch.unique(y).tolist()]
            out = torch.empty_like(x)
            for idx, net in groups:
                target = _Target(net, x.device).eval()
                with torch.no_grad():
                    k = target(x[idx[:1]]).shape[1]
                if k < min_classes:
                    raise ValueError(f"this attack needs at least {min_classes} classes, the model has {k}")
                out[idx] = build(target, _TA_NORM[norm], k)(x[idx], y[idx]).to(x.dtype)
    finally:
        for m, flag in flags:
            m.train(flag)
    # torchattacks clamps to x +- eps but not against float round-off; our contract is exact.
    return (x + project(out.detach() - x, eps, norm)).clamp(0, 1)


def _targets(n_target_classes: int | None, k: int) -> int:
    if n_target_classes is None:
        return k - 1
    if not 1 <= n_target_classes <= k - 1:
        raise ValueError(f"n_target_classes must be in [1, {k - 1}] for {k} classes, got {n_target_classes}")
    return n_target_classes


# --------------------------------------------------------------------------- attacks
def apgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf", steps: int = 100,
         restarts: int = 1, *, loss: str = "ce", rho: float = 0.75, eot: int = 1, seed: int = 0,
         reject: bool = False) -> torch.Tensor:
    """Auto-PGD (Croce and Hein 2020, ICML, Algorithm 1): PGD with momentum and a step size
    halved whenever progress stalls (checkpoints at 22% of the steps and after, ``rho``
    the success ratio below which it halves); no step size to tune.

    ``loss``: ``"ce"`` (cross-entropy, APGD-CE) or ``"dlr"`` (difference of logits ratio,
    section 4, invariant to rescaling of the logits; needs >= 3 classes). ``restarts``
    random starts, each run only on the images still classified correctly. ``eot``: gradient
    averaged over that many forward passes (randomised defenses). Defaults: AutoAttack's
    standard APGD-CE (100 steps, 1 restart).
    """
    if loss not in ("ce", "dlr"):
        raise ValueError(f"loss must be 'ce' or 'dlr', got {loss!r}")
    _check_counts(steps=steps, restarts=restarts, eot=eot)
    build = lambda net, ta_norm, k: _torchattacks().APGD(
        net, norm=ta_norm, eps=eps, steps=steps, n_restarts=restarts, seed=seed, loss=loss,
        eot_iter=eot, rho=rho)
    return _run(build, model, x, y, eps, norm, reject, min_classes=3 if loss == "dlr" else 2)


def apgdt(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf", steps: int = 100,
          restarts: int = 1, *, n_target_classes: int | None = None, rho: float = 0.75, eot: int = 1,
          seed: int = 0, reject: bool = False) -> torch.Tensor:
    """Targeted APGD on the targeted DLR loss (Croce and Hein 2020, ICML, section 4; APGD-T in
    AutoAttack), still an *untargeted* evaluation: for each of the ``n_target_classes``
    most likely wrong classes (default: all K - 1; AutoAttack uses 9) one targeted run on the
    images not yet fooled. Costs ``n_target_classes`` times :func:`apgd`. Needs >= 4 classes.
    """
    _check_counts(steps=steps, restarts=restarts, eot=eot)
    build = lambda net, ta_norm, k: _torchattacks().APGDT(
        net, norm=ta_norm, eps=eps, steps=steps, n_restarts=restarts, seed=seed, eot_iter=eot,
        rho=rho, n_classes=_targets(n_target_classes, k) + 1)
    return _run(build, model, x, y, eps, norm, reject, min_classes=4)


def fab(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf", steps: int = 100,
        restarts: int = 1, *, targeted: bool = False, n_target_classes: int | None = None,
        alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9, seed: int = 0,
        reject: bool = False) -> torch.Tensor:
    """FAB, the fast adaptive boundary attack (Croce and Hein 2020, ICML, Algorithm 1): steps
    towards the projection onto the linearised decision boundary, biased back to ``x``, so it
    finds *small* adversarial examples; one inside the eps-ball counts, others are dropped.

    Untargeted FAB takes the gradients of all K logits per step (K backward passes);
    ``targeted=True`` is FAB-T as in AutoAttack, one run per each of the ``n_target_classes``
    most likely wrong classes (default all K - 1). ``alpha_max``, ``eta`` (overshoot),
    ``beta`` (backward step): the paper's defaults. Restarts after the first start at random.
    """
    _check_counts(steps=steps, restarts=restarts)
    build = lambda net, ta_norm, k: _torchattacks().FAB(
        net, norm=ta_norm, eps=eps, steps=steps, n_restarts=restarts, alpha_max=alpha_max, eta=eta,
        beta=beta, seed=seed, multi_targeted=targeted, n_classes=_targets(n_target_classes, k) + 1)
    return _run(build, model, x, y, eps, norm, reject)


def square(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
           n_queries: int = 5000, restarts: int = 1, *, p_init: float = 0.8, loss: str = "margin",
           seed: int = 0, reject: bool = False) -> torch.Tensor:
    """Square attack (Andriushchenko et al. 2020, ECCV, Algorithms 1-3), as in AutoAttack: a
    random search that changes one square window per query, on the vertices of the ball,
    and keeps it when the margin loss falls; window size from ``p_init`` on a fixed schedule.

    Needs only the model's scores, never a gradient: it runs under ``torch.no_grad``, so it
    also attacks non-differentiable or gradient-masking defenses (the check that gradient
    attacks are not just blind). ``n_queries`` per image and restart (AutoAttack: 5000);
    ``loss``: ``"margin"`` or ``"ce"``.
    """
    if loss not in ("margin", "ce"):
        raise ValueError(f"loss must be 'margin' or 'ce', got {loss!r}")
    _check_counts(n_queries=n_queries, restarts=restarts)
    if not 0 < p_init <= 1:
        raise ValueError(f"p_init must be in (0, 1], got {p_init!r}")
    build = lambda net, ta_norm, k: _torchattacks().Square(
        net, norm=ta_norm, eps=eps, n_queries=n_queries, n_restarts=restarts, p_init=p_init,
        loss=loss, seed=seed)
    return _run(build, model, x, y, eps, norm, reject, gradient_free=True)


EXTERNAL = {
    "apgd_ce": apgd,
    "apgd_dlr": functools.partial(apgd, loss="dlr"),
    "apgd_t": apgdt,
    "fab": fab,
    "fab_t": functools.partial(fab, targeted=True),
    "square": square,
}
