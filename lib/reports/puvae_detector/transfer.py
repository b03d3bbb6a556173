"""Report 001's evaluation (section 5): FGSM, BIM and PGD in L-inf, made against the undefended
classifier as in the report (Foolbox there), each adversarial image then scored on the three
pipelines at once: the classifier alone, PuVAE, and PuVAE + detector under the report's scoring
(MagNet's: an adversarial input counts as handled when it is classified correctly *or* rejected;
a rejected clean input is an error).

One set of examples per (attack, eps) serves the three pipelines, so this stays a plain loop over
the grid (not :func:`lib.sweep.worst_case_sweep`, which attacks each model itself); per image,
every flag is kept (:class:`Transfer`), so that every comparison is paired on the same images.
The whole sweep is cached by the models' weights, the images, the attacks (function and
settings) and the seed, which is set inside the cached computation.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from lib import attacks, cache, runtime
from lib.defenses.puvae import PuVAEPipeline, report_correct
from lib.evaluate import attack_in_batches, predict
from lib.progress import progress
from lib.reports.puvae_detector.experiment import REPORT, Detector, Models, Settings, eps_grid

#: Per image and (attack, eps): the undefended classifier right, PuVAE right, PuVAE + detector
#: right under the report's scoring, and rejected (the "adversarial" label of Figure 8).
COLUMNS = ("no_defense", "puvae", "ours", "rejected")


def fgsm(model, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM in L-inf (report 2.3.1)."""
    return attacks.fgsm(model, x, y, eps, "inf")


def bim(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int, rel_step: float) -> torch.Tensor:
    """BIM in L-inf (report 2.3.2), step ``rel_step * eps``."""
    return attacks.bim(model, x, y, eps, "inf", steps=steps, step_size=rel_step * eps)


def pgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int, rel_step: float) -> torch.Tensor:
    """PGD in L-inf from a random start in the ball (report 2.3.3), step ``rel_step * eps``; the
    start is drawn from torch's global generator, seeded once by :func:`score`."""
    return attacks.pgd(model, x, y, eps, "inf", steps=steps, step_size=rel_step * eps)


def transfer_attacks(s: Settings) -> dict:
    """The report's three attacks as ``attack(model, x, y, eps) -> x_adv`` partials (cacheable),
    step sizes relative to eps (``bim_rel_step``, ``pgd_rel_step``)."""
    return {"FGSM": functools.partial(fgsm),
            "BIM": functools.partial(bim, steps=s.bim_steps, rel_step=s.bim_rel_step),
            "PGD": functools.partial(pgd, steps=s.pgd_steps, rel_step=s.pgd_rel_step)}


def score(classifier: nn.Module, pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor, *, attacks: dict,
          eps: list[float], table_eps: float, seed: int, batch_size: int = 250, progress_bar: bool = True) -> dict:
    """The computation behind :func:`transfer_sweep`, seeded here (PGD's random starts and the
    CVAE's sampling draw from the global generator). For each attack and eps:
    ``x_adv = attack(classifier, x, y, eps)``, then the flags of :data:`COLUMNS` per image and
    the mean best-reconstruction RMSE. Returns plain tensors: ``clean`` (4, N), ``flags``
    (4, A, E, N) bool, ``rmse_mean`` (A, E), the per-image best RMSE of the clean images and of
    PGD at ``table_eps`` (``rmse_clean``, ``rmse_pgd``) and those PGD images (``x_pgd``)."""
    runtime.seed_everything(seed)
    eps = [float(e) for e in eps]
    if "PGD" not in attacks or float(table_eps) not in eps:
        raise ValueError(f"the sweep needs PGD and the table's eps {table_eps} in its grid {eps}")

    def decide(xa, adversarial):
        plain = predict(classifier, xa, batch_size) == y
        dec = pipeline.decide(xa, batch_size)
        ours = report_correct(dec.label, y, adversarial=adversarial, reject_label=pipeline.reject_label)
        return torch.stack([plain, dec.puvae == y, ours, dec.rejected]).cpu(), dec.rmse.float().cpu()

    clean, rmse_clean = decide(x, False)
    flags = torch.zeros(len(COLUMNS), len(attacks), len(eps), len(y), dtype=torch.bool)
    rmse_mean = torch.zeros(len(attacks), len(eps))
    out = {}
    jobs = [(i, a, j, e) for i, a in enumerate(attacks) for j, e in enumerate(eps)]
    for i, name, j, e in progress(jobs, desc="transfer attacks", disable=not progress_bar):
        xa = attack_in_batches(attacks[name], classifier, x, y, e, batch_size)
        flags[:, i, j], rmse = decide(xa, True)
        rmse_mean[i, j] = rmse.mean()
        if name == "PGD" and e == float(table_eps):
            out = {"x_pgd": xa.cpu(), "rmse_pgd": rmse}
    return {"clean": clean, "flags": flags, "rmse_mean": rmse_mean, "rmse_clean": rmse_clean, **out}


@dataclass
class Transfer:
    """One dataset's transfer sweep. Per image (N test images, in the test set's order):
    ``clean[c]`` (N,) and ``flags[c]`` (attacks x eps x N) bool for each column ``c`` of
    :data:`COLUMNS`; ``rmse_clean`` / ``rmse_pgd`` (N,) the best-reconstruction RMSE of the clean
    image and of its PGD version at ``table_eps``, ``x_pgd`` those PGD images; ``rmse_mean``
    (attacks x eps). ``table`` is the grid as fractions (columns attack, eps, n, no_defense,
    puvae, ours, rejected, rmse_mean; a first row ``attack="none"``, eps 0, scores clean images)."""

    attacks: tuple[str, ...]
    eps: tuple[float, ...]
    table_eps: float
    clean: dict[str, torch.Tensor]
    flags: dict[str, torch.Tensor]
    rmse_clean: torch.Tensor
    rmse_pgd: torch.Tensor
    rmse_mean: torch.Tensor
    x_pgd: torch.Tensor
    table: pd.DataFrame = field(init=False)

    def __post_init__(self):
        n = len(self.rmse_clean)
        rows = [{"attack": "none", "eps": 0.0, "n": n, **{c: self.clean[c].float().mean().item() for c in COLUMNS},
                 "rmse_mean": self.rmse_clean.mean().item()}]
        rows += [{"attack": a, "eps": e, "n": n, **{c: self.flags[c][i, j].float().mean().item() for c in COLUMNS},
                  "rmse_mean": float(self.rmse_mean[i, j])}
                 for i, a in enumerate(self.attacks) for j, e in enumerate(self.eps)]
        self.table = pd.DataFrame(rows)

    @property
    def n(self) -> int:
        return len(self.rmse_clean)

    def at(self, column: str, attack: str, eps: float) -> torch.Tensor:
        """(N,) flags of ``column`` under ``attack`` at ``eps`` (one of the grid)."""
        return self.flags[column][self.attacks.index(attack), self.eps.index(float(eps))]

    def upto(self) -> list[float]:
        """The grid's eps up to the table's (the ball of Tables 3-5 holds every smaller one)."""
        return [e for e in self.eps if e <= self.table_eps]

    def worst_over_eps(self, column: str, attack: str) -> torch.Tensor:
        """(N,) per image: right (``column``) at every eps of :meth:`upto`, i.e. in the worst case
        over the grid's examples inside the table's ball."""
        j = [self.eps.index(e) for e in self.upto()]
        return self.flags[column][self.attacks.index(attack)][j].all(0)

    def worst_eps(self, attack: str) -> float:
        """The eps of :meth:`upto` at which PuVAE + detector does worst over all images (the
        report's "Ours (worst)" and the diamond of Figures 7-8; the smallest on a tie)."""
        acc = [float(self.at("ours", attack, e).float().mean()) for e in self.upto()]
        return self.upto()[acc.index(min(acc))]

    def halves(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(selection, test) positions: the even and the odd test images. An eps chosen on the
        first half is judged on the second, so choosing it does not bias the test."""
        idx = torch.arange(self.n)
        return idx[0::2], idx[1::2]

    def attacker_eps(self, attack: str) -> float | None:
        """Below the table's eps, the eps at which PuVAE + detector does worst on the selection
        half (the attacker's best smaller eps); None when the grid has no smaller eps."""
        below = [e for e in self.upto() if e < self.table_eps]
        if not below:
            return None
        sel = self.halves()[0]
        acc = [float(self.at("ours", attack, e)[sel].float().mean()) for e in below]
        return below[acc.index(min(acc))]


def from_state(state: dict, attacks: Sequence[str], eps: Sequence[float], table_eps: float) -> Transfer:
    """A :class:`Transfer` from what :func:`score` returned for ``attacks`` (names, in order) over ``eps``."""
    clean, flags = state["clean"], state["flags"]
    return Transfer(attacks=tuple(attacks), eps=tuple(float(e) for e in eps), table_eps=float(table_eps),
                    clean={c: clean[k] for k, c in enumerate(COLUMNS)},
                    flags={c: flags[k] for k, c in enumerate(COLUMNS)},
                    rmse_clean=state["rmse_clean"], rmse_pgd=state["rmse_pgd"], rmse_mean=state["rmse_mean"],
                    x_pgd=state["x_pgd"])


def transfer_sweep(s: Settings, m: Models, d: Detector) -> Transfer:
    """:func:`score` with the report's transfer attacks over :func:`eps_grid` on the test
    images, cached (:func:`lib.cache.memo`: every argument is the key; a warm re-run with cached
    checkpoints attacks nothing)."""
    grid, fns = eps_grid(s), transfer_attacks(s)
    state = cache.memo(f"{REPORT}-transfer-{s.dataset}", score, m.classifier, d.pipeline, m.test.x, m.test.y,
                       attacks=fns, eps=grid, table_eps=float(s.eps), seed=s.seed)
    return from_state(state, list(fns), grid, s.eps)
