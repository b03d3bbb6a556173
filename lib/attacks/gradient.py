"""White-box evasion attacks on any differentiable callable ``images -> logits``.

Every attack takes ``model``: a callable from ``x`` (N x C x H x W, values in
[0, 1]) to logits (N x K), so a whole defended pipeline (purifier + classifier,
noise layers, nearest-neighbour heads) is attacked exactly like a plain model.
``eps`` is in pixel units. Returned images are detached, in [0, 1] and, except
for Carlini-Wagner, inside the eps-ball of ``x`` in the chosen norm.

Gradient attacks share one loop (as in MadryLab's ``robustness``): a step in
the steepest-ascent direction of the norm, then a projection onto the eps-ball
and the [0, 1] box; FGSM is one full step from ``x``, BIM many small steps
from ``x``, PGD many steps from a random point of the ball.

Losses are per-sample, ``loss(logits, y) -> (N,)``, and are *maximised*
(untargeted) or *minimised* (targeted, ``y`` is then the target class).

Precision (:mod:`lib.precision`): gradients are taken through the model under the current
policy (bf16 autocast and ``channels_last`` where the hardware computes bf16 natively), but
every decision is made by the model in fp32: which restart wins, and, with
``stop_when_fooled``, whether an iterate fools the model. An iterate that fools the model only
in low precision is not frozen; the attack goes on with it.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch

from lib import precision
from lib.attacks.losses import ce_loss

Model = Callable[[torch.Tensor], torch.Tensor]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

NORMS = ("inf", "2")
_TINY = 1e-30


# --------------------------------------------------------------------------- geometry
def parse_norm(norm) -> str:
    """``"inf"`` / ``"linf"`` / ``float("inf")`` -> ``"inf"``; ``"2"`` / ``"l2"`` / ``2`` -> ``"2"``."""
    if isinstance(norm, (int, float)) and not isinstance(norm, bool):
        norm = "inf" if math.isinf(norm) else f"{norm:g}"
    norm = str(norm).lower().removeprefix("l")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS} (or 'linf' / 'l2'), got {norm!r}")
    return norm


def check_inputs(x: torch.Tensor, eps: float, norm: str, y: torch.Tensor | None = None) -> str:
    """Refuse what no attack can mean, before any gradient is taken; return the norm's name.

    ``x`` must be a non-empty N x C x H x W batch of finite values in [0, 1], ``y`` (if given)
    N labels, ``eps`` a finite number >= 0.
    """
    norm = parse_norm(norm)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"images must be an N x C x H x W tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.shape[0] == 0:
        raise ValueError("the batch is empty: nothing to attack")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or infinite pixels")
    if x.min() < 0 or x.max() > 1:
        raise ValueError("images must be in [0, 1]; models normalise internally")
    if y is not None and (y.dim() != 1 or len(y) != len(x)):
        raise ValueError(f"need one label per image: {len(x)} images, labels of shape {tuple(y.shape)}")
    return norm


def _check_positive(**values) -> None:
    for name, v in values.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm per sample, shaped N x 1 x 1 x 1 for broadcasting."""
    return t.flatten(1).norm(p=2, dim=1).view(-1, 1, 1, 1)


def _ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Unit steepest-ascent direction: sign for L-inf, normalised gradient for L2."""
    if norm == "inf":
        return grad.sign()
    # Only a floor against 0/0: confident images have gradients of 1e-10 and below, and an
    # additive 1e-10 (torchattacks' default) would shrink their steps.
    return grad / _flat_norm(grad).clamp_min(1e-30)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project perturbations onto the eps-ball of the norm (per sample)."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    factor = (eps / (_flat_norm(delta) + _TINY)).clamp(max=1.0)
    return delta * factor


def random_start(x: torch.Tensor, eps: float, norm: str, generator=None) -> torch.Tensor:
    """A uniform random point of the eps-ball (L-inf: per pixel; L2: radius ~ U(0, eps))."""
    if norm == "inf":
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (2 * u - 1) * eps
    d = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    r = torch.rand((x.shape[0], 1, 1, 1), generator=generator, dtype=x.dtype).to(x.device)
    return d / (_flat_norm(d) + _TINY) * r * eps


def _objective(model: Model, x: torch.Tensor, y: torch.Tensor, loss: Loss, targeted: bool):
    """Per-sample value to ascend and the logits it came from."""
    logits = model(x)
    value = loss(logits, y)
    return (-value if targeted else value), logits


def _gradient(model, x, y, loss, targeted, eot: int = 1, with_logits: bool = False):
    """Gradient of the summed objective; with ``eot > 1``, averaged over that many forward
    passes, i.e. expectation over transformation (Athalye et al. 2018) for random models.
    ``with_logits=True`` also returns the (last pass's) logits at ``x``, detached."""
    if eot < 1:
        raise ValueError(f"eot must be >= 1, got {eot}")
    x = x.detach().requires_grad_(True)
    grad = torch.zeros_like(x)
    with torch.enable_grad():
        for _ in range(eot):
            value, logits = _objective(model, x, y, loss, targeted)
            grad += torch.autograd.grad(value.sum(), x)[0]
    return (grad / eot, logits.detach()) if with_logits else grad / eot


def _fooled(logits: torch.Tensor, y: torch.Tensor, targeted: bool, success) -> torch.Tensor:
    if success is not None:
        return success(logits, y)
    return (logits.argmax(1) == y) if targeted else (logits.argmax(1) != y)


def _fooled_fp32(model: Model, fast: Model, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor,
                 targeted: bool, success) -> torch.Tensor:
    """Which of ``x`` fool ``model`` in fp32, given ``logits`` the gradient pass computed (through
    ``fast``, perhaps in low precision). Only the images those logits call fooled are checked
    again, by the model itself in fp32, so the check costs a forward pass on the few candidates;
    an image that fools only the low-precision pass is not counted. (N,) bool."""
    hit = _fooled(logits, y, targeted, success)
    if fast is model or not hit.any():
        return hit
    idx = hit.nonzero().squeeze(1)
    with torch.no_grad():
        confirmed = _fooled(model(x[idx]), y[idx], targeted, success)
    return hit.index_put((idx,), confirmed)


# --------------------------------------------------------------------------- attacks
def fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf", *,
         loss: Loss = ce_loss, targeted: bool = False, eot: int = 1) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015); ``norm="2"`` is the fast gradient method.

    ``x_adv = clip_[0,1](x + eps * d)`` with ``d = sign(grad)`` (L-inf) or ``grad / ||grad||_2`` (L2).
    This is report 002, eq. (2), and report 001, section 2.3.1.
    """
    norm = check_inputs(x, eps, norm, y)
    grad = _gradient(precision.wrap(model), x, y, loss, targeted, eot)
    delta = project(eps * _ascent_direction(grad, norm), eps, norm)
    return (x + delta).clamp(0, 1).detach()


def pgd(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
        steps: int = 10, step_size: float | None = None, random_start: bool = True,
        restarts: int = 1, *, loss: Loss = ce_loss, targeted: bool = False, eot: int = 1,
        generator: torch.Generator | None = None,
        success: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        stop_when_fooled: bool = False) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018; report 002, eq. (3)).

    Each step: ``x_t+1 = Proj_{B(x, eps) & [0,1]}(x_t + step_size * d(grad))``.
    ``step_size`` defaults to ``2.5 * eps / steps`` (Madry et al.), so a run can
    cross the whole ball. With ``restarts > 1`` each image keeps the restart with
    the highest loss (the one that fools the model, if any does). ``eot`` averages each
    gradient over that many forward passes, for models with randomness inside.
    ``success(logits, y) -> (N,) bool`` says which restarts count as fooling the model
    (default: ``argmax != y``, or ``== y`` when targeted); a defense with a "reject"
    output needs its own rule.

    ``stop_when_fooled=True`` (for evaluation, not for adversarial training): an image whose
    iterate already fools the model is frozen at that iterate and leaves the batch, so later
    steps cost only the images still standing. The check reuses the logits each gradient
    step computes anyway; an image counted as broken stays broken, and later restarts skip
    it (so the kept example is the first that fooled the model). Needs ``eot == 1`` (with
    a random model, one draw's verdict is not the model's).
    """
    norm = check_inputs(x, eps, norm, y)
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got {steps}, {restarts}")
    _check_positive(step_size=step_size)
    if stop_when_fooled and eot != 1:
        raise ValueError("stop_when_fooled needs eot == 1: one noisy draw cannot say an image is fooled")
    if step_size is None:
        step_size = 2.5 * eps / steps
    x = x.detach()
    fast = precision.wrap(model)
    best, best_value = x.clone(), None
    done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        x_adv = _start(x, eps, norm, random_start, generator)
        # With stop_when_fooled a later restart runs only on the images no earlier one fooled.
        active = (~done).nonzero().squeeze(1) if stop_when_fooled else torch.arange(len(x), device=x.device)
        for _ in range(steps):
            xa, ya, x0 = x_adv[active], y[active], x[active]
            grad, logits = _gradient(fast, xa, ya, loss, targeted, eot, with_logits=True)
            if stop_when_fooled:
                standing = ~_fooled_fp32(model, fast, xa, logits, ya, targeted, success)
                active, xa, x0, grad = active[standing], xa[standing], x0[standing], grad[standing]
                if len(active) == 0:
                    break
            xa = xa + step_size * _ascent_direction(grad, norm)
            x_adv = x_adv.index_copy(0, active, (x0 + project(xa - x0, eps, norm)).clamp(0, 1))
        if restarts == 1:
            return x_adv.detach()
        with torch.no_grad():
            value, logits = _objective(model, x_adv, y, loss, targeted)
            # A restart that flips the decision beats any that does not, then higher loss wins.
            fooled = _fooled(logits, y, targeted, success)
            score = value + fooled.to(value.dtype) * 1e6
            done |= fooled
        if best_value is None:
            best, best_value = x_adv, score
        else:
            better = score > best_value
            best = torch.where(better.view(-1, 1, 1, 1), x_adv, best)
            best_value = torch.where(better, score, best_value)
    return best.detach()


def _start(x, eps, norm, rand: bool, generator) -> torch.Tensor:
    if not rand:
        return x.clone()
    return (x + random_start(x, eps, norm, generator)).clamp(0, 1)


def bim(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
        steps: int = 10, step_size: float | None = None, *, loss: Loss = ce_loss,
        targeted: bool = False, eot: int = 1,
        success: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        stop_when_fooled: bool = False) -> torch.Tensor:
    """Basic iterative method / I-FGSM (Kurakin et al. 2017; report 001, section 2.3.2).

    PGD without the random start: iterated FGSM steps from ``x``, each clipped to the
    eps-ball and [0, 1]. ``step_size`` defaults to ``2.5 * eps / steps``; ``success`` and
    ``stop_when_fooled`` as in :func:`pgd`.
    """
    return pgd(model, x, y, eps, norm, steps, step_size, random_start=False,
               loss=loss, targeted=targeted, eot=eot, success=success, stop_when_fooled=stop_when_fooled)


def for_scoring(attack: Callable, success=None) -> Callable:
    """``attack`` as an evaluation runs it, which only asks *whether* an image breaks: an
    iterative attack of this module (a ``functools.partial`` of :func:`pgd` or :func:`bim`, or
    the function itself) stops iterating on an image at its first iterate that fools the model
    (``stop_when_fooled``, judged by ``success`` when given), unless the caller set
    ``stop_when_fooled`` or needs ``eot > 1``. That is never weaker per image (a fooling iterate
    is kept instead of being stepped past) and costs only the images still standing. Any other
    attack is returned as it is."""
    func = getattr(attack, "func", attack)
    kw = dict(getattr(attack, "keywords", None) or {})
    if func not in (pgd, bim) or "stop_when_fooled" in kw or kw.get("eot", 1) != 1:
        return attack
    extra = {"stop_when_fooled": True}
    if success is not None and "success" not in kw and not kw.get("targeted", False):
        extra["success"] = success
    return functools.partial(attack, **extra)
