"""Time the expensive steps on this machine: ``make benchmark``.

Measures, on synthetic 28 x 28 data with the library-tour CNN, one training epoch
and the attacks over 1000 images, so profile sizes can be chosen from numbers
rather than guesses. Timings belong here, not in tests.
"""
from __future__ import annotations

import argparse
import functools
import time

import pandas as pd
import torch

from lib import attacks, data, models, runtime, train


def _time(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def run(n_images: int = 1000, n_train: int = 10000, device=None) -> pd.DataFrame:
    device = runtime.get_device(device)
    train_set = data.load("synthetic28", "train", n=n_train)
    test_set = data.load("synthetic28", "test", n=n_images)
    runtime.seed_everything(0)
    model = models.SmallCNN("synthetic28").to(device)
    cfg = train.TrainConfig(epochs=1, batch_size=128)
    rows = [{"step": f"train 1 epoch, {n_train} images", "seconds": _time(
        lambda: train.fit(model, train_set, cfg, use_cache=False, progress_bar=False, device=device))}]
    model.eval()
    x, y = test_set.x.to(device), test_set.y.to(device)
    jobs = {
        "FGSM": attacks.fgsm,
        "PGD-10": functools.partial(attacks.pgd, steps=10),
        "PGD-40": functools.partial(attacks.pgd, steps=40),
        "PGD-10, EOT 4": functools.partial(attacks.pgd, steps=10, eot=4),
    }
    for name, attack in jobs.items():
        rows.append({"step": f"{name} on {n_images} images",
                     "seconds": _time(lambda attack=attack: attack(model, x, y, 0.1), repeat=2)})
    rows.append({"step": f"CW-L2 100 steps on {min(n_images, 200)} images", "seconds": _time(
        lambda: attacks.cw_l2(model, x[:200], y[:200], steps=100, abort_early=False))})
    table = pd.DataFrame(rows)
    table["device"] = str(device)
    table["threads"] = torch.get_num_threads()
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--train", type=int, default=10000)
    args = parser.parse_args(argv)
    print(run(args.images, args.train).to_markdown(index=False, floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
