"""Report 003's figures (4-20) from the experiment's models and tables. Every function returns a
matplotlib figure; the notebook saves it with :func:`lib.plots.save`."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from lib.plots import PALETTE, epoch_axis, latent_scatter, panel_width, pca_2d, show_image, wrap


def _tile(images: torch.Tensor, nrow: int) -> np.ndarray:
    """N x C x H x W in [0, 1] -> one H' x W' (x 3) array, ``nrow`` images per row, 1-pixel gaps."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    canvas = torch.ones(c, rows * (h + 1) - 1, nrow * (w + 1) - 1)
    for i in range(n):
        r, k = divmod(i, nrow)
        canvas[:, r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = images[i]
    arr = canvas.clamp(0, 1).permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def sample_grids(panels: Mapping[str, torch.Tensor], *, title: str, nrow: int = 8) -> plt.Figure:
    """One panel per entry (e.g. per epoch), each a grid of images N x C x H x W in [0, 1]."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.5), squeeze=False)
    for ax, (name, imgs) in zip(axes[0], panels.items()):
        ax.imshow(_tile(imgs.cpu(), nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def reconstructions(x: torch.Tensor, recon: torch.Tensor, *, title: str) -> plt.Figure:
    """Figures 4 and 6: originals (top row) over their VAE reconstructions (bottom row)."""
    n = len(x)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6), squeeze=False)
    for i in range(n):
        show_image(axes[0, i], x[i].cpu(), "input" if i == 0 else None)
        show_image(axes[1, i], recon[i].cpu(), "reconstruction" if i == 0 else None)
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


_LOSS_NAMES = {"d_loss": "discriminator", "g_loss": "generator", "kl": "KL divergence", "loss": "loss (ELBO)"}


def loss_curves(histories: Mapping[str, pd.DataFrame], columns: Sequence[str], *, title: str,
                ylabel: str = "loss") -> plt.Figure:
    """Figure 5 and the GAN losses: one panel per model, one line per column, over epochs."""
    fig, axes = plt.subplots(1, len(histories), figsize=(min(10.0, 3.4 * len(histories)), 3.3), squeeze=False)
    for ax, (name, h) in zip(axes[0], histories.items()):
        for col in columns:
            ax.plot(h["epoch"], h[col], marker="o", label=_LOSS_NAMES.get(col, col.replace("_", " ")))
        ax.set(xlabel="epoch", ylabel=ylabel, title=wrap(name, panel_width(ax)))
        epoch_axis(ax, h["epoch"])
        if len(h) == 1:  # one epoch: a point per loss, no curve to read
            ax.text(0.5, 0.04, "one epoch in this profile", transform=ax.transAxes, ha="center", fontsize=8,
                    color="0.35")
        ax.legend(fontsize=8)
    fig.suptitle(wrap(title, fig.get_figwidth()), fontweight="bold")
    fig.tight_layout()
    return fig


def latent_space(mu: torch.Tensor, y: torch.Tensor, classes: Sequence[str], *, title: str) -> plt.Figure:
    """Figure 7: the posterior means (N x z) projected on their first two principal axes."""
    (pts,) = pca_2d(mu.cpu())
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    handles = [ax.scatter([], [], color=c, s=20, label=n) for c, n in
               zip(sns.color_palette("tab10", len(classes)), classes)]
    latent_scatter(ax, pts, y.cpu(), classes, title=wrap(title, panel_width(ax)), legend=False)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def learning_curves(histories: Mapping[str, pd.DataFrame], *, title: str) -> plt.Figure:
    """Figures 15-16: training and validation error (%) per epoch, one line pair per model."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for (name, h), color in zip(histories.items(), sns.color_palette(PALETTE, len(histories))):
        ax.plot(h["epoch"], 100 * (1 - h["train_acc"]), marker="o", color=color, label=f"{name}: train")
        ax.plot(h["epoch"], 100 * (1 - h["val_acc"]), marker="s", ls="--", color=color, label=f"{name}: validation")
    ax.set(xlabel="epoch", ylabel="error (%)", title=wrap(title, panel_width(ax)))
    epoch_axis(ax, [e for h in histories.values() for e in h["epoch"]])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _two_lines(name: str, width: int = 11) -> str:
    """A class name whole (never cut: "Ankle boot", not "Ankle boo"), on at most two lines."""
    import textwrap

    return "\n".join(textwrap.wrap(name, width)[:2]) if len(name) > width else name


@torch.no_grad()
def attack_rows(model, rows: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                classes: Sequence[str], *, title: str) -> plt.Figure:
    """Figures 17-18: one row per input kind (clean, CW, FGSM), the predicted label above each
    image (red when wrong) and, for attacked rows, the L2 distortion."""
    n = len(y)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.35 * n, 2.0 * len(rows) + 0.4), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        pred = model(imgs).argmax(1)
        for i in range(n):
            wrong = int(pred[i]) != int(y[i])
            d = float((imgs[i] - x[i]).norm())
            label = _two_lines(classes[int(pred[i])]) + (f"\nL2 {d:.2f}" if name != "clean" else "")
            show_image(axes[r, i], imgs[i].cpu(), label, color="crimson" if wrong else "black")
        axes[r, 0].set_ylabel(name, fontsize=10)
        axes[r, 0].axis("on")
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def accuracy_curves(tables: Mapping[str, pd.DataFrame], *, title: str, xlabel: str = "eps (L-inf)") -> plt.Figure:
    """Accuracy (%) with 95 % intervals against eps (columns eps, accuracy, low, high), one
    line per model: FGSM's sweep, or the worst case of the adaptive set and CW."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for (name, t), color in zip(tables.items(), sns.color_palette(PALETTE, len(tables))):
        ax.errorbar(t["eps"], 100 * t["accuracy"], yerr=[100 * (t["accuracy"] - t["low"]),
                                                          100 * (t["high"] - t["accuracy"])],
                    marker="o", capsize=3, color=color, label=name)
    ax.set(xlabel=xlabel, ylabel="accuracy (%)", title=title, ylim=(-2, 102))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def distortion_curves(curves: Mapping[str, pd.DataFrame], *, title: str, xlabel: str = "allowed L2 distortion"
                      ) -> plt.Figure:
    """Accuracy (%) against allowed distortion (CW's accuracy-distortion curves, certified
    accuracy against radius): one line per entry, columns ``distortion`` / ``radius`` and
    ``accuracy``."""
    fig, ax = plt.subplots(figsize=(5.8, 3.7))
    for (name, c), color in zip(curves.items(), sns.color_palette(PALETTE, len(curves))):
        xcol = "distortion" if "distortion" in c else "radius"
        ax.plot(c[xcol], 100 * c["accuracy"], color=color, label=name,
                ls="--" if "certified" in name else "-", drawstyle="steps-post")
    ax.set(xlabel=xlabel, ylabel="accuracy (%)", title=title, ylim=(-2, 102))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def distortion_distributions(dists: Mapping[str, torch.Tensor], *, title: str) -> plt.Figure:
    """Figures 19-20: histograms of the CW L2 distortion needed per image (finite ones), one per
    model, the median marked; the number of images CW did not break is in the legend."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    finite = [d[torch.isfinite(d) & (d > 0)] for d in dists.values()]
    top = max([float(f.max()) for f in finite if len(f)] + [1e-3])
    bins = np.linspace(0, top * 1.02, 30)
    for (name, d), f, color in zip(dists.items(), finite, sns.color_palette(PALETTE, len(dists))):
        failed = int(torch.isinf(d).sum())
        med = float(f.median()) if len(f) else float("nan")
        ax.hist(f.numpy(), bins=bins, alpha=0.55, color=color,
                label=f"{name}: median {med:.2f} (n = {len(f)}, not broken {failed})")
        if len(f):
            ax.axvline(med, color=color, ls="--")
    ax.set(xlabel="L2 distortion of the CW example", ylabel="images", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def kid_curves(table: pd.DataFrame, *, title: str) -> plt.Figure:
    """KID against epoch (``sample_quality.csv``): one panel per dataset (KIDs compare within one
    feature space only), one line per GAN with its 95 % interval as error bars; the VAE (after
    its last epoch) and the real training images (the reference, 0 up to noise) as horizontal
    bands."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(min(13.0, 4.3 * len(datasets)), 3.6), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        part = table[table["dataset"] == name]
        curves = part[~part["key"].str.startswith(("vae_", "real_"))]
        flat = part[part["key"].str.startswith(("vae_", "real_"))]
        colors = iter(sns.color_palette(PALETTE, len(curves["key"].unique()) + len(flat)))
        for _, g in curves.groupby("key", sort=False):
            g = g.sort_values("epoch")
            ax.errorbar(g["epoch"], g["KID"], yerr=[g["KID"] - g["low"], g["high"] - g["KID"]], marker="o",
                        capsize=3, color=next(colors), label=g["generator"].iloc[0])
        for row in flat.itertuples():
            color = "0.4" if row.key.startswith("real_") else next(colors)
            ax.axhspan(row.low, row.high, color=color, alpha=0.2)
            label = row.generator if row.key.startswith("real_") else f"{row.generator} (epoch {row.epoch})"
            ax.axhline(row.KID, color=color, ls="--", lw=1, label=label)
        ax.set(xlabel="epoch", ylabel="KID (lower is better)", title=name)
        if len(curves):
            epoch_axis(ax, curves["epoch"])
        ax.legend(fontsize=8)
    fig.suptitle(wrap(title, fig.get_figwidth()), fontweight="bold")
    fig.tight_layout()
    return fig


def cw_ladder(table: pd.DataFrame, *, title: str) -> plt.Figure:
    """CW's median L2 distortion needed against its budget (``cw_convergence.csv``), one panel
    per dataset, one line per classifier with its bootstrap interval."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.4), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        part = table[table["dataset"] == name]
        for (model, g), color in zip(part.groupby("model", sort=False), sns.color_palette(PALETTE, 2)):
            x = np.arange(len(g))
            finite = np.isfinite(g["high"].to_numpy())
            ax.plot(x, g["median L2 needed"], marker="o", color=color, label=model)
            ax.fill_between(x[finite], g["low"].to_numpy()[finite], g["high"].to_numpy()[finite], color=color,
                            alpha=0.2)
            ax.set_xticks(x, g["budget"])
        ax.set(xlabel="binary steps x iterations", ylabel="median L2 needed", title=name)
        ax.legend(fontsize=8)
    fig.suptitle(wrap(title, fig.get_figwidth()), fontweight="bold")
    fig.tight_layout()
    return fig
