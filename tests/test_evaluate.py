"""lib.evaluate: counting conventions, distortion curves and the sanity checks."""
from __future__ import annotations

import functools

import pandas as pd
import pytest

from lib import attacks, evaluate

PGD = {"BIM": functools.partial(attacks.bim, steps=5)}  # deterministic: runs are comparable


def test_conventions(small_model, eval_batch):
    x, y = eval_batch
    y = y.clone()
    y[:20] = (y[:20] + 1) % 10  # make 20 clean images wrong
    correct = evaluate.predict(small_model, x) == y
    over_all = evaluate.robust_accuracy(small_model, x, y, PGD, [0.0, 0.05], convention="all")
    over_ok = evaluate.robust_accuracy(small_model, x, y, PGD, [0.0, 0.05], convention="correct")
    assert over_all["n"].iloc[0] == len(y) and over_ok["n"].iloc[0] == int(correct.sum())
    assert over_all["accuracy"].iloc[0] == pytest.approx(correct.float().mean().item())
    assert over_ok["accuracy"].iloc[0] == 1.0
    # Same broken images, different denominators.
    assert over_all["accuracy"].iloc[1] == pytest.approx(over_ok["accuracy"].iloc[1] * correct.float().mean().item())
    assert set(over_all.columns) >= {"attack", "norm", "eps", "accuracy", "n", "convention"}


def test_misclassified_clean_images_never_count_as_robust(small_model, eval_batch):
    x, y = eval_batch
    wrong = (y + 1) % 10  # every label wrong: nothing may count as robust at any eps
    table = evaluate.robust_accuracy(small_model, x, wrong, {"FGSM": attacks.fgsm}, [0.0, 0.3],
                                     convention="all")
    assert (table["accuracy"] == 0).all()


def test_robust_accuracy_is_never_weaker_than_a_plain_loop_and_monotone(small_model, eval_batch):
    x, y = eval_batch
    grid = [0.0, 0.02, 0.05, 0.1]
    table, examples = evaluate.robust_accuracy(small_model, x, y, PGD, grid, convention="all", keep_examples=True)
    clean = evaluate.predict(small_model, x) == y
    for eps, robust in zip(grid, table["robust"]):
        plain = clean & (evaluate.predict(small_model, PGD["BIM"](small_model, x, y, eps) if eps else x) == y)
        assert robust <= int(plain.sum())                          # at least as strong at every eps
        kept = examples[("BIM", eps)]
        assert evaluate.distortion(x, kept, "inf").max() <= eps + 1e-6
        assert int((clean & (evaluate.predict(small_model, kept) == y)).sum()) == robust
    assert (table["accuracy"].diff().fillna(0) <= 0).all()       # non-increasing by construction


def test_bad_inputs(small_model, eval_batch):
    x, y = eval_batch
    with pytest.raises(ValueError, match="convention"):
        evaluate.robust_accuracy(small_model, x, y, PGD, [0.1], convention="some")
    with pytest.raises(ValueError, match="eps must be >= 0"):
        evaluate.robust_accuracy(small_model, x, y, PGD, [0.1, -0.1], convention="all")


def test_accuracy_distortion_curve(small_model, eval_batch):
    x, y = eval_batch
    x, y = x[:50], y[:50]
    x_adv = attacks.cw_l2(small_model, x, y, c=1.0, steps=50, lr=0.05)
    curve = evaluate.accuracy_distortion_curve(small_model, x, y, x_adv)
    clean = (evaluate.predict(small_model, x) == y).float().mean().item()
    assert curve["accuracy"].iloc[0] == pytest.approx(clean)
    assert curve["accuracy"].is_monotonic_decreasing


def _table(rows):
    return pd.DataFrame([{"attack": a, "norm": "inf", "eps": e, "accuracy": acc, "n": 1000}
                         for a, e, acc in rows])


GOOD = [("FGSM", 0, .9), ("FGSM", .1, .5), ("FGSM", .5, .1), ("PGD", 0, .9), ("PGD", .1, .3), ("PGD", .5, 0.)]


def test_sanity_checks_pass_on_a_sound_evaluation():
    checks = evaluate.sanity_checks(_table(GOOD), chance=0.1, single_step="FGSM", iterative=["PGD"])
    assert checks["passed"].all() and len(checks) == 5


@pytest.mark.parametrize("bad,failing", [
    ([("FGSM", .1, .04), ("PGD", .1, .02)], "accuracy non-increasing in eps"),  # FGSM .04 -> .1
    ([("PGD", .1, .7)], "iterative at least as strong as single-step"),
    ([("FGSM", .5, .45)], "near or below chance at large eps"),
])
def test_sanity_checks_catch_gradient_masking_symptoms(bad, failing):
    rows = {(a, e): acc for a, e, acc in GOOD}
    rows.update({(a, e): acc for a, e, acc in bad})
    checks = evaluate.sanity_checks(_table([(a, e, acc) for (a, e), acc in rows.items()]), chance=0.1,
                                    single_step="FGSM", iterative=["PGD"])
    assert not checks.loc[checks["check"] == failing, "passed"].all()
    assert checks.loc[checks["check"] != failing, "passed"].all()


def test_large_eps_check_can_be_skipped():
    checks = evaluate.sanity_checks(_table([r for r in GOOD if r[1] <= .1]), chance=0.1,
                                    single_step="FGSM", iterative=["PGD"], large_eps=False)
    assert "near or below chance at large eps" not in set(checks["check"])


def test_no_sanity_check_passes_on_a_model_at_chance():
    """An untrained model 'falls to chance' and 'never rises' trivially: every check must fail."""
    at_chance = [(a, e, 0.1) for a in ("FGSM", "PGD") for e in (0.0, 0.1, 0.3)]
    table = _table(at_chance).assign(convention="all")
    checks = evaluate.sanity_checks(table, chance=0.1, single_step="FGSM", iterative=["PGD"])
    assert checks["check"].iloc[0] == "model better than chance (trained)"
    assert not checks["passed"].any(), checks
    good = evaluate.sanity_checks(_table(GOOD), chance=0.1, single_step="FGSM", iterative=["PGD"],
                                  clean_accuracy=0.9, n_clean=200)
    assert good["passed"].all()


def test_minimal_norm_summary_counts_successes_failures_and_median(small_model, eval_batch):
    from lib import attacks, evaluate

    x, y = eval_batch
    x, y = x[:60], y[:60]
    x_adv = attacks.cw_l2(small_model, x, y, c=1.0, steps=30, lr=0.05)
    out = evaluate.minimal_norm_summary(small_model, x, y, x_adv)
    correct = evaluate.predict(small_model, x) == y
    fooled = correct & (evaluate.predict(small_model, x_adv) != y)
    assert out["n"] == int(correct.sum()) and out["succeeded"] == int(fooled.sum())
    assert out["failed"] == out["n"] - out["succeeded"]
    assert out["success_low"] <= out["success_rate"] <= out["success_high"]
    d = (x_adv - x).flatten(1).norm(dim=1)[fooled]
    assert out["median"] == pytest.approx(float(d.median()), rel=1e-6)
    none = evaluate.minimal_norm_summary(small_model, x, y, x.clone())
    assert none["succeeded"] == 0 and none["success_rate"] == 0 and none["median"] != none["median"]
