"""Pack what a student hands in: ``make handin [PROFILE=...]``.

    .venv/bin/python -m lib.handin [--profile smoke|quick|paper]

For every notebook of the study (the reports, the library tour and the summary) it takes the
executed copy ``figures/<profile>/<report>/<report>.ipynb`` and writes, under
``figures/<profile>/handin/``:

- ``<report>/<report>.html``: the executed notebook as one static page (:mod:`lib.handin_html`:
  sanitised, titled by its report, provenance at the top, code hidden behind one toggle, tables
  whole, figures embedded);
- ``<report>/tables/``: every table as LaTeX and CSV, with ``all_tables.tex``, a document that
  compiles them all; ``<report>/figures/``: every figure;
- ``index.html``: the study's findings, the summary figure, a link per report with its title
  and verdict counts, the claims and observations tables, and every run's provenance;

and ``figures/<profile>/handin.zip`` beside it, holding the same folder. It refuses, before
writing anything, when a notebook has not been run in that profile, its last run failed, its
executed notebook cannot be read, or its notebook, tables and figures are not all from one run
(:func:`lib.provenance.mismatches`, naming what differs); and when the summary was made from
other runs of the reports than those handed in. Only regular files inside a report's folder
are packed (no symlinks). The folder and the zip are replaced whole (built aside, then
renamed), so a failed hand-in leaves the previous one intact.
"""
from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pandas as pd

from lib import cache, handin_html, provenance, runtime, tables
from lib.params import ConfigError

HANDIN = "handin"
TITLE = "Adversarial robustness: four reports, reproduced"
#: Where the study summary's claims and observations are, and the per-report files they come from.
SUMMARY, SUMMARY_CLAIMS, SUMMARY_OBSERVATIONS = "study_summary", "claims.csv", "observations.csv"
REPORT_CLAIMS, REPORT_OBSERVATIONS = "summary_claims.csv", "summary_observations.csv"
TABLE_SUFFIXES, FIGURE_SUFFIXES = (".tex", ".csv"), (".png", ".pdf")


def _rerun(profile: str, report: str) -> str:
    return f"make reproduce PROFILE={profile} REPORTS={report}"


def read_notebook(path: Path):
    """The executed notebook, or a :class:`ConfigError` saying it cannot be read (truncated, not JSON)."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises JSON, validation and conversion errors alike
        raise ConfigError(f"its executed notebook {path} cannot be read ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:160] if str(err) else 'empty'}); it may be truncated") from None


def problems(profile: str, reports: list[str]) -> dict[str, str]:
    """Notebooks that cannot be handed in, and why (with the command that fixes it)."""
    root = runtime.figures_dir() / profile
    out, stamps = {}, {}
    for report in reports:
        failed, folder = root / f"{report}.failed.ipynb", root / report
        notebook = folder / f"{report}.ipynb"
        if failed.exists():
            out[report] = f"its last run failed ({failed}); fix it and run {_rerun(profile, report)}"
            continue
        if not notebook.is_file() or notebook.is_symlink():
            out[report] = f"not run in the {profile} profile: run {_rerun(profile, report)}"
            continue
        try:
            nb = read_notebook(notebook)
        except ConfigError as err:
            out[report] = f"{err}: run {_rerun(profile, report)}"
            continue
        stamps[report] = provenance.of_notebook(nb)
        issues = provenance.mismatches(folder, stamps[report], notebook.name)
        if issues:
            out[report] = ("its notebook, tables and figures are not from one run:\n      "
                           + "\n      ".join(issues) + f"\n    run {_rerun(profile, report)}")
    for report, stamp in stamps.items():
        inputs = (stamp or {}).get("inputs") or (provenance.read(root / report) or {}).get("inputs")
        if report in out or not isinstance(inputs, dict):
            continue
        stale = [f"{r} (it read run {inputs.get(r)}, now {(stamps.get(r) or {}).get('run_id')})"
                 for r in reports if r != report and r in stamps
                 and inputs.get(r) != (stamps.get(r) or {}).get("run_id")]
        if stale:
            out[report] = (f"it was made from other runs of {', '.join(stale)}; run {_rerun(profile, report)}")
    return out


# --------------------------------------------------------------------------- claims, in one place
def claims_and_observations(root: Path, reports: list[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The claims table (one row per claim: report, claim, verdict, evidence, ...) and the
    observations table (our own findings about the reports), as the study summary wrote them;
    failing that, gathered from each report's ``summary_claims.csv`` / ``summary_observations.csv``.
    Every column present is kept (``quote``, ``section``, ``test``, ``p_raw``, ``p_holm``, ...)."""
    def gather(summary_name: str, per_report: str) -> pd.DataFrame | None:
        path = root / SUMMARY / summary_name
        if SUMMARY in reports and path.is_file():
            return pd.read_csv(path)
        frames = [pd.read_csv(root / r / per_report) for r in reports if (root / r / per_report).is_file()]
        return pd.concat(frames, ignore_index=True) if frames else None

    claims = gather(SUMMARY_CLAIMS, REPORT_CLAIMS)
    if claims is None:
        claims = pd.DataFrame(columns=["report", "claim", "verdict", "evidence"])
    return claims, gather(SUMMARY_OBSERVATIONS, REPORT_OBSERVATIONS)


def verdict_counts(claims: pd.DataFrame, report: str) -> dict[str, int]:
    from lib import stats

    if claims.empty or "verdict" not in claims:
        return {}
    part = claims[claims["report"] == report]["verdict"].value_counts()
    counts = {v: int(part.get(v, 0)) for v in stats.VERDICTS}
    return {v: n for v, n in counts.items() if n} if len(part) else {}


# --------------------------------------------------------------------------- building
def _copy_results(src: Path, dst: Path) -> None:
    """Tables and figures of one report: regular files directly inside ``src`` only."""
    inside = src.resolve()
    texs = []
    for path in provenance.result_files(src):
        if path.resolve().parent != inside:
            continue
        if path.suffix in TABLE_SUFFIXES:
            shutil.copyfile(path, dst / "tables" / path.name)
            texs += [path.stem] if path.suffix == ".tex" else []
        elif path.suffix in FIGURE_SUFFIXES:
            shutil.copyfile(path, dst / "figures" / path.name)
    if texs:
        cache.atomic_write_text(tables.latex_document(texs, title=f"Tables of {src.name}"),
                                dst / "tables" / "all_tables.tex")


def _findings(root: Path, report: str) -> str:
    """The report notebook's closing note: what it found first, the verdict details folded."""
    path = root / report / "closing_note.md"
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\n**Verdicts")
    folded = (f"<details class='hi-details'><summary>every verdict with its evidence</summary>"
              f"{handin_html.markdown_html(sep.strip() + rest)}</details>") if sep else ""
    return handin_html.markdown_html(head) + folded


def _index(profile: str, reports: list[str], root: Path, staging: Path, stamps: dict) -> str:
    from lib import profiles

    claims, observations = claims_and_observations(root, reports)
    sections = [f"<header class='hi-header'><h1>{html.escape(TITLE)}</h1><div class='hi-muted'>Hand-in of the "
                f"<b>{html.escape(profile)}</b> profile: every page, table and figure below was made by "
                f"<code>make reproduce PROFILE={html.escape(profile)}</code>; each report's notebook, tables and "
                "figures come from one run (provenance at the end).</div></header>"]
    figure = staging / SUMMARY / "figures" / "summary_figure.png"
    sections.append("<h2>What the study found</h2>")
    if figure.is_file():
        sections.append(f"<figure><img src='{SUMMARY}/figures/summary_figure.png' alt='Clean against worst-case "
                        "robust accuracy of every defense'><figcaption class='hi-muted'>Every defense's clean accuracy "
                        "against its worst-case robust accuracy (filled: ours with 95 % intervals; hollow: the "
                        "report's claim).</figcaption></figure>")
    cards = []
    for report in reports:
        counts = verdict_counts(claims, report)
        source = profiles.report_source(report)
        n_fig = len(list((staging / report / "figures").glob("*.png")))
        n_tab = len(list((staging / report / "tables").glob("*.csv")))
        cards.append(f"<section><h3><a href='{report}/{report}.html'>{html.escape(profiles.title_of(report))}</a></h3>"
                     + (f"<div class='hi-muted'>Reproduces {html.escape(source)}</div>" if source else "")
                     + handin_html.counts_html(counts)
                     + f"<div class='hi-muted'>{n_fig} figure{'s' if n_fig != 1 else ''}, {n_tab} "
                       f"table{'s' if n_tab != 1 else ''} (<a href='{report}/tables/'>tables</a>, "
                       f"<a href='{report}/figures/'>figures</a>)</div>"
                     + _findings(root, report) + "</section>")
    sections += ["<h2>The reports</h2>", *cards]
    sections.append(f"<h2 id='claims'>Every claim and our verdict ({len(claims)})</h2>")
    sections.append(handin_html.table_html(claims) if len(claims) else "<p>No claims table in this run.</p>")
    sections.append("<h2 id='observations'>Our observations about the reports</h2>")
    sections.append(handin_html.table_html(observations) if observations is not None and len(observations)
                    else "<p class='hi-muted'>No observations table in this run.</p>")
    sections.append("<h2 id='provenance'>Provenance</h2>")
    sections.append("".join(f"<details class='hi-details'><summary>{html.escape(profiles.title_of(r))}: "
                            f"{html.escape(provenance.describe(stamps.get(r)))}</summary>"
                            f"{handin_html.provenance_html(stamps.get(r))}</details>" for r in reports))
    return handin_html.index_page(profile=profile, sections=sections, title=f"{TITLE} ({profile} profile)")


def build(profile: str, reports: list[str] | None = None) -> tuple[Path, Path]:
    """Write the hand-in folder and zip for ``profile``; return their paths."""
    from lib import profiles, runner, swap

    reports = reports or runner.available()
    missing = problems(profile, reports)
    if missing:
        raise ConfigError(f"cannot hand in the {profile} profile:\n"
                          + "\n".join(f"  - {r}: {why}" for r, why in missing.items()))
    root = runtime.figures_dir() / profile
    staging = root / f".staging-{HANDIN}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    claims, _ = claims_and_observations(root, reports)
    stamps = {}
    try:
        for report in reports:
            src, dst = root / report, staging / report
            (dst / "tables").mkdir(parents=True)
            (dst / "figures").mkdir()
            nb = read_notebook(src / f"{report}.ipynb")
            stamps[report] = provenance.of_notebook(nb)
            page = handin_html.notebook_page(
                nb, title=profiles.title_of(report), report=report, source=profiles.report_source(report),
                stamp=stamps[report], counts=verdict_counts(claims, report),
                links=[("index of the hand-in", "../index.html"), ("tables", "tables/"), ("figures", "figures/")])
            (dst / f"{report}.html").write_text(page, encoding="utf-8")
            _copy_results(src, dst)
        (staging / "index.html").write_text(_index(profile, reports, root, staging, stamps), encoding="utf-8")
        cache.make_readable(staging)
        zipped = root / f"{HANDIN}.zip"
        with cache.atomic_path(zipped) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for path in sorted(staging.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        z.write(path, Path(HANDIN) / path.relative_to(staging))
        swap.swap_in(staging, root / HANDIN)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / HANDIN, zipped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m lib.handin", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default=None, help="smoke, quick or paper (default as make reproduce)")
    parser.add_argument("--from-env", action="store_true", help="read the profile from ADV_PROFILE (make handin)")
    parser.add_argument("--reports", nargs="+", default=None, help="hand in only these notebooks (default: all)")
    args = parser.parse_args(argv)
    from lib import profiles

    try:
        profile = (os.environ.get("ADV_PROFILE", "").strip() if args.from_env else "") or args.profile
        profile = profile or profiles.default_profile()
        if profile not in profiles.PROFILE_NAMES:
            raise ConfigError(f"unknown profile {profile!r}; choose from {list(profiles.PROFILE_NAMES)}")
        if os.environ.get("ADV_DRY_RUN", "").strip() not in ("", "0"):
            from lib import runner

            missing = problems(profile, runner.available())
            ready = f"{len(missing)} notebook(s) not ready: {sorted(missing)}" if missing else "every notebook is ready"
            print(f"ADV_DRY_RUN is set: would hand in the {profile} profile; {ready}")
            return 0
        folder, zipped = build(profile, args.reports)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"hand-in: {folder}/index.html and {zipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
