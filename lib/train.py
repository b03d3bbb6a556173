"""One training loop for every classifier of the study, with a checkpoint cache.

``fit`` trains a classifier on an :class:`~lib.data.ImageData` with SGD or Adam, a
learning-rate schedule, optional batched augmentation, an optional exponential moving average
of the weights and an optional per-batch ``hook`` (adversarial training replaces the batch
with attacked images there). It runs in the precision policy of :mod:`lib.precision` (bf16
autocast with ``channels_last`` where the hardware computes bf16 natively), shows a tqdm bar,
returns a per-epoch history DataFrame and caches the result under ``data/checkpoints``:

- the same call again loads the checkpoint instead of training (a notebook
  re-run costs nothing);
- an interrupted run resumes from the last finished epoch (weights, optimiser,
  schedule, moving average, RNG and history are saved after every epoch);
- any change of model, data, setting or precision changes the key and retrains.

Recipes that converge in few epochs (after Keller Jordan's cifar10-airbench and David Page's
ResNet-9 notes): Nesterov SGD, a linear warm-up then a linear or cosine decay (or one-cycle),
batched alternating-flip + translate augmentation, an EMA of the weights (the averaged model is
the one evaluated and cached), and ``lr`` stated per ``lr_batch`` images so that a larger batch
scales it. Label smoothing is deliberately absent: it inflates robustness against gradient
attacks without making a model any more robust (Fu et al. 2020, "Label smoothing and
adversarial robustness", arXiv 2009.08233), which would corrupt every comparison of this study.
"""
from __future__ import annotations

import copy
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

from lib import cache, precision, runtime
from lib.data import ImageData, alternating_flips, batches, crop_flip, flip_translate
from lib.progress import progress

Hook = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

SCHEDULERS = (None, "cosine", "linear", "step", "onecycle")
AUGMENTS = (None, "crop_flip", "flip_translate")


@dataclass
class TrainConfig:
    """Settings of one training run; all of them enter the checkpoint key.

    - ``lr`` is the peak learning rate at ``lr_batch`` images per batch (default: this
      ``batch_size``); the rate used is ``lr * batch_size / lr_batch`` (the linear scaling
      rule), so doubling the batch doubles the step without retuning.
    - ``scheduler``: ``"cosine"`` or ``"linear"`` decay to 0 after ``warmup`` (a fraction of
      all steps, rising linearly from 0), ``"onecycle"`` (torch's, 30 % warm-up), ``"step"``
      (times ``gamma`` every ``step_size`` epochs) or None; stepped once per batch.
    - ``nesterov``: Nesterov momentum for SGD.
    - ``augment``: None, ``"crop_flip"`` (zero-padded 4-pixel crop and a coin-flip mirror, as
      torchvision's RandomCrop + RandomHorizontalFlip) or ``"flip_translate"`` (airbench:
      alternating flips and a reflect-padded translation by up to ``translate`` pixels).
    - ``ema``: decay of an exponential moving average of the weights and batch-norm statistics,
      updated every step (warmed up as ``min(ema, (1 + t) / (10 + t))``); the averaged model
      is returned, evaluated and cached. None: no averaging.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"          # "sgd" | "adam"
    lr: float = 0.05
    lr_batch: int | None = None
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    scheduler: str | None = "cosine"
    warmup: float = 0.0
    step_size: int = 30
    gamma: float = 0.1
    augment: str | None = None
    translate: int = 2
    ema: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; choose from {SCHEDULERS}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation {self.augment!r}; choose from {AUGMENTS}")
        if not (math.isfinite(self.lr) and math.isfinite(self.weight_decay) and math.isfinite(self.momentum)):
            raise ValueError(f"lr, weight_decay and momentum must be finite, got {self.lr}, "
                             f"{self.weight_decay}, {self.momentum}")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("need epochs >= 0, batch_size >= 1 and lr > 0")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup!r}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"ema must be a decay in (0, 1) or None, got {self.ema!r}")
        if self.lr_batch is not None and self.lr_batch < 1:
            raise ValueError(f"lr_batch must be >= 1, got {self.lr_batch!r}")
        if self.translate < 0:
            raise ValueError(f"translate must be >= 0 pixels, got {self.translate!r}")

    @property
    def scaled_lr(self) -> float:
        """The learning rate used: ``lr`` scaled linearly from ``lr_batch`` to ``batch_size``."""
        return self.lr * self.batch_size / (self.lr_batch or self.batch_size)


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
        return torch.optim.SGD(params, lr=cfg.scaled_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    return torch.optim.Adam(params, lr=cfg.scaled_lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, total: int, warmup_steps: int, shape: str) -> float:
    """Multiplier of the peak learning rate at ``step`` of ``total``: linear rise over
    ``warmup_steps``, then ``"cosine"`` or ``"linear"`` decay to 0 at ``total``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = min((step - warmup_steps) / max(total - warmup_steps, 1), 1.0)
    return 0.5 * (1 + math.cos(math.pi * t)) if shape == "cosine" else 1.0 - t


def _scheduler(opt, cfg: TrainConfig, steps_per_epoch: int):
    """Stepped once per batch, so every schedule is smooth within an epoch."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    if cfg.scheduler in ("cosine", "linear"):
        fn = functools.partial(lr_factor, total=total, warmup_steps=round(cfg.warmup * total), shape=cfg.scheduler)
        return torch.optim.lr_scheduler.LambdaLR(opt, fn)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size * steps_per_epoch,
                                               gamma=cfg.gamma)
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.scaled_lr, total_steps=total)
    return None


class WeightAverage:
    """Exponential moving average of a model's weights *and* buffers (batch-norm statistics),
    kept in a copy of the model: ``avg = d * avg + (1 - d) * current`` after every step, with
    ``d = min(decay, (1 + t) / (10 + t))`` so the first steps do not anchor it to the random
    initialisation. Integer buffers (batch counts) are copied. A layer whose class sets
    ``weight_average = False`` (an average of it is not a layer of its kind, e.g. a spectrally
    normalised one) makes the average refuse the model."""

    def __init__(self, model: nn.Module, decay: float):
        refused = sorted({type(m).__name__ for m in model.modules() if getattr(m, "weight_average", True) is False})
        if refused:
            raise ValueError(f"no weight average (ema) for a model with {', '.join(refused)} layers: an average "
                             f"of them is not one; train it with ema=None")
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, cur in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.dtype.is_floating_point:
                avg.lerp_(cur, 1 - d)
            else:
                avg.copy_(cur)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = state["updates"]


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: ImageData, batch_size: int = 1000, device=None) -> float:
    """Clean accuracy of ``model`` on ``data`` in eval mode (then back to its mode), in fp32."""
    from lib.evaluate import accuracy

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return accuracy(model, data.x.to(device), data.y.to(device), batch_size)
    finally:
        model.train(was_training)


def _augment(x: torch.Tensor, idx: torch.Tensor, epoch: int, cfg: TrainConfig, coins, gen) -> torch.Tensor:
    if cfg.augment == "crop_flip":
        return crop_flip(x, generator=gen)
    if cfg.augment == "flip_translate":
        return flip_translate(x, alternating_flips(coins, idx, epoch), cfg.translate, generator=gen)
    return x


@cache.isolated_rng()  # fit draws from its own seed and hands the caller's random state back untouched
def fit(model: nn.Module, train: ImageData, cfg: TrainConfig | None = None, *, name: str = "model",
        val: ImageData | None = None, hook: Hook | None = None, loss_fn: LossFn = cross_entropy,
        device=None, use_cache: bool = True, progress_bar: bool = True,
        init_key: str | None = None, policy: precision.Precision | None = None,
        stop: Callable[[dict], bool] | None = None) -> FitResult:
    """Train ``model`` on ``train`` (or load it from the cache) and return it with its history.

    ``hook(model, x, y) -> (x, y)`` rewrites each batch before the step (model in
    eval mode while the hook runs, so attacks see deterministic dropout).
    ``loss_fn(model, x, y) -> (loss, logits)`` replaces cross-entropy, e.g. for
    the contrastive defense. History columns: epoch, loss, train_acc, val_acc (of the averaged
    model when ``cfg.ema`` is set), lr, seconds (training only), eval_seconds.
    ``init_key`` names the starting weights when they matter (fine-tuning: pass the
    ``info["key"]`` of the model it starts from), so that a new start retrains.
    ``policy``: the precision (default :func:`lib.precision.current`); its name enters the key.
    ``stop(row) -> bool``, called after each epoch with its history row, ends training early
    (for time-to-accuracy measurements); a run stopped early is returned but not cached.
    """
    cfg = cfg or TrainConfig()
    device = runtime.get_device(device)
    policy = policy or precision.current()
    model = policy.prepare(model.to(device))
    # The model enters with its initial weights: two starting points never share a checkpoint, so
    # a checkpoint is a pure function of its key whichever notebook trained it first.
    key = cache.config_hash(cache.describe(model), train, asdict(cfg), hook, loss_fn,
                            val.fingerprint() if val is not None else None, init_key, policy.cache_key())
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
    scaler = policy.scaler()
    average = WeightAverage(model, cfg.ema) if cfg.ema is not None else None
    coins = torch.rand(len(train), generator=torch.Generator().manual_seed(cfg.seed)) < 0.5
    history: list[dict] = []
    start_epoch = 0
    if use_cache and (state := cache.load_checkpoint(partial, map_location=device)) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        if average is not None:
            average.load_state_dict(state["average"])
        torch.set_rng_state(state["rng"])
        history, start_epoch = state["history"], state["epoch"]

    bar = progress(range(start_epoch, cfg.epochs), desc=f"train {name}", unit="epoch",
                   initial=start_epoch, total=cfg.epochs, disable=not progress_bar)
    stopped = False
    for epoch in bar:
        t0 = time.perf_counter()
        # Seeded per epoch, so a resumed run sees the same batches as an uninterrupted one.
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y, idx in batches(train, cfg.batch_size, shuffle=True, generator=gen, device=device,
                                 with_index=True):
            x = policy.images(_augment(x, idx, epoch, cfg, coins, gen))
            if hook is not None:
                model.eval()
                x, y = hook(model, x, y)
                model.train()
            with policy.autocast():
                loss, logits = loss_fn(model, x, y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"training {name} diverged: the loss is {loss.item()} at epoch {epoch + 1}, batch "
                    f"{seen // cfg.batch_size + 1} (lr={cfg.scaled_lr:g}, optimizer={cfg.optimizer}); lower the "
                    "learning rate.")
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            if sched is not None:
                sched.step()
            if average is not None:
                average.update(model)
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        seconds = time.perf_counter() - t0
        evaluated = average.model if average is not None else model
        t1 = time.perf_counter()
        row = {"epoch": epoch + 1, "loss": total_loss / seen, "train_acc": correct / seen,
               "val_acc": evaluate_accuracy(evaluated, val, device=device) if val is not None else float("nan"),
               "lr": opt.param_groups[0]["lr"], "seconds": seconds, "eval_seconds": time.perf_counter() - t1}
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_acc']:.3f}")
        if use_cache:
            cache.atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict() if sched is not None else None,
                               "average": average.state_dict() if average is not None else None,
                               "rng": torch.get_rng_state(), "history": history,
                               "epoch": epoch + 1}, partial)
        if stop is not None and stop(row):
            stopped = epoch + 1 < cfg.epochs
            break

    if average is not None:
        model.load_state_dict(average.model.state_dict())
    model.eval()
    info = {"name": name, "key": key, "config": asdict(cfg), "n_train": len(train),
            "num_classes": train.num_classes, "precision": policy.name}
    cached = use_cache and not stopped
    if cached:
        cache.atomic_save({"model": model.state_dict(), "history": history, "info": info}, path)
    if use_cache:
        partial.unlink(missing_ok=True)
    return _finished(FitResult(model, pd.DataFrame(history), path if cached else None, False, info))


def _finished(result: FitResult) -> FitResult:
    if result.untrained:
        warnings.warn(f"{result.info.get('name', 'model')} is untrained: its last-epoch training accuracy "
                      f"{result.history['train_acc'].iloc[-1]:.3f} is not above chance; no robustness "
                      "number or sanity check on it means anything", UntrainedModelWarning, stacklevel=4)
    return result
