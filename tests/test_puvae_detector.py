"""lib.puvae and lib.models.puvae_nets: PuVAE purification, the detector, the report's
scoring and the adaptive attack on the defended pipeline (report 001). Synthetic data and
tiny untrained networks, so the whole file runs in seconds."""
from __future__ import annotations

import functools
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lib import attacks, cache, models, profiles
from lib.defenses import puvae
from lib.models.layers import AtrousConv2d
from lib.reports.puvae_detector import experiment as exp
from lib.reports.puvae_detector import reference, verdicts
from lib.reports.puvae_detector import tables as rtab

N_CLASSES = 10


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    clf = puvae.freeze(models.build("puvae_a", dataset="synthetic28", filters=4, hidden=16))
    vae = models.build("puvae_c", dataset="synthetic28", z_dim=6, filters=3, hidden=24,
                       dec_filters=4).eval()
    return clf, vae


@pytest.fixture(scope="module")
def batch():
    from lib import data

    d = data.load("synthetic28", "test", n=12, seed=3)
    return d.x, d.y


# --------------------------------------------------------------------------- architectures
@pytest.mark.parametrize("name,dataset,kw,out", [
    ("puvae_a", "synthetic28", dict(filters=4, hidden=8), (5, 10)),
    ("puvae_b", "synthetic32", dict(filters=4, hidden=16), (5, 10)),
])
def test_classifiers_take_images_and_return_logits(name, dataset, kw, out):
    from lib import data

    c, h, w = data.info(dataset).shape
    model = models.build(name, dataset=dataset, **kw).eval()
    assert model(torch.rand(5, c, h, w)).shape == out
    assert isinstance(next(iter(model.children())), models.Normalize)


@pytest.mark.parametrize("name,dataset,kw", [
    ("puvae_c", "synthetic28", dict(z_dim=5, filters=2, hidden=8)),
    ("puvae_d", "synthetic32", dict(z_dim=7, filters=2, hidden=8)),
])
def test_cvaes_reconstruct_images_in_unit_range(name, dataset, kw):
    from lib import data

    shape = data.info(dataset).shape
    vae = models.build(name, dataset=dataset, **kw)
    x, y = torch.rand(4, *shape), torch.tensor([0, 3, 9, 3])
    x_hat, mu, std = vae(x, y)
    assert x_hat.shape == x.shape and mu.shape == std.shape == (4, kw["z_dim"])
    assert x_hat.min() >= 0 and x_hat.max() <= 1 and (std > 0).all()
    vae.eval()
    a, _, _ = vae(x, y, sample=False)
    b, _, _ = vae(x, y, sample=False)
    assert torch.equal(a, b), "sample=False is deterministic"


def test_architectures_refuse_the_wrong_image_size():
    with pytest.raises(ValueError, match="28 x 28"):
        models.build("puvae_c", dataset="synthetic32")
    with pytest.raises(ValueError, match="32 x 32"):
        models.build("puvae_b", dataset="synthetic28")


def test_atrous_convolution_equals_dilated_convolution_forward_and_backward():
    torch.manual_seed(1)
    conv = AtrousConv2d(3, 5, 7, dilation=2)
    x = torch.rand(2, 3, 28, 28, requires_grad=True)
    ours = conv(x)
    ref = F.conv2d(x, conv.weight, conv.bias, padding=6, dilation=2)
    assert ours.shape == ref.shape == (2, 5, 28, 28)
    assert torch.allclose(ours, ref, atol=1e-5)
    g1, = torch.autograd.grad(ours.square().sum(), x)
    g2, = torch.autograd.grad(ref.square().sum(), x)
    assert torch.allclose(g1, g2, atol=1e-4)


# --------------------------------------------------------------------------- loss
def test_puvae_loss_trains_the_vae_not_the_classifier(nets, batch):
    clf, vae = nets
    x, y = batch
    vae.train()
    loss, logits = puvae.puvae_loss(vae, x, y, classifier=clf)
    vae.eval()
    assert loss.dim() == 0 and logits.shape == (len(x), N_CLASSES)
    loss.backward()
    assert all(p.grad is not None for p in vae.parameters())
    assert all(p.grad is None for p in clf.parameters())
    vae.zero_grad()


def test_puvae_loss_weights_and_kl_reduction(nets, batch):
    clf, vae = nets
    x, y = batch
    vae.train()
    terms = {}
    for name, w in {"rec": (1, 0, 0), "kl_sum": (0, 1, 0), "ce": (0, 0, 1)}.items():
        torch.manual_seed(0)
        terms[name] = puvae.puvae_loss(vae, x, y, classifier=clf, w_rec=w[0], w_kl=w[1], w_ce=w[2],
                                       kl_reduction="sum")[0].item()
    torch.manual_seed(0)
    kl_mean = puvae.puvae_loss(vae, x, y, classifier=clf, w_rec=0, w_kl=1, w_ce=0)[0].item()
    torch.manual_seed(0)
    total = puvae.puvae_loss(vae, x, y, classifier=clf, kl_reduction="sum")[0].item()
    vae.eval()
    assert kl_mean == pytest.approx(terms["kl_sum"] / vae.z_dim, rel=1e-4)
    assert total == pytest.approx(0.01 * terms["rec"] + 0.1 * terms["kl_sum"] + 10 * terms["ce"], rel=1e-4)


def test_the_checkpoint_key_includes_the_frozen_classifier_weights(nets):
    clf, _ = nets
    other = models.build("puvae_a", dataset="synthetic28", filters=4, hidden=16)
    key = lambda c: cache.config_hash(functools.partial(puvae.puvae_loss, classifier=c))  # noqa: E731
    assert key(clf) == key(clf) and key(clf) != key(other)


# --------------------------------------------------------------------------- purification
def test_batched_reconstructions_equal_one_call_per_class(nets, batch):
    _, vae = nets
    x, _ = batch
    with torch.no_grad():
        recons = puvae.reconstruct_all(vae, x, sample=False)
        assert recons.shape == (len(x), N_CLASSES, *x.shape[1:])
        for k in range(N_CLASSES):
            one, _, _ = vae(x, torch.full((len(x),), k), sample=False)
            assert torch.allclose(recons[:, k], one, atol=1e-5)


def test_the_chosen_reconstruction_has_the_least_rmse(nets, batch):
    _, vae = nets
    x, _ = batch
    with torch.no_grad():
        p = puvae.purify(vae, x, sample=False)
    manual = (p.recons - x[:, None]).pow(2).mean((2, 3, 4)).sqrt()
    assert torch.allclose(p.rmse, manual, atol=1e-5)
    assert torch.equal(p.chosen, manual.argmin(1))
    assert torch.allclose(p.best_rmse, manual.amin(1), atol=1e-5)
    assert torch.equal(p.best, p.recons[torch.arange(len(x)), p.chosen])


# --------------------------------------------------------------------------- detector
@pytest.mark.parametrize("fpr", [0.001, 0.01, 0.03, 0.2])
def test_threshold_achieves_the_false_positive_rate(fpr):
    scores = torch.rand(2000, generator=torch.Generator().manual_seed(0))
    t = puvae.threshold_at_fpr(scores, fpr)
    rate = puvae.rejection_rate(scores, t)
    assert rate <= fpr
    # The smallest such threshold: one score lower would reject more than allowed.
    lower = scores[scores < t].max()
    assert puvae.rejection_rate(scores, float(lower)) > fpr
    assert rate >= fpr - 1 / len(scores)


def test_threshold_with_ties_never_exceeds_the_rate():
    scores = torch.tensor([0.1] * 50 + [0.5] * 50)
    t = puvae.threshold_at_fpr(scores, 0.3)
    assert puvae.rejection_rate(scores, t) <= 0.3


@pytest.mark.parametrize("fpr", [0, 1, -0.1, 1.5, float("nan"), "0.01"])
def test_bad_false_positive_rate_fails_fast(fpr):
    with pytest.raises(ValueError, match="false-positive rate"):
        puvae.threshold_at_fpr(torch.rand(10), fpr)


def test_threshold_needs_finite_scores():
    with pytest.raises(ValueError, match="finite"):
        puvae.threshold_at_fpr(torch.tensor([]), 0.1)
    with pytest.raises(ValueError, match="finite"):
        puvae.threshold_at_fpr(torch.tensor([0.1, float("nan")]), 0.1)


def test_report_scoring_rejection_is_right_for_adversarial_and_wrong_for_clean():
    reject = 10
    pred = torch.tensor([3, 5, reject, reject])
    y = torch.tensor([3, 4, 4, 7])
    adv = puvae.report_correct(pred, y, adversarial=True, reject_label=reject)
    clean = puvae.report_correct(pred, y, adversarial=False, reject_label=reject)
    assert adv.tolist() == [True, False, True, True]
    assert clean.tolist() == [True, False, False, False]


# --------------------------------------------------------------------------- pipeline
def test_pipeline_logits_encode_the_defense_decision(nets, batch):
    clf, vae = nets
    x, _ = batch
    vae.sample_at_inference = False
    try:
        plain = puvae.PuVAEPipeline(vae, clf, None)
        scores = plain.decide(x).rmse
        t = float(scores.median())
        pipe = puvae.PuVAEPipeline(vae, clf, t)
        with torch.no_grad():
            logits = pipe(x)
        dec = pipe.decide(x, batch_size=5)
        assert logits.shape == (len(x), N_CLASSES + 1)
        assert torch.equal(logits.argmax(1), dec.label)
        assert torch.equal(dec.rejected, dec.rmse > t)
        assert torch.equal(dec.puvae[~dec.rejected], dec.label[~dec.rejected])
        assert not plain.decide(x).rejected.any()
        with torch.no_grad():
            assert torch.equal(plain(x).argmax(1), dec.puvae)
    finally:
        vae.sample_at_inference = True


def test_pipeline_rejects_bad_settings(nets):
    clf, vae = nets
    with pytest.raises(ValueError, match="threshold"):
        puvae.PuVAEPipeline(vae, clf, float("inf"))
    with pytest.raises(ValueError, match="temperature"):
        puvae.PuVAEPipeline(vae, clf, 0.1, temperature=0.0)


def test_straight_through_selection_is_hard_forward_and_differentiable(nets, batch):
    clf, vae = nets
    x, y = batch
    vae.sample_at_inference = False
    try:
        pipe = puvae.PuVAEPipeline(vae, clf, 0.3, temperature=0.05)
        xg = x.clone().requires_grad_(True)
        best, best_rmse, chosen = pipe.select(xg)
        p = puvae.purify(vae, x, sample=False)
        assert torch.allclose(best, p.best, atol=1e-5) and torch.equal(chosen, p.chosen)
        assert torch.allclose(best_rmse, p.best_rmse, atol=1e-5)
        assert puvae.gradient_check(pipe, x, y) == 1.0
    finally:
        vae.sample_at_inference = True


def test_reject_aware_margin_is_positive_only_for_accepted_wrong_labels():
    y = torch.tensor([0, 0, 0])
    logits = torch.tensor([
        [1.0, 3.0, 0.0, 2.0],   # accepted, wrong (class 1) -> positive
        [3.0, 1.0, 0.0, 2.0],   # accepted, correct          -> negative
        [1.0, 3.0, 0.0, 5.0],   # rejected                   -> negative
    ])
    m = attacks.reject_aware_margin(logits, y)
    assert m.shape == (3,)
    assert m[0] > 0 and m[1] < 0 and m[2] < 0


def test_adaptive_attack_stays_in_the_eps_ball_and_the_box(nets, batch):
    clf, vae = nets
    x, y = batch[0][:5], batch[1][:5]
    pipe = puvae.PuVAEPipeline(vae, clf, 0.25, temperature=0.05)
    eps = 0.1
    adv = puvae.adaptive_attack(pipe, x, y, eps, steps=2, rel_step=0.5, eot=2, restarts=2,
                                batch_size=3)
    assert adv.shape == x.shape
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    with pytest.raises(ValueError):
        puvae.adaptive_attack(pipe, x, y, 0.0)


# --------------------------------------------------------------------------- evaluation
def test_sweep_scores_three_defenses_consistently(nets, batch):
    clf, vae = nets
    x, y = batch[0][:8], batch[1][:8]
    pipe = puvae.PuVAEPipeline(vae, clf, 0.2)
    s = profiles.resolve("puvae_detector", "smoke", {})
    settings = exp.settings(s, "synthetic28")
    grid, kept = exp.sweep(clf, pipe, x, y, exp.transfer_attacks(settings), [0.1, 0.3],
                             keep=[("PGD", 0.3)], progress_bar=False)
    assert list(grid.columns) == ["attack", "eps", "n", "no_defense", "puvae", "ours", "rejected",
                                  "rmse_mean"]
    assert grid["attack"].tolist() == ["none"] + ["FGSM"] * 2 + ["BIM"] * 2 + ["PGD"] * 2
    clean, adv = grid.iloc[0], grid.iloc[1:]
    # A rejection can only cost a clean input and only help an adversarial one.
    assert clean["ours"] <= clean["puvae"] + 1e-9
    assert (adv["ours"] >= adv["puvae"] - 1e-9).all()
    assert ("PGD", 0.3) in kept and kept[("PGD", 0.3)][0].shape == x.shape
    worst = exp.worst_case(grid)
    assert set(worst["attack"]) == {"FGSM", "BIM", "PGD"}
    table = rtab.robustness_table(grid, 0.3, "fashion_mnist")
    assert table["attack"].tolist() == ["No attack", "FGSM", "BIM", "PGD"]
    assert table.loc[1, "ours (report)"] == 87.9
    assert (table.loc[1:, "ours worst"] <= table.loc[1:, "ours"] + 1e-9).all()


# --------------------------------------------------------------------------- settings
def test_per_dataset_settings_resolve_and_fail_fast():
    cfg = dict(profiles.resolve("puvae_detector", "paper"))
    s = exp.settings(cfg, "cifar10")
    assert s.fpr == 0.03 and s.eps == 0.06 and s.z_dim == 1024 and s.clf_batch_size == 64
    assert exp.settings(cfg, "mnist").fpr == 0.001
    grid = exp.eps_grid(exp.settings(cfg, "fashion_mnist"))
    assert len(grid) == 30 and math.isclose(grid[0], 0.01) and math.isclose(grid[-1], 0.3)
    with pytest.raises(ValueError, match="no entry"):
        exp.settings(cfg, "synthetic28")
    # Refused by resolve itself, i.e. before any kernel starts.
    with pytest.raises(profiles.ConfigError, match="fpr must be a finite number > 0 and < 1"):
        profiles.resolve("puvae_detector", "smoke", {"fpr": 1.0})
    with pytest.raises(profiles.ConfigError, match="eps_range"):
        profiles.resolve("puvae_detector", "smoke", {"eps_range": [0.3, 0.1]})
    with pytest.raises(profiles.ConfigError, match="no entry for 'synthetic28'"):
        profiles.resolve("puvae_detector", "smoke", {"fpr": {"mnist": 0.01}})
    with pytest.raises(profiles.ConfigError, match="n_adaptive=5000 exceeds"):
        profiles.resolve("puvae_detector", "smoke", {"n_adaptive": 5000, "n_test": 60})


def test_profiles_share_keys_and_paper_uses_the_report_settings():
    table = profiles.profiles_of("puvae_detector")
    assert set(table["smoke"]) == set(table["quick"]) == set(table["paper"])
    paper = table["paper"]
    assert paper["datasets"] == ["mnist", "fashion_mnist", "cifar10"]
    assert paper["clf_epochs"] == {"mnist": 64, "fashion_mnist": 256, "cifar10": 350}
    assert paper["vae_epochs"] == {"mnist": 350, "fashion_mnist": 350, "cifar10": 1024}
    assert paper["n_eps"] == 30 and (paper["w_rec"], paper["w_kl"], paper["w_ce"]) == (0.01, 0.1, 10.0)
    for name in ("smoke", "quick", "paper"):
        exp.check_config(profiles.resolve("puvae_detector", name))


def test_table_names_follow_the_report():
    assert reference.table_name("mnist") == "table3_mnist"
    assert reference.table_name("fashion_mnist") == "table4_fashion_mnist"
    assert reference.table_name("cifar10") == "table5_cifar10"
    assert reference.table_name("synthetic28") == "table_synthetic28"


def test_report_vs_ours_puts_the_report_beside_ours():
    table = pd.DataFrame([{"attack": "No attack", "no defense": 90.0, "PuVAE": 80.0, "ours": 79.0,
                           "ours worst": None},
                          {"attack": "PGD", "no defense": 1.0, "PuVAE": 60.0, "ours": 70.0,
                           "ours worst": 65.0}])
    worst = pd.DataFrame({"attack": ["PGD"], "eps": [0.2], "rejected": [0.05]})
    adaptive = pd.DataFrame({"defense": ["PuVAE + detector"], "attack": ["worst of both"],
                             "eps": [0.3], "accuracy": [0.1]})
    out = rtab.report_vs_ours("fashion_mnist", table, clf_acc=0.9, rmse_clean=0.1, rmse_adv=0.2,
                               worst=worst, adaptive=adaptive, eps=0.3)
    row = out.set_index("quantity").loc["F-MNIST: PGD, ours (Tables 3-5)"]
    assert row["report"] == 77.1 and row["ours"] == 70.0
    assert {"%", "RMSE"} == set(out["unit"])


# --------------------------------------------------------------------------- verdicts
def _checks(**kw):
    args = dict(clf_acc=0.99, puvae_acc=0.95, n_test=200, rmse_own=0.05, rmse_other=0.2,
                rmse_clean=0.05, rmse_adv=0.15, report_puvae=97.2, report_rmse=0.04)
    args.update(kw)
    return verdicts.model_checks(**args)


@pytest.mark.parametrize("kw,failed", [
    ({}, None),
    (dict(rmse_own=0.2, rmse_other=0.2), verdicts.INPUT),           # ignores the input
    (dict(rmse_adv=0.05), verdicts.SEPARATION),                       # nothing to detect
    (dict(clf_acc=0.11), verdicts.CLASSIFIER),                        # at chance
    (dict(rmse_clean=0.19, rmse_adv=0.25), verdicts.COMPARABLE),      # 4.75 x the report's 0.04
    (dict(puvae_acc=0.70), verdicts.COMPARABLE),                      # 27 points below 97.2
    (dict(puvae_acc=0.3, report_puvae=None, report_rmse=None), None),  # synthetic: not compared
])
def test_model_checks_pass_good_models_and_name_each_failure(kw, failed):
    checks = _checks(**kw).set_index("check")
    assert len(checks) == 4 and verdicts.VERDICTS[2] == "cannot be judged at this profile"
    assert set(checks.index[~checks["passed"]]) == ({failed} if failed else set())


def test_reconstruction_claim():
    holds = verdicts.reconstruction_claim(rmse_clean=0.05, rmse_adv=0.15, rejected_adv=0.6, eps=0.3,
                                          checks=_checks(), report=(0.04, 0.13))
    assert list(holds.columns) == ["claim", "evidence", "verdict"]
    assert holds["verdict"].tolist() == ["holds"] and "3.25" in holds["evidence"].iloc[0]
    fails = verdicts.reconstruction_claim(rmse_clean=0.1, rmse_adv=0.102, rejected_adv=0.0, eps=0.3,
                                          checks=_checks(rmse_clean=0.1, rmse_adv=0.102))
    assert fails["verdict"].tolist() == ["does not hold"]
    # A CVAE that ignores its input cannot support any verdict on reconstruction error.
    unjudged = verdicts.reconstruction_claim(rmse_clean=0.1, rmse_adv=0.3, rejected_adv=0.5, eps=0.3,
                                             checks=_checks(rmse_own=0.2, rmse_other=0.2))
    assert unjudged["verdict"].tolist() == [verdicts.UNJUDGED] and verdicts.INPUT in unjudged["evidence"][0]


def _robustness(pu, ours):
    return pd.DataFrame({"attack": ["No attack", "FGSM", "BIM", "PGD"], "PuVAE": pu, "ours": ours})


def test_detector_claims_hold_fail_or_cannot_be_judged():
    # The report's MNIST Table 3: FGSM 82.9 -> 99.8, BIM 93.9 -> 93.9, PGD 86.4 -> 96.9, clean 97.2 -> 97.2.
    report = _robustness([97.2, 82.9, 93.9, 86.4], [97.2, 99.8, 93.9, 96.9])
    v = verdicts.detector_claims(report, eps=0.3, fpr=0.001, n=10000, checks=_checks())
    assert len(v) == 4 and (v["verdict"] == "holds").all()
    # A detector that rejects nothing: FGSM and PGD unchanged (BIM "changes little" still holds).
    idle = _robustness([87.0, 31.0, 37.0, 33.0], [87.0, 31.0, 37.0, 33.0])
    v = verdicts.detector_claims(idle, eps=0.3, fpr=0.001, n=200, checks=_checks()).set_index("claim")
    assert [v.loc[c, "verdict"] for c in v.index if "FGSM" in c or "PGD" in c] == ["does not hold"] * 2
    assert v.loc[[c for c in v.index if "BIM" in c][0], "verdict"] == "holds"
    # A gain within what rejecting at the clean rate plus noise gives (2 points at fpr 1 %,
    # n = 200: need 1 + the noise of a 2 % share) is no gain ...
    small = _robustness([80.0, 50.0, 50.0, 50.0], [80.0, 52.0, 50.0, 52.0])
    v = verdicts.detector_claims(small, eps=0.3, fpr=0.01, n=200, checks=_checks())
    assert v["verdict"].tolist()[:2] == ["does not hold"] * 2
    # ... but 11 of 200 images turned right is (paired: ours >= PuVAE on every adversarial image),
    # and a BIM change of 8 points is not "little".
    paired = _robustness([72.0, 24.0, 25.5, 24.0], [71.0, 29.5, 33.5, 29.5])
    v = verdicts.detector_claims(paired, eps=0.3, fpr=0.01, n=200, checks=_checks())
    assert v["verdict"].tolist() == ["holds", "holds", "does not hold", "holds"]
    # An expensive detector: 20 points of clean accuracy lost at fpr 1 %.
    costly = _robustness([80.0, 50.0, 50.0, 50.0], [60.0, 90.0, 50.0, 90.0])
    v = verdicts.detector_claims(costly, eps=0.3, fpr=0.01, n=200, checks=_checks())
    assert v["verdict"].tolist() == ["holds", "holds", "holds", "does not hold"]
    # A PuVAE far below the report's: nothing about the detector can be judged.
    v = verdicts.detector_claims(report, eps=0.3, fpr=0.001, n=200, checks=_checks(puvae_acc=0.6))
    assert (v["verdict"] == verdicts.UNJUDGED).all() and verdicts.COMPARABLE in v["evidence"].iloc[0]


def _grid(ours_by_eps, n=200):
    return pd.DataFrame([{"attack": "none", "eps": 0.0, "n": n, "ours": 0.9, "rejected": 0.01}]
                        + [{"attack": "PGD", "eps": e, "n": n, "ours": o, "rejected": r} for e, o, r in ours_by_eps])


def test_worst_eps_claim():
    # Downward pressure: at eps 0.3 most inputs are rejected, the attacker does best at 0.15.
    pressure = _grid([(0.05, 0.9, 0.0), (0.15, 0.6, 0.05), (0.3, 0.95, 0.9)])
    v = verdicts.worst_eps_claim(pressure, checks=_checks(), report_rejected=(1.8, 18.3))
    assert v["verdict"].tolist() == ["holds"] and "worst eps 0.15" in v["evidence"][0]
    assert "1.8 % to 18.3 %" in v["evidence"][0]
    # Accuracy falling monotonically with eps: the worst eps is the largest.
    none = _grid([(0.05, 0.9, 0.0), (0.15, 0.6, 0.0), (0.3, 0.3, 0.0)])
    assert verdicts.worst_eps_claim(none, checks=_checks())["verdict"].tolist() == ["does not hold"]
    # A worst eps below the largest only by noise is no pressure.
    flat = _grid([(0.05, 0.9, 0.0), (0.15, 0.30, 0.0), (0.3, 0.31, 0.0)])
    assert verdicts.worst_eps_claim(flat, checks=_checks())["verdict"].tolist() == ["does not hold"]
    unjudged = verdicts.worst_eps_claim(pressure, checks=_checks(rmse_adv=0.05))
    assert unjudged["verdict"].tolist() == [verdicts.UNJUDGED]


def _adaptive(det_tr, det_ad, pu_tr, pu_ad, n=100, eps=0.3):
    return pd.DataFrame([{"defense": d, "attack": a, "eps": eps, "n": n, "accuracy": acc}
                         for d, tr, ad in (("PuVAE", pu_tr, pu_ad), ("PuVAE + detector", det_tr, det_ad))
                         for a, acc in (("PGD transfer", tr), ("adaptive PGD", ad), ("worst case", ad))])


def test_adaptive_claims():
    broken = verdicts.adaptive_claims(_adaptive(0.9, 0.05, 0.8, 0.04), eps=0.3, checks=_checks())
    assert broken["verdict"].tolist() == ["does not hold", "does not hold"]
    survives = verdicts.adaptive_claims(_adaptive(0.9, 0.88, 0.8, 0.3), eps=0.3, checks=_checks())
    assert survives["verdict"].tolist() == ["holds", "holds"]
    assert "90.0 % under transfer PGD -> 88.0 % in the worst case" in survives["evidence"].iloc[0]
    unjudged = verdicts.adaptive_claims(_adaptive(0.9, 0.05, 0.8, 0.04), eps=0.3, checks=_checks(clf_acc=0.1))
    assert (unjudged["verdict"] == verdicts.UNJUDGED).all()
    with pytest.raises(KeyError, match="eps 0.1"):
        verdicts.adaptive_claims(_adaptive(0.9, 0.05, 0.8, 0.04), eps=0.1, checks=_checks())
    # Noise: the study's one rule (lib.evaluate.noise_tolerance), at least MIN_GAIN_PTS.
    assert verdicts.noise_pts(0.5, 100) == pytest.approx(10.2, abs=0.1)  # exact 95 % interval
    assert verdicts.noise_pts(0.999, 10000) == verdicts.MIN_GAIN_PTS


def test_input_dependence_tells_a_reconstructing_cvae_from_one_that_ignores_its_input():
    x = torch.rand(8, 1, 28, 28)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])   # the lone 3 is skipped
    own, other = exp.input_dependence(lambda x, y: (x, None, None), x, y)   # copies its input
    assert own == pytest.approx(0.0, abs=1e-5) and other > 0.3
    prototype = lambda x, y: ((y.float() / 10).view(-1, 1, 1, 1).expand_as(x), None, None)  # noqa: E731
    own, other = exp.input_dependence(prototype, x, y)                       # one image per label
    assert own == pytest.approx(other)


def test_the_notebook_defines_no_published_number_and_names_no_absolute_path():
    from lib import runtime

    text = (runtime.REPO_ROOT / "notebooks" / "puvae_detector.py").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "/work/" not in text and "001_f6812e576f281240.txt" in text
    for number in ("99.2", "97.2", "92.2", "82.5", "0.13", "0.04", "18.3", "1.8", "77.1", "96.9"):
        assert number not in code, number


def test_sanity_checks_refuse_to_pass_on_a_classifier_at_chance():
    s = exp.settings(profiles.resolve("puvae_detector", "smoke"), "synthetic28")

    def grid(clean):  # the undefended classifier's accuracy at eps 0 (clean), 0.1 and 0.3
        accs = [("none", 0.0, clean)] + [(a, e, acc) for a in ("FGSM", "BIM", "PGD")
                                         for e, acc in ((0.1, min(clean, 0.3)), (0.3, 0.05))]
        return pd.DataFrame([{"attack": a, "eps": e, "n": 200, "no_defense": acc, "puvae": 0.5, "ours": 0.5,
                              "rejected": 0.0, "rmse_mean": 0.2} for a, e, acc in accs])

    trained, at_chance = (rtab.sanity_table(s, grid(acc), val_rejected=0.0, grad_share=1.0)
                          .query("scope.str.startswith('no defense')") for acc in (0.95, 0.1))
    assert trained["passed"].all() and "model better than chance (trained)" in set(trained["check"])
    assert not at_chance["passed"].any()


def test_argmin_terms_say_when_the_defense_outputs_that_class(nets, batch):
    clf, vae = nets
    x, y = batch
    pipe = puvae.PuVAEPipeline(vae, clf, 0.3, temperature=None)
    with torch.no_grad():
        torch.manual_seed(0)   # the CVAE may sample z: the same draws for both
        terms = puvae.ArgminTerms(pipe)(x)
        torch.manual_seed(0)
        p = puvae.purify(vae, x)
    assert terms.shape == (len(x), N_CLASSES, 3)
    # The arg-min term is positive exactly at the reconstruction of least RMSE.
    assert torch.equal((terms[..., 0] > 0).float().argmax(1), p.chosen)
    assert ((terms[..., 0] > 0).sum(1) == 1).all()


def test_multi_target_attack_stays_in_the_ball_and_never_undoes_a_success(nets, batch):
    clf, vae = nets
    x, y = batch[0][:6], batch[1][:6]
    pipe = puvae.PuVAEPipeline(vae, clf, 0.3, temperature=0.05)
    eps = 0.2
    adv = puvae.multi_target_attack(pipe, x, y, eps, n_targets=2, steps=3, rel_step=0.5, eot=1, batch_size=4)
    assert adv.shape == x.shape and (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    changed = (adv != x).flatten(1).any(1)
    torch.manual_seed(0)
    dec = pipe.decide(adv[changed]) if changed.any() else None
    if dec is not None:   # only examples that fooled the defense are kept
        assert (~puvae.report_correct(dec.label, y[changed], adversarial=True)).float().mean() >= 0.5
    with pytest.raises(ValueError, match="n_targets"):
        puvae.multi_target_attack(pipe, x, y, eps, n_targets=10)
