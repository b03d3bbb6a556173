"""Figures in one seaborn style, saved atomically as PNG (and PDF for hand-in).

- :func:`adversarial_grid` original / perturbation / adversarial, with the
  predicted class and confidence under each image (reports 001 and 002, Figures 2-3);
- :func:`accuracy_vs_eps` one line per attack (or defense), report numbers as markers;
- :func:`save` writes a figure without ever leaving a half-written file.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from lib import cache, readable
from lib.readable import wrap

PALETTE = "colorblind"


def set_style() -> None:
    """The study's one style: white grid, colour-blind palette, readable font sizes."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight",
                         "axes.titleweight": "bold", "image.interpolation": "nearest"})


set_style()


def panel_width(ax) -> float:
    """The width of a panel, in inches."""
    return ax.get_position().width * ax.figure.get_figwidth()


def epoch_axis(ax, epochs) -> None:
    """Whole epochs on the x axis: integer ticks, and a single epoch centred in a unit-wide view
    (rather than a lone point in a fractional range)."""
    from matplotlib.ticker import MaxNLocator

    values = sorted({int(e) for e in epochs})
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins="auto", min_n_ticks=1))
    if len(values) == 1:
        ax.set_xlim(values[0] - 1, values[0] + 1)
        ax.set_xticks(values)


def save(fig: plt.Figure, path: str | Path, *, pdf: bool = False) -> Path:
    """Save ``fig`` to ``path`` (PNG) atomically; with ``pdf=True`` also a PDF beside it.

    The PNG carries the run id of the notebook run that made it (:mod:`lib.provenance`), and
    under ``ADV_STRICT_FIGURES=1`` (the tests) a figure :func:`readability` finds fault with
    is refused."""
    from lib import provenance

    readable.unnest_texts(fig)
    if readable.strict():
        problems = readable.readability(fig)
        if problems and os.environ.get(readable.STRICT_ENV, "").strip() == "warn":
            warnings.warn(f"{Path(path).name}: " + "; ".join(problems), stacklevel=2)
        elif problems:
            raise readable.FigureUnreadable(f"{Path(path).name}: " + "; ".join(problems))
    path = Path(path).with_suffix(".png")
    run = (provenance.current() or {}).get("run_id")
    with cache.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={provenance.PNG_KEY: run} if run else None)
    if pdf:
        with cache.atomic_path(path.with_suffix(".pdf")) as tmp:
            fig.savefig(tmp, format="pdf", metadata={"Keywords": f"run {run}"} if run else None)
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
        fig.suptitle(wrap(title, fig.get_figwidth(), 10), fontsize=10)
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
    b.legend(fontsize=9)
    for ax in (a, b):
        epoch_axis(ax, history["epoch"])
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
        ax.set_title(wrap(title, panel_width(ax)))


def norm_name(norm) -> str:
    """``"inf"`` (or a float infinity read back from a CSV) -> ``"L-inf"``; ``2`` -> ``"L2"``."""
    text = str(norm).strip().lower()
    return "L-inf" if text in ("inf", "linf", "l-inf") else f"L{text.removesuffix('.0')}"


#: Styles that keep lines on top of each other visible: each later line thinner, with smaller
#: markers of another shape, drawn above the earlier ones.
STACKED = [dict(marker=m, markersize=ms, linewidth=lw, zorder=z) for m, ms, lw, z in
           (("o", 9, 3.2, 2), ("s", 6.5, 2.2, 3), ("^", 4.5, 1.4, 4), ("D", 3.2, 0.9, 5), ("v", 2.5, 0.7, 6))]


def note_coinciding(ax, curves: dict[str, Sequence[float]], *, unit: str = "%") -> None:
    """Say in the panel which curves lie exactly on top of each other (same values everywhere),
    so a reader does not take a hidden line for a missing one."""
    groups: dict[tuple, list[str]] = {}
    for name, values in curves.items():
        groups.setdefault(tuple(round(float(v), 9) for v in values), []).append(name)
    lines = [f"{', '.join(g[:-1])} and {g[-1]} coincide" + (f" (all at {k[0]:g} {unit})" if len(set(k)) == 1 else "")
             for k, g in groups.items() if len(g) > 1]
    if lines:
        ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left", fontsize=8,
                color="0.25", bbox=dict(facecolor="white", edgecolor="0.8", alpha=0.85, boxstyle="round,pad=0.3"))


def label_points(ax, points: Sequence[tuple[float, float]], labels: Sequence[str], colors: Sequence,
                 *, fontsize: float = 9) -> None:
    """Write ``labels[i]`` beside ``points[i]`` (data coordinates), each where it covers no
    other label and no other point: points on top of each other stay told apart. Call after
    the axes' limits are final."""
    fig = ax.figure
    px = fig.dpi / 72  # pixels per point
    xy = [ax.transData.transform(p) for p in points]
    placed: list[tuple[float, float, float, float]] = []
    step = fontsize * px
    around = [(0.7, 0.5), (0.7, -1.4), (-1.6, 0.5), (-1.6, -1.4), (-0.4, 1.0), (-0.4, -1.9), (1.1, -0.45),
              (-2.1, -0.45)]
    candidates = [(dx * r, dy * r) for r in (1.0, 1.9, 2.8) for dx, dy in around]
    box = ax.get_window_extent()
    for i, ((x, y), label) in enumerate(zip(xy, labels)):
        w, h = 0.62 * len(label) * step, 1.05 * step
        best = None
        for dx, dy in candidates:
            x0, y0 = x + dx * step, y + dy * step
            rect = (x0, y0, x0 + w, y0 + h)
            inside = box.x0 <= rect[0] and rect[2] <= box.x1 and box.y0 <= rect[1] and rect[3] <= box.y1
            clash = any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3] for r in placed)
            covers = any(rect[0] - 3 < px_ < rect[2] + 3 and rect[1] - 3 < py_ < rect[3] + 3
                         for j, (px_, py_) in enumerate(xy) if j != i)
            if inside and not clash and not covers:
                best = (dx, dy, rect)
                break
        if best is None:  # nowhere free: the first place inside the axes
            best = next(((dx, dy, (x + dx * step, y + dy * step, x + dx * step + w, y + dy * step + h))
                         for dx, dy in candidates), (0.7, 0.5, (x, y, x + w, y + h)))
        dx, dy, rect = best
        placed.append(rect)
        ax.annotate(label, points[i], xytext=(dx * fontsize, dy * fontsize), textcoords="offset points",
                    fontsize=fontsize, color=colors[i], fontweight="bold",
                    arrowprops=dict(arrowstyle="-", color=colors[i], lw=0.6, shrinkA=0, shrinkB=3)
                    if abs(dx) > 1.2 or abs(dy) > 1.2 else None)


def clean_vs_robust(defenses: pd.DataFrame, *, title: str = "", columns: int = 3) -> plt.Figure:
    """The study's summary figure: clean against worst-case robust accuracy (%), one panel per
    dataset and threat model, 95 % intervals on both axes; the report's own (clean, robust)
    claim as a hollow marker joined to ours by a dotted line where it gives both. Each defense
    keeps one colour, marker and number in every panel; the numbers label the points (so points
    on top of each other are told apart) and the one legend below the panels names them.

    ``defenses``: rows of :mod:`lib.summary` (dataset, norm, eps, defense, clean, worst and their
    ``_low`` / ``_high``, report_clean, report_robust; fractions in [0, 1])."""
    import math

    data = defenses[defenses["worst"].notna()] if len(defenses) else defenses
    panels = list(dict.fromkeys(zip(data["dataset"], data["norm"], data["eps"]))) if len(data) else []
    names = list(dict.fromkeys(data["defense"])) if len(data) else []
    colors = dict(zip(names, sns.color_palette(PALETTE, max(len(names), 1))))
    markers = dict(zip(names, ["o", "s", "D", "^", "v", "P", "X", "h", "<", ">", "*"] * 3))
    cols = max(1, min(columns, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows + 0.5), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no report tables in this profile yet", ha="center", va="center")
    for ax, (dataset, norm, eps) in zip(axes.flat, panels):
        part = data[(data["dataset"] == dataset) & (data["norm"] == norm) & (data["eps"] == eps)]
        pts, labels, cols_ = [], [], []
        for _, r in part.iterrows():
            x, y, color = 100 * r["clean"], 100 * r["worst"], colors[r["defense"]]
            ax.errorbar(x, y, xerr=[[x - 100 * r["clean_low"]], [100 * r["clean_high"] - x]],
                        yerr=[[y - 100 * r["worst_low"]], [100 * r["worst_high"] - y]], color=color,
                        marker=markers[r["defense"]], markersize=6, capsize=2, linestyle="none", elinewidth=0.9)
            if not (math.isnan(r["report_clean"]) or math.isnan(r["report_robust"])):
                rx, ry = 100 * r["report_clean"], 100 * r["report_robust"]
                ax.plot([rx], [ry], marker=markers[r["defense"]], markerfacecolor="none", color=color, markersize=7)
                ax.plot([rx, x], [ry, y], ":", color=color, linewidth=0.8)
            pts.append((x, y))
            labels.append(str(names.index(r["defense"]) + 1))
            cols_.append(color)
        ax.plot([0, 100], [0, 100], color="grey", linewidth=0.5)
        ax.set(xlim=(-3, 103), ylim=(-3, 103), xlabel="clean accuracy (%)", ylabel="worst-case robust (%)",
               title=f"{dataset}, {norm_name(norm)} eps {eps:g}")
        label_points(ax, pts, labels, cols_)
    handles = [plt.Line2D([], [], color=colors[n], marker=markers[n], linestyle="none", label=f"{i + 1}  {n}")
               for i, n in enumerate(names)]
    handles += [plt.Line2D([], [], color="0.3", marker="o", markerfacecolor="none", linestyle=":",
                           label="the report's claim (hollow), joined to ours")]
    if title:
        fig.suptitle(wrap(title, fig.get_figwidth(), 11), fontsize=11, fontweight="bold")
    legend_in = 0.2 * math.ceil(len(handles) / 2) + 0.15   # the legend's height, in inches
    fig.set_figheight(fig.get_figheight() + legend_in)
    fig.tight_layout(rect=(0, legend_in / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=9, frameon=False)
    return fig
