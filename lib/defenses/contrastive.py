"""The latent-space defense of report 002, section 3.3: contrastive loss and a 1-NN classifier.

Training adds to cross-entropy the contrastive loss of eq. (5) on the penultimate
representation ``z = model.embed(x)``, over every pair of images in a batch:

    CL(i, j) = 1[y_i = y_j] * d(z_i, z_j)^2 + 1[y_i != y_j] * max(0, alpha - d(z_i, z_j))^2

so same-class images are pulled together and different-class images pushed at
least ``alpha`` apart (alpha = 2 in the report). At test time an image takes the
label of the nearest of a few reference images per class (5 x 10 in the report).

:class:`NearestReference` is that 1-NN rule as a differentiable module returning
logits (minus the distance to each class's nearest reference), so every attack of
:mod:`lib.attacks` can be aimed at it directly, through the latent distances,
instead of at the softmax head the model was trained with.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib import attacks
from lib.data import ImageData, map_batches

_TINY = 1e-12


def sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between the rows of ``a`` (N x D) and ``b`` (M x D) -> N x M, >= 0."""
    # The Gram form avoids an N x M x D tensor; rounding can make it slightly negative.
    return (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0)


def contrastive_loss(z: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Report 002, eq. (5), averaged over all N(N-1)/2 pairs ``i < j`` of the batch.

    ``z``: N x D representations, ``y``: N labels. Returns a scalar >= 0. Positive
    pairs cost their squared distance, negative pairs the squared shortfall from the
    margin ``alpha``.
    """
    if z.dim() != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"need z N x D and y (N,), got {tuple(z.shape)} and {tuple(y.shape)}")
    if not alpha > 0:
        raise ValueError(f"margin alpha must be > 0, got {alpha}")
    n = z.shape[0]
    if n < 2:
        return z.sum() * 0.0
    i, j = torch.triu_indices(n, n, offset=1, device=z.device)
    d2 = sq_distances(z, z)[i, j]
    same = y[i] == y[j]
    # sqrt only where it is needed, and never at 0, where its gradient is infinite.
    d = (d2 + _TINY).sqrt()
    per_pair = torch.where(same, d2, (alpha - d).clamp(min=0).pow(2))
    return per_pair.mean()


def contrastive_objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                          alpha: float = 2.0, weight: float = 1.0):
    """``loss_fn`` for :func:`lib.train.fit`: cross-entropy + ``weight`` x contrastive loss.

    ``model`` needs ``embed(x) -> z`` (N x D) and ``classifier(z) -> logits`` (N x K), as
    :class:`lib.models.dropout_cnn.DropoutCNN` has. Returns ``(loss, logits)``. Use
    ``functools.partial(contrastive_objective, alpha=2.0)`` so the checkpoint key sees alpha.
    """
    z = model.embed(x)
    logits = model.classifier(z)
    return F.cross_entropy(logits, y) + weight * contrastive_loss(z, y, alpha), logits


def choose_references(data: ImageData, per_class: int = 5, seed: int = 0) -> ImageData:
    """``per_class`` images of every class of ``data``, drawn at random by ``seed``
    (the same images for the same data and seed), ordered by class. Report 002 uses 5 x 10."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(data.num_classes):
        idx = (data.y == c).nonzero().squeeze(1)
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than per_class={per_class}")
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return data.subset(torch.cat(picks), split="references")


class NearestReference(nn.Module):
    """1-NN classifier in an encoder's latent space, as logits (report 002, section 3.3).

    ``logits[n, k] = -min_{r : y_r = k} || embed(x_n) - embed(x_r) ||_2``, N x K, so the
    argmax is the label of the nearest reference and the attacks of :mod:`lib.attacks`
    can differentiate through the distances. ``encoder`` must have ``embed(x)`` and
    is put in eval mode; the references' embeddings are computed once and frozen.
    Input N x C x H x W in [0, 1], like every model of the study.
    """

    def __init__(self, encoder: nn.Module, references: ImageData):
        super().__init__()
        if not hasattr(encoder, "embed"):
            raise TypeError(f"{type(encoder).__name__} has no embed(x) method")
        counts = torch.bincount(references.y, minlength=references.num_classes)
        if (counts == 0).any():
            missing = (counts == 0).nonzero().squeeze(1).tolist()
            raise ValueError(f"no reference image for class(es) {missing}")
        self.encoder = encoder.eval()
        device = next(encoder.parameters()).device
        with torch.no_grad():
            ref_z = encoder.embed(references.x.to(device))
        self.register_buffer("ref_z", ref_z)
        self.register_buffer("ref_y", references.y.to(device))
        # class k x reference r: which references vote for which class.
        self.register_buffer("member", F.one_hot(references.y, references.num_classes).T.bool()
                             .to(device))

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """Latent distances from each image to each reference, N x R."""
        return self.distances_of(self.encoder.embed(x))

    def distances_of(self, z: torch.Tensor) -> torch.Tensor:
        """Latent distances (N x R) of embeddings ``z`` (N x D) to each reference."""
        return (sq_distances(z, self.ref_z) + _TINY).sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_of(self.encoder.embed(x))

    def logits_of(self, z: torch.Tensor) -> torch.Tensor:
        """The logits (N x K) of images already embedded (``z``: N x D), so that several sets
        of references can share one pass of the encoder."""
        d = self.distances_of(z)
        return -d[:, None, :].masked_fill(~self.member[None], float("inf")).amin(2)


@torch.no_grad()
def embed_all(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``model.embed`` over ``x`` (N x C x H x W) in batches -> N x D, in eval mode."""
    model.eval()
    return map_batches(model.embed, x, batch_size=batch_size)


def feature_attack(knn: NearestReference, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
                   steps: int = 20, restarts: int = 1, *, seed: int = 0) -> torch.Tensor:
    """Targeted feature attack on the 1-NN rule (beyond report 002, section 3.3).

    For each image the target is the *nearest wrong class* in latent space (the class of the
    closest reference of another label); PGD then minimises the targeted margin
    ``max_{j != t} logit_j - logit_t`` of :class:`NearestReference`, i.e. pulls the embedding
    towards the target class's nearest reference until it is closer than every reference of
    the true class. Untargeted attacks on distances spread their effort over all classes;
    this one spends it on the easiest wrong cluster. ``x``: N x C x H x W in [0, 1];
    returns the same, in the eps-ball. Images already misclassified keep their label as
    target, so they stay misclassified.
    """
    with torch.no_grad():
        logits = knn(x)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    target = others.argmax(1)
    gen = torch.Generator().manual_seed(seed)
    return attacks.pgd(knn, x, target, eps, norm, steps=steps, restarts=restarts, loss=attacks.margin,
                       targeted=True, stop_when_fooled=True, generator=gen)
