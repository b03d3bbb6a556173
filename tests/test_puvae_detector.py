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
from lib.reports.puvae_detector import reference, transfer
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
def test_transfer_sweep_scores_three_defenses_on_the_same_images(nets, batch):
    clf, vae = nets
    x, y = batch[0][:8], batch[1][:8]
    pipe = puvae.PuVAEPipeline(vae, clf, 0.2)
    s = exp.settings(profiles.resolve("puvae_detector", "smoke", {}), "synthetic28")
    fns = transfer.transfer_attacks(s)
    state = transfer.score(clf, pipe, x, y, attacks=fns, eps=[0.1, 0.3], table_eps=0.3, seed=0, progress_bar=False)
    t = transfer.from_state(state, list(fns), [0.1, 0.3], 0.3)
    grid = t.table
    assert list(grid.columns) == ["attack", "eps", "n", "no_defense", "puvae", "ours", "rejected", "rmse_mean"]
    assert grid["attack"].tolist() == ["none"] + ["FGSM"] * 2 + ["BIM"] * 2 + ["PGD"] * 2
    # Per image, a rejection can only cost a clean input and only help an adversarial one.
    assert not (t.clean["ours"] & ~t.clean["puvae"]).any()
    assert not (t.flags["puvae"] & ~t.flags["ours"]).any()
    assert torch.equal(t.flags["ours"], t.flags["puvae"] | t.flags["rejected"])
    assert t.x_pgd.shape == x.shape and (t.x_pgd - x).abs().max() <= 0.3 + 1e-6
    assert t.rmse_clean.shape == t.rmse_pgd.shape == (8,)
    assert torch.equal(t.worst_over_eps("ours", "BIM"), t.at("ours", "BIM", 0.1) & t.at("ours", "BIM", 0.3))
    worst = exp.worst_case(grid)
    assert set(worst["attack"]) == {"FGSM", "BIM", "PGD"}
    table = rtab.robustness_table(grid, 0.3, "fashion_mnist")
    assert table["attack"].tolist() == ["No attack", "FGSM", "BIM", "PGD"]
    assert table.loc[1, "ours (report)"] == 87.9
    assert (table.loc[1:, "ours worst"] <= table.loc[1:, "ours"] + 1e-9).all()
    # Seeded inside: the same flags whatever ran before.
    torch.rand(100)
    again = transfer.score(clf, pipe, x, y, attacks=fns, eps=[0.1, 0.3], table_eps=0.3, seed=0, progress_bar=False)
    assert torch.equal(again["flags"], state["flags"]) and torch.equal(again["x_pgd"], state["x_pgd"])


def test_transfer_sweep_is_cached_by_its_arguments(nets, batch, tmp_path, monkeypatch):
    import dataclasses
    from types import SimpleNamespace

    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    clf, vae = nets
    x, y = batch[0][:6], batch[1][:6]
    s = exp.settings(profiles.resolve("puvae_detector", "smoke", {"n_eps": 2}), "synthetic28")
    m = SimpleNamespace(classifier=clf, test=SimpleNamespace(x=x, y=y))
    d = SimpleNamespace(pipeline=puvae.PuVAEPipeline(vae, clf, 0.2))
    first = transfer.transfer_sweep(s, m, d)
    files = sorted((tmp_path / "results").glob("*.pt"))
    assert len(files) == 1
    again = transfer.transfer_sweep(s, m, d)
    assert sorted((tmp_path / "results").glob("*.pt")) == files, "same arguments: reused"
    assert torch.equal(first.flags["ours"], again.flags["ours"])
    transfer.transfer_sweep(dataclasses.replace(s, seed=1), m, d)
    transfer.transfer_sweep(dataclasses.replace(s, pgd_steps=2), m, d)
    assert len(list((tmp_path / "results").glob("*.pt"))) == 3, "another seed or attack setting: another result"


def test_detector_threshold_rmses_are_stored_and_equal_a_fresh_run(nets, batch, tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    clf, vae = nets
    s = exp.settings(profiles.resolve("puvae_detector", "smoke", {}), "synthetic28")
    m = SimpleNamespace(vae=vae, classifier=clf, val=SimpleNamespace(x=batch[0]), test=SimpleNamespace(x=batch[0]))
    torch.manual_seed(s.seed)
    fresh = puvae.PuVAEPipeline(vae, clf, None).decide(batch[0]).rmse
    first = exp.fit_detector(s, m)
    assert torch.equal(first.val_rmse, fresh) and len(list((tmp_path / "results").glob("*.pt"))) == 1
    again = exp.fit_detector(s, m)
    assert torch.equal(again.val_rmse, fresh) and again.threshold == first.threshold
    assert len(list((tmp_path / "results").glob("*.pt"))) == 1, "same CVAE and images: reused"


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
