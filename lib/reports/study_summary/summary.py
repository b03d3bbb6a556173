"""The study summary's tables and figure, from the files of :mod:`lib.summary`.

Nothing here attacks or trains: every number comes from a report notebook's run of the same
profile, with the interval that run computed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from lib import plots, runtime, stats, verdicts
from lib import summary as lib_summary

MISSING_HINT = "make reproduce PROFILE={profile} REPORTS={report}"


def gather(profile: str, reports: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """(defenses, claims, problems): ``problems`` maps a report without usable results to what
    to do about it (its last run failed, or it has not been run in this profile). ``claims``
    has the columns of :data:`lib.summary.CLAIM_COLUMNS` and, from :func:`lib.verdicts.study_wide`,
    ``p_holm_study``, ``verdict_study`` and ``changes``."""
    defenses, claims, missing = lib_summary.read(profile, list(reports))
    claims = verdicts.study_wide(claims)
    problems = {}
    for report in reports:
        failed = runtime.figures_dir() / profile / f"{report}.failed.ipynb"
        if failed.exists():
            problems[report] = (f"its last run failed (see {failed.name}); fix it and run "
                                f"`{MISSING_HINT.format(profile=profile, report=report)}`")
        elif report in missing:
            problems[report] = (f"not run in the {profile} profile yet: run "
                                f"`{MISSING_HINT.format(profile=profile, report=report)}` first")
    return defenses, claims, problems


def _interval(row: pd.Series, name: str) -> str:
    value = row[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return stats.format_interval(value, row[f"{name}_low"], row[f"{name}_high"])


def _pct(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def defense_table(defenses: pd.DataFrame) -> pd.DataFrame:
    """One row per defense and threat model, accuracies in % with their 95 % intervals."""
    rows = []
    for _, r in defenses.iterrows():
        rows.append({
            "report": r["report"], "dataset": r["dataset"],
            "threat": f"L{'inf' if r['norm'] == 'inf' else '2'} eps {r['eps']:g}",
            "defense": r["defense"], "baseline": r["baseline"], "n": int(r["n"]),
            "clean (%)": _interval(r, "clean"), "report clean (%)": _pct(r["report_clean"]),
            "report robust (%)": _pct(r["report_robust"]),
            "ours, report's attack (%)": _interval(r, "ours_report_attack"),
            "ours, worst case (%)": _interval(r, "worst"),
            "report's attack": r["report_attack"] if isinstance(r["report_attack"], str) else "",
        })
    return pd.DataFrame(rows)


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """Every claim: the report's words (``quote``, ``section``; the paraphrase ``claim`` where a
    report package has not been converted to quotes yet), what we compared, the test, the
    difference in points with its interval, raw and Holm-adjusted p (within the report, and over
    the whole study), the verdict, why it was not judged, the images that would decide it."""
    t = claims.reset_index(drop=True)
    quoted = t["quote"].fillna("").astype(str)
    return pd.DataFrame({
        "report": t["report"], "section": t["section"].fillna(""),
        "quote": [q if q else f"({c})" for q, c in zip(quoted, t["claim"])],
        "comparison": t["claim"], "kind": t["kind"].fillna(""), "test": t["test"].fillna(""),
        "difference (points)": [verdicts.format_effect(e, lo, hi) if pd.notna(e) else (iv or "")
                                for e, lo, hi, iv in zip(t["effect"], t["low"], t["high"], t["interval"])],
        "p": t["p_raw"], "p (Holm, report)": t["p_holm"], "p (Holm, study)": t["p_holm_study"],
        "verdict": t["verdict"], "verdict (study-wide)": t["verdict_study"],
        "why not judged": t["gate"].fillna(""), "n to decide": t["n_to_decide"], "evidence": t["evidence"]})


def study_wide_changes(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims whose verdict would change if Holm's correction ran over every tested claim of
    the study at once instead of within each report."""
    t = claims[claims["changes"].astype(bool)]
    return t[["report", "id", "claim", "p_raw", "p_holm", "p_holm_study", "verdict", "verdict_study"]] \
        .reset_index(drop=True)


def observations(profile: str, reports: Sequence[str]) -> pd.DataFrame:
    """Our observations about the reports (not their claims), from the report notebooks' files."""
    return lib_summary.read_observations(profile, list(reports))


def verdict_counts(claims: pd.DataFrame) -> pd.DataFrame:
    """Claims per report and verdict (columns in :data:`lib.stats.VERDICTS` order)."""
    if claims.empty:
        return pd.DataFrame(columns=["report", *stats.VERDICTS])
    counts = claims.groupby(["report", "verdict"]).size().unstack(fill_value=0)
    return counts.reindex(columns=list(stats.VERDICTS), fill_value=0).reset_index()


def figure(defenses: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Clean against worst-case robust accuracy (%), one panel per dataset and threat model
    (:func:`lib.plots.clean_vs_robust`: one legend, numbered points, the report's claims hollow)."""
    return plots.clean_vs_robust(defenses, title=title)
