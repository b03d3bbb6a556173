"""Carlini-Wagner L2 (Carlini & Wagner 2017): a minimal-perturbation attack with no eps."""
from __future__ import annotations

import math

import torch

from lib import precision
from lib.attacks.gradient import Model, _check_positive, check_inputs
from lib.attacks.losses import margin

#: Carlini and Wagner's own settings (2017, section 6: 9 binary-search steps over c from
#: 1e-3, up to 10,000 iterations with early abort; 1000 is the common budget, e.g. Foolbox and
#: torchattacks examples). The function's defaults are a cheap version for tests and smoke
#: runs; a paper profile passes these.
CW_PAPER = dict(c=1e-3, steps=1000, binary_search_steps=9, lr=0.01)


def cw_l2(model: Model, x: torch.Tensor, y: torch.Tensor, c: float = 1.0, kappa: float = 0.0,
          steps: int = 100, lr: float = 0.01, binary_search_steps: int = 1, *,
          targeted: bool = False, abort_early: bool = True) -> torch.Tensor:
    """Carlini-Wagner L2 attack (Carlini & Wagner 2017), batched.

    Minimises ``||x' - x||_2^2 + c * max(Z_y - max_{j!=y} Z_j, -kappa)`` over
    ``x' = (tanh(w) + 1) / 2`` (box constraint by change of variables) with Adam.
    ``binary_search_steps > 1`` searches ``c`` per image: down after a success,
    up (x10 until bounded) after a failure. Returns, per image, the successful
    adversarial example of least L2 distortion found, or ``x`` itself where none
    was found; unbounded, so there is no eps.

    In low precision (:mod:`lib.precision`) the optimisation runs under autocast, but an
    iterate replaces the kept example only after the model confirms it in fp32, and every
    distance is an fp32 norm. The search over ``c`` may be steered by a low-precision success
    (it only chooses where to look); what is returned and measured is fp32-verified.
    """
    check_inputs(x, 0.0, "2", y)
    _check_positive(c=c, lr=lr)
    if not (isinstance(kappa, (int, float)) and math.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"kappa must be a finite number >= 0, got {kappa!r}")
    if steps < 1 or binary_search_steps < 1:
        raise ValueError("cw_l2 needs steps >= 1 and binary_search_steps >= 1")
    x = x.detach()
    n = x.shape[0]
    # Shrink slightly so atanh stays finite for pixels at exactly 0 or 1.
    w0 = torch.atanh((2 * x - 1) * (1 - 1e-6))
    const = torch.full((n,), float(c), device=x.device, dtype=x.dtype)
    lower = torch.zeros_like(const)
    upper = torch.full_like(const, 1e10)
    best_dist = torch.full_like(const, float("inf"))
    best = x.clone()

    fast = precision.wrap(model)

    def succeeds(f: torch.Tensor) -> torch.Tensor:
        return (-f < -kappa) if kappa > 0 else (f > 0)

    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        succeeded = torch.zeros(n, dtype=torch.bool, device=x.device)
        prev = float("inf")
        for step in range(steps):
            with torch.enable_grad():
                x_adv = (torch.tanh(w) + 1) / 2
                dist = (x_adv - x).flatten(1).pow(2).sum(1)
                logits = fast(x_adv)
                m = margin(logits, y)  # > 0 means misclassified (untargeted)
                f = (-m if targeted else m)
                objective = dist + const * (-f).clamp(min=-kappa)
                total = objective.sum()
                opt.zero_grad()
                total.backward()
            opt.step()
            with torch.no_grad():
                success = succeeds(f)
                improved = success & (dist < best_dist)
                if fast is not model and improved.any():
                    # Keep only what the fp32 model confirms (a candidate is re-scored once).
                    idx = improved.nonzero().squeeze(1)
                    m32 = margin(model(x_adv[idx].detach()), y[idx])
                    improved = improved.index_put((idx,), succeeds(-m32 if targeted else m32))
                best_dist = torch.where(improved, dist, best_dist)
                best[improved] = x_adv.detach()[improved]
                succeeded |= success
            # Stop when the objective has stalled (CW 2017 checks every tenth of the run).
            if abort_early and step % max(steps // 10, 1) == 0:
                if total.item() > prev * 0.9999:
                    break
                prev = total.item()
        with torch.no_grad():
            upper = torch.where(succeeded, torch.minimum(upper, const), upper)
            lower = torch.where(succeeded, lower, torch.maximum(lower, const))
            bounded = upper < 1e9
            const = torch.where(bounded, (lower + upper) / 2,
                                torch.where(succeeded, const, const * 10))
    return best.detach()
