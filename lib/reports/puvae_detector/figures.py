"""Report 001's figures (6-8 and the RMSE histogram), from the experiment's tables."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.patches import Rectangle

from lib.plots import PALETTE, STACKED, note_coinciding, show_image, wrap
from lib.reports.puvae_detector.experiment import worst_case
from lib.reports.puvae_detector.reference import ATTACK_NAMES, REPORT_TABLES


def plot_reconstructions(x: torch.Tensor, recons: torch.Tensor, err: torch.Tensor,
                         chosen: torch.Tensor, classes: Sequence[str], *,
                         row_labels: Sequence[str], title: str = "") -> plt.Figure:
    """Report Figure 6 / appendix B-D: per row an input and its K class-conditional
    reconstructions with their RMSE; the chosen one (least RMSE) framed in red.
    ``x``: R x C x H x W, ``recons``: R x K x C x H x W, ``err``: (R, K), ``chosen``: (R,)."""
    r, k = recons.shape[:2]
    fig, axes = plt.subplots(r, k + 1, figsize=(1.2 * (k + 1), 2.0 * r + 0.6), squeeze=False)
    for i in range(r):
        show_image(axes[i, 0], x[i], row_labels[i])
        for j in range(k):
            ax = axes[i, j + 1]
            pick = j == int(chosen[i])
            show_image(ax, recons[i, j], f"{_two_lines(classes[j])}\n{err[i, j]:.3f}",
                       color="crimson" if pick else "black")
            if pick:
                ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False,
                                       edgecolor="crimson", linewidth=3))
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def _two_lines(name: str, width: int = 10) -> str:
    """A class name whole (never cut: "Ankle boot", not "Ankle boo"), on at most two lines."""
    import textwrap

    return "\n".join(textwrap.wrap(name, width)[:2]) if len(name) > width else name


def _reference_points(reference: str | None, eps: float, column: int) -> dict[str, float]:
    ref = REPORT_TABLES.get(reference or "", {})
    return {a: ref[a][column] for a in ATTACK_NAMES if a in ref}


def plot_accuracy_vs_eps(grid: pd.DataFrame, *, eps: float, reference: str | None,
                         title: str = "") -> plt.Figure:
    """Report Figure 7: accuracy % over eps, one panel per attack, for PuVAE and PuVAE +
    detector (and the undefended classifier, dashed); the detector's worst eps is the
    diamond; the report's values at the table's eps are hollow markers."""
    adv = grid[grid["attack"] != "none"]
    names = list(dict.fromkeys(adv["attack"]))
    worst = worst_case(grid).set_index("attack")
    colors = dict(zip(["puvae", "ours", "no_defense"], sns.color_palette(PALETTE, 3)))
    labels = {"puvae": "PuVAE", "ours": "PuVAE + detector", "no_defense": "no defense"}
    fig, axes = plt.subplots(1, len(names), figsize=(min(10.4, 3.3 * len(names)), 3.9), squeeze=False,
                             sharey=True)
    for ax, name in zip(axes[0], names):
        g = adv[adv["attack"] == name].sort_values("eps")
        for col, style in zip(("no_defense", "puvae", "ours"), STACKED):
            ax.plot(g["eps"], 100 * g[col], color=colors[col], linestyle="--" if col == "no_defense" else "-",
                    label=labels[col], **style)
        note_coinciding(ax, {labels[c]: 100 * g[c] for c in ("no_defense", "puvae", "ours")})
        w = worst.loc[name]
        ax.plot([w["eps"]], [100 * w["ours"]], marker="D", markersize=10, color="crimson",
                linestyle="none", label="worst eps for PuVAE + detector")
        for col, idx in (("puvae", 1), ("ours", 2), ("no_defense", 0)):
            ref = _reference_points(reference, eps, idx).get(name)
            if ref is not None:
                ax.plot([eps], [ref], marker="s", markersize=9, markerfacecolor="none",
                        markeredgewidth=2, color=colors[col], linestyle="none",
                        label=f"{labels[col]} (report)")
        ax.set(title=f"{name}: worst eps {w['eps']:.3g}", xlabel="eps (L-inf, pixel units)",
               ylim=(-2, 102))
        ax.set_ylabel("accuracy (%)")
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    if title:
        fig.suptitle(wrap(title, fig.get_figwidth()), fontweight="bold")
    legend_in = 0.22 * -(-len(handles) // 3) + 0.1
    fig.set_figheight(fig.get_figheight() + legend_in)
    fig.tight_layout(rect=(0, legend_in / fig.get_figheight(), 1, 1))
    fig.legend(handles, labels_, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def plot_rejected_share(grid: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Report Figure 8: share (%) of predictions equal to the "adversarial" label (rejected)
    over eps, one line per attack; diamonds at the detector's worst eps per attack."""
    adv = grid[grid["attack"] != "none"]
    worst = worst_case(grid).set_index("attack")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    palette = sns.color_palette(PALETTE, 4)
    shares = {}
    for color, style, (name, g) in zip(palette, STACKED, adv.groupby("attack", sort=False)):
        g = g.sort_values("eps")
        ax.plot(g["eps"], 100 * g["rejected"], color=color, label=name, **style)
        shares[name] = 100 * g["rejected"]
        w = worst.loc[name]
        ax.plot([w["eps"]], [100 * w["rejected"]], marker="D", markersize=9, color=color,
                markeredgecolor="black", linestyle="none")
    clean = grid[grid["attack"] == "none"]
    if len(clean):
        ax.axhline(100 * clean["rejected"].iloc[0], color="grey", linestyle=":",
                   label="clean test inputs")
    note_coinciding(ax, shares)
    ax.set(xlabel="eps (L-inf, pixel units)", ylabel="predicted 'adversarial' (%)", ylim=(-4, 104))
    ax.legend(fontsize=8, title="diamond: worst eps", title_fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5),
              frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_rmse_histogram(scores: Mapping[str, torch.Tensor], threshold: float, *,
                        title: str = "") -> plt.Figure:
    """Best-reconstruction RMSE of clean vs adversarial inputs (report section 4), with
    the detector's threshold."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    values = {k: torch.as_tensor(v).detach().cpu().numpy() for k, v in scores.items()}
    hi = max(float(np.quantile(v, 0.995)) for v in values.values())
    bins = np.linspace(0, max(hi, threshold) * 1.05, 50)
    for color, (name, v) in zip(sns.color_palette(PALETTE, len(values)), values.items()):
        ax.hist(np.clip(v, None, bins[-1]), bins=bins, alpha=0.55, color=color,
                label=f"{name} (mean {v.mean():.3f})", density=True)
    ax.axvline(threshold, color="crimson", linestyle="--", label=f"threshold t = {threshold:.3f}")
    ax.set(xlabel="RMSE between input and its best reconstruction", ylabel="density")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
