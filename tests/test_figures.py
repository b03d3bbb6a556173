"""Figures readable at the size they are shown (lib.readable, lib.plots): the checks find small
legends, overlapping text and shrunken wide figures; the study's own helpers pass them."""
from __future__ import annotations

import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lib import plots, readable, runtime


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_a_plain_figure_passes_and_a_small_legend_fails():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set(title="A title", xlabel="x", ylabel="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    assert readable.readability(fig) == []
    ax.legend(fontsize=6)
    assert any("legend text of 6 pt" in p for p in readable.readability(fig))


def test_a_wide_figure_is_judged_at_the_size_it_is_shown():
    fig, axes = plt.subplots(1, 4, figsize=(17, 3))
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="line")
        ax.legend(fontsize=9)
    fig.tight_layout()
    problems = readable.readability(fig)
    assert any("wide figure is shown 10.5 in wide" in p and "legend" in p for p in problems), problems


def test_overlapping_text_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "first label", fontsize=10)
    ax.text(0.5, 0.5, "second label", fontsize=10)
    problems = readable.readability(fig)
    assert any("overlaps" in p and "first label" in p for p in problems), problems


def test_crowded_tick_labels_are_found():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xticks(range(20), [f"category {i}" for i in range(20)])
    assert any("x tick" in p and "overlaps" in p for p in readable.readability(fig))


@pytest.mark.parametrize("text,expected", [
    ("accuracy (FGSM (report))", "accuracy (FGSM, report)"),
    ("PGD (margin) at eps 0.1 (worst eps (0.3))", "PGD (margin) at eps 0.1 (worst eps, 0.3)"),
    ("no parentheses", "no parentheses"),
])
def test_parentheses_do_not_nest(text, expected):
    assert readable.unnest(text) == expected


def test_save_unnests_titles(tmp_path):
    fig, ax = plt.subplots()
    ax.set_title("Figure 7 (PuVAE (report))")
    plots.save(fig, tmp_path / "f.png")
    assert ax.get_title() == "Figure 7 (PuVAE, report)"


def test_epoch_axes_have_integer_ticks_and_a_single_epoch_is_centred():
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([1, 2, 3], [3, 2, 1])
    plots.epoch_axis(a, [1, 2, 3])
    b.plot([1], [1], marker="o")
    plots.epoch_axis(b, [1])
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in a.get_xticks())
    assert list(b.get_xticks()) == [1] and b.get_xlim() == (0, 2)


def test_summary_figure_labels_points_on_top_of_each_other_apart():
    rows = []
    for name in ("PuVAE", "PuVAE + detector", "base model"):
        rows.append(dict(dataset="mnist", norm="inf", eps=0.3, defense=name, clean=0.5, clean_low=0.4,
                         clean_high=0.6, worst=0.2, worst_low=0.1, worst_high=0.3, report_clean=np.nan,
                         report_robust=np.nan))
    rows.append(dict(rows[0], norm=float("inf"), eps=0.1, report_clean=0.9, report_robust=0.8))
    fig = plots.clean_vs_robust(pd.DataFrame(rows), title="Clean vs worst-case robust accuracy (smoke profile)")
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() in ("1", "2", "3")]
    assert len(labels) == 3 and len({t.get_position() for t in labels}) == 3, "each coinciding point has its label"
    assert [t.get_text() for t in fig.legends[0].get_texts()][:3] == ["1  PuVAE", "2  PuVAE + detector",
                                                                      "3  base model"]
    assert fig.axes[1].get_title() == "mnist, L-inf eps 0.1"
    assert readable.readability(fig) == []


def test_coinciding_curves_are_named():
    fig, ax = plt.subplots()
    plots.note_coinciding(ax, {"FGSM": [0, 0, 0], "BIM": [0, 0, 0], "PGD": [0, 5, 9]})
    assert any("FGSM and BIM coincide (all at 0 %)" in t.get_text() for t in ax.texts)


def test_strict_mode_turns_layout_warnings_into_errors_and_refuses_unreadable_figures(tmp_path):
    code = ("import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
            "from lib import plots\n"
            "fig, ax = plt.subplots(figsize=(5, 3)); ax.plot([0, 1]); ax.legend(['x'], fontsize=5)\n"
            "try:\n    plots.save(fig, {out!r})\n"
            "except plots.readable.FigureUnreadable as e:\n    print('REFUSED', e)\n"
            "fig, axes = plt.subplots(30, 1, figsize=(2, 1.5))\n"
            "try:\n    fig.tight_layout()\nexcept UserWarning as e:\n    print('ERROR', e)\n")
    env = dict(os.environ, ADV_STRICT_FIGURES="1")
    proc = subprocess.run([sys.executable, "-c", code.format(out=str(tmp_path / "f.png"))], cwd=runtime.REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert "REFUSED f.png: legend text of 5 pt" in proc.stdout, proc.stdout + proc.stderr
    assert "ERROR" in proc.stdout and "ight" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "f.png").exists()
