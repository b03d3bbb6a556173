"""The adaptive evaluation every defense of the study gets, after Carlini et al. 2019 ("On
Evaluating Adversarial Robustness") and Tramer et al. 2020 ("On Adaptive Attacks to
Adversarial Example Defenses").

- :func:`attack_set`: the strong set for :func:`lib.sweep.worst_case_sweep`, cheap first:
  FGSM, our PGD on cross-entropy and on the margin (restarts, each image frozen at the first
  iterate that fools the model), APGD-CE, APGD-DLR and the gradient-free Square attack;
  for a pipeline with a reject logit, the reject-aware versions of each.
- :data:`THREATS`, :func:`strong_set`: the one registry of those sets by threat model (L-inf,
  L2, and their reject-aware variants), which a report extends with its own attacks (before
  the set, or among its gradient attacks) instead of rebuilding it.
- :func:`convergence`: accuracy under PGD against its steps and its restarts, with
  McNemar's test between the two largest budgets: an evaluation has converged when more
  budget buys nothing beyond noise (Carlini et al. 2019, section 4.7).
- :func:`unbounded`: at a budget that contains every image (L-inf eps 1), an attack that works
  must succeed on every image (section 5.3); "near chance" is not enough.
- :func:`sanity_table`: those checks, plus monotonicity in eps, iterative vs single-step and
  gradient-free vs gradient attacks (section 5.5), as rows of one table per defense.
- :class:`ExpectedModel`, :func:`random_accuracy`, :func:`eot_sweep`: randomised defenses
  scored by the expectation over draws (and the majority vote), attacked with EOT, and EOT
  swept over the number of draws (Athalye et al. 2018).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib import attacks, runtime
from lib.data import map_batches
from lib.stats import clopper_pearson, mcnemar_exact
from lib.sweep import WORST_CASE, SweepResult, misclassified

SINGLE_STEP, GRADIENT_FREE = "FGSM", "Square"


@dataclass(frozen=True)
class Budget:
    """Settings of the strong attack set. Defaults are sized for a CPU profile; the paper
    profiles pass AutoAttack's (APGD 100 steps, Square 5000 queries)."""

    pgd_steps: int = 50
    restarts: int = 2
    apgd_steps: int = 100
    square_queries: int = 1000
    seed: int = 0

    def __post_init__(self):
        for name in ("pgd_steps", "restarts", "apgd_steps", "square_queries"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Budget.{name} must be an integer >= 1, got {v!r}")


def attack_set(norm: str = "inf", budget: Budget = Budget(), *, reject: bool = False,
               square: bool = True) -> dict:
    """The strong set, in the order a sweep should run it (cheap first, gradient-free last, so
    that Square only sees what every gradient attack left and its breaks measure what the
    gradients missed). Every entry is a ``functools.partial`` of a module-level attack with the
    signature ``attack(model, x, y, eps) -> x_adv``, so sweeps can be cached.

    ``reject=True``: the model has K + 1 logits, the last one a detector's reject; PGD then
    maximises :func:`lib.attacks.reject_aware_margin` and counts only wrong, accepted labels,
    and the torchattacks attacks go through their reject adapter.
    """
    norm = attacks.parse_norm(norm)
    gen_free = functools.partial(attacks.square, norm=norm, n_queries=budget.square_queries,
                                 seed=budget.seed, reject=reject)
    if reject:
        success = functools.partial(misclassified, reject=True)
        out = {"PGD (reject-aware margin)": functools.partial(
            attacks.pgd, norm=norm, steps=budget.pgd_steps, restarts=budget.restarts,
            loss=attacks.reject_aware_margin, success=success, stop_when_fooled=True),
            "APGD-CE": functools.partial(attacks.apgd, norm=norm, steps=budget.apgd_steps, seed=budget.seed,
                                         reject=True),
            "APGD-DLR": functools.partial(attacks.apgd, norm=norm, steps=budget.apgd_steps, loss="dlr",
                                          seed=budget.seed, reject=True)}
    else:
        out = {SINGLE_STEP: functools.partial(attacks.fgsm, norm=norm),
               "PGD-CE": functools.partial(attacks.pgd, norm=norm, steps=budget.pgd_steps,
                                           restarts=budget.restarts, stop_when_fooled=True),
               "PGD-margin": functools.partial(attacks.pgd, norm=norm, steps=budget.pgd_steps,
                                               restarts=budget.restarts, loss=attacks.margin,
                                               stop_when_fooled=True),
               "APGD-CE": functools.partial(attacks.apgd, norm=norm, steps=budget.apgd_steps, seed=budget.seed),
               "APGD-DLR": functools.partial(attacks.apgd, norm=norm, steps=budget.apgd_steps, loss="dlr",
                                             seed=budget.seed)}
    if square:
        out[GRADIENT_FREE] = gen_free
    return out


#: The registry's threat models: name -> (norm, reject-aware). A report picks one with
#: :func:`strong_set` and extends it; it does not assemble its own strong set.
THREATS = {"Linf": ("inf", False), "L2": ("2", False), "Linf-reject": ("inf", True), "L2-reject": ("2", True)}


def strong_set(threat: str, budget: Budget = Budget(), *, first: dict | None = None, gradient: dict | None = None,
               without: Sequence[str] = (), square: bool = True) -> dict:
    """The strong set of the registry for ``threat`` (a key of :data:`THREATS`), extended by a
    report: ``first`` runs before it (cheap, report-specific attacks: the report's own attack,
    a transfer attack), ``gradient`` after its gradient attacks but before the gradient-free
    Square (attacks specific to the defense, e.g. through an unrolled inner loop), so that
    Square's breaks still measure what every gradient attack missed; ``without`` drops entries
    of the registry by name (one the report's own sweep already ran). Every entry is a
    ``functools.partial`` (cacheable); a name used twice is refused."""
    if threat not in THREATS:
        raise ValueError(f"threat must be one of {sorted(THREATS)}, got {threat!r}")
    norm, reject = THREATS[threat]
    base = attack_set(norm, budget, reject=reject, square=square)
    unknown = [w for w in without if w not in base]
    if unknown:
        raise ValueError(f"without: {unknown} are not in the {threat} set {list(base)}")
    first, gradient = dict(first or {}), dict(gradient or {})
    clash = (set(first) & set(gradient)) | ((set(first) | set(gradient)) & (set(base) - set(without)))
    if clash:
        raise ValueError(f"attack names used twice: {sorted(clash)}")
    tail = {GRADIENT_FREE: base.pop(GRADIENT_FREE)} if GRADIENT_FREE in base else {}
    kept = {k: v for k, v in base.items() if k not in without}
    return {**first, **kept, **gradient, **{k: v for k, v in tail.items() if k not in without}}


# --------------------------------------------------------------------------- checks
def _robust_after(model, x, y, x_adv, success, batch_size) -> torch.Tensor:
    with torch.no_grad():
        hit = map_batches(lambda a, b: success(model(a), b), x_adv, y, batch_size=batch_size)
    return ~hit.cpu()


def convergence(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
                steps: Sequence[int] = (5, 10, 20, 50), restarts: Sequence[int] = (1, 2, 4),
                restart_steps: int | None = None, *, loss=attacks.margin, reject: bool = False,
                seed: int = 0, batch_size: int = 500, level: float = 0.95) -> pd.DataFrame:
    """Accuracy (per-image: correct clean and after PGD) against PGD's steps, then against its
    restarts (each with ``restart_steps`` steps, default the largest of ``steps``).

    Random starts come from one generator seeded by ``seed`` for every run, so ``r`` restarts
    contain the ``r' < r`` of a smaller run and accuracy cannot rise with restarts except by
    the steps' own randomness. Columns: ``budget`` ("steps" / "restarts"), ``value``,
    ``robust``, ``n``, ``accuracy``, ``low``, ``high``, and ``p_vs_previous``: McNemar's exact
    p-value against the previous budget of the same kind on the same images.
    """
    success = functools.partial(misclassified, reject=reject)
    if reject:
        loss = attacks.reject_aware_margin
    clean_ok = _robust_after(model, x, y, x, success, batch_size)
    rows = []
    restart_steps = restart_steps or max(steps)
    plan = [("steps", s, s, 1) for s in sorted(steps)] + [("restarts", r, restart_steps, r) for r in sorted(restarts)]
    previous: dict[str, torch.Tensor] = {}
    for kind, value, n_steps, n_restarts in plan:
        gen = torch.Generator().manual_seed(seed)
        x_adv = map_batches(lambda a, b, s=n_steps, r=n_restarts, g=gen: attacks.pgd(
            model, a, b, eps, norm, steps=s, restarts=r, loss=loss, success=success, stop_when_fooled=True,
            generator=g), x, y, batch_size=batch_size)
        ok = clean_ok & _robust_after(model, x, y, x_adv, success, batch_size)
        k, n = int(ok.sum()), len(ok)
        low, high = clopper_pearson(k, n, level)
        p = mcnemar_exact(previous[kind], ok).p_value if kind in previous else math.nan
        previous[kind] = ok
        rows.append(dict(budget=kind, value=value, robust=k, n=n, accuracy=k / n, low=low, high=high,
                         p_vs_previous=p, eps=float(eps), norm=attacks.parse_norm(norm)))
    return pd.DataFrame(rows)


def unbounded(model, x: torch.Tensor, y: torch.Tensor, norm: str = "inf", steps: int = 50, *,
              reject: bool = False, seed: int = 0, batch_size: int = 500, level: float = 0.95) -> dict:
    """PGD (margin loss, or reject-aware) with a ball that holds every image of [0, 1]^D: L-inf
    eps 1, L2 eps sqrt(D). A sound attack then succeeds on every image the model gets right
    clean (Carlini et al. 2019, section 5.3). Returns ``n`` (clean-correct images),
    ``succeeded``, ``rate``, ``low``, ``high`` and ``eps``."""
    norm = attacks.parse_norm(norm)
    eps = 1.0 if norm == "inf" else math.sqrt(x[0].numel())
    success = functools.partial(misclassified, reject=reject)
    loss = attacks.reject_aware_margin if reject else attacks.margin
    clean_ok = _robust_after(model, x, y, x, success, batch_size)
    idx = clean_ok.nonzero().squeeze(1).to(x.device)
    n = len(idx)
    if not n:
        return dict(n=0, succeeded=0, rate=math.nan, low=math.nan, high=math.nan, eps=eps)
    gen = torch.Generator().manual_seed(seed)
    xs, ys = x[idx], y[idx]
    x_adv = map_batches(lambda a, b: attacks.pgd(model, a, b, eps, norm, steps=steps, loss=loss, success=success,
                                                 stop_when_fooled=True, generator=gen), xs, ys, batch_size=batch_size)
    k = int((~_robust_after(model, xs, ys, x_adv, success, batch_size)).sum())
    low, high = clopper_pearson(k, n, level)
    return dict(n=n, succeeded=k, rate=k / n, low=low, high=high, eps=eps)


def single_step_vs_iterative(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
                             steps: int = 20, *, seed: int = 0, batch_size: int = 500) -> dict:
    """FGSM and PGD-CE (``steps``), each alone on the same images: per-image robustness of each
    (``fgsm``, ``pgd``: (N,) bool) and ``eps``. An iterative attack that leaves significantly *more* accuracy than
    one FGSM step is broken (or the loss surface is masked); :func:`sanity_table` tests it."""
    success = misclassified
    clean_ok = _robust_after(model, x, y, x, success, batch_size)
    gen = torch.Generator().manual_seed(seed)
    one = map_batches(lambda a, b: attacks.fgsm(model, a, b, eps, norm), x, y, batch_size=batch_size)
    many = map_batches(lambda a, b: attacks.pgd(model, a, b, eps, norm, steps=steps, generator=gen),
                       x, y, batch_size=batch_size)
    r1 = clean_ok & _robust_after(model, x, y, one, success, batch_size)
    r2 = clean_ok & _robust_after(model, x, y, many, success, batch_size)
    return dict(fgsm=r1, pgd=r2, eps=float(eps))


def checks(model, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf", *, steps: Sequence[int],
           restarts: Sequence[int], restart_steps: int, reject: bool = False, single_step: bool = True,
           seed: int = 0, batch_size: int = 500, name: str = "checks") -> dict:
    """The inputs of :func:`sanity_table` for one model, each remembered across runs
    (:func:`lib.cache.memo`): ``convergence`` (PGD steps and restarts at ``eps``), ``unbounded``
    (with ``restart_steps`` steps) and, unless ``single_step=False``, ``step_check`` (FGSM vs
    PGD alone; not for a reject pipeline, which FGSM's cross-entropy does not fit)."""
    from lib import cache

    out = dict(
        convergence=cache.memo(f"{name}-convergence", convergence, model, x, y, eps, norm, steps, restarts,
                               restart_steps=restart_steps, reject=reject, seed=seed, batch_size=batch_size),
        unbounded=cache.memo(f"{name}-unbounded", unbounded, model, x, y, norm, restart_steps, reject=reject,
                             seed=seed, batch_size=batch_size),
        step_check=None)
    if single_step:
        out["step_check"] = cache.memo(f"{name}-single-step", single_step_vs_iterative, model, x, y, eps, norm,
                                       restart_steps, seed=seed, batch_size=batch_size)
    return out


def sanity_table(name: str, sweep: SweepResult, *, unbounded_result: dict | None = None,
                 convergence_table: pd.DataFrame | None = None, step_check: dict | None = None,
                 gradient_free: str = GRADIENT_FREE, alpha: float = 0.05) -> pd.DataFrame:
    """Carlini et al.'s checks on one evaluated model or pipeline, one row each: ``model``,
    ``check``, ``passed`` (bool), ``detail``. Paired comparisons use McNemar's exact test at
    ``alpha``: "more budget helps" or "FGSM beats PGD" count only beyond sampling noise."""
    rows = []

    def add(check, passed, detail):
        rows.append(dict(model=name, check=check, passed=bool(passed), detail=detail))

    acc = sweep.accuracy()
    add("accuracy non-increasing in eps", bool(np.all(np.diff(acc.to_numpy()) <= 1e-12)),
        ", ".join(f"{e:g}: {100 * a:.1f} %" for e, a in acc.items()))
    if step_check is not None:
        t = mcnemar_exact(step_check["fgsm"], step_check["pgd"])
        a1, a2 = step_check["fgsm"].float().mean().item(), step_check["pgd"].float().mean().item()
        worse = a2 > a1 and t.p_value < alpha
        add(f"PGD at least as strong as FGSM (eps {step_check['eps']:g})", not worse,
            f"FGSM {100 * a1:.1f} %, PGD {100 * a2:.1f} %, McNemar p = {t.p_value:.2g}")
    if unbounded_result is not None:
        u = unbounded_result
        add(f"unbounded attack (eps {u['eps']:g}) succeeds on every image", u["n"] > 0 and u["succeeded"] == u["n"],
            f"{u['succeeded']} of {u['n']} clean-correct images broken")
    runs = sweep.table[(sweep.table["attack"] == gradient_free)]
    if len(runs):
        extra = int(runs["broken"].sum())
        add(f"{gradient_free} (gradient-free) finds nothing the gradient attacks missed", extra == 0,
            f"{extra} image(s) broken only by {gradient_free}" + (" : gradient masking or too weak gradient "
                                                                  "attacks on them" if extra else ""))
    if convergence_table is not None:
        for kind, part in convergence_table.groupby("budget", sort=False):
            last = part.iloc[-1]
            gain = part.iloc[-2]["accuracy"] - last["accuracy"] if len(part) > 1 else 0.0
            flat = len(part) < 2 or not (gain > 0 and last["p_vs_previous"] < alpha)
            before = part.iloc[-2] if len(part) > 1 else last
            add(f"accuracy flattens in PGD {kind}", flat,
                f"{kind} {int(before['value'])} -> {int(last['value'])}: accuracy {100 * before['accuracy']:.1f} % "
                f"-> {100 * last['accuracy']:.1f} % (McNemar p = {last['p_vs_previous']:.2g})")
    return pd.DataFrame(rows)


def worst_case_row(sweep: SweepResult, eps: float) -> dict:
    """The worst-case row of ``sweep`` at ``eps`` as a dict (``robust``, ``n``, ``accuracy``,
    ``low``, ``high``)."""
    wc = sweep.worst_case
    row = wc[np.isclose(wc["eps"], eps)]
    if row.empty:
        raise ValueError(f"eps {eps} is not in the sweep's grid {sweep.eps}")
    return row.iloc[0].to_dict()


# --------------------------------------------------------------------------- randomised defenses
class ExpectedModel(nn.Module):
    """A randomised model seen through ``draws`` forward passes: logits ``log mean_k
    softmax(model(x))``, N x K. Its argmax is the label of highest expected probability, and
    every attack on it is an EOT attack over ``draws`` samples (Athalye et al. 2018)."""

    def __init__(self, model: nn.Module, draws: int):
        super().__init__()
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1, got {draws!r}")
        self.model, self.draws = model, draws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(self.model(x), 1) for _ in range(self.draws)]).mean(0)
        return probs.clamp_min(1e-12).log()

    def extra_repr(self) -> str:
        # Not in the state dict: in the repr, it reaches every cache key of this model.
        return f"draws={self.draws}"


@torch.no_grad()
def random_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 32,
                    batch_size: int = 500) -> dict:
    """Accuracy of a randomised model over ``draws`` independent forward passes: ``expected``
    (the mean over images of the fraction of draws that are right: the accuracy of one draw,
    in expectation) and ``majority`` (right when the most frequent label over the draws is
    the true one), with ``per_image`` (N,) fractions and ``majority_correct`` (N,) bool."""
    def votes(xb, yb):
        preds = torch.stack([model(xb).argmax(1) for _ in range(draws)])      # draws x B
        counts = torch.nn.functional.one_hot(preds, int(preds.max()) + 1 if preds.numel() else 1).sum(0)
        right = (preds == yb).float().mean(0)
        return torch.stack([right, (counts.argmax(1) == yb).float()], 1)
    out = map_batches(votes, x, y, batch_size=batch_size).cpu()
    per_image, majority = out[:, 0], out[:, 1].bool()
    return dict(expected=float(per_image.mean()), majority=float(majority.float().mean()), n=len(y),
                per_image=per_image, majority_correct=majority, draws=draws)


def eot_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "inf",
              draws: Sequence[int] = (1, 2, 4, 8, 16), steps: int = 10, eval_draws: int = 32, *,
              seed: int = 0, batch_size: int = 500, level: float = 0.95) -> pd.DataFrame:
    """PGD-CE with EOT over ``draws`` noise samples per gradient, for each entry of ``draws``,
    scored over ``eval_draws`` fresh draws: the accuracy should fall and then flatten as EOT
    grows. Columns ``eot``, ``expected``, ``majority``, ``robust`` (majority count), ``n``,
    ``low``, ``high`` (interval of the majority-vote accuracy), ``p_vs_previous``."""
    rows, previous = [], None
    for d in sorted(draws):
        runtime.seed_everything(seed)
        x_adv = map_batches(lambda a, b, d=d: attacks.pgd(model, a, b, eps, norm, steps=steps, eot=d),
                            x, y, batch_size=batch_size)
        acc = random_accuracy(model, x_adv, y, eval_draws, batch_size)
        ok = acc["majority_correct"]
        k, n = int(ok.sum()), len(ok)
        low, high = clopper_pearson(k, n, level)
        p = mcnemar_exact(previous, ok).p_value if previous is not None else math.nan
        previous = ok
        rows.append(dict(eot=d, expected=acc["expected"], majority=k / n, robust=k, n=n, low=low, high=high,
                         p_vs_previous=p, eps=float(eps)))
    return pd.DataFrame(rows)


def defended_vs_baseline(defense: SweepResult, baseline: SweepResult, eps: float) -> dict:
    """McNemar's exact test between two worst-case sweeps of the same images at ``eps``."""
    if not torch.equal(defense.index, baseline.index):
        raise ValueError("the two sweeps cover different images; a paired test needs the same ones")
    j_d, j_b = defense.eps.index(float(eps)), baseline.eps.index(float(eps))
    t = mcnemar_exact(defense.robust[:, j_d], baseline.robust[:, j_b])
    return dict(eps=float(eps), defense=float(defense.robust[:, j_d].float().mean()),
                baseline=float(baseline.robust[:, j_b].float().mean()), p_value=t.p_value, test=t)


__all__ = ["GRADIENT_FREE", "SINGLE_STEP", "THREATS", "WORST_CASE", "Budget", "ExpectedModel", "attack_set", "checks",
           "convergence", "strong_set",
           "defended_vs_baseline", "eot_sweep", "random_accuracy", "sanity_table", "single_step_vs_iterative",
           "unbounded", "worst_case_row"]
