"""A result is a pure function of its key (issue 19, item 1): the library tour under the smoke
profile gives the same bytes in every CSV whether it runs cold, fully warm, with only the trained
model cached, or resumed after a kill.

The notebook's cells run in a fresh Python process per run (as papermill's kernel would, with
the parameters injected after the tagged cell and the working directory notebooks/), which
costs a few seconds instead of a kernel start; a real SIGKILL interrupts one run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib import profiles, runtime

REPORT = "library_tour"
# Smaller than smoke where it costs time, but every number still moves with the random starts.
OVERRIDES = {"eps": [0.0, 0.03, 0.05, 0.1], "n_cw": 20, "cw_steps": 20}

DRIVER = r"""
import json, sys
import nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
ns = {"display": lambda *a, **k: None, "__name__": "__main__"}
for cell in nb.cells:
    if cell.cell_type == "code":
        exec(compile(cell.source, "<cell>", "exec"), ns)
        if "parameters" in cell.metadata.get("tags", []):
            ns.update(json.loads(sys.argv[2]))
"""


def _start(checkpoints: Path, figures: Path) -> subprocess.Popen:
    env = dict(os.environ, ADV_CHECKPOINT_DIR=str(checkpoints), ADV_FIGURES_DIR=str(figures),
               ADV_PROGRESS="0", MPLBACKEND="Agg", PYTHONPATH=str(profiles.NOTEBOOK_DIR.parent))
    env.pop("ADV_OUTPUT_DIR", None)
    params = json.dumps({"profile": "smoke", "overrides": OVERRIDES})
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(profiles.NOTEBOOK_DIR / f"{REPORT}.ipynb"), params],
                            cwd=profiles.NOTEBOOK_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _run(checkpoints: Path, figures: Path) -> dict[str, bytes]:
    proc = _start(checkpoints, figures)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode()[-3000:]
    # Run outside the runner, the notebook writes into the scratch folder (runtime.SCRATCH).
    return {p.name: p.read_bytes() for p in sorted((figures / "smoke" / runtime.SCRATCH / REPORT).glob("*.csv"))}


@pytest.mark.notebook
def test_cold_warm_partly_warm_and_resumed_runs_give_the_same_bytes(tmp_path):
    ck = tmp_path / "ck"
    cold = _run(ck, tmp_path / "cold")
    assert {"robust_accuracy.csv", "accuracy_distortion_cw.csv", "sanity_checks.csv"} <= set(cold)

    assert _run(ck, tmp_path / "warm") == cold                      # everything cached

    partly = tmp_path / "ck-partly"                                 # the model cached, no results
    shutil.copytree(ck, partly)
    shutil.rmtree(partly / "results")
    assert _run(partly, tmp_path / "partly") == cold

    resumed = tmp_path / "ck-resumed"                               # killed after its first result
    proc = _start(resumed, tmp_path / "killed")
    deadline = time.monotonic() + 300
    while not list((resumed / "results").glob("*.pt")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert len(list((resumed / "results").glob("*.pt"))) < len(list((ck / "results").glob("*.pt")))
    assert _run(resumed, tmp_path / "resumed") == cold
