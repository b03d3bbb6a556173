"""What each report notebook hands to the cross-report summary (``notebooks/study_summary``).

Every report notebook ends by writing two small CSV files into its output folder
(``figures/<profile>/<report>/``):

- ``summary_defenses.csv``: one row per defense (and one per undefended baseline) and
  threat model: clean accuracy, the report's robust number, ours under the report's own
  attack, and ours under the worst case over the adaptive attack set, each with its 95 %
  Clopper-Pearson interval (fractions in [0, 1]; NaN where not measured or not published);
- ``summary_claims.csv``: one row per claim of the report with our verdict, in the columns
  of :data:`lib.verdicts.CLAIM_COLUMNS` (quote, section, kind, test, effect, low, high, p_raw,
  p_holm, verdict, evidence, ...; :func:`claim_rows` of judged claims). A report package not
  yet converted to :mod:`lib.verdicts` writes :func:`claim_row` s, which leave the new columns
  empty (``kind`` empty marks them);
- ``summary_observations.csv``: our own findings about the report
  (:data:`lib.verdicts.OBSERVATION_COLUMNS`), never counted as its claims.

The summary notebook reads them back with :func:`read` and :func:`read_observations`; it
trains and attacks nothing.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

from lib import cache, runtime, stats, verdicts

DEFENSES_FILE, CLAIMS_FILE = "summary_defenses.csv", "summary_claims.csv"
OBSERVATIONS_FILE = "summary_observations.csv"

_INTERVALS = ("clean", "ours_report_attack", "worst")
DEFENSE_COLUMNS = (
    ["report", "dataset", "norm", "eps", "defense", "baseline", "n", "n_report_attack"]
    + [f"{m}{s}" for m in _INTERVALS for s in ("", "_low", "_high")]
    + ["report_clean", "report_robust", "report_attack", "worst_attacks", "evidence"]
)
CLAIM_COLUMNS = [*verdicts.CLAIM_COLUMNS, "interval"]
OBSERVATION_COLUMNS = verdicts.OBSERVATION_COLUMNS
#: Claim columns read as numbers; every other column is text.
_NUMERIC_CLAIM_COLUMNS = ("eps", "effect", "low", "high", "margin", "p_raw", "p_holm", "n", "n_to_decide")


def _fraction(name: str, value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a fraction in [0, 1] or None, got {value!r}")
    value = float(value)
    if not math.isnan(value) and not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1] (not a percentage), got {value!r}")
    return value


def _with_interval(row: dict, name: str, k: int | None, n: int) -> None:
    if k is None:
        row[name] = row[f"{name}_low"] = row[f"{name}_high"] = math.nan
        return
    low, high = stats.clopper_pearson(int(k), int(n))
    row[name], row[f"{name}_low"], row[f"{name}_high"] = k / n, low, high


def defense_row(*, report: str, dataset: str, norm: str, eps: float, defense: str, baseline: str, n: int,
                clean_correct: int, report_attack_robust: int | None, worst_robust: int | None,
                report_clean: float | None = None, report_robust: float | None = None,
                report_attack: str = "", worst_attacks: str = "", evidence: str = "",
                report_attack_n: int | None = None) -> dict:
    """One defense (or baseline: ``defense == baseline``) at one threat model, from counts.

    Counts are of the same ``n`` test images: ``clean_correct`` classified correctly,
    ``report_attack_robust`` still correct under the report's own attack and
    ``worst_robust`` under every attack of the adaptive set (None: not run);
    ``report_attack_n`` when the report's attack was scored on another number of images
    (the column ``n_report_attack``). The report's numbers are fractions in [0, 1] (None where
    it publishes none); say in ``report_attack`` what the report's number counts.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if norm not in ("inf", "2"):
        raise ValueError(f"norm must be 'inf' or '2', got {norm!r}")
    n_rep = n if report_attack_n is None else report_attack_n
    if isinstance(n_rep, bool) or not isinstance(n_rep, int) or n_rep <= 0:
        raise ValueError(f"report_attack_n must be a positive integer, got {report_attack_n!r}")
    for name, k, m in (("clean_correct", clean_correct, n), ("report_attack_robust", report_attack_robust, n_rep),
                       ("worst_robust", worst_robust, n)):
        if k is not None and (isinstance(k, bool) or not 0 <= int(k) <= m):
            raise ValueError(f"{name} must be a count in [0, {m}], got {k!r}")
    row = dict(report=report, dataset=dataset, norm=norm, eps=float(eps), defense=defense,
               baseline=baseline, n=n, n_report_attack=n_rep)
    _with_interval(row, "clean", clean_correct, n)
    _with_interval(row, "ours_report_attack", report_attack_robust, n_rep)
    _with_interval(row, "worst", worst_robust, n)
    row.update(report_clean=_fraction("report_clean", report_clean),
               report_robust=_fraction("report_robust", report_robust),
               report_attack=report_attack, worst_attacks=worst_attacks, evidence=evidence)
    return row


def claim_row(*, report: str, claim: str, verdict: str, interval: str = "", evidence: str = "") -> dict:
    """One claim of a report not yet converted to :mod:`lib.verdicts`, and our verdict on it
    (one of :data:`lib.stats.VERDICTS`); the columns it cannot fill stay empty."""
    if verdict not in stats.VERDICTS:
        raise ValueError(f"verdict must be one of {stats.VERDICTS}, got {verdict!r}")
    row = {c: (math.nan if c in _NUMERIC_CLAIM_COLUMNS else "") for c in CLAIM_COLUMNS}
    row.update(report=report, claim=claim, verdict=verdict, interval=interval, evidence=evidence)
    return row


def claim_rows(claims: list[verdicts.Claim]) -> list[dict]:
    """Judged claims (:func:`lib.verdicts.judge`) as summary rows; ``interval`` is the effect
    with its interval in points."""
    table = verdicts.claims_table(claims)
    table["interval"] = [verdicts.format_effect(e, lo, hi) for e, lo, hi in zip(table["effect"], table["low"],
                                                                                 table["high"])]
    return table.to_dict("records")


def write(out_dir: str | Path, defenses: list[dict], claims: list[dict],
          observations: list[verdicts.Observation] | None = None) -> tuple[Path, ...]:
    """Write the files atomically into a report's output folder: defenses, claims and, when
    given, observations. Returns their paths."""
    out_dir = Path(out_dir)
    written = []
    obs = [] if observations is None else [dataclasses.asdict(o) for o in observations]
    parts = [(defenses, DEFENSE_COLUMNS, DEFENSES_FILE), (claims, CLAIM_COLUMNS, CLAIMS_FILE)]
    if observations is not None:
        parts.append((obs, OBSERVATION_COLUMNS, OBSERVATIONS_FILE))
    for rows, columns, name in parts:
        table = pd.DataFrame(rows, columns=columns)
        missing = [c for row in rows for c in columns if c not in row]
        if missing:
            raise ValueError(f"{name}: rows lack columns {sorted(set(missing))}")
        written.append(cache.atomic_write_text(table.to_csv(index=False), out_dir / name))
    return tuple(written)


def _folder(profile: str, report: str) -> Path:
    return runtime.figures_dir() / profile / report  # not output_dir: that is the runner's staging folder


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat([f.reindex(columns=list(dict.fromkeys([*columns, *f.columns]))) for f in frames],
                     ignore_index=True)


def read(profile: str, reports: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Every report's summary files for ``profile``: (defenses, claims, reports without them).
    Claims written before the claim columns grew (or by a report not yet converted) get the
    missing columns empty."""
    defenses, claims, missing = [], [], []
    for report in reports:
        folder = _folder(profile, report)
        if not (folder / DEFENSES_FILE).exists() or not (folder / CLAIMS_FILE).exists():
            missing.append(report)
            continue
        # "inf" would be read as a float; free-text columns stay text even when empty.
        text = {c: str for c in ("report", "dataset", "norm", "defense", "baseline", "report_attack",
                                 "worst_attacks", "evidence")}
        defenses.append(pd.read_csv(folder / DEFENSES_FILE, dtype=text, keep_default_na=False,
                                    na_values={c: ["", "nan", "NaN"] for c in DEFENSE_COLUMNS if c not in text}))
        table = pd.read_csv(folder / CLAIMS_FILE, dtype=str, keep_default_na=False)
        for c in _NUMERIC_CLAIM_COLUMNS:
            table[c] = pd.to_numeric(table[c], errors="coerce") if c in table else math.nan
        claims.append(table.reindex(columns=CLAIM_COLUMNS, fill_value=""))
    return _concat(defenses, DEFENSE_COLUMNS), _concat(claims, CLAIM_COLUMNS), missing


def read_observations(profile: str, reports: list[str]) -> pd.DataFrame:
    """Every report's observations for ``profile`` (reports that wrote none add no rows)."""
    frames = [pd.read_csv(_folder(profile, r) / OBSERVATIONS_FILE, dtype=str, keep_default_na=False)
              for r in reports if (_folder(profile, r) / OBSERVATIONS_FILE).exists()]
    return _concat(frames, OBSERVATION_COLUMNS)
