"""Transfer attacks: examples crafted on one model, scored on another."""
from __future__ import annotations

from collections.abc import Callable

import torch

from lib.attacks.gradient import Model


def transfer(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, *, source: Model,
             attack: Callable, **kwargs) -> torch.Tensor:
    """A transfer attack: ``attack`` is made against ``source`` and ``model`` is ignored.

    With ``functools.partial(transfer, source=head, attack=fgsm)`` in the attacks given to
    :func:`lib.evaluate.robust_accuracy`, examples crafted on one classifier (a softmax
    head, an undefended classifier) are scored on another (a 1-NN rule, a defense), as
    the reports' own non-adaptive evaluations do.
    """
    return attack(source, x, y, eps, **kwargs)
