"""ABS on 32 x 32 x 3 images (report 000): the grouped class VAEs, batched inference against a
plain per-class loop, Danskin's and the unrolled gradient against finite differences, attacks
on ABS, SimpleDLA, the profile checks and the report's transcribed contradictions. Tiny
untrained networks and a handful of images, so the file runs in seconds."""
from __future__ import annotations

import functools

import pandas as pd
import pytest
import torch

from lib import attacks, data, evaluate, models, profiles, sweep
from lib import verdicts as lib_verdicts
from lib.defenses.abs import ABS, latent_adam, reference_logits
from lib.models.generative.abs_vae import ClassVAEs, VAETrainConfig, fit_class_vaes
from lib.params import ConfigError
from lib.reports.abs_cifar import experiment as ex
from lib.reports.abs_cifar import reference, verdicts
from lib.reports.abs_cifar import run as run_mod

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vaes():
    torch.manual_seed(0)
    return ClassVAEs(num_classes=10, latent=4, width=2).eval()


@pytest.fixture(scope="module")
def images():
    d = data.load("synthetic32", "test", n=20, seed=1)
    return d.x[:4], d.y[:4]


def test_grouped_decoder_equals_each_class_decoder(vaes):
    z = torch.randn(5, 10, 4)
    with torch.no_grad():
        grouped = vaes.decode(z)
        for c in (0, 3, 9):
            alone = vaes.class_decoder(c)(z[:, c].reshape(5, 4, 1, 1))
            assert torch.allclose(grouped[:, c], alone, atol=1e-6)
    assert grouped.shape == (5, 10, 3, 32, 32) and 0 <= grouped.min() and grouped.max() <= 1


def test_class_vaes_train_independently(vaes):
    """The summed loss's gradient on class c's block ignores every other class's images."""
    torch.manual_seed(1)
    x = torch.rand(3, 10, 3, 32, 32)
    x2 = x.clone()
    x2[:, 1:] = torch.rand(3, 9, 3, 32, 32)
    grads = []
    for batch in (x, x2):
        vaes.zero_grad()
        vaes.loss(batch, generator=torch.Generator().manual_seed(0)).backward()
        grads.append(vaes.decoder[-1].weight.grad[:vaes.width].clone())   # class 0's block of the last layer
    for p in vaes.parameters():
        p.grad = None
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_latent_adam_is_torch_adam():
    target = torch.randn(6, 3)
    obj = lambda z: ((z - target) ** 2).sum(1) * torch.arange(1, 7.0)  # noqa: E731
    z0 = torch.zeros(6, 3)
    ours = latent_adam(z0, obj, steps=7, lr=0.05, clip=1e6)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(7):
        opt.zero_grad()
        obj(z).sum().backward()
        opt.step()
    assert torch.allclose(ours, z.detach(), atol=1e-6)


def test_batched_inference_equals_per_class_loop(vaes, images):
    x, _ = images
    model = ABS(vaes, n_prototypes=30, steps=3)
    batched = model(x)
    loop = reference_logits(model, x)
    assert batched.shape == (4, 10)
    assert (batched - loop).abs().max() <= 1e-4


def test_latents_stay_in_the_ball(vaes, images):
    model = ABS(vaes, n_prototypes=30, steps=5, lr=1.0, clip=0.5)
    z = model.optimal_latents(images[0].flatten(1))
    assert z.norm(dim=-1).max() <= 0.5 + 1e-5


def _directional(model, x, d, h):
    with torch.no_grad():
        return (model(x + h * d) - model(x - h * d)).sum() / (2 * h)


def test_danskin_gradient_matches_finite_differences(vaes, images):
    """At a converged inner optimum the gradient of the bound is 2 (x - G(z*)) / D (Danskin)."""
    x = images[0][:2].double()
    model = ABS(vaes, n_prototypes=30, steps=400, lr=0.02).double()
    xr = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(model(xr).sum(), xr)[0]
    # Danskin's formula itself: -scale * 2 (x - G(z*)) / D, summed over classes.
    with torch.no_grad():
        rec = vaes.double().decode(model.optimal_latents(x.flatten(1))).flatten(2)
    formula = (-model.logit_scale * 2 * (x.flatten(1)[:, None] - rec) / vaes.dim).sum(1).view_as(x)
    assert torch.allclose(grad, formula, atol=1e-8)
    d = torch.randn_like(x)
    d /= d.norm()
    fd = _directional(model, x, d, 1e-3)
    assert abs(fd - (grad * d).sum()) <= 2e-3 * abs(fd) + 1e-6
    vaes.float()


def test_unrolled_gradient_matches_finite_differences(vaes, images):
    """Through the unrolled steps, the gradient is that of the function ABS computes, converged or not."""
    x = images[0][:2].double()
    model = ABS(vaes, n_prototypes=30, steps=3, mode="unrolled").double()
    xr = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(model(xr).sum(), xr)[0]
    d = torch.randn_like(x)
    d /= d.norm()
    fd = _directional(model, x, d, 1e-4)
    assert abs(fd - (grad * d).sum()) <= 1e-5 * abs(fd) + 1e-7
    vaes.float()


@pytest.mark.parametrize("attack", [functools.partial(attacks.fgsm, norm="2"),
                                    functools.partial(attacks.pgd, norm="2", steps=2),
                                    functools.partial(attacks.square, norm="2", n_queries=3)])
def test_attacks_on_abs_stay_in_the_ball_and_box(vaes, images, attack):
    x, y = images
    model = ABS(vaes, n_prototypes=20, steps=1)
    x_adv = attack(model, x, y, 0.5)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 0.5 + 1e-5


def test_accuracy_never_rises_with_eps(vaes):
    d = data.load("synthetic32", "test", n=10, seed=2)
    model = ABS(vaes, n_prototypes=20, steps=1)
    res = sweep.worst_case_sweep(model, d.x, d.y, {"FGM": functools.partial(attacks.fgsm, norm="2")},
                                 [0.1, 0.5, 2.0], norm="2", progress_bar=False)
    acc = res.accuracy().to_numpy()
    assert (acc[1:] <= acc[:-1]).all()


def test_class_vae_checkpoint_is_reused():
    tr = data.load("synthetic32", "train", n=40, seed=0)
    cfg = VAETrainConfig(epochs=1, batch_size=4)
    torch.manual_seed(0)
    a, info_a = fit_class_vaes(ClassVAEs(latent=2, width=1), tr, cfg, name="test-abs-vaes", progress_bar=False)
    b, info_b = fit_class_vaes(ClassVAEs(latent=2, width=1), tr, cfg, name="test-abs-vaes", progress_bar=False)
    assert not info_a["from_cache"] and info_b["from_cache"] and info_a["key"] == info_b["key"]
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_abs_predictions_are_stored_and_keyed_by_inference_settings(vaes, images, tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    x = images[0]
    model = ABS(vaes, n_prototypes=20, steps=2, seed=0).eval()
    first = ex.predictions(model, x)
    assert torch.equal(first, evaluate.predict(model, x)) and len(list((tmp_path / "results").glob("*.pt"))) == 1
    assert torch.equal(ex.predictions(ABS(vaes, n_prototypes=20, steps=2, seed=0).eval(), x), first)
    assert len(list((tmp_path / "results").glob("*.pt"))) == 1, "the same ABS: reused"
    ex.predictions(model.variant(steps=3), x)
    assert len(list((tmp_path / "results").glob("*.pt"))) == 2, "another inference budget: computed again"


def test_simple_dla():
    model = models.build("simple_dla", dataset="synthetic32", width=0.0625).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert hasattr(model, "normalize")
    with pytest.raises(ValueError, match="3 x 32 x 32"):
        models.build("simple_dla", dataset="synthetic28")
    full = models.build("simple_dla", dataset="synthetic32")
    assert 15_000_000 < sum(p.numel() for p in full.parameters()) < 15_500_000   # kuangliu's ~15.1 M


@pytest.mark.parametrize("overrides, message", [
    ({"n_adaptive": 1000}, "n_adaptive=1000 must not exceed n_test"),
    ({"curve_eps": [0.1, 0.3]}, "missing \\[0.2\\]"),
    ({"dataset": "synthetic28"}, "3 x 32 x 32"),
    ({"abs_prototypes": 77}, "convergence_prototypes"),
    ({"eps": [0.1, -0.2]}, "eps\\[1\\]"),
    ({"abs_steps": -1}, "abs_steps"),
    ({"dla_width": 2.0}, "dla_width"),
    ({"bogus": 1}, "unknown parameter"),
])
def test_profile_rejects_bad_input(overrides, message):
    with pytest.raises(ConfigError, match=message):
        profiles.resolve("abs_cifar", "smoke", overrides)


def test_every_profile_validates():
    for name in ("smoke", "quick", "paper"):
        cfg = profiles.resolve("abs_cifar", name)
        assert cfg.eps == [0.1, 0.2, 0.3]
    paper = profiles.resolve("abs_cifar", "paper")
    assert (paper.dla_epochs, paper.vae_epochs, paper.n_test) == (25, 25, 10000)
    assert (paper.abs_prototypes, paper.abs_steps, paper.abs_lr, paper.abs_clip) == (8000, 50, 0.05, 5.0)


def test_report_contradictions_are_computed_from_the_transcription():
    t = verdicts.contradictions_table()
    assert "3 of 3 disagree" in t.set_index("id").loc["text_vs_table2", "what"]
    assert reference.REPORT_TABLE2[("PGD", 0.1)] > reference.REPORT_TABLE2[("FGSM", 0.1)]
    assert (t["source"] == "report text").all()


def _fake_run(dataset: str, strong: bool, **cfg_changes) -> run_mod.Run:
    """A Run from made-up per-image distances (no training): ABS keeps more images than DLA at
    every eps when ``strong``; both models at the report's clean accuracy."""
    from lib.sweep import from_distances

    cfg = dict(profiles.resolve("abs_cifar", "smoke"), dataset=dataset, **cfg_changes)
    n = 400
    ctx = ex.Context(cfg, torch.device("cpu"), data.load("synthetic32", "train", n=20, seed=0),
                     data.load("synthetic32", "test", n=n, seed=0))
    g = torch.Generator().manual_seed(0)
    clean = {"ABS": 0.45, "SimpleDLA": 0.85}
    scale = {"ABS": 0.6 if strong else 0.05, "SimpleDLA": 0.05}
    dist = {}
    for m in run_mod.MODELS:
        d = torch.rand(n, generator=g, dtype=torch.float64) * scale[m] * 2
        d[torch.rand(n, generator=g) > clean[m]] = 0.0        # wrong clean
        dist[m] = d
    x = ctx.test.x
    sweeps = {m: {a: from_distances(dist[m], cfg["curve_eps"], x, attack=a) for a in reference.ATTACKS}
              for m in run_mod.MODELS}
    worst = {m: from_distances(dist[m], ex.adaptive_eps(cfg), x, attack="PGD-CE") for m in run_mod.MODELS}
    correct = {m: dist[m] > 0 for m in run_mod.MODELS}
    from lib.reports.abs_cifar import tables as tb

    return run_mod.Run(ctx=ctx, models=None, correct=correct, report_sweeps=sweeps,
                       tables=tb.report_tables(sweeps, cfg["eps"]), worst=worst, gradients=None,
                       convergence=pd.DataFrame(), sanity=pd.DataFrame({"passed": [True]}))


def test_every_claim_is_quoted_and_nothing_is_judged_on_synthetic_data():
    run = _fake_run("synthetic32", strong=True)
    judged = lib_verdicts.judge(verdicts.claims(run))
    quotes = {q.text for q in reference.QUOTES.values()}
    assert {c.quote for c in judged} == quotes, "every quote is used, and only quotes of the report"
    assert len({c.id for c in judged}) == len(judged) == 2 + 1 + 6 + 3 + 1 + 3
    assert all(c.verdict == lib_verdicts.UNJUDGED and "synthetic" in c.why_not for c in judged)


def test_claims_are_judged_when_the_models_reach_the_report():
    judged = {c.id: c for c in lib_verdicts.judge(verdicts.claims(_fake_run("cifar10_jpeg", strong=True)))}
    assert judged["abs_more_robust_0.1"].verdict == lib_verdicts.HOLDS
    assert judged["abs_poor_classifier"].verdict == lib_verdicts.HOLDS
    assert judged["abs_more_robust_0.1"].test.startswith("exact McNemar")
    # Clean accuracies of models trained with less than the report (a budget gate): judged unless
    # ours falls short, which the smaller budget may explain.
    clean = judged["abs_clean"]
    short = clean.effect < 0 and clean.if_significant == lib_verdicts.FAILS
    assert ("25" in clean.why_not and clean.verdict == lib_verdicts.UNJUDGED) if short else clean.why_not == ""
    weak = {c.id: c for c in lib_verdicts.judge(verdicts.claims(_fake_run("cifar10_jpeg", strong=False)))}
    assert weak["abs_robust_worst_0.3"].verdict == lib_verdicts.UNJUDGED and weak["abs_robust_worst_0.3"].effect == 0
    assert weak["abs_robust_worst_0.3"].n_to_decide == float("inf")


def test_a_model_below_the_report_baseline_gates_its_claims():
    run = _fake_run("cifar10_jpeg", strong=True)
    run.correct["ABS"] = torch.zeros_like(run.correct["ABS"])
    judged = {c.id: c for c in lib_verdicts.judge(verdicts.claims(run))}
    assert judged["abs_more_robust_0.1"].verdict == lib_verdicts.UNJUDGED
    assert "ABS's clean accuracy (%) 0.0 vs the report's 45.4" in judged["abs_more_robust_0.1"].why_not
    # SimpleDLA's own numbers under attack are about SimpleDLA alone: ABS's shortfall is not their gate.
    attacked = lambda m: [c for c in judged.values()  # noqa: E731
                          if c.comparison.models == (m,) and c.comparison.eps is not None]
    dla, abs_ = attacked("SimpleDLA"), attacked("ABS")
    assert len(dla) == len(abs_) == 3
    assert all("ABS's clean accuracy" not in c.why_not for c in dla)
    assert all("ABS's clean accuracy (%) 0.0" in c.why_not for c in abs_)


def test_summary_rows_and_observations_of_a_run():
    run = _fake_run("cifar10_jpeg", strong=True)
    rows = run_mod.summary_rows(run)
    assert len(rows) == 2 * len(run.ctx.cfg["eps"]) and {r["defense"] for r in rows} == {"ABS", "SimpleDLA"}
    obs = verdicts.observations(run)
    ids = [o.id for o in obs]
    assert "kept_share_0.1" in ids and "beyond_report_eps_1" in ids and len(set(ids)) == len(ids)


def test_report_attack_set_is_l2():
    cfg = profiles.resolve("abs_cifar", "smoke")
    assert all(a.keywords["norm"] == "2" for a in ex.report_attacks(cfg).values())
