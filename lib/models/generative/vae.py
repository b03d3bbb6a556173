"""Report 003's variational autoencoder (section III-A, eqs. (1)-(2); Figures 4-7).

The report states the ELBO and a ten-dimensional latent space, nothing else. Our choice,
stated in the notebook: a fully connected encoder and decoder with one hidden layer
(``hidden`` units, ReLU), a diagonal Gaussian posterior q(z | x) = N(mu, diag(sigma^2)),
prior N(0, I), and a Bernoulli likelihood per pixel on images in [0, 1] (the decoder
ends in a sigmoid; for CIFAR-10's colour images this is the usual "continuous Bernoulli
without its normaliser" reading, so the loss is not a true log-likelihood there). The
loss is the negative ELBO per image: summed binary cross-entropy plus KL(q || p), both
averaged over the batch, trained by SGVB (the reparameterisation trick, Kingma and
Welling 2014).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lib import cache, precision, runtime
from lib import data as data_mod
from lib.models.registry import register
from lib.progress import progress


@register("report003_vae")
class VAE(nn.Module):
    """Images N x C x H x W in [0, 1] -> (reconstruction N x C x H x W in [0, 1], mu N x z,
    logvar N x z). In eval mode the reconstruction decodes the mean (no sampling)."""

    def __init__(self, dataset: str = "fashion_mnist", z_dim: int = 10, hidden: int = 400):
        super().__init__()
        self.shape = tuple(data_mod.info(dataset).shape)
        d = math.prod(self.shape)
        self.z_dim = int(z_dim)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z_dim))
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, d))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)   # keeps exp(logvar) finite early in training

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar


def vae_terms(model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction term, KL term), each per image (N,), in nats: the two parts of the
    negative ELBO (report eq. (2)). Always samples z (training semantics)."""
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    rec = F.binary_cross_entropy_with_logits(model.decode_logits(z), x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return rec, kl


@dataclass
class VAEResult:
    model: VAE
    history: pd.DataFrame   # epoch, loss, reconstruction, kl, seconds
    from_cache: bool


@cache.isolated_rng()  # trains from its own seed and hands the caller's random state back untouched
def train_vae(model: VAE, train: data_mod.ImageData, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
              seed: int = 0, name: str = "vae", device=None, use_cache: bool = True,
              progress_bar: bool = True) -> VAEResult:
    """Adam on the negative ELBO, ``epochs`` passes over ``train``; per-epoch mean loss and
    its two terms (report Figure 5). Cached under the checkpoint folder by architecture,
    data and settings (as :func:`lib.train.fit`)."""
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    device = runtime.get_device(device)
    policy = precision.current()
    model = policy.prepare(model.to(device))
    key = cache.config_hash(cache.architecture(model), train, dict(epochs=epochs, batch_size=batch_size,
                                                                    lr=lr, seed=seed), policy.cache_key())
    path = runtime.checkpoint_dir() / f"{name}-{key}.pt"
    if use_cache and (state := cache.load_checkpoint(path, map_location=device)) is not None:
        model.load_state_dict(state["model"])
        return VAEResult(model.eval(), pd.DataFrame(state["history"]), True)
    runtime.seed_everything(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in progress(range(epochs), desc=f"train {name}", unit="epoch", disable=not progress_bar):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        model.train()
        sums, seen = [0.0, 0.0], 0
        for x, _ in data_mod.batches(train, batch_size, shuffle=True, generator=gen, device=device):
            with policy.autocast():
                rec, kl = vae_terms(model, policy.images(x))
                rec, kl = rec.float(), kl.float()
            loss = (rec + kl).mean()
            if not torch.isfinite(loss):
                raise RuntimeError(f"VAE {name} diverged at epoch {epoch + 1} (lr={lr:g}); lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums[0] += rec.sum().item()
            sums[1] += kl.sum().item()
            seen += len(x)
        history.append({"epoch": epoch + 1, "loss": (sums[0] + sums[1]) / seen, "reconstruction": sums[0] / seen,
                        "kl": sums[1] / seen, "seconds": time.perf_counter() - t0})
    model.eval()
    if use_cache:
        cache.atomic_save({"model": model.state_dict(), "history": history}, path)
    return VAEResult(model, pd.DataFrame(history), False)


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Reconstructions from the posterior mean, N x C x H x W in [0, 1] (Figures 4 and 6)."""
    model.eval()
    return data_mod.map_batches(lambda xb: model(xb)[0], x, batch_size=500)


@torch.no_grad()
def latent_means(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Posterior means N x z_dim (Figure 7's ten-dimensional encoding)."""
    model.eval()
    return data_mod.map_batches(lambda xb: model.encode(xb)[0], x, batch_size=500)


@torch.no_grad()
def elbo(model: VAE, x: torch.Tensor, seed: int = 0) -> float:
    """Mean negative ELBO per image (nats) on held-out images, one posterior draw each."""
    torch.manual_seed(seed)
    rec, kl = data_mod.map_batches(lambda xb: vae_terms(model, xb), x, batch_size=500)
    return float((rec + kl).mean())


@torch.no_grad()
def sample(model: VAE, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images from the prior, N x C x H x W in [0, 1]: z ~ N(0, I) from ``seed`` (the same
    noise on every call, so two VAEs, or one VAE over epochs, are scored on the same draws),
    decoded to the likelihood's means (the Bernoulli means, as VAE samples are usually shown)."""
    if n < 1:
        raise ValueError(f"need n >= 1 samples, got {n}")
    model.eval()
    device = next(model.parameters()).device
    z = torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    return data_mod.map_batches(lambda zb: model.decode(zb).float(), z, batch_size=500).cpu()
