"""Report 003's section III: the VAE (Figures 4-7) and the GANs (Figures 8-13), one function per
notebook step. Models are cached by their trainers (:func:`lib.models.generative.vae.train_vae`,
:func:`lib.models.generative.gan.train_gan`: architecture, data and every setting), each seeded
before its weights are drawn, so a re-run loads them. Every GAN keeps ``n_samples`` images of one
fixed noise batch at its saved epochs (:func:`sample_epochs`), which the sample-quality score of
:mod:`~lib.reports.generative_lipschitz.sample_quality` reads."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lib import data as data_mod
from lib import runtime
from lib.models.generative import gan, vae
from lib.reports.generative_lipschitz.experiment import REPORT, ROLES, Context


def gen_data(cfg, dataset: str) -> data_mod.ImageData:
    """Training images of a generative model (``n_gen_train``, class-stratified; labels unused)."""
    return data_mod.load(dataset, "train", n=cfg["n_gen_train"], seed=cfg["seed"])


def train_vae(cfg, dataset: str, train: data_mod.ImageData, device=None) -> vae.VAEResult:
    """The VAE of section III-A (Figures 4-7) on ``train``."""
    runtime.seed_everything(cfg["seed"])
    model = vae.VAE(dataset, z_dim=cfg["z_dim"], hidden=cfg["vae_hidden"])
    return vae.train_vae(model, train, epochs=cfg["vae_epochs"], lr=cfg["vae_lr"], seed=cfg["seed"],
                         name=f"{REPORT}-vae-{dataset}", device=device)


def sample_epochs(cfg, epochs: int, shown: Sequence[int] = ()) -> list[int]:
    """The epochs at which a GAN keeps its fixed-noise samples: ``gan_checkpoints`` evenly spaced
    from the first to the last (every epoch when there are fewer), and the ``shown`` ones."""
    n = min(cfg["gan_checkpoints"], epochs)
    spaced = {1 + round(i * (epochs - 1) / (n - 1)) for i in range(n)} if n > 1 else {epochs}
    return sorted(spaced | {int(e) for e in shown} | {epochs})


def train_fc_gan(cfg, dataset: str, train: data_mod.ImageData, epochs: int, shown: Sequence[int] = (),
                 device=None, k: int | None = None) -> gan.GANResult:
    """The fully connected GAN (Figures 9-12), k = ``gan_k`` (or ``k``); fixed-noise samples at
    :func:`sample_epochs`."""
    runtime.seed_everything(cfg["seed"])
    g, d = gan.FCGenerator(dataset, z_dim=cfg["gan_z_dim"]), gan.FCDiscriminator(dataset)
    k = cfg["gan_k"] if k is None else k
    return gan.train_gan(g, d, train, epochs=epochs, k=k, batch_size=cfg["gan_batch_size"], lr=cfg["gan_lr"],
                         checkpoints=sample_epochs(cfg, epochs, shown), n_fixed=cfg["n_samples"], seed=cfg["seed"],
                         name=f"{REPORT}-fcgan-{dataset}", device=device)


def train_dcgan(cfg, dataset: str, train: data_mod.ImageData, epochs: int, depth: int,
                device=None) -> gan.GANResult:
    """DCGAN on MNIST (``depth`` 2, Figure 8) or the deeper one on CIFAR (``depth`` 3, Figure 13);
    fixed-noise samples at :func:`sample_epochs`."""
    runtime.seed_everything(cfg["seed"])
    g = gan.DCGenerator(dataset, z_dim=cfg["gan_z_dim"], width=cfg["dcgan_width"], depth=depth)
    d = gan.DCDiscriminator(dataset, width=cfg["dcgan_width"], depth=depth)
    return gan.train_gan(g, d, train, epochs=epochs, k=cfg["gan_k"], batch_size=cfg["gan_batch_size"],
                         lr=cfg["gan_lr"], checkpoints=sample_epochs(cfg, epochs), n_fixed=cfg["n_samples"],
                         seed=cfg["seed"], name=f"{REPORT}-dcgan{depth}-{dataset}", device=device)


# --------------------------------------------------------------------------- section III-A
@dataclass
class VAEFit:
    """One VAE of section III-A: its ``dataset``, the trainer's result (``fit``: model and
    per-epoch ``history``), its ``test`` images (on the device), the negative ELBO per image on
    them (``test_loss``) and over the last training epoch (``train_loss``), in nats, the number
    of training images, and the report's figure of its reconstructions (4 or 6)."""

    dataset: str
    fit: vae.VAEResult
    test: data_mod.ImageData
    test_loss: float
    train_loss: float
    n_train: int
    figure: int

    def reconstructions(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``k`` test images and their reconstructions (Figures 4 and 6)."""
        x = self.test.x[:k]
        return x, vae.reconstruct(self.fit.model, x)

    def latent_means(self) -> torch.Tensor:
        """Posterior means of the test images, N x z_dim (Figure 7)."""
        return vae.latent_means(self.fit.model, self.test.x)


def fit_vaes(ctx: Context) -> dict[str, VAEFit]:
    """Section III-A: one VAE on the Fashion-MNIST role's data (Figures 4, 5, 7) and one on the
    CIFAR role's (Figure 6, the report's own figure despite its text); keyed by role
    (:data:`~lib.reports.generative_lipschitz.experiment.ROLES`)."""
    cfg, out = ctx.cfg, {}
    for role, figure in (("fashion_mnist", 4), ("cifar10", 6)):
        name = cfg[ROLES[role]]
        train = gen_data(cfg, name)
        test = data_mod.load(name, "test", n=cfg["n_test"], seed=cfg["seed"]).to(ctx.device)
        fit = train_vae(cfg, name, train, device=ctx.device)
        out[role] = VAEFit(dataset=name, fit=fit, test=test, test_loss=vae.elbo(fit.model, test.x, seed=cfg["seed"]),
                           train_loss=float(fit.history["loss"].iloc[-1]), n_train=len(train), figure=figure)
    return out


# --------------------------------------------------------------------------- section III-B
@dataclass
class GANFit:
    """One GAN of section III-B: what it is (``title``, the report's ``figure`` and the output
    ``file`` stem), its ``dataset`` and the ``role`` that dataset plays (``"mnist"``,
    ``"fashion_mnist"``, ``"cifar10"``: which feature space scores its samples), the trainer's
    result (generator, discriminator, per-epoch ``history``, fixed-noise ``samples`` per saved
    epoch) and the epochs its figure shows."""

    title: str
    figure: str
    file: str
    dataset: str
    role: str
    result: gan.GANResult
    shown: tuple[int, ...]

    def panels(self, k: int = 64) -> dict[str, torch.Tensor]:
        """``"epoch e"`` -> the first ``k`` fixed-noise samples after epoch e, for each shown epoch."""
        return {f"epoch {e}": self.result.samples[e][:k] for e in self.shown if e in self.result.samples}

    @property
    def saved(self) -> tuple[int, ...]:
        """The epochs with samples (at least the shown ones)."""
        return tuple(sorted(self.result.samples))

    def last(self, column: str) -> float:
        return float(self.result.history[column].iloc[-1])


def spread(result: gan.GANResult) -> tuple[int, ...]:
    """The saved epochs a figure shows: the first, the middle and the last."""
    saved = sorted(result.samples)
    return tuple(sorted({saved[0], saved[len(saved) // 2], saved[-1]}))


def fit_gans(ctx: Context) -> dict[str, GANFit]:
    """Section III-B: DCGAN (depth 2) and the fully connected GAN on the MNIST role's data, the
    fully connected GAN on the Fashion-MNIST role's (samples at ``fashion_gan_epochs``), the
    deeper DCGAN (depth 3) on the CIFAR role's; keyed ``dcgan_mnist``, ``fc_mnist``,
    ``fc_fashion``, ``dcgan_cifar``."""
    cfg, dev = ctx.cfg, ctx.device
    mnist, fashion, cifar = cfg["mnist_data"], cfg["fashion_data"], cfg["cifar_data"]
    mnist_train = gen_data(cfg, mnist)
    dc = train_dcgan(cfg, mnist, mnist_train, cfg["dcgan_epochs"], depth=2, device=dev)
    fc = train_fc_gan(cfg, mnist, mnist_train, cfg["fc_gan_epochs"], device=dev)
    fash = train_fc_gan(cfg, fashion, gen_data(cfg, fashion), max(cfg["fashion_gan_epochs"]),
                        cfg["fashion_gan_epochs"], device=dev)
    deep = train_dcgan(cfg, cifar, gen_data(cfg, cifar), cfg["cifar_gan_epochs"], depth=3, device=dev)
    return {
        "dcgan_mnist": GANFit(f"DCGAN, {mnist}", "Figure 8", "figure8_dcgan_mnist", mnist, "mnist", dc, spread(dc)),
        "fc_mnist": GANFit(f"FC GAN, {mnist}", "Figure 9", "figure9_fcgan_mnist", mnist, "mnist", fc, spread(fc)),
        "fc_fashion": GANFit(f"FC GAN, {fashion}", "Figures 10-12", "figures10-12_fcgan_fashion", fashion,
                             "fashion_mnist", fash, tuple(cfg["fashion_gan_epochs"])),
        "dcgan_cifar": GANFit(f"deeper DCGAN, {cifar}", "Figure 13", "figure13_dcgan_cifar", cifar, "cifar10", deep,
                              spread(deep)),
    }


def fit_other_k(ctx: Context) -> dict[str, GANFit]:
    """Section VII's "K=4 ... gave us optimal results" needs the other k: the fully connected GAN on
    the MNIST role's data with each k of ``gan_k_compare``, as :func:`fit_gans`' ``fc_mnist``
    otherwise (same data, epochs, noise); keyed ``fc_mnist_k<k>``."""
    cfg, mnist = ctx.cfg, ctx.cfg["mnist_data"]
    train = gen_data(cfg, mnist)
    out = {}
    for k in cfg["gan_k_compare"]:
        r = train_fc_gan(cfg, mnist, train, cfg["fc_gan_epochs"], device=ctx.device, k=k)
        out[f"fc_mnist_k{k}"] = GANFit(f"FC GAN, {mnist}, k = {k}", "none", f"fcgan_mnist_k{k}", mnist, "mnist", r,
                                       (max(r.samples),))
    return out
