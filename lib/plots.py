"""Figures in one seaborn style, saved atomically as PNG (and PDF for hand-in).

- :func:`adversarial_grid` original / perturbation / adversarial, with the
  predicted class and confidence under each image (reports 001 and 002, Figures 2-3);
- :func:`accuracy_vs_eps` one line per attack (or defense), report numbers as markers;
- :func:`save` writes a figure without ever leaving a half-written file.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def convergence(table: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Accuracy (%) with its 95 % interval against PGD steps and against restarts, from
    :func:`lib.robustness.convergence`: a converged evaluation is flat at the right end."""
    kinds = list(dict.fromkeys(table["budget"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 2.8), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        part = table[table["budget"] == kind]
        acc = 100 * part["accuracy"]
        ax.errorbar(part["value"], acc, yerr=[acc - 100 * part["low"], 100 * part["high"] - acc],
                    marker="o", capsize=3)
        ax.set_xscale("log", base=2)
        ax.set_xticks(part["value"].tolist(), [str(int(v)) for v in part["value"]])
        ax.set(xlabel=f"PGD {kind}", ylabel="accuracy (%)", ylim=(-2, max(5.0, float(100 * part["high"].max()) + 5)))
    if title:
        fig.suptitle(title, fontsize=10)
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


def pca_2d(fit_on: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Project rows onto the first two principal axes of ``fit_on`` (N x D).

    Returns ``[fit_on_2d, *others_2d]``, each M x 2; later tensors use the axes and
    centre of ``fit_on``, so attacked points land in the same picture (report Figure 8).
    The sign of each axis is fixed (largest loading positive) so reruns draw the same view.
    """
    mean = fit_on.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(fit_on - mean, full_matrices=False)
    axes = v[:2].T  # D x 2
    flip = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    axes = axes * flip
    return [(t - mean) @ axes for t in (fit_on, *others)]


def latent_scatter(ax, points: torch.Tensor, labels: torch.Tensor, classes, *,
                   moved: torch.Tensor | None = None, moved_from: torch.Tensor | None = None,
                   moved_labels: torch.Tensor | None = None, anchors: torch.Tensor | None = None,
                   anchor_labels: torch.Tensor | None = None, title: str = "",
                   legend: bool = True) -> None:
    """One panel of report Figure 8: 2-D latent points coloured by class.

    ``points`` M x 2 with ``labels`` (M,); optionally attacked points ``moved`` (A x 2,
    crosses coloured by ``moved_labels``, e.g. the label they now receive) joined by a
    thin line to where they started (``moved_from``, A x 2), and reference images
    ``anchors`` (R x 2, stars coloured by ``anchor_labels``). ``legend`` puts the class
    legend to the right of the axes.
    """
    import seaborn as sns

    palette = sns.color_palette("tab10", len(classes))
    colours = lambda ys: [palette[int(k)] for k in ys]  # noqa: E731
    ax.scatter(points[:, 0], points[:, 1], c=colours(labels), s=6, alpha=0.35, linewidths=0)
    if moved is not None:
        if moved_from is not None:
            from matplotlib.collections import LineCollection

            segments = torch.stack([moved_from, moved], 1).numpy()  # A x 2 (ends) x 2 (xy)
            ax.add_collection(LineCollection(segments, colors="0.4", linewidths=0.5, alpha=0.6))
        ax.scatter(moved[:, 0], moved[:, 1], c=colours(moved_labels if moved_labels is not None
                                                       else torch.zeros(len(moved))),
                   marker="x", s=28, linewidths=1.2)
    if anchors is not None:
        ax.scatter(anchors[:, 0], anchors[:, 1], c=colours(anchor_labels), marker="*", s=160,
                   edgecolors="black", linewidths=0.6)
    if legend:  # outside the axes, so it hides no point
        handles = [ax.scatter([], [], color=palette[k], s=20, label=str(name))
                   for k, name in enumerate(classes)]
        handles += [ax.scatter([], [], color="0.3", marker="x", s=28, label="attacked"),
                    ax.scatter([], [], color="0.3", marker="*", s=90, label="reference")]
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)
    ax.set(xlabel="principal axis 1", ylabel="principal axis 2")
    if title:
        ax.set_title(title)
