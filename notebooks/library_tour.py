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
# # A tour of the attack library
#
# Before the four reports, one small classifier and every tool the report notebooks use:
# data loading, a cached training run, FGSM / BIM / PGD / Carlini-Wagner attacks, accuracy
# under attack in both counting conventions, an accuracy-distortion curve, the sanity checks
# of Carlini et al. (2019, *On Evaluating Adversarial Robustness*), and tables written as
# CSV, Markdown and LaTeX.
#
# Run headless with `make reproduce REPORTS=library_tour PROFILE=quick`; results go to
# `figures/<profile>/library_tour/`. In JupyterLab, edit the parameters cell (or leave
# `profile = None`: paper on a GPU, quick otherwise) and run all cells.

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "paper"; None: paper on a GPU, quick otherwise
overrides = {}  # e.g. {"epochs": 1}: any parameter of the profile

# %%
import functools

import pandas as pd

from lib import attacks, cache, data, evaluate, models, plots, precision, profiles, runtime, tables, train

cfg = profiles.resolve("library_tour", profile, overrides)
device = runtime.get_device(cfg.device)
policy = precision.use(cfg.precision, device)  # gradients in bf16 where native; decisions in fp32
print(f"precision: {policy}")
print(f"profile {cfg.profile!r} on {device}; outputs in {cfg.out_dir}")
cfg.table()

# %% [markdown]
# ## 1. Data and a small classifier
#
# Images are float tensors in [0, 1]; the model normalises internally, so every attack and
# every eps below is in pixel units. Training is cached by a hash of the architecture, the
# data and the settings: re-running this cell loads the checkpoint instead of training.

# %%
train_set = data.load(cfg.dataset, "train", n=cfg.n_train, seed=cfg.seed)
test_set = data.load(cfg.dataset, "test", n=cfg.n_test, seed=cfg.seed)
runtime.seed_everything(cfg.seed)
model = models.SmallCNN(cfg.dataset, width=cfg.width)
fit = train.fit(model, train_set, train.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size,
                lr=cfg.lr, seed=cfg.seed), name=f"library_tour-cnn-{cfg.dataset}", val=test_set, device=device)
model = fit.model
x, y = test_set.x.to(device), test_set.y.to(device)
clean = evaluate.accuracy(model, x, y)
dataset = data.info(cfg.dataset)
print(f"{train_set!r}\n{test_set!r}\nclean test accuracy on {dataset.title}: {100 * clean:.2f} % "
      f"({'loaded from cache' if fit.from_cache else 'trained now'})"
      + ("\nUNTRAINED: no better than chance, so nothing below says anything about robustness."
         if fit.untrained else ""))
plots.save(plots.training_curves(fit.history, title=f"SmallCNN training ({dataset.title})"),
           cfg.out_dir / "training_curves.png")
fit.history

# %% [markdown]
# ## 2. Accuracy under attack
#
# Each attack is a function of `(model, x, y, eps)`; `functools.partial` fixes its other
# settings. The table counts over *all* test images: an image is robust only if it is correct
# both clean and attacked.

# %%
attack_set = {
    "FGSM": attacks.fgsm,
    "BIM": functools.partial(attacks.bim, steps=cfg.pgd_steps),
    "PGD": functools.partial(attacks.pgd, steps=cfg.pgd_steps, restarts=cfg.pgd_restarts),
}
# cache.memo: a re-run with the same model, images and attacks reads the stored result.
results, examples = cache.memo("tour-sweep", evaluate.robust_accuracy, model, x, y, attack_set, cfg.eps,
                               convention="all", keep_examples=True)
tables.save_table(results, cfg.out_dir / "robust_accuracy", caption=f"Accuracy under L-inf attacks ({dataset.title})")
fig = plots.accuracy_vs_eps(results, title=f"L-inf attacks on SmallCNN ({dataset.title})", chance=0.1)
plots.save(fig, cfg.out_dir / "accuracy_vs_eps.png")
results.pivot(index="eps", columns="attack", values="accuracy").mul(100).round(2)

# %% [markdown]
# Below, the first three test images (not chosen by hand) at the largest eps of the sweep,
# with the perturbation rescaled to be visible and the prediction and confidence above each
# image (red when wrong).

# %%
eps_show = max(cfg.eps)
fig = plots.adversarial_grid(model, x[:3], examples[("PGD", eps_show)][:3], y[:3], test_set.classes,
                             title=f"PGD, eps = {eps_show}")
plots.save(fig, cfg.out_dir / "pgd_examples.png")

# %% [markdown]
# ## 3. Carlini-Wagner L2 and the accuracy-distortion curve
#
# CW looks for the *smallest* L2 perturbation that changes the decision, so instead of one
# accuracy per eps it gives a whole curve: the accuracy left if the adversary may move each
# image by at most a given L2 distance.

# %%
x_cw, y_cw = x[: cfg.n_cw], y[: cfg.n_cw]
x_cw_adv = cache.memo("tour-cw", attacks.cw_l2, model, x_cw, y_cw, c=cfg.cw_c, steps=cfg.cw_steps, lr=cfg.cw_lr,
                      binary_search_steps=cfg.cw_binary_search_steps)
curve = evaluate.accuracy_distortion_curve(model, x_cw, y_cw, x_cw_adv, norm="2")
fooled = evaluate.predict(model, x_cw_adv) != y_cw
median = evaluate.distortion(x_cw, x_cw_adv)[fooled].median().item() if fooled.any() else float("nan")
print(f"CW fooled the model on {100 * fooled.float().mean():.1f} % of {len(y_cw)} images; "
      f"median L2 distortion of those: {median:.3f}")
fig = plots.accuracy_vs_eps(curve.rename(columns={"distortion": "eps"}).assign(attack="CW L2"),
                            title="Accuracy vs allowed L2 distortion (CW)")
fig.axes[0].set_xlabel("L2 distortion")
plots.save(fig, cfg.out_dir / "accuracy_distortion_cw.png")
tables.save_table(curve, cfg.out_dir / "accuracy_distortion_cw", caption="Accuracy-distortion curve (CW L2)")

# %% [markdown]
# ## 4. Sanity checks (Carlini et al. 2019)
#
# If a model looks robust, these checks tell whether the attack may simply be failing:
# accuracy should never rise with eps, iterative attacks should be at least as strong as a
# single step, and a large enough eps should take accuracy down to chance.

# %%
large = cache.memo("tour-large-eps", evaluate.robust_accuracy, model, x, y, attack_set, [cfg.large_eps],
                   convention="all")
checks = evaluate.sanity_checks(pd.concat([results, large]), chance=0.1,
                                single_step="FGSM", iterative=["BIM", "PGD"], large_eps=cfg.large_eps)
tables.save_table(checks, cfg.out_dir / "sanity_checks", caption="Sanity checks (Carlini et al. 2019)")
checks
