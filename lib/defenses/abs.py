"""Analysis by synthesis (ABS, Schott et al. 2019, "Towards the first adversarially robust
neural network model on MNIST", section 3) as a module from images to K logits.

For an image x (D = 3 x 32 x 32 values in [0, 1]) and each class c, ABS approximates
log p(x | c) by the best variational bound of class c's VAE decoder G_c over latents z:

    l_c(x) = min_z  ( ||x - G_c(z)||^2 + beta * 0.5 * ||z||^2 ) / D          (paper eq. 3-4)

(the KL term of a posterior with unit variance is 0.5 ||z||^2). The minimum is found as the
original code does (bethgelab/AnalysisBySynthesis, ``abs_models/inference.py``):

1. ``n_prototypes`` latents drawn once from N(0, I) (``n / (1 - dismiss)`` draws, the
   ``dismiss`` share of least likely ones, the largest norms, dropped), shared by every
   class; each is decoded *once per class* (they do not depend on x) and the best per
   (image, class) is taken by the bound above;
2. ``steps`` Adam steps (lr ``lr``) on all N x K latents at once, after each step
   projecting z onto the ball ||z|| <= ``clip`` (the original's ``clip_to_sphere`` loses
   the sign of each coordinate, ``sqrt(z^2 ...)``; we project properly);
3. logits = ``-logit_scale * l_c(x)``, so ``softmax`` is the original's scaled confidence.

The inner minimisation is what an attacker must differentiate through. Two ways:

- ``mode="danskin"``: Danskin's theorem: at the optimum z*, ``d l_c / d x = 2 (x - G_c(z*)) / D``
  exactly, since the bound is stationary in z there. The forward pass runs the inner
  optimisation without a graph, then recomputes the bound at the detached z*, which is
  differentiable in x with exactly that gradient; cheap, and exact at a true optimum.
- ``mode="unrolled"``: backpropagation through all ``steps`` Adam updates (each step's
  gradient built with ``create_graph``); costly, but exact for the function ABS computes
  when the inner loop has not converged. The prototype choice is piecewise constant in x.

Images N x 3 x 32 x 32 in [0, 1] -> logits N x K; ``forward`` works under ``no_grad`` too.

Precision (:mod:`lib.precision`): the inner Adam steps decode under the current policy's
autocast (bf16 where the hardware computes it natively), which is where inference spends its
time; the choice of prototypes (a difference of large sums over D = 3072 values, which bf16
would cancel away) and the final bound, i.e. the logits every decision is made on, are fp32.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lib import precision
from lib.models.generative.abs_vae import ClassVAEs

MODES = ("danskin", "unrolled")
_BETAS, _ADAM_EPS = (0.9, 0.999), 1e-8   # torch.optim.Adam's defaults, as the original used


def draw_prototypes(n: int, latent: int, dismiss: float = 0.1, seed: int = 0) -> torch.Tensor:
    """``n`` latents (n, latent): the most likely n of ``ceil(n / (1 - dismiss))`` N(0, I) draws."""
    if n < 1 or not 0 <= dismiss < 1:
        raise ValueError(f"need n >= 1 and 0 <= dismiss < 1, got {n}, {dismiss}")
    z = torch.randn(math.ceil(n / (1 - dismiss)), latent, generator=torch.Generator().manual_seed(seed))
    return z[z.norm(dim=1).argsort()[:n]].contiguous()


def project_ball(z: torch.Tensor, radius: float) -> torch.Tensor:
    """z (..., latent) scaled onto ||z|| <= radius along its last axis (differentiable)."""
    return z * (radius / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)


def prototype_bounds(x: torch.Tensor, recs: torch.Tensor, recs_sq: torch.Tensor, z_sq: torch.Tensor,
                     beta: float) -> torch.Tensor:
    """Bound (unnormalised by D) of every prototype for every image and class.

    x: (N, D) images; recs: (K, M, D) decoded prototypes; recs_sq: (K, M) their squared norms;
    z_sq: (M,) squared latent norms -> (N, K, M) ``||x - G_k(p_m)||^2 + beta 0.5 ||p_m||^2``
    (expanded as ``||x||^2 - 2 x.G + ||G||^2``: one matrix product instead of N x K x M x D)."""
    cross = torch.einsum("nd,kmd->nkm", x, recs)
    return (x * x).sum(1)[:, None, None] - 2 * cross + recs_sq[None] + 0.5 * beta * z_sq[None, None]


def latent_adam(z0: torch.Tensor, objective, steps: int, lr: float, clip: float,
                create_graph: bool = False) -> torch.Tensor:
    """``steps`` Adam steps minimising ``objective(z).sum()`` from z0, each followed by the
    projection onto ||z|| <= clip; the same update as ``torch.optim.Adam`` (the tests check
    it), written out so that it can be differentiated (``create_graph``). Every entry of
    the sum depends on its own latent only, so a batch of latents is optimised exactly as
    each would be alone."""
    b1, b2 = _BETAS
    z = z0 if create_graph else z0.detach().requires_grad_(True)
    m, v = torch.zeros_like(z0), torch.zeros_like(z0)
    for t in range(1, steps + 1):
        if not create_graph:
            z = z.detach().requires_grad_(True)
        elif not z.requires_grad:
            z = z.requires_grad_(True)
        g = torch.autograd.grad(objective(z).sum(), z, create_graph=create_graph)[0]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step = lr / (1 - b1 ** t) * m / ((v / (1 - b2 ** t)).sqrt() + _ADAM_EPS)
        z = project_ball(z - step, clip)
    return z if create_graph else z.detach()


class ABS(nn.Module):
    """The ABS classifier over trained :class:`~lib.models.generative.abs_vae.ClassVAEs`.

    Defaults are the original's (8000 prototypes, 10 % dismissed, 50 Adam steps at lr 0.05,
    ||z|| <= 5, beta 1, logit scale 440). ``chunk``: images per inner batch (memory only).
    """

    def __init__(self, vaes: ClassVAEs, n_prototypes: int = 8000, steps: int = 50, lr: float = 0.05,
                 clip: float = 5.0, beta: float = 1.0, logit_scale: float = 440.0, dismiss: float = 0.1,
                 mode: str = "danskin", seed: int = 0, chunk: int = 256):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if steps < 0 or chunk < 1 or not (lr > 0 and clip > 0 and beta >= 0 and logit_scale > 0):
            raise ValueError("need steps >= 0, chunk >= 1, lr > 0, clip > 0, beta >= 0, logit_scale > 0")
        self.vaes = vaes.eval()
        for p in self.vaes.parameters():
            p.requires_grad_(False)
        self.steps, self.lr, self.clip, self.beta = int(steps), float(lr), float(clip), float(beta)
        self.logit_scale, self.dismiss, self.mode, self.seed = float(logit_scale), float(dismiss), mode, int(seed)
        self.chunk = int(chunk)
        protos = project_ball(draw_prototypes(n_prototypes, vaes.latent, dismiss, seed), self.clip)
        self.register_buffer("prototypes", protos)
        self._decoded: tuple | None = None

    def extra_repr(self) -> str:   # enters cache keys (lib.cache.architecture), so every setting is here
        return (f"n_prototypes={len(self.prototypes)}, steps={self.steps}, lr={self.lr}, clip={self.clip}, "
                f"beta={self.beta}, logit_scale={self.logit_scale}, dismiss={self.dismiss}, "
                f"mode={self.mode!r}, seed={self.seed}")

    def _apply(self, fn, *args, **kwargs):
        self._decoded = None    # a device or dtype change invalidates the decoded prototypes
        return super()._apply(fn, *args, **kwargs)

    def variant(self, **changes) -> ABS:
        """The same VAEs with other inference settings (e.g. ``mode="unrolled"``, ``steps=0``)."""
        kw = dict(n_prototypes=len(self.prototypes), steps=self.steps, lr=self.lr, clip=self.clip,
                  beta=self.beta, logit_scale=self.logit_scale, dismiss=self.dismiss, mode=self.mode,
                  seed=self.seed, chunk=self.chunk)
        kw.update(changes)
        return ABS(self.vaes, **kw).to(self.prototypes.device)

    @torch.no_grad()
    def decoded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(K, M, D) prototypes decoded by every class, their squared norms (K, M), and the
        prototypes' squared latent norms (M,); computed once, then reused for every image."""
        if self._decoded is None:
            with _full_precision(self.prototypes):
                parts = [self.vaes.decode(p[:, None].expand(-1, self.vaes.num_classes, -1)).flatten(2)
                         for p in self.prototypes.split(1000)]
            recs = torch.cat(parts).transpose(0, 1).contiguous()          # (K, M, D)
            self._decoded = (recs, (recs * recs).sum(2), (self.prototypes ** 2).sum(1))
        return self._decoded

    def initial_latents(self, x: torch.Tensor) -> torch.Tensor:
        """Best prototype per image and class: x (N, D) -> latents (N, K, latent)."""
        recs, recs_sq, z_sq = self.decoded()
        with torch.no_grad(), _full_precision(x):
            best = prototype_bounds(x.detach(), recs, recs_sq, z_sq, self.beta).argmin(2)   # (N, K)
        return self.prototypes[best]

    def _bound(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x (N, D), z (N, K, latent) -> (N, K) bound (not yet divided by D)."""
        rec = self.vaes.decode(z).flatten(2)
        return ((x[:, None] - rec) ** 2).sum(2) + 0.5 * self.beta * (z * z).sum(2)

    def optimal_latents(self, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """z* (N, K, latent) after ``steps`` Adam steps from the best prototypes; x (N, D)."""
        z0 = self.initial_latents(x)
        target = x if create_graph else x.detach()
        policy = precision.current()

        def objective(z):
            with policy.autocast():
                return self._bound(target, z).float()

        with torch.enable_grad():
            return latent_adam(z0, objective, self.steps, self.lr, self.clip, create_graph=create_graph)

    def bounds(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class bound l_c(x) (N, K), x images N x 3 x 32 x 32 in [0, 1]; differentiable in x
        by Danskin's formula or through the unrolled steps (``mode``)."""
        flat, d = x.flatten(1), self.vaes.dim
        out = []
        for xb in flat.split(self.chunk):
            unroll = self.mode == "unrolled" and torch.is_grad_enabled() and xb.requires_grad
            z = self.optimal_latents(xb, create_graph=unroll)
            if not unroll:
                z = z.detach()
            out.append(self._bound(xb, z) / d)
        return torch.cat(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.logit_scale * self.bounds(x)

    def reconstructions(self, x: torch.Tensor) -> torch.Tensor:
        """G_c(z*) for every image and class, (N, K, 3, 32, 32): what ABS "sees" (Figure 1)."""
        with torch.no_grad():
            z = self.optimal_latents(x.flatten(1))
            return self.vaes.decode(z)


def _full_precision(t: torch.Tensor):
    """A block computed in fp32 even inside an attack's autocast."""
    return torch.autocast(t.device.type, enabled=False)


def reference_logits(model: ABS, x: torch.Tensor) -> torch.Tensor:
    """The same algorithm written as a plain loop over classes and images (the benchmark's and
    the tests' reference, never used for evaluation): for every class its own ungrouped
    decoder decodes the prototypes once, then every image separately picks its best prototype
    and runs its ``steps`` Adam steps on one latent. Returns logits (N, K), no gradient."""
    k, d, lat = model.vaes.num_classes, model.vaes.dim, model.vaes.latent
    protos, z_sq = model.prototypes, (model.prototypes ** 2).sum(1)
    out = torch.empty(len(x), k, device=x.device)
    flat = x.detach().flatten(1)
    for c in range(k):
        dec = model.vaes.class_decoder(c)
        with torch.no_grad():
            recs = dec(protos.view(-1, lat, 1, 1)).flatten(1)               # (M, D)
        recs_sq = (recs * recs).sum(1)

        def bound(z, xi, dec=dec):
            rec = dec(z.view(-1, lat, 1, 1)).flatten(1)
            return ((xi - rec) ** 2).sum(1) + 0.5 * model.beta * (z * z).sum(1)

        for i in range(len(x)):
            xi = flat[i:i + 1]
            with torch.no_grad():
                best = prototype_bounds(xi, recs[None], recs_sq[None], z_sq, model.beta)[0, 0].argmin()
            with torch.enable_grad():
                z = latent_adam(protos[best][None], lambda z, xi=xi: bound(z, xi), model.steps, model.lr,
                                model.clip)
            with torch.no_grad():
                out[i, c] = -model.logit_scale * bound(z, xi)[0] / d
    return out
