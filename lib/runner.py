"""Run the report notebooks headlessly with papermill: ``make reproduce``.

    .venv/bin/python -m lib.runner [--profile smoke|quick|paper] [--reports ID ...] [--param NAME=VALUE ...]

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
import contextlib
import functools
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib import cache, estimate, paper_check, profiles, progress, provenance, runtime
from lib.kernels import PEAK_RSS, CellProgress
from lib.kernels import PeakRSS as _PeakRSS
from lib.kernels import in_worker as _in_worker
from lib.kernels import stop_kernels as _stop_kernels
from lib.kernels import tracked_kernel_manager as _tracked_kernel_manager
from lib.params import ConfigError, cost_note
from lib.swap import clean_leftovers
from lib.swap import swap_in as _swap_in

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

    ``params`` are command-line texts ``{name: text}`` (parsed per report by each parameter's
    spec), ``overrides`` already-typed values. A plain ``name`` goes to every chosen report that
    declares it (at least one must), ``report.name`` to that report only (and wins over a plain
    ``name`` there); :func:`route` says which report took what.
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
    texts, _ = route(chosen, params or {})
    values, _ = route(chosen, overrides or {})
    jobs = []
    for report in chosen:
        typed = dict(values[report])
        typed.update(profiles.parse_overrides(report, texts[report]))
        jobs.append((report, typed, profiles.resolve(report, profile, typed)))
        note = cost_note(report, profile, profiles.profiles_of(report)[profile], typed)
        if note:
            print(note, flush=True)
    _check_gathered(profile, jobs)
    if check_data:
        for dataset in sorted({d for _, _, cfg in jobs for d in profiles.datasets_of(cfg)}):
            _ensure_data(dataset)
    return profile, jobs


def _check_gathered(profile: str, jobs) -> None:
    """A notebook that only gathers the others' results (``RUN_LAST``: the study summary) needs
    at least one of them, from this run or an earlier one in the same profile; with none it
    would say "ok" over an empty summary."""
    running = {report for report, _, _ in jobs}
    root = runtime.figures_dir() / profile
    for report, _, cfg in jobs:
        sources = list(cfg.get("reports") or []) if profiles.run_last(report) else []
        if sources and not any(r in running or (root / r / f"{r}.ipynb").exists() for r in sources):
            raise ConfigError(f"{report} gathers the results of {', '.join(sources)}, but none of them has run "
                              f"in the {profile!r} profile ({root}) and none is in REPORTS: run them first "
                              f"(make reproduce PROFILE={profile}) or name them in REPORTS too")


def route(chosen: Sequence[str], items: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Send each ``name`` / ``report.name`` of ``items`` to the reports that take it.

    Returns ``({report: {name: value}}, {given key: [reports that took it]})``. A plain name no
    chosen report declares, a ``report.name`` whose report is not chosen or has no such
    parameter, is refused naming the reports that do declare it.
    """
    per: dict[str, dict[str, Any]] = {r: {} for r in chosen}
    took: dict[str, list[str]] = {}
    # Plain names first, so that a report-specific value replaces the plain one for its report.
    for key in sorted(items, key=lambda k: "." in k):
        target, dot, name = key.rpartition(".")
        if dot:
            if target not in chosen:
                raise ConfigError(f"{key}: report {target!r} is not one of this run's reports {list(chosen)}")
            if name not in profiles.specs_of(target):
                raise ConfigError(f"unknown parameter {name!r} for {target!r} (in {key}); its parameters are "
                                  f"{sorted(profiles.specs_of(target))}")
            targets = [target]
        else:
            targets = [r for r in chosen if name in profiles.specs_of(r)]
            if not targets:
                declared = [r for r in available() if name in profiles.specs_of(r)]
                where = f"only {declared} declare it" if declared else "no report declares it"
                raise ConfigError(f"unknown parameter {name!r}: none of this run's reports {list(chosen)} "
                                  f"takes it ({where}); `.venv/bin/python -m lib.runner --describe <report>` "
                                  "lists a report's parameters")
        for report in targets:
            per[report][name] = items[key]
        took[key] = targets
    return per, took


def routing_note(chosen: Sequence[str], params: dict[str, str]) -> list[str]:
    """One line per given parameter: which reports took it, and which do not declare it."""
    _, took = route(chosen, params)
    lines = []
    for key, targets in took.items():
        if "." in key:
            lines.append(f"  {key}: taken by {targets[0]} only")
            continue
        mine = [r for r in targets if f"{r}.{key}" not in params]
        replaced = [r for r in targets if r not in mine]
        others = [r for r in chosen if r not in targets]
        lines.append(f"  {key}: taken by {', '.join(mine) or 'none'}"
                     + (f" (replaced by a report-specific value in {', '.join(replaced)})" if replaced else "")
                     + (f"; not declared by {', '.join(others)}" if others else ""))
    return lines


def _ensure_data(name: str) -> None:
    from lib import data

    try:
        data.ensure(name)
    except data.DatasetUnavailable as err:
        raise ConfigError(str(err)) from None


# --------------------------------------------------------------------------- running one
def run_one(report: str, profile: str, overrides: dict[str, Any], *, log_output: bool = False,
            launcher: str = "python -m lib.runner") -> Path:
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
    run_id = provenance.new_run_id()
    inputs = _inputs_of(report, profile)
    # The kernel inherits these: cfg.out_dir is the staging folder, and its stamp has this run id.
    kernel_env = {"ADV_OUTPUT_DIR": str(staging), provenance.RUN_ID_ENV: run_id,
                  provenance.LAUNCHER_ENV: launcher}
    if progress.enabled():  # the executed notebook is a file: a line per step, not a redrawn bar
        kernel_env[progress.ENV] = "lines"
    bar = CellProgress(report, src)
    old_env = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)
    peak = _PeakRSS()
    try:
        _in_worker(functools.partial(
            pm.execute_notebook, str(src), str(executed), parameters={"profile": profile, "overrides": overrides},
            kernel_name=kernel_name(), cwd=str(profiles.NOTEBOOK_DIR),
            progress_bar=False, log_output=log_output, on_cell_start=bar.on_cell_start,
            # The kernel's own warnings (e.g. "running over TCP without encryption"
            # on a local kernel) say nothing about the notebook; its errors still show.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            kernel_manager_class=_tracked_kernel_manager()), on_tick=peak.sample)
    except BaseException as err:
        if executed.exists():
            os.replace(executed, failed)
            cache.make_readable(failed)
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, Exception):
            raise _describe_failure(err, failed if failed.exists() else None) from err
        raise
    finally:
        PEAK_RSS[report] = peak.bytes
        bar.close()
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    _stamp_notebook(executed, staging, run_id, launched_by=launcher, **({} if inputs is None else {"inputs": inputs}))
    cache.make_readable(staging)
    _swap_in(staging, final_dir)
    failed.unlink(missing_ok=True)
    return final_dir / executed.name


def _inputs_of(report: str, profile: str) -> dict[str, str | None] | None:
    """For a notebook that reads the others' results (the summary): the run id of each one now."""
    if not profiles.run_last(report):
        return None
    root = runtime.figures_dir() / profile
    return {r: (provenance.read(root / r) or {}).get("run_id") for r in available() if r != report}


def _stamp_notebook(executed: Path, staging: Path, run_id: str, **extra: Any) -> None:
    """Put the run's stamp into the executed notebook's metadata, then seal the folder: the
    SHA-256 of every file the run wrote, the executed notebook included, in provenance.json."""
    import nbformat

    stamp = provenance.read(staging)
    stamp = stamp if stamp and stamp.get("run_id") == run_id else {"run_id": run_id}
    stamp.update(extra, finished=provenance.now())
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError, KeyError, AttributeError, nbformat.ValidationError, nbformat.reader.NotJSONError):
        nb = None  # nothing papermill wrote (a stand-in in the tests): the folder is sealed all the same
    if nb is not None:
        nb.metadata[provenance.KEY] = stamp
        with cache.atomic_path(executed) as tmp:
            nbformat.write(nb, str(tmp))
    provenance.seal(staging, stamp)


def _describe_failure(err: Exception, failed: Path | None) -> NotebookFailed:
    """The whole error a notebook raised (papermill keeps its name and value)."""
    ename = getattr(err, "ename", type(err).__name__)
    evalue = str(getattr(err, "evalue", err)).strip()
    user = ename in USER_ERRORS
    message = evalue if user else f"{ename}: {evalue}"
    return NotebookFailed(message, failed, user)


# --------------------------------------------------------------------------- command line
def listing(width: int = 100) -> str:
    """Every notebook: its id, its title, the report it reproduces and its datasets per profile."""
    import textwrap

    blocks = []
    for report in available():
        lines = [f"{report}: {profiles.title_of(report)}"]
        source = profiles.report_source(report)
        if source:
            lines.append(f"report: {source}")
        for profile in ("quick", "paper"):
            try:
                names = profiles.datasets_of(profiles.resolve(report, profile))
            except ConfigError as err:
                names = [f"(cannot resolve: {err})"]
            lines.append(f"datasets ({profile}): {', '.join(names) or 'none (reads the other notebooks)'}")
        blocks.append("\n".join([textwrap.fill(lines[0], width, subsequent_indent="    ")]
                                 + [textwrap.fill(line, width, initial_indent="    ", subsequent_indent="      ")
                                    for line in lines[1:]]))
    return "\n\n".join(blocks) + "\n\nParameters of one: .venv/bin/python -m lib.runner --describe <id>"


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
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m lib.runner",
                                     description="Execute the report notebooks with papermill.")
    parser.add_argument("--profile", default=None,
                        help=f"one of {', '.join(profiles.PROFILE_NAMES)} (default: paper with a GPU, quick without)")
    parser.add_argument("--reports", nargs="*", default=None, help="report ids (default: all)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter, repeatable; parsed by the parameter's declared type")
    parser.add_argument("--from-env", action="store_true",
                        help="also read ADV_PROFILE, ADV_REPORTS, ADV_PARAMS (how make passes them)")
    parser.add_argument("--list", action="store_true", help="list the reports (title, report, datasets) and exit")
    parser.add_argument("--describe", metavar="REPORT", help="list a report's parameters and exit")
    parser.add_argument("--log-output", action="store_true", help="echo notebook output")
    parser.add_argument("--paper-check", action="store_true",
                        help="the paper profile's structure with its sizes shrunk (lib.paper_check), into "
                             "figures/paper-check/; then each notebook's time beside its estimate")
    args = parser.parse_args(argv)
    if args.list:
        print(listing(width=shutil.get_terminal_size((100, 24)).columns))
        return 0
    state: dict[str, Any] = {"done": [], "report": None, "since": time.time(), "root": None}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _terminate)   # `timeout`, a CI cancel: tidied up like Ctrl-C
    try:
        return _main(args, state)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not cut the tidying short
        _stop_kernels()
        print(_interrupted(state), file=sys.stderr, flush=True)
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _interrupted(state: dict[str, Any]) -> str:
    """The one line Ctrl-C ends with: what this run finished and what was left as it was."""
    report, root, done = state["report"], state["root"], list(state["done"])
    if report is None:
        return "interrupted before any notebook ran: nothing was changed"
    final = root / report / f"{report}.ipynb"
    if final.exists() and final.stat().st_mtime >= state["since"] and report not in done:
        done.append(report)   # interrupted just after its results were swapped in
        report = None
    kept = f"{', '.join(done)} finished and kept in {root}" if done else "no notebook finished"
    stopped = f"; {report} stopped, its previous results (if any) unchanged in {root / report}" if report else ""
    return f"interrupted: {kept}{stopped}"


def _main(args, state: dict[str, Any]) -> int:
    try:
        runtime.resolve_environment()   # before the kernel: it runs in notebooks/
        if args.describe:
            print(profiles.describe_text(args.describe, width=shutil.get_terminal_size((100, 24)).columns))
            return 0
        if args.from_env:
            _from_env(args)
        params = profiles.split_assignments(args.param)
        checked = paper_check.Check.from_args(args) if args.paper_check else None
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # paper-check's own figures and checkpoint folders, in place before the plan looks there
    with checked.folders() if checked is not None else contextlib.nullcontext():
        try:
            profile, jobs = plan(args.profile, args.reports, params, None if checked is None else checked.overrides)
            notes = routing_note([r for r, _, _ in jobs], params)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return _run_jobs(args, state, profile, jobs, notes, checked)


def _run_jobs(args, state: dict[str, Any], profile: str, jobs, notes, checked) -> int:
    """Run the planned notebooks one after another (a failed one does not stop the others),
    with time estimates before a paper run and, for paper-check, the calibration after."""
    print(f"profile {profile!r}: {len(jobs)} notebook(s) -> {runtime.figures_dir() / profile}", flush=True)
    state["root"] = runtime.figures_dir() / profile
    if notes:
        print("parameters:\n" + "\n".join(notes), flush=True)
    if os.environ.get("ADV_DRY_RUN", "").strip() not in ("", "0"):
        print("ADV_DRY_RUN is set: everything is checked, nothing is run.")
        return 0
    launcher = "make reproduce" if args.from_env else "python -m lib.runner"
    if checked is not None:
        launcher = "make paper-check" if args.from_env else "python -m lib.runner --paper-check"
    estimates = estimate.announce(profile, jobs, checked)
    summary = []
    for report, overrides, _ in jobs:
        t0 = time.perf_counter()
        state.update(report=report, since=time.time())
        print(f"[{report}] running ...", flush=True)
        try:
            path = run_one(report, profile, overrides, log_output=args.log_output, launcher=launcher)
            status = "ok"
            state["done"].append(report)
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
    if checked is not None and estimates is not None:
        print(checked.calibration(estimates, {r: (t, s) for r, s, t in summary}, peaks=dict(PEAK_RSS)), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
