"""Test accuracy against wall-clock seconds for report 002's CNN on ``cifar10_jpeg``.

Two recipes, each given the same budget (``budget_s``, default 10 minutes) and stopped early
when it reaches ``target`` (default 85 %):

- *before*: the recipe the study used until the engine, in plain fp32 with NCHW tensors: SGD
  (momentum 0.9, lr 0.05, batch 128, weight decay 5e-4), a cosine schedule, the report's random
  crop + flip;
- *engine*: bf16 autocast and ``channels_last`` where native (:mod:`lib.precision`), Nesterov SGD
  at batch 256 with a linear warm-up and linear decay, airbench's alternating flips and 2-pixel
  translations, and an EMA of the weights.

Each recipe plans its number of epochs from a measured throughput so that its schedule ends
within the budget (a schedule cut short would be unfair to it), trains with the test subset
scored after every epoch (in fp32, not counted in the seconds), and stops at the target. The
figure plots accuracy against cumulative training seconds, one line per recipe.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import pandas as pd
import torch

from lib import data, models, precision, profiles, runtime, train
from lib.benchmarks.engine import plain_policy, rate


@dataclass(frozen=True)
class Recipe:
    name: str
    config: train.TrainConfig
    policy: precision.Precision


def recipes(device: torch.device) -> list[Recipe]:
    before = train.TrainConfig(epochs=1, batch_size=128, lr=0.05, scheduler="cosine", augment="crop_flip")
    fast = train.TrainConfig(epochs=1, batch_size=256, lr=0.2, scheduler="linear", warmup=0.2,
                             augment="flip_translate", ema=0.99)
    return [Recipe("before: fp32 NCHW, SGD + cosine, crop + flip", before, plain_policy(device)),
            Recipe("engine: bf16 channels_last, Nesterov, warm-up + linear decay, flip + translate, EMA", fast,
                   precision.resolve("auto", device))]


def _images_per_second(build, recipe: Recipe, shape, device) -> float:
    model = recipe.policy.prepare(build().to(device))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = recipe.policy.images(torch.rand((recipe.config.batch_size, *shape), device=device))
    y = torch.randint(0, 10, (recipe.config.batch_size,), device=device)

    def step():
        with recipe.policy.autocast():
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return rate(step, recipe.config.batch_size, min_seconds=3.0)


def run(budget_s: float = 600.0, target: float = 0.85, n_test: int = 2000, dataset: str = "cifar10_jpeg",
        device=None, width: int | None = None) -> pd.DataFrame:
    """Train each recipe within ``budget_s`` seconds or until ``target`` test accuracy; returns the
    per-epoch rows (``recipe``, ``epoch``, ``planned_epochs``, ``seconds`` cumulative training time,
    ``accuracy`` on ``n_test`` test images)."""
    device = runtime.get_device(device)
    p = profiles.profiles_of("attacks_adversarial_training")["paper"]
    width = width or p["width"]

    def build():
        torch.manual_seed(0)
        return models.DropoutCNN(dataset, width=width, hidden=p["hidden"], dropout=tuple(p["dropout"]))

    train_set = data.load(dataset, "train")
    test = data.load(dataset, "test", n=n_test, seed=0)
    rows = []
    for recipe in recipes(device):
        speed = _images_per_second(build, recipe, train_set.x.shape[1:], device)
        epochs = max(1, math.floor(0.95 * budget_s * speed / len(train_set)))
        cfg = replace(recipe.config, epochs=epochs)
        start, seen = time.perf_counter(), []

        def stop(row, seen=seen) -> bool:
            seen.append(row)
            return sum(r["seconds"] for r in seen) >= budget_s or row["val_acc"] >= target

        fit = train.fit(build(), train_set, cfg, val=test, use_cache=False, progress_bar=True, device=device,
                        policy=recipe.policy, stop=stop, name="time-to-accuracy")
        hist = fit.history
        for _, r in hist.iterrows():
            rows.append(dict(recipe=recipe.name, precision=recipe.policy.name, epoch=int(r["epoch"]),
                             planned_epochs=epochs, seconds=float(hist["seconds"][: int(r["epoch"])].sum()),
                             accuracy=float(r["val_acc"]), wall_s=time.perf_counter() - start))
    out = pd.DataFrame(rows)
    out.attrs.update(target=target, budget_s=budget_s, n_test=n_test, dataset=dataset, width=width)
    return out


def figure(table: pd.DataFrame):
    """Accuracy against cumulative training seconds, one line per recipe, the target dashed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, part in table.groupby("recipe", sort=False):
        ax.plot(part["seconds"], 100 * part["accuracy"], marker="o", label=name)
        last = part.iloc[-1]
        ax.annotate(f"{100 * last['accuracy']:.1f} % at {last['seconds']:.0f} s",
                    (last["seconds"], 100 * last["accuracy"]), textcoords="offset points", xytext=(-10, 8),
                    ha="right", fontsize=9)
    target = table.attrs.get("target")
    if target:
        ax.axhline(100 * target, color="grey", linestyle="--", linewidth=1, label=f"target {100 * target:g} %")
    ax.set_xlabel("training time, seconds (evaluation excluded)")
    ax.set_ylabel(f"test accuracy, % of {table.attrs.get('n_test', '?')} images")
    ax.set_title(f"Report 002's CNN (width {table.attrs.get('width')}) on {table.attrs.get('dataset')}: "
                 "time to accuracy", fontsize=10)
    # below the axes: inside, the long recipe names cover the points they label
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["Recipe", "figure", "recipes", "run"]
