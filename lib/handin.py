"""Pack what a student hands in: ``make handin [PROFILE=...]``.

    python -m lib.handin [--profile smoke|quick|paper]

For every notebook of the study (the reports, the library tour and the summary) it takes the
executed copy ``figures/<profile>/<report>/<report>.ipynb`` and writes, under
``figures/<profile>/handin/``:

- ``<report>/<report>.html``: the executed notebook as one HTML page (nbconvert; its figures
  are embedded in it);
- ``<report>/tables/``: every table as LaTeX and CSV; ``<report>/figures/``: every figure;
- ``index.html``: a short page linking all of them, with the summary's verdict counts;

and ``figures/<profile>/handin.zip`` beside it, holding the same folder. It refuses, before
writing anything, when a notebook has not been run in that profile or its last run failed,
and says which ``make reproduce`` to run. The folder and the zip are replaced whole (built
aside, then renamed), so a failed hand-in leaves the previous one intact.
"""
from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
import zipfile
from pathlib import Path

from lib import cache, runtime
from lib.params import ConfigError

HANDIN = "handin"


def problems(profile: str, reports: list[str]) -> dict[str, str]:
    """Notebooks that cannot be handed in, and why."""
    root = runtime.figures_dir() / profile
    out = {}
    for report in reports:
        failed = root / f"{report}.failed.ipynb"
        if failed.exists():
            out[report] = f"its last run failed ({failed}); fix it and run make reproduce PROFILE={profile} " \
                          f"REPORTS={report}"
        elif not (root / report / f"{report}.ipynb").exists():
            out[report] = f"not run in the {profile} profile: run make reproduce PROFILE={profile} REPORTS={report}"
    return out


def _html(notebook: Path) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(notebook, as_version=4))
    return body


def _index(profile: str, reports: list[str], staging: Path) -> str:
    items = []
    for report in reports:
        tables = sorted(p.name for p in (staging / report / "tables").glob("*.tex"))
        figures = sorted(p.name for p in (staging / report / "figures").glob("*.png"))
        items.append(f"<li><a href='{report}/{report}.html'><b>{html.escape(report)}</b></a>: "
                     f"{len(figures)} figures, {len(tables)} LaTeX tables "
                     f"(<a href='{report}/tables/'>tables</a>, <a href='{report}/figures/'>figures</a>)</li>")
    counts = staging / "study_summary" / "tables" / "verdict_counts.csv"
    summary = ""
    if counts.exists():
        import pandas as pd

        summary = "<h2>Verdicts per report</h2>" + pd.read_csv(counts).to_html(index=False)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Adversarial robustness study: "
            f"{html.escape(profile)} profile</title></head><body><h1>Adversarial robustness study "
            f"({html.escape(profile)} profile)</h1><p>Each notebook below was executed by <code>make reproduce "
            f"PROFILE={html.escape(profile)}</code>; every number in it comes from that run.</p><ul>"
            f"{''.join(items)}</ul>{summary}</body></html>")


def build(profile: str, reports: list[str] | None = None) -> tuple[Path, Path]:
    """Write the hand-in folder and zip for ``profile``; return their paths."""
    from lib import runner

    reports = reports or runner.available()
    missing = problems(profile, reports)
    if missing:
        raise ConfigError(f"cannot hand in the {profile} profile:\n"
                          + "\n".join(f"  - {r}: {why}" for r, why in missing.items()))
    root = runtime.figures_dir() / profile
    staging = root / f".staging-{HANDIN}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for report in reports:
            src, dst = root / report, staging / report
            (dst / "tables").mkdir(parents=True)
            (dst / "figures").mkdir()
            (dst / f"{report}.html").write_text(_html(src / f"{report}.ipynb"), encoding="utf-8")
            for path in sorted(src.iterdir()):
                if path.suffix in (".tex", ".csv"):
                    shutil.copy2(path, dst / "tables" / path.name)
                elif path.suffix in (".png", ".pdf"):
                    shutil.copy2(path, dst / "figures" / path.name)
        (staging / "index.html").write_text(_index(profile, reports, staging), encoding="utf-8")
        cache.make_readable(staging)
        zipped = root / f"{HANDIN}.zip"
        with cache.atomic_path(zipped) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for path in sorted(staging.rglob("*")):
                    if path.is_file():
                        z.write(path, Path(HANDIN) / path.relative_to(staging))
        runner._swap_in(staging, root / HANDIN)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / HANDIN, zipped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.handin", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default=None, help="smoke, quick or paper (default as make reproduce)")
    parser.add_argument("--from-env", action="store_true", help="read the profile from ADV_PROFILE (make handin)")
    args = parser.parse_args(argv)
    from lib import profiles

    try:
        profile = (os.environ.get("ADV_PROFILE", "").strip() if args.from_env else "") or args.profile
        profile = profile or profiles.default_profile()
        if profile not in profiles.PROFILE_NAMES:
            raise ConfigError(f"unknown profile {profile!r}; choose from {list(profiles.PROFILE_NAMES)}")
        folder, zipped = build(profile)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"hand-in: {folder}/index.html and {zipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
