"""Unit tests of report 002's lib code: the dropout CNN with noise layers, the contrastive
loss, the nearest-reference classifier, the notebook's profiles, its reference numbers, its
tables and the verdict functions (on small hand-made tables). Synthetic data only."""
from __future__ import annotations

import functools
import math

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lib import attacks, data, models, plots, profiles, runtime, train  # noqa: E402
from lib.defenses import contrastive  # noqa: E402
from lib.models import DropoutCNN, GaussianNoise  # noqa: E402
from lib.reports.attacks_adversarial_training import experiment, reference, verdicts  # noqa: E402
from lib.reports.attacks_adversarial_training import profile as report_profiles  # noqa: E402
from lib.reports.attacks_adversarial_training import tables as report_tables  # noqa: E402

REPORT = "attacks_adversarial_training"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread for these tiny models. With two, OpenMP workers spin while they wait,
    and on a 2-core machine shared with another busy process that made this file ~10x slower
    (torch is imported before this module, so OMP_WAIT_POLICY can no longer be set here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(noise=None, sigma=0.05, dataset="synthetic28", seed=0):
    runtime.seed_everything(seed)
    return models.build("dropout_cnn", dataset=dataset, width=4, hidden=16, noise=noise, sigma=sigma)


@pytest.fixture(scope="module")
def synth():
    return data.load("synthetic28", "train", n=600), data.load("synthetic28", "test", n=200)


@pytest.fixture(scope="module")
def trained(synth):
    """A base net that learned the synthetic classes (one short epoch)."""
    runtime.seed_everything(0)
    model = models.build("dropout_cnn", dataset="synthetic28", width=8, hidden=32)
    cfg = train.TrainConfig(epochs=2, batch_size=50, lr=0.05, scheduler=None)
    return train.fit(model, synth[0], cfg, use_cache=False, progress_bar=False).model.eval()


# --------------------------------------------------------------------------- model
@pytest.mark.parametrize("dataset,channels", [("synthetic28", 1), ("synthetic32", 3)])
def test_shapes_and_registry(dataset, channels):
    model = small(dataset=dataset).eval()
    assert isinstance(model, DropoutCNN)
    side = 28 if dataset == "synthetic28" else 32
    x = torch.rand(5, channels, side, side)
    assert model(x).shape == (5, 10)
    z = model.embed(x)
    assert z.shape == (5, 16) and (z >= 0).all()
    assert torch.allclose(model.classifier(z), model(x))
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == 2


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="noise"):
        DropoutCNN("synthetic28", noise="input")
    with pytest.raises(ValueError, match="sigma"):
        GaussianNoise(-0.1)
    with pytest.raises(ValueError, match="dropout"):
        DropoutCNN("synthetic28", dropout=(0.5, 1.0))
    with pytest.raises(ValueError, match="unknown dataset"):
        DropoutCNN("imagenet")


@pytest.mark.parametrize("place", ["conv1", "dense"])
def test_noise_stays_on_in_eval_mode(place):
    x = torch.rand(4, 1, 28, 28)
    noisy = small(noise=place, sigma=0.5).eval()
    assert noisy.stochastic
    assert not torch.equal(noisy(x), noisy(x))
    plain = small().eval()
    assert not plain.stochastic
    assert torch.equal(plain(x), plain(x))
    # Same layer layout: a noisy model can start from the plain model's weights.
    noisy.load_state_dict(plain.state_dict())
    silent = small(noise=place, sigma=0.0).eval()
    silent.load_state_dict(plain.state_dict())
    assert torch.allclose(silent(x), plain(x))


def test_gaussian_noise_has_the_right_spread():
    torch.manual_seed(0)
    layer = GaussianNoise(0.05).eval()
    noise = layer(torch.zeros(200_000))
    assert abs(noise.std().item() - 0.05) < 1e-3 and abs(noise.mean().item()) < 1e-3


# --------------------------------------------------------------------------- contrastive loss
def test_contrastive_loss_on_hand_made_pairs():
    same = torch.tensor([0, 0])
    diff = torch.tensor([0, 1])
    far = torch.tensor([[0.0, 0.0], [3.0, 4.0]])     # distance 5
    near = torch.tensor([[0.0, 0.0], [1.0, 0.0]])    # distance 1
    assert contrastive.contrastive_loss(far, same, alpha=2).item() == pytest.approx(25.0)
    assert contrastive.contrastive_loss(far, diff, alpha=2).item() == pytest.approx(0.0)
    assert contrastive.contrastive_loss(near, diff, alpha=2).item() == pytest.approx(1.0)
    assert contrastive.contrastive_loss(near, diff, alpha=6).item() == pytest.approx(25.0)
    # Three points: pairs (0,1) same d=1 -> 1; (0,2) diff d=5 -> 0; (1,2) diff d=sqrt(20) -> 0.
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    y = torch.tensor([2, 2, 7])
    assert contrastive.contrastive_loss(z, y, alpha=2).item() == pytest.approx(1 / 3)
    # (0,2) with alpha 6: (6 - 5)^2 = 1; (1,2): (6 - sqrt(20))^2.
    expected = (1 + 1 + (6 - 20 ** 0.5) ** 2) / 3
    assert contrastive.contrastive_loss(z, y, alpha=6).item() == pytest.approx(expected, rel=1e-5)


def test_contrastive_loss_gradient_is_finite_at_coincident_points():
    z = torch.zeros(3, 4, requires_grad=True)
    loss = contrastive.contrastive_loss(z, torch.tensor([0, 1, 1]), alpha=2.0)
    assert loss.item() == pytest.approx(4 * 2 / 3)
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_contrastive_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        contrastive.contrastive_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), alpha=0)
    with pytest.raises(ValueError, match="N x D"):
        contrastive.contrastive_loss(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))


def test_contrastive_objective_is_ce_plus_weighted_cl():
    model = small().eval()
    x, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 0, 1, 1, 2, 3])
    loss, logits = contrastive.contrastive_objective(model, x, y, alpha=2.0, weight=0.3)
    z = model.embed(x)
    expected = F.cross_entropy(model.classifier(z), y) + 0.3 * contrastive.contrastive_loss(z, y, 2.0)
    assert logits.shape == (6, 10)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_contrastive_training_has_a_stable_checkpoint_key(synth, tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    loss_fn = functools.partial(contrastive.contrastive_objective, alpha=2.0, weight=0.1)
    cfg = train.TrainConfig(epochs=1, batch_size=100, lr=0.05)
    first = train.fit(small(), synth[0].subset(torch.arange(200)), cfg, loss_fn=loss_fn,
                      progress_bar=False)
    again = train.fit(small(), synth[0].subset(torch.arange(200)), cfg, loss_fn=loss_fn,
                      progress_bar=False)
    assert again.from_cache and again.path == first.path
    assert torch.isfinite(torch.tensor(first.history["loss"].values)).all()


# --------------------------------------------------------------------------- 1-NN classifier
def test_references_are_per_class_and_seeded(synth):
    refs = contrastive.choose_references(synth[0], per_class=5, seed=3)
    assert len(refs) == 50
    assert torch.equal(torch.bincount(refs.y, minlength=10), torch.full((10,), 5))
    assert torch.equal(refs.x, contrastive.choose_references(synth[0], 5, seed=3).x)
    assert not torch.equal(refs.x, contrastive.choose_references(synth[0], 5, seed=4).x)
    with pytest.raises(ValueError, match="fewer"):
        contrastive.choose_references(synth[0].subset(torch.arange(20)), per_class=5)


def test_nearest_reference_labels_its_references_and_is_differentiable(synth):
    model = small().eval()
    refs = contrastive.choose_references(synth[0], per_class=3, seed=0)
    knn = contrastive.NearestReference(model, refs)
    logits = knn(refs.x)
    assert logits.shape == (30, 10) and (logits <= 0).all()
    assert torch.equal(logits.argmax(1), refs.y)
    x = synth[1].x[:8].clone().requires_grad_(True)
    knn(x).logsumexp(1).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # The 1-NN logits agree with brute-force distances.
    z, rz = model.embed(synth[1].x[:8]), model.embed(refs.x)
    d = torch.cdist(z, rz)
    assert torch.equal(knn(synth[1].x[:8]).argmax(1), refs.y[d.argmin(1)])


def test_nearest_reference_needs_every_class(synth):
    refs = contrastive.choose_references(synth[0], per_class=2, seed=0)
    keep = (refs.y != 4).nonzero().squeeze(1)
    with pytest.raises(ValueError, match="class"):
        contrastive.NearestReference(small(), refs.subset(keep))


def test_attacks_reach_the_nearest_reference_rule(trained, synth):
    refs = contrastive.choose_references(synth[0], per_class=5, seed=0)
    knn = contrastive.NearestReference(trained, refs)
    x, y = synth[1].x[:100], synth[1].y[:100]
    ok = knn(x).argmax(1) == y
    assert ok.float().mean() > 0.3
    x_adv = attacks.pgd(knn, x[ok], y[ok], 0.3, steps=10, loss=attacks.margin)
    assert (x_adv - x[ok]).abs().max() <= 0.3 + 1e-6
    assert (knn(x_adv).argmax(1) == y[ok]).float().mean() < 0.5
    # A transfer attack ignores the model it is handed and attacks its source.
    via = attacks.transfer(knn, x[:5], y[:5], 0.1, source=trained, attack=attacks.fgsm)
    assert torch.equal(via, attacks.fgsm(trained, x[:5], y[:5], 0.1))


def test_feature_attack_pulls_towards_the_nearest_other_class(trained, synth):
    refs = contrastive.choose_references(synth[0], per_class=5, seed=0)
    knn = contrastive.NearestReference(trained, refs)
    x, y = synth[1].x[:60], synth[1].y[:60]
    ok = knn(x).argmax(1) == y
    x, y = x[ok], y[ok]
    logits = knn(x).detach()
    target = logits.masked_fill(F.one_hot(y, 10).bool(), float("-inf")).argmax(1)
    x_adv = contrastive.feature_attack(knn, x, y, 0.3, steps=10)
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    pred = knn(x_adv).argmax(1)
    fooled = pred != y
    assert fooled.float().mean() > 0.5
    assert (pred[fooled] == target[fooled]).float().mean() > 0.8, "it goes to the nearest wrong class"


# --------------------------------------------------------------------------- EOT vs plain on noise
def test_eot_is_at_least_as_strong_as_plain_pgd_on_a_noisy_model(trained, synth):
    # A large sigma, so that one noise draw gives a poor gradient and EOT has work to do.
    runtime.seed_everything(0)
    noisy = models.build("dropout_cnn", dataset="synthetic28", width=8, hidden=32,
                         noise="conv1", sigma=1.0)
    noisy.load_state_dict(trained.state_dict())
    noisy.eval()
    x, y = synth[1].x[:100], synth[1].y[:100]

    def mean_accuracy(images, draws=20):
        with torch.no_grad():
            return torch.stack([(noisy(images).argmax(1) == y).float().mean()
                                for _ in range(draws)]).mean().item()

    torch.manual_seed(1)
    plain = attacks.pgd(noisy, x, y, 0.1, steps=5)
    torch.manual_seed(1)
    eot = attacks.pgd(noisy, x, y, 0.1, steps=5, eot=8)
    torch.manual_seed(2)
    acc_plain, acc_eot = mean_accuracy(plain), mean_accuracy(eot)
    assert acc_eot <= acc_plain + 0.03, (acc_eot, acc_plain)


# --------------------------------------------------------------------------- helpers and profiles
def test_pca_2d_is_deterministic_and_ordered():
    torch.manual_seed(0)
    z = torch.randn(300, 6) * torch.tensor([5.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    a, b = plots.pca_2d(z, z[:7] + 0.01)
    assert a.shape == (300, 2) and b.shape == (7, 2)
    assert a[:, 0].var() >= a[:, 1].var()
    again, _ = plots.pca_2d(z, z[:7])
    assert torch.allclose(a, again)


def test_latent_scatter_draws(synth):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    pts = torch.randn(50, 2)
    plots.latent_scatter(ax, pts, synth[1].y[:50], synth[1].classes, moved=pts[:5] + 1,
                               moved_from=pts[:5], moved_labels=synth[1].y[:5], anchors=pts[:3],
                               anchor_labels=synth[1].y[:3], title="t")
    assert len(ax.collections) >= 3
    plt.close(fig)


def test_profiles_share_keys_and_pass_checks():
    table = report_profiles.PROFILES
    assert set(table) == {"smoke", "quick", "paper"}
    keys = set(table["smoke"])
    assert all(set(p) == keys for p in table.values())
    for name in table:
        report_profiles.check(profiles.resolve(REPORT, name))  # resolve runs check() too
    assert table["paper"]["dataset"] == "cifar10"
    assert table["quick"]["dataset"] == "cifar10_jpeg"
    assert table["smoke"]["dataset"].startswith("synthetic")
    assert table["paper"]["eps"] == [0.001, 0.01, 0.05, 0.1, 0.3, 0.5]
    assert table["quick"]["eps"] == table["paper"]["eps"]
    # The report's settings where it gives them, in every profile.
    for p in table.values():
        assert p["noise_sigma"] == reference.REPORT_NOISE_SIGMA
        assert p["contrastive_alpha"] == reference.REPORT_CONTRASTIVE_ALPHA
        assert p["refs_per_class"] == reference.REPORT_REFS_PER_CLASS
        assert p["table2_eps"] == list(reference.REPORT_TABLE2_EPS)
    assert table["paper"]["augment"] == "crop_flip" and not table["paper"]["finetune"]


@pytest.mark.parametrize("override,match", [
    ({"at_steps": 0}, "at_steps"), ({"eot_eps": []}, "eot_eps"), ({"eps": [0.1, 2.0]}, "eps"),
    ({"n_val": 10**6}, "n_val"), ({"finetune": "yes"}, "finetune"), ({"noise_sigma": 0}, "sigma"),
    ({"n_finetune": 10**6}, "n_finetune"), ({"dropout": [0.1]}, "dropout"), ({"dropout": [0.1, 1.0]}, "dropout"),
    ({"n_eot": 10**4}, "n_eot"),
])
def test_bad_parameters_fail_before_compute(override, match):
    with pytest.raises(profiles.ConfigError, match=match):
        profiles.resolve(REPORT, "smoke", override)


def test_the_quick_profile_fine_tunes_on_a_subset():
    cfg = profiles.resolve(REPORT, "smoke", {"n_finetune": 300})
    ctx = experiment.prepare(cfg, "cpu")
    assert len(ctx.tune) == 300 and len(ctx.train) == cfg.n_train - cfg.n_val
    assert torch.equal(torch.bincount(ctx.tune.y, minlength=10), torch.full((10,), 30))
    assert ctx.title == data.info(cfg.dataset).title
    whole = experiment.prepare(profiles.resolve(REPORT, "smoke"), "cpu")
    assert whole.tune is whole.train


def test_make_model_uses_the_profile_dropout():
    cfg = profiles.resolve(REPORT, "smoke", {"dropout": [0.1, 0.3]})
    model = experiment.make_model(experiment.prepare(cfg, "cpu"))
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates == [0.1, 0.3]


# --------------------------------------------------------------------------- reference numbers
def test_reference_numbers_are_the_reports():
    t1 = reference.REPORT_TABLE1
    assert len(t1) == 12 and set(e for _, e in t1) == set(reference.REPORT_TABLE1_EPS)
    assert t1[("FGSM", 0.05)] == 22.0 and t1[("PGD", 0.5)] == 7.89
    # Section 2.3: 1212 and 678 of the 8805 correctly classified images.
    n = reference.REPORT_N_CORRECT
    assert 100 * reference.REPORT_TEXT_FGSM_05_IMAGES / n == pytest.approx(t1[("FGSM", 0.5)], abs=0.01)
    assert 100 * reference.REPORT_TEXT_PGD_005_IMAGES / n == pytest.approx(t1[("PGD", 0.05)], abs=0.02)
    assert len(reference.REPORT_TABLE2) == 12
    assert reference.REPORT_TABLE2[("PGD", "no defense", 0.01)] == 57.99
    assert reference.FILE == "002_e1809080d7eea151.txt"


# --------------------------------------------------------------------------- verdicts on hand-made tables
CHANCE = 0.1


def t1_table(fgsm, pgd, n=400, eps=(0.01, 0.05, 0.1)):
    rows = [{"attack": a, "eps": e, "ours (%)": v, "n": n}
            for a, vals in [("FGSM", fgsm), ("PGD", pgd)] for e, v in zip(eps, vals)]
    return pd.DataFrame(rows)


def verdict(table):
    assert list(table.columns) == verdicts.COLUMNS
    assert set(table["verdict"]) <= set(verdicts.VERDICTS)
    return list(table["verdict"])


def judge(fn, *args, **kwargs):
    """The verdicts of ``fn(*args, chance=CHANCE, **kwargs)``."""
    return verdict(fn(*args, chance=CHANCE, **kwargs))


H, F_, U = verdicts.HOLDS, verdicts.FAILS, verdicts.UNJUDGED


def test_helpers_noise_and_chance():
    # The 95 % Clopper-Pearson half-width at p = 0.5 and n = 400 is about 5 points.
    assert verdicts.noise_points(400) == pytest.approx(5.0, abs=0.1)
    assert verdicts.noise_points(400, 400) == pytest.approx(math.sqrt(2) * verdicts.noise_points(400))
    assert verdicts.at_chance(12.0, 100, 0.1)          # 0.1 + about 0.06
    assert not verdicts.at_chance(20.0, 100, 0.1)
    with pytest.raises(ValueError, match="verdict"):
        verdicts.record("c", "w", "r", "e", "maybe")


def test_pgd_stronger_than_fgsm():
    strong = t1_table([60, 30, 20], [40, 5, 0])
    assert judge(verdicts.pgd_stronger_than_fgsm, strong, clean=70, n_test=500) == [H]
    # PGD weaker than FGSM at one eps, as in the report's Table 2 at eps 0.01.
    weak = t1_table([60, 30, 20], [80, 5, 0])
    assert judge(verdicts.pgd_stronger_than_fgsm, weak, clean=70, n_test=500) == [F_]
    # Equal everywhere: no difference beyond noise either way, so no verdict.
    same = t1_table([60, 30, 20], [60, 30, 20])
    assert judge(verdicts.pgd_stronger_than_fgsm, same, clean=70, n_test=500) == [verdicts.UNJUDGED]
    # A model at chance, or too few images scored: no verdict.
    at_chance = verdicts.pgd_stronger_than_fgsm(strong, clean=11, n_test=500, chance=CHANCE)
    assert verdict(at_chance) == [U] and "chance" in at_chance["evidence"].iloc[0]
    few = t1_table([60, 30, 20], [40, 5, 0], n=5)
    assert judge(verdicts.pgd_stronger_than_fgsm, few, clean=70, n_test=500) == [U]


def test_small_eps_breaks():
    broken = t1_table([60, 30, 20], [40, 5, 0])
    assert judge(verdicts.small_eps_breaks, broken, clean=70, n_test=500) == [H]
    robust = t1_table([90, 80, 70], [40, 5, 0])
    assert judge(verdicts.small_eps_breaks, robust, clean=70, n_test=500) == [F_]
    assert judge(verdicts.small_eps_breaks, broken, clean=70, n_test=500, eps=0.3) == [U]


def t2_table(cells, clean, n_test=500):
    """cells: {(attack, defense, eps): accuracy % over the correctly classified}; clean: {defense: %}."""
    rows = []
    for (attack, defense, eps), acc in cells.items():
        rows.append({"attack": attack, "defense": defense, "eps": eps, "clean accuracy (%)": clean[defense],
                     "ours (%)": acc, "ours over all test images (%)": acc * clean[defense] / 100,
                     "n": round(n_test * clean[defense] / 100)})
    return pd.DataFrame(rows)


def table2_cells(at_fgsm=(60, 40), at_pgd=(70, 50), base=(30, 5)):
    cells = {}
    for attack, drop in [("FGSM", 0), ("PGD", 10)]:
        for defense, vals in [("no defense", base), ("AT-FGSM", at_fgsm), ("AT-PGD", at_pgd)]:
            for eps, v in zip((0.01, 0.05), vals):
                cells[(attack, defense, eps)] = max(v - drop, 0)
    return cells


CLEAN2 = {"no defense": 70.0, "AT-FGSM": 65.0, "AT-PGD": 62.0}


def test_adversarial_training_helps_per_model():
    table = t2_table(table2_cells(), CLEAN2)
    out = verdicts.adversarial_training_helps(table, chance=CHANCE, n_test=500)
    assert list(out["claim"].str.contains("AT-FGSM")) == [True, False]
    assert verdict(out) == [H, H]
    # AT-FGSM no better than no defense, within noise: no verdict for it alone.
    table = t2_table(table2_cells(at_fgsm=(30, 5)), {**CLEAN2, "AT-FGSM": 70.0})
    assert judge(verdicts.adversarial_training_helps, table, n_test=500) == [U, H]
    # AT-FGSM clearly worse than no defense under an attack: the claim fails for it.
    table = t2_table(table2_cells(at_fgsm=(5, 2), base=(60, 40)), {**CLEAN2, "AT-FGSM": 70.0})
    assert judge(verdicts.adversarial_training_helps, table, n_test=500)[0] == F_
    # An adversarially trained model at chance cannot be judged.
    table = t2_table(table2_cells(), {**CLEAN2, "AT-PGD": 10.0})
    assert judge(verdicts.adversarial_training_helps, table, n_test=500) == [H, U]


def test_at_holds_better_against_fgsm_and_at_pgd_beats_at_fgsm():
    table = t2_table(table2_cells(), CLEAN2)   # PGD 10 points below FGSM everywhere
    assert judge(verdicts.at_holds_better_against_fgsm, table, n_test=500) == [H]
    # Equal models: the difference is within noise, so no verdict.
    assert judge(verdicts.at_pgd_beats_at_fgsm_under_pgd, table, n_test=500) == [U]
    worse = t2_table(table2_cells(at_pgd=(5, 2)), CLEAN2)
    assert judge(verdicts.at_pgd_beats_at_fgsm_under_pgd, worse, n_test=500) == [F_]
    better = t2_table(table2_cells(at_pgd=(80, 70)), CLEAN2)
    assert judge(verdicts.at_pgd_beats_at_fgsm_under_pgd, better, n_test=500) == [H]
    # The report's own Table 2: FGSM below PGD at eps 0.01 for both models.
    own = t2_table(reference.REPORT_TABLE2, {"no defense": 88.0, "AT-FGSM": 80.0, "AT-PGD": 80.0}, n_test=10000)
    assert judge(verdicts.at_holds_better_against_fgsm, own, n_test=10000) == [F_]
    assert judge(verdicts.at_pgd_beats_at_fgsm_under_pgd, own, n_test=10000) == [H]


def noise_table(base, noisy, label="noise after conv1", n=300, eps=(0.01, 0.05, 0.1)):
    return pd.DataFrame([{"model": m, "attack": "FGSM", "eps": e, "accuracy": v, "n": n}
                         for m, vals in [("base model", base), (label, noisy)] for e, v in zip(eps, vals)])


def test_noise_does_not_help():
    label = "noise after conv1"
    clean = {"base model": (70.0, 500), label: (68.0, 500)}
    same = noise_table([50, 20, 10], [48, 21, 9])
    assert judge(verdicts.noise_does_not_help, same, label, clean=clean) == [H]
    helps = noise_table([50, 20, 10], [70, 45, 30])
    assert judge(verdicts.noise_does_not_help, helps, label, clean=clean) == [F_]
    dead = {"base model": (70.0, 500), label: (10.5, 500)}
    assert judge(verdicts.noise_does_not_help, helps, label, clean=dead) == [U]


def eot_table(base_pgd, eot, plain, quiet, label="noise after conv1", n=150, eps=(0.01, 0.05)):
    rows = []
    for model, attack, vals in [("base model", "PGD", base_pgd), (label, "PGD-EOT", eot), (label, "PGD", plain),
                                (f"{label}, noise off at test", "PGD", quiet)]:
        rows += [{"model": model, "attack": attack, "eps": e, "ours (%)": v, "n": n} for e, v in zip(eps, vals)]
    return pd.DataFrame(rows)


def test_noise_does_not_help_eot():
    label = "noise after conv1"
    clean = {"base model": (70.0, 200), label: (68.0, 200), f"{label}, noise off at test": (69.0, 200)}
    holds = eot_table([20, 2], [21, 1], [30, 5], [20, 2])
    assert judge(verdicts.noise_does_not_help_eot, holds, label, clean=clean) == [H]
    # Better under EOT, and so are the same weights with the noise off: training did it.
    trained = verdicts.noise_does_not_help_eot(eot_table([20, 2], [60, 30], [62, 31], [58, 29]), label,
                                               clean=clean, chance=CHANCE)
    assert verdict(trained) == [F_] and "training with noise" in trained["evidence"].iloc[0]
    random_only = verdicts.noise_does_not_help_eot(eot_table([20, 2], [60, 30], [62, 31], [20, 2]), label,
                                                   clean=clean, chance=CHANCE)
    assert verdict(random_only) == [F_] and "randomness" in random_only["evidence"].iloc[0]


def t4_table(nn_clean, nn_attacked, plain_clean=70.0, plain_attacked=None, eps=(0.01, 0.05)):
    """1-NN rows of Table 4: accuracy over all test images given directly."""
    plain_attacked = plain_attacked or [a - 10 for a in nn_attacked]
    rows = []
    for encoder, clean, attacked in [("CE + contrastive", nn_clean, nn_attacked),
                                     ("plain CE", plain_clean, plain_attacked)]:
        for attack in ("FGSM on softmax head", "PGD through distances"):
            for e, a in zip(eps, attacked):
                a = a if attack == "FGSM on softmax head" else a / 2
                rows.append({"encoder": encoder, "classifier": "1-NN", "clean accuracy (%)": clean,
                             "attack": attack, "eps": e, "ours (%)": 100 * a / clean,
                             "ours over all test images (%)": a, "n": 300})
    return pd.DataFrame(rows)


def test_nn_keeps_accuracy():
    table = t4_table(80.0, [77.0, 70.0])
    # FGSM on the head at eps 0.01: 80 -> 77, similar; PGD through distances: 80 -> 38.5, not.
    assert judge(verdicts.nn_keeps_accuracy, table, "FGSM on softmax head", n_test=2000) == [H]
    assert judge(verdicts.nn_keeps_accuracy, table, "PGD through distances", n_test=2000) == [F_]
    assert judge(verdicts.nn_keeps_accuracy, table, "FGSM on softmax head", n_test=2000, eps=0.3) == [U]
    at_chance = t4_table(10.0, [9.0, 8.0])
    assert judge(verdicts.nn_keeps_accuracy, at_chance, "FGSM on softmax head", n_test=2000) == [U]


def test_contrastive_no_better_than_plain():
    better = t4_table(80.0, [77.0, 70.0], plain_attacked=[40.0, 20.0])
    assert judge(verdicts.contrastive_no_better_than_plain, better, "PGD through distances", n_test=2000) == [F_]
    same = t4_table(80.0, [60.0, 40.0], plain_attacked=[60.0, 40.0])
    assert judge(verdicts.contrastive_no_better_than_plain, same, "PGD through distances", n_test=2000) == [H]
    only = same[same["encoder"] == "CE + contrastive"]
    assert judge(verdicts.contrastive_no_better_than_plain, only, "PGD through distances", n_test=2000) == [U]


def test_attacked_closer_to_reference():
    clean = [1.0, 1.2, 0.9, 1.1, 1.0, 1.3] * 5
    closer = [d - 0.2 + 0.01 * (i % 3) for i, d in enumerate(clean)]
    kw = dict(attack="FGSM", eps=0.01, clean_acc=80.0, n_test=500, chance=CHANCE)
    assert verdict(verdicts.attacked_closer_to_reference(clean, closer, **kw)) == [H]
    farther = [d + 0.2 for d in clean]
    assert verdict(verdicts.attacked_closer_to_reference(clean, farther, **kw)) == [F_]
    assert verdict(verdicts.attacked_closer_to_reference(clean, closer, **{**kw, "clean_acc": 10.0})) == [U]
    assert verdict(verdicts.attacked_closer_to_reference(clean[:6], closer[:6], **kw)) == [U]
    with pytest.raises(ValueError, match="equal-length"):
        verdicts.attacked_closer_to_reference(clean, closer[:3], **kw)


def test_report_consistency_on_its_own_numbers_and_on_consistent_ones():
    own = verdicts.report_consistency()
    assert verdict(own) == [F_, F_]
    assert "57.99" in own["evidence"].iloc[0] and "+10.04" in own["evidence"].iloc[1]
    t1 = {("FGSM", 0.01): 50.0, ("FGSM", 0.05): 20.0, ("PGD", 0.01): 10.0, ("PGD", 0.05): 5.0}
    t2 = {(a, "no defense", e): v for (a, e), v in t1.items()}
    assert verdict(verdicts.report_consistency(t1, t2)) == [H, H]


def test_synthetic_data_judge_nothing():
    table = verdicts.pgd_stronger_than_fgsm(t1_table([60, 30, 20], [40, 5, 0]), clean=70, n_test=500,
                                            chance=CHANCE)
    assert verdict(verdicts.on_dataset(table, "cifar10_jpeg")) == [H]
    synthetic = verdicts.on_dataset(table, "synthetic32")
    assert verdict(synthetic) == [U]
    assert synthetic["evidence"].iloc[0].startswith("synthetic data (would be: holds)")


# --------------------------------------------------------------------------- tables
def test_table1_and_table2_put_the_report_beside_ours():
    sweep = pd.DataFrame([{"attack": a, "norm": "inf", "eps": e, "accuracy": 0.5, "n": 100, "convention": "correct"}
                          for a in ("FGSM", "PGD") for e in (0.01, 0.2)])
    t1 = report_tables.table1(sweep)
    assert list(t1["ours (%)"]) == [50.0] * 4
    assert t1["report (%)"].iloc[0] == 54.05 and math.isnan(t1["report (%)"].iloc[1])
    parts = {"no defense": (sweep[sweep["eps"] == 0.01], 0.8), "AT-PGD": (sweep[sweep["eps"] == 0.01], 0.6)}
    t2 = report_tables.table2(parts)
    assert list(t2["defense"]) == ["no defense", "AT-PGD"] * 2
    assert t2["ours over all test images (%)"].tolist() == pytest.approx([40.0, 30.0, 40.0, 30.0])
    assert t2["report (%)"].tolist() == [47.95, 68.74, 57.99, 91.28]
    assert report_tables.caption("Table 1.", "CIFAR-10 (JPEG q75 copy)").startswith(
        "Table 1. Data: CIFAR-10 (JPEG q75 copy)")


def test_sanity_table_fails_every_check_on_a_model_at_chance():
    sweep = pd.DataFrame([{"attack": a, "norm": "inf", "eps": e, "accuracy": acc, "n": 50, "convention": "correct"}
                          for a, vals in [("FGSM", (0.5, 0.2)), ("PGD", (0.3, 0.0))]
                          for e, acc in zip((0.05, 0.5), vals)])
    kw = dict(chance=0.1, large_eps=0.5, at={}, n_test=500, eot=sweep.assign(model="x").iloc[:0],
              eot_clean={}, n_eot=100, noisy=[], latent=sweep.assign(encoder="e").iloc[:0], nn_clean={})
    ok = report_tables.sanity_table(sweep, base_clean=(0.7, 500), **kw)
    assert ok["passed"].all() and ok["check"].iloc[0] == "model better than chance (trained)"
    dead = report_tables.sanity_table(sweep, base_clean=(0.11, 500), **kw)
    assert not dead["passed"].any()
