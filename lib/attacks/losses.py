"""Per-sample attack losses ``loss(logits, y) -> (N,)``, maximised by untargeted attacks.

Logits are N x K; a defense with a "reject" output has K + 1 logits, the last one
for "rejected" (:func:`reject_aware_margin` is written for those).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per sample, (N, K) x (N,) -> (N,)."""
    return F.cross_entropy(logits, y, reduction="none")


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max_{j != y} Z_j - Z_y`` per sample: positive iff the image is misclassified."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.amax(1) - z_y


def cw_loss(logits: torch.Tensor, y: torch.Tensor, kappa: float = 0.0) -> torch.Tensor:
    """Carlini-Wagner margin loss, clipped at confidence ``kappa`` (CW 2017, eq. f6)."""
    return margin(logits, y).clamp(max=kappa)


def reject_aware_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss of the adaptive attack, per sample (N,), to maximise: with ``K + 1`` logits
    (last = rejected, :class:`PuVAEPipeline`),

        max_{j not in {y, reject}} z_j  -  max(z_y, z_reject).

    Positive exactly when the defense outputs a wrong label *and* does not reject, the
    only outcome the report's scoring counts as a success of the attacker. While the
    input is rejected, ``z_reject - max_k z_k = reject_scale * (RMSE - t)`` is the active
    term, so the gradient lowers the reconstruction error below ``t``; once it is
    accepted, the gradient is the usual margin of the classifier on the chosen reconstruction.
    (Cross-entropy over the K + 1 logits would be wrong here: raising any other logit
    includes raising the reject logit, i.e. asking to be detected.)
    """
    z = logits[:, :-1]
    z_y = z.gather(1, y[:, None]).squeeze(1)
    others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
    return others - torch.maximum(z_y, logits[:, -1])
