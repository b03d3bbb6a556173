"""Figures in one seaborn style, saved atomically as PNG (and PDF for hand-in).

- :func:`adversarial_grid` original / perturbation / adversarial, with the
  predicted class and confidence under each image (reports 001 and 002, Figures 2-3);
- :func:`accuracy_vs_eps` one line per attack (or defense), report numbers as markers;
- :func:`save` writes a figure without ever leaving a half-written file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from lib import cache

PALETTE = "colorblind"


def set_style() -> None:
    """The study's one style: white grid, colour-blind palette, readable font sizes."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight",
                         "axes.titleweight": "bold", "image.interpolation": "nearest"})


set_style()


def save(fig: plt.Figure, path: str | Path, *, pdf: bool = False) -> Path:
    """Save ``fig`` to ``path`` (PNG) atomically; with ``pdf=True`` also a PDF beside it."""
    path = Path(path).with_suffix(".png")
    with cache.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    if pdf:
        with cache.atomic_path(path.with_suffix(".pdf")) as tmp:
            fig.savefig(tmp, format="pdf")
    return path


def _as_image(x: torch.Tensor):
    """C x H x W tensor -> array for imshow (grey images as 2-D)."""
    x = x.detach().cpu()
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def show_image(ax, x: torch.Tensor, title: str | None = None, *, color: str = "black") -> None:
    grey = x.shape[0] == 1
    ax.imshow(_as_image(x.clamp(0, 1)), cmap="gray" if grey else None, vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=9, color=color, fontweight="normal")


@torch.no_grad()
def adversarial_grid(model, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                     classes: Sequence[str], *, title: str = "", rows_label: Sequence[str] | None = None
                     ) -> plt.Figure:
    """One row per image: original, perturbation (rescaled to be visible), adversarial.

    Titles give the predicted class and its softmax confidence; a wrong prediction is red.
    ``x``, ``x_adv``: N x C x H x W in [0, 1]; ``y``: N true labels.
    """
    p_clean = torch.softmax(model(x), 1)
    p_adv = torch.softmax(model(x_adv), 1)
    n = len(x)
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.3 * n), squeeze=False)
    for i in range(n):
        delta = x_adv[i] - x[i]
        scale = delta.abs().max().clamp(min=1e-12)
        for j, (img, probs) in enumerate([(x[i], p_clean[i]), (0.5 + 0.5 * delta / scale, None),
                                           (x_adv[i], p_adv[i])]):
            if probs is None:
                show_image(axes[i, j], img, f"perturbation (x{0.5 / scale.item():.0f})\n"
                                            f"L-inf {delta.abs().max():.3f}, L2 {delta.norm():.2f}")
                continue
            k = int(probs.argmax())
            color = "black" if k == int(y[i]) else "crimson"
            label = "original" if j == 0 else "adversarial"
            show_image(axes[i, j], img, f"{label}: {classes[k]}\n{100 * probs[k]:.2f} % confidence",
                       color=color)
        if rows_label is not None:
            axes[i, 0].set_ylabel(rows_label[i], fontsize=9)
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def accuracy_vs_eps(results: pd.DataFrame, *, hue: str = "attack", title: str = "",
                    reference: pd.DataFrame | None = None, ax=None, percent: bool = True,
                    logx: bool = False, chance: float | None = None) -> plt.Figure:
    """Accuracy against eps, one line per ``hue`` value.

    ``reference`` (columns eps, accuracy and ``hue``) adds the report's numbers as hollow
    markers in the same colours, so agreement is visible at a glance.
    """
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    scale = 100 if percent else 1
    data = results.assign(accuracy=results["accuracy"] * scale)
    order = list(dict.fromkeys(data[hue]))
    colors = dict(zip(order, sns.color_palette(PALETTE, len(order) + 2)))
    if reference is not None:
        for name in dict.fromkeys(reference[hue]):
            colors.setdefault(name, sns.color_palette(PALETTE, len(colors) + 1)[len(colors)])
    sns.lineplot(data=data, x="eps", y="accuracy", hue=hue, hue_order=order, palette=colors,
                 marker="o", ax=ax, errorbar=None)
    if reference is not None and len(reference):
        ref = reference.assign(accuracy=reference["accuracy"] * scale)
        for name, g in ref.groupby(hue, sort=False):
            ax.plot(g["eps"], g["accuracy"], linestyle="--", marker="s", markerfacecolor="none",
                    color=colors[name], label=f"{name} (report)")
    if chance is not None:
        ax.axhline(chance * scale, color="grey", linestyle=":", label="chance")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("eps (pixel units)")
    ax.set_ylabel("accuracy (%)" if percent else "accuracy")
    ax.set_ylim(-2 if percent else -0.02, 102 if percent else 1.02)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    if own:
        fig.tight_layout()
    return fig


def training_curves(history: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Loss and accuracy per epoch from a :func:`lib.train.fit` history."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(history["epoch"], history["loss"], marker="o")
    a.set(xlabel="epoch", ylabel="training loss", title="loss")
    b.plot(history["epoch"], 100 * history["train_acc"], marker="o", label="train")
    if history["val_acc"].notna().any():
        b.plot(history["epoch"], 100 * history["val_acc"], marker="s", label="validation")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    b.legend()
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig
