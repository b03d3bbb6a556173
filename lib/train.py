"""One training loop for every model in the study, with a checkpoint cache.

``fit`` trains a classifier on an :class:`~lib.data.ImageData` with SGD or Adam,
an optional learning-rate schedule, optional batched augmentation and an
optional per-batch ``hook`` (adversarial training replaces the batch with
attacked images there). It shows a tqdm bar, returns a per-epoch history
DataFrame and caches the result under ``data/checkpoints``:

- the same call again loads the checkpoint instead of training (a notebook
  re-run costs nothing);
- an interrupted run resumes from the last finished epoch (weights, optimiser,
  schedule, RNG and history are saved after every epoch);
- any change of model, data or setting changes the key and retrains.
"""
from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lib import cache, runtime
from lib.data import ImageData, batches, crop_flip
from lib.progress import progress

Hook = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainConfig:
    """Settings of one training run; all of them enter the checkpoint key."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"          # "sgd" | "adam"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str | None = "cosine"  # None | "cosine" | "step" | "onecycle"
    step_size: int = 30             # for "step": decay every step_size epochs by gamma
    gamma: float = 0.1
    augment: str | None = None      # None | "crop_flip"
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.scheduler not in (None, "cosine", "step", "onecycle"):
            raise ValueError(f"unknown scheduler {self.scheduler!r}")
        if self.augment not in (None, "crop_flip"):
            raise ValueError(f"unknown augmentation {self.augment!r}")
        if not (math.isfinite(self.lr) and math.isfinite(self.weight_decay) and math.isfinite(self.momentum)):
            raise ValueError(f"lr, weight_decay and momentum must be finite, got {self.lr}, "
                             f"{self.weight_decay}, {self.momentum}")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("need epochs >= 0, batch_size >= 1 and lr > 0")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; raised at once, before anything is cached."""


class UntrainedModelWarning(UserWarning):
    """A model ended training no better than chance."""


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    path: Path | None = None
    from_cache: bool = False
    info: dict = field(default_factory=dict)

    @property
    def untrained(self) -> bool:
        """True when the last epoch's training accuracy is within chance (1 / K plus two
        binomial standard errors at the number of training images): a model like that
        cannot support any claim about robustness."""
        if self.history.empty or "train_acc" not in self.history:
            return False
        acc = float(self.history["train_acc"].iloc[-1])
        if not math.isfinite(acc):
            return False  # custom objectives (a CVAE's) report no accuracy
        k = int(self.info.get("num_classes") or 10)
        n = max(int(self.info.get("n_train") or 1), 1)
        from lib.evaluate import above_chance

        return not above_chance(acc, n, 1.0 / k)


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Default objective: ``(loss, logits)`` of cross-entropy on the model's logits."""
    logits = model(x)
    return F.cross_entropy(logits, y), logits


def _adversarial_batch(model, x, y, *, attack, **kwargs):
    return attack(model, x, y, **kwargs), y


def adversarial_hook(attack: Callable, **kwargs) -> Hook:
    """A ``fit`` hook that trains on ``attack(model, x, y, **kwargs)`` instead of ``x``
    (adversarial training, Madry et al. 2018; report 002, eq. (4)). A partial, so it
    has a stable checkpoint key."""
    return functools.partial(_adversarial_batch, attack=attack, **kwargs)


def _optimizer(model: nn.Module, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(opt, cfg: TrainConfig, steps_per_epoch: int):
    """Stepped once per batch, so every schedule is smooth within an epoch."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size * steps_per_epoch,
                                               gamma=cfg.gamma)
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    return None


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: ImageData, batch_size: int = 1000, device=None) -> float:
    """Clean accuracy of ``model`` on ``data`` in eval mode (then back to its mode)."""
    from lib.evaluate import accuracy

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return accuracy(model, data.x.to(device), data.y.to(device), batch_size)
    finally:
        model.train(was_training)


@cache.isolated_rng()  # fit draws from its own seed and hands the caller's random state back untouched
def fit(model: nn.Module, train: ImageData, cfg: TrainConfig | None = None, *, name: str = "model",
        val: ImageData | None = None, hook: Hook | None = None, loss_fn: LossFn = cross_entropy,
        device=None, use_cache: bool = True, progress_bar: bool = True,
        init_key: str | None = None) -> FitResult:
    """Train ``model`` on ``train`` (or load it from the cache) and return it with its history.

    ``hook(model, x, y) -> (x, y)`` rewrites each batch before the step (model in
    eval mode while the hook runs, so attacks see deterministic dropout).
    ``loss_fn(model, x, y) -> (loss, logits)`` replaces cross-entropy, e.g. for
    the contrastive defense. History columns: epoch, loss, train_acc, val_acc, lr, seconds.
    ``init_key`` names the starting weights when they matter (fine-tuning: pass the
    ``info["key"]`` of the model it starts from), so that a new start retrains.
    """
    cfg = cfg or TrainConfig()
    device = runtime.get_device(device)
    model = model.to(device)
    # The model enters by architecture only: its initial weights are the seed's business.
    key = cache.config_hash(cache.architecture(model), train, asdict(cfg), hook, loss_fn,
                            val.fingerprint() if val is not None else None, init_key)
    path = runtime.checkpoint_dir() / f"{name}-{key}.pt"
    partial = path.with_suffix(".partial.pt")

    if use_cache and (state := cache.load_checkpoint(path, map_location=device)) is not None:
        model.load_state_dict(state["model"])
        model.eval()
        return _finished(FitResult(model, pd.DataFrame(state["history"]), path, True, state.get("info", {})))

    runtime.seed_everything(cfg.seed)
    opt = _optimizer(model, cfg)
    steps_per_epoch = -(-len(train) // cfg.batch_size)
    sched = _scheduler(opt, cfg, steps_per_epoch)
    history: list[dict] = []
    start_epoch = 0
    if use_cache and (state := cache.load_checkpoint(partial, map_location=device)) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history, start_epoch = state["history"], state["epoch"]

    bar = progress(range(start_epoch, cfg.epochs), desc=f"train {name}", unit="epoch",
                   initial=start_epoch, total=cfg.epochs, disable=not progress_bar)
    for epoch in bar:
        t0 = time.perf_counter()
        # Seeded per epoch, so a resumed run sees the same batches as an uninterrupted one.
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in batches(train, cfg.batch_size, shuffle=True, generator=gen, device=device):
            if cfg.augment == "crop_flip":
                x = crop_flip(x, generator=gen)
            if hook is not None:
                model.eval()
                x, y = hook(model, x, y)
                model.train()
            loss, logits = loss_fn(model, x, y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"training {name} diverged: the loss is {loss.item()} at epoch {epoch + 1}, batch "
                    f"{seen // cfg.batch_size + 1} (lr={cfg.lr:g}, optimizer={cfg.optimizer}); lower the "
                    "learning rate.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        row = {"epoch": epoch + 1, "loss": total_loss / seen, "train_acc": correct / seen,
               "val_acc": evaluate_accuracy(model, val, device=device) if val is not None else float("nan"),
               "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_acc']:.3f}")
        if use_cache:
            cache.atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict() if sched is not None else None,
                               "rng": torch.get_rng_state(), "history": history,
                               "epoch": epoch + 1}, partial)

    model.eval()
    info = {"name": name, "key": key, "config": asdict(cfg), "n_train": len(train),
            "num_classes": train.num_classes}
    if use_cache:
        cache.atomic_save({"model": model.state_dict(), "history": history, "info": info}, path)
        partial.unlink(missing_ok=True)
    return _finished(FitResult(model, pd.DataFrame(history), path if use_cache else None, False, info))


def _finished(result: FitResult) -> FitResult:
    if result.untrained:
        warnings.warn(f"{result.info.get('name', 'model')} is untrained: its last-epoch training accuracy "
                      f"{result.history['train_acc'].iloc[-1]:.3f} is not above chance; no robustness "
                      "number or sanity check on it means anything", UntrainedModelWarning, stacklevel=4)
    return result
