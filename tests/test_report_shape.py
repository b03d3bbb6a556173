"""The one shape of a report package (lib.reports.base): the four functions, a typed Run, and
finish() writing the claims, observations and summary files from them."""
from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pandas as pd
import pytest

from lib import summary, verdicts
from lib.reports import base


@pytest.mark.parametrize("report", base.CONVERTED)
def test_converted_packages_have_the_shape(report):
    assert base.problems(f"lib.reports.{report}") == []


def test_problems_names_what_is_missing():
    @dataclasses.dataclass
    class Run:
        state: dict
        loose: dict[str, object]

    pkg = types.ModuleType("lib.reports.fake_shape")
    pkg.Run, pkg.claims = Run, lambda run: []
    found = base.problems(pkg)
    assert "missing function observations" in found and "missing function closing_note" in found
    assert any("Run.state" in p for p in found) and any("Run.loose" in p for p in found)


@pytest.fixture
def fake_package(monkeypatch):
    """A package in the shape, registered under lib.reports.fake_report, quoting a made-up text."""
    @dataclasses.dataclass
    class Run:
        a: np.ndarray
        b: np.ndarray

    pkg = types.ModuleType("lib.reports.fake_report")
    ref = types.ModuleType("lib.reports.fake_report.reference")
    ref.FILE = "fake.txt"
    quote = verdicts.Quote("D", "A is clearly better than B.")

    def claims(run):
        return [verdicts.Claim(report="fake_report", id="a_better", quote=quote.text, section=quote.section,
                               kind=verdicts.SUPERIORITY, comparison=verdicts.Comparison(("A", "B")),
                               data=verdicts.Paired(run.a, run.b), table="t.csv")]

    pkg.Run, pkg.claims = Run, claims
    pkg.observations = lambda run: [verdicts.Observation("fake_report", "o", "Table 1", "caption is wrong")]
    pkg.summary_rows = lambda run: [summary.defense_row(report="fake_report", dataset="d", norm="2", eps=0.1,
                                                        defense="A", baseline="B", n=len(run.a),
                                                        clean_correct=int(run.a.sum()), report_attack_robust=None,
                                                        worst_robust=None)]
    pkg.closing_note = lambda run: "\n".join(base.verdict_lines(verdicts.judge(claims(run))))
    monkeypatch.setitem(sys.modules, pkg.__name__, pkg)
    monkeypatch.setitem(sys.modules, ref.__name__, ref)
    return pkg, Run(np.array([True] * 40 + [False] * 60), np.array([True] * 5 + [False] * 95))


def test_finish_writes_every_table_and_checks_the_quotes(fake_package, tmp_path, monkeypatch):
    pkg, run = fake_package
    monkeypatch.setenv("ADV_REPORTS_DIR", str(tmp_path / "texts"))
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "fake.txt").write_text("We find that\nA is  clearly better than B. The end.")
    assert base.problems(pkg) == []
    done = base.finish(pkg, run, tmp_path / "out", title="test")
    names = {p.name for p in done.files}
    assert {"verdicts.csv", "verdicts.md", "verdicts.tex", "observations.csv", "closing_note.md",
            summary.CLAIMS_FILE, summary.OBSERVATIONS_FILE, summary.DEFENSES_FILE} <= names
    assert done.claims[0].verdict == verdicts.HOLDS and "exact McNemar" in done.note
    shown = done.shown()
    assert shown.loc[0, "quote"] == "A is clearly better than B." and shown.loc[0, "verdict"] == verdicts.HOLDS
    written = pd.read_csv(tmp_path / "out" / summary.CLAIMS_FILE)
    assert written.loc[0, "quote"] == "A is clearly better than B." and written.loc[0, "p_holm"] < 0.05
    (tmp_path / "texts" / "fake.txt").write_text("A text that says something else.")
    with pytest.raises(ValueError, match="a_better"):
        base.finish(pkg, run, tmp_path / "out2", title="test")
    assert not (tmp_path / "out2" / "verdicts.csv").exists(), "nothing written for a misquoted report"


@pytest.mark.parametrize("report", base.CONVERTED)
def test_converted_notebooks_are_narrated_calls(report):
    """No code cell over 25 lines; the verdicts come from lib (the notebook calls base.finish and
    builds no claims row by row)."""
    import jupytext

    from lib import runner

    nb = jupytext.read(runner.profiles.NOTEBOOK_DIR / f"{report}.py")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    long = [(i, len(src.splitlines())) for i, src in enumerate(code) if len(src.splitlines()) > 25]
    assert not long, f"code cells over 25 lines (index, lines): {long}"
    text = "\n".join(code)
    assert "base.finish(" in text and "claim_row(" not in text and "Claim(" not in text


def test_no_module_of_lib_is_over_500_lines():
    from lib import runtime

    long = {str(p.relative_to(runtime.REPO_ROOT)): n for p in sorted((runtime.REPO_ROOT / "lib").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"split these modules (at most 500 lines each): {long}"
