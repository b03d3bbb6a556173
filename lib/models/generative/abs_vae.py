"""The class-conditional VAEs of ABS (Schott et al. 2019, section 3), one per class, for
32 x 32 x 3 images, all K of them stored as one grouped network.

ABS models p(x | y) by one VAE per class y, trained only on that class's images with the
loss ``||x - G_y(z)||^2 + beta * KL(q(z | x) || N(0, I))`` (beta = 1, Adam lr 3e-3,
batch 128 in bethgelab/AnalysisBySynthesis). The original's encoder and decoder are for
28 x 28 x 1 MNIST (latent size 8, four conv layers each, kernels 5-4-3-5 / 4-5-5-4). For
32 x 32 x 3 we keep four conv layers each way and ELU activations but use the
stride-2, kernel-4 layout that halves / doubles the side exactly (32 -> 16 -> 8 -> 4 -> 1),
``width`` channels in the first layer doubling per layer, three output channels with a
sigmoid, and a latent size ``latent`` (a parameter: 8 on MNIST; CIFAR-10 has far more
variation per class, so the profiles use more). There is no batch norm: the per-class
decoders must give the same image whether a latent is decoded alone or in a batch, which
is what the batched inference test checks.

Every layer is a grouped convolution with ``groups = K``: channel block ``c`` belongs to
class c's VAE and never sees another block. So one forward pass decodes a latent for every
class at once, ``decode(z)`` with z of shape (N, K, latent) -> (N, K, 3, 32, 32), and
``class_decoder(c)`` extracts class c's decoder as an ordinary network (the per-class
reference of the tests and the benchmark). Training all K at once on a batch that holds
``batch`` images of every class is K independent trainings: the summed loss's gradient
with respect to block c depends only on class c's images, and Adam is per parameter.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from lib import cache, precision, runtime
from lib.data import ImageData
from lib.models.registry import register
from lib.progress import progress


def _blocks(width: int) -> list[int]:
    return [width, 2 * width, 4 * width]


@register("abs_vaes")
class ClassVAEs(nn.Module):
    """K class-conditional VAEs as one grouped network. Images in [0, 1], N x 3 x 32 x 32."""

    def __init__(self, num_classes: int = 10, latent: int = 16, width: int = 16, channels: int = 3):
        super().__init__()
        if min(num_classes, latent, width, channels) < 1:
            raise ValueError("num_classes, latent, width and channels must be >= 1")
        k, (w1, w2, w3) = num_classes, _blocks(width)
        self.num_classes, self.latent, self.width, self.channels = k, latent, width, channels
        act = nn.ELU
        self.encoder = nn.Sequential(
            nn.Conv2d(k * channels, k * w1, 4, 2, 1, groups=k), act(),      # 32 -> 16
            nn.Conv2d(k * w1, k * w2, 4, 2, 1, groups=k), act(),            # 16 -> 8
            nn.Conv2d(k * w2, k * w3, 4, 2, 1, groups=k), act(),            # 8 -> 4
            nn.Conv2d(k * w3, k * 2 * latent, 4, groups=k))                 # 4 -> 1: mean, log-variance
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(k * latent, k * w3, 4, groups=k), act(),     # 1 -> 4
            nn.ConvTranspose2d(k * w3, k * w2, 4, 2, 1, groups=k), act(),   # 4 -> 8
            nn.ConvTranspose2d(k * w2, k * w1, 4, 2, 1, groups=k), act(),   # 8 -> 16
            nn.ConvTranspose2d(k * w1, k * channels, 4, 2, 1, groups=k))    # 16 -> 32, then a sigmoid

    @property
    def dim(self) -> int:
        """D = 3 x 32 x 32, the number of pixel values the ABS bound is divided by."""
        return self.channels * 32 * 32

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, K, 3, 32, 32), image n of block c for class c's encoder -> mean, log-variance,
        each (N, K, latent)."""
        n = x.shape[0]
        h = self.encoder(x.reshape(n, self.num_classes * self.channels, 32, 32))
        h = h.view(n, self.num_classes, 2, self.latent)
        return h[:, :, 0], h[:, :, 1]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, K, latent) -> images (N, K, 3, 32, 32) in [0, 1], G_c(z[:, c]) in block c."""
        n = z.shape[0]
        out = self.decoder(z.reshape(n, self.num_classes * self.latent, 1, 1))
        return torch.sigmoid(out).view(n, self.num_classes, self.channels, 32, 32)

    def class_decoder(self, c: int) -> nn.Sequential:
        """Class c's decoder as an ordinary (ungrouped) network, (M, latent, 1, 1) -> (M, 3, 32, 32),
        sigmoid included, sharing no storage with this module."""
        layers: list[nn.Module] = []
        for layer in self.decoder:
            if isinstance(layer, nn.ConvTranspose2d):
                cin, cout = layer.in_channels // self.num_classes, layer.out_channels // self.num_classes
                plain = nn.ConvTranspose2d(cin, cout, layer.kernel_size, layer.stride, layer.padding)
                # A grouped transposed conv stores (in, out / groups, k, k): block c is rows c*cin...
                plain.weight.data = layer.weight.data[c * cin:(c + 1) * cin].clone()
                plain.bias.data = layer.bias.data[c * cout:(c + 1) * cout].clone()
                layers.append(plain)
            else:
                layers.append(type(layer)())
        return nn.Sequential(*layers, nn.Sigmoid()).to(self.decoder[0].weight.device).eval()

    def loss(self, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Negative ELBO summed over the K VAEs, mean over the batch: x (N, K, 3, 32, 32), block c
        holding images of class c. Per VAE: squared error summed over pixels + beta x KL."""
        mu, logvar = self.encode(x)
        noise = torch.randn(mu.shape, generator=generator, device="cpu").to(mu.device)
        z = mu + (0.5 * logvar).exp() * noise
        rec = ((self.decode(z) - x) ** 2).flatten(2).sum(2)                  # (N, K)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(2)              # (N, K)
        return (rec + beta * kl).sum(1).mean()


@dataclass
class VAETrainConfig:
    """Settings of the class-VAE training (all enter the checkpoint key). The original: Adam
    lr 3e-3, batch 128, beta 1."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    beta: float = 1.0
    seed: int = 0
    decay: bool = False     # cosine decay of the learning rate to 0 over the run (the original: constant)


def _per_class(train: ImageData, k: int) -> list[torch.Tensor]:
    groups = [train.x[train.y == c] for c in range(k)]
    if min(len(g) for g in groups) == 0:
        raise ValueError("every class needs training images for its VAE")
    return groups


@cache.isolated_rng()  # trains from its own seed and hands the caller's random state back untouched
def fit_class_vaes(model: ClassVAEs, train: ImageData, cfg: VAETrainConfig, *, name: str, device=None,
                   use_cache: bool = True, progress_bar: bool = True) -> tuple[ClassVAEs, dict]:
    """Train the K VAEs, each on its own class's images only, or load them from the cache
    (``<checkpoint dir>/<name>-<hash>.pt``, keyed by architecture, data and settings). An
    epoch is ``ceil(n_c / batch)`` steps, n_c the smallest class's size; each step takes
    ``batch`` images of every class (reshuffled per epoch), in the precision policy of
    :mod:`lib.precision` (which enters the key). Returns the model in eval mode
    and ``{"history": [...], "key", "from_cache"}``."""
    device = runtime.get_device(device)
    policy = precision.current()
    model = policy.prepare(model.to(device))
    key = cache.config_hash(cache.architecture(model), train, asdict(cfg), policy.cache_key())
    path = runtime.checkpoint_dir() / f"{name}-{key}.pt"
    if use_cache and (state := cache.load_checkpoint(path, map_location=device)) is not None:
        model.load_state_dict(state["model"])
        return model.eval(), {"history": state["history"], "key": key, "from_cache": True}
    runtime.seed_everything(cfg.seed)
    groups = _per_class(train, model.num_classes)
    n_c = min(len(g) for g in groups)
    steps = max(1, math.ceil(n_c / cfg.batch_size))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps) if cfg.decay else None
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    model.train()
    for epoch in progress(range(cfg.epochs), desc=f"train {name}", unit="epoch", disable=not progress_bar):
        t0, total = time.perf_counter(), 0.0
        perms = [torch.randperm(len(g), generator=gen) for g in groups]
        for s in range(steps):
            idx = [p[(torch.arange(cfg.batch_size) + s * cfg.batch_size) % len(p)] for p in perms]
            x = torch.stack([g[i] for g, i in zip(groups, idx)], 1).to(device)   # (B, K, 3, 32, 32)
            with policy.autocast():
                loss = model.loss(x, cfg.beta, gen)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"class-VAE training diverged at epoch {epoch + 1}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.item()
        history.append({"epoch": epoch + 1, "loss": total / steps / model.num_classes,
                        "seconds": time.perf_counter() - t0})
    model.eval()
    if use_cache:
        cache.atomic_save({"model": model.state_dict(), "history": history}, path)
    return model, {"history": history, "key": key, "from_cache": False}
