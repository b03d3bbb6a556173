"""Is a figure readable at the size it is shown? Checks, and small fixes applied on save.

:func:`readability` lists what makes a figure hard to read: legend text under 8 pt, other
text under 7 pt (both at the size it is shown: a figure wider than a notebook's output area
is scaled down, and its text with it), and texts that overlap one another (titles, labels,
tick labels, legends). Under ``ADV_STRICT_FIGURES=1`` (the tests) :func:`lib.plots.save`
refuses such a figure, and matplotlib's layout warnings ("tight_layout not applied") are
errors. :func:`unnest` keeps parentheses from nesting in titles and legends; :func:`wrap`
breaks a long title to the width it has.
"""
from __future__ import annotations

import os
import warnings

import matplotlib.pyplot as plt

#: The smallest font a legend may use, and any other text, in points (at the size a figure is shown).
MIN_LEGEND_PT, MIN_TEXT_PT = 8.0, 7.0
#: How wide a figure is shown at most (a notebook's output area, a hand-in page): about 1000 px.
#: A wider figure is scaled down to it, and so is its text.
SHOWN_WIDTH_IN = 10.5
STRICT_ENV = "ADV_STRICT_FIGURES"


class FigureUnreadable(ValueError):
    """A figure with text too small or overlapping (raised under ``ADV_STRICT_FIGURES=1``)."""


def strict() -> bool:
    """True under ``ADV_STRICT_FIGURES=1`` (the tests): layout warnings are errors and
    :func:`save` refuses an unreadable figure (``=warn``: it only warns, to survey figures)."""
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0")


if strict() and os.environ.get(STRICT_ENV, "").strip() != "warn":  # tight_layout could not make room: broken
    warnings.filterwarnings("error", category=UserWarning,
                            message=r".*([Tt]ight[ _]layout|constrained_layout|Glyph \d+ .*missing).*")


def unnest(text: str) -> str:
    """No parentheses inside parentheses: an inner group joins the outer one after a comma,
    ``"accuracy (FGSM (report))"`` -> ``"accuracy (FGSM, report)"``."""
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
            if depth > 1:
                while out and out[-1] == " ":
                    out.pop()
                out.append(", ")
                continue
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth >= 1:
                continue
        out.append(ch)
    return "".join(out)


def unnest_texts(fig: plt.Figure) -> None:
    """:func:`unnest` every title, label and legend entry of ``fig`` (what readers see as prose)."""
    texts = [t for _, t in _texts(fig)] + [t for lg in _legends(fig) for t in lg.get_texts()]
    texts += [lg.get_title() for lg in _legends(fig)]
    for t in texts:
        fixed = unnest(t.get_text())
        if fixed != t.get_text():
            t.set_text(fixed)


def wrap(text: str, width_in: float, fontsize: float | None = None) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` points (default:
    the title size), for titles longer than their panel or figure."""
    import textwrap

    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=fontsize or plt.rcParams["axes.titlesize"]).get_size_in_points()
    return textwrap.fill(text, max(12, int(width_in * 72 / (0.6 * size))))


def _texts(fig: plt.Figure):
    """(description, Text artist) of every visible, non-empty text of ``fig``, legends apart."""
    out = []
    if fig._suptitle is not None:
        out.append(("suptitle", fig._suptitle))
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        where = f"panel {i + 1}"
        for name, text in (("title", ax.title), ("left title", ax._left_title), ("right title", ax._right_title),
                           ("x label", ax.xaxis.label), ("y label", ax.yaxis.label)):
            out.append((f"{where} {name}", text))
        if ax.axison and ax.xaxis.get_visible():
            out += [(f"{where} x tick", t) for t in ax.get_xticklabels()
                    if _in_view(t.get_position()[0], ax.get_xlim())]
        if ax.axison and ax.yaxis.get_visible():
            out += [(f"{where} y tick", t) for t in ax.get_yticklabels()
                    if _in_view(t.get_position()[1], ax.get_ylim())]
        out += [(f"{where} text", t) for t in ax.texts]
    out += [("figure text", t) for t in fig.texts if t is not fig._suptitle]
    return [(d, t) for d, t in out if t.get_visible() and t.get_text().strip()]


def _in_view(value: float, limits: tuple[float, float]) -> bool:
    """A tick at ``value`` is drawn only inside the axis' view limits (labels outside are kept, unseen)."""
    low, high = sorted(limits)
    tol = 1e-9 * max(abs(low), abs(high), 1.0)
    return low - tol <= value <= high + tol


def _legends(fig: plt.Figure):
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    return [lg for lg in legends if lg is not None and lg.get_visible()]


def readability(fig: plt.Figure) -> list[str]:
    """What makes ``fig`` hard to read at the size it is saved: legend text under
    :data:`MIN_LEGEND_PT`, other text under :data:`MIN_TEXT_PT`, and texts (titles, labels,
    tick labels, legends) that overlap one another. Empty when none."""
    fig.canvas.draw()  # tick labels and layout are settled by a draw
    renderer = fig.canvas.get_renderer()
    width = fig.get_tightbbox(renderer).width if fig.get_tightbbox(renderer) is not None else fig.get_figwidth()
    scale = min(1.0, SHOWN_WIDTH_IN / max(width, 1e-3))   # a wider figure is shown smaller
    shrunk = f" when the {width:.1f} in wide figure is shown {SHOWN_WIDTH_IN:g} in wide" if scale < 1 else ""
    problems = []
    for lg in _legends(fig):
        small = sorted({round(t.get_fontsize() * scale, 1) for t in lg.get_texts()
                        if t.get_fontsize() * scale < MIN_LEGEND_PT})
        if small:
            problems.append(f"legend text of {small[0]:g} pt{shrunk} (at least {MIN_LEGEND_PT:g})")
    texts = _texts(fig)
    small = sorted({(round(t.get_fontsize() * scale, 1), d) for d, t in texts
                    if t.get_fontsize() * scale < MIN_TEXT_PT})
    if small:
        problems.append(f"{small[0][1]} of {small[0][0]:g} pt{shrunk} (at least {MIN_TEXT_PT:g})")
    boxes = [(d, t.get_text(), t.get_window_extent(renderer)) for d, t in texts]
    boxes += [(f"legend {i + 1}", "", lg.get_window_extent(renderer)) for i, lg in enumerate(_legends(fig))]
    for i, (d1, s1, b1) in enumerate(boxes):
        for d2, s2, b2 in boxes[i + 1:]:
            overlap_w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
            overlap_h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
            smaller = max(1.0, min(b1.width * b1.height, b2.width * b2.height))
            # Corners that touch (a first x tick and a first y tick) are fine; covering text is not.
            if overlap_w > 1.5 and overlap_h > 1.5 and overlap_w * overlap_h > 0.15 * smaller:
                problems.append(f"{d1} {s1!r} overlaps {d2} {s2!r}".replace(" ''", ""))
    return problems
