"""What the library is asked to score, checked: one clear error for each thing it cannot score.

A library that scores NaN logits, or labels outside the classes, returns plausible numbers
(NaN logits scored 10 % "robust" at eps 1.0: ``argmax`` of NaNs is class 0); these checks
stop that at the entry points (:mod:`lib.evaluate`, :mod:`lib.sweep`,
:mod:`lib.defenses.lipschitz`). Each raises :class:`InvalidInput` (a ``ValueError``) whose
message says what is wrong and how to fix it. Cheap: a few reductions per batch.

Sits low in the layers: it imports only torch.
"""
from __future__ import annotations

import math

import torch


class InvalidInput(ValueError):
    """Input the library cannot score; the message says what is wrong and how to fix it."""


def _dtype_of(model) -> torch.dtype | None:
    for p in getattr(model, "parameters", lambda: [])():
        if p.is_floating_point():
            return p.dtype
    return None


def images(x, model=None, *, what: str = "images") -> torch.Tensor:
    """``x`` if it is a non-empty N x C x H x W floating tensor of finite values in [0, 1], in
    float32 or the model's own floating dtype."""
    if not isinstance(x, torch.Tensor):
        raise InvalidInput(f"{what} must be a torch tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] == 0:
        raise InvalidInput(f"{what} must be a non-empty N x C x H x W batch, got shape {tuple(x.shape)}")
    allowed = {torch.float32, _dtype_of(model)} - {None}
    if x.dtype not in allowed:
        want = " or ".join(sorted(str(d).removeprefix("torch.") for d in allowed))
        raise InvalidInput(f"{what} must be {want} (the models' precision), got {str(x.dtype).removeprefix('torch.')}"
                           f"; convert them with .float()" + (" (and scale to [0, 1])" if not x.is_floating_point()
                                                               else ""))
    if not bool(torch.isfinite(x).all()):
        raise InvalidInput(f"{what} contain NaN or infinite pixels")
    if x.min() < 0 or x.max() > 1:
        raise InvalidInput(f"{what} must be in [0, 1] (models normalise inside), got values in "
                           f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x


def labels(y, n: int, num_classes: int | None = None, *, what: str = "labels") -> torch.Tensor:
    """``y`` if it is ``n`` int64 class indices in [0, num_classes) (range checked when given)."""
    if not isinstance(y, torch.Tensor):
        raise InvalidInput(f"{what} must be a torch tensor, got {type(y).__name__}")
    if y.dtype != torch.long:
        raise InvalidInput(f"{what} must be int64 class indices, got {str(y.dtype).removeprefix('torch.')}"
                           "; convert them with .long()")
    if y.dim() != 1 or len(y) != n:
        raise InvalidInput(f"need one label per image: {n} images, {what} of shape {tuple(y.shape)}")
    if n and num_classes is not None and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InvalidInput(f"{what} must be in [0, {num_classes - 1}] for a model with {num_classes} classes, got "
                           f"values in [{int(y.min())}, {int(y.max())}]")
    return y


def logits(z, y: torch.Tensor | None = None, *, reject: bool = False, what: str = "the model") -> torch.Tensor:
    """``z`` if it is an N x K tensor of scores that decide a class: no NaN, no +inf, and not
    all -inf in a row (-inf marks a class that cannot be chosen); with ``y`` its labels must be
    in [0, K) (``reject``: the last of the K is "rejected", so [0, K - 1))."""
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        raise InvalidInput(f"{what} must return N x K logits, got "
                           f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
    if z.is_floating_point() and not bool((~torch.isnan(z) & (z != math.inf) & (z.amax(1, keepdim=True) > -math.inf))
                                          .all()):
        bad = int((torch.isnan(z) | (z == math.inf)).any(1).sum() + (z.amax(1) == -math.inf).sum())
        raise InvalidInput(f"{what} returned non-finite logits for {bad} of {len(z)} images: its weights or its "
                           "input are broken (NaN), and nothing it decides can be scored")
    if y is not None:
        labels(y, len(z), z.shape[1] - int(reject))
    return z


def lipschitz(value, *, what: str = "lipschitz") -> float:
    """``value`` as a float if it is a finite number > 0 (a Lipschitz constant bounds a slope: 0
    would certify every radius, a negative one none)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"{what} must be a finite number > 0 (an upper bound on the network's Lipschitz "
                           f"constant), got {value!r}")
    return float(value)
