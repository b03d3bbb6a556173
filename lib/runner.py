"""Run the report notebooks headlessly with papermill: ``make reproduce``.

    python -m lib.runner [--profile smoke|quick|paper] [--reports ID ...] [--param NAME=VALUE ...]

(through the environment's Python, e.g. ``.venv/bin/python -m lib.runner``). ``make
reproduce`` hands ``PROFILE``, ``REPORTS`` and ``PARAMS`` over in the environment
(``ADV_PROFILE``, ``ADV_REPORTS``, ``ADV_PARAMS``; ``--from-env``), never through a shell,
so nothing in them is ever executed. ``PARAMS`` is split like a shell line would be
(quotes group, nothing is expanded): ``PARAMS="epochs=2 'eps=[0.1, 0.2]'"``.

Everything is checked before the first kernel starts: the reports, the profile, every
parameter against its declared type and range (:mod:`lib.params`) and the data the
reports need. Each notebook runs in a staging folder; only when it succeeds does that
folder replace ``figures/<profile>/<report>/``. A failed or interrupted run leaves the
previous results intact, beside ``figures/<profile>/<report>.failed.ipynb`` (the executed
copy up to the error); leftovers of a killed run are removed by the next one.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib import cache, profiles, runtime
from lib.params import ConfigError

KERNEL_NAME = "adversarial-study"
#: Exceptions that are a user's mistake: shown as one clear message, without a traceback.
USER_ERRORS = ("ConfigError", "DatasetUnavailable")


class NotebookFailed(RuntimeError):
    """A notebook raised; the message is the whole error, ``failed`` the executed copy."""

    def __init__(self, message: str, failed: Path | None, user_error: bool):
        super().__init__(message)
        self.failed, self.user_error = failed, user_error


def available() -> list[str]:
    """Reports that have both a notebook and a profile module."""
    notebooks = {p.stem for p in profiles.NOTEBOOK_DIR.glob("*.ipynb")}
    return sorted(notebooks & set(profiles.reports()))


def kernel_name() -> str:
    """The project's registered kernel if there is one, else this interpreter's ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


# --------------------------------------------------------------------------- planning
def plan(profile: str | None, reports: Sequence[str] | None, params: dict[str, str] | None = None,
         overrides: dict[str, Any] | None = None, check_data: bool = True):
    """Validate everything up front; return ``(profile, [(report, typed overrides, Config)])``.

    ``params`` are command-line texts (parsed per report by each parameter's spec),
    ``overrides`` already-typed values; every override must be a parameter of every chosen report.
    """
    known = available()
    if reports is not None:
        if not reports:
            raise ConfigError(f"REPORTS is empty; name one or more of {known}, or leave it unset for all")
        dupes = sorted({r for r in reports if list(reports).count(r) > 1})
        if dupes:
            raise ConfigError(f"report(s) {dupes} named twice in REPORTS")
    chosen = list(reports) if reports else known
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise ConfigError(f"unknown report(s) {unknown}; available: {known}")
    # A summary reads what the others wrote in this run: it goes last (a stable sort).
    chosen.sort(key=profiles.run_last)
    if profile is None:
        profile = profiles.default_profile()
    jobs = []
    for report in chosen:
        typed = dict(overrides or {})
        typed.update(profiles.parse_overrides(report, params or {}))
        jobs.append((report, typed, profiles.resolve(report, profile, typed)))
    if check_data:
        for dataset in sorted({d for _, _, cfg in jobs for d in profiles.datasets_of(cfg)}):
            _ensure_data(dataset)
    return profile, jobs


def _ensure_data(name: str) -> None:
    from lib import data

    try:
        data.ensure(name)
    except data.DatasetUnavailable as err:
        raise ConfigError(str(err)) from None


# --------------------------------------------------------------------------- running one
def run_one(report: str, profile: str, overrides: dict[str, Any], *, log_output: bool = False) -> Path:
    """Execute one notebook into a staging folder; on success swap it in for
    ``figures/<profile>/<report>/`` and return the executed notebook's path there."""
    import papermill as pm

    src = profiles.NOTEBOOK_DIR / f"{report}.ipynb"
    root = runtime.figures_dir() / profile
    final_dir, failed = root / report, root / f"{report}.failed.ipynb"
    root.mkdir(parents=True, exist_ok=True)
    clean_leftovers(root)
    staging = root / f".staging-{report}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    executed = staging / f"{report}.ipynb"
    old_env = os.environ.get("ADV_OUTPUT_DIR")
    os.environ["ADV_OUTPUT_DIR"] = str(staging)  # the kernel inherits it: cfg.out_dir
    bar = CellProgress(report, src)
    try:
        pm.execute_notebook(str(src), str(executed), parameters={"profile": profile, "overrides": overrides},
                            kernel_name=kernel_name(), cwd=str(profiles.NOTEBOOK_DIR),
                            progress_bar=False, log_output=log_output, on_cell_start=bar.on_cell_start,
                            # The kernel's own warnings (e.g. "running over TCP without encryption"
                            # on a local kernel) say nothing about the notebook; its errors still show.
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except BaseException as err:
        if executed.exists():
            os.replace(executed, failed)
            cache.make_readable(failed)
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, Exception):
            raise _describe_failure(err, failed if failed.exists() else None) from err
        raise
    finally:
        bar.close()
        if old_env is None:
            os.environ.pop("ADV_OUTPUT_DIR", None)
        else:
            os.environ["ADV_OUTPUT_DIR"] = old_env
    cache.make_readable(staging)
    _swap_in(staging, final_dir)
    failed.unlink(missing_ok=True)
    return final_dir / executed.name


class CellProgress:
    """A bar over a notebook's cells, labelled with the section now running (the last
    Markdown heading before the cell), fed by nbclient's ``on_cell_start`` hook."""

    def __init__(self, report: str, notebook: Path):
        import nbformat

        from lib.progress import progress

        nb = nbformat.read(notebook, as_version=4)
        self.report, self.section, sections, current = report, "", [], ""
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                heads = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
                current = heads[-1] if heads else current
            sections.append(current)
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                sections.append(current)   # papermill injects its parameters cell right after this one
        self.sections = sections
        # nbclient starts every cell, Markdown included, plus papermill's injected one.
        self.bar = progress(total=len(sections), desc=report, unit="cell", leave=False)

    def on_cell_start(self, cell=None, cell_index: int | None = None, **_):
        if cell_index is not None and cell_index < len(self.sections) and self.sections[cell_index] != self.section:
            self.section = self.sections[cell_index]
            self.bar.set_description(f"{self.report}: {self.section[:50]}")
        self.bar.update(1)

    def close(self):
        self.bar.close()


def _swap_in(staging: Path, final_dir: Path) -> None:
    """Replace ``final_dir`` by ``staging`` with two renames, so a reader never sees a mix."""
    old = final_dir.parent / f".old-{final_dir.name}-{os.getpid()}"
    if final_dir.exists():
        os.replace(final_dir, old)
    os.replace(staging, final_dir)
    shutil.rmtree(old, ignore_errors=True)


def clean_leftovers(root: Path) -> list[Path]:
    """Remove staging / old folders and temporary files of runs that are no longer alive."""
    removed = []
    for path in list(root.glob(".staging-*")) + list(root.glob(".old-*")):
        pid = path.name.rsplit("-", 1)[-1]
        if not (pid.isdigit() and cache.process_alive(int(pid))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    removed += cache.clean_stale_temporaries(root)
    removed += cache.clean_stale_temporaries(runtime.checkpoint_dir())
    return removed


def _describe_failure(err: Exception, failed: Path | None) -> NotebookFailed:
    """The whole error a notebook raised (papermill keeps its name and value)."""
    ename = getattr(err, "ename", type(err).__name__)
    evalue = str(getattr(err, "evalue", err)).strip()
    user = ename in USER_ERRORS
    message = evalue if user else f"{ename}: {evalue}"
    return NotebookFailed(message, failed, user)


# --------------------------------------------------------------------------- command line
def _from_env(args) -> None:
    """``make reproduce`` passes its variables in the environment: read them as plain text."""
    env = os.environ
    if env.get("ADV_PROFILE", "").strip():
        args.profile = env["ADV_PROFILE"].strip()
    if "ADV_REPORTS" in env:
        args.reports = env["ADV_REPORTS"].replace(",", " ").split()
    try:
        args.param = shlex.split(env.get("ADV_PARAMS", ""), comments=False, posix=True) + args.param
    except ValueError as err:  # an unclosed quote
        raise ConfigError(f"cannot split PARAMS ({err}); quote a value with spaces as "
                          "PARAMS=\"name='a b'\"") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.runner",
                                     description="Execute the report notebooks with papermill.")
    parser.add_argument("--profile", default=None,
                        help=f"one of {', '.join(profiles.PROFILE_NAMES)} (default: paper with a GPU, quick without)")
    parser.add_argument("--reports", nargs="*", default=None, help="report ids (default: all)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter, repeatable; parsed by the parameter's declared type")
    parser.add_argument("--from-env", action="store_true",
                        help="also read ADV_PROFILE, ADV_REPORTS, ADV_PARAMS (how make passes them)")
    parser.add_argument("--list", action="store_true", help="list the reports and exit")
    parser.add_argument("--describe", metavar="REPORT", help="list a report's parameters and exit")
    parser.add_argument("--log-output", action="store_true", help="echo notebook output")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available()))
        return 0
    try:
        if args.describe:
            import pandas as pd

            with pd.option_context("display.max_colwidth", 60, "display.width", 200):
                print(profiles.describe(args.describe).to_string(index=False))
            return 0
        if args.from_env:
            _from_env(args)
        profile, jobs = plan(args.profile, args.reports, profiles.split_assignments(args.param))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"profile {profile!r}: {len(jobs)} notebook(s) -> {runtime.figures_dir() / profile}", flush=True)
    summary = []
    for report, overrides, _ in jobs:
        t0 = time.perf_counter()
        print(f"[{report}] running ...", flush=True)
        try:
            path = run_one(report, profile, overrides, log_output=args.log_output)
            status = "ok"
            print(f"[{report}] done in {time.perf_counter() - t0:.0f} s -> {path.parent}", flush=True)
        except NotebookFailed as err:  # report it whole, and go on with the others
            status = "failed"
            where = f"\n  executed copy up to the error: {err.failed}" if err.failed else ""
            print(f"[{report}] FAILED after {time.perf_counter() - t0:.0f} s:\n  {err}{where}\n"
                  f"  previous results, if any, are unchanged in {runtime.figures_dir() / profile / report}",
                  file=sys.stderr, flush=True)
        summary.append((report, status, time.perf_counter() - t0))
    width = max(len(r) for r, _, _ in summary)
    print("\n".join(["", f"{'notebook':<{width}}  status  seconds"] +
                    [f"{r:<{width}}  {s:<6}  {t:7.0f}" for r, s, t in summary]))
    failures = [r for r, s, _ in summary if s != "ok"]
    print(f"total {sum(t for _, _, t in summary):.0f} s; {len(summary) - len(failures)} ok, "
          f"{len(failures)} failed {failures or ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
