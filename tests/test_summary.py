"""lib.summary: what each report notebook hands to the study summary, written and read back."""
from __future__ import annotations

import math

import pytest

from lib import stats, summary


def _rows():
    return [summary.defense_row(report="r", dataset="mnist", norm="inf", eps=0.3, defense="d", baseline="b",
                                n=200, clean_correct=180, report_attack_robust=40, report_attack_n=400,
                                worst_robust=10, report_robust=0.9, report_attack="PGD, Table 3"),
            summary.defense_row(report="r", dataset="mnist", norm="2", eps=0.5, defense="b", baseline="b",
                                n=200, clean_correct=190, report_attack_robust=None, worst_robust=None)]


def test_rows_carry_counts_as_fractions_with_exact_intervals():
    row = _rows()[0]
    assert row["clean"] == 0.9 and row["worst"] == 0.05 and row["ours_report_attack"] == 0.1
    assert (row["clean_low"], row["clean_high"]) == pytest.approx(stats.clopper_pearson(180, 200))
    assert math.isnan(_rows()[1]["worst"]) and math.isnan(_rows()[1]["report_robust"])


@pytest.mark.parametrize("kw, match", [
    (dict(n=0), "n must be"), (dict(norm="l1"), "norm"), (dict(clean_correct=201), "clean_correct"),
    (dict(report_robust=90.0), "not a percentage"), (dict(worst_robust=True), "worst_robust"),
])
def test_bad_rows_fail_with_a_clear_message(kw, match):
    args = dict(report="r", dataset="mnist", norm="inf", eps=0.3, defense="d", baseline="b", n=200,
                clean_correct=100, report_attack_robust=None, worst_robust=None)
    with pytest.raises(ValueError, match=match):
        summary.defense_row(**{**args, **kw})


def test_claims_need_a_known_verdict():
    assert summary.claim_row(report="r", claim="c", verdict=stats.HOLDS)["verdict"] == stats.HOLDS
    with pytest.raises(ValueError, match="verdict"):
        summary.claim_row(report="r", claim="c", verdict="true")


def test_written_files_read_back_the_same_and_missing_reports_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    summary.write(tmp_path / "quick" / "r", _rows(), [summary.claim_row(report="r", claim="c", verdict=stats.FAILS)])
    defenses, claims, missing = summary.read("quick", ["r", "other"])
    assert missing == ["other"]
    assert list(defenses["norm"]) == ["inf", "2"], "norm stays text ('inf' is not a float)"
    assert defenses["worst"].iloc[0] == 0.05 and math.isnan(defenses["worst"].iloc[1])
    assert claims["verdict"].tolist() == [stats.FAILS]
    assert not list((tmp_path / "quick" / "r").glob(".*")), "no temporary files left"


def test_judged_claims_and_observations_round_trip_beside_legacy_rows(tmp_path, monkeypatch):
    """A converted report writes the full claim columns and its observations; a report not yet
    converted writes claim_row()s; read() gives both the same columns."""
    import numpy as np

    from lib import verdicts

    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    a, b = np.array([True] * 30 + [False] * 70), np.array([True] * 5 + [False] * 95)
    judged = verdicts.judge([verdicts.Claim(report="new", id="x", quote="A beats B.", section="D",
                                            kind=verdicts.SUPERIORITY, comparison=verdicts.Comparison(("A", "B")),
                                            data=verdicts.Paired(a, b))])
    obs = [verdicts.Observation("new", "o", "Table 2", "its caption names the wrong model")]
    summary.write(tmp_path / "quick" / "new", _rows(), summary.claim_rows(judged), obs)
    summary.write(tmp_path / "quick" / "old", _rows(), [summary.claim_row(report="old", claim="c",
                                                                          verdict=stats.UNJUDGED)])
    _, claims, missing = summary.read("quick", ["new", "old"])
    assert not missing and list(claims.columns) == summary.CLAIM_COLUMNS
    new, old = claims.iloc[0], claims.iloc[1]
    assert new["quote"] == "A beats B." and new["kind"] == verdicts.SUPERIORITY and new["p_holm"] < 0.05
    assert new["interval"].startswith("+25.0") and new["verdict"] == stats.HOLDS
    assert old["kind"] == "" and math.isnan(old["p_raw"]) and old["claim"] == "c"
    observations = summary.read_observations("quick", ["new", "old"])
    assert observations["what"].tolist() == ["its caption names the wrong model"]
    # A claims file of the old five columns (written before this change) still reads.
    (tmp_path / "quick" / "old" / summary.CLAIMS_FILE).write_text("report,claim,verdict,interval,evidence\n"
                                                                  "old,c,holds,,t.csv\n")
    _, claims, _ = summary.read("quick", ["old"])
    assert claims.loc[0, "verdict"] == stats.HOLDS and list(claims.columns) == summary.CLAIM_COLUMNS


def test_study_summary_shows_quotes_study_wide_holm_and_observations(tmp_path, monkeypatch):
    """Two reports with one borderline claim each (p ~ 0.03): each holds within its report, neither
    under one Holm correction over the study; a report not yet converted shows its paraphrase."""
    import numpy as np

    from lib import verdicts
    from lib.reports.study_summary import summary as study

    monkeypatch.setenv("ADV_FIGURES_DIR", str(tmp_path))
    a = np.array([True] * 76 + [False] * 124)
    b = np.array([True] * 60 + [False] * 16 + [True] * 5 + [False] * 119)
    for report in ("r1", "r2"):
        judged = verdicts.judge([verdicts.Claim(report=report, id="x", quote=f"{report} says A beats B.", section="D",
                                                kind=verdicts.SUPERIORITY, comparison=verdicts.Comparison(("A", "B")),
                                                data=verdicts.Paired(a, b))])
        assert judged[0].verdict == stats.HOLDS and 0.01 < judged[0].p_raw < 0.05
        summary.write(tmp_path / "quick" / report, _rows(), summary.claim_rows(judged),
                      [verdicts.Observation(report, "o", "Table 1", f"{report}'s caption is wrong")])
    summary.write(tmp_path / "quick" / "old", _rows(), [summary.claim_row(report="old", claim="c", verdict=stats.FAILS,
                                                                          interval="ours 10 %")])
    _, claims, problems = study.gather("quick", ["r1", "r2", "old"])
    assert not problems
    table = study.claims_table(claims)
    assert table["quote"].tolist() == ["r1 says A beats B.", "r2 says A beats B.", "(c)"]
    assert table["verdict (study-wide)"].tolist()[:2] == [stats.UNJUDGED] * 2
    assert table.loc[2, "verdict (study-wide)"] == stats.FAILS and table.loc[2, "difference (points)"] == "ours 10 %"
    changes = study.study_wide_changes(claims)
    assert changes["report"].tolist() == ["r1", "r2"]
    assert study.observations("quick", ["r1", "r2", "old"])["report"].tolist() == ["r1", "r2"]
