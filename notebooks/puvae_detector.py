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
# # PuVAE purification with a reconstruction-error detector
#
# **The report.** *Augmenting robustness using adversarial detection* (A. Wester and R. E. Thisted,
# bachelor's project, 2020; `001_f6812e576f281240.txt` in `../shared/reports/`) puts a detector in
# front of PuVAE (Hwang et al. 2019). PuVAE is a conditional VAE: it reconstructs an input once
# under each of the 10 class labels, keeps the reconstruction closest to the input (least RMSE)
# and hands that to a fixed classifier. The report adds the idea of MagNet (Meng and Chen 2017):
# if even the closest reconstruction is far from the input, the input is probably off the data
# manifold, so it is rejected as adversarial.
#
# **What it claims.**
# 1. Adversarial inputs are reconstructed worse than clean ones (mean best-reconstruction RMSE
#    0.04 clean vs 0.13 under PGD at eps 0.3 on MNIST, section 4).
# 2. With a threshold set at a small false-positive rate on clean validation data, the detector
#    raises the robustness of PuVAE against FGSM and PGD on MNIST and Fashion-MNIST at a small
#    cost in clean accuracy; against BIM it changes little (Tables 3-5, section 5.3).
# 3. The detector puts "downward pressure" on the attacker's eps: large perturbations are
#    detected, so the most effective eps for the attacker is smaller than the largest allowed
#    (Figure 7, section 5.2); at that worst eps only a small share of inputs is rejected
#    (Figure 8, section 5.4).
# 4. On CIFAR-10, PuVAE's blurry reconstructions cost much clean accuracy and the detector helps little.
#
# The attacks in the report are made against the *undefended* classifier (transfer attacks);
# the report does not attack the defended pipeline itself. We add that adaptive attack in
# section 7.
#
# **How to run.** `make reproduce REPORTS=puvae_detector PROFILE=quick` (CPU, subsets of MNIST
# and Fashion-MNIST with Tables 3 and 4 as references, about five minutes) or `PROFILE=paper`
# (GPU, the report's settings on all three datasets); results go to
# `figures/<profile>/puvae_detector/`. In JupyterLab, edit the parameters cell below.
#
# **How we judge.** Every decision about a claim is made by a function of
# `lib/reports/puvae_detector/verdicts.py` (unit-tested on hand-made tables) that returns the
# claim, our evidence and a verdict: *holds*, *does not hold*, or *cannot be judged at this
# profile* where our models are too weak for the claim (section 5 lists the checks). The
# report's published numbers come from `lib/reports/puvae_detector/reference.py`.

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "paper"; None: paper on a GPU, quick otherwise
overrides = {}  # e.g. {"epochs": 1}: any parameter of the profile

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from lib import plots, precision, profiles, runtime, summary, tables, train
from lib.defenses import puvae
from lib.reports.puvae_detector import adaptive, reference, verdicts
from lib.reports.puvae_detector import experiment as exp
from lib.reports.puvae_detector import figures as rfig
from lib.reports.puvae_detector import tables as rtab

cfg = profiles.resolve("puvae_detector", profile, overrides)
S = exp.check_config(cfg)          # per-dataset settings, all checked before any compute
device = runtime.get_device(cfg.device)
policy = precision.use(cfg.precision, device)  # gradients in bf16 where native; decisions in fp32
print(f"precision: {policy}")
runtime.seed_everything(cfg.seed)
out = cfg.out_dir
print(f"profile {cfg.profile!r} on {device}; datasets {cfg.datasets}; outputs in {out}")
cfg.table()

# %% [markdown]
# ## 1. Data and classifiers (report Tables 1 and 6)
#
# Each dataset's training set is split into a training part (for both networks) and a held-out
# validation part that only sets the detector's threshold (section 5.1). Classifier A (MNIST,
# Fashion-MNIST) and B (CIFAR-10) follow the appendix's Table 6 with the batch sizes and
# epochs of Table 1 in the paper profile; the CPU profiles keep the layers but use fewer
# channels, fewer images and fewer epochs (see the profile table above). Table 6 does not
# state padding or the optimiser: we use unpadded convolutions and Adam.

# %%
R = {}  # everything per dataset
for s in S:
    r = R[s.dataset] = {"s": s}
    r["train"], r["val"], r["test"] = exp.load_splits(s)
    fit = exp.train_classifier(s, r["train"], device=device)
    r["clf"] = puvae.freeze(fit.model)
    r["x"], r["y"] = r["test"].x.to(device), r["test"].y.to(device)
    r["clf_acc"] = train.evaluate_accuracy(r["clf"], r["test"], device=device)
    print(f"{s.dataset}: {len(r['train'])} train / {len(r['val'])} val / {len(r['test'])} test; "
          f"classifier {'loaded from cache' if fit.from_cache else 'trained'}")
classifiers = rtab.classifier_summary(R)
tables.save_table(classifiers, out / "table1_classifiers", caption="Classifiers: report Table 1 vs ours")
classifiers

# %% [markdown]
# ## 2. PuVAE: the conditional VAE (report section 3.1, Tables 2 and 6)
#
# Networks C (28 x 28) and D (32 x 32 x 3) follow Table 6, with the latent size of Table 2.
# Where the table leaves room we read it as follows (details in `lib/models/generative/cvae.py`):
#
# - the one-hot label is concatenated to the flattened convolution features in the encoder
#   and to `z` in the decoder (that is what makes the VAE *conditional*);
# - "FC(z) ReLU / FC(z) Softplus" are the two heads of q(z | x, y): a linear mean and a
#   softplus standard deviation;
# - C's last layer ends in a sigmoid instead of the table's ReLU, so every reconstruction is an
#   image in [0, 1];
# - C's encoder convolutions (7 x 7, dilation 2) use "same" padding; otherwise three of them do
#   not fit a 28 x 28 image.
#
# **Loss.** PuVAE's objective is a weighted sum of three terms, with the weights 0.01, 0.1 and
# 10 of the PuVAE paper (parameters `w_rec`, `w_kl`, `w_ce`):
# the reconstruction term (Bernoulli negative log-likelihood summed over pixels), the KL
# divergence of q(z | x, y) from N(0, I), and the cross-entropy of the *frozen* classifier on the
# reconstruction with the true label. The last term makes each class-conditional reconstruction
# look like its class to the classifier.
#
# The scale of the terms is not written down anywhere we could find, and it matters: with the
# KL summed over z (per image), KL weighs ten times more than reconstruction per nat, the
# posterior collapses and reconstructions stop depending on the input (we tried it on
# Fashion-MNIST). We therefore average the KL over the dimensions of z (`kl_reduction="mean"`,
# the convention of much Keras VAE code); `kl_reduction="sum"` is one parameter away.
#
# The table below shows the last epoch of training: `train_acc` is the classifier's accuracy on
# the reconstructions made with the true label.

# %%
for s in S:
    r = R[s.dataset]
    fit = exp.train_puvae(s, r["clf"], r["train"], device=device)
    r["vae"] = fit.model.eval()
    r["vae_history"] = fit.history
    print(f"{s.dataset}: CVAE {'loaded from cache' if fit.from_cache else 'trained'}; last epoch:")
    display(fit.history.tail(1))

# %% [markdown]
# **Inference.** For an input x, the CVAE reconstructs x under each of the 10 labels in one
# batched pass (N x 10 reconstructions), the one of least RMSE is kept and classified. The
# network has a sampling layer in its inference graph (Table 6), so reconstructions are random
# draws; we keep that (`sample_at_inference`), and every evaluation below is seeded.
#
# ## 3. The detector and its threshold (report sections 4 and 5.1)
#
# The detector rejects an input when the RMSE between it and its best reconstruction exceeds a
# threshold t. As in MagNet, t is the smallest value for which at most a fraction `fpr` of the
# clean validation images would be rejected (0.1 % MNIST, 1 % Fashion-MNIST, 3 % CIFAR-10).
# We wrap classifier, PuVAE and detector in one module (`lib.defenses.puvae.PuVAEPipeline`) that returns
# 11 logits: the classifier's 10 on the chosen reconstruction and one for "rejected", which wins
# exactly when the RMSE exceeds t. So the defense is a classifier with an extra class, and the
# same module is what the adaptive attack of section 7 differentiates.

# %%
rows = []
for s in S:
    r = R[s.dataset]
    torch.manual_seed(s.seed)
    plain = puvae.PuVAEPipeline(r["vae"], r["clf"], None, temperature=s.st_temperature)
    r["val_rmse"] = plain.decide(r["val"].x.to(device)).rmse.cpu()
    r["t"] = puvae.threshold_at_fpr(r["val_rmse"], s.fpr)
    r["val_rejected"] = puvae.rejection_rate(r["val_rmse"], r["t"])
    r["plain"] = plain
    r["pipe"] = puvae.PuVAEPipeline(r["vae"], r["clf"], r["t"], temperature=s.st_temperature,
                                    reject_scale=s.reject_scale)
    rows.append({"dataset": s.dataset, "fpr target (%)": 100 * s.fpr, "threshold t": r["t"],
                 "validation rejected (%)": 100 * r["val_rejected"],
                 "validation RMSE median": float(r["val_rmse"].median())})
thresholds = pd.DataFrame(rows)
tables.save_table(thresholds, out / "detector_thresholds", caption="Detector thresholds at the validation FPR")
thresholds

# %% [markdown]
# ## 4. Transfer attacks over eps (report section 5)
#
# As in the report, FGSM, BIM and PGD (L-inf) are computed against the undefended classifier,
# and the adversarial images are then given to each defense. The scoring is the report's
# (MagNet's): an adversarial input counts as handled correctly when it is classified correctly
# *or* rejected; a clean input that is rejected counts as an error. We sweep the report's eps
# range (Figure 7) and the table's eps; every number in sections 4-6 comes from this one sweep.

# %%
for s in S:
    r = R[s.dataset]
    r["grid"], r["kept"] = exp.transfer_sweep(s, r["clf"], r["pipe"], r["x"], r["y"], keep=[("PGD", s.eps)])
    r["worst"] = exp.worst_case(r["grid"])
    tables.save_table(r["grid"], out / f"eps_grid_{s.dataset}",
                      caption=f"All transfer-attack results on {s.dataset} (fractions)")
    print(f"{s.dataset}: {len(r['grid'])} rows; worst eps for PuVAE + detector:")
    display(r["worst"])

# %% [markdown]
# ## 5. Reconstructions and reconstruction error (report section 4, Figure 6, appendices B-D)
#
# Figure 6 of the report shows a clean input and its PGD version (eps at the table's value)
# with their 10 class-conditional reconstructions, the chosen one highlighted. We show the
# first test image (not hand-picked) the same way, and the first few in the appendix grid. The
# number under each reconstruction is its RMSE to the input; the red frame marks the least.

# %%
for s in S:
    r = R[s.dataset]
    x_adv, _ = r["kept"][("PGD", float(s.eps))]
    k = s.n_show
    torch.manual_seed(s.seed)
    xs = torch.stack([t for i in range(k) for t in (r["x"][i], x_adv[i])])
    p = puvae.purify(r["vae"], xs)
    labels = [f"{kind}\n{r['test'].classes[int(r['y'][i])][:10]}" for i in range(k)
              for kind in ("clean", f"PGD {s.eps:g}")]
    fig = rfig.plot_reconstructions(xs[:2].cpu(), p.recons[:2].cpu(), p.rmse[:2].cpu(), p.chosen[:2].cpu(),
                                     r["test"].classes, row_labels=labels[:2],
                                     title=f"Figure 6: class-conditional reconstructions ({s.dataset})")
    plots.save(fig, out / f"figure6_reconstructions_{s.dataset}.png")
    fig = rfig.plot_reconstructions(xs.cpu(), p.recons.cpu(), p.rmse.cpu(), p.chosen.cpu(),
                                     r["test"].classes, row_labels=labels,
                                     title=f"Appendix grid: first {k} test images, clean and PGD ({s.dataset})")
    plots.save(fig, out / f"appendix_reconstructions_{s.dataset}.png")

# %% [markdown]
# The report's evidence for a detector is that adversarial inputs are reconstructed worse.
# Below: the best-reconstruction RMSE of the clean test images and of their PGD versions at
# the table's eps, with the threshold t.

# %%
rmse_rows = []
for s in S:
    r = R[s.dataset]
    clean = r["grid"][r["grid"]["attack"] == "none"].iloc[0]
    torch.manual_seed(s.seed)
    r["rmse_clean"] = r["pipe"].decide(r["x"]).rmse.cpu()
    r["rmse_adv"] = r["kept"][("PGD", float(s.eps))][1].rmse.cpu()
    ref = reference.REPORT_RMSE.get(reference.REFERENCE_OF[s.dataset], (None, None))
    rmse_rows.append({"dataset": s.dataset, "clean (ours)": float(r["rmse_clean"].mean()),
                      "PGD (ours)": float(r["rmse_adv"].mean()),
                      "clean (report, MNIST)": ref[0], "PGD (report, MNIST)": ref[1], "threshold t": r["t"],
                      "PGD rejected (%)": 100 * float((r["rmse_adv"] > r["t"]).float().mean())})
    fig = rfig.plot_rmse_histogram({"clean validation": r["val_rmse"], "clean test": r["rmse_clean"],
                                     f"PGD eps {s.eps:g} (test)": r["rmse_adv"]}, r["t"],
                                    title=f"Best-reconstruction RMSE ({s.dataset})")
    plots.save(fig, out / f"rmse_histogram_{s.dataset}.png")
rmse_table = pd.DataFrame(rmse_rows)
tables.save_table(rmse_table, out / "rmse_clean_vs_adversarial",
                  caption="Mean best-reconstruction RMSE, clean vs PGD (report section 4: MNIST {} vs {})".format(
                      *reference.REPORT_RMSE["mnist"]))
rmse_table

# %% [markdown]
# **Are the models good enough to judge the report?** A verdict on the detector needs a classifier
# that beats chance, a CVAE whose reconstructions depend on the input (not only on the label:
# an image must be closer to its own reconstruction than to the reconstruction of another image
# of its class under the same label), a CVAE that reconstructs clean inputs better than
# adversarial ones (else there is nothing to detect), and a PuVAE comparable to the report's
# (clean accuracy; clean RMSE where the report gives it). Claims that need a failed check are
# marked *cannot be judged at this profile* below; thresholds are in `verdicts.py`.

# %%
model_rows = []
for s in S:
    r = R[s.dataset]
    r["rmse_own"], r["rmse_other"] = exp.input_dependence(r["vae"], r["x"], r["y"], seed=s.seed)
    puvae_clean = float(r["grid"].loc[r["grid"]["attack"] == "none", "puvae"].iloc[0])
    r["checks"] = verdicts.model_checks(clf_acc=r["clf_acc"], puvae_acc=puvae_clean, n_test=len(r["y"]),
                                        rmse_own=r["rmse_own"], rmse_other=r["rmse_other"],
                                        rmse_clean=float(r["rmse_clean"].mean()),
                                        rmse_adv=float(r["rmse_adv"].mean()),
                                        **reference.published_quality(s.dataset))
    r["verdicts"] = [verdicts.reconstruction_claim(
        rmse_clean=float(r["rmse_clean"].mean()), rmse_adv=float(r["rmse_adv"].mean()),
        rejected_adv=puvae.rejection_rate(r["rmse_adv"], r["t"]), eps=s.eps, checks=r["checks"],
        report=reference.REPORT_RMSE.get(s.dataset))]
    model_rows.append(r["checks"].assign(dataset=s.dataset))
model_checks = pd.concat(model_rows, ignore_index=True)[["dataset", "check", "passed", "evidence"]]
tables.save_table(model_checks, out / "model_checks", caption="Are the models good enough to judge the report?")
with pd.option_context("display.max_colwidth", None):
    display(model_checks)
    display(pd.concat([R[s.dataset]["verdicts"][0].assign(dataset=s.dataset) for s in S], ignore_index=True))

# %% [markdown]
# ## 6. Robustness: Tables 3-5 and Figures 7-8 (report section 5)
#
# Columns as in the report: the undefended classifier, PuVAE, PuVAE + detector ("ours") at the
# table's eps, and PuVAE + detector at its worst eps over the grid ("ours worst"), with the
# report's numbers beside ours (for the synthetic smoke data, the Fashion-MNIST numbers are
# shown only to fill the layout). Accuracy in %.

# %%
for s in S:
    r = R[s.dataset]
    ref = reference.REFERENCE_OF[s.dataset]
    r["table"] = rtab.robustness_table(r["grid"], s.eps, ref)
    tables.save_table(r["table"], out / reference.table_name(s.dataset),
                      caption=f"Accuracy (%) under transfer attacks, eps {s.eps:g}, L-inf, {s.dataset}; "
                              f"report: {ref}")
    print(f"{reference.table_name(s.dataset)} (n = {len(r['y'])} test images)")
    display(r["table"].round(1))

# %% [markdown]
# **Figure 7** shows accuracy over the eps grid for PuVAE alone and with the detector (the
# undefended classifier dashed); the diamond marks the eps at which the detector does worst,
# the hollow squares the report's values at the table's eps. **Figure 8** shows the share of
# inputs the defense labels "adversarial" (rejected), again with the worst eps marked.

# %%
for s in S:
    r = R[s.dataset]
    fig = rfig.plot_accuracy_vs_eps(r["grid"], eps=s.eps, reference=reference.REFERENCE_OF[s.dataset],
                                     title=f"Figure 7: transfer attacks on {s.dataset} (n = {len(r['y'])})")
    plots.save(fig, out / f"figure7_accuracy_vs_eps_{s.dataset}.png")
    fig = rfig.plot_rejected_share(r["grid"], title=f"Figure 8: inputs rejected as adversarial ({s.dataset})")
    plots.save(fig, out / f"figure8_adversarial_label_{s.dataset}.png")

# %% [markdown]
# Claims 2 and 3, judged from the tables above (the detector raises PuVAE's accuracy against
# FGSM and PGD, changes little against BIM and costs little clean accuracy; the attacker's
# most effective eps lies below the largest eps for some attacks).

# %%
for s in S:
    r = R[s.dataset]
    r["verdicts"] += [
        verdicts.detector_claims(r["table"], eps=s.eps, fpr=s.fpr, n=len(r["y"]), checks=r["checks"]),
        verdicts.worst_eps_claim(r["grid"], checks=r["checks"],
                                 report_rejected=reference.REPORT_FIG8_MNIST if s.dataset == "mnist" else None)]
    with pd.option_context("display.max_colwidth", None):
        display(pd.concat(r["verdicts"][1:], ignore_index=True).assign(dataset=s.dataset))

# %% [markdown]
# ## 7. Beyond the report: an adaptive attack on the whole defense
#
# The attacks above never see PuVAE or the detector. An attacker who knows the defense attacks
# the pipeline itself, which is what "white-box" means for a defense (Carlini et al. 2019,
# *On Evaluating Adversarial Robustness*; Athalye et al. 2018). Our attack is L-inf PGD on
# `PuVAEPipeline` with three ingredients:
#
# 1. **Gradients through the chosen reconstruction.** The RMSE arg-min is a hard choice; the
#    forward pass keeps it, the backward pass uses the gradient of a softmax over the negative
#    RMSEs (straight-through, temperature `st_temperature`), so the attacker also learns how to
#    make a *different* class's reconstruction win.
# 2. **Expectation over the VAE's sampling.** Each gradient is averaged over `adaptive_eot`
#    draws of z (EOT), via the `eot` argument of `lib.attacks.pgd`.
# 3. **A detector term.** The loss is a margin over the 11 logits:
#    *largest wrong-class logit* minus *max(true-class logit, reject logit)*. It is positive
#    exactly when the input is accepted *and* misclassified, the only outcome the report's
#    scoring counts against the defense. While the input is rejected, the reject logit is the
#    active term and its gradient lowers the reconstruction error below t; once accepted, the
#    gradient is the ordinary classification margin. (Cross-entropy over 11 classes would be
#    wrong here: pushing "any other class" up includes pushing toward being rejected.)
#
# Two more attacks go after what the design leaves open, and run on both pipelines (the same set,
# so that the two worst cases compare like with like):
#
# 4. **The multi-target attack on the arg-min.** PuVAE classifies the reconstruction of least
#    RMSE. For a wrong class j, the attacker can make reconstruction j the closest, the
#    classifier say j on it, and its RMSE stay under t, all at once
#    (`lib.defenses.puvae.multi_target_attack`); it tries the `argmin_targets` wrong classes
#    whose reconstructions are already closest, each only on the images still standing.
# 5. **Square**, a gradient-free attack that only reads the pipeline's outputs: if it broke
#    images every gradient attack missed, the gradients would be masked.
#
# Every image meets the attacks in this order, starting with the report's own transfer PGD, and
# counts as robust only if it survives all of them (the *worst case*, scored as the report: a
# rejected input is handled; an image the pipeline gets wrong and accepts unattacked is broken).
# The transfer row is the accuracy under the report's attack alone, because it runs first. We
# use the first `n_adaptive` test images, and compare the detector with PuVAE alone on the same
# images by McNemar's exact test.

# %%
for s in S:
    r = R[s.dataset]
    n = min(s.n_adaptive, len(r["y"]))
    xa, ya = r["x"][:n], r["y"][:n]
    r["grad_share"] = puvae.gradient_check(r["pipe"], xa[:16], ya[:16])
    r["adaptive"], r["sweeps"] = adaptive.evaluate(s, r["clf"], {adaptive.PLAIN: r["plain"],
                                                                 adaptive.DETECTOR: r["pipe"]}, xa, ya)
    worst = adaptive.worst_table(r["adaptive"], r["sweeps"])
    tables.save_table(worst, out / f"adaptive_worst_case_{s.dataset}",
                      caption=f"Worst case over the adaptive attack set on {s.dataset} (report's scoring; %, "
                              f"95 % Clopper-Pearson intervals; n = {n})")
    display(worst)

# %% [markdown]
# **The straight-through temperature.** The arg-min is a hard choice; the attack's backward pass
# replaces it by a softmax over -RMSE / T. Too large a T blurs which reconstruction wins, too
# small a T gives almost no gradient to change it, and "none" only follows the chosen
# reconstruction. If the detector survived only at one temperature, the attack, not the defense,
# would be the weak point. Adaptive PGD on PuVAE + detector, first `n_checks` images:

# %%
for s in S:
    r = R[s.dataset]
    r["temperatures"] = adaptive.temperature_table(s, r["vae"], r["clf"], r["t"], r["x"], r["y"])
    tables.save_table(r["temperatures"], out / f"adaptive_temperature_{s.dataset}",
                      caption=f"Adaptive PGD on PuVAE + detector against the straight-through temperature "
                              f"({s.dataset}, report's scoring)")
    display(r["temperatures"].round(3))

# %%
for s in S:
    r = R[s.dataset]
    judged = [verdicts.adaptive_claims(r["adaptive"], eps=eps, checks=r["checks"]) for eps in s.adaptive_eps]
    r["verdicts"] += judged
    with pd.option_context("display.max_colwidth", None):
        display(pd.concat(judged, ignore_index=True).assign(dataset=s.dataset))

# %% [markdown]
# **What this means for the report.** The report's robustness numbers measure how well the
# defense handles adversarial examples made for a *different* model (the bare classifier). The
# verdicts above say whether they hold against an attacker who targets the defense
# itself; where the adaptive numbers are far below the transfer numbers, Tables 3-5 overstate
# the robustness, and the "downward pressure on eps" of section 5.2 is a property of the
# transfer attack, not a guarantee: the adaptive attack keeps the reconstruction error under t
# while it changes the label. The report is itself careful to call detection a side-step of
# robustness (section 5.4); the adaptive attack shows how far that side-step carries.
#
# ## 8. Sanity checks
#
# Checks of the evaluation rather than of the defense: the threshold meets its false-positive
# rate, the transfer attacks behave as attacks should on the undefended classifier (accuracy
# falls with eps, iterative attacks at least as strong as FGSM, near chance at the largest eps),
# and the pipeline's gradients are not masked. Then, for PuVAE and for PuVAE + detector, the
# checks of Carlini et al. (2019) on the adaptive evaluation: the worst case does not rise with
# eps; with an unbounded budget (the whole [0, 1] box) reject-aware PGD breaks every image the
# pipeline handles; Square breaks nothing the gradient attacks missed; and accuracy flattens in
# PGD's steps and restarts (the figures). Examples outside the eps-ball are refused by the sweep
# itself.
#
# Where the unbounded check fails on a PuVAE pipeline, reject-aware PGD does not reach every
# image even when any image at all is allowed: the purification (an arg-min over ten random
# reconstructions) hides part of the gradient from it. The adaptive numbers are then upper
# bounds on the defense's robustness, not measurements of it: a stronger attack can only lower
# them, and the verdicts never credit the defense with robustness on that ground.

# %%
checks = []
for s in S:
    r = R[s.dataset]
    c = rtab.sanity_table(s, r["grid"], val_rejected=r["val_rejected"], grad_share=r["grad_share"])
    checks.append(c.assign(dataset=s.dataset))
    n = min(s.n_adaptive, len(r["y"]))
    for name, pipe in ((adaptive.PLAIN, r["plain"]), (adaptive.DETECTOR, r["pipe"])):
        strong, conv = adaptive.sanity(s, name, pipe, r["sweeps"][name], r["x"][:n], r["y"][:n])
        checks.append(strong.rename(columns={"model": "scope"}).assign(dataset=s.dataset))
        fig = plots.convergence(conv, title=f"Convergence, {name} on {s.dataset}: reject-aware PGD at eps "
                                            f"{min(s.adaptive_eps):g}, {s.n_checks} images")
        plots.save(fig, out / f"convergence_{s.dataset}_{'detector' if name == adaptive.DETECTOR else 'puvae'}.png")
        plt.show()
checks = pd.concat(checks, ignore_index=True)[["dataset", "check", "scope", "passed", "detail"]]
tables.save_table(checks, out / "sanity_checks", caption="Sanity checks of the evaluation")
print(f"{int(checks['passed'].sum())} of {len(checks)} checks passed")
checks

# %% [markdown]
# A failed "near chance at large eps" check for FGSM on the undefended classifier is common and
# not a bug: one signed step of size eps is a poor attack at large eps, which is also why the
# report's own FGSM numbers at eps 0.3 are far above zero. Any other failure is discussed in
# the closing note below.
#
# ## 9. Report vs ours
#
# **The report's claims** (sections 4-5): (1) adversarial inputs are reconstructed worse than
# clean ones; (2) the detector raises PuVAE's accuracy against FGSM and PGD at a small cost in
# clean accuracy, and changes little against BIM; (3) the attacker's most effective eps lies
# below the largest eps for some attacks. Beyond the report: (4) does the robustness survive an
# attacker who knows the defense?
#
# **Our numbers beside the report's**: Table 3 (MNIST) and Table 4 (Fashion-MNIST), accuracy in %
# at the table's eps, with the report's value in the column beside ours (for synthetic smoke
# data, the Fashion-MNIST numbers fill the layout).

# %%
for s in S:
    r = R[s.dataset]
    print(f"{reference.table_name(s.dataset)}: {s.dataset}, {cfg.profile} profile, n = {len(r['y'])} test images "
          f"(eps {s.eps:g}, L-inf; report: {reference.REFERENCE_OF[s.dataset]})")
    display(r["table"].round(1))

# %% [markdown]
# Every number we compare with the report, per dataset (the adaptive rows put our adaptive
# result beside the report's *transfer* number, the only one it has):

# %%
closing = []
for s in S:
    r = R[s.dataset]
    closing.append(rtab.report_vs_ours(reference.REFERENCE_OF[s.dataset], r["table"], clf_acc=r["clf_acc"],
                                        rmse_clean=float(r["rmse_clean"].mean()),
                                        rmse_adv=float(r["rmse_adv"].mean()), worst=r["worst"],
                                        adaptive=r["adaptive"], eps=s.eps).assign(dataset=s.dataset))
closing = pd.concat(closing, ignore_index=True)
tables.save_table(closing, out / "report_vs_ours", caption="The report's numbers beside ours")
closing.round(3)

# %% [markdown]
# **Verdicts**, claim by claim, from `lib/reports/puvae_detector/verdicts.py`:

# %%
verdict_table = pd.concat([v.assign(dataset=s.dataset) for s in S for v in R[s.dataset]["verdicts"]],
                          ignore_index=True)[["dataset", "claim", "verdict", "evidence"]]
tables.save_table(verdict_table, out / "verdicts", caption=f"The report's claims: verdicts ({cfg.profile} profile)")
print(verdict_table.groupby(["dataset", "verdict"]).size().to_string())
with pd.option_context("display.max_colwidth", None):
    display(verdict_table)

# What the cross-report summary (notebooks/study_summary) reads.
summary_rows = []
for s in S:
    r = R[s.dataset]
    n = min(s.n_adaptive, len(r["y"]))
    summary_rows += adaptive.summary_rows(s, {adaptive.PLAIN: r["plain"], adaptive.DETECTOR: r["pipe"]},
                                          r["sweeps"], r["x"][:n], r["y"][:n])
summary.write(out, summary_rows, [summary.claim_row(report="puvae_detector", claim=f"{v.claim} ({v.dataset})",
                                                    verdict=v.verdict, evidence="verdicts")
                                  for v in verdict_table.itertuples()])

# %% [markdown]
# **Where we agree and where we do not.** The verdicts above are computed from this run; the
# tables and figures are the evidence. The markdown does not restate our numbers, because they
# change with the profile.
#
# - *Reconstruction error separates clean from adversarial inputs* (claim 1). A higher mean
#   RMSE under attack is not enough for a detector: what matters is how much of the adversarial
#   distribution lies above a threshold that only a small share of clean inputs exceeds (the
#   histogram). When the CVAE reconstructs clean images poorly, the clean distribution has a
#   long tail, the threshold sits far out, and few adversarial inputs are rejected.
# - *The detector raises robustness against transfer attacks* (claim 2). Under the report's
#   scoring a rejection counts as a success, so every attack that leaves a large enough trace
#   becomes accuracy; that is how "ours" can exceed clean accuracy in the report (FGSM on MNIST
#   and Fashion-MNIST). Where the rejection share in Figure 8 stays near the clean
#   false-positive rate, "ours" equals PuVAE, as the table shows.
# - *The worst eps lies below the largest eps* (claim 3): see the diamonds in Figures 7 and 8.
# - *Against an adaptive attacker* (beyond the report). The detector only rejects inputs whose
#   best reconstruction is far from them; an attacker who knows this moves the input toward a
#   wrong class's reconstruction while keeping the error under t. Wherever the verdict says the
#   transfer accuracy is not kept, the report's robustness numbers measure the transfer of
#   attacks made for the bare classifier, not the robustness of the defense.
# - *Cannot be judged at this profile* means that our models fail one of the checks of section 5
#   (most often: our PuVAE is far weaker than the report's); it says nothing for or against the
#   report, and the paper profile is the run that can decide it.
#
# **Scale.** The quick profile is far smaller than the report's setting (every reduction is
# listed in the docstring of `lib/reports/puvae_detector/profile.py` and the parameter table at
# the top): narrow networks trained for one or two epochs on a subset, a few hundred test images,
# a coarse eps grid and short attacks. Its CVAE reconstructs much worse than the report's, so
# absolute numbers fall short of Tables 3-5. Every adaptive number carries its 95 % interval:
# with 100 images it is about +-10 points at 50 % and +-6 points at 10 %; the paper profile
# (1000 images, the report's settings) is the run that narrows them, on a GPU.
