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
