"""lib.stats: exact binomial intervals, McNemar's exact test, verdicts, sample sizes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib import stats


@pytest.mark.parametrize("k,n,low,high", [
    (0, 10, 0.0, 0.3085),        # 1 - 0.025 ** (1 / 10)
    (5, 10, 0.1871, 0.8129),
    (10, 10, 0.6915, 1.0),
    (1, 1, 0.025, 1.0),
    (50, 100, 0.3983, 0.6017),
])
def test_clopper_pearson_known_values(k, n, low, high):
    lo, hi = stats.clopper_pearson(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)
    assert isinstance(lo, float) and isinstance(hi, float)


def test_clopper_pearson_zero_has_closed_form():
    assert stats.clopper_pearson(0, 30, 0.9)[1] == pytest.approx(1 - 0.05 ** (1 / 30))


def test_clopper_pearson_symmetry_and_vectorised():
    n = 37
    k = np.arange(n + 1)
    low, high = stats.clopper_pearson(k, n)
    assert low.shape == high.shape == (n + 1,)
    np.testing.assert_allclose(low, 1 - high[::-1], atol=1e-12)
    assert np.all(low <= k / n) and np.all(k / n <= high)
    assert np.all(np.diff(low) > 0) and np.all(np.diff(high) > 0)
    wide, _ = stats.clopper_pearson(18, 37, 0.99)
    assert wide < low[18]


def test_clopper_pearson_bad_input():
    assert all(math.isnan(v) for v in stats.clopper_pearson(0, 0))
    for k, n in [(-1, 10), (11, 10), (2.5, 10), (True, 10)]:
        with pytest.raises(ValueError):
            stats.clopper_pearson(k, n)
    with pytest.raises(ValueError, match="level"):
        stats.clopper_pearson(1, 10, level=95)


def test_mcnemar_against_hand_computation():
    # A right on 5 images B gets wrong, B right on 1 image A gets wrong, 3 concordant.
    a = [1, 1, 1, 1, 1, 0, 1, 1, 0]
    b = [0, 0, 0, 0, 0, 1, 1, 1, 0]
    t = stats.mcnemar_exact(a, torch.tensor(b, dtype=torch.bool))
    assert (t.a_only, t.b_only, t.n) == (5, 1, 9)
    # two-sided: 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * 7 / 64
    assert t.p_value == pytest.approx(14 / 64)
    assert stats.mcnemar_exact(b, a).p_value == pytest.approx(t.p_value)
    assert stats.mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0
    with pytest.raises(ValueError, match="same images"):
        stats.mcnemar_exact([1, 0], [1, 0, 1])


def test_verdicts_three_ways():
    sup = stats.verdict_at_least(612, 1000, 0.55)
    assert sup.status == "supported" and sup.supported and sup.low >= 0.55
    und = stats.verdict_at_least(60, 100, 0.55)
    assert und.status == "undecided" and "cannot be judged at n = 100" in und.detail
    assert stats.verdict_at_least(40, 100, 0.55).status == "refuted"
    assert stats.verdict_at_most(5, 200, 0.1, claim="falls to chance").status == "supported"
    assert stats.verdict_at_most(30, 100, 0.1).status == "refuted"
    assert stats.verdict_at_least(0, 0, 0.5).status == "undecided"
    assert set(sup.as_dict()) >= {"claim", "status", "estimate", "low", "high", "n", "level", "detail"}


def test_paired_verdict_uses_discordant_pairs():
    rng = np.random.default_rng(0)
    base = rng.random(400) < 0.6
    better = base | (rng.random(400) < 0.2)          # right on everything base gets, and more
    v = stats.verdict_paired(better, base, names=("defended", "plain"))
    assert v.status == "supported" and v.claim == "defended > plain" and v.p_value < 0.05
    assert stats.verdict_paired(base, better).status == "refuted"
    assert stats.verdict_paired(base[:20], base[:20]).status == "undecided"


def test_n_for_half_width_monotone_and_correct():
    n = stats.n_for_half_width(0.5, 0.05)
    assert 380 <= n <= 420          # normal approximation: 385; the exact interval is wider
    lo, hi = stats.clopper_pearson(round(0.5 * n), n)
    assert (hi - lo) / 2 <= 0.05 + 1e-3
    lo, hi = stats.clopper_pearson(round(0.5 * (n - 10)), n - 10)
    assert (hi - lo) / 2 > 0.05
    widths = [stats.n_for_half_width(0.5, h) for h in (0.02, 0.05, 0.1, 0.2)]
    assert widths == sorted(widths, reverse=True)
    rates = [stats.n_for_half_width(p, 0.05) for p in (0.0, 0.05, 0.2, 0.35, 0.5)]
    assert rates == sorted(rates)
    assert stats.n_for_half_width(0.1) == stats.n_for_half_width(0.9)
    assert stats.n_for_half_width(0.5, 0.05, level=0.99) > n
    with pytest.raises(ValueError):
        stats.n_for_half_width(0.5, 0.0)


def test_format_interval():
    assert stats.format_interval(0.612, 0.570, 0.6534) == "61.2 [57.0, 65.3]"
    assert stats.format_interval(0.5, 0.25, 0.75, digits=0) == "50 [25, 75]"
    assert stats.format_interval(float("nan"), float("nan"), float("nan")) == "n/a"


# --------------------------------------------------------------------------- claims: paired data, margins, Holm
def _binom_tail(k_from: int, k_to: int, n: int, p: float) -> float:
    """sum_{i=k_from}^{k_to} C(n, i) p^i (1 - p)^(n - i), by hand (no scipy)."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(max(k_from, 0), min(k_to, n) + 1))


@pytest.mark.parametrize("a_only, b_only", [(12, 2), (3, 3), (0, 7), (25, 11), (1, 0)])
def test_mcnemar_equals_the_two_sided_binomial_sum_by_hand(a_only, b_only):
    a = np.array([1] * a_only + [0] * b_only + [1] * 5 + [0] * 4, bool)
    b = np.array([0] * a_only + [1] * b_only + [1] * 5 + [0] * 4, bool)
    m = a_only + b_only
    hand = min(1.0, 2 * _binom_tail(0, min(a_only, b_only), m, 0.5))
    assert stats.mcnemar_exact(a, b).p_value == pytest.approx(hand, rel=1e-9)
    t = stats.paired_counts(a, b)
    assert (t.both, t.a_only, t.b_only, t.neither, t.n) == (5, a_only, b_only, 4, m + 9)


@pytest.mark.parametrize("table, low, high", [
    ((36, 12, 2, 0), 0.0569, 0.3404),      # Newcombe (1998, paired), Table II examples, method 10
    ((18, 12, 2, 18), 0.0562, 0.3290),
    ((53, 0, 0, 1), -0.0729, 0.0729),
])
def test_newcombe_paired_interval_reproduces_the_paper(table, low, high):
    d, lo, hi = stats.newcombe_paired(stats.PairedCounts(*table))
    assert d == pytest.approx((table[1] - table[2]) / sum(table))
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_by_hand():
    # 81 of 263 at z = 1.96: centre and half-width from the closed form.
    p, n, z = 81 / 263, 263, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert stats.wilson(81, 263, z) == pytest.approx((centre - half, centre + half))
    assert stats.wilson(0, 10, 1.96)[0] == 0.0


def test_paired_margin_p_inverts_newcombe():
    """At level 1 - 2p the interval's bound sits exactly on the margin: the TOST's p-value and
    the interval say the same thing."""
    t = stats.PairedCounts(150, 9, 11, 130)
    for margin, below in ((0.05, True), (-0.05, False)):
        p = stats.paired_margin_p(t, margin, below=below)
        assert 0 < p < 0.5
        _, lo, hi = stats.newcombe_paired(t, level=1 - 2 * p)
        assert (hi if below else lo) == pytest.approx(margin, abs=1e-9)
    # The two directions are complementary, and a wider margin gives a smaller p.
    assert stats.paired_margin_p(t, 0.05, True) + stats.paired_margin_p(t, 0.05, False) == pytest.approx(1)
    assert stats.paired_margin_p(t, 0.10, True) < stats.paired_margin_p(t, 0.05, True)


@pytest.mark.parametrize("k, n, value, below", [(30, 100, 0.40, True), (30, 100, 0.20, False), (0, 25, 0.1, True),
                                               (25, 25, 0.9, False), (7, 40, 0.1, False)])
def test_binomial_margin_p_is_the_exact_tail_by_hand(k, n, value, below):
    hand = _binom_tail(0, k, n, value) if below else _binom_tail(k, n, n, value)
    assert stats.binomial_margin_p(k, n, value, below) == pytest.approx(hand, rel=1e-9)
    assert stats.binomial_margin_p(k, n, 1.2, below=True) == 0.0     # rate >= 1.2 is impossible
    assert stats.binomial_margin_p(k, n, -0.1, below=False) == 0.0


def test_holm_textbook_example():
    # Four tests: sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06.
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    # Holm (1979) rejects at 0.05 exactly the hypotheses whose adjusted p is below 0.05.
    assert list(adj < 0.05) == [True, False, False, True]
    nan = stats.holm([0.2, np.nan, 0.01])
    assert math.isnan(nan[1]) and nan.tolist()[0] == 0.2 and nan[2] == pytest.approx(0.02)
    assert stats.holm_threshold([0.01, 0.04, 0.03, 0.005], 1) == pytest.approx(0.05)
    assert stats.holm_threshold([0.01, 0.04, 0.03, 0.005], 3) == pytest.approx(0.0125)
    with pytest.raises(ValueError, match="p-values"):
        stats.holm([0.5, 1.5])


def test_sample_sizes_fall_as_the_effect_grows():
    ns = [stats.n_mcnemar(stats.PairedCounts(100, 10 + k, 10 - k, 100), 0.05) for k in range(1, 9)]
    assert all(a > b for a, b in zip(ns, ns[1:]))
    assert stats.n_mcnemar(stats.PairedCounts(100, 10, 10, 100), 0.05) == math.inf
    margins = [stats.n_margin(0.2, d, 0.05) for d in (0.01, 0.02, 0.05, 0.1)]
    assert all(a > b for a, b in zip(margins, margins[1:])) and stats.n_margin(0.2, 0.0, 0.05) == math.inf
    # Connor's formula by hand at psi = 0.1, d = 0.05, alpha 0.05, power 0.8.
    za, zb = 1.959963984540054, 0.8416212335729143
    hand = math.ceil((za * math.sqrt(0.1) + zb * math.sqrt(0.1 - 0.05 ** 2)) ** 2 / 0.05 ** 2)
    assert stats.n_mcnemar(stats.PairedCounts(180, 15, 5, 0), 0.05) == hand


def test_paired_t_against_scipy_and_by_hand():
    from scipy import stats as st

    d = np.array([0.3, -0.1, 0.5, 0.2, 0.4, 0.1, 0.0, 0.6])
    t = stats.paired_t(d)
    ref = st.ttest_1samp(d, 0.0)
    assert t.p_value == pytest.approx(ref.pvalue) and t.n == 8
    half = st.t.ppf(0.975, 7) * d.std(ddof=1) / np.sqrt(8)
    assert (t.difference, t.low, t.high) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half))
    assert stats.paired_t(np.zeros(4)).p_value == 1.0 and stats.paired_t(np.full(4, 0.2)).p_value == 0.0
    for bad in (np.array([1.0]), np.array([0.1, np.nan]), np.ones((2, 2))):
        with pytest.raises(ValueError):
            stats.paired_t(bad)


def test_blocks_to_decide_a_paired_t_fall_with_the_effect():
    small, large = stats.n_paired_t(1.0, 0.2, 0.05), stats.n_paired_t(1.0, 0.5, 0.05)
    assert small > large >= 2
    assert small == pytest.approx((1.959964 + 0.841621) ** 2 / 0.04, abs=1)
    assert stats.n_paired_t(1.0, 0.0, 0.05) == math.inf
