"""Batched ABS inference against a straightforward loop of the same algorithm:
``python -m lib.reports.abs_cifar.benchmark``.

Both run the original's inference (best of ``--prototypes`` latent prototypes per class, then
``--steps`` Adam steps on z, ||z|| <= 5) with the quick profile's class-VAE architecture
(untrained weights: the cost does not depend on them). The loop
(:func:`lib.defenses.abs.reference_logits`) decodes the prototypes once per class with that
class's own network and then optimises each (image, class) latent alone; the batched module
(:class:`lib.defenses.abs.ABS`) decodes the prototypes once for all classes and runs the Adam
steps on all N x K latents as one tensor program. Prints their images per second, the
ratio (target: at least 10) and the largest difference between their logits (target: 1e-4).
"""
from __future__ import annotations

import argparse
import os
import time

import pandas as pd
import torch

from lib import runtime
from lib.defenses.abs import ABS, reference_logits
from lib.models.generative.abs_vae import ClassVAEs


def run(n_images: int = 32, n_prototypes: int = 1000, steps: int = 5, latent: int = 16, width: int = 8,
        device=None) -> tuple[pd.DataFrame, dict]:
    device = runtime.get_device(device)
    runtime.seed_everything(0)
    vaes = ClassVAEs(10, latent=latent, width=width).to(device).eval()
    model = ABS(vaes, n_prototypes=n_prototypes, steps=steps).to(device)
    x = torch.rand(n_images, 3, 32, 32, device=device)
    model(x[:2])                          # decodes and caches the prototypes; warms up the kernels
    timings, logits = {}, {}
    for name, fn in (("batched (lib.defenses.abs.ABS)", lambda: model(x)),
                     ("per-class, per-image loop", lambda: reference_logits(model, x))):
        t0 = time.perf_counter()
        with torch.no_grad():
            logits[name] = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings[name] = time.perf_counter() - t0
    names = list(timings)
    diff = float((logits[names[0]] - logits[names[1]]).abs().max())
    table = pd.DataFrame([{"implementation": k, "seconds": v, "images / s": n_images / v} for k, v in timings.items()])
    info = {"images": n_images, "prototypes": n_prototypes, "steps": steps,
            "ratio": timings[names[1]] / timings[names[0]], "max_abs_diff": diff, "device": str(device),
            "threads": torch.get_num_threads(),
            "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None}
    return table, info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.reports.abs_cifar.benchmark",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--prototypes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    table, s = run(args.images, args.prototypes, args.steps, device=args.device)
    print(f"## ABS inference, {s['images']} images x 10 classes, {s['prototypes']} prototypes, "
          f"{s['steps']} Adam steps\n")
    print(table.to_markdown(index=False, floatfmt=".3g"))
    load = ", ".join(f"{v:.2f}" for v in s["load_avg"]) if s["load_avg"] else "n/a"
    ok_speed, ok_same = s["ratio"] >= 10, s["max_abs_diff"] <= 1e-4
    print(f"\n{s['device']}, {s['threads']} threads, load average {load}: batched is {s['ratio']:.1f}x faster "
          f"({'meets' if ok_speed else 'MISSES'} the 10x target); max |logit difference| "
          f"{s['max_abs_diff']:.2g} ({'within' if ok_same else 'OUTSIDE'} 1e-4)")
    return 0 if ok_same else 1


if __name__ == "__main__":
    raise SystemExit(main())
