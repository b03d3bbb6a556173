"""Exact binomial statistics for accuracies measured on a finite set of test images.

An accuracy is a count ``k`` of robust (or correct) images out of ``n``, so its uncertainty
is binomial; on the few hundred images a CPU profile can afford it is several points wide.
This module says how wide, and whether a claim survives it:

- :func:`clopper_pearson`: the exact (Clopper and Pearson 1934) interval for ``k / n``, from
  beta quantiles; it never has less than its nominal coverage, unlike the normal
  approximation at rates near 0 or 1 (Brown, Cai and DasGupta 2001, section 2).
- :func:`mcnemar_exact`: two models (or an attack and a weaker one) scored on the *same*
  images; the exact McNemar test is a two-sided binomial test on the discordant pairs,
  which is far more sensitive than comparing two intervals (McNemar 1947; Dietterich 1998).
- :func:`verdict_at_least`, :func:`verdict_at_most`, :func:`verdict_paired`: a claim
  ("accuracy >= 0.6", "A beats B") is *supported* only when the interval (or the test)
  says so, *refuted* when it says the opposite, and otherwise cannot be judged at this ``n``.
- :func:`n_for_half_width`: how many images a profile needs for a given interval width.
- :func:`format_interval`: ``"61.2 [57.0, 65.3]"`` for tables.

For judging a report's claims (:mod:`lib.verdicts` decides; the tests live here):

- :func:`paired_counts`, :func:`newcombe_paired`: the 2 x 2 table of two models on the same
  images and Newcombe's (1998, paired paper, method 10) score interval for the difference of
  their accuracies, built from Wilson intervals (:func:`wilson`);
- :func:`paired_margin_p`, :func:`binomial_margin_p`: one-sided p-values against a margin
  (paired: by inverting Newcombe's interval; one sample: exact binomial tails), the parts of
  the two one-sided tests (TOST) of equivalence (Schuirmann 1987);
- :func:`holm`: Holm's (1979) step-down adjustment of a family of p-values;
- :func:`n_mcnemar`, :func:`n_margin`: how many images would decide a claim at the observed
  effect with 80 % power (Connor 1987 for McNemar; the normal approximation for margins).
- :func:`paired_t`, :func:`n_paired_t`: a continuous score of two models on the same blocks
  (e.g. a sample-quality score of two generators per block of shared real images): the mean
  per-block difference with its t interval and two-sided p-value, and how many blocks would
  decide it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

STATUSES = ("supported", "refuted", "undecided")

#: What a notebook says of a report's claim; it says "holds" or "does not hold" only
#: where the evidence is beyond sampling noise.
HOLDS, FAILS, UNJUDGED = "holds", "does not hold", "cannot be judged at this profile"
VERDICTS = (HOLDS, FAILS, UNJUDGED)


def decide(supported: bool, refuted: bool) -> str:
    """Three ways, never two: a claim holds or fails only where the difference is beyond
    sampling noise; in between it cannot be judged at this sample size."""
    if supported and not refuted:
        return HOLDS
    return FAILS if refuted else UNJUDGED


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


def _as_counts(k, n) -> tuple[np.ndarray, np.ndarray]:
    k, n = np.asarray(k), np.asarray(n)
    for name, v in (("k", k), ("n", n)):
        if v.dtype == bool or not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)):
            raise ValueError(f"{name} must be a count (an integer), got {v!r}")
        if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
            raise ValueError(f"{name} must be a count (an integer), got {v!r}")
    k, n = np.broadcast_arrays(k.astype(float), n.astype(float))
    if np.any(n < 0):
        raise ValueError(f"n must be >= 0, got {n}")
    if np.any((k < 0) | (k > n)):
        raise ValueError(f"k must lie in [0, n], got k = {k}, n = {n}")
    return k, n


def clopper_pearson(k, n, level: float = 0.95):
    """Exact two-sided binomial interval ``(low, high)`` for the rate behind ``k`` successes in ``n``.

    ``low = Beta(alpha/2; k, n - k + 1)`` and ``high = Beta(1 - alpha/2; k + 1, n - k)`` with
    ``alpha = 1 - level`` (0 for ``k = 0``, 1 for ``k = n``). ``k`` and ``n`` are integers or
    arrays of integers (broadcast together); scalars give floats, arrays give arrays.
    ``n = 0`` gives ``(nan, nan)``: nothing was measured. ``k`` outside ``[0, n]`` is an error.
    """
    alpha = 1 - _check_level(level)
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k, n = _as_counts(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        # beta.ppf is nan for a zero shape parameter; the endpoints there are 0 and 1 exactly.
        low = np.where(k > 0, _st.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, _st.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    empty = n == 0
    low, high = np.where(empty, np.nan, low), np.where(empty, np.nan, high)
    if scalar:
        return float(low), float(high)
    return low, high


def _as_bool(a, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, on any device
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one flag per image (1-D), got shape {a.shape}")
    if a.dtype != bool and not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans (or 0 / 1), got {a.dtype} values")
    return a.astype(bool)


@dataclass(frozen=True)
class McNemar:
    """Outcome of :func:`mcnemar_exact`: ``a_only`` images right for A only, ``b_only`` for B
    only, ``n`` images in all, the two-sided exact ``p_value``."""

    p_value: float
    a_only: int
    b_only: int
    n: int


def mcnemar_exact(a_correct, b_correct) -> McNemar:
    """Exact McNemar test for two models (or attacks) scored on the same ``n`` images.

    ``a_correct``, ``b_correct``: per-image booleans (N,), numpy or torch, aligned image by
    image. Images both get right (or both get wrong) say nothing about which is better; under
    "A and B are equally accurate" each discordant image is A's with probability 1/2, so the
    p-value is a two-sided binomial test of ``a_only`` out of ``a_only + b_only`` at 0.5
    (McNemar 1947, exact form). No discordant image gives p = 1.
    """
    a, b = _as_bool(a_correct, "a_correct"), _as_bool(b_correct, "b_correct")
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same images: {len(a)} vs {len(b)}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    m = a_only + b_only
    p = 1.0 if m == 0 else float(_st.binomtest(a_only, m, 0.5, alternative="two-sided").pvalue)
    return McNemar(p_value=min(p, 1.0), a_only=a_only, b_only=b_only, n=len(a))


@dataclass(frozen=True)
class Verdict:
    """Whether a claim about an accuracy survives its sampling noise.

    ``status`` is ``"supported"`` (the interval or test is wholly on the claim's side),
    ``"refuted"`` (wholly on the other side) or ``"undecided"`` (it straddles the threshold:
    the claim cannot be judged at this ``n``). ``estimate`` is the measured value, ``low`` /
    ``high`` its interval at ``level`` (nan where a test is used instead), ``p_value`` the
    test's (None for interval verdicts), ``detail`` one sentence for a table.
    """

    claim: str
    status: str
    estimate: float
    low: float
    high: float
    n: int
    level: float
    detail: str
    p_value: float | None = None

    @property
    def supported(self) -> bool:
        return self.status == "supported"

    def as_dict(self) -> dict:
        return asdict(self)


def _interval_verdict(k: int, n: int, threshold: float, level: float, at_least: bool,
                      claim: str | None) -> Verdict:
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a rate in [0, 1], got {threshold!r}")
    low, high = clopper_pearson(k, n, level)
    sign = ">=" if at_least else "<="
    claim = claim or f"accuracy {sign} {threshold:g}"
    est = k / n if n else float("nan")
    pct = f"{100 * level:g}%"
    if n == 0:
        status, detail = "undecided", "cannot be judged: no images"
    elif (low >= threshold) if at_least else (high <= threshold):
        status = "supported"
        detail = f"{k}/{n} = {format_interval(est, low, high)} ({pct}), wholly {sign} {100 * threshold:.1f}"
    elif (high < threshold) if at_least else (low > threshold):
        status = "refuted"
        detail = f"{k}/{n} = {format_interval(est, low, high)} ({pct}), wholly on the other side of " \
                 f"{100 * threshold:.1f}"
    else:
        status = "undecided"
        detail = f"cannot be judged at n = {n}: {format_interval(est, low, high)} ({pct}) contains " \
                 f"{100 * threshold:.1f}"
    return Verdict(claim, status, est, low, high, int(n), level, detail)


def verdict_at_least(k: int, n: int, threshold: float, level: float = 0.95,
                     claim: str | None = None) -> Verdict:
    """Claim "accuracy >= ``threshold``" from ``k`` robust images out of ``n``: supported when
    the Clopper-Pearson lower bound is >= threshold, refuted when the upper bound is below it,
    undecided otherwise. ``claim`` names it in tables (default ``"accuracy >= t"``)."""
    return _interval_verdict(k, n, threshold, _check_level(level), True, claim)


def verdict_at_most(k: int, n: int, threshold: float, level: float = 0.95,
                    claim: str | None = None) -> Verdict:
    """Claim "accuracy <= ``threshold``" (e.g. "falls to chance at large eps"): supported when
    the upper bound is <= threshold, refuted when the lower bound is above it."""
    return _interval_verdict(k, n, threshold, _check_level(level), False, claim)


def verdict_paired(a_correct, b_correct, level: float = 0.95, names: tuple[str, str] = ("A", "B"),
                   claim: str | None = None) -> Verdict:
    """Claim "A is more accurate than B" on the same images, by :func:`mcnemar_exact`.

    Supported when the test rejects equality at ``1 - level`` and A has more images of its
    own; refuted when it rejects equality the other way; undecided otherwise. ``estimate``
    is ``acc(A) - acc(B)``; ``low`` / ``high`` are nan (the test, not an interval, decides).
    For "attack A is stronger than B", pass the per-image *robust* flags as ``b_correct``,
    ``a_correct`` (the stronger attack leaves fewer robust images).
    """
    level = _check_level(level)
    t = mcnemar_exact(a_correct, b_correct)
    a, b = names
    claim = claim or f"{a} > {b}"
    est = (t.a_only - t.b_only) / t.n if t.n else float("nan")
    counts = f"{t.a_only} images right for {a} only, {t.b_only} for {b} only, p = {t.p_value:.3g}"
    if t.p_value < 1 - level and t.a_only > t.b_only:
        status, detail = "supported", counts
    elif t.p_value < 1 - level and t.b_only > t.a_only:
        status, detail = "refuted", f"{b} is better: {counts}"
    else:
        status, detail = "undecided", f"cannot be judged at n = {t.n}: {counts}"
    return Verdict(claim, status, est, float("nan"), float("nan"), t.n, level, detail, t.p_value)


def _half_width(p: float, n: np.ndarray, level: float) -> np.ndarray:
    # k = p n as a real number: the beta quantiles are continuous in k, so the half-width
    # falls smoothly with n instead of jumping with the rounding of p n.
    alpha = 1 - level
    k = p * n
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, _st.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, _st.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return (high - low) / 2


def n_for_half_width(p: float, half_width: float = 0.05, level: float = 0.95, n_max: int = 10**7) -> int:
    """Smallest number of images for which the Clopper-Pearson interval at rate ``p`` has
    half-width ``(high - low) / 2 <= half_width``.

    The interval is evaluated at ``k = p n`` taken as a real number, so the half-width is
    decreasing in ``n`` and a bisection finds the answer; at integer ``k = round(p n)`` the
    width can differ by a fraction of an image. ``p = 0.5`` is the widest case: use it when
    the rate is unknown (about 400 images for +-5 points at 95%). Raises if more than
    ``n_max`` images would be needed.
    """
    level = _check_level(level)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a rate in [0, 1], got {p!r}")
    if not 0 < half_width < 0.5:
        raise ValueError(f"half_width must be in (0, 0.5), got {half_width!r}")
    if _half_width(p, np.array(float(n_max)), level) > half_width:
        raise ValueError(f"more than n_max = {n_max} images needed for half-width {half_width}")
    lo, hi = 1, n_max  # invariant: the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if _half_width(p, np.array(float(mid)), level) <= half_width:
            hi = mid
        else:
            lo = mid + 1
    return lo


def format_interval(acc: float, low: float, high: float, digits: int = 1) -> str:
    """``"61.2 [57.0, 65.3]"``: a rate and its interval in percent, for tables; ``"n/a"``
    when the rate is nan (nothing measured)."""
    if acc is None or not math.isfinite(acc):
        return "n/a"
    f = f"{{:.{digits}f}}"
    return f"{f.format(100 * acc)} [{f.format(100 * low)}, {f.format(100 * high)}]"


# --------------------------------------------------------------------------- claims: paired data, margins, Holm
@dataclass(frozen=True)
class PairedCounts:
    """Two models (or evaluations) on the same ``n`` images: right for both, for A only, for B only,
    for neither."""

    both: int
    a_only: int
    b_only: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.a_only + self.b_only + self.neither

    @property
    def difference(self) -> float:
        """acc(A) - acc(B), a fraction in [-1, 1] (nan with no images)."""
        return (self.a_only - self.b_only) / self.n if self.n else float("nan")


def paired_counts(a_correct, b_correct) -> PairedCounts:
    """The 2 x 2 table of per-image flags (N,) for A and B, aligned image by image."""
    a, b = _as_bool(a_correct, "a_correct"), _as_bool(b_correct, "b_correct")
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same images: {len(a)} vs {len(b)}")
    return PairedCounts(int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum()))


def wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for ``k / n`` at normal quantile ``z`` (1.96 for 95 %)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _newcombe_z(t: PairedCounts, z: float) -> tuple[float, float]:
    """Newcombe's method 10 at normal quantile ``z``: Wilson intervals for both marginal
    accuracies, combined with the correlation phi of the 2 x 2 table (its numerator shrunk
    by n / 2 when positive, 0 when any margin is empty, as in the paper)."""
    n = t.n
    k1, k2 = t.both + t.a_only, t.both + t.b_only
    p1, p2 = k1 / n, k2 / n
    (l1, u1), (l2, u2) = wilson(k1, n, z), wilson(k2, n, z)
    margins = (k1, n - k1, k2, n - k2)
    num = t.both * t.neither - t.a_only * t.b_only
    num = max(num - n / 2, 0.0) if num > 0 else num
    phi = 0.0 if min(margins) == 0 else num / math.sqrt(math.prod(float(m) for m in margins))
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, low), min(1.0, high)


def newcombe_paired(t: PairedCounts, level: float = 0.95) -> tuple[float, float, float]:
    """``(difference, low, high)``: acc(A) - acc(B) on the same images with Newcombe's (1998)
    score interval for paired proportions (method 10), which stays inside [-1, 1] and keeps
    its coverage where the Wald interval does not (few discordant images, rates near 0 or 1)."""
    level = _check_level(level)
    if t.n == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = _newcombe_z(t, float(_st.norm.ppf(0.5 + level / 2)))
    return t.difference, low, high


def _z_where(bound, threshold: float, rising: bool) -> float:
    """The normal quantile z >= 0 at which ``bound(z)`` (monotone in z, ``bound(0)`` the point
    estimate) reaches ``threshold``; ``inf`` if it never does up to z = 40."""
    lo, hi = 0.0, 40.0
    if (bound(hi) < threshold) if rising else (bound(hi) > threshold):
        return math.inf
    for _ in range(100):
        mid = (lo + hi) / 2
        reached = bound(mid) >= threshold if rising else bound(mid) <= threshold
        lo, hi = (lo, mid) if reached else (mid, hi)
    return (lo + hi) / 2


def paired_margin_p(t: PairedCounts, margin: float, below: bool) -> float:
    """One-sided p-value for "acc(A) - acc(B) < margin" (``below=True``; null: difference >=
    margin) or "> margin" (``below=False``), by inverting Newcombe's interval: the p-value is
    the one-sided level at which the interval's bound first excludes ``margin``. Consistent
    with :func:`newcombe_paired`: at p < alpha the (1 - 2 alpha) interval excludes the margin
    on that side. Two such tests at +-margin are the TOST of equivalence."""
    d = t.difference
    if t.n == 0 or math.isnan(d):
        return float("nan")
    if below:   # the upper bound must fall below the margin
        if d >= margin:
            return 1.0 - paired_margin_p(t, margin, below=False) if d > margin else 0.5
        z = _z_where(lambda z: _newcombe_z(t, z)[1], margin, rising=True)
    else:
        if d <= margin:
            return 1.0 - paired_margin_p(t, margin, below=True) if d < margin else 0.5
        z = _z_where(lambda z: _newcombe_z(t, z)[0], margin, rising=False)
    return float(_st.norm.sf(z))


def binomial_margin_p(k: int, n: int, value: float, below: bool) -> float:
    """Exact one-sided binomial p-value for "the rate behind k / n is below ``value``"
    (``below=True``; null: rate >= value) or "above ``value``". A value outside [0, 1] makes
    the null impossible (p = 0); at the edges the tail is exact."""
    k, n = int(k), int(n)
    if n <= 0:
        return float("nan")
    if below:
        return 0.0 if value > 1 else (1.0 if value <= 0 else float(_st.binom.cdf(k, n, value)))
    return 0.0 if value < 0 else (1.0 if value >= 1 else float(_st.binom.sf(k - 1, n, value)))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order: sort the m p-values, multiply
    the i-th smallest by (m - i + 1), make them non-decreasing, cap at 1. A claim is rejected
    at family-wise level alpha when its adjusted p < alpha. NaN entries (claims not tested)
    are not in the family and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    if (p[tested] < 0).any() or (p[tested] > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[tested]}")
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, p[order] * (m - np.arange(m)))
    out[order] = np.maximum.accumulate(scaled)
    return out


def holm_threshold(p_values, i: int, alpha: float = 0.05) -> float:
    """The level Holm's procedure holds entry ``i`` to: alpha / (m - rank + 1), its rank among
    the tested p-values (1 = smallest); nan where entry ``i`` is not tested."""
    p = np.asarray(p_values, dtype=float)
    if np.isnan(p[i]):
        return float("nan")
    tested = np.flatnonzero(~np.isnan(p))
    rank = 1 + int(np.flatnonzero(tested[np.argsort(p[tested], kind="stable")] == i)[0])
    return alpha / (len(tested) - rank + 1)


def n_mcnemar(t: PairedCounts, alpha: float, power: float = 0.8) -> float:
    """Images that would make McNemar's test (two-sided, level ``alpha``) reject with
    probability ``power`` if the discordant rates were those observed (Connor 1987):
    n = (z_{1-alpha/2} sqrt(psi) + z_power sqrt(psi - d^2))^2 / d^2 with psi the discordant
    share and d the difference. ``inf`` when the observed difference is 0."""
    if t.n == 0 or t.a_only == t.b_only:
        return math.inf
    psi, d = (t.a_only + t.b_only) / t.n, t.difference
    za, zb = _st.norm.isf(alpha / 2), _st.norm.ppf(power)
    return float(math.ceil((za * math.sqrt(psi) + zb * math.sqrt(max(psi - d * d, 0.0))) ** 2 / (d * d)))


def n_margin(variance: float, distance: float, alpha: float, power: float = 0.8) -> float:
    """Images that would put a one-sided test against a margin at level ``alpha`` past it with
    probability ``power``, when the estimate lies ``distance`` from the margin and one image
    contributes ``variance`` (p (1 - p) for an accuracy; psi - d^2 for a paired difference):
    n = (z_{1-alpha} + z_power)^2 variance / distance^2 (normal approximation). ``inf`` when
    the estimate sits on the margin."""
    if not distance > 0:
        return math.inf
    z = _st.norm.isf(alpha) + _st.norm.ppf(power)
    return float(max(1, math.ceil(z * z * variance / (distance * distance))))


# --------------------------------------------------------------------------- claims: paired continuous scores
@dataclass(frozen=True)
class PairedT:
    """Outcome of :func:`paired_t`: the mean per-block ``difference`` with its t interval
    (``low``, ``high``), the two-sided ``p_value`` for "mean difference 0", the standard
    deviation ``sd`` of the differences and the number of blocks ``n``."""

    difference: float
    low: float
    high: float
    p_value: float
    sd: float
    n: int


def paired_t(differences, level: float = 0.95) -> PairedT:
    """Student's paired t test on per-block differences (N,) of two scores measured on the same
    blocks: mean, t interval at ``level``, two-sided p. Needs N >= 2 finite values. Differences
    that are all equal have no spread: p is 1 when they are all 0 and 0 otherwise (the interval
    is then the point)."""
    level = _check_level(level)
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"a paired t test needs at least 2 differences in a 1-D array, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("paired differences contain NaN or infinite values")
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        return PairedT(mean, mean, mean, 1.0 if mean == 0 else 0.0, 0.0, n)
    sem = sd / math.sqrt(n)
    half = float(_st.t.ppf(0.5 + level / 2, n - 1)) * sem
    p = float(2 * _st.t.sf(abs(mean) / sem, n - 1))
    return PairedT(mean, mean - half, mean + half, min(p, 1.0), sd, n)


def n_paired_t(sd: float, difference: float, alpha: float, power: float = 0.8) -> float:
    """Blocks that would make a two-sided paired t test at level ``alpha`` reject with
    probability ``power`` if the differences had the observed mean and standard deviation:
    n = (z_{1-alpha/2} + z_power)^2 sd^2 / difference^2 (normal approximation), at least 2.
    ``inf`` when the observed difference is 0."""
    if not abs(difference) > 0 or not math.isfinite(sd):
        return math.inf
    z = _st.norm.isf(alpha / 2) + _st.norm.ppf(power)
    return float(max(2, math.ceil(z * z * sd * sd / (difference * difference))))
