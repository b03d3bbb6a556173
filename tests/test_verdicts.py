"""lib.verdicts: one claim type, one judge (McNemar, TOST, values, Holm per report, gates)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lib import stats, verdicts
from lib.verdicts import (
    EQUIVALENCE,
    FAILS,
    HOLDS,
    NOT_BETTER,
    SUPERIORITY,
    UNJUDGED,
    VALUE,
    Claim,
    Comparison,
    Count,
    Paired,
)


def flags(both: int, a_only: int, b_only: int, neither: int) -> Paired:
    a = [1] * both + [1] * a_only + [0] * b_only + [0] * neither
    b = [1] * both + [0] * a_only + [1] * b_only + [0] * neither
    return Paired(np.array(a, bool), np.array(b, bool))


def claim(id_: str, kind: str, data, report: str = "r", **kw) -> Claim:
    models = ("A",) if kind == VALUE else ("A", "B")
    return Claim(report=report, id=id_, quote=f"quote {id_}", section="D", kind=kind,
                 comparison=Comparison(models, "PGD", 0.1, "2", "100 test images"), data=data, table="t.csv", **kw)


def test_superiority_is_exact_mcnemar_with_newcombe_effect():
    data = flags(50, 30, 8, 112)
    (c,) = verdicts.judge([claim("s", SUPERIORITY, data)])
    assert c.p_raw == pytest.approx(stats.mcnemar_exact(data.a, data.b).p_value)
    assert c.p_holm == c.p_raw and c.verdict == HOLDS and c.test.startswith("exact McNemar")
    d, lo, hi = stats.newcombe_paired(stats.PairedCounts(50, 30, 8, 112))
    assert (c.effect, c.low, c.high) == pytest.approx((d, lo, hi)) and c.n == 200
    assert math.isnan(c.n_to_decide)
    (rev,) = verdicts.judge([claim("s", SUPERIORITY, flags(50, 8, 30, 112))])
    assert rev.verdict == FAILS and rev.effect < 0


def test_superiority_without_enough_images_says_how_many_would_decide():
    (c,) = verdicts.judge([claim("s", SUPERIORITY, flags(20, 6, 3, 21))])
    assert c.verdict == UNJUDGED and c.p_raw > 0.05
    expected = stats.n_mcnemar(stats.PairedCounts(20, 6, 3, 21), 0.05)
    assert c.n_to_decide == expected and c.n_to_decide > c.n


def test_equivalence_does_not_hold_for_lack_of_evidence():
    """Same accuracy on 40 images: no difference found, but the interval is far wider than the
    margin, so "about as robust" cannot be judged; on 4000 images it holds."""
    (small,) = verdicts.judge([claim("e", EQUIVALENCE, flags(10, 5, 5, 20))])
    assert small.effect == 0 and small.verdict == UNJUDGED and small.p_raw > 0.05
    assert small.high > small.margin and small.n_to_decide > 40
    (large,) = verdicts.judge([claim("e", EQUIVALENCE, flags(1000, 100, 100, 2800))])
    assert large.verdict == HOLDS and large.high < large.margin and large.low > -large.margin
    assert large.if_significant == HOLDS


def test_equivalence_is_refuted_only_beyond_the_margin():
    (c,) = verdicts.judge([claim("e", EQUIVALENCE, flags(100, 120, 10, 170))])
    assert c.effect > c.margin and c.verdict == FAILS and c.low > c.margin
    # Beyond the margin but within noise of it: cannot be judged, never "holds".
    (near,) = verdicts.judge([claim("e", EQUIVALENCE, flags(40, 9, 5, 46))])
    assert near.effect < 0.05 or near.verdict != HOLDS


def test_tost_p_value_by_hand_from_the_two_one_sided_tests():
    data = flags(500, 40, 35, 425)
    (c,) = verdicts.judge([claim("e", EQUIVALENCE, data)])
    t = stats.PairedCounts(500, 40, 35, 425)
    hand = max(stats.paired_margin_p(t, 0.05, below=True), stats.paired_margin_p(t, -0.05, below=False))
    assert c.p_raw == pytest.approx(hand)
    # ... and the TOST at 5 % holds exactly when the 90 % interval lies inside the margin.
    _, lo, hi = stats.newcombe_paired(t, level=0.90)
    assert (c.p_raw < 0.05) == (-0.05 < lo and hi < 0.05)


def test_not_better_is_one_sided():
    (c,) = verdicts.judge([claim("n", NOT_BETTER, flags(400, 5, 160, 435))])
    assert c.effect < 0 and c.verdict == HOLDS          # A much worse than B: certainly no better
    (e,) = verdicts.judge([claim("e", EQUIVALENCE, flags(400, 5, 160, 435))])
    assert e.verdict == FAILS                              # ... but not "about the same"


@pytest.mark.parametrize("k, n, value, verdict", [
    (450, 1000, 0.45, HOLDS),      # inside +-5 points, tight interval
    (45, 100, 0.45, UNJUDGED),     # inside, but the interval reaches beyond the margin
    (250, 1000, 0.45, FAILS),      # 20 points below
    (2, 10, 0.45, UNJUDGED),
])
def test_value_claims(k, n, value, verdict):
    (c,) = verdicts.judge([claim("v", VALUE, Count(k, n), value=value)])
    assert c.verdict == verdict
    lo, hi = stats.clopper_pearson(k, n)
    assert (c.low, c.high) == pytest.approx((lo - value, hi - value)) and c.effect == pytest.approx(k / n - value)
    if verdict == HOLDS:   # exact TOST by hand: both one-sided binomial tails
        hand = max(sum(math.comb(n, i) * 0.5 ** i * 0.5 ** (n - i) for i in range(0, k + 1)),
                   sum(math.comb(n, i) * 0.4 ** i * 0.6 ** (n - i) for i in range(k, n + 1)))
        assert c.p_raw == pytest.approx(hand, rel=1e-6)


def test_a_budget_gate_blocks_only_a_shortfall():
    short = verdicts.budget("trained as the report", False, "5 epochs, the report 25")
    met = verdicts.budget("trained as the report", True, "25 epochs")
    below, inside, above = Count(250, 1000), Count(455, 1000), Count(650, 1000)
    judged = verdicts.judge([claim("below", VALUE, below, value=0.45, gate=(short,)),
                             claim("inside", VALUE, inside, value=0.45, gate=(short,)),
                             claim("above", VALUE, above, value=0.45, gate=(short,)),
                             claim("below-met", VALUE, below, value=0.45, gate=(met,))])
    by_id = {c.id: c for c in judged}
    assert by_id["below"].verdict == UNJUDGED and "budget" in by_id["below"].why_not
    assert by_id["inside"].verdict == HOLDS          # the number is reached with less
    assert by_id["above"].verdict == FAILS           # beaten by more than the margin with less
    assert by_id["below-met"].verdict == FAILS       # trained as the report: a shortfall counts
    hard = verdicts.condition("real data", False, "synthetic")
    (c,) = verdicts.judge([claim("hard", VALUE, inside, value=0.45, gate=(short, hard))])
    assert c.verdict == UNJUDGED and c.why_not == "synthetic"
    with pytest.raises(ValueError, match="blocks"):
        verdicts.Requirement("x", False, "y", blocks="some")


def test_holm_runs_within_each_report_and_over_tested_claims_only():
    strong, weak = flags(50, 30, 8, 112), flags(50, 18, 7, 125)
    gate = (verdicts.condition("real data", False, "synthetic stand-in data"),)
    cs = [claim("a", SUPERIORITY, strong), claim("b", SUPERIORITY, weak),
          claim("g", SUPERIORITY, strong, gate=gate), claim("a", SUPERIORITY, weak, report="other")]
    out = verdicts.judge(cs)
    raw = [stats.mcnemar_exact(d.a, d.b).p_value for d in (strong, weak)]
    np.testing.assert_allclose([out[0].p_holm, out[1].p_holm], stats.holm(raw))
    assert out[3].p_holm == pytest.approx(out[3].p_raw), "another report is another family"
    assert out[2].verdict == UNJUDGED and "synthetic" in out[2].why_not and math.isnan(out[2].p_raw)
    assert math.isnan(out[2].n_to_decide) and "not judged: synthetic" in out[2].evidence
    assert out[2].effect == pytest.approx(out[0].effect), "a gated claim still shows what was measured"


def test_a_verdict_flips_when_holm_raises_the_bar():
    """A claim significant alone (p ~ 0.03) is not once it shares its family with others."""
    borderline = flags(60, 16, 5, 119)
    alone = verdicts.judge([claim("x", SUPERIORITY, borderline)])[0]
    assert alone.p_raw < 0.05 and alone.verdict == HOLDS
    crowd = verdicts.judge([claim(f"x{i}", SUPERIORITY, borderline) for i in range(4)])
    assert all(c.p_holm > 0.05 and c.verdict == UNJUDGED for c in crowd)
    assert all(c.n_to_decide > alone.n for c in crowd)


def test_baseline_gates():
    ok = verdicts.clean_baseline("ABS", 130, 300, 0.4538)
    bad = verdicts.clean_baseline("ABS", 76, 300, 0.4538)
    assert ok.passed and not bad.passed and "45.4" in bad.detail and "40.4" in bad.detail
    rmse = verdicts.baseline("CVAE", "best-reconstruction RMSE", 0.19, 0.04, 0.5, higher_is_better=False,
                             relative=True, fmt="{:.3f}", scale=1)
    assert not rmse.passed and "0.060" in rmse.detail
    assert verdicts.baseline("CVAE", "RMSE", 0.05, 0.04, 0.5, higher_is_better=False, relative=True).passed
    (c,) = verdicts.judge([claim("s", SUPERIORITY, flags(50, 30, 8, 112), gate=(ok, bad))])
    assert c.verdict == UNJUDGED and c.why_not == bad.detail


def test_unmeasured_claims_and_bad_claims():
    (c,) = verdicts.judge([claim("u", SUPERIORITY, None)])
    assert c.verdict == UNJUDGED and c.why_not == "not measured in this run" and math.isnan(c.p_raw)
    with pytest.raises(ValueError, match="kind"):
        claim("k", "better", None)
    with pytest.raises(ValueError, match="report's number"):
        claim("v", VALUE, Count(1, 2))
    with pytest.raises(ValueError, match="Paired"):
        claim("p", SUPERIORITY, Count(1, 2))
    with pytest.raises(ValueError, match="quote"):
        Claim(report="r", id="q", quote=" ", section="D", kind=SUPERIORITY, comparison=Comparison(("A", "B")))
    with pytest.raises(ValueError, match="twice"):
        verdicts.judge([claim("d", SUPERIORITY, None), claim("d", SUPERIORITY, None)])
    with pytest.raises(ValueError, match="n >= 1"):
        Count(0, 0)
    with pytest.raises(ValueError, match="same images"):
        Paired(np.ones(3, bool), np.ones(4, bool))


def test_tables_and_study_wide_correction():
    cs = verdicts.judge([claim("a", SUPERIORITY, flags(60, 16, 5, 119)),
                         claim("b", SUPERIORITY, flags(60, 16, 5, 119), report="other"),
                         claim("c", VALUE, Count(30, 100), value=0.3, report="other")])
    table = verdicts.claims_table(cs)
    assert list(table.columns) == verdicts.CLAIM_COLUMNS and len(table) == 3
    assert table.loc[0, "quote"] == "quote a" and table.loc[0, "section"] == "D"
    assert table.loc[0, "verdict"] == HOLDS
    wide = verdicts.study_wide(table)
    assert wide.loc[0, "p_holm_study"] > table.loc[0, "p_holm"]
    assert wide.loc[0, "verdict_study"] == UNJUDGED and bool(wide.loc[0, "changes"])
    assert not bool(wide.loc[2, "changes"])
    # a claim a budget gate stopped (ours short of the report) stays unjudged study-wide
    short = verdicts.budget("trained as the report", False, "trained 10 epochs (report 25)")
    cs = verdicts.judge([claim("v", VALUE, Count(30, 100), value=0.6, gate=(short,))])
    table = verdicts.claims_table(cs)
    assert table.loc[0, "verdict"] == UNJUDGED and not np.isnan(table.loc[0, "p_raw"])
    wide = verdicts.study_wide(table)
    assert wide.loc[0, "verdict_study"] == UNJUDGED and not bool(wide.loc[0, "changes"])
    with pytest.raises(ValueError, match="judged"):
        verdicts.claims_table([claim("z", SUPERIORITY, None)])
    obs = verdicts.observations_table([verdicts.Observation("r", "o", "Table 2", "caption names ABS")])
    assert list(obs.columns) == verdicts.OBSERVATION_COLUMNS and obs.loc[0, "source"] == "report text"


def test_quotes_match_whitespace_and_case_aside():
    text = "Here, although the classification accuracy of ABS is poor,\nit definitely performs  considerably better"
    assert verdicts.quote_found("ABS is poor, it definitely PERFORMS considerably better", text)
    assert not verdicts.quote_found("ABS is good", text)


def test_scores_are_judged_by_a_paired_t_test_on_the_advantage():
    """KID-like scores (lower is better) of A and B on the same 10 blocks: the effect is A's
    advantage B - A with its t interval; A better holds, B better does not hold, a tie of noise
    cannot be judged and says how many images (blocks x block size) would decide it."""
    rng = np.random.default_rng(0)
    shared = rng.normal(1.0, 0.5, 10)                      # what the blocks' real images have in common
    a, b = shared + rng.normal(0, 0.02, 10), shared + 0.1 + rng.normal(0, 0.02, 10)
    ids = ("better", "worse", "noise", "higher")
    data = (verdicts.Scores(a, b, unit="KID", block=50), verdicts.Scores(b, a, unit="KID", block=50),
            verdicts.Scores(a, a + rng.normal(0, 0.05, 10), unit="KID", block=50),
            verdicts.Scores(a, b, unit="accuracy", lower_is_better=False))
    better, worse, noise, higher = verdicts.judge([claim(i, SUPERIORITY, d) for i, d in zip(ids, data)])
    t = stats.paired_t(b - a)
    assert (better.effect, better.low, better.high) == pytest.approx((t.difference, t.low, t.high))
    assert better.verdict == HOLDS and better.p_raw == pytest.approx(t.p_value) and better.n == 10
    assert worse.verdict == FAILS and worse.effect == pytest.approx(-better.effect)
    assert higher.verdict == FAILS                          # a higher-is-better score: B's is higher
    assert noise.verdict == UNJUDGED and noise.n_to_decide > 10 * 50 and noise.n_to_decide % 50 == 0
    assert "paired t test on KID" in better.test and "KID x 100" in better.evidence


def test_scores_need_paired_finite_blocks_and_a_superiority_claim():
    with pytest.raises(ValueError, match="same >= 2 blocks"):
        verdicts.Scores(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        verdicts.Scores(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="superiority claims only"):
        claim("e", EQUIVALENCE, verdicts.Scores(np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match="needs a Count"):
        claim("v", VALUE, verdicts.Scores(np.ones(3), np.ones(3)), value=0.5)
