"""Report 002's Figure 8: the latent space without and with the contrastive loss, with attacked
points and the 1-NN references (the other figures are :mod:`lib.plots` calls)."""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from torch import nn

from lib import attacks, evaluate, plots, runtime
from lib.data import ImageData
from lib.defenses import contrastive


def latent_figure(encoders: Mapping[str, nn.Module], knn: Mapping[str, nn.Module], refs: ImageData,
                  x, y, classes, *, eps: float, steps: int, seed: int, n_moved: int = 40,
                  title: str = "") -> plt.Figure:
    """One panel per encoder: test images ``x`` in the first two principal axes of their latent
    representation, coloured by true class; the references as stars; the first ``n_moved``
    images after PGD through the latent distances at ``eps`` as crosses coloured by the class the
    1-NN rule now gives them, joined to where they started."""
    n_moved = min(n_moved, len(x))
    fig, axes = plt.subplots(1, len(encoders), figsize=(min(9.0, 3.9 * len(encoders) + 1.2), 4.6), squeeze=False)
    device = x.device
    for i, (ax, (name, model)) in enumerate(zip(axes[0], encoders.items())):
        runtime.seed_everything(seed)
        x_m = attacks.pgd(knn[name], x[:n_moved], y[:n_moved], eps, steps=steps, loss=attacks.margin)
        z, z_m, z_r = (contrastive.embed_all(model, v) for v in (x, x_m, refs.x.to(device)))
        z2, z2_m, z2_r = plots.pca_2d(z, z_m, z_r)
        plots.latent_scatter(ax, z2.cpu(), y.cpu(), classes, moved=z2_m.cpu(), moved_from=z2[:n_moved].cpu(),
                             moved_labels=evaluate.predict(knn[name], x_m).cpu(), anchors=z2_r.cpu(),
                             anchor_labels=refs.y, legend=i == len(encoders) - 1,
                             title=f"{name}: 1-NN, PGD at eps {eps:g}")
    if title:
        fig.suptitle(plots.wrap(title, fig.get_figwidth()), fontweight="bold")
    fig.tight_layout()
    return fig


def eot_figure(eot, *, title: str = "") -> plt.Figure:
    """Accuracy (%) of each noisy model against the EOT draws per gradient
    (:func:`adaptive.eot_table`): majority vote with its interval, expectation dashed."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, part in eot.groupby("model", sort=False):
        maj = 100 * part["majority"]
        ax.errorbar(part["eot"], maj, yerr=[maj - 100 * part["low"], 100 * part["high"] - maj],
                    marker="o", capsize=3, label=f"{label}, majority vote")
        ax.plot(part["eot"], 100 * part["expected"], "--", marker="s", label=f"{label}, expectation")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="noise draws per gradient (EOT)", ylabel="accuracy (%)", title=plots.wrap(title, 5.5))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
