"""Unit tests of report 002's lib code: the dropout CNN with noise layers, the contrastive
loss, the nearest-reference classifier and the notebook's profiles. Synthetic data only."""
from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lib import attacks, data, models, plots, profiles, runtime, train  # noqa: E402
from lib.defenses import contrastive  # noqa: E402
from lib.models import DropoutCNN, GaussianNoise  # noqa: E402
from lib.reports.attacks_adversarial_training import profile as report_profiles  # noqa: E402

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
    assert table["paper"]["eps"] == [0.001, 0.01, 0.05, 0.1, 0.3, 0.5]
    assert table["quick"]["eps"] == table["paper"]["eps"]


@pytest.mark.parametrize("override,match", [
    ({"at_steps": 0}, "at_steps"), ({"eot_eps": []}, "eot_eps"), ({"eps": [0.1, 2.0]}, "eps"),
    ({"n_val": 10**6}, "n_val"), ({"finetune": "yes"}, "finetune"), ({"noise_sigma": 0}, "sigma"),
])
def test_bad_parameters_fail_before_compute(override, match):
    with pytest.raises(profiles.ConfigError, match=match):
        profiles.resolve(REPORT, "smoke", override)
