"""Report 003's GANs (section III-B, eqs. (3)-(6); Figures 8-13) and their training loop.

The report names the models but not their layers; ours, stated in the notebook:

- :class:`FCGenerator` / :class:`FCDiscriminator`: the "fully connected GAN" (Figures 9-12),
  two hidden layers in the generator and one in the discriminator (with k = 4 the
  discriminator takes four times the steps; a wider one won outright in our trials),
  LeakyReLU(0.2);
- :class:`DCGenerator` / :class:`DCDiscriminator`: DCGAN (Radford et al. 2016): transposed
  4 x 4 convolutions of stride 2 with batch norm and ReLU in the generator, strided 4 x 4
  convolutions with LeakyReLU(0.2) (batch norm from the second) in the discriminator.
  ``depth`` 2 on 28 x 28 (7 -> 14 -> 28; Figure 8) and 3 on 32 x 32, the "deeper" DCGAN of
  Figure 13 (4 -> 8 -> 16 -> 32).

Generators map noise z ~ N(0, I) (N x ``z_dim``) to images N x C x H x W in [0, 1] (tanh,
shifted); discriminators take such images and return one logit per image (N,).

:func:`train_gan` is eq. (3) with the non-saturating generator loss (Goodfellow et al.
2014, section 3) and the report's k = 4 (section VII): every mini-batch is a discriminator
step, every k-th also a generator step. It records both players' losses per epoch and the
samples of one fixed noise batch at chosen epochs, so figures show training progress.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lib import cache, precision, runtime
from lib import data as data_mod
from lib.models.registry import register
from lib.progress import progress


def _to_image(t: torch.Tensor, shape) -> torch.Tensor:
    return ((torch.tanh(t) + 1) / 2).view(-1, *shape)


@register("report003_fc_generator")
class FCGenerator(nn.Module):
    """z (N x z_dim) -> images (N x C x H x W in [0, 1]) through two hidden layers."""

    def __init__(self, dataset: str = "mnist", z_dim: int = 64, hidden: Sequence[int] = (256, 512)):
        super().__init__()
        self.shape, self.z_dim = tuple(data_mod.info(dataset).shape), int(z_dim)
        dims = [self.z_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], math.prod(self.shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _to_image(self.net(z), self.shape)


@register("report003_fc_discriminator")
class FCDiscriminator(nn.Module):
    """Images (N x C x H x W in [0, 1]) -> logit (N,) that the image is real."""

    def __init__(self, dataset: str = "mnist", hidden: Sequence[int] = (256,)):
        super().__init__()
        dims = [math.prod(data_mod.info(dataset).shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x - 1).squeeze(1)


def _start_size(shape, depth: int) -> int:
    size = shape[1]
    if size % (2 ** depth):
        raise ValueError(f"{size} x {size} images do not halve {depth} times")
    return size // 2 ** depth


@register("report003_dc_generator")
class DCGenerator(nn.Module):
    """DCGAN generator: z -> dense -> ``depth`` transposed convolutions (x2 each) -> image."""

    def __init__(self, dataset: str = "mnist", z_dim: int = 64, width: int = 32, depth: int = 2):
        super().__init__()
        self.shape, self.z_dim = tuple(data_mod.info(dataset).shape), int(z_dim)
        s0 = _start_size(self.shape, depth)
        ch = [width * 2 ** i for i in reversed(range(depth))]   # e.g. [4w, 2w, w] for depth 3
        self.project = nn.Sequential(nn.Linear(self.z_dim, ch[0] * s0 * s0), nn.Unflatten(1, (ch[0], s0, s0)),
                                     nn.BatchNorm2d(ch[0]), nn.ReLU())
        layers: list[nn.Module] = []
        for a, b in zip(ch, ch[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(ch[-1], self.shape[0], 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _to_image(self.net(self.project(z)), self.shape)


@register("report003_dc_discriminator")
class DCDiscriminator(nn.Module):
    """DCGAN discriminator: ``depth`` strided convolutions (/2 each) -> dense logit (N,)."""

    def __init__(self, dataset: str = "mnist", width: int = 32, depth: int = 2):
        super().__init__()
        shape = tuple(data_mod.info(dataset).shape)
        s = _start_size(shape, depth)
        layers: list[nn.Module] = []
        cin = shape[0]
        for i in range(depth):
            cout = width * 2 ** i
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(cout)] if i else []
            layers += [nn.LeakyReLU(0.2)]
            cin = cout
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * s * s, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x - 1).squeeze(1)


# --------------------------------------------------------------------------- training
@dataclass
class GANResult:
    generator: nn.Module
    discriminator: nn.Module
    history: pd.DataFrame               # epoch, d_loss, g_loss, d_real, d_fake, d_steps, g_steps, seconds
    samples: dict[int, torch.Tensor]    # epoch -> fixed-noise samples, n_fixed x C x H x W in [0, 1] (8-bit steps)
    from_cache: bool


def discriminator_loss(generator: nn.Module, discriminator: nn.Module, x: torch.Tensor, z: torch.Tensor):
    """(discriminator loss, mean D(x), mean D(G(z))) on one batch: eq. (3) for D as two binary
    cross-entropies (real -> 1, fake -> 0); the generator is not differentiated. Scalars."""
    with torch.no_grad():
        fake = generator(z)
    real_logit, fake_logit = discriminator(x), discriminator(fake)
    d_loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
              + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
    return d_loss, torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean()


def generator_loss(generator: nn.Module, discriminator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(z))`` (Goodfellow et al. 2014), a scalar."""
    logit = discriminator(generator(z))
    return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


@cache.isolated_rng()  # trains from its own seed and hands the caller's random state back untouched
def train_gan(generator: nn.Module, discriminator: nn.Module, train: data_mod.ImageData, *, epochs: int,
              k: int = 4, batch_size: int = 64, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
              checkpoints: Sequence[int] = (), n_fixed: int = 64, seed: int = 0, name: str = "gan",
              device=None, use_cache: bool = True, progress_bar: bool = True) -> GANResult:
    """Train a GAN with ``k`` discriminator steps per generator step (report: k = 4).

    Every mini-batch of ``train`` (images in [0, 1]; labels unused) is one discriminator
    step; after every ``k``-th, the generator takes one step on fresh noise. Adam for both
    (``lr``, ``betas``: DCGAN's 2e-4 and (0.5, 0.999)). At each epoch of ``checkpoints``
    (and the last) the generator, in eval mode, draws from one fixed noise batch of
    ``n_fixed`` (seeded), so the sample grids of different epochs are comparable; samples are
    kept on the 8-bit grid of the real images (:func:`draw`), which keeps a checkpoint of many
    samples small. Cached by both architectures, the data and every setting.
    """
    if epochs < 1 or k < 1 or batch_size < 1 or not lr > 0 or n_fixed < 1:
        raise ValueError(f"need epochs, k, batch_size, n_fixed >= 1 and lr > 0; got {epochs}, {k}, "
                         f"{batch_size}, {n_fixed}, {lr}")
    bad = [c for c in checkpoints if not 1 <= int(c) <= epochs]
    if bad:
        raise ValueError(f"checkpoints {bad} lie outside epochs 1..{epochs}")
    device = runtime.get_device(device)
    policy = precision.current()
    generator, discriminator = policy.prepare(generator.to(device)), policy.prepare(discriminator.to(device))
    marks = sorted({int(c) for c in checkpoints} | {epochs})
    key = cache.config_hash(cache.architecture(generator), cache.architecture(discriminator), train,
                            dict(epochs=epochs, k=k, batch_size=batch_size, lr=lr, betas=list(betas),
                                 marks=marks, n_fixed=n_fixed, seed=seed), policy.cache_key())
    path = runtime.checkpoint_dir() / f"{name}-{key}.pt"
    if use_cache and (state := cache.load_checkpoint(path, map_location=device)) is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        samples = {int(e): s.float() / 255 for e, s in zip(state["sample_epochs"], state["samples"])}
        return GANResult(generator.eval(), discriminator.eval(), pd.DataFrame(state["history"]), samples, True)

    gen = runtime.seed_everything(seed)
    fixed = torch.randn(n_fixed, generator.z_dim, generator=gen).to(device)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=tuple(betas))
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=tuple(betas))
    history, samples, step = [], {}, 0
    for epoch in progress(range(1, epochs + 1), desc=f"train {name}", unit="epoch", disable=not progress_bar):
        t0 = time.perf_counter()
        generator.train()
        discriminator.train()
        order = torch.Generator().manual_seed(seed * 100_003 + epoch)
        d_sum = g_sum = real_sum = fake_sum = 0.0
        d_steps = g_steps = 0
        for x, _ in data_mod.batches(train, batch_size, shuffle=True, generator=order, device=device):
            z = torch.randn(len(x), generator.z_dim, device=device)
            with policy.autocast():
                d_loss, d_real, d_fake = discriminator_loss(generator, discriminator, policy.images(x), z)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d_sum, real_sum, fake_sum, d_steps = d_sum + d_loss.item(), real_sum + d_real.item(), \
                fake_sum + d_fake.item(), d_steps + 1
            step += 1
            if step % k == 0:
                z = torch.randn(batch_size, generator.z_dim, device=device)
                with policy.autocast():
                    g_loss = generator_loss(generator, discriminator, z)
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                g_sum, g_steps = g_sum + g_loss.item(), g_steps + 1
            if not math.isfinite(d_sum + g_sum):
                raise RuntimeError(f"GAN {name} diverged at epoch {epoch} (lr={lr:g})")
        history.append({"epoch": epoch, "d_loss": d_sum / d_steps,
                        "g_loss": g_sum / g_steps if g_steps else float("nan"),
                        "d_real": real_sum / d_steps, "d_fake": fake_sum / d_steps,
                        "d_steps": d_steps, "g_steps": g_steps, "seconds": time.perf_counter() - t0})
        if epoch in marks:
            samples[epoch] = draw(generator, fixed)
    generator.eval()
    discriminator.eval()
    if use_cache:
        cache.atomic_save({"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                           "history": history, "sample_epochs": list(samples),
                           "samples": [(s * 255).round().to(torch.uint8) for s in samples.values()]}, path)
    return GANResult(generator, discriminator, pd.DataFrame(history), samples, False)


@torch.no_grad()
def draw(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The generator's images (eval mode) for noise ``z`` in batches, on the CPU, rounded to the
    8-bit grid of real images (N x C x H x W in [0, 1])."""
    generator.eval()
    x = data_mod.map_batches(lambda zb: generator(zb).float(), z, batch_size=500).cpu()
    return (x * 255).round() / 255
