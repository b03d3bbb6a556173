"""Report 000's claims, in its own words, with what each implies on a run; and our observations.

Every claim is quoted from the report (``reference.QUOTES``) and judged by :mod:`lib.verdicts`:

- sections C and D's numbers (clean accuracies; DLA and ABS under each attack at eps 0.1) are
  "accuracy is about v" claims, with a 5-point margin;
- "ABS performs poorly ... as a classifier" is DLA > ABS on clean images, "ABS performs
  considerably better against attacks" is ABS > DLA under the report's three attacks (per
  image, the worst of the three) at each of its eps, section E's "ABS certainly performs better
  and is robust" the same under our worst case over every attack, and "the drop ... is huge
  in comparison with that of ABS" is DLA losing more images to the report's attacks than ABS
  at eps 0.1: exact McNemar on the same images.

Gates: nothing is judged on synthetic stand-in data; the clean accuracies are judged only for
models trained as the report did (its 25 epochs on the 50,000 training images, SimpleDLA at
full width); a model's own number under attack (section D) when that model is trained as the
report (a budget gate: it blocks only "does not hold") and within 5 points of the report's clean
accuracy; every comparison of the two only when both are within 5 points (45.38 % and 85.46 %).
"""
from __future__ import annotations

import pandas as pd

from lib import stats
from lib.reports.abs_cifar import experiment as ex
from lib.reports.abs_cifar import reference as ref
from lib.reports.abs_cifar.run import MODELS, REPORT_NAME, Run, clean_counts
from lib.verdicts import (
    DEFAULT_MARGIN,
    SUPERIORITY,
    VALUE,
    Claim,
    Comparison,
    Count,
    Observation,
    Paired,
    Requirement,
    budget,
    clean_baseline,
    condition,
    format_effect,
    observations_table,
)

REPORT_ATTACKS = "the report's FGSM, I-FGSM and PGD (per image the worst)"
WORST = "worst case over every attack"
TABLES = {"ABS": "table1_abs.csv", "SimpleDLA": "table2_dla.csv"}


def _gates(run: Run) -> dict[str, tuple[Requirement, ...]]:
    """"data": real CIFAR-10; "<model> trained": the report's training budget; "baselines":
    both models within the margin of the report's clean accuracy."""
    cfg = run.ctx.cfg
    real = condition("CIFAR-10 data", not cfg["dataset"].startswith("synthetic"),
                     f"{run.ctx.title} is a synthetic stand-in, not CIFAR-10")
    full = cfg["n_train"] >= ref.REPORT_N_TRAIN
    on = f"on {cfg['n_train']:,} training images (report {ref.REPORT_N_TRAIN:,})"
    dla_ok = full and cfg["dla_epochs"] >= ref.REPORT_EPOCHS and cfg["dla_width"] == 1
    abs_ok = full and cfg["vae_epochs"] >= ref.REPORT_EPOCHS
    trained = {
        "SimpleDLA": budget("SimpleDLA trained as the report", dla_ok,
                            f"SimpleDLA trained {cfg['dla_epochs']} epochs (report {ref.REPORT_EPOCHS}) {on} at "
                            f"width {cfg['dla_width']:g}"),
        "ABS": budget("ABS trained as the report", abs_ok,
                      f"the class VAEs trained {cfg['vae_epochs']} epochs (report {ref.REPORT_EPOCHS}) {on}")}
    counts = clean_counts(run)
    base = tuple(clean_baseline(m, *counts[m], ref.REPORT_CLEAN[REPORT_NAME[m]] / 100) for m in MODELS)
    out = {"data": (real,), "ABS trained": (real, trained["ABS"]), "SimpleDLA trained": (real, trained["SimpleDLA"]),
           "baselines": (real, *base)}
    # A model's own number under attack is a property of that very network: its training budget
    # and its clean accuracy, not the other model's.
    out.update({f"{m} attacked": (real, trained[m], b) for m, b in zip(MODELS, base)})
    return out


def _claim(run: Run, key: str, id_: str, kind: str, comparison: Comparison, data, gate, table: str, claim: str,
           value: float | None = None) -> Claim:
    q = ref.QUOTES[key]
    return Claim(report=ex.REPORT, id=id_, quote=q.text, section=q.section, kind=kind, comparison=comparison,
                 data=data, value=value, gate=gate, table=table, claim=claim, margin=DEFAULT_MARGIN)


def claims(run: Run) -> list[Claim]:
    """Every claim of report 000 about its results, with this run's data (see the module
    docstring); unjudged."""
    cfg, gates = run.ctx.cfg, _gates(run)
    n = len(run.ctx.test.y)
    images = f"{n} test images of {cfg['dataset']}"
    clean = lambda *m: Comparison(m, "clean", None, None, images)  # noqa: E731
    out = [_claim(run, f"{k}_clean", f"{k}_clean", VALUE, clean(m), Count(int(run.correct[m].sum()), n),
                  gates[f"{m} trained"], "clean_accuracy.csv", f"{m}'s clean accuracy is {100 * v:g} %", v)
           for k, m, v in (("dla", "SimpleDLA", ref.REPORT_CLEAN["DLA"] / 100),
                           ("abs", "ABS", ref.REPORT_CLEAN["ABS"] / 100))]
    out.append(_claim(run, "abs_poor_classifier", "abs_poor_classifier", SUPERIORITY, clean("SimpleDLA", "ABS"),
                      Paired(run.correct["SimpleDLA"], run.correct["ABS"]), gates["baselines"], "clean_accuracy.csv",
                      "SimpleDLA is more accurate than ABS on clean images"))
    head = 0.1   # the eps of section D's numbers
    for attack in ref.ATTACKS:
        for m, numbers in (("SimpleDLA", ref.REPORT_TEXT_DLA_EPS01), ("ABS", ref.REPORT_TEXT_ABS_EPS01)):
            sweep = run.report_sweeps[m][attack]
            data = Count(int(sweep.robust[:, sweep.eps.index(head)].sum()), n) if head in sweep.eps else None
            out.append(_claim(run, attack, f"{REPORT_NAME[m].lower()}_{attack.lower()}_{head:g}", VALUE,
                              Comparison((m,), attack, head, "2", images), data, gates[f"{m} attacked"], TABLES[m],
                              f"{m} under {attack} at L2 eps {head:g} keeps {100 * numbers[attack]:g} %",
                              numbers[attack]))
    for e in cfg["eps"]:
        out.append(_claim(run, "abs_more_robust", f"abs_more_robust_{e:g}", SUPERIORITY,
                          Comparison(MODELS, REPORT_ATTACKS, e, "2", images),
                          Paired(*(ex.robust_under(run.report_sweeps[m], e) for m in MODELS)), gates["baselines"],
                          f"{TABLES['ABS']}, {TABLES['SimpleDLA']}",
                          f"ABS is more robust than SimpleDLA under the report's attacks, L2 eps {e:g}"))
    e = min(cfg["eps"])
    lost = [run.correct[m] & ~ex.robust_under(run.report_sweeps[m], e) for m in ("SimpleDLA", "ABS")]
    out.append(_claim(run, "dla_drops_more", f"dla_drops_more_{e:g}", SUPERIORITY,
                      Comparison(("SimpleDLA", "ABS"), REPORT_ATTACKS + ": images lost", e, "2", images),
                      Paired(*lost), gates["baselines"], f"{TABLES['ABS']}, {TABLES['SimpleDLA']}",
                      f"SimpleDLA loses more correctly classified images than ABS to the report's attacks, "
                      f"L2 eps {e:g}"))
    for e in cfg["eps"]:
        flags = [w.robust[:, w.eps.index(e)] for w in (run.worst[m] for m in MODELS)]
        out.append(_claim(run, "abs_robust", f"abs_robust_worst_{e:g}", SUPERIORITY, Comparison(MODELS, WORST, e, "2",
                                                                                                 images),
                          Paired(*flags), gates["baselines"], "adaptive_worst_case.csv",
                          f"ABS is more robust than SimpleDLA in the worst case over every attack, L2 eps {e:g}"))
    return out


# --------------------------------------------------------------------------- observations
def contradictions() -> list[Observation]:
    """The report's inconsistencies, computed from the transcribed numbers (no run needed)."""
    t2, text = ref.REPORT_TABLE2, ref.REPORT_TEXT_DLA_EPS01
    obs = lambda i, where, what: Observation(ex.REPORT, i, where, what)  # noqa: E731
    return [
        obs("table2_caption", "Table 2 caption",
            f"captioned \"{ref.REPORT_TABLE2_CAPTION_HEADER}\" although Table 2 holds DLA's numbers"),
        obs("text_vs_table2", "D. Results vs Table 2",
            "DLA at eps 0.1 in the text: " + " / ".join(f"{a} {text[a]:g}" for a in ref.ATTACKS)
            + "; in Table 2: " + " / ".join(f"{a} {t2[(a, 0.1)]:g}" for a in ref.ATTACKS)
            + f"; {sum(text[a] != t2[(a, 0.1)] for a in ref.ATTACKS)} of 3 disagree"),
        obs("pgd_weaker_than_fgsm", "Table 2",
            f"DLA's PGD at eps 0.1 ({t2[('PGD', 0.1)]:g}) leaves more accuracy than its FGSM ({t2[('FGSM', 0.1)]:g}) "
            f"and I-FGSM ({t2[('I-FGSM', 0.1)]:g}): an iterative attack whose first step is the gradient step "
            "should not be weaker"),
        obs("promised_attacks", "Abstract vs C. Experimental Settings",
            f"promises {', '.join(ref.REPORT_PROMISED_ATTACK_KINDS)} attacks; runs only "
            f"{', '.join(ref.REPORT_RUN_ATTACK_KINDS)} ones ({', '.join(ref.ATTACKS)})"),
        obs("clean_gap", "D. Results",
            f"\"ABS keeps more accuracy\" compares models whose clean accuracies differ by "
            f"{ref.REPORT_CLEAN['DLA'] - ref.REPORT_CLEAN['ABS']:.2f} points; as a share of its correct images ABS "
            f"keeps {ref.REPORT_TABLE1[('PGD', 0.1)] / (ref.REPORT_CLEAN['ABS'] / 100):.2f} under PGD at 0.1, DLA "
            f"{t2[('PGD', 0.1)] / (ref.REPORT_CLEAN['DLA'] / 100):.2f} (Table 2) or "
            f"{text['PGD'] / (ref.REPORT_CLEAN['DLA'] / 100):.2f} (text)"),
        obs("mnist_comparison", ref.QUOTE_MNIST.section,
            f"\"{ref.QUOTE_MNIST.text}\": the report attacks nothing on MNIST (it quotes the original paper's "
            "99 % clean accuracy only), so this comparison has no data behind it"),
    ]


def contradictions_table() -> pd.DataFrame:
    """:func:`contradictions` as a table (:data:`lib.verdicts.OBSERVATION_COLUMNS`)."""
    return observations_table(contradictions())


def _share(k: int, n: int) -> str:
    return stats.format_interval(k / n, *stats.clopper_pearson(k, n)) if n else "n/a"


def observations(run: Run) -> list[Observation]:
    """:func:`contradictions`, and what this run adds: the share of its own correct images each
    model keeps (the control the report's comparison lacks), the report's table cells inside
    our intervals, and ABS vs SimpleDLA beyond the report's eps."""
    out = contradictions()
    counts = clean_counts(run)
    for e in run.ctx.cfg["eps"]:
        kept = {m: int(ex.robust_under(run.report_sweeps[m], e).sum()) for m in MODELS}
        text = ", ".join(f"{m} keeps {kept[m]} of its {counts[m][0]} correct images, "
                         f"{_share(kept[m], counts[m][0])} %" for m in MODELS)
        out.append(Observation(ex.REPORT, f"kept_share_{e:g}", "D. Results", f"under the report's attacks at L2 eps "
                               f"{e:g}, {text}", f"{TABLES['ABS']}, {TABLES['SimpleDLA']}", "our run"))
    for m, table in (("ABS", run.tables[0]), ("SimpleDLA", run.tables[1])):
        inside = int(table["report inside our interval"].sum())
        out.append(Observation(ex.REPORT, f"table_cells_{REPORT_NAME[m].lower()}", f"Table {1 if m == 'ABS' else 2}",
                               f"{inside} of {len(table)} of the report's numbers for {m} lie inside our 95 % "
                               "intervals", TABLES[m], "our run"))
    big = max(run.worst["ABS"].eps)
    if big not in run.ctx.cfg["eps"]:
        flags = [run.worst[m].robust[:, run.worst[m].eps.index(big)] for m in MODELS]
        t = stats.mcnemar_exact(*flags)
        d, lo, hi = stats.newcombe_paired(stats.paired_counts(*flags))
        out.append(Observation(ex.REPORT, f"beyond_report_eps_{big:g}", "beyond the report",
                               f"at L2 eps {big:g} (beyond the report's grid), worst case over every attack: ABS "
                               f"{int(flags[0].sum())} vs SimpleDLA {int(flags[1].sum())} of {len(flags[0])} images, "
                               f"difference {format_effect(d, lo, hi)} points, exact McNemar p = {t.p_value:.2g} "
                               "(not a claim of the report: outside its Holm family)", "adaptive_worst_case.csv",
                               "our run"))
    return out
