"""One claim type and one judge for every report of the study.

A :class:`Claim` is a report's own words (a verbatim ``quote`` with its ``section``), the kind
of statement it makes, the comparison it implies (:class:`Comparison`: which models, which
attack, which eps, which images) and the data a run measured for it (:class:`Paired` flags of
two models on the same images, a :class:`Count`, or :class:`Scores`: a continuous score of two
models on the same blocks, such as a sample-quality score of two generators). :func:`judge` takes all claims of a
report (one family; several reports make several families) and returns them judged:

=============  ==============================================  ===========================================
kind           the report says                                 test (the p-value Holm adjusts)
=============  ==============================================  ===========================================
SUPERIORITY    "A is more robust / accurate than B"            exact McNemar, two-sided; holds when A wins,
                                                               does not hold when B wins
EQUIVALENCE    "A is about as robust as B", "X does not help"  TOST against +-margin on the paired
                                                               difference (Newcombe's interval inverted);
                                                               holds when the difference is inside the
                                                               margin, does not hold when it is beyond it
NOT_BETTER     "A is no more robust than B"                    one-sided against +margin (same interval)
VALUE          "the accuracy is (about) v"                     exact binomial TOST against v +- margin
SUPERIORITY    "A's samples are better than B's" (Scores)      paired t test on the per-block differences,
                                                               two-sided; holds when A scores better
=============  ==============================================  ===========================================

The effect is a difference in accuracy (fractions): acc(A) - acc(B) for paired claims, with
Newcombe's (1998) paired score interval; ours - v for a value, with the Clopper-Pearson interval
shifted by v. For :class:`Scores` it is how much better A scores than B, in the score's own
units (B - A for a lower-is-better score such as KID), with the t interval of the mean
per-block difference; tables print every effect times 100 (for a score: hundredths of its unit,
which the test's name says). A test decides in one direction only where the data
point (an equivalence claim whose estimate lies beyond the margin can only be refuted, and its
p-value is then that of "beyond the margin", doubled for the two sides), so every claim has
exactly one p-value. Holm's correction runs over the tested claims of each report; a verdict
is "holds" or "does not hold" only when the adjusted p-value is below alpha, else "cannot be
judged at this profile", with the number of images that would decide it at the observed
effect (80 % power at the claim's Holm level; :func:`lib.stats.n_mcnemar`,
:func:`lib.stats.n_margin`; for scores, blocks times images per block: :func:`lib.stats.n_paired_t`).
A null claim never holds for lack of evidence: it holds only when the interval lies inside the
margin.

Gates (:class:`Requirement`): a claim about a defense is judged only when the models behind it
reach the report's own baseline within a stated margin (:func:`baseline`); a failed gate makes
the claim "cannot be judged" with the gate's reason, and keeps it out of the Holm family.
A *budget* gate (:func:`budget`: the model trained with less than the report's budget) is
one-sided: falling short of the report may be the budget's doing, so it blocks only a "does
not hold" whose effect is negative (ours below the report's number, or A below B); reaching
the report's number with less, or beating it by more than the margin, is judged as usual.

Our own findings about a report (a contradiction between its tables, a missing control) are
:class:`Observation` s, in their own table; they are never counted as the report's claims.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib import stats
from lib.quotes import normalise, quote_found, reports_dir
from lib.stats import FAILS, HOLDS, UNJUDGED

SUPERIORITY, EQUIVALENCE, NOT_BETTER, VALUE = "superiority", "equivalence", "not better", "value"
KINDS = (SUPERIORITY, EQUIVALENCE, NOT_BETTER, VALUE)
#: 5 points: the margin of "about the same" unless the report implies another.
DEFAULT_MARGIN = 0.05
ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class Quote:
    """A report's own words and where they stand: what a report package's ``reference.py``
    transcribes for each claim (:attr:`Claim.quote`, :attr:`Claim.section`)."""

    section: str
    text: str


@dataclass(frozen=True)
class Comparison:
    """What a claim compares: ``models`` (A, B) for a paired claim, (A,) for a value; the
    ``attack`` ("clean" for none), L``norm`` ``eps`` (None when clean) and the ``images``."""

    models: tuple[str, ...]
    attack: str = "clean"
    eps: float | None = None
    norm: str | None = None
    images: str = ""

    def describe(self) -> str:
        threat = "clean" if self.eps is None else f"{self.attack}, L{self.norm} eps {self.eps:g}"
        return f"{' vs '.join(self.models)} ({threat}{'; ' + self.images if self.images else ''})"


@dataclass(frozen=True)
class Paired:
    """Per-image flags (N,) of model A and model B on the same images (right / robust)."""

    a: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "a", stats._as_bool(self.a, "a"))
        object.__setattr__(self, "b", stats._as_bool(self.b, "b"))
        if len(self.a) != len(self.b):
            raise ValueError(f"paired flags need the same images: {len(self.a)} vs {len(self.b)}")


@dataclass(frozen=True)
class Scores:
    """A continuous score of model A and model B on the same ``blocks`` (N,) each, e.g. KID per
    block of two generators whose blocks share their real images (:func:`lib.quality.kid_blocks`),
    so that the per-block difference cancels what the blocks have in common. ``unit`` names the
    score in tables ("KID"); ``lower_is_better`` (KID, FID, an error) or higher; ``block``:
    images per block and model, so that "how many would decide it" can be said in images.
    Judged by the paired t test (:func:`lib.stats.paired_t`); only SUPERIORITY claims take it
    (a margin in a score's units is not defined yet)."""

    a: np.ndarray
    b: np.ndarray
    unit: str = "score"
    lower_is_better: bool = True
    block: int = 1

    def __post_init__(self):
        a, b = (np.asarray(v, dtype=float) for v in (self.a, self.b))
        if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
            raise ValueError(f"scores need one value per block for A and B on the same >= 2 blocks, got shapes "
                             f"{a.shape} and {b.shape}")
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise ValueError("scores contain NaN or infinite values")
        if isinstance(self.block, bool) or int(self.block) < 1:
            raise ValueError(f"block is a number of images >= 1, got {self.block!r}")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    @property
    def advantage(self) -> np.ndarray:
        """Per block, how much better A scores than B (B - A when lower is better), (N,)."""
        return self.b - self.a if self.lower_is_better else self.a - self.b


@dataclass(frozen=True)
class Count:
    """``k`` images right (or robust) out of ``n``."""

    k: int
    n: int

    def __post_init__(self):
        if isinstance(self.k, bool) or isinstance(self.n, bool) or not 0 <= int(self.k) <= int(self.n) \
                or int(self.n) < 1:
            raise ValueError(f"a count needs 0 <= k <= n and n >= 1, got k = {self.k!r}, n = {self.n!r}")


@dataclass(frozen=True)
class Requirement:
    """One gate on the models behind a claim: ``what`` is checked, whether it ``passed``, and
    the numbers (``detail``)."""

    what: str
    passed: bool
    detail: str
    blocks: str = "any"   # "any": a failed gate blocks every verdict; "short": only a shortfall (see budget)

    def __post_init__(self):
        if self.blocks not in ("any", "short"):
            raise ValueError(f"a requirement blocks 'any' verdict or only a 'short'fall, got {self.blocks!r}")


def budget(what: str, passed: bool, detail: str) -> Requirement:
    """A one-sided gate for a model trained with less than the report's budget (fewer epochs,
    images or width): when it fails, a "does not hold" with a negative effect (ours short of the
    report) becomes "cannot be judged", since the shortfall may be the budget's; "holds" and a
    "does not hold" by excess stand."""
    return Requirement(what, bool(passed), detail, blocks="short")


def baseline(model: str, quantity: str, ours: float, report: float, margin: float, *,
             higher_is_better: bool = True, relative: bool = False, fmt: str = "{:.1f}",
             scale: float = 100.0) -> Requirement:
    """Does ``model`` reach the report's baseline? Passes when ours is at most ``margin`` worse
    than the report's ``report`` (absolute, or a fraction of it with ``relative``; lower is
    better with ``higher_is_better=False``, e.g. a reconstruction RMSE). The point estimate
    decides: a model that is a reproduction of the report's must look like one."""
    if relative:
        limit = report * (1 - margin) if higher_is_better else report * (1 + margin)
    else:
        limit = report - margin if higher_is_better else report + margin
    passed = bool(ours >= limit) if higher_is_better else bool(ours <= limit)
    f = lambda v: fmt.format(scale * v)  # noqa: E731
    sign = ">=" if higher_is_better else "<="
    return Requirement(f"{model}: {quantity}", passed,
                       f"{model}'s {quantity} {f(ours)} vs the report's {f(report)} (needs {sign} {f(limit)})")


def clean_baseline(model: str, k: int, n: int, report: float, margin: float = DEFAULT_MARGIN) -> Requirement:
    """:func:`baseline` on clean accuracy ``k / n`` against the report's (fractions)."""
    return baseline(model, "clean accuracy (%)", k / n, report, margin)


def condition(what: str, passed: bool, detail: str) -> Requirement:
    """A gate that is not a number (real data, the report's training budget, ...)."""
    return Requirement(what, bool(passed), detail)


@dataclass(frozen=True)
class Claim:
    """A report's claim and, once :func:`judge` d, our verdict on it.

    Stated by the report package: ``report`` (its id), ``id`` (unique in the report),
    ``quote`` (the report's words, verbatim), ``section``, ``kind`` (:data:`KINDS`),
    ``comparison``, ``data`` (None: not measured in this run), ``value`` (the report's number
    for :data:`VALUE`, a fraction), ``margin`` (fraction), ``gate`` (requirements on the
    models), ``table`` / ``figure`` (file names of the evidence), ``claim`` (a short
    paraphrase for tables).

    Filled by :func:`judge`: ``effect`` with ``low`` / ``high`` (95 %), ``test``, ``p_raw``,
    ``p_holm``, ``verdict``, ``if_significant`` (the verdict a significant test gives),
    ``n``, ``n_to_decide``, ``why_not`` (a failed gate) and ``evidence``.
    """

    report: str
    id: str
    quote: str
    section: str
    kind: str
    comparison: Comparison
    data: Paired | Count | Scores | None = None
    value: float | None = None
    margin: float = DEFAULT_MARGIN
    gate: tuple[Requirement, ...] = ()
    table: str = ""
    figure: str = ""
    claim: str = ""
    effect: float = math.nan
    low: float = math.nan
    high: float = math.nan
    test: str = ""
    p_raw: float = math.nan
    p_holm: float = math.nan
    verdict: str = ""
    if_significant: str = ""
    n: int = 0
    n_to_decide: float = math.nan
    why_not: str = ""
    evidence: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if not self.quote.strip() or not self.section.strip():
            raise ValueError(f"claim {self.id!r}: a claim needs the report's words (quote) and its section")
        if (self.kind == VALUE) != (self.value is not None):
            raise ValueError(f"claim {self.id!r}: a value (and only a value claim) needs the report's number")
        if self.data is not None and isinstance(self.data, Count) != (self.kind == VALUE):
            need = "a Count" if self.kind == VALUE else "Paired"
            raise ValueError(f"claim {self.id!r}: a {self.kind} claim needs {need} data")
        if isinstance(self.data, Scores) and self.kind != SUPERIORITY:
            raise ValueError(f"claim {self.id!r}: Scores data judge superiority claims only, not {self.kind!r}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"claim {self.id!r}: margin is a fraction in [0, 1), got {self.margin!r}")


@dataclass(frozen=True)
class Observation:
    """Our own finding about a report (not its claim): ``where`` in the report, ``what`` we
    found, the ``evidence`` (numbers, a table), and its ``source``: "report text" (read off
    the report) or "our run"."""

    report: str
    id: str
    where: str
    what: str
    evidence: str = ""
    source: str = "report text"


# --------------------------------------------------------------------------- the tests of one claim
def _variance_floor(v: float, n: int) -> float:
    # No discordant image (or a rate of 0 or 1) gives variance 0; one image's worth keeps
    # the sample size finite and honest.
    return max(v, 1.0 / max(n, 1))


def _test(c: Claim) -> dict:
    """Effect, interval, test name, raw p, the verdict a significant test gives, and the pieces
    for the sample size, of one measured claim."""
    m = c.margin
    pts = f"{100 * m:g} points"
    if c.kind == VALUE:
        k, n = int(c.data.k), int(c.data.n)
        p_hat = k / n
        lo, hi = stats.clopper_pearson(k, n)
        d, var = p_hat - c.value, _variance_floor(p_hat * (1 - p_hat), n)
        inside = abs(d) < m
        if inside:
            p = max(stats.binomial_margin_p(k, n, c.value + m, below=True),
                    stats.binomial_margin_p(k, n, c.value - m, below=False))
        else:
            p = min(1.0, 2 * (stats.binomial_margin_p(k, n, c.value + m, below=False) if d > 0
                              else stats.binomial_margin_p(k, n, c.value - m, below=True)))
        test = f"exact binomial TOST, report's {100 * c.value:g} % +- {pts}"
        numbers = f"ours {k}/{n} = {stats.format_interval(p_hat, lo, hi)} %, report {100 * c.value:g} %"
        return dict(effect=d, low=lo - c.value, high=hi - c.value, test=test, p_raw=p, n=n, var=var,
                    if_significant=HOLDS if inside else FAILS, distance=abs(abs(d) - m), two_sided=not inside,
                    numbers=numbers)
    if isinstance(c.data, Scores):
        return _test_scores(c)
    t = stats.paired_counts(c.data.a, c.data.b)
    d, lo, hi = stats.newcombe_paired(t)
    a, b = c.comparison.models[:2]
    ka, kb = t.both + t.a_only, t.both + t.b_only
    numbers = (f"{a} {ka}/{t.n}, {b} {kb}/{t.n}; {t.a_only} images right for {a} only, "
               f"{t.b_only} for {b} only")
    var = _variance_floor((t.a_only + t.b_only) / max(t.n, 1) - d * d, t.n)
    out = dict(effect=d, low=lo, high=hi, n=t.n, var=var, counts=t, numbers=numbers)
    if c.kind == SUPERIORITY:
        p = stats.mcnemar_exact(c.data.a, c.data.b).p_value
        return {**out, "test": "exact McNemar (two-sided)", "p_raw": p,
                "if_significant": HOLDS if t.a_only >= t.b_only else FAILS}
    if c.kind == EQUIVALENCE:
        inside = abs(d) < m
        if inside:
            p = max(stats.paired_margin_p(t, m, below=True), stats.paired_margin_p(t, -m, below=False))
        else:
            p = min(1.0, 2 * (stats.paired_margin_p(t, m, below=False) if d > 0
                              else stats.paired_margin_p(t, -m, below=True)))
        return {**out, "test": f"paired TOST, +- {pts} (Newcombe interval inverted)", "p_raw": p,
                "if_significant": HOLDS if inside else FAILS, "distance": abs(abs(d) - m), "two_sided": not inside}
    below = d < m   # NOT_BETTER: "A is no more than `margin` better than B"
    p = stats.paired_margin_p(t, m, below=below)
    return {**out, "test": f"paired one-sided test against +{pts} (Newcombe interval inverted)", "p_raw": p,
            "if_significant": HOLDS if below else FAILS, "distance": abs(d - m), "two_sided": False}


def _test_scores(c: Claim) -> dict:
    """A superiority claim on :class:`Scores`: the paired t test on A's per-block advantage."""
    s = c.data
    t = stats.paired_t(s.advantage)
    a, b = c.comparison.models[:2]
    better = "lower" if s.lower_is_better else "higher"
    numbers = (f"mean {s.unit} {a} {s.a.mean():.4g}, {b} {s.b.mean():.4g} over {len(s.a)} paired blocks of "
               f"{s.block} images ({better} is better)")
    return dict(effect=t.difference, low=t.low, high=t.high, n=len(s.a), sd=t.sd, numbers=numbers,
                test=f"paired t test on {s.unit} per block (two-sided; effect: {a}'s advantage in {s.unit} x 100)",
                p_raw=t.p_value, if_significant=HOLDS if t.difference >= 0 else FAILS)


def _n_to_decide(c: Claim, r: dict, level: float, power: float) -> float:
    if isinstance(c.data, Scores):
        return stats.n_paired_t(r["sd"], r["effect"], level, power) * c.data.block
    if c.kind == SUPERIORITY:
        return stats.n_mcnemar(r["counts"], level, power)
    return stats.n_margin(r["var"], r["distance"], level / 2 if r["two_sided"] else level, power)


def judge(claims: Sequence[Claim], alpha: float = ALPHA, power: float = POWER) -> list[Claim]:
    """Every claim judged, in the input order. Each report's measured claims that pass their
    gates form one family for Holm's correction. Ids must be unique within a report."""
    seen = set()
    for c in claims:
        if (c.report, c.id) in seen:
            raise ValueError(f"claim id {c.id!r} appears twice in report {c.report!r}")
        seen.add((c.report, c.id))
    results = []
    for c in claims:
        failed = [g for g in c.gate if not g.passed and g.blocks == "any"]
        why_not = ("; ".join(g.detail for g in failed) if failed
                   else ("" if c.data is not None else "not measured in this run"))
        r = _test(c) if c.data is not None else {}
        results.append((c, r, why_not))
    p_holm = np.full(len(claims), np.nan)
    thresholds = np.full(len(claims), np.nan)
    for report in dict.fromkeys(c.report for c in claims):
        idx = [i for i, (c, r, w) in enumerate(results) if c.report == report and not w]
        raw = np.array([results[i][1]["p_raw"] for i in idx], dtype=float)
        p_holm[idx] = stats.holm(raw)
        for j, i in enumerate(idx):
            thresholds[i] = stats.holm_threshold(raw, j, alpha)
    out = []
    for i, (c, r, why_not) in enumerate(results):
        fields = dict(why_not=why_not, verdict=UNJUDGED, p_holm=float(p_holm[i]))
        if r:
            fields.update(effect=float(r["effect"]), low=float(r["low"]), high=float(r["high"]), test=r["test"],
                          n=int(r["n"]), if_significant=r["if_significant"])
            fields["p_raw"] = float(r["p_raw"]) if not why_not else math.nan
        if not why_not:
            fields["verdict"] = decide(fields["p_holm"], r["if_significant"], alpha)
            short = [g for g in c.gate if not g.passed and g.blocks == "short"]
            if short and fields["verdict"] == FAILS and r["effect"] < 0:
                fields.update(verdict=UNJUDGED, why_not="; ".join(g.detail for g in short) +
                              " (falling short of the report may be the smaller budget's doing)")
            elif fields["verdict"] == UNJUDGED:
                fields["n_to_decide"] = _n_to_decide(c, r, float(thresholds[i]), power)
        fields["evidence"] = _evidence(c, r, fields, fields["why_not"])
        out.append(dataclasses.replace(c, **fields))
    return out


def decide(p_adjusted: float, if_significant: str, alpha: float = ALPHA) -> str:
    """The verdict from an adjusted p-value: ``if_significant`` (holds / does not hold) below
    ``alpha``, else "cannot be judged at this profile" (also for a claim not tested)."""
    if if_significant not in (HOLDS, FAILS):
        return UNJUDGED
    return if_significant if p_adjusted < alpha else UNJUDGED


def _evidence(c: Claim, r: dict, f: dict, why_not: str) -> str:
    parts = [c.table] if c.table else []
    if c.figure:
        parts.append(c.figure)
    where = ", ".join(parts)
    text = f"{where}: " if where else ""
    if r:
        unit = f"{c.data.unit} x 100" if isinstance(c.data, Scores) else "points"
        text += f"{r['numbers']}; difference {format_effect(f['effect'], f['low'], f['high'])} {unit}"
        if not why_not:
            text += f"; {r['test']}, p = {f['p_raw']:.2g} (Holm {f['p_holm']:.2g})"
    if why_not:
        text += ("; " if r else "") + f"not judged: {why_not}"
    return text


def format_effect(effect: float, low: float, high: float) -> str:
    """``"+6.3 [+1.7, +10.9]"``: a difference of accuracies and its interval, in points."""
    if not math.isfinite(effect):
        return "n/a"
    return f"{100 * effect:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


# --------------------------------------------------------------------------- tables
CLAIM_COLUMNS = ["report", "id", "claim", "quote", "section", "kind", "models", "attack", "eps", "norm", "images",
                 "test", "effect", "low", "high", "margin", "p_raw", "p_holm", "verdict", "if_significant", "n",
                 "n_to_decide", "gate", "evidence"]
OBSERVATION_COLUMNS = ["report", "id", "where", "what", "evidence", "source"]


def claims_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """Judged claims as rows of :data:`CLAIM_COLUMNS` (fractions for effect, low, high, margin)."""
    rows = []
    for c in claims:
        if not c.verdict:
            raise ValueError(f"claim {c.id!r} has not been judged: pass the claims through verdicts.judge first")
        cmp = c.comparison
        rows.append(dict(report=c.report, id=c.id, claim=c.claim or cmp.describe(), quote=c.quote, section=c.section,
                         kind=c.kind, models=" vs ".join(cmp.models), attack=cmp.attack,
                         eps=math.nan if cmp.eps is None else float(cmp.eps), norm=cmp.norm or "", images=cmp.images,
                         test=c.test, effect=c.effect, low=c.low, high=c.high, margin=c.margin, p_raw=c.p_raw,
                         p_holm=c.p_holm, verdict=c.verdict, if_significant=c.if_significant, n=c.n,
                         n_to_decide=c.n_to_decide, gate=c.why_not, evidence=c.evidence))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def observations_table(observations: Sequence[Observation]) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(o) for o in observations], columns=OBSERVATION_COLUMNS)


def study_wide(claims: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The claims table (:data:`CLAIM_COLUMNS`, several reports) with Holm's correction over
    every tested claim of the study at once: adds ``p_holm_study``, ``verdict_study`` and
    ``changes`` (True where the study-wide verdict differs from the per-report one). Rows
    without a raw p-value (gated, or from a report not yet converted) are left as they are, and
    so is a row a budget gate stopped (it is in the Holm family, but its gate still holds: a
    larger family can only weaken its verdict, never lift the gate)."""
    out = claims.copy()
    p = pd.to_numeric(out.get("p_raw", pd.Series(np.nan, index=out.index)), errors="coerce").to_numpy()
    out["p_holm_study"] = stats.holm(p)
    sig = out.get("if_significant", pd.Series("", index=out.index)).fillna("")
    gated = out.get("gate", pd.Series("", index=out.index)).fillna("").astype(str).str.strip() != ""
    out["verdict_study"] = [decide(ph, s, alpha) if not (np.isnan(ph) or g) else v
                            for ph, s, v, g in zip(out["p_holm_study"], sig, out["verdict"], gated)]
    out["changes"] = out["verdict_study"] != out["verdict"]
    return out


__all__ = ["ALPHA", "CLAIM_COLUMNS", "DEFAULT_MARGIN", "EQUIVALENCE", "FAILS", "HOLDS", "KINDS", "NOT_BETTER",
           "OBSERVATION_COLUMNS", "SUPERIORITY", "UNJUDGED", "VALUE", "Claim", "Comparison", "Count", "Observation",
           "Paired", "Quote", "Requirement", "Scores", "baseline", "budget", "claims_table", "clean_baseline",
           "condition", "decide", "format_effect", "judge", "normalise", "observations_table", "quote_found",
           "reports_dir", "study_wide"]
