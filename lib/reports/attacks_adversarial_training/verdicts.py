"""Report 002's claims, in its own words, with what each implies on a run; and our observations.

Every claim is quoted from the report (``reference.QUOTES``) and judged by :mod:`lib.verdicts`,
one Holm family for the report. Per-image flags come from the run's sweeps, so every comparison
is paired on the same images:

- its numbers are "accuracy is about v" claims (:data:`~lib.verdicts.VALUE`, 5-point margin):
  the base model's clean accuracy (87.75 %), FGSM at eps 0.05 (22.0 %) and 0.5 (13.77 %), PGD at
  eps 0.05 (7.6 %), over the base model's correctly classified images (its convention), and the
  contrastive 1-NN rule's clean accuracy (80 %);
- "PGD ... more effective than FGSM" (base model, every eps of Table 1) and "much higher accuracy
  when defending over the FGSM attack" (each adversarially trained model, Table 2's eps) compare
  two attacks on one model's correctly classified images; "mitigated by adversarial training"
  compares each adversarially trained model with the base model over all test images, under the
  report's attacks (per image the worse of FGSM and PGD, Table 2's eps) and under the worst case
  of the strong set (``strong_eps``): exact McNemar;
- "the overall accuracy is slightly lower for the model with Gaussian noise" (Figure 6, noise
  after conv1) and "very similar as with the first approach" (Figure 7, noise between the dense
  layers) are equivalence claims, noisy vs base under FGSM over all test images at Table 2's eps,
  within +-5 points; "did not provide a good enough defense method" is NOT_BETTER (at most 5
  points better) under the strong set's worst case, the noisy models attacked with EOT;
- section 3.3's "results really close to the results we got without adversarial training at all
  (... similar accuracy after our attacks)" says the contrastive 1-NN rule is no more robust than
  the undefended base model: NOT_BETTER (5 points), per image the worst of the attacks on each
  (on the 1-NN rule: FGSM on the softmax head and FGSM / PGD through the latent distances) at
  ``latent_eps``; "results were not very satisfying": NOT_BETTER than the same 1-NN rule on the
  plain model's representation under the strong set's worst case; "an example ... might end up
  in the middle of the blue cluster after an FGSM attack": FGSM at eps 0.01 lowers the 1-NN
  accuracy (McNemar, clean vs attacked); "the distance between an image and its 1-NN is, on
  average, greater than the distance between the attacked image and its 1-NN": more images move
  closer than farther (exact sign test, as McNemar on the flags "closer" / "farther").

Gates (:class:`lib.verdicts.Requirement`): nothing is judged on synthetic stand-in data; the
clean accuracies only for models trained as the report did (its crop / flip augmentation on
the 50,000 training images; the contrastive model from scratch with eq. (5) at weight 1); the
comparisons of two attacks on the base model only when it is trained (above chance); every
other claim only when the base model is within 5 points of the report's 87.75 % (and, for the
contrastive claims, the contrastive 1-NN rule within 5 points of its 80 %), and the defended
models behind it are above chance.
"""
from __future__ import annotations

import pandas as pd
import torch

from lib import evaluate, stats
from lib import verdicts as lv
from lib.reports.attacks_adversarial_training import experiment as ex
from lib.reports.attacks_adversarial_training import reference as ref
from lib.reports.attacks_adversarial_training.run import Run
from lib.verdicts import Claim, Comparison, Count, Observation, Paired, Requirement

REPORT_ATTACKS = "the report's FGSM and PGD (per image the worse)"
WORST = "worst case over the strong set"
LATENT = "every attack on each (per image the worst)"


# --------------------------------------------------------------------------- gates
def _trained(run: Run, model: str) -> Requirement:
    k, n = run.clean_count(model)
    ok = evaluate.above_chance(k / n, n, run.ctx.chance)
    return lv.condition(f"{model} trained", ok, f"{model}'s clean accuracy {100 * k / n:.1f} % over {n} images is "
                                             f"{'above' if ok else 'not above'} chance ({100 * run.ctx.chance:g} %)")


def _gates(run: Run) -> dict[str, tuple[Requirement, ...]]:
    """Named gate sets (see the module docstring)."""
    cfg = run.cfg
    real = lv.condition("CIFAR-10 data", run.ctx.real, f"{run.title} is a synthetic stand-in, not CIFAR-10")
    recipe = cfg["augment"] == "crop_flip" and cfg["n_train"] >= ref.REPORT_N_TRAIN
    as_report = lv.budget("base model trained as the report", recipe,
                          f"the base model trained {'with' if cfg['augment'] else 'without'} the report's crop / flip "
                          f"augmentation, on {cfg['n_train'] - cfg['n_val']:,} of {cfg['n_train']:,} training images "
                          f"(report: with it, on its {ref.REPORT_N_TRAIN:,})")
    nn_recipe = (not cfg["finetune"] and cfg["contrastive_weight"] == ref.REPORT_CONTRASTIVE_WEIGHT
                 and cfg["n_train"] >= ref.REPORT_N_TRAIN)
    how = "fine-tuned from the base model" if cfg["finetune"] else "trained"
    nn_as_report = lv.budget("contrastive model trained as the report", nn_recipe,
                             f"the contrastive model {how} with eq. (5) at weight {cfg['contrastive_weight']:g} "
                             f"on {cfg['n_train']:,} training images (report: from scratch, weight "
                             f"{ref.REPORT_CONTRASTIVE_WEIGHT:g}, {ref.REPORT_N_TRAIN:,})")
    base_ok = lv.clean_baseline(ex.BASE, *run.clean_count(ex.BASE), ref.REPORT_BASE_ACCURACY / 100)
    nn_ok = lv.clean_baseline(ex.NN_CONTRASTIVE, *run.clean_count(ex.NN_CONTRASTIVE), ref.REPORT_NN_CLEAN / 100)
    out = {"data": (real,), "base as report": (real, as_report), "nn as report": (real, nn_as_report),
           "attacks": (real, _trained(run, ex.BASE)), "base": (real, base_ok),
           "contrastive": (real, base_ok, nn_ok), "nn": (real, nn_ok)}
    for m in (*run.at_sweeps, *run.noise):
        out[m] = (real, base_ok, _trained(run, m))
    return out


def _claim(key: str, id_: str, kind: str, comparison: Comparison, data, gate, table: str, claim: str,
           value: float | None = None) -> Claim:
    q = ref.QUOTES[key]
    return Claim(report=ex.REPORT, id=id_, quote=q.text, section=q.section, kind=kind, comparison=comparison,
                 data=data, value=value, gate=gate, table=table, claim=claim, margin=lv.DEFAULT_MARGIN)


def _correct_only(run: Run, model: str, a: torch.Tensor, b: torch.Tensor) -> Paired:
    """Flags of two attacks on ``model`` over the images it classifies correctly (the report's
    convention: a clean mistake is broken under both and would only dilute the difference)."""
    keep = run.clean(model)
    return Paired(a[keep], b[keep])


# --------------------------------------------------------------------------- claims
def _attack_claims(run: Run, gates, images: str) -> list[Claim]:
    base, out = run.base, []
    k_correct = int(run.clean(ex.BASE).sum())
    for key, attack, eps, number in (("fgsm_005", "FGSM", 0.05, ref.REPORT_TEXT_FGSM_005),
                                     ("fgsm_05", "FGSM", 0.5, ref.REPORT_TEXT_FGSM_05),
                                     ("pgd_005", "PGD", 0.05, ref.REPORT_TEXT_PGD_005)):
        data = Count(*ex.over_correct(base[attack], eps)) if eps in base[attack].eps and k_correct else None
        out.append(_claim(key, key, lv.VALUE, Comparison((ex.BASE,), attack, eps, "inf", "its correctly classified "
                                                      + images), data, gates["base"], "table1_fgsm_pgd.csv",
                          f"{attack} at eps {eps:g} leaves {number:g} % of the base model's correct images",
                          number / 100))
    for e in run.cfg["eps"]:
        out.append(_claim("pgd_stronger", f"pgd_stronger_{e:g}", lv.SUPERIORITY,
                          Comparison(("base model under FGSM", "base model under PGD"), "FGSM vs PGD", e, "inf",
                                     "the base model's correctly classified " + images),
                          _correct_only(run, ex.BASE, ex.robust_at(base["FGSM"], e), ex.robust_at(base["PGD"], e)),
                          gates["attacks"], "table1_fgsm_pgd.csv",
                          f"PGD leaves less accuracy than FGSM on the base model, eps {e:g}"))
    return out


def _adversarial_claims(run: Run, gates, images: str) -> list[Claim]:
    out = []
    for m, per in run.at_sweeps.items():
        for e in run.cfg["table2_eps"]:
            out.append(_claim("at_higher_vs_fgsm", f"at_higher_vs_fgsm_{m.lower()}_{e:g}", lv.SUPERIORITY,
                              Comparison((f"{m} under FGSM", f"{m} under PGD"), "FGSM vs PGD", e, "inf",
                                         f"{m}'s correctly classified " + images),
                              _correct_only(run, m, ex.robust_at(per["FGSM"], e), ex.robust_at(per["PGD"], e)),
                              gates[m], "table2_adversarial_training.csv",
                              f"{m} keeps more accuracy under FGSM than under PGD, eps {e:g}"))
        for e in run.cfg["table2_eps"]:
            out.append(_claim("at_mitigates", f"at_mitigates_{m.lower()}_{e:g}", lv.SUPERIORITY,
                              Comparison((m, ex.BASE), REPORT_ATTACKS, e, "inf", "all " + images),
                              Paired(ex.under_all(per, e), ex.under_all(run.base, e, ("FGSM", "PGD"))), gates[m],
                              "table2_adversarial_training.csv",
                              f"{m} is more robust than the base model under FGSM and PGD, eps {e:g}"))
        for e in run.cfg["strong_eps"]:
            out.append(_claim("at_mitigates", f"at_mitigates_worst_{m.lower()}_{e:g}", lv.SUPERIORITY,
                              Comparison((m, ex.BASE), WORST, e, "inf", f"the first {run.cfg['n_strong']} test images"),
                              Paired(run.strong[m].robust_at(e), run.strong[ex.BASE].robust_at(e)), gates[m],
                              "adaptive_worst_case.csv",
                              f"{m} is more robust than the base model in the worst case, eps {e:g}"))
    return out


def _noise_claims(run: Run, gates, images: str) -> list[Claim]:
    out = []
    keys = {ex.NOISE_LABELS["conv1"]: "noise_slightly_lower", ex.NOISE_LABELS["dense"]: "noise_dense_similar"}
    for m, fgsm in run.noise.items():
        for e in run.cfg["table2_eps"]:
            out.append(_claim(keys[m], f"{keys[m]}_{e:g}", lv.EQUIVALENCE,
                              Comparison((m, ex.BASE), "FGSM", e, "inf", "all " + images),
                              Paired(ex.robust_at(fgsm, e), ex.robust_at(run.base["FGSM"], e)), gates[m],
                              "figures6_7_noise_fgsm.csv",
                              f"{m} is about as accurate as the base model under FGSM (+-5 points), eps {e:g}"))
        for e in run.cfg["strong_eps"]:
            out.append(_claim("noise_not_enough", f"noise_not_enough_{m.replace(' ', '_')}_{e:g}", lv.NOT_BETTER,
                              Comparison((m, ex.BASE), WORST + " (EOT on the noisy model)", e, "inf",
                                         f"the first {run.cfg['n_strong']} test images"),
                              Paired(run.strong[m].robust_at(e), run.strong[ex.BASE].robust_at(e)), gates[m],
                              "adaptive_worst_case.csv",
                              f"{m} is at most 5 points more robust than the base model in the worst case, eps {e:g}"))
    return out


def _contrastive_claims(run: Run, gates, images: str) -> list[Claim]:
    con, cfg = ex.NN_CONTRASTIVE, run.cfg
    k, n = run.clean_count(con)
    out = [_claim("nn_clean", "nn_clean", lv.VALUE, Comparison((con,), "clean", None, None, "all " + images),
                  Count(k, n), gates["nn as report"], "table4_contrastive_1nn.csv",
                  f"the contrastive 1-NN rule's clean accuracy is {ref.REPORT_NN_CLEAN:g} %",
                  ref.REPORT_NN_CLEAN / 100)]
    for e in cfg["latent_eps"]:
        base = ex.under_all(run.base, e, ("FGSM", "PGD")) if e in run.base["FGSM"].eps else None
        out.append(_claim("contrastive_no_more_robust", f"contrastive_no_more_robust_{e:g}", lv.NOT_BETTER,
                          Comparison((con, ex.BASE), LATENT, e, "inf", "all " + images),
                          None if base is None else Paired(ex.under_all(run.latent[con], e), base),
                          gates["contrastive"], "table4_contrastive_1nn.csv",
                          f"the contrastive 1-NN rule is at most 5 points more robust than the undefended base "
                          f"model, eps {e:g}"))
    for e in cfg["strong_eps"]:
        out.append(_claim("contrastive_not_satisfying", f"contrastive_not_satisfying_{e:g}", lv.NOT_BETTER,
                          Comparison((con, ex.NN_PLAIN), WORST, e, "inf", f"the first {cfg['n_strong']} test images"),
                          Paired(run.strong[con].robust_at(e), run.strong[ex.NN_PLAIN].robust_at(e)),
                          gates["contrastive"], "adaptive_worst_case.csv",
                          f"the contrastive loss makes the 1-NN rule at most 5 points more robust, eps {e:g}"))
    e = ref.REPORT_NN_EPS
    fgsm = run.latent[con][ex.LATENT_TRANSFER]
    out.append(_claim("fgsm_crosses_clusters", "fgsm_crosses_clusters", lv.SUPERIORITY,
                      Comparison((f"{con}, clean", f"{con} under FGSM"), ex.LATENT_TRANSFER, e, "inf", "all " + images),
                      Paired(run.clean(con), ex.robust_at(fgsm, e)) if e in fgsm.eps else None, gates["nn"],
                      "table4_contrastive_1nn.csv", f"FGSM at eps {e:g} changes 1-NN decisions (accuracy drops)"))
    d = run.distances
    moved = d.distance.get(ex.LATENT_TRANSFER)
    data = (Paired(moved < d.distance["clean"], moved > d.distance["clean"])
            if moved is not None and d.eps == e else None)
    out.append(_claim("attacked_closer", "attacked_closer", lv.SUPERIORITY,
                      Comparison(("attacked image closer", "attacked image farther"), ex.LATENT_TRANSFER, e, "inf",
                                 f"the first {d.n} test images"), data, gates["nn"], "contrastive_distances.csv",
                      f"after FGSM at eps {e:g} more images lie closer to their nearest reference than farther "
                      "(sign test)"))
    return out


def claims(run: Run) -> list[Claim]:
    """Every claim of report 002 about its results, with this run's data (see the module
    docstring); unjudged."""
    gates = _gates(run)
    images = f"test images of {run.cfg['dataset']}"
    k, n = run.clean_count(ex.BASE)
    out = [_claim("base_clean", "base_clean", lv.VALUE, Comparison((ex.BASE,), "clean", None, None, "all " + images),
                  Count(k, n), gates["base as report"], "report_vs_ours.csv",
                  f"the base model's clean accuracy is {ref.REPORT_BASE_ACCURACY:g} %", ref.REPORT_BASE_ACCURACY / 100)]
    for part in (_attack_claims, _adversarial_claims, _noise_claims, _contrastive_claims):
        out += part(run, gates, images)
    return out


# --------------------------------------------------------------------------- observations
def _obs(id_: str, where: str, what: str, evidence: str = "", source: str = "report text") -> Observation:
    return Observation(ex.REPORT, id_, where, what, evidence, source)


def contradictions() -> list[Observation]:
    """The report's inconsistencies and gaps, from the transcribed numbers (no run needed)."""
    t1, t2 = ref.REPORT_TABLE1, ref.REPORT_TABLE2
    eps2 = ref.REPORT_TABLE2_EPS
    pairs = "; ".join(f"{a} at eps {e:g}: Table 2 {t2[(a, 'no defense', e)]:g} vs Table 1 {t1[(a, e)]:g}"
                      for a in ("FGSM", "PGD") for e in eps2)
    at_001 = ", ".join(f"{d} FGSM {t2[('FGSM', d, 0.01)]:g} vs PGD {t2[('PGD', d, 0.01)]:g}"
                       for d in ("no defense", "AT-FGSM", "AT-PGD"))
    n_share = 100 * ref.REPORT_N_CORRECT / ref.REPORT_N_TEST
    return [
        _obs("table1_vs_table2", "Tables 1-2", "Table 2's undefended rows should repeat Table 1 (same model, "
             f"attacks and eps) but none does: {pairs}; the report does not say why"),
        _obs("table2_pgd_weaker_than_fgsm", "3.1 Adversarial Training, Table 2",
             f"at eps 0.01 PGD leaves more accuracy than FGSM on every model ({at_001}): an iterative attack whose "
             "first step is FGSM's should not be weaker, and it contradicts the text's \"much higher accuracy when "
             "defending over the FGSM attack\" at that eps"),
        _obs("at_pgd_below_at_fgsm", "3.1 Adversarial Training, Table 2",
             f"under FGSM at eps 0.05, AT-PGD keeps {t2[('FGSM', 'AT-PGD', 0.05)]:g} % against AT-FGSM's "
             f"{t2[('FGSM', 'AT-FGSM', 0.05)]:g} %, uncommented; the report gives neither the training eps nor "
             "PGD's steps"),
        _obs("n_correct_vs_accuracy", ref.QUOTE_N_CORRECT.section,
             f"{ref.REPORT_N_CORRECT} of {ref.REPORT_N_TEST} correctly classified test images is {n_share:.2f} %, "
             f"not the {ref.REPORT_BASE_ACCURACY} % of section 1.2: the sweeps ran on another model or image set"),
        _obs("pgd_text_vs_table", "2.3 Performance comparison",
             f"the text's PGD at eps 0.05 is {ref.REPORT_TEXT_PGD_005:g} % ({ref.REPORT_TEXT_PGD_005_IMAGES} images), "
             f"Table 1's {t1[('PGD', 0.05)]:g} %; {ref.REPORT_TEXT_PGD_005_IMAGES} / {ref.REPORT_N_CORRECT} = "
             f"{100 * ref.REPORT_TEXT_PGD_005_IMAGES / ref.REPORT_N_CORRECT:.2f} %"),
        _obs("pgd_floor", "2.3 Performance comparison, Table 1",
             f"PGD's accuracy stays at {t1[('PGD', 0.05)]:g}-{t1[('PGD', 0.5)]:g} % from eps 0.05 to 0.5 and rises "
             "slightly with eps; a PGD whose step grows with eps breaks almost every image at eps 0.3 (a third of "
             "the pixel range): a floor like this points to too few steps or a fixed step size"),
        _obs("pgd_at_0001", "2.3 Performance comparison, Table 1",
             f"PGD at eps 0.001 (a quarter of one 8-bit grey level) leaves {t1[('PGD', 0.001)]:g} % against FGSM's "
             f"{t1[('FGSM', 0.001)]:g} %: hard to square with so small a ball"),
        _obs("figure7_caption", ref.QUOTE_FIGURE7_CAPTION.section,
             f"Figure 7's caption repeats Figure 6's (\"{ref.QUOTE_FIGURE7_CAPTION.text}\") although the text says "
             f"\"{ref.QUOTE_FIGURE7_TEXT.text}\""),
        _obs("dense_only_untested", ref.QUOTE_DENSE_ONLY.section,
             f"\"{ref.QUOTE_DENSE_ONLY.text}\": the report trains no model made only of dense layers, so this "
             "contrast has no data behind it"),
        _obs("single_example", ref.QUOTE_EXAMPLE.section,
             f"\"{ref.QUOTE_EXAMPLE.text}\" (and the cat at {ref.REPORT_EXAMPLE['PGD'][1]} % under PGD) is one image: "
             "an illustration, not a measurement; we show the first correctly classified test images instead"),
    ]


def contradictions_table() -> pd.DataFrame:
    """:func:`contradictions` as a table (:data:`lib.verdicts.OBSERVATION_COLUMNS`)."""
    return lv.observations_table(contradictions())


def observations(run: Run) -> list[Observation]:
    """:func:`contradictions`, and what this run adds: the report's table cells inside our
    intervals, AT-PGD vs AT-FGSM under PGD (Table 2's ordering, which the text does not claim),
    the noisy models under EOT and with the noise off, the 1-NN rule under the report's transfer
    attack vs an attack through the distances, the contrastive 1-NN rule's spread over draws of
    the references, and the failed sanity checks."""
    from lib.reports.attacks_adversarial_training import tables as tb

    out = contradictions()
    t1, t2 = tb.table1(run.base, run.cfg["eps"]), tb.table2(run.base, run.at_sweeps, run.cfg["table2_eps"])
    for name, t, file in (("Table 1", t1, "table1_fgsm_pgd.csv"), ("Table 2", t2, "table2_adversarial_training.csv")):
        cells = t[t[tb.REPORT].notna()]
        out.append(_obs(f"{name.lower().replace(' ', '')}_cells", name,
                        f"{int(cells[tb.INSIDE].sum())} of {len(cells)} of the report's numbers lie inside our 95 % "
                        "intervals (over each model's correctly classified images)", file, "our run"))
    if {"AT-FGSM", "AT-PGD"} <= set(run.at_sweeps):
        for e in run.cfg["table2_eps"]:
            out.append(_paired_obs(f"at_pgd_vs_at_fgsm_{e:g}", "Table 2", f"under PGD at eps {e:g}",
                                   ("AT-PGD", ex.robust_at(run.at_sweeps["AT-PGD"]["PGD"], e)),
                                   ("AT-FGSM", ex.robust_at(run.at_sweeps["AT-FGSM"]["PGD"], e)),
                                   "table2_adversarial_training.csv"))
    out += _eot_observations(run)
    con = run.latent[ex.NN_CONTRASTIVE]
    for e in run.cfg["latent_eps"]:
        out.append(_paired_obs(f"nn_transfer_vs_distances_{e:g}", "3.3 Defense Based on Latent Representation",
                               f"the contrastive 1-NN rule at eps {e:g}: the report's kind of attack (crafted on the "
                               "softmax head) against PGD through the latent distances",
                               (ex.LATENT_TRANSFER, ex.robust_at(con[ex.LATENT_TRANSFER], e)),
                               ("PGD through distances", ex.robust_at(con["PGD through distances"], e)),
                               "table4_contrastive_1nn.csv"))
    if run.reference_draws is not None:
        out.append(_reference_draw_obs(run))
    failed = run.sanity[~run.sanity["passed"]]
    out.append(_obs("sanity_checks", "our evaluation", f"{len(run.sanity) - len(failed)} of {len(run.sanity)} sanity "
                    "checks of the report's sweeps passed" + ("; failed: " + "; ".join(
                        f"{r.sweep}: {r.check} ({r.attack})" for r in failed.itertuples()) if len(failed) else ""),
                    "sanity_checks.csv", "our run"))
    return out


def _reference_draw_obs(run: Run) -> Observation:
    d = run.reference_draws[run.reference_draws["rule"] == ex.NN_CONTRASTIVE]
    acc = 100 * d["correct"] / d["n"]
    return _obs("reference_draws", "3.3 Defense Based on Latent Representation",
                f"the contrastive 1-NN rule's clean accuracy over {len(d)} draws of {run.cfg['refs_per_class']} "
                f"references per class ranges from {acc.min():.1f} to {acc.max():.1f} % (mean {acc.mean():.1f} %; "
                f"{acc.iloc[0]:.1f} % with the draw every other result uses, the one its gate judges): the report "
                "draws its references once, so its \"80% accuracy before attack\" carries this spread beside the "
                "sampling of test images", "reference_draws.csv", "our run")


def _paired_obs(id_: str, where: str, what: str, a: tuple[str, torch.Tensor], b: tuple[str, torch.Tensor],
                evidence: str) -> Observation:
    t = stats.paired_counts(a[1], b[1])
    d, lo, hi = stats.newcombe_paired(t)
    p = stats.mcnemar_exact(a[1], b[1]).p_value
    return _obs(id_, where, f"{what}: {a[0]} {t.both + t.a_only} vs {b[0]} {t.both + t.b_only} of {t.n} images "
                f"robust, difference {lv.format_effect(d, lo, hi)} points, exact McNemar p = {p:.2g} (not a claim of "
                "the report: outside its Holm family)", evidence, "our run")


def _eot_observations(run: Run) -> list[Observation]:
    out = []
    base = run.eot[ex.BASE]["PGD"]
    for m in run.noise:
        per, off = run.eot[m], run.eot[f"{m}, noise off at test"]
        for e in run.cfg["eot_eps"]:
            acc = {k: f"{100 * float(ex.robust_at(s, e).float().mean()):.1f} %" for k, s in per.items()}   # all images
            out.append(_paired_obs(f"eot_{m.replace(' ', '_')}_{e:g}", "3.2 Defense Based on Gaussian Noise",
                                   f"{m} at eps {e:g}, over all {len(base.index)} images: under PGD {acc['PGD']}, "
                                   f"PGD-EOT {acc['PGD-EOT']}; the same "
                                   f"weights with the noise off under PGD "
                                   f"{100 * float(ex.robust_at(off['PGD'], e).float().mean()):.1f} %; against the "
                                   "base model under PGD on the same images",
                                   (f"{m} (PGD-EOT)", ex.robust_at(per["PGD-EOT"], e)),
                                   ("base model (PGD)", ex.robust_at(base, e)), "table3_noise_eot.csv"))
    return out
