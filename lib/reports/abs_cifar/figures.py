"""Report 000's figures: Figure 1 (an ABS decision and what ABS "sees", before and after the
fast gradient method) and the accuracy-distortion curves (Figures 2-3, and the worst case)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch

from lib import plots


def figure1(model, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, classes, title: str) -> plt.Figure:
    """Rows: examples. Columns: clean image, ABS's reconstruction of its predicted class,
    attacked image, reconstruction of the class predicted there; each titled with ABS's
    predicted class and softmax confidence. x, x_adv: N x 3 x 32 x 32 in [0, 1]."""
    with torch.no_grad():
        probs = [torch.softmax(model(v), 1) for v in (x, x_adv)]
        recs = [model.reconstructions(v) for v in (x, x_adv)]
    fig, axes = plt.subplots(len(x), 4, figsize=(8, 2.2 * len(x)), squeeze=False)
    for i in range(len(x)):
        for j, (p, r, img) in enumerate(zip(probs, recs, (x, x_adv))):
            c = int(p[i].argmax())
            color = "green" if c == int(y[i]) else "red"
            plots.show_image(axes[i, 2 * j], img[i].cpu(),
                             f"{'clean' if j == 0 else 'attacked'}: {classes[c]} ({100 * p[i, c]:.0f} %)", color=color)
            plots.show_image(axes[i, 2 * j + 1], r[i, c].cpu(), f"G_{classes[c]}(z*)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def reference_curves(reference: dict) -> pd.DataFrame:
    """The report's table as (attack, eps, accuracy) rows for hollow markers."""
    return pd.DataFrame([{"attack": a, "eps": e, "accuracy": v} for (a, e), v in reference.items()])


def worst_case_figure(curves: dict[str, pd.DataFrame], title: str, chance: float) -> plt.Figure:
    """Worst-case accuracy against L2 eps per model, with 95 % Clopper-Pearson bands."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in curves.items():
        ax.plot(c["eps"], 100 * c["accuracy"], marker="o", label=name)
        ax.fill_between(c["eps"], 100 * c["low"], 100 * c["high"], alpha=0.2)
    ax.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="L2 eps (pixel units)", ylabel="accuracy (%)", title=title, ylim=(-2, 102))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
