"""Run the report notebooks headlessly with papermill: ``make reproduce``.

    python -m lib.runner [--profile smoke|quick|paper] [--reports ID ...] [--param k=v ...]

For each report it executes ``notebooks/<report>.ipynb`` with the parameters
``profile`` and ``overrides`` and writes the executed copy to
``figures/<profile>/<report>/<report>.ipynb`` beside the figures and tables the
notebook saves there. Everything is validated before the first notebook runs.
A notebook that fails leaves ``<report>.failed.ipynb`` (the executed copy up to
the error) and no half-written output; the run goes on with the next report and
exits non-zero at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib import cache, profiles, runtime

KERNEL_NAME = "adversarial-study"


def available() -> list[str]:
    """Reports that have both a notebook and a profile module."""
    notebooks = {p.stem for p in profiles.NOTEBOOK_DIR.glob("*.ipynb")}
    return sorted(notebooks & set(profiles.reports()))


def kernel_name() -> str:
    """The project's registered kernel if there is one, else this interpreter's ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def plan(profile: str | None, reports: Sequence[str] | None, overrides: dict[str, Any]):
    """Validate everything up front; return ``(profile, [(report, Config)])``."""
    known = available()
    chosen = list(reports) if reports else known
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise profiles.ConfigError(f"unknown report(s) {unknown}; available: {known}")
    if profile is None:
        profile = profiles.default_profile()
    # Overrides must be valid for every chosen notebook.
    return profile, [(r, profiles.resolve(r, profile, overrides)) for r in chosen]


def run_one(report: str, profile: str, overrides: dict[str, Any], *, log_output: bool = False
            ) -> Path:
    import papermill as pm

    src = profiles.NOTEBOOK_DIR / f"{report}.ipynb"
    out_dir = runtime.figures_dir() / profile / report
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{report}.ipynb"
    failed = out_dir / f"{report}.failed.ipynb"
    with cache.atomic_path(final) as tmp:
        try:
            pm.execute_notebook(str(src), str(tmp), parameters={"profile": profile,
                                                                  "overrides": overrides},
                                kernel_name=kernel_name(), cwd=str(profiles.NOTEBOOK_DIR),
                                progress_bar=False, log_output=log_output)
        except BaseException:
            if tmp.exists():
                os.replace(tmp, failed)
            raise
    failed.unlink(missing_ok=True)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.runner",
                                     description="Execute the report notebooks with papermill.")
    parser.add_argument("--profile", choices=profiles.PROFILE_NAMES, default=None,
                        help="parameter set (default: paper with a GPU, quick without)")
    parser.add_argument("--reports", nargs="*", default=None, help="report ids (default: all)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a notebook parameter (Python literal), repeatable")
    parser.add_argument("--list", action="store_true", help="list the reports and exit")
    parser.add_argument("--log-output", action="store_true", help="echo notebook output")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available()))
        return 0
    try:
        overrides = profiles.parse_assignments(args.param)
        profile, jobs = plan(args.profile, args.reports, overrides)
    except profiles.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"profile {profile!r}: {len(jobs)} notebook(s) -> {runtime.figures_dir() / profile}")
    failures = []
    t_all = time.perf_counter()
    for report, _ in jobs:
        t0 = time.perf_counter()
        print(f"[{report}] running ...", flush=True)
        try:
            path = run_one(report, profile, overrides, log_output=args.log_output)
            print(f"[{report}] done in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)
        except Exception as err:  # report and go on with the others
            failures.append(report)
            first = str(err).strip().splitlines()
            print(f"[{report}] FAILED after {time.perf_counter() - t0:.0f} s: "
                  f"{first[-1] if first else type(err).__name__}", file=sys.stderr, flush=True)
    print(f"total {time.perf_counter() - t_all:.0f} s; "
          f"{len(jobs) - len(failures)} ok, {len(failures)} failed {failures or ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
