"""Time the expensive steps on this machine: ``make benchmark``. Timings belong here, not in tests.

Sections (``--only`` picks one), each a fast path beside the plain way:

- ``engine``: per model of the four reports, training and attack-step images/s in plain fp32
  NCHW, fp32 channels_last and the engine (:mod:`lib.precision`), with the ratio
  (:mod:`lib.benchmarks.engine`);
- ``e2e``: one epoch of :func:`lib.train.fit` vs a plain fp32 SGD loop, :func:`lib.attacks.pgd`
  vs a plain fp32 PGD loop, :func:`lib.evaluate.robust_accuracy` over report 002's eps grid vs
  torchattacks' PGD on every image and eps, on report 002's paper-width CNN;
- ``steps``: one training epoch and the attacks over 1000 images on synthetic 28 x 28 data with
  the library-tour CNN, so profile sizes can be chosen from numbers rather than guesses;
- ``sweep``: report 002's eps sweep (on its data, the CIFAR-10 JPEG copy, when it is here) done
  the plain way (torchattacks' PGD on every image at every eps) vs
  :func:`lib.sweep.worst_case_sweep` (our PGD, each image attacked only until it breaks);
- ``abs``: ABS inference batched over images x classes vs a per-class loop;
- ``tta``: time to accuracy of report 002's CNN, the recipe before the engine vs the engine's
  (:mod:`lib.benchmarks.time_to_accuracy`); writes ``figures/benchmark/time_to_accuracy.png``
  and its table (up to 10 minutes per recipe).
"""
from __future__ import annotations

import argparse
import functools
import os
import time

import pandas as pd
import torch

from lib import attacks, data, models, runtime, stats, train
from lib.sweep import worst_case_sweep

REPORT_002_EPS = (0.001, 0.01, 0.05, 0.1, 0.3, 0.5)  # report 002, Table 1 (L-inf, pixel units)


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


def _trained_cnn(n_train: int, device, dataset: str = "synthetic28") -> torch.nn.Module:
    runtime.seed_everything(0)
    model = models.SmallCNN(dataset).to(device)
    train.fit(model, data.load(dataset, "train", n=n_train), train.TrainConfig(epochs=1, batch_size=128),
              use_cache=False, progress_bar=False, device=device)
    return model.eval()


def sweep_dataset() -> str:
    """Report 002's data when it is here (its JPEG copy of CIFAR-10: a model trained on it is
    as fragile at small eps as the report's, which is what makes the sweep pay), else
    synthetic 32 x 32 images (``make data-quick`` fetches the real ones)."""
    try:
        data.load("cifar10_jpeg", "test", n=10)
        return "cifar10_jpeg"
    except Exception:  # noqa: BLE001 - any failure to load means: not here, use the stand-in
        return "synthetic32"


def sweep_vs_plain(n_images: int = 300, n_train: int = 20000, steps: int = 10,
                   eps_list=REPORT_002_EPS, device=None, dataset: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Report 002's L-inf sweep (PGD, ``steps`` steps of ``2.5 eps / steps``, random start) on
    ``n_images`` test images of ``dataset`` (default :func:`sweep_dataset`) and a SmallCNN
    trained for one epoch on ``n_train`` images, two ways:

    - *plain*: ``torchattacks.PGD`` on every image at every eps, robust = right clean and
      right attacked (what a notebook loop over eps does);
    - *sweep*: :func:`lib.sweep.worst_case_sweep` with :func:`lib.attacks.pgd` (the same
      steps and step size, two restarts, the second only on the images the first left): an
      image broken at a small eps keeps its example at larger eps and is not attacked again,
      and within one eps PGD stops iterating on an image once it is fooled (``stop_when_fooled``).

    Returns a table (per eps: each accuracy with its Clopper-Pearson interval, the images
    the sweep attacked, whether the sweep is at least as strong, McNemar's p on the paired
    per-image outcomes) and a summary dict of wall times.
    """
    import torchattacks  # here, not at module level: it pulls in torchvision

    device = runtime.get_device(device)
    dataset = dataset or sweep_dataset()
    model = _trained_cnn(n_train, device, dataset)
    test = data.load(dataset, "test", n=n_images)
    x, y = test.x.to(device), test.y.to(device)

    def plain() -> torch.Tensor:
        torch.manual_seed(0)
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        cols = []
        for eps in eps_list:
            pgd = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=True)
            x_adv = pgd(x, y)
            with torch.no_grad():
                cols.append(ok & (model(x_adv).argmax(1) == y))
        return torch.stack(cols, 1).cpu()

    t0 = time.perf_counter()
    plain_robust = plain()
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Two restarts: the second runs only on the images the first left standing, so random starts
    # cannot make the sweep the weaker of the two by luck, and it still costs less.
    res = worst_case_sweep(model, x, y, {"PGD": functools.partial(attacks.pgd, steps=steps, restarts=2,
                                                                   stop_when_fooled=True)},
                           eps_list, progress_bar=False)
    t_sweep = time.perf_counter() - t0

    n = len(y)
    rows = []
    attacked = res.table[res.table["attack"] == "PGD"].set_index("eps")["attacked"]
    for j, eps in enumerate(res.eps):
        kp, ks = int(plain_robust[:, j].sum()), int(res.robust[:, j].sum())
        test_ = stats.mcnemar_exact(plain_robust[:, j], res.robust[:, j])
        rows.append({"eps": eps,
                     "plain torchattacks PGD": stats.format_interval(kp / n, *stats.clopper_pearson(kp, n)),
                     "worst_case_sweep PGD": stats.format_interval(ks / n, *stats.clopper_pearson(ks, n)),
                     "images attacked (sweep)": f"{int(attacked[eps])}/{n}",
                     "sweep at least as strong": ks <= kp,
                     "McNemar p": test_.p_value})
    summary = {"images": n, "steps": steps, "dataset": dataset, "plain_s": t_plain, "sweep_s": t_sweep,
               "ratio": t_sweep / t_plain, "device": str(device), "threads": torch.get_num_threads(),
               "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None}
    return pd.DataFrame(rows), summary


SECTIONS = ("engine", "e2e", "steps", "sweep", "abs", "tta")


def _print_table(title: str, table: pd.DataFrame, fmt: str = ".3g") -> None:
    print(f"\n## {title}\n")
    print(table.to_markdown(index=False, floatfmt=fmt))


def _engine(args) -> None:
    from lib.benchmarks import engine

    table = engine.throughput(min_seconds=args.min_seconds)
    _print_table(f"Engine vs plain fp32, images/s (engine: {table.attrs['engine']}); ratio = engine / fp32 NCHW",
                 table, ".1f")
    print("train: one SGD step (ABS: one inference forward pass); attack: the input gradient of the loss")


def _e2e(args) -> None:
    from lib.benchmarks import engine

    table = engine.end_to_end(n_train=args.e2e_train, n_test=args.e2e_images)
    _print_table(f"End to end on report 002's paper-width CNN (engine: {table.attrs['engine']})", table, ".2f")


def _tta(args) -> None:
    from lib import plots, tables
    from lib.benchmarks import time_to_accuracy

    table = time_to_accuracy.run(budget_s=args.tta_budget)
    out = runtime.figures_dir() / "benchmark"
    out.mkdir(parents=True, exist_ok=True)
    tables.save_table(table, out / "time_to_accuracy", caption="Time to accuracy, report 002's CNN")
    path = plots.save(time_to_accuracy.figure(table), out / "time_to_accuracy.png")
    _print_table("Time to accuracy (report 002's CNN, accuracy after each epoch)", table, ".3f")
    for name, part in table.groupby("recipe", sort=False):
        hit = part[part["accuracy"] >= table.attrs["target"]]
        when = f"{hit['seconds'].iloc[0]:.0f} s" if len(hit) else "not within the budget"
        print(f"- {name}: best {100 * part['accuracy'].max():.1f} % in {part['seconds'].iloc[-1]:.0f} s; "
              f"{100 * table.attrs['target']:g} % reached: {when}")
    print(f"figure: {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--sweep-images", type=int, default=300, help="images of the sweep comparison")
    parser.add_argument("--e2e-train", type=int, default=5000, help="training images of the one-epoch check")
    parser.add_argument("--e2e-images", type=int, default=1000, help="test images of the attack checks")
    parser.add_argument("--tta-budget", type=float, default=600.0, help="seconds per recipe of time to accuracy")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="seconds each throughput is measured over")
    parser.add_argument("--only", choices=SECTIONS, default=None, help="run one section only")
    parser.add_argument("--skip", choices=SECTIONS, action="append", default=[], help="leave a section out")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = [args.only] if args.only else [s for s in SECTIONS if s not in args.skip]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"device {runtime.get_device()}, {torch.get_num_threads()} threads, load average {load}")
    for section in chosen:
        if section == "engine":
            _engine(args)
        elif section == "e2e":
            _e2e(args)
        elif section == "steps":
            _print_table("Steps on synthetic 28 x 28 data (SmallCNN)", run(args.images, args.train), ".2f")
        elif section == "sweep":
            _sweep(args)
        elif section == "abs":
            from lib.reports.abs_cifar import benchmark as abs_benchmark

            print("\n## ABS inference (report 000): batched over images x classes vs a per-class loop\n")
            abs_benchmark.main([])
        elif section == "tta":
            _tta(args)
    return 0


def _sweep(args) -> None:
    table, s = sweep_vs_plain(args.sweep_images)
    _print_table(f"eps sweep of report 002: plain torchattacks PGD-{s['steps']} on every image at every "
                 "eps vs lib.sweep.worst_case_sweep", table)
    load = ", ".join(f"{v:.2f}" for v in s["load_avg"]) if s["load_avg"] else "n/a"
    print(f"\n{s['images']} test images of {s['dataset']}, {s['device']}, {s['threads']} threads, "
          f"load average {load}: plain {s['plain_s']:.1f} s, sweep {s['sweep_s']:.1f} s, "
          f"ratio {s['ratio']:.2f} ({'at most half' if s['ratio'] <= 0.5 else 'MORE than half'})")
    print("accuracy: robust images / all images (wrong clean counts as broken), 95% Clopper-Pearson "
          "interval; McNemar p: paired per-image outcomes, plain vs sweep")


if __name__ == "__main__":
    raise SystemExit(main())
