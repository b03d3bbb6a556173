"""PuVAE purification with a reconstruction-error detector (report 001).

The defense of "Augmenting robustness using adversarial detection" (Wester and
Thisted, 2020), built on PuVAE (Hwang et al. 2019) and MagNet's detector
(Meng and Chen 2017):

1. a conditional VAE is trained with the PuVAE loss (:func:`puvae_loss`):
   reconstruction + KL + cross-entropy of a frozen classifier on the
   reconstruction (report section 3.1);
2. at inference the input is reconstructed under each of the 10 labels in one
   batched pass (:func:`reconstruct_all`) and the reconstruction of least RMSE
   goes to the classifier (report section 3.1, the arg-min equation; Figure 4);
3. the detector rejects the input when that least RMSE exceeds a threshold ``t``
   chosen on held-out clean data at a false-positive rate (report sections 4
   and 5.1; :func:`threshold_at_fpr`);
4. scoring as the report (MagNet's rule, report section 3.2): an adversarial
   input is handled correctly when rejected or classified correctly, a rejected
   clean input is an error (:func:`report_correct`).

:class:`PuVAEPipeline` is the whole defended model as one ``nn.Module`` that
returns ``K + 1`` logits, the last one for "rejected", so that
:mod:`lib.attacks` attacks it like any classifier; :func:`adaptive_attack` attacks it
end to end with :func:`lib.attacks.reject_aware_margin` (beyond the report).

The experiment around it (settings per dataset, sweeps over eps, tables and
figures) lives in :mod:`lib.reports.puvae_detector`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lib import attacks
from lib.attacks import reject_aware_margin
from lib.data import map_batches


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode (no dropout) and no parameter gradients: the classifier inside PuVAE's
    loss and pipeline is fixed (report section 3.1)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --------------------------------------------------------------------------- PuVAE loss
def puvae_loss(vae: nn.Module, x: torch.Tensor, y: torch.Tensor, *, classifier: nn.Module,
               w_rec: float = 0.01, w_kl: float = 0.1, w_ce: float = 10.0,
               kl_reduction: str = "mean"):
    """PuVAE's training objective, a ``loss_fn`` for :func:`lib.train.fit`.

    ``w_rec * RC + w_kl * KL + w_ce * CE`` (report section 3.1; weights of the PuVAE
    paper as two reimplementations use them), each averaged over the batch:

    - RC: Bernoulli negative log-likelihood of ``x`` under the reconstruction, summed
      over pixels (the first term of report eq. (1), per image);
    - KL: ``KL(N(mu, std^2) || N(0, I))`` summed over ``z`` (second term of eq. (1));
    - CE: cross-entropy of the frozen ``classifier`` on the reconstruction, with the
      true label, which pushes each class-conditional reconstruction to look like its class.

    ``x``: N x C x H x W in [0, 1]; ``y``: (N,). Returns ``(loss, classifier logits on
    the reconstruction)``: fit's train_acc is then the classifier's accuracy on them.
    Pass the classifier with ``functools.partial`` (frozen; :func:`freeze`), so the
    checkpoint key includes its weights.
    """
    x_hat, mu, std = vae(x, y)
    rec = F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(1).mean()
    kl = 0.5 * (mu.pow(2) + std.pow(2) - 1 - 2 * torch.log(std))
    kl = (kl.mean(1) if kl_reduction == "mean" else kl.sum(1)).mean()
    logits = classifier(x_hat)
    ce = F.cross_entropy(logits, y)
    return w_rec * rec + w_kl * kl + w_ce * ce, logits


# --------------------------------------------------------------------------- purification
def reconstruct_all(vae: nn.Module, x: torch.Tensor, *, sample: bool | None = None) -> torch.Tensor:
    """Reconstructions of every input under every label, in one batched pass.

    ``x``: N x C x H x W in [0, 1] -> N x K x C x H x W in [0, 1], entry ``[i, k]`` being
    ``decode(z ~ q(z | x_i, k), k)`` (report section 3.1, Figure 4). The N * K pairs go
    through the CVAE as one batch; differentiable in ``x``.
    """
    n, k = x.shape[0], vae.num_classes
    labels = torch.arange(k, device=x.device).repeat(n)           # 0..K-1, 0..K-1, ...
    x_hat, _, _ = vae(x.repeat_interleave(k, 0), labels, sample=sample)
    return x_hat.view(n, k, *x.shape[1:])


def rmse(x: torch.Tensor, recons: torch.Tensor) -> torch.Tensor:
    """Root mean squared error per input and label: x (N x C x H x W), recons
    (N x K x C x H x W) -> (N, K). A floor inside the root keeps its gradient finite."""
    return ((recons - x.unsqueeze(1)).pow(2).flatten(2).mean(2) + 1e-12).sqrt()


@dataclass
class Purified:
    """Everything PuVAE computes for a batch: ``recons`` N x K x C x H x W, ``rmse`` (N, K),
    ``chosen`` (N,) the label of least RMSE, ``best`` N x C x H x W that reconstruction,
    ``best_rmse`` (N,) its RMSE (the detector's score)."""

    recons: torch.Tensor
    rmse: torch.Tensor
    chosen: torch.Tensor
    best: torch.Tensor
    best_rmse: torch.Tensor


def purify(vae: nn.Module, x: torch.Tensor, *, sample: bool | None = None) -> Purified:
    """PuVAE's purification: reconstruct under every label, keep the one of least RMSE
    (report section 3.1, ``x* = argmin_j RMSE(x, x_j)``)."""
    recons = reconstruct_all(vae, x, sample=sample)
    err = rmse(x, recons)
    chosen = err.argmin(1)
    idx = torch.arange(len(x), device=x.device)
    return Purified(recons, err, chosen, recons[idx, chosen], err[idx, chosen])


# --------------------------------------------------------------------------- detector
def check_fpr(fpr: float) -> float:
    """A false-positive rate must lie strictly between 0 and 1."""
    if not (isinstance(fpr, (int, float)) and 0 < fpr < 1):
        raise ValueError(f"false-positive rate must be in (0, 1), got {fpr!r}")
    return float(fpr)


def threshold_at_fpr(scores: torch.Tensor, fpr: float) -> float:
    """The smallest threshold ``t`` whose rejection rate ``mean(scores > t)`` on these clean
    validation scores is at most ``fpr`` (report section 5.1, after MagNet).

    ``scores``: (N,) best-reconstruction RMSEs of clean held-out images. With N
    scores, up to ``floor(fpr * N)`` may lie above ``t``; ``t`` is a score itself.
    """
    check_fpr(fpr)
    scores = torch.as_tensor(scores).detach().flatten().double().cpu()
    if scores.numel() == 0 or not torch.isfinite(scores).all():
        raise ValueError("need a non-empty set of finite validation scores")
    ranked = scores.sort(descending=True).values
    allowed = int(math.floor(fpr * len(ranked) + 1e-9))
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(ranked[allowed])


def rejection_rate(scores: torch.Tensor, t: float) -> float:
    """Share of scores above ``t`` (rejected); counted exactly, not as a float32 mean."""
    scores = torch.as_tensor(scores)
    return int((scores > t).sum()) / max(scores.numel(), 1)


# --------------------------------------------------------------------------- the defended model
class PuVAEPipeline(nn.Module):
    """PuVAE + classifier + detector as one model ``x -> K + 1 logits`` (report Figure 5).

    ``x``: N x C x H x W in [0, 1]. Output N x (K + 1): the classifier's logits on the
    reconstruction of least RMSE, then a *reject* logit
    ``max_k logits_k + reject_scale * (best RMSE - threshold)``. The argmax is thus the
    defense's decision: label ``K`` (rejected) exactly when the best RMSE exceeds the
    threshold, else the classifier's label. ``threshold=None`` is PuVAE without detector
    (the reject logit stays far below the others and carries no gradient).

    For attacks: the arg-min choice of reconstruction is a hard selection in the
    forward pass; with ``temperature`` set, its backward pass is the gradient of
    ``softmax(-RMSE / temperature)`` (straight-through), so the attacker also sees
    how to change *which* reconstruction wins. Without it, gradients flow only
    through the chosen reconstruction. The CVAE's sampling makes the model random;
    attacks average gradients over it with ``eot``.
    """

    def __init__(self, vae: nn.Module, classifier: nn.Module, threshold: float | None = None, *,
                 temperature: float | None = 0.01, reject_scale: float = 100.0):
        super().__init__()
        if threshold is not None and not math.isfinite(threshold):
            raise ValueError(f"threshold must be finite or None, got {threshold}")
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be > 0 or None, got {temperature}")
        if not reject_scale > 0:
            raise ValueError(f"reject_scale must be > 0, got {reject_scale}")
        self.vae, self.classifier = vae, classifier
        self.threshold, self.temperature, self.reject_scale = threshold, temperature, reject_scale
        self.num_classes = vae.num_classes

    def extra_repr(self) -> str:
        # Settings outside the state dict; in the repr, they reach every cache key of the pipeline.
        return (f"threshold={self.threshold!r}, temperature={self.temperature!r}, "
                f"reject_scale={self.reject_scale!r}, sample_at_inference="
                f"{getattr(self.vae, 'sample_at_inference', None)!r}")

    @property
    def reject_label(self) -> int:
        return self.num_classes

    def select(self, x: torch.Tensor):
        """(chosen reconstruction N x C x H x W, its RMSE (N,), chosen label (N,)), with the
        straight-through gradient described in the class docstring."""
        p = purify(self.vae, x)
        if self.temperature is None or not torch.is_grad_enabled():
            return p.best, p.best_rmse, p.chosen
        # Forward: the hard choice; backward: the softmax over -RMSE (straight-through).
        soft = torch.softmax(-p.rmse / self.temperature, 1)
        weights = F.one_hot(p.chosen, self.num_classes).to(soft.dtype) + soft - soft.detach()
        best = (weights[:, :, None, None, None] * p.recons).sum(1)
        return best, (weights * p.rmse).sum(1), p.chosen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        best, best_rmse, _ = self.select(x)
        logits = self.classifier(best)
        if self.threshold is None:
            reject = logits.detach().amin(1) - 1e3
        else:
            reject = logits.amax(1) + self.reject_scale * (best_rmse - self.threshold)
        return torch.cat([logits, reject[:, None]], 1)

    @torch.no_grad()
    def decide(self, x: torch.Tensor, batch_size: int = 250) -> Decision:
        """The defense's decisions on ``x``, batched, without gradients."""
        def one_batch(xb):
            best, best_rmse, chosen = self.select(xb)
            puvae = self.classifier(best).argmax(1)
            label = puvae.clone()
            if self.threshold is not None:
                label[best_rmse > self.threshold] = self.reject_label
            return label, puvae, best_rmse, chosen

        return Decision(*map_batches(one_batch, x, batch_size=batch_size), reject_label=self.reject_label)


@dataclass
class Decision:
    """Per input: ``label`` of PuVAE + detector (``reject_label`` = rejected), ``puvae``
    label of PuVAE alone, ``rmse`` of the best reconstruction, ``chosen`` its label."""

    label: torch.Tensor
    puvae: torch.Tensor
    rmse: torch.Tensor
    chosen: torch.Tensor
    reject_label: int

    @property
    def rejected(self) -> torch.Tensor:
        return self.label == self.reject_label


def report_correct(pred: torch.Tensor, y: torch.Tensor, *, adversarial: bool,
                   reject_label: int = 10) -> torch.Tensor:
    """The report's scoring (section 3.2, MagNet's rule), per input (N,) bool: a clean input
    is correct only when classified correctly (a rejection is an error); an adversarial
    input is correct when classified correctly *or* rejected."""
    ok = pred == y
    return ok | (pred == reject_label) if adversarial else ok


# --------------------------------------------------------------------------- adaptive attack
def adaptive_attack(pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                    steps: int = 50, rel_step: float = 0.05, eot: int = 4, restarts: int = 1,
                    seed: int = 0, batch_size: int = 100) -> torch.Tensor:
    """White-box L-inf PGD on the whole defended pipeline (beyond the report).

    Gradients go through the chosen reconstruction and (straight-through) the arg-min
    choice, are averaged over ``eot`` draws of the CVAE's sampling (EOT, Athalye et al.
    2018) via :func:`lib.attacks.pgd`'s ``eot``, and the loss is
    :func:`reject_aware_margin`, whose detector term keeps the RMSE under ``t``.
    The first restart starts at ``x`` (BIM-like), later ones at random points of the
    ball; per image we keep the first restart that fools the defense under the report's
    scoring, and only images not yet fooled are attacked again. This is our own loop,
    not ``lib.attacks.pgd(restarts=..., success=...)``, whose restarts all start the
    same way (all at ``x`` or all random) and re-attack every image, keeping the
    highest-loss one: a different attack, and slower. ``x``: N x C x H x W in [0, 1];
    returns the same shape, within ``eps`` of ``x`` in L-inf and in [0, 1].
    """
    if not eps > 0 or steps < 1 or eot < 1 or restarts < 1:
        raise ValueError("adaptive_attack needs eps > 0 and steps, eot, restarts >= 1")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the CVAE's sampling draws from the global generator

    def one_batch(xb, yb):
        best = xb.clone()
        fooled = torch.zeros(len(xb), dtype=torch.bool, device=xb.device)
        for r in range(restarts):
            todo = ~fooled
            if not todo.any():
                break
            adv = attacks.pgd(pipeline, xb[todo], yb[todo], eps, "inf", steps=steps,
                              step_size=rel_step * eps, random_start=r > 0,
                              loss=reject_aware_margin, eot=eot, generator=gen)
            dec = pipeline.decide(adv)
            hit = ~report_correct(dec.label, yb[todo], adversarial=True,
                                  reject_label=pipeline.reject_label)
            idx = todo.nonzero().squeeze(1)
            # Fooled images are not attacked again, so this keeps their fooling example.
            best[idx] = adv
            fooled[idx[hit]] = True
        return best

    return map_batches(one_batch, x, y, batch_size=batch_size)


class ArgminTerms(nn.Module):
    """What the multi-target attack needs from the pipeline, for every class ``j`` at once:
    N x K x 3 scores, each positive when its condition holds (RMSE terms times ``reject_scale``,
    so the three are in comparable units):

    - ``[..., 0]``: ``min_{k != j} RMSE_k - RMSE_j`` (reconstruction ``j`` is the arg-min);
    - ``[..., 1]``: the classifier's margin for ``j`` on reconstruction ``j``
      (``z_j - max_{i != j} z_i``, it says ``j``);
    - ``[..., 2]``: ``t - RMSE_j`` (the detector accepts it; large without a detector).

    All three positive for ``j != y`` means PuVAE + detector outputs the wrong label ``j``
    (report section 3.1, the arg-min equation, and section 3.2's rejection rule).
    """

    def __init__(self, pipeline: PuVAEPipeline):
        super().__init__()
        self.pipeline = pipeline

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pipe = self.pipeline
        p = purify(pipe.vae, x)
        n, k = p.rmse.shape
        logits = pipe.classifier(p.recons.flatten(0, 1)).view(n, k, -1)[:, :, :k]       # N x K(recon) x K
        own = torch.diagonal(logits, dim1=1, dim2=2)                                    # z_j on recon j
        eye = torch.eye(k, dtype=torch.bool, device=x.device)
        rival = logits.masked_fill(eye[None], float("-inf")).amax(2)
        other_rmse = p.rmse[:, None, :].expand(n, k, k).masked_fill(eye[None], float("inf")).amin(2)
        accept = ((pipe.threshold - p.rmse) if pipe.threshold is not None
                  else torch.full_like(p.rmse, 1.0))
        return torch.stack([pipe.reject_scale * (other_rmse - p.rmse), own - rival,
                            pipe.reject_scale * accept], -1)


def _argmin_target_loss(terms: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image (N,): the sum of the target's three terms, each capped at 1 so that a
    condition already met stops pulling and the effort goes to the ones that are not."""
    picked = terms[torch.arange(len(target), device=terms.device), target]
    return picked.clamp(max=1.0).sum(1)


def multi_target_attack(pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                        n_targets: int | None = None, steps: int = 20, rel_step: float = 0.1, eot: int = 2,
                        seed: int = 0, batch_size: int = 100) -> torch.Tensor:
    """The attack on the arg-min (beyond report 001): for each wrong class ``j``, L-inf PGD that
    makes reconstruction ``j`` the closest to the input, the classifier say ``j`` on it, and its
    RMSE stay under the threshold (:class:`ArgminTerms`), all at once.

    The targets of an image are its wrong classes in order of clean RMSE (the easiest first),
    ``n_targets`` of them (default all K - 1); each target runs only on the images no earlier
    target has fooled under the report's scoring (wrong and accepted), whose example is kept.
    Gradients average ``eot`` draws of the CVAE's sampling. ``x``: N x C x H x W in [0, 1];
    returns the same shape, within ``eps`` of ``x`` and in [0, 1].
    """
    k = pipeline.num_classes
    n_targets = k - 1 if n_targets is None else n_targets
    if not 1 <= n_targets <= k - 1 or not eps > 0 or steps < 1 or eot < 1:
        raise ValueError(f"multi_target_attack needs eps > 0, steps, eot >= 1 and n_targets in [1, {k - 1}]")
    terms = ArgminTerms(pipeline)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)   # the CVAE's sampling draws from the global generator

    def one_batch(xb, yb):
        with torch.no_grad():
            order = purify(pipeline.vae, xb).rmse.masked_fill(F.one_hot(yb, k).bool(), float("inf")).argsort(1)
        best = xb.clone()
        fooled = torch.zeros(len(xb), dtype=torch.bool, device=xb.device)
        for r in range(n_targets):
            todo = (~fooled).nonzero().squeeze(1)
            if not len(todo):
                break
            target = order[todo, r]
            adv = attacks.pgd(terms, xb[todo], target, eps, "inf", steps=steps, step_size=rel_step * eps,
                              random_start=False, loss=_argmin_target_loss, eot=eot, generator=gen)
            hit = ~report_correct(pipeline.decide(adv).label, yb[todo], adversarial=True,
                                  reject_label=pipeline.reject_label)
            best[todo[hit]] = adv[hit]
            fooled[todo[hit]] = True
        return best

    return map_batches(one_batch, x, y, batch_size=batch_size)


# --------------------------------------------------------------------------- checks and summaries
def gradient_check(pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of inputs whose adaptive-attack loss has a non-zero input gradient through the
    whole pipeline (a zero share would mean masked gradients, not robustness)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = reject_aware_margin(pipeline(x), y).sum()
        grad, = torch.autograd.grad(value, x)
    return float((grad.flatten(1).abs().amax(1) > 0).float().mean())
