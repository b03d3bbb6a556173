"""The one shape of a report package, ``lib/reports/<id>/``, and the step that finishes a run.

Every report package exposes, from its ``__init__`` (lazily, through :func:`exports`, so that
reading a profile does not import torch):

- ``Run``: a dataclass holding the report's trained models and results, every field typed
  (a model, a :class:`lib.sweep.SweepResult`, a tensor of per-image flags, a DataFrame, a
  typed dict such as ``dict[str, SweepResult]``, or another such dataclass); no
  ``SimpleNamespace``, no dict of untyped state. A notebook builds it with the report's
  steps, section by section, and hands it to the four functions below;
- ``claims(run) -> list[lib.verdicts.Claim]``: every claim the report makes about its
  results, each with the report's verbatim quote and section, its kind, the comparison it
  implies and the data this run measured for it, and the gates on the models behind it;
  unjudged (:func:`lib.verdicts.judge` judges a report's claims as one family);
- ``observations(run) -> list[lib.verdicts.Observation]``: our own findings about the report
  (its contradictions, missing controls, results beyond its claims), never counted as claims;
- ``summary_rows(run) -> list[dict]``: its defenses for the study summary
  (:func:`lib.summary.defense_row`);
- ``closing_note(run) -> str``: the notebook's closing note (Markdown), with the verdicts
  (it judges ``claims(run)`` itself: :func:`verdict_lines`).

Where they live inside a package: ``run.py`` (``Run``, ``summary_rows``, ``closing_note``) and
``verdicts.py`` (``claims``, ``observations``; a module named ``claims`` would shadow the
function once imported), beside ``profile.py``, ``reference.py`` (the report's numbers and the
quotes of its claims, :class:`lib.verdicts.Quote`), the steps (``experiment.py``, ...),
``tables.py`` and ``figures.py``. ``__init__.py`` ends with ``__getattr__ = exports(__name__)``.

A notebook ends with :func:`finish`: it judges the claims, writes the claims and observations
tables (CSV, Markdown, LaTeX), the files of :mod:`lib.summary` and the closing note, and
returns what the notebook shows (:class:`Finished`).

Converting a report (``lib/reports/abs_cifar`` is the worked example):

1. re-read the report; put every claim it makes about its results in ``reference.QUOTES``
   (id -> ``Quote(section, text)``, the text verbatim); our own findings are observations;
2. make ``Run`` from what the notebook computes (typed fields, the steps return typed parts);
3. write ``claims(run)``, one :class:`lib.verdicts.Claim` per (quote, comparison), e.g.::

       q = ref.QUOTES["abs_more_robust"]
       Claim(report="abs_cifar", id="abs_more_robust_0.1", quote=q.text, section=q.section,
             kind=verdicts.SUPERIORITY,
             comparison=Comparison(("ABS", "SimpleDLA"), "report's attacks", 0.1, "2", "300 test images"),
             data=Paired(abs_robust, dla_robust),           # per-image flags, same images
             gate=(verdicts.condition("CIFAR-10 data", real, "synthetic stand-in"),
                   verdicts.clean_baseline("ABS", k_abs, n, 0.4538),
                   verdicts.clean_baseline("SimpleDLA", k_dla, n, 0.8546)),
             table="table1_abs.csv", claim="ABS is more robust than SimpleDLA, L2 eps 0.1")

   "about the same" / "does not help" claims are ``EQUIVALENCE`` (``margin`` 0.05 unless the
   report implies another), "no more robust than" ``NOT_BETTER``, a report's number ``VALUE``
   with ``data=Count(k, n)`` and ``value=`` the number as a fraction;
4. move every loop that builds a table or a verdict out of the notebook into ``verdicts.py`` /
   ``run.py`` / ``tables.py``, and end the notebook with ``final = base.finish(package, run,
   out, title=...)``, showing ``final.shown()``, ``final.observations`` and ``final.note``;
5. add the package to :data:`CONVERTED`: ``tests/test_report_shape.py`` then checks its shape, and
   ``tests/test_report_quotes.py`` checks every quote of every ``reference.QUOTES`` against the
   report's text.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pandas as pd

from lib import cache, summary, tables, verdicts

FUNCTIONS = ("claims", "observations", "summary_rows", "closing_note")
#: Report packages already in this shape (the others still write their claims the old way).
CONVERTED: tuple[str, ...] = ("abs_cifar", "attacks_adversarial_training", "puvae_detector",
                              "generative_lipschitz")
_UNTYPED = (typing.Any, object, dict, list, tuple, SimpleNamespace)


def exports(package: str, module: str = "run", names: tuple[str, ...] = ("Run",),
            claims_module: str = "verdicts") -> typing.Callable[[str], object]:
    """A module ``__getattr__`` for a report package: ``Run``, ``summary_rows`` and
    ``closing_note`` from ``<package>.<module>``, ``claims`` and ``observations`` from
    ``<package>.<claims_module>``, imported on first use."""
    where = {n: module for n in (*names, "summary_rows", "closing_note")}
    where.update({"claims": claims_module, "observations": claims_module})

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__


def problems(package: ModuleType | str) -> list[str]:
    """What keeps ``package`` (a report package or its name) from the shape above; empty when
    it conforms."""
    if isinstance(package, str):
        package = importlib.import_module(package)
    out = [f"missing function {f}" for f in FUNCTIONS if not callable(getattr(package, f, None))]
    run = getattr(package, "Run", None)
    if run is None or not dataclasses.is_dataclass(run):
        return [*out, "Run is not a dataclass"]
    hints = typing.get_type_hints(run)
    for f in dataclasses.fields(run):
        hint = hints.get(f.name)
        if hint is None or hint in _UNTYPED or typing.get_origin(hint) in (dict, list) and not typing.get_args(hint):
            out.append(f"Run.{f.name} has no precise type ({hint!r})")
        elif any(a is typing.Any or a is object for a in typing.get_args(hint)):
            out.append(f"Run.{f.name} holds untyped values ({hint!r})")
    return out


@dataclass
class Finished:
    """What :func:`finish` wrote and the notebook shows: the judged ``claims``, their ``table``
    (:data:`lib.verdicts.CLAIM_COLUMNS`), the ``observations`` table, the closing ``note``
    (Markdown) and the ``files`` written."""

    claims: list[verdicts.Claim]
    table: pd.DataFrame
    observations: pd.DataFrame
    note: str
    files: list[Path]

    def shown(self) -> pd.DataFrame:
        """The claims table as a reader wants it: quote, verdict, effect in points, p-values."""
        t = self.table
        return pd.DataFrame({
            "section": t["section"], "quote": t["quote"], "comparison": t["claim"], "test": t["test"],
            "difference (points)": [verdicts.format_effect(e, lo, hi) for e, lo, hi in zip(t["effect"], t["low"],
                                                                                           t["high"])],
            "p": t["p_raw"], "p (Holm)": t["p_holm"], "verdict": t["verdict"],
            "n to decide": t["n_to_decide"], "why not judged": t["gate"]})


def finish(package: ModuleType, run, out_dir: str | Path, *, title: str) -> Finished:
    """Judge ``package.claims(run)`` (one Holm family), then write into ``out_dir``: the claims
    table ``verdicts.{csv,md,tex}``, ``observations.{csv,md,tex}``, the summary files of
    :mod:`lib.summary` and ``closing_note.md``. ``title`` names the run in the captions."""
    out_dir = Path(out_dir)
    judged = verdicts.judge(package.claims(run))
    unquoted = unquoted_claims(package, judged)
    if unquoted:
        raise ValueError(f"{package.__name__}: claims whose quote is not in the report's text: {unquoted}")
    table = verdicts.claims_table(judged)
    observed = package.observations(run)
    obs = verdicts.observations_table(observed)
    files = []
    cap = (f"The report's claims and our verdicts ({title}); effects are differences of accuracies, "
           "p-values Holm-adjusted within the report.")
    files += tables.save_table(table, out_dir / "verdicts", caption=cap).values()
    files += tables.save_table(obs, out_dir / "observations",
                               caption=f"Our observations about the report, not its claims ({title}).").values()
    files += summary.write(out_dir, package.summary_rows(run), summary.claim_rows(judged), observed)
    note = package.closing_note(run)
    files.append(cache.atomic_write_text(note + "\n", out_dir / "closing_note.md"))
    return Finished(judged, table, obs, note, files)


def unquoted_claims(package: ModuleType, claims: list[verdicts.Claim]) -> list[str]:
    """Ids of the claims whose quote is not in the report's text (whitespace and case aside);
    empty when the text is not on this machine (:func:`lib.verdicts.reports_dir`)."""
    ref = importlib.import_module(f"{package.__name__}.reference")
    path = verdicts.reports_dir() / ref.FILE
    if not path.exists():
        return []
    text = path.read_text()
    return [c.id for c in claims if not verdicts.quote_found(c.quote, text)]


def verdict_lines(claims: list[verdicts.Claim]) -> list[str]:
    """One Markdown line per judged claim, for a closing note: the quote, the verdict, the
    effect, the test with its p-values, or why it was not judged and what would decide it."""
    lines = []
    for c in claims:
        line = f"- *\"{c.quote}\"* ({c.section}; {c.claim or c.comparison.describe()}): **{c.verdict}**"
        if c.test and not c.why_not:
            line += (f"; difference {verdicts.format_effect(c.effect, c.low, c.high)} points, {c.test}, "
                     f"p = {c.p_raw:.2g} (Holm {c.p_holm:.2g})")
        if c.why_not:
            line += f"; not judged: {c.why_not}"
        elif c.verdict == verdicts.UNJUDGED and math.isfinite(c.n_to_decide):
            line += f"; about {c.n_to_decide:,.0f} images would decide it at this effect"
        elif c.verdict == verdicts.UNJUDGED:
            line += "; no number of images decides it at this effect (the effect sits on the test's boundary)"
        lines.append(line)
    return lines


def verdict_counts(claims: list[verdicts.Claim]) -> str:
    """``"3 holds, 1 does not hold, 12 cannot be judged at this profile"``."""
    counts = {v: sum(c.verdict == v for c in claims) for v in (verdicts.HOLDS, verdicts.FAILS, verdicts.UNJUDGED)}
    return ", ".join(f"{n} {v}" for v, n in counts.items())
