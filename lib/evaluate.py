"""Accuracy under attack, accuracy-distortion curves and evaluation sanity checks.

Two conventions the reports use, always chosen explicitly:

- ``"all"``: over every test image; an image counts as robust only if it is
  classified correctly both clean and attacked, so a misclassified clean image
  is already broken at eps 0 (reports 000 and 001).
- ``"correct"``: over the images the model classifies correctly when clean; the
  accuracy at eps 0 is 1 by construction (report 002, section 2.3).

Sanity checks follow "On Evaluating Adversarial Robustness" (Carlini et al. 2019,
section 5): accuracy must not rise with eps, an iterative attack must do at
least as well as a single step, and at a large eps accuracy must fall to chance
or below; a failure points at gradient masking or a broken attack.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch

from lib import validate
from lib.data import map_batches
from lib.progress import progress
from lib.stats import clopper_pearson

Attack = Callable[..., torch.Tensor]  # attack(model, x, y, eps) -> x_adv
CONVENTIONS = ("all", "correct")


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 500, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Predicted labels (N,) for images (N x C x H x W), batched, on the images' device. Logits
    that decide nothing (NaN) are refused, and ``labels``, if given, checked against the classes."""
    if labels is None:
        return map_batches(lambda xb: validate.logits(model(xb)).argmax(1), x, batch_size=batch_size)
    return map_batches(lambda xb, yb: validate.logits(model(xb), yb).argmax(1), x, labels, batch_size=batch_size)


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Share of images (N x C x H x W in [0, 1]) whose predicted label is ``y``: the study's
    one accuracy helper."""
    validate.labels(y, len(x))
    return (predict(model, x, batch_size, labels=y) == y).float().mean().item()


def noise_tolerance(n: int, p: float = 0.5, level: float = 0.95) -> float:
    """Sampling noise of an accuracy measured on ``n`` images: the half-width of the exact
    (Clopper-Pearson) ``level`` interval at rate ``p`` (0.5, the widest, unless a rate is
    known), never less than one image. The study's one tolerance rule: sanity checks, chance
    level, detector rates and verdicts all take their slack from it (lib.stats)."""
    n = max(int(n), 1)
    low, high = clopper_pearson(round(p * n), n, level)
    return max(1.0 / n, (high - low) / 2)


def attack_norm(attack: Attack) -> str:
    """The norm an attack (or a ``functools.partial`` of one) works in, for tables."""
    kw = getattr(attack, "keywords", None) or {}
    return str(kw.get("norm", "inf"))


def above_chance(accuracy: float, n: int, chance: float) -> bool:
    """True when an accuracy (a share) over ``n`` images beats ``chance`` by more than
    sampling noise (:func:`noise_tolerance` at the chance rate): a model that does not is
    untrained, and nothing measured on it says anything about robustness."""
    return accuracy > chance + noise_tolerance(n, chance)


def attack_in_batches(attack: Attack, model, x, y, eps: float, batch_size: int) -> torch.Tensor:
    """``attack(model, x, y, eps)`` over batches of ``batch_size`` images -> x_adv, N x C x H x W."""
    return map_batches(lambda xb, yb: attack(model, xb, yb, eps), x, y, batch_size=batch_size)


def robust_accuracy(model, x: torch.Tensor, y: torch.Tensor, attacks: Mapping[str, Attack],
                    eps_list: Sequence[float], *, convention: str, batch_size: int = 500,
                    progress_bar: bool = True, keep_examples: bool = False):
    """Accuracy under each attack at each eps, as a tidy DataFrame.

    ``attacks`` maps a display name to ``attack(model, x, y, eps) -> x_adv`` (a
    ``functools.partial`` of a :mod:`lib.attacks` function fixes its other
    arguments). ``convention`` is ``"all"`` or ``"correct"`` (see module doc).

    Each attack is swept over the eps grid by :func:`lib.sweep.worst_case_sweep`, the study's
    one early-exit sweep: an image broken at a smaller eps keeps its example (it lies in every
    larger ball) and is not attacked again, and iterative attacks stop on an image at its first
    fooling iterate. So the accuracy under an attack at ``eps`` is over its runs at every eps up
    to ``eps``: never higher than the plain loop over eps (one attack run per eps on every
    image), non-increasing in eps, and cheaper. Decisions are made in fp32.

    Returns columns ``attack, norm, eps, accuracy, n, robust`` (the count), ``low, high`` (its
    95 % Clopper-Pearson interval) and ``convention``; with ``keep_examples=True`` also a dict
    ``(attack, eps) -> x_adv`` of the images to score at that eps (the clean image where the
    attack found nothing up to it).
    """
    from lib.sweep import worst_case_sweep

    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    bad = [e for e in eps_list if not e >= 0]
    if bad:
        raise ValueError(f"eps must be >= 0, got {bad}")
    validate.images(x, model)
    validate.labels(y, len(x))
    rows, examples = [], {}
    if convention == "correct" and not bool((predict(model, x, batch_size) == y).any()):
        nan = float("nan")
        rows = [{"attack": name, "norm": attack_norm(attack), "eps": float(eps), "accuracy": nan, "n": 0,
                 "robust": 0, "low": nan, "high": nan, "convention": convention}
                for name, attack in attacks.items() for eps in eps_list]
        return (pd.DataFrame(rows), examples) if keep_examples else pd.DataFrame(rows)
    for name, attack in progress(list(attacks.items()), desc="attacks", disable=not progress_bar):
        result = worst_case_sweep(model, x, y, {name: attack}, eps_list, norm=attack_norm(attack),
                                  batch_size=batch_size, convention=convention, progress_bar=False)
        worst = result.worst_case.set_index("eps")
        for eps in eps_list:
            row = worst.loc[float(eps)]
            rows.append({"attack": name, "norm": attack_norm(attack), "eps": float(eps),
                         "accuracy": float(row["accuracy"]), "n": int(row["n"]), "robust": int(row["robust"]),
                         "low": float(row["low"]), "high": float(row["high"]), "convention": convention})
            if keep_examples:
                examples[(name, float(eps))] = result.examples_at(float(eps), x)
    table = pd.DataFrame(rows)
    return (table, examples) if keep_examples else table


def distortion(x: torch.Tensor, x_adv: torch.Tensor, norm: str = "2") -> torch.Tensor:
    """Per-image distance ``||x_adv - x||`` in L2 or L-inf, shape (N,)."""
    d = (x_adv - x).flatten(1)
    return d.abs().amax(1) if str(norm) in ("inf", "linf") else d.norm(p=2, dim=1)


def accuracy_distortion_curve(model, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor,
                              norm: str = "2", thresholds: Sequence[float] | None = None,
                              batch_size: int = 500) -> pd.DataFrame:
    """Accuracy as a function of the allowed distortion, from minimal-perturbation attacks (CW).

    An image counts as robust at distortion ``r`` if it is correct clean and either the
    attack failed on it or its adversarial example is farther than ``r`` (Carlini et al.
    2019, section 5.4). Columns: ``distortion, accuracy``.
    """
    clean_ok = predict(model, x, batch_size) == y
    fooled = predict(model, x_adv, batch_size) != y
    dist = distortion(x, x_adv, norm)
    dist = torch.where(fooled, dist, torch.full_like(dist, float("inf")))
    if thresholds is None:
        finite = dist[torch.isfinite(dist)]
        top = float(finite.max()) * 1.05 if len(finite) else 1.0
        thresholds = torch.linspace(0, top, 50).tolist()
    acc = [(clean_ok & (dist > r)).float().mean().item() for r in thresholds]
    return pd.DataFrame({"distortion": list(thresholds), "accuracy": acc, "norm": str(norm)})


def minimal_norm_summary(model, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, norm: str = "2",
                         batch_size: int = 500, level: float = 0.95) -> dict:
    """How a minimal-perturbation attack (CW-L2, FAB) did on the images the model gets right.

    Returns ``n`` (clean-correct images attacked), ``succeeded`` (adversarial examples that
    change the label), ``failed`` (``n - succeeded``), ``success_rate`` with its exact
    interval ``success_low`` / ``success_high``, and the ``median`` and ``mean`` distortion
    of the successful examples (NaN if none). Carlini and Wagner report these; a
    minimal-norm attack that fails on some images must say how many (Carlini et al. 2019,
    section 5.4), since its median alone hides them.
    """
    clean_ok = predict(model, x, batch_size) == y
    fooled = clean_ok & (predict(model, x_adv, batch_size) != y)
    n, k = int(clean_ok.sum()), int(fooled.sum())
    dist = distortion(x, x_adv, norm)[fooled.to(x_adv.device)]
    low, high = clopper_pearson(k, n, level)
    return {"n": n, "succeeded": k, "failed": n - k, "success_rate": k / n if n else float("nan"),
            "success_low": low, "success_high": high,
            "median": float(dist.median()) if k else float("nan"),
            "mean": float(dist.mean()) if k else float("nan"), "norm": str(norm)}


def sanity_checks(results: pd.DataFrame, *, chance: float, single_step: str | None = None,
                  iterative: Sequence[str] = (), large_eps: float | bool | None = None,
                  tolerance: float | None = None, clean_accuracy: float | None = None,
                  n_clean: int | None = None) -> pd.DataFrame:
    """The checks of Carlini et al. (2019) on a :func:`robust_accuracy` table.

    - *monotone*: for each attack, accuracy does not rise as eps grows;
    - *iterative >= single-step*: at every eps, each iterative attack leaves no more
      accuracy than ``single_step``;
    - *large eps*: at ``large_eps`` (default: the largest eps tried) every attack
      drives accuracy to chance or below; ``large_eps=False`` skips this check (for sweeps
      that stop at a small eps on purpose).

    ``tolerance`` (default: :func:`noise_tolerance` at the table's ``n``, the half-width of
    the 95 % Clopper-Pearson interval at p = 0.5) absorbs sampling noise.
    Returns columns ``check, attack, passed, detail``.
    """
    rows = []
    n = int(results["n"].max()) if len(results) else 1
    tol = tolerance if tolerance is not None else noise_tolerance(n)
    for name, group in results.groupby("attack", sort=False):
        g = group.sort_values("eps")
        rises = g["accuracy"].diff().fillna(0)
        worst = rises.idxmax()
        ok = bool(rises.max() <= tol)
        detail = ("accuracy never rises with eps" if ok else
                  f"rises by {rises.max():.3f} at eps {g.loc[worst, 'eps']:g}")
        rows.append({"check": "accuracy non-increasing in eps", "attack": name,
                     "passed": ok, "detail": detail})
    if single_step is not None:
        base = results[results["attack"] == single_step].set_index("eps")["accuracy"]
        if base.empty:
            raise ValueError(f"single-step attack {single_step!r} is not in the results")
        for name in iterative:
            it = results[results["attack"] == name].set_index("eps")["accuracy"]
            common = it.index.intersection(base.index)
            gap = (it[common] - base[common])
            ok = bool((gap <= tol).all())
            detail = (f"{name} <= {single_step} at all {len(common)} eps" if ok else
                      f"{name} leaves {gap.max():.3f} more accuracy at eps {gap.idxmax():g}")
            rows.append({"check": "iterative at least as strong as single-step", "attack": name,
                         "passed": ok, "detail": detail})
    for name, group in results.groupby("attack", sort=False):
        if large_eps is False:
            break
        eps = large_eps if large_eps is not None else group["eps"].max()
        at = group[group["eps"] == eps]
        if at.empty:
            continue
        acc = float(at["accuracy"].iloc[0])
        ok = acc <= chance + tol
        rows.append({"check": "near or below chance at large eps", "attack": name, "passed": ok,
                     "detail": f"accuracy {acc:.3f} at eps {eps:g} (chance {chance:.2f})"})
    table = pd.DataFrame(rows, columns=["check", "attack", "passed", "detail"])
    return _require_trained(table, results, chance, clean_accuracy, n_clean)


def _clean_of(results: pd.DataFrame) -> tuple[float | None, int | None]:
    """Clean accuracy from the eps-0 rows of an ``"all"``-convention table, if it has them."""
    if "convention" not in results or not len(results):
        return None, None
    clean = results[(results["eps"] == 0) & (results["convention"] == "all")]
    if clean.empty:
        return None, None
    return float(clean["accuracy"].iloc[0]), int(clean["n"].iloc[0])


def _require_trained(table: pd.DataFrame, results: pd.DataFrame, chance: float,
                     clean_accuracy: float | None, n_clean: int | None) -> pd.DataFrame:
    """Prepend "model better than chance"; on a model at chance no other check can pass,
    because an untrained model trivially "survives" or "falls to chance" under any attack."""
    if clean_accuracy is None:
        clean_accuracy, n_clean = _clean_of(results)
    if clean_accuracy is None:
        return table
    n = n_clean or (int(results["n"].max()) if len(results) else 1)
    margin = noise_tolerance(n, chance)
    trained = above_chance(clean_accuracy, n, chance)
    first = pd.DataFrame([{"check": "model better than chance (trained)", "attack": "none",
                           "passed": trained,
                           "detail": f"clean accuracy {clean_accuracy:.3f} vs chance {chance:.2f} "
                                     f"(+{margin:.3f}, the 95 % interval's half-width at n = {n})"}])
    if not trained:
        table = table.assign(passed=False,
                             detail="model at chance (untrained): " + table["detail"].astype(str))
    return pd.concat([first, table], ignore_index=True)
