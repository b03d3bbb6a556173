"""lib.report and lib.plots: tables in three formats, comparisons, atomic figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from lib import plots, tables


def test_save_table_writes_three_formats(tmp_path):
    table = pd.DataFrame({"attack": ["FGSM", "PGD"], "accuracy": [0.123456, 0.5]})
    paths = tables.save_table(table, tmp_path / "t1", caption="Accuracy")
    assert sorted(p.suffix for p in paths.values()) == [".csv", ".md", ".tex"]
    assert pd.read_csv(paths["csv"])["accuracy"].tolist() == [0.123456, 0.5]
    md = paths["md"].read_text()
    assert "| FGSM" in md and "0.1235" in md and "Accuracy" in md
    assert "\\begin{table}" in paths["tex"].read_text()


def test_compare_puts_report_beside_ours():
    table = tables.compare({"clean": (87.75, 85.0), "PGD eps 0.01": (12.47, None)})
    assert table.columns.tolist() == ["quantity", "report", "ours", "difference", "unit"]
    assert table["difference"].iloc[0] == pytest.approx(-2.75)
    assert pd.isna(table["difference"].iloc[1])


def test_failed_figure_save_leaves_no_file(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])

    def broken(path, **kw):
        open(path, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(OSError):
        plots.save(fig, tmp_path / "figure.png")
    assert list(tmp_path.iterdir()) == []
    plt.close(fig)


def test_figures_render(tmp_path, small_model, eval_batch):
    x, y = eval_batch
    fig = plots.adversarial_grid(small_model, x[:2], (x[:2] + 0.1).clamp(0, 1), y[:2], [str(i) for i in range(10)])
    assert plots.save(fig, tmp_path / "grid.png").stat().st_size > 1000
    results = pd.DataFrame({"attack": ["A"] * 3, "eps": [0, .1, .2], "accuracy": [1, .5, .1]})
    reference = pd.DataFrame({"attack": ["A"] * 2, "eps": [.1, .2], "accuracy": [.6, .2]})
    fig = plots.accuracy_vs_eps(results, reference=reference, chance=0.1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "A (report)" in labels and "chance" in labels
    plt.close("all")


def test_save_and_show_writes_the_three_files_and_shows_the_caption(tmp_path, monkeypatch):
    import IPython.display

    from lib import tables

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    out = tables.save_and_show(pd.DataFrame({"a": [1.0]}), tmp_path / "t", caption="Cap.", note="3 of 3.")
    assert sorted(p.suffix for p in out.values()) == [".csv", ".md", ".tex"]
    assert shown == ["**Cap.** 3 of 3."]
