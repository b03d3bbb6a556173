"""Every notebook end to end under the smoke profile: papermill, then nbval-lax on the result."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from lib import provenance, runner, runtime


@pytest.mark.notebook
@pytest.mark.parametrize("report", runner.available())
def test_notebook_runs_under_smoke(report, tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path / "figures"))
    # Every figure is checked as it is saved (lib.readable): legends >= 8 pt, no overlapping text,
    # and matplotlib's tight-layout warnings are errors.
    monkeypatch.setenv("ADV_STRICT_FIGURES", "1")
    executed = runner.run_one(report, "smoke", {})
    assert executed == tmp_path / "figures" / "smoke" / report / f"{report}.ipynb"
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    stamp = provenance.read(executed.parent)   # one run: the notebook's stamp seals its outputs
    assert stamp and nb.metadata[provenance.KEY]["run_id"] == stamp["run_id"] and executed.name in stamp["files"]
    outputs = {p.suffix for p in executed.parent.iterdir()}
    assert ".png" in outputs and {".csv", ".md"} <= outputs, "figures and tables are saved"
    assert not list(executed.parent.glob(".*")), "no temporary files left behind"

    # nbval-lax re-runs the executed copy (smoke parameters are injected in it) and fails on
    # any cell error; checkpoints are cached by now, so this second pass is cheaper.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env",
                           "-p", "no:cacheprovider", str(executed)],
                          cwd=runtime.REPO_ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("script", sorted(runner.profiles.NOTEBOOK_DIR.glob("*.py")), ids=lambda p: p.stem)
def test_each_script_and_its_notebook_say_the_same(script):
    """notebooks/<id>.py is the source; its .ipynb twin must hold the same cells (`make notebooks`)."""
    import jupytext

    twin = script.with_suffix(".ipynb")
    assert twin.exists(), f"{twin.name} is missing: run `make notebooks`"
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    drift = [i for i, (a, b) in enumerate(zip(cells(jupytext.read(script)), cells(jupytext.read(twin))))
             if a != b]
    assert not drift and len(jupytext.read(script).cells) == len(jupytext.read(twin).cells), \
        f"{script.name} and {twin.name} have drifted (cells {drift[:5]}): run `make notebooks`"


def test_source_notebooks_are_committed_without_outputs():
    for path in sorted(runner.profiles.NOTEBOOK_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            (f"{path.name} holds outputs (saved by an editor without the lab's pre-save hook): run `make notebooks`, "
             "which syncs the pair and strips them")
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
