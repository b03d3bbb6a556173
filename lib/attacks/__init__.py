"""Evasion attacks on any differentiable callable ``images in [0, 1] -> logits``.

Every attack has the signature ``attack(model, x, y, eps, ...) -> x_adv`` (CW-L2, a
minimal-perturbation attack, has no eps), images N x C x H x W in [0, 1], eps in
pixel units, so a defended pipeline is attacked exactly like a plain model.

- :mod:`lib.attacks.gradient`  FGSM / FGM, BIM, PGD: one step-project loop for L-inf and L2
- :mod:`lib.attacks.cw`        Carlini-Wagner L2
- :mod:`lib.attacks.losses`    per-sample losses (cross-entropy, margin, CW, reject-aware margin)
- :mod:`lib.attacks.transfer`  examples crafted on one model, scored on another
- :mod:`lib.attacks.external`  torchattacks' APGD, APGD-T, FAB and Square behind our signature
"""
from lib.attacks.cw import CW_PAPER, cw_l2
from lib.attacks.external import EXTERNAL, apgd, apgdt, fab, fold_reject, reject_as_correct, square
from lib.attacks.gradient import NORMS, bim, check_inputs, fgsm, for_scoring, parse_norm, pgd, project, random_start
from lib.attacks.losses import ce_loss, cw_loss, margin, reject_aware_margin
from lib.attacks.transfer import transfer

ATTACKS = {"fgsm": fgsm, "bim": bim, "pgd": pgd, "cw_l2": cw_l2}

__all__ = ["ATTACKS", "CW_PAPER", "EXTERNAL", "NORMS", "apgd", "apgdt", "bim", "ce_loss", "check_inputs", "cw_l2",
           "cw_loss", "fab", "fgsm", "for_scoring", "fold_reject", "reject_as_correct", "square",
           "margin", "parse_norm", "pgd", "project", "random_start", "reject_aware_margin",
           "transfer"]
