"""Report 003 (generative models, FGSM / CW, a Lipschitz-constrained classifier): the bound
really bounds, the certificate holds against CW, the logit-scaling control, the generative
models train, and the profile refuses bad input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib import attacks, data, profiles
from lib.defenses import lipschitz as lip
from lib.evaluate import predict
from lib.models.classifiers.report003 import Report003CNN
from lib.models.generative import gan, vae
from lib.params import ConfigError
from lib.reports.generative_lipschitz import experiment as exp
from lib.reports.generative_lipschitz import verdicts
from lib.stats import FAILS, HOLDS, UNJUDGED

pytestmark = pytest.mark.usefixtures("one_thread")
REPORT = "generative_lipschitz"


def _dense(conv, shape):
    """The matrix of x -> conv(x) on inputs of ``shape`` (C x H x W), rows = input basis vectors."""
    eye = torch.eye(math.prod(shape)).view(-1, *shape)
    return conv(eye).flatten(1).double()


# --------------------------------------------------------------------------- operator norms
@pytest.mark.parametrize("k,padding,stride", [(2, 0, 1), (3, 1, 1), (3, 1, 2)])
def test_conv_operator_norm_matches_the_dense_matrix(k, padding, stride):
    torch.manual_seed(0)
    w, shape = torch.randn(3, 2, k, k), (2, 6, 6)
    exact = float(torch.linalg.matrix_norm(_dense(lambda x: F.conv2d(x, w, stride=stride, padding=padding), shape),
                                           ord=2))
    power = lip.conv_operator_norm(w, shape, stride=stride, padding=padding, iters=500)
    upper = lip.conv_norm_upper_bound(w, shape[1:], padding)
    assert power == pytest.approx(exact, rel=1e-4)
    assert upper >= exact  # the certificate's bound is never below the true norm
    reshaped = float(torch.linalg.matrix_norm(w.flatten(1), ord=2))
    assert abs(reshaped - exact) > 1e-3  # the reshaped kernel's norm is a different number


def test_spectral_conv_power_iteration_converges_to_the_operator_norm():
    torch.manual_seed(0)
    conv = lip.SpectralConv2d(2, 4, 2, (6, 6)).train()
    x = torch.randn(1, 2, 6, 6)
    for _ in range(200):
        conv(x)
    exact = float(torch.linalg.matrix_norm(_dense(lambda t: F.conv2d(t, conv.weight.detach()), (2, 6, 6)), ord=2))
    assert float(conv._sigma().detach()) == pytest.approx(exact, rel=1e-3)
    eff = float(torch.linalg.matrix_norm(_dense(lambda t: F.conv2d(t, conv.effective_weight().detach()),
                                                (2, 6, 6)), ord=2))
    assert eff <= 1 + 1e-3


def test_batch_norm_and_dropout_bounds():
    bn = nn.BatchNorm2d(3).eval()
    bn.running_var.copy_(torch.tensor([0.25, 1.0, 4.0]))
    bn.weight.data.copy_(torch.tensor([1.0, -3.0, 1.0]))
    bound, _ = lip.layer_bound(bn, (3, 4, 4))
    assert bound == pytest.approx(3.0 / math.sqrt(1 + bn.eps), rel=1e-3)
    assert lip.layer_bound(nn.Dropout(0.5), (10,))[0] == 1.0
    model = lip.lipschitz_cnn("synthetic28", logit_scale=5.0, dropout=(0.5, 0.5)).train()
    with pytest.raises(ValueError, match="eval"):
        lip.network_bound(model, (1, 28, 28))


@pytest.mark.parametrize("lipschitz", [False, True])
def test_network_bound_bounds_random_pairs(lipschitz):
    torch.manual_seed(0)
    model = (lip.lipschitz_cnn("synthetic28", logit_scale=3.0, filters=(4, 8), hidden=16) if lipschitz
             else Report003CNN("synthetic28", filters=(4, 8), hidden=16))
    model.train()
    for _ in range(5):   # a few power-iteration steps, as training takes
        model(torch.rand(2, 1, 28, 28))
    model.eval()
    bound, layers = lip.network_bound(model, (1, 28, 28))
    assert len(layers) == len(model.layers()) + 1
    x = torch.rand(64, 1, 28, 28)
    # Near pairs and far pairs; an adversarially chosen direction too (the gradient of a logit gap).
    x2 = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    x3 = torch.rand_like(x)
    xg = x.clone().requires_grad_(True)
    z = model(xg)
    (z[:, 0] - z[:, 1]).sum().backward()
    x4 = (x + 1e-3 * xg.grad / xg.grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1).clamp_min(1e-12)).clamp(0, 1)
    with torch.no_grad():
        for other in (x2, x3, x4):
            num = (model(x) - model(other)).norm(dim=1)
            den = (x - other).flatten(1).norm(dim=1)
            keep = den > 0
            assert (num[keep] <= bound * den[keep] * (1 + 1e-4)).all()


# --------------------------------------------------------------------------- the certificate
@pytest.fixture(scope="module")
def lip_model():
    train = data.load("synthetic28", "train", n=400, seed=0)
    torch.manual_seed(0)
    model = lip.lipschitz_cnn("synthetic28", logit_scale=10.0, filters=(8, 16), hidden=32)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    model.train()
    for _ in range(3):
        for i in range(0, 400, 50):
            opt.zero_grad()
            F.cross_entropy(model(train.x[i:i + 50]), train.y[i:i + 50]).backward()
            opt.step()
    return model.eval()


def test_every_cw_example_lies_outside_the_certified_radius(lip_model):
    test = data.load("synthetic28", "test", n=40, seed=0)
    x, y = test.x, test.y
    bound, _ = lip.network_bound(lip_model, (1, 28, 28))
    radius = lip.certified_radius(lip_model, x, y, bound)
    assert (radius > 0).any(), "the model certifies something"
    x_adv = attacks.cw_l2(lip_model, x, y, c=1.0, steps=60, lr=0.05, binary_search_steps=3)
    fooled = (predict(lip_model, x) == y) & (predict(lip_model, x_adv) != y)
    assert fooled.any(), "CW finds some examples"
    assert lip.outside_radius(x, x_adv, radius, fooled).all()
    table = exp.certificate_violations(x, radius, {"CW": (x_adv, fooled)})
    assert int(table["inside_radius"].iloc[0]) == 0
    assert table["min distance / radius"].iloc[0] >= 1


def test_certified_radius_is_zero_for_misclassified_images(lip_model):
    test = data.load("synthetic28", "test", n=40, seed=1)
    wrong_label = (test.y + 1) % 10
    radius = lip.certified_radius(lip_model, test.x, wrong_label, 1.0)
    right = predict(lip_model, test.x) == wrong_label
    assert (radius[~right] == 0).all()


def test_logit_scaling_changes_fixed_c_cw_but_not_decisions(mlp):
    test = data.load("synthetic28", "test", n=30, seed=0)
    x, y = test.x, test.y
    scaled = lip.ScaledLogits(mlp, 100.0)
    assert torch.equal(predict(mlp, x), predict(scaled, x))
    ok = predict(mlp, x) == y

    def dist(model, c, bs):
        x_adv = attacks.cw_l2(model, x, y, c=c, steps=100, lr=0.05, binary_search_steps=bs)
        fooled = ok & (predict(model, x_adv) != y)
        return fooled, (x_adv - x).flatten(1).norm(dim=1)

    f_plain, d_plain = dist(mlp, 0.5, 1)
    f_scaled, d_scaled = dist(scaled, 0.5, 1)
    # Fixed c: the same decisions, yet CW fails (or needs far more) on the scaled logits.
    assert f_scaled.sum() < f_plain.sum()
    # The binary search finds examples on the scaled model as on the plain one, at similar distortion.
    bf_plain, bd_plain = dist(mlp, 0.5, 6)
    bf_scaled, bd_scaled = dist(scaled, 0.5, 6)
    assert bf_scaled.sum() >= 0.8 * bf_plain.sum() > 0
    both = bf_plain & bf_scaled
    assert float(bd_scaled[both].median()) == pytest.approx(float(bd_plain[both].median()), rel=0.35)


# --------------------------------------------------------------------------- generative models
def test_vae_loss_finite_and_training_lowers_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    train = data.load("synthetic28", "train", n=200, seed=0)
    torch.manual_seed(0)
    model = vae.VAE("synthetic28", z_dim=4, hidden=32)
    rec, kl = vae.vae_terms(model, train.x[:16])
    assert rec.shape == kl.shape == (16,) and torch.isfinite(rec + kl).all() and (kl >= 0).all()
    result = vae.train_vae(model, train, epochs=3, batch_size=50, lr=3e-3, progress_bar=False)
    h = result.history
    assert list(h.columns[:4]) == ["epoch", "loss", "reconstruction", "kl"]
    assert h["loss"].iloc[-1] < h["loss"].iloc[0]
    again = vae.train_vae(vae.VAE("synthetic28", z_dim=4, hidden=32), train, epochs=3, batch_size=50, lr=3e-3,
                          progress_bar=False)
    assert again.from_cache
    recon = vae.reconstruct(again.model, train.x[:8])
    assert recon.shape == (8, 1, 28, 28) and recon.min() >= 0 and recon.max() <= 1


@pytest.mark.parametrize("kind", ["fc", "dc28", "dc32"])
def test_gan_training_step_and_fixed_noise_samples(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    name = "synthetic32" if kind == "dc32" else "synthetic28"
    train = data.load(name, "train", n=96, seed=0)
    torch.manual_seed(0)
    if kind == "fc":
        g, d = gan.FCGenerator(name, z_dim=8, hidden=(16,)), gan.FCDiscriminator(name, hidden=(16,))
    else:
        depth = 3 if kind == "dc32" else 2
        g, d = gan.DCGenerator(name, z_dim=8, width=4, depth=depth), gan.DCDiscriminator(name, width=4, depth=depth)
    before = [p.detach().clone() for p in g.parameters()]
    r = gan.train_gan(g, d, train, epochs=2, k=4, batch_size=16, checkpoints=[1], n_fixed=9, progress_bar=False)
    h = r.history
    assert torch.isfinite(torch.tensor(h[["d_loss", "g_loss"]].values)).all()
    assert list(h["d_steps"]) == [6, 6] and h["g_steps"].sum() == 3   # k = 4: 12 D steps, 3 G steps
    assert sorted(r.samples) == [1, 2]
    s = r.samples[2]
    assert s.shape == (9, *train.x.shape[1:]) and s.min() >= 0 and s.max() <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))
    with pytest.raises(ValueError, match="checkpoints"):
        gan.train_gan(g, d, train, epochs=2, checkpoints=[5], progress_bar=False)


# --------------------------------------------------------------------------- profile and verdicts
@pytest.mark.parametrize("profile", profiles.PROFILE_NAMES)
def test_profiles_validate(profile):
    cfg = profiles.resolve(REPORT, profile)
    assert cfg.gan_k == 4 and cfg.z_dim == 10


@pytest.mark.parametrize("override,message", [
    ({"summary_eps": [0.3]}, "not in the l2_eps grid"),
    ({"cifar_data": "mnist"}, "this role needs"),
    ({"n_attack": 5000}, "must not exceed n_test"),
    ({"gan_k": 0}, "gan_k"),
    ({"fashion_gan_epochs": [3, 2, 1]}, "must increase"),
    ({"control_temperature": 0.5}, "control_temperature"),
    ({"n_val": 50000}, "n_val"),
    ({"cw_stepz": 3}, "unknown parameter"),
])
def test_profile_rejects_bad_input(override, message):
    with pytest.raises(ConfigError, match=message):
        profiles.resolve(REPORT, "smoke", override)


def test_verdicts_need_their_interval():
    assert verdicts.accuracy_claim("F", 92.36, 930, 1000, "quick")["verdict"] == HOLDS
    assert verdicts.accuracy_claim("F", 92.36, 800, 1000, "quick")["verdict"] == UNJUDGED
    assert verdicts.accuracy_claim("F", 92.36, 800, 1000, "paper")["verdict"] == FAILS
    assert verdicts.breaks_claim("F", "CW", 95, 100)["verdict"] == HOLDS
    assert verdicts.breaks_claim("F", "CW", 5, 10)["verdict"] == UNJUDGED
    inf = float("inf")
    big, small = torch.tensor([2.0] * 30 + [inf] * 5), torch.tensor([1.0] * 35)
    assert verdicts.more_noise_claim("F", big, small)["verdict"] == HOLDS
    assert verdicts.more_noise_claim("F", small, big)["verdict"] == FAILS
    assert verdicts.certificate_claim("F", 0, 10)["verdict"] == HOLDS
    assert verdicts.certificate_claim("F", 1, 10)["verdict"] == FAILS
