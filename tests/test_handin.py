"""make handin: the bundle's layout, and its refusals."""
from __future__ import annotations

import zipfile

import nbformat
import pytest

from lib import handin
from lib.params import ConfigError


def _fake_run(root, report):
    folder = root / report
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {report}"),
                                         nbformat.v4.new_code_cell("1 + 1")])
    nbformat.write(nb, folder / f"{report}.ipynb")
    (folder / "table1.csv").write_text("a,b\n1,2\n")
    (folder / "table1.tex").write_text("\\begin{tabular}{ll}\\end{tabular}\n")
    (folder / "table1.md").write_text("| a |\n")
    (folder / "figure1.png").write_bytes(b"\x89PNG fake")


def test_bundle_holds_html_tables_figures_and_an_index(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    for report in ("r1", "r2"):
        _fake_run(tmp_path / "quick", report)
    folder, zipped = handin.build("quick", ["r1", "r2"])
    assert (folder / "index.html").exists() and "r2/r2.html" in (folder / "index.html").read_text()
    assert "r1" in (folder / "r1" / "r1.html").read_text()
    assert sorted(p.name for p in (folder / "r1" / "tables").iterdir()) == ["table1.csv", "table1.tex"]
    assert [p.name for p in (folder / "r1" / "figures").iterdir()] == ["figure1.png"]
    names = zipfile.ZipFile(zipped).namelist()
    assert "handin/index.html" in names and "handin/r2/tables/table1.tex" in names
    assert not list((tmp_path / "quick").glob(".*")), "no staging or temporary files left"


def test_refuses_a_report_not_run_or_failed_and_keeps_the_previous_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    _fake_run(tmp_path / "quick", "r1")
    folder, zipped = handin.build("quick", ["r1"])
    before = zipped.read_bytes()
    with pytest.raises(ConfigError, match="r2: not run in the quick profile: run make reproduce PROFILE=quick"):
        handin.build("quick", ["r1", "r2"])
    (tmp_path / "quick" / "r1.failed.ipynb").write_text("{}")
    with pytest.raises(ConfigError, match="r1: its last run failed"):
        handin.build("quick", ["r1"])
    assert zipped.read_bytes() == before and (folder / "index.html").exists()


def test_command_line_says_what_is_missing_without_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    assert handin.main(["--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "cannot hand in the quick profile" in err and "Traceback" not in err
    assert handin.main(["--profile", "nope"]) == 2
    assert "unknown profile" in capsys.readouterr().err
