"""make handin: the bundle's layout and pages, its refusals (runs that do not match, files
that are not results), and what it does with hostile notebook outputs."""
from __future__ import annotations

import os
import shutil
import subprocess
import zipfile

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest

from lib import handin, plots, provenance, tables
from lib.params import ConfigError

VERDICT = "does not hold"
LONG = "a sentence well over fifty characters long that pandas would cut to three dots " * 2


def _fake_run(root, report, *, run_id=None, params=None, outputs=None, claims=True):
    """A report folder as make reproduce leaves it: executed notebook, tables, a figure, sealed."""
    folder = root / report
    folder.mkdir(parents=True)
    stamp = {"run_id": run_id or provenance.new_run_id(), "report": report, "profile": root.name,
             "parameters": params or {"seed": 0}, "commit": "abc123", "dirty": False, "date": provenance.now(),
             "launched_by": "make reproduce", "device": "cpu (x86_64, 2 threads)", "precision": "fp32",
             "versions": {"torch": "2.x"}}
    injected = nbformat.v4.new_code_cell("profile = 'quick'\noverrides = {}  # INJECTED")
    injected.metadata["tags"] = ["injected-parameters"]
    table = pd.DataFrame({"claim": [LONG], "verdict": [VERDICT], "accuracy": [0.5]})
    with pd.option_context("display.max_colwidth", None):
        html_table = table.to_html()
    code = nbformat.v4.new_code_cell("table", outputs=outputs if outputs is not None else [
        nbformat.v4.new_output("display_data", data={"text/html": html_table, "text/plain": "table"})])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(""), nbformat.v4.new_markdown_cell(f"# {report}"),
                                         injected, code])
    nb.metadata[provenance.KEY] = stamp
    nbformat.write(nb, folder / f"{report}.ipynb")
    tables.save_table(table, folder / "table1", caption="Claims & verdicts")
    if claims:
        pd.DataFrame({"report": [report], "claim": [LONG], "verdict": [VERDICT],
                      "evidence": ["table1.csv: 12 vs 30 of 100, McNemar p = 0.01"]}).to_csv(
            folder / handin.REPORT_CLAIMS, index=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plots.save(fig, folder / "figure1.png")
    plt.close(fig)
    provenance.seal(folder, stamp)
    return stamp


@pytest.fixture
def quick(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    return tmp_path / "quick"


def test_bundle_holds_pages_tables_figures_and_an_index(quick):
    for report in ("r1", "r2"):
        _fake_run(quick, report)
    folder, zipped = handin.build("quick", ["r1", "r2"])
    index = (folder / "index.html").read_text()
    assert "r2/r2.html" in index and "Every claim and our verdict (2)" in index and LONG.strip() in index
    assert "1 does not hold" in index and "abc123" in index, "verdict counts and provenance on the index"
    assert sorted(p.name for p in (folder / "r1" / "tables").iterdir()) == ["all_tables.tex", "summary_claims.csv",
                                                                             "table1.csv", "table1.tex"]
    assert [p.name for p in (folder / "r1" / "figures").iterdir()] == ["figure1.png"]
    names = zipfile.ZipFile(zipped).namelist()
    assert "handin/index.html" in names and "handin/r2/tables/table1.tex" in names
    assert not list(quick.glob(".*")), "no staging or temporary files left"


def test_a_report_page_is_titled_hides_code_and_shows_tables_whole(quick):
    stamp = _fake_run(quick, "r1")
    folder, _ = handin.build("quick", ["r1"])
    page = (folder / "r1" / "r1.html").read_text()
    assert "<title>r1</title>" in page and "Notebook</title>" not in page
    assert "INJECTED" not in page, "papermill's injected cell is not shown"
    assert "id=\"hi-show-code\"" in page and ".jp-CodeCell .jp-Cell-inputWrapper, " in page
    body = page[page.index("<main"):]
    assert LONG.strip() in body and "..." not in body
    assert "verdict v-fails" in page and "txt" in page, "verdicts coloured, prose left-aligned"
    assert stamp["run_id"] in page and page.index(stamp["run_id"]) < page.index("<main")
    assert "<script" not in page


def test_refuses_a_report_not_run_or_failed_and_keeps_the_previous_bundle(quick):
    _fake_run(quick, "r1")
    folder, zipped = handin.build("quick", ["r1"])
    before = zipped.read_bytes()
    with pytest.raises(ConfigError, match="r2: not run in the quick profile: run make reproduce PROFILE=quick"):
        handin.build("quick", ["r1", "r2"])
    (quick / "r1.failed.ipynb").write_text("{}")
    with pytest.raises(ConfigError, match="r1: its last run failed"):
        handin.build("quick", ["r1"])
    assert zipped.read_bytes() == before and (folder / "index.html").exists()


def test_refuses_a_notebook_of_another_run_naming_the_runs_and_parameters(quick):
    _fake_run(quick, "r1", run_id="run-A", params={"eps": [0, 0.1, 0.2, 0.3]})
    other = quick.parent / "other"
    _fake_run(other, "r1", run_id="run-B", params={"eps": [0, 0.1, 0.2]})
    shutil.copyfile(other / "r1" / "r1.ipynb", quick / "r1" / "r1.ipynb")   # a plain papermill run's output
    with pytest.raises(ConfigError) as err:
        handin.build("quick", ["r1"])
    message = str(err.value)
    assert "r1.ipynb is from run run-B" in message and "tables and figures are from run run-A" in message
    assert "eps [0, 0.1, 0.2] vs [0, 0.1, 0.2, 0.3]" in message
    assert "make reproduce PROFILE=quick REPORTS=r1" in message


def test_refuses_a_table_changed_or_added_after_the_run(quick):
    _fake_run(quick, "r1", run_id="run-A")
    (quick / "r1" / "table1.csv").write_text("claim,verdict\nx,holds\n")
    (quick / "r1" / "extra.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError) as err:
        handin.build("quick", ["r1"])
    assert "table1.csv changed after run run-A" in str(err.value)
    assert "extra.csv was not written by run run-A" in str(err.value)


def test_refuses_a_summary_made_from_other_runs_of_the_reports(quick):
    _fake_run(quick, "r1", run_id="run-A")
    stamp = _fake_run(quick, "study_summary", run_id="run-S", claims=False)
    stamp["inputs"] = {"r1": "run-OLD"}
    provenance.seal(quick / "study_summary", stamp)
    with pytest.raises(ConfigError, match=r"study_summary: it was made from other runs of r1 \(it read run run-OLD, "
                                          r"now run-A\)"):
        handin.build("quick", ["r1", "study_summary"])


def test_hostile_outputs_are_sanitised_and_only_regular_files_inside_are_packed(quick, tmp_path):
    hostile = [nbformat.v4.new_output("display_data", data={
        "text/html": "<b>bold</b><script>alert('x')</script><img src=x onerror=alert(1)>"
                     "<a href='javascript:alert(2)'>link</a><table><tr><td onclick='evil()'>holds</td></tr></table>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(3)"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "<script>alert(4)</script>\n\n**md**"})]
    stamp = _fake_run(quick, "r1", outputs=hostile)
    secret = tmp_path / "secret.csv"
    secret.write_text("password\n")
    os.symlink(secret, quick / "r1" / "secrets.csv")
    provenance.seal(quick / "r1", stamp)   # even a sealed symlink is not a result
    folder, zipped = handin.build("quick", ["r1"])
    page = (folder / "r1" / "r1.html").read_text()
    for bad in ("<script", "onerror", "javascript:", "onclick", "alert(3)"):
        assert bad not in page, bad
    assert "<b>bold</b>" in page and "<strong>md</strong>" in page and "v-holds" in page
    names = zipfile.ZipFile(zipped).namelist()
    assert not any("secrets" in n for n in names) and not (folder / "r1" / "tables" / "secrets.csv").exists()


def test_a_truncated_notebook_is_refused_with_a_message_not_a_traceback(quick, capsys):
    _fake_run(quick, "r1")
    path = quick / "r1" / "r1.ipynb"
    path.write_bytes(path.read_bytes()[:200])
    assert handin.main(["--profile", "quick", "--reports", "r1"]) == 2
    err = capsys.readouterr().err
    assert "executed notebook" in err and "cannot be read" in err and "truncated" in err
    assert "Traceback" not in err


def test_command_line_says_what_is_missing_without_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    assert handin.main(["--profile", "quick"]) == 2
    err = capsys.readouterr().err
    assert "cannot hand in the quick profile" in err and "Traceback" not in err
    assert handin.main(["--profile", "nope"]) == 2
    assert "unknown profile" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (make installs "
                    "texlive-latex-base and -recommended where it can, as root)")
def test_bundled_latex_tables_compile_without_running_off_the_page(quick):
    _fake_run(quick, "r1")
    folder, _ = handin.build("quick", ["r1"])
    tex_dir = folder / "r1" / "tables"
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "all_tables.tex"],
                          cwd=tex_dir, capture_output=True, text=True, timeout=120)
    log = (tex_dir / "all_tables.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log, log[log.index("Overfull"):][:500]
