# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python (adversarial-study)
#     language: python
#     name: adversarial-study
# ---

# %% [markdown]
# # ABS (analysis by synthesis) vs SimpleDLA on CIFAR-10 (report 000)
#
# This notebook reproduces **"A study and implementation of ABS (Analysis By Synthesis) model on
# Cifar-10"** (`000_b6b5692b2b10a99d.txt` in `../shared/reports/`). The report
#
# 1. trains ABS (Schott et al. 2019, *Towards the first adversarially robust neural network model
#    on MNIST*) on CIFAR-10, and a SimpleDLA CNN (kuangliu/pytorch-cifar), 25 epochs each:
#    45.38 % and 85.46 % clean test accuracy;
# 2. attacks both with L2 "FGSM" (the fast gradient method), I-FGSM and PGD at eps 0.1 / 0.2 / 0.3,
#    counting a misclassified clean image as broken at eps 0 (Tables 1-2, Figures 2-3);
# 3. concludes that ABS, although a poor classifier, "performs considerably better against attacks"
#    than DLA.
#
# We redo all of it and then attack ABS the way a defense built on an inner optimisation must be
# attacked: exact (Danskin) gradients, gradients through the unrolled optimisation, a score-based
# attack that needs no gradient, a transfer attack from DLA, the per-image worst case over all
# of them, and a check that the inner optimisation converges. Run it with
#
# ```
# make reproduce REPORTS=abs_cifar PROFILE=quick   # cifar10_jpeg on a CPU, within 5 min
# make reproduce REPORTS=abs_cifar PROFILE=paper   # the report's settings, GPU
# ```
#
# Every reduction of the quick profile is listed in `lib/reports/abs_cifar/profile.py`; outputs go
# to `figures/<profile>/abs_cifar/`.

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "paper"; None: paper on a GPU, quick otherwise
overrides = {}  # e.g. {"dla_epochs": 1}: any parameter of the profile

# %%
# `lib` comes first: importing it sets OpenMP's passive waiting before torch loads.
from lib import data, plots, precision, profiles, runtime  # isort: skip
import functools

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display

from lib import attacks, cache, stats, summary
from lib import tables as lib_tables
from lib.reports.abs_cifar import experiment as ex
from lib.reports.abs_cifar import figures, verdicts
from lib.reports.abs_cifar import reference as ref
from lib.reports.abs_cifar import tables as tb

cfg = profiles.resolve("abs_cifar", profile, overrides)   # every parameter checked before any compute
device = runtime.get_device(cfg.device)
policy = precision.use(cfg.precision, device)  # gradients in bf16 where native; decisions in fp32
print(f"precision: {policy}")
out = cfg.out_dir
info = data.info(cfg.dataset)
pd.set_option("display.precision", 3)
print(f"profile {cfg.profile!r} on {device}; data: {info.title}; figures and tables -> {out}")
if info.note:
    display(Markdown(f"**About the data ({info.title}).** {info.note}"))
cfg.table()

# %% [markdown]
# ## 1 The two models
#
# **SimpleDLA** (`lib.models.classifiers.dla`): kuangliu's layout (base convs 16-16-32, four
# aggregation trees up to 512 channels, 4 x 4 average pool, linear), normalisation as its first
# layer so eps is in pixel units; `dla_width` scales every channel count (1 in the paper profile).
# Trained with that repository's recipe: SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule,
# batch 128 (crop + flip in the paper profile).
#
# **ABS** (`lib.models.generative.abs_vae`, `lib.defenses.abs`): one VAE per class, trained only on
# that class's images with squared error + beta KL (beta 1, Adam 3e-3, batch 128). The original's
# networks are for 28 x 28 x 1 MNIST with an 8-dimensional latent. The report does not say how it
# adapted them; we keep four conv layers each way with ELU, but use stride-2, kernel-4 layers that
# halve (encoder) or double (decoder) the side exactly, 32 -> 16 -> 8 -> 4 -> 1, three output channels
# and a sigmoid, and a latent of `vae_latent` dimensions: a CIFAR-10 class varies far more than an
# MNIST digit, and with 16 dimensions 8,000 N(0, I) prototypes still sit inside the original's
# ||z|| <= 5 ball. We do **not binarise** the input: binarisation is an MNIST device of the
# original (nearly binary digits), meaningless for colour photographs. The ten VAEs are stored as
# one grouped network (each class its own channel block), so one pass decodes a latent for every class.

# %%
ctx = ex.prepare(cfg, device)
x_test, y_test, classes, title = ctx.test.x, ctx.test.y, ctx.test.classes, ctx.title
print(ctx.train, ctx.test, sep="\n")
dla_fit = ex.fit_dla(ctx)
dla = dla_fit.model.eval()
vaes, vae_info = ex.fit_vaes(ctx)
abs_model = ex.make_abs(ctx, vaes)
print(f"SimpleDLA: {sum(p.numel() for p in dla.parameters()):,} parameters, "
      f"{'loaded from cache' if dla_fit.from_cache else 'trained'}")
print(f"class VAEs: {sum(p.numel() for p in vaes.parameters()):,} parameters in all, "
      f"{'loaded from cache' if vae_info['from_cache'] else 'trained'}; final loss per image "
      f"{vae_info['history'][-1]['loss']:.1f}")
print(abs_model)

# %% [markdown]
# ### Clean accuracy
#
# ABS's inference (`lib.defenses.abs.ABS`) follows the original: `abs_prototypes` latents drawn once
# from N(0, I) (the least likely 10 % of the draws dropped), decoded **once per class** and reused
# for every image; the best prototype per image and class by the bound
# (||x - G_c(z)||^2 + beta 0.5 ||z||^2) / D; then `abs_steps` Adam steps (lr 0.05) on all
# N x 10 latents at once, ||z|| <= 5; logits = -440 x bound.

# %%
abs_ok = ex.correct(abs_model, x_test, y_test)
dla_ok = ex.correct(dla, x_test, y_test)
n_test = len(y_test)
clean = tb.clean_table({
    "ABS": (int(abs_ok.sum()), n_test, ref.REPORT_CLEAN["ABS"],
            f"{cfg.abs_prototypes} prototypes, {cfg.abs_steps} steps, VAEs {cfg.vae_epochs} epochs"),
    "SimpleDLA": (int(dla_ok.sum()), n_test, ref.REPORT_CLEAN["DLA"],
                  f"width {cfg.dla_width:g}, {cfg.dla_epochs} epochs"),
})
cap = tb.caption(f"Clean accuracy on {n_test} test images with its 95 % interval; the report's after "
                 f"{ref.REPORT_EPOCHS} epochs on CIFAR-10.", title)
lib_tables.save_and_show(clean, out / "clean_accuracy", caption=cap)
clean[["model", "what", "ours", "report (%)"]]

# %% [markdown]
# ## 2 The report's evaluation: Tables 1-2, Figures 1-3
#
# The three L2 attacks of the report (`lib.attacks`): the fast gradient method (one step of size eps
# along the normalised gradient; the report calls it FGSM), I-FGSM (`attack_steps` steps from x) and
# PGD (the same from a random start in the ball), all on the cross-entropy of the logits. On ABS the
# gradient is Danskin's: at the optimal latent z*, d bound / dx = 2 (x - G(z*)) / D (section 4 checks
# it against the unrolled optimisation). Every model is attacked over all test images (a clean
# mistake is broken at eps 0) on the eps grid `curve_eps`; an image broken at a smaller eps stays
# broken (its example lies in every larger ball), so each column is non-increasing and no broken
# image is attacked again.

# %%
abs_sweeps = ex.per_attack(ctx, abs_model, cfg.curve_eps, "abs")
dla_sweeps = ex.per_attack(ctx, dla, cfg.curve_eps, "dla")
abs_curves, dla_curves = tb.attack_curves(abs_sweeps), tb.attack_curves(dla_sweeps)
table1 = tb.report_table(abs_curves, ref.REPORT_TABLE1, cfg.eps)
table2 = tb.report_table(dla_curves, ref.REPORT_TABLE2, cfg.eps)
for number, name, t, model in [(1, "ABS", table1, "ABS"), (2, "DLA", table2, "SimpleDLA")]:
    cap = tb.caption(f"Table {number}: accuracy of {model} under L2 FGSM (FGM), I-FGSM and PGD "
                     f"({cfg.attack_steps} steps) over all {n_test} test images, ours with its 95 % interval "
                     "beside the report's.", title)
    lib_tables.save_and_show(t, out / f"table{number}_{name.lower()}", caption=cap)
    display(tb.wide(t))

# %% [markdown]
# **Figures 2-3**: accuracy against L2 eps for each attack, the report's numbers as hollow markers.

# %%
for number, name, curves, reference in [(2, "ABS", abs_curves, ref.REPORT_TABLE1),
                                        (3, "SimpleDLA", dla_curves, ref.REPORT_TABLE2)]:
    fig = plots.accuracy_vs_eps(curves, reference=figures.reference_curves(reference), chance=ctx.chance,
                                title=f"Figure {number}: {name}, accuracy vs L2 eps ({title})")
    plots.save(fig, out / f"figure{number}_{name.lower()}_accuracy_distortion.png")
    plt.show()

# %% [markdown]
# What the two tables say on this run, computed from them:

# %%
display(Markdown(tb.reading(table1, table2, {"ABS": int(abs_ok.sum()), "SimpleDLA": int(dla_ok.sum())}, n_test)))

# %% [markdown]
# **Figure 1.** The report shows one ABS prediction before and after its FGSM. We take the first
# test images (in the subset's order, not picked) that ABS classifies correctly and FGM breaks at the
# largest eps of the grid, and show beside each image what ABS "sees": the reconstruction
# G_c(z*) of the class it predicts.

# %%
fgm_res = abs_sweeps["FGSM"]
big = max(cfg.curve_eps)
broken = (fgm_res.clean_robust & (fgm_res.broken_at <= big)).nonzero().squeeze(1)[:3]
if len(broken):
    x1 = x_test[fgm_res.index[broken].to(device)]
    fig = figures.figure1(abs_model, x1, fgm_res.x_adv[broken].to(device), y_test[fgm_res.index[broken].to(device)],
                          classes, f"Figure 1: ABS before and after FGM (L2, eps <= {big:g}, {title})")
else:
    fig = figures.figure1(abs_model, x_test[:2], x_test[:2], y_test[:2], classes,
                          f"Figure 1: FGM broke no correctly classified image at eps <= {big:g} ({title})")
plots.save(fig, out / "figure1_abs_before_after_fgm.png")
plt.show()
recs = abs_model.reconstructions(x_test[:cfg.n_adaptive])
own = recs[torch.arange(len(recs)), y_test[:cfg.n_adaptive]]
rmse = (own - x_test[:cfg.n_adaptive]).pow(2).flatten(1).mean(1).sqrt()
display(Markdown(f"How well do the class VAEs explain an image of their own class? Per-pixel RMSE of "
                 f"G_y(z*) against x for the true class y, over the first {len(rmse)} test images: median "
                 f"**{rmse.median():.3f}** (pixel values in [0, 1]). The larger it is, the more ABS decides by "
                 "coarse colour layout rather than by objects, and the less its robustness here says about "
                 "ABS on CIFAR-10 with the paper's networks."))

# %% [markdown]
# ## 3 The report's own contradictions
#
# Read off its text and tables (computed from the transcribed numbers in
# `lib/reports/abs_cifar/reference.py`):

# %%
contra = verdicts.contradictions()
lib_tables.save_table(contra, out / "report_contradictions", caption="Contradictions within report 000.")
with pd.option_context("display.max_colwidth", None):
    display(contra)

# %% [markdown]
# The last row is the important one for the conclusion: a model that is right on fewer images has
# fewer to lose. The fair comparison is the share of *its own correctly classified* images each model
# keeps (section 5 does it on our run), or a paired test on the same images (McNemar).
#
# ## 4 Attacking ABS properly
#
# ABS decides by an inner optimisation, so a gradient attack has to get the gradient of *that* right.
#
# * **Danskin's theorem**: at the optimum, the gradient of the bound with respect to x is
#   2 (x - G_c(z*)) / D, exact when the inner loop has converged (tested against finite differences
#   in `tests/test_abs_cifar.py`).
# * **Unrolled**: backpropagation through all the Adam steps: the exact gradient of the function
#   ABS computes, converged or not. Below we compare the two gradients image by image, and run PGD with
#   each.

# %%
n_a = cfg.n_adaptive
abs_unrolled = abs_model.variant(mode="unrolled", chunk=64)   # its graph holds every inner step: smaller chunks
cos = ex.gradient_agreement(abs_model, abs_unrolled, x_test[:n_a], y_test[:n_a])
display(Markdown(f"Cosine similarity between Danskin's and the unrolled input gradient of the cross-entropy, "
                 f"over the first {n_a} test images: median **{cos.median():.3f}** "
                 f"(quartiles {cos.quantile(0.25):.3f} to {cos.quantile(0.75):.3f}, minimum {cos.min():.3f})."))
head = min(cfg.eps)
k = cfg.unrolled_steps
pgd_k = functools.partial(attacks.pgd, norm="2", steps=k)
both = {f"PGD Danskin ({k} steps)": pgd_k,
        f"PGD unrolled ({k} steps)": functools.partial(attacks.transfer, source=abs_unrolled, attack=pgd_k)}
modes = {name: ex.run_sweep(ctx, abs_model, {name: atk}, [head], f"abs-mode-{i}", x=x_test[:n_a], y=y_test[:n_a])
         for i, (name, atk) in enumerate(both.items())}
flags = {name: r.robust[:, -1] for name, r in modes.items()}
names = list(flags)
v = stats.verdict_paired(flags[names[1]], flags[names[0]], names=(names[1], names[0]))
display(Markdown(f"At L2 eps {head:g} on the first {n_a} images: "
                 + ", ".join(f"{nm} leaves {int(f.sum())} of {n_a}" for nm, f in flags.items())
                 + f". McNemar: {v.detail}."))

# %% [markdown]
# ### Does the inner optimisation converge?
#
# If more prototypes or more Adam steps changed many decisions, the ABS we attack would be a
# different classifier from the one the paper describes, and Danskin's gradient would be off.

# %%
conv = tb.convergence_table(ex.convergence(ctx, vaes))
cap = tb.caption(f"Clean accuracy of ABS against the number of prototypes and Adam steps ({n_test} test images; "
                 f"'agree with main': share of decisions equal to those of the profile's ABS, "
                 f"{cfg.abs_prototypes} prototypes and {cfg.abs_steps} steps).", title)
lib_tables.save_and_show(conv, out / "abs_convergence", caption=cap)
conv[["prototypes", "steps", "clean accuracy", "agree with main"]]

# %% [markdown]
# ### The worst case over every attack
#
# Per image, the strongest of: the report's three attacks, PGD on the margin loss, a transfer attack
# (PGD crafted on SimpleDLA), PGD through the unrolled optimisation, and **Square L2**
# (Andriushchenko et al. 2020), a score-based random search that needs no gradient at all: if ABS
# only masked its gradients, Square would find what the gradient attacks miss. (Boundary and
# HopSkipJump, decision-based, are in no library installed here; Square stands for the black-box
# attacks.) Cheap attacks run first, and each runs only on the images all earlier ones left
# standing. DLA gets the same set, without the attacks specific to ABS. The grid is the report's
# eps and the largest of `curve_eps` (Square's queries are the costly part).

# %%
adaptive = ex.adaptive_attacks(cfg, dla, abs_unrolled)
dla_set = ex.adaptive_attacks(cfg, None, None)
grid = ex.adaptive_eps(cfg)
worst = {"ABS": ex.worst_case(ctx, abs_model, abs_sweeps, adaptive, "abs-adaptive", grid),
         "SimpleDLA": ex.worst_case(ctx, dla, dla_sweeps, dla_set, "dla-adaptive", grid)}
adapt = tb.adaptive_table(worst, {"ABS": [*ref.ATTACKS, *adaptive], "SimpleDLA": [*ref.ATTACKS, *dla_set]})
cap = tb.caption(f"Worst case per image over the adaptive attack set, all {n_test} test images, and how many "
                 "images each attack broke first.", title)
lib_tables.save_and_show(adapt, out / "adaptive_worst_case", caption=cap)
display(adapt)
fig = figures.worst_case_figure({m: r.worst_case for m, r in worst.items()},
                                f"Worst case over all attacks, L2 ({title})", ctx.chance)
plots.save(fig, out / "figure4_worst_case.png")
plt.show()
med = {m: ex.median_l2(r) for m, r in worst.items()}
display(Markdown("Median L2 eps needed to break a correctly classified image (the smallest grid eps at "
                 "which the worst case broke it; inf: more than half survive the grid): "
                 + ", ".join(f"{m} **{v_:g}**" for m, v_ in med.items()) + "."))

# %% [markdown]
# ### Sanity checks
#
# The checks of Carlini et al. (2019) on each model's per-attack curves: a model better than chance,
# accuracy not rising with eps (true by construction of the sweep), I-FGSM and PGD at least as strong
# as FGM, and accuracy near chance or below at the largest L2 eps of the grid.

# %%
sanity = tb.sanity_table({"ABS": abs_curves, "SimpleDLA": dla_curves},
                         {"ABS": (float(abs_ok.float().mean()), n_test),
                          "SimpleDLA": (float(dla_ok.float().mean()), n_test)},
                         chance=ctx.chance, large_eps=big)
lib_tables.save_table(sanity, out / "sanity_checks", caption=tb.caption("Evaluation sanity checks.", title))
display(Markdown(f"**Sanity checks**: {int(sanity['passed'].sum())} of {len(sanity)} passed."))
sanity

# %% [markdown]
# ## 5 The report's claims, our strongest evaluation, the verdicts
#
# "ABS is more robust than DLA" is judged on the same images by McNemar's exact test, under the
# report's own attacks (the worst of its three per image) and under our worst case; the fair
# version compares the share of each model's correctly classified images it keeps.

# %%
why_not = verdicts.gate(cfg.dataset, {"ABS": (int(abs_ok.sum()), n_test), "DLA": (int(dla_ok.sum()), n_test)},
                        ctx.chance)


def report_robust(sweeps, eps):
    """Per image: survives all three of the report's attacks at eps."""
    j = sorted(cfg.curve_eps).index(eps)
    return torch.stack([r.robust[:, j] for r in sweeps.values()]).all(0)


rows, defense_rows = [verdicts.poor_classifier(abs_ok, dla_ok, why_not)], []
for e in cfg.eps:
    j = worst["ABS"].eps.index(e)
    ours = {"report's attacks": (report_robust(abs_sweeps, e), report_robust(dla_sweeps, e)),
            "worst case": (worst["ABS"].robust[:, j], worst["SimpleDLA"].robust[:, j])}
    for evaluation, (ra, rd) in ours.items():
        rows.append(verdicts.abs_more_robust(ra, rd, e, evaluation, why_not))
        rows.append(verdicts.kept_fraction(int(ra.sum()), int(abs_ok.sum()), int(rd.sum()), int(dla_ok.sum()),
                                           e, evaluation, why_not))
    for model, ok, sw, wc, tab in [("ABS", abs_ok, abs_sweeps, worst["ABS"], ref.REPORT_TABLE1),
                                   ("SimpleDLA", dla_ok, dla_sweeps, worst["SimpleDLA"], ref.REPORT_TABLE2)]:
        defense_rows.append(summary.defense_row(
            report=ex.REPORT, dataset=cfg.dataset, norm="2", eps=e, defense=model, baseline="SimpleDLA", n=n_test,
            clean_correct=int(ok.sum()), report_attack_robust=int(report_robust(sw, e).sum()),
            worst_robust=int(wc.robust[:, j].sum()), report_clean=ref.REPORT_CLEAN[model[-3:]] / 100,
            report_robust=min(tab[(a, e)] for a in ref.ATTACKS), report_attack="FGSM, I-FGSM, PGD (L2)",
            worst_attacks=", ".join([*ref.ATTACKS, *(adaptive if model == "ABS" else dla_set)]),
            evidence="adaptive_worst_case.csv"))
# Beyond the report's eps: the largest of the grid, worst case only (is ABS's edge, if any, larger there?).
jb = worst["ABS"].eps.index(max(worst["ABS"].eps))
ra, rd = worst["ABS"].robust[:, jb], worst["SimpleDLA"].robust[:, jb]
rows += [verdicts.abs_more_robust(ra, rd, max(worst["ABS"].eps), "worst case", why_not),
         verdicts.kept_fraction(int(ra.sum()), int(abs_ok.sum()), int(rd.sum()), int(dla_ok.sum()),
                                max(worst["ABS"].eps), "worst case", why_not)]
claims = pd.DataFrame(rows)
cap = f"The report's claims and our verdicts ({cfg.profile} profile, {title})."
lib_tables.save_and_show(claims, out / "verdicts", caption=cap)
with pd.option_context("display.max_colwidth", None):
    display(claims)
summary.write(runtime.output_dir(ex.REPORT, cfg.profile), defense_rows,
              [summary.claim_row(report=ex.REPORT, claim=f"{r.claim} [{r.evaluation}]", verdict=r.verdict,
                                 interval=r.interval, evidence="verdicts.csv") for r in claims.itertuples()])

# %%
headline = min(cfg.eps)
jh = worst["ABS"].eps.index(headline)
pct = lambda k_, n_: stats.format_interval(k_ / n_, *stats.clopper_pearson(k_, n_))  # noqa: E731
lines = [f"**Closing note ({cfg.profile} profile, {title}, {n_test} test images).**", "",
         f"- Clean accuracy: ABS {pct(int(abs_ok.sum()), n_test)} % (report {ref.REPORT_CLEAN['ABS']} %), "
         f"SimpleDLA {pct(int(dla_ok.sum()), n_test)} % (report {ref.REPORT_CLEAN['DLA']} %).",
         f"- At L2 eps {headline:g}, the report's attacks leave ABS "
         f"{pct(int(report_robust(abs_sweeps, headline).sum()), n_test)} % and DLA "
         f"{pct(int(report_robust(dla_sweeps, headline).sum()), n_test)} % (report: ABS PGD "
         f"{100 * ref.REPORT_TABLE1[('PGD', headline)]:g} %, "
         f"DLA PGD {100 * ref.REPORT_TABLE2[('PGD', headline)]:g} %); "
         f"the worst case over every attack leaves ABS {pct(int(worst['ABS'].robust[:, jh].sum()), n_test)} % and "
         f"DLA {pct(int(worst['SimpleDLA'].robust[:, jh].sum()), n_test)} %.",
         f"- Danskin vs unrolled gradients: median cosine {cos.median():.3f} on {n_a} images.",
         f"- Sanity checks: {int(sanity['passed'].sum())} of {len(sanity)} passed.", "", "**Verdicts**", ""]
lines += [f"- *{r.claim}* ({r.evaluation}): **{r.verdict}**. {r.evidence}. {r.interval}" for r in claims.itertuples()]
if info.note:
    lines += ["", f"*About the data:* {info.note}"]
note = "\n".join(lines)
cache.atomic_write_text(note + "\n", out / "closing_note.md")
display(Markdown(note))

# %% [markdown]
# How to read the verdicts. The report's headline claim is that ABS resists attacks better than DLA.
# It rests on the report's own three gradient attacks, on models whose clean accuracies differ by
# 40 points, and on numbers that contradict each other (section 3). The rows above judge it on the
# same images by a paired test, under the report's attacks and under the worst case over attacks that
# take ABS's inner optimisation into account, and with the fair denominator (each model's own correct
# images). The last two rows go beyond the report's eps, to the largest of the grid, under the worst
# case only. A verdict is printed only where the interval or the test supports it; at the quick profile
# the models are much weaker than the report's, and anything about CIFAR-10 itself needs the paper
# profile on a GPU.
