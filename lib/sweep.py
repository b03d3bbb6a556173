"""Worst case over a set of attacks across an increasing eps grid, without repeating work.

An adversarial example found at ``eps`` lies inside every larger ball, so an image broken at
a small eps (or misclassified clean) is broken at every larger eps, by the same example.
:func:`worst_case_sweep` uses this: for eps in increasing order, each attack of the set runs
only on the images no attack has broken yet (at a smaller eps, or earlier at this eps), and
the first successful example of each image is kept. The per-image worst case over the set
is what "robust accuracy" means (Carlini et al. 2019 ask for the mean over images of the
best attack per image, not the best attack's mean; AutoAttack, Croce and Hein 2020, scores
its ensemble the same way), it is
non-increasing in eps by construction, and it costs much less than running every attack on
every image at every eps: at large eps few images are left to attack.

A plain per-eps loop (``lib.evaluate.robust_accuracy``) remains the tool for comparing
attacks *with each other*; the sweep answers "how robust is this model against all of them".
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lib import validate
from lib.attacks.gradient import for_scoring, parse_norm
from lib.data import map_batches
from lib.progress import progress
from lib.stats import clopper_pearson

Attack = Callable[..., torch.Tensor]            # attack(model, x, y, eps) -> x_adv
Success = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (logits, y) -> (N,) bool

CLEAN = "clean"            # ``broken_by`` of an image the model gets wrong without any attack
WORST_CASE = "worst case"  # the ``attack`` of the table rows that sum up the whole set


def misclassified(logits: torch.Tensor, y: torch.Tensor, *, reject: bool = False) -> torch.Tensor:
    """Default success rule of an untargeted attack, per image (N,) bool: ``argmax != y``.

    With ``reject=True`` the logits are K + 1, the last one "rejected" (a defense with a
    detector): success is a wrong label that is *not* rejected, ``argmax not in {y, K}``;
    a rejected input has been caught, which is not a success of the attacker.
    """
    pred = logits.argmax(1)
    hit = pred != y
    if reject:
        hit &= pred != logits.shape[1] - 1
    return hit


@dataclass
class SweepResult:
    """What :func:`worst_case_sweep` found, for ``N`` images and the sorted grid ``eps``.

    - ``table``: tidy DataFrame, one row per (eps, attack) in run order, then one
      ``"worst case"`` row per eps; columns

      ``eps``, ``attack``;
      ``attacked``: images this attack was run on at this eps, i.e. those still unbroken by
      the clean model, every smaller eps and the attacks before it at this eps (0 for the
      worst-case row, and at eps 0, where the ball holds only the clean image);
      ``broken``: images this attack broke first at this eps; on the worst-case row, every
      image broken at or below this eps, clean misclassifications included (``n - robust``);
      ``robust``: images no attack has broken so far, *cumulative*: after this attack and
      the ones before it in the set, at this and every smaller eps; on the worst-case row,
      the images that survive the whole set at this eps. It is *not* the accuracy under the
      attack alone: an attack only ever sees the images the ones before it left;
      ``n``: images in the sweep; ``accuracy = robust / n``; ``low``, ``high``: its
      Clopper-Pearson interval at ``level``; ``norm``, ``level``.
    - ``robust``: N x len(eps) bool, image i survives every attack at ``eps[j]``
      (non-increasing along each row).
    - ``x_adv``: N x C x H x W, per image its first successful example (found at
      ``broken_at``), or the clean image if none was found. Use :meth:`examples_at` for the
      examples that belong to one eps.
    - ``broken_by``: per image the attack that broke it first, ``"clean"`` if the model gets
      it wrong unattacked, ``None`` if it survived everything.
    - ``broken_at``: (N,) float, the eps at which it was first broken (0 for ``"clean"``,
      ``inf`` for never).
    - ``clean_robust``: (N,) bool, the images the model handles without any attack.
    - ``index``: (N,) long, where the sweep's images sit in its input ``x`` (all of them under
      convention ``"all"``, the clean-correct ones under ``"correct"``).
    """

    table: pd.DataFrame
    eps: tuple[float, ...]
    robust: torch.Tensor
    x_adv: torch.Tensor
    broken_by: list[str | None]
    broken_at: torch.Tensor
    clean_robust: torch.Tensor
    index: torch.Tensor
    norm: str
    level: float

    @property
    def worst_case(self) -> pd.DataFrame:
        """The worst-case rows of :attr:`table`: one per eps."""
        return self.table[self.table["attack"] == WORST_CASE].reset_index(drop=True)

    def accuracy(self) -> pd.Series:
        """Worst-case accuracy per eps (index ``eps``)."""
        return self.worst_case.set_index("eps")["accuracy"]

    def examples_at(self, eps: float, x: torch.Tensor) -> torch.Tensor:
        """Images to score at ``eps`` (one of the grid), N x C x H x W: the kept example where
        the image was broken at or below ``eps``, else its clean image from ``x``, the
        sweep's input (the kept example of an image broken at a larger eps lies outside
        this ball)."""
        if float(eps) not in self.eps:
            raise ValueError(f"eps {eps} is not in the sweep's grid {self.eps}")
        clean = x[self.index.to(x.device)]
        use = (self.broken_at <= float(eps)).to(x.device).view(-1, *([1] * (x.dim() - 1)))
        return torch.where(use, self.x_adv.to(x.device), clean)


def cached_sweep(model, x: torch.Tensor, y: torch.Tensor, attacks: Mapping[str, Attack],
                 eps_list: Sequence[float], *, name: str = "sweep", use_cache: bool = True,
                 seed: int | None = None, **kwargs) -> SweepResult:
    """:func:`worst_case_sweep`, remembered across runs by the model's weights, the images,
    the attacks (function and arguments) and every other argument (see
    :func:`lib.cache.cached_result`), so a re-run with cached checkpoints does not attack again.
    Attacks must be module-level functions or ``functools.partial`` of them (a lambda cannot
    be fingerprinted, and is refused). ``seed`` (part of the key) seeds the global generators
    inside the computation, for attacks that draw from them (random starts): the result then
    does not depend on what ran before it."""
    from lib import cache, runtime

    key = dict(model=model, x=x, y=y, attacks=dict(attacks), eps=sorted(float(e) for e in eps_list),
               kwargs={k: v for k, v in kwargs.items() if k != "progress_bar"})
    if seed is not None:
        key["seed"] = int(seed)
    fields = [f.name for f in dataclasses.fields(SweepResult)]

    def compute() -> dict:
        if seed is not None:
            runtime.seed_everything(seed)
        result = worst_case_sweep(model, x, y, attacks, eps_list, **kwargs)
        return {**{f: getattr(result, f) for f in fields}, "x_adv": result.x_adv.cpu()}

    state = cache.cached_result(name, key, compute, use_cache=use_cache)
    return SweepResult(**{**state, "eps": tuple(state["eps"]), "x_adv": state["x_adv"].to(x.device)})


def _ball_excess(x: torch.Tensor, x_adv: torch.Tensor, eps: float, norm: str) -> float:
    d = (x_adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "inf" else d.norm(p=2, dim=1)
    return float((size - eps).max())


def _check_attack_norm(name: str, attack: Attack, norm: str) -> None:
    kw = getattr(attack, "keywords", None) or {}
    if "norm" in kw and parse_norm(kw["norm"]) != norm:
        raise ValueError(f"attack {name!r} works in norm {kw['norm']!r} but the sweep is in {norm!r}: "
                         f"a worst case over balls of different norms means nothing")


def worst_case_sweep(model, x: torch.Tensor, y: torch.Tensor, attacks: Mapping[str, Attack],
                     eps_list: Sequence[float], *, norm: str = "inf", batch_size: int = 500,
                     success: Success | None = None, reject: bool = False, level: float = 0.95,
                     convention: str = "all", progress_bar: bool = True) -> SweepResult:
    """Per-image worst case over ``attacks`` at each eps of ``eps_list`` (sorted, deduplicated).

    ``model``: images N x C x H x W in [0, 1] -> logits (K, or K + 1 with ``reject=True``).
    ``attacks``: display name -> ``attack(model, x, y, eps) -> x_adv`` (a
    ``functools.partial`` fixes its other arguments), all in ``norm`` ("inf" or "2"); they
    run in the mapping's order, so put the cheap ones first: the expensive ones then see
    only what the cheap ones left. ``success(logits, y) -> (N,) bool`` says when an attack
    has won (default :func:`misclassified`, with ``reject``). ``convention``: ``"all"``
    counts every image (a misclassified clean image is broken at every eps), ``"correct"``
    keeps only the images the model gets right clean (report 002's convention, section 2.3),
    as in :func:`lib.evaluate.robust_accuracy`.

    For eps in increasing order and each attack in order: run it (in batches of
    ``batch_size``) on the images still unbroken; those where ``success`` holds are broken
    from this eps on and never attacked again, their example is kept. Iterative attacks of
    :mod:`lib.attacks` stop on an image at its first fooling iterate
    (:func:`lib.attacks.for_scoring`). Success is always decided by the model in fp32, whatever
    precision the attacks take their gradients in (:mod:`lib.precision`). Each returned example
    is checked to lie in its eps-ball (a sweep that trusted an example outside it would
    report a break that is not one). With a randomised model the success of an example is
    decided by one forward pass; evaluate such defenses with EOT inside the attacks.
    Returns a :class:`SweepResult`.
    """
    norm = parse_norm(norm)
    if convention not in ("all", "correct"):
        raise ValueError(f"convention must be 'all' or 'correct', got {convention!r}")
    if not attacks:
        raise ValueError("no attacks given")
    for name, attack in attacks.items():
        if name in (CLEAN, WORST_CASE):
            raise ValueError(f"{name!r} is reserved for the sweep's own rows; rename the attack")
        _check_attack_norm(name, attack, norm)
    bad = [e for e in eps_list if isinstance(e, bool) or not isinstance(e, (int, float))
           or not math.isfinite(e) or e < 0]
    if bad or not len(eps_list):
        raise ValueError(f"eps_list must be finite numbers >= 0, got {list(eps_list)}")
    eps_grid = tuple(sorted({float(e) for e in eps_list}))
    if success is None:
        success = functools.partial(misclassified, reject=reject)
    attacks = {name: for_scoring(attack, success) for name, attack in attacks.items()}

    def wins(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return map_batches(lambda xb, yb: success(validate.logits(model(xb), yb, reject=reject), yb).bool(),
                               xs, ys, batch_size=batch_size)

    x, y = validate.images(x, model).detach(), validate.labels(y, len(x)).detach()
    broken = wins(x, y)
    index = torch.arange(len(y))
    if convention == "correct":
        index = index[~broken.cpu()]
        x, y, broken = x[~broken], y[~broken], broken[~broken]
        if not len(y):
            raise ValueError("the model gets no image right: nothing to sweep under convention 'correct'")
    n = len(y)
    clean_robust = ~broken
    x_best = x.clone()
    broken_by = np.where(broken.cpu().numpy(), CLEAN, None).astype(object)
    broken_at = torch.where(broken.cpu(), 0.0, math.inf).to(torch.float64)
    robust = torch.zeros((n, len(eps_grid)), dtype=torch.bool)
    rows: list[dict] = []

    bar = progress(total=len(eps_grid) * len(attacks), desc="worst-case sweep", disable=not progress_bar)
    for j, eps in enumerate(eps_grid):
        for name, attack in attacks.items():
            idx = (~broken).nonzero().squeeze(1)
            hits = 0
            if eps > 0 and len(idx):
                xs, ys = x[idx], y[idx]
                x_adv = map_batches(lambda xb, yb, a=attack, e=eps: a(model, xb, yb, e), xs, ys,
                                    batch_size=batch_size).detach()
                excess = _ball_excess(xs, x_adv, eps, norm)
                if excess > 1e-6 + 1e-5 * eps or x_adv.min() < 0 or x_adv.max() > 1:   # float32 slack
                    raise ValueError(f"attack {name!r} returned examples outside the L{norm} ball of "
                                     f"eps {eps:g} (by {excess:.3g}) or outside [0, 1]")
                won = wins(x_adv, ys)
                hit = idx[won]
                hits = len(hit)
                broken[hit] = True
                x_best[hit] = x_adv[won]
                broken_at[hit.cpu()] = eps
                broken_by[hit.cpu().numpy()] = name
            rows.append(_row(eps, name, len(idx) if eps > 0 else 0, hits, int((~broken).sum()), n,
                             norm, level))
            bar.update(1)
        survivors = int((~broken).sum())
        robust[:, j] = ~broken.cpu()
        rows.append(_row(eps, WORST_CASE, 0, n - survivors, survivors, n, norm, level))
    bar.close()
    return SweepResult(table=pd.DataFrame(rows), eps=eps_grid, robust=robust, x_adv=x_best,
                       broken_by=broken_by.tolist(), broken_at=broken_at, clean_robust=clean_robust.cpu(),
                       index=index, norm=norm, level=level)


def combine(parts: Sequence[SweepResult], *, positions: Sequence[torch.Tensor | None] | None = None,
            eps: Sequence[float] | None = None) -> SweepResult:
    """The per-image worst case over several sweeps of one model on the same images: an image is
    robust at eps only if it survived every sweep there, and it counts as broken from the
    smallest eps at which any sweep broke it (by the attack, and with the example, of that
    sweep; on a tie, the earlier sweep in ``parts``).

    ``parts``: :class:`SweepResult` s (or :func:`from_distances` of a minimal-distortion
    attack such as CW) in one norm. The first defines the images; ``positions[i]`` says where
    the images of ``parts[i]`` sit among them (None: the same images, same order, which their
    ``index`` must confirm), so a sweep run only on the images earlier attacks left standing
    (cheap attacks first, then the costly ones on the survivors) joins the others; an image a
    part did not cover is taken as not broken by it. ``eps``: the grid of the result (default
    the first part's); every part must have each of its eps in its own grid.

    The table has a row per (eps, attack) in the parts' order: ``attacked`` as that part's
    sweep ran it, ``broken`` the images this attack broke *first* in the combined worst case
    (in the grid step up to this eps), ``robust`` cumulative as in :func:`worst_case_sweep`;
    then the worst-case row per eps. ``x_adv`` lies on the first part's device.
    """
    if not parts:
        raise ValueError("nothing to combine")
    first = parts[0]
    positions = list(positions) if positions is not None else [None] * len(parts)
    if len(positions) != len(parts):
        raise ValueError(f"positions: one entry per part ({len(parts)}), got {len(positions)}")
    norms = {p.norm for p in parts}
    if len(norms) > 1:
        raise ValueError(f"sweeps in different norms ({sorted(norms)}): a worst case over them means nothing")
    grid = tuple(sorted({float(e) for e in (first.eps if eps is None else eps)}))
    n, device = len(first.index), first.x_adv.device
    broken_at = torch.full((n,), math.inf, dtype=torch.float64)
    robust = torch.ones((n, len(grid)), dtype=torch.bool)
    broken_by = np.full(n, None, dtype=object)
    x_adv = first.x_adv.clone()
    clean = torch.ones(n, dtype=torch.bool)
    order: list[str] = []
    attacked: dict[tuple[float, str], int] = {}
    for i, (part, pos) in enumerate(zip(parts, positions)):
        if pos is None:
            if not torch.equal(part.index, first.index):
                raise ValueError(f"part {i} covers other images than the first; pass its positions")
            pos = torch.arange(n)
        pos = torch.as_tensor(pos, dtype=torch.long).cpu()
        if len(pos) != len(part.index) or (len(pos) and (pos.min() < 0 or pos.max() >= n)):
            raise ValueError(f"positions[{i}] must give one row in [0, {n}) per image of part {i}")
        missing = [e for e in grid if e not in part.eps]
        if missing:
            raise ValueError(f"part {i} was not run at eps {missing} (its grid: {part.eps})")
        cols = [part.eps.index(e) for e in grid]
        robust[pos] &= part.robust[:, cols]
        clean[pos] &= part.clean_robust.cpu()
        earlier = part.broken_at < broken_at[pos]
        hit = pos[earlier]
        broken_at[hit] = part.broken_at[earlier]
        broken_by[hit.numpy()] = np.asarray(part.broken_by, dtype=object)[earlier.numpy()]
        x_adv[hit.to(device)] = part.x_adv[earlier.to(part.x_adv.device)].to(device)
        runs = part.table[part.table["attack"] != WORST_CASE]
        for e, a, k in zip(runs["eps"], runs["attack"], runs["attacked"]):
            order += [a] if a not in order else []
            if float(e) in grid:
                attacked[(float(e), a)] = attacked.get((float(e), a), 0) + int(k)
    rows = _attribution_rows(grid, order, broken_at, broken_by, attacked, n, first.norm, first.level)
    return SweepResult(table=pd.DataFrame(rows), eps=grid, robust=robust, x_adv=x_adv, broken_by=broken_by.tolist(),
                       broken_at=broken_at, clean_robust=clean, index=first.index.clone(), norm=first.norm,
                       level=first.level)


def from_distances(distance: torch.Tensor, eps: Sequence[float], x_adv: torch.Tensor, *, attack: str,
                   norm: str = "2", level: float = 0.95, index: torch.Tensor | None = None) -> SweepResult:
    """A minimal-distortion attack (CW, say) as a sweep, so :func:`combine` can take it: per
    image its ``distance`` (N,) to the example it found (0: wrong clean, inf: not broken) and
    that example ``x_adv`` (N x C x H x W). The image counts as broken at every eps >= its
    distance; ``broken_at`` is the distance itself. ``index``: where the images sit in the
    input (default all of them)."""
    distance = torch.as_tensor(distance, dtype=torch.float64).cpu()
    if distance.dim() != 1 or len(distance) != len(x_adv) or bool((distance < 0).any()) or bool(distance.isnan().any()):
        raise ValueError("distance must hold one value >= 0 (or inf) per example of x_adv")
    grid = tuple(sorted({float(e) for e in eps}))
    n = len(distance)
    robust = torch.stack([distance > e for e in grid], 1) if grid else torch.zeros((n, 0), dtype=torch.bool)
    broken_by = [CLEAN if d == 0 else (attack if math.isfinite(d) else None) for d in distance.tolist()]
    attacked = {(e, attack): int((distance > prev).sum()) if e > 0 else 0
                for prev, e in zip((0.0, *grid[:-1]), grid)}
    rows = _attribution_rows(grid, [attack], distance, broken_by, attacked, n, parse_norm(norm), level)
    return SweepResult(table=pd.DataFrame(rows), eps=grid, robust=robust, x_adv=x_adv, broken_by=broken_by,
                       broken_at=distance, clean_robust=distance > 0,
                       index=torch.arange(n) if index is None else index, norm=parse_norm(norm), level=level)


def _attribution_rows(grid, order, broken_at: torch.Tensor, broken_by, attacked: dict, n: int, norm: str,
                      level: float) -> list[dict]:
    """Sweep-table rows from a per-image worst case: per eps and attack (in ``order``) the
    images it broke first within the grid step ending at this eps; then the worst-case row."""
    rows, standing, prev = [], n - int((broken_at == 0).sum()), 0.0
    by, at = np.asarray(broken_by, dtype=object), broken_at.numpy()
    for e in grid:
        step = (at > prev) & (at <= e) if e > 0 else np.zeros(n, dtype=bool)
        for a in order:
            hits = int((step & (by == a)).sum())
            standing -= hits
            rows.append(_row(e, a, attacked.get((e, a), 0), hits, standing, n, norm, level))
        survivors = int((broken_at > e).sum())
        rows.append(_row(e, WORST_CASE, 0, n - survivors, survivors, n, norm, level))
        standing, prev = survivors, e
    return rows


def _row(eps: float, attack: str, attacked: int, broken: int, robust: int, n: int, norm: str,
         level: float) -> dict:
    low, high = clopper_pearson(robust, n, level)
    return {"eps": eps, "attack": attack, "attacked": attacked, "broken": broken, "robust": robust,
            "n": n, "accuracy": robust / n if n else float("nan"), "low": low, "high": high,
            "norm": norm, "level": level}


def per_eps_table(result: SweepResult) -> pd.DataFrame:
    """The sweep as a wide table for reports: one row per eps, the worst-case accuracy with its
    interval, and per attack the images it broke first (column ``broken by <attack>``)."""
    wc = result.worst_case
    runs = result.table[result.table["attack"] != WORST_CASE]
    order = list(dict.fromkeys(runs["attack"]))   # the sweep's attack order, not alphabetical
    wide = runs.pivot(index="eps", columns="attack", values="broken")[order]
    wide.columns = [f"broken by {c}" for c in order]
    out = wc[["eps", "n", "robust", "accuracy", "low", "high"]].set_index("eps").join(wide)
    return out.reset_index()


__all__ = ["CLEAN", "WORST_CASE", "SweepResult", "cached_sweep", "combine", "from_distances", "misclassified",
           "per_eps_table", "worst_case_sweep"]

