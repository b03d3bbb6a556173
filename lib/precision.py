"""One precision policy for training, attacks, evaluation and ABS inference.

Low precision pays only where the hardware computes it natively: on a CPU with AVX-512 BF16
or AMX, bf16 autocast with ``channels_last`` tensors trains report 002's CNN about three times
faster than fp32 NCHW, while on a CPU without them autocast is *slower* than fp32. So
``auto`` decides by what the hardware offers, never by the device's name:

- CPU with native bf16 (AVX-512 BF16 or AMX tiles): ``bf16``;
- CUDA device with bf16 (Ampere and newer): ``bf16``; an older CUDA device: ``fp16`` (with a
  gradient scaler in training);
- anything else: ``fp32``.

``ADV_PRECISION=auto|bf16|fp16|fp32`` and every profile's ``precision`` parameter override
it; the name enters checkpoint and result-cache keys, so models trained or attacked in
different precisions never share a cache entry.

The contract with the attacks (:mod:`lib.attacks`): *gradients* may be computed under
autocast (:meth:`Precision.autocast`, :func:`wrap`), but every *decision* (is this image
broken, which restart wins, when is an image frozen as fooled, every robust accuracy and
every distortion) is made in fp32 by a plain call of the model. An example that fools the
model only in bf16 is not broken.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
from dataclasses import dataclass

import torch
from torch import nn

CHOICES = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


@dataclass(frozen=True)
class Precision:
    """A resolved policy: ``name`` ("bf16", "fp16" or "fp32") on ``device_type`` ("cpu", "cuda").

    ``channels_last``: 4-d tensors and convolution weights in NHWC memory order, which oneDNN
    and cuDNN compute fastest in low precision. ``reason`` says why ``auto`` chose it.
    """

    name: str
    device_type: str
    channels_last: bool
    reason: str = ""

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for fp32."""
        return _DTYPES[self.name]

    @property
    def low(self) -> bool:
        return self.name != "fp32"

    def autocast(self):
        """A context in which the model's forward runs in this precision (a no-op for fp32).
        Gradients taken through it come back in the inputs' dtype (fp32)."""
        if not self.low:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self):
        """A gradient scaler for fp16 training (bf16 has fp32's range and needs none), else None."""
        if self.name == "fp16":
            return torch.amp.GradScaler(self.device_type)
        return None

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` with its 4-d weights in ``channels_last`` (in place, returned), when the
        policy asks for it and the model has convolutions. Values are unchanged, so state dicts,
        cache keys and fp32 outputs are the same as before."""
        if self.channels_last and _has_conv(model):
            model.to(memory_format=torch.channels_last)
        return model

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A 4-d batch in the policy's memory order (values unchanged)."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def cache_key(self) -> dict:
        return {"precision": self.name}

    def __str__(self) -> str:
        layout = ", channels_last" if self.channels_last else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.name} on {self.device_type}{layout}{why}"


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (x86: AVX-512 BF16 or AMX tiles; Arm: the
    BF16 extension). Asks torch where it can, else reads /proc/cpuinfo's flags."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    cpu = getattr(torch, "cpu", None)
    for probe in probes:
        fn = getattr(cpu, probe, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except Exception:  # noqa: BLE001 - a private probe may fail on other builds: fall through
                pass
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "bf16" in flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def _auto(device_type: str) -> tuple[str, str]:
    if device_type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "this GPU computes bf16 natively"
        major, _ = torch.cuda.get_device_capability()
        if major >= 7:
            return "fp16", "this GPU has fp16 tensor cores but no bf16"
        return "fp32", "this GPU has no fast half precision"
    if device_type == "cpu":
        if cpu_has_native_bf16():
            return "bf16", "this CPU has native bf16 (AVX-512 BF16 / AMX)"
        return "fp32", "this CPU has no native bf16, where autocast is slower than fp32"
    return "fp32", f"no low-precision policy for {device_type}"


def check_choice(requested: str) -> str:
    """``requested`` lower-cased if it is one of :data:`CHOICES`, else a ValueError naming them."""
    value = str(requested).strip().lower()
    if value not in CHOICES:
        raise ValueError(f"precision must be one of {', '.join(CHOICES)}, got {requested!r}")
    return value


def requested_choice(requested: str | None = None) -> str:
    """What was asked for: ``requested`` unless it is None or ``"auto"``, else
    ``$ADV_PRECISION``, else ``"auto"`` (so a profile's default ``auto`` yields to the variable,
    and an explicit ``precision=fp32`` beats it)."""
    if requested is not None and check_choice(requested) != "auto":
        return check_choice(requested)
    env = os.environ.get("ADV_PRECISION", "").strip()
    if env:
        try:
            return check_choice(env)
        except ValueError:
            raise ValueError(f"ADV_PRECISION must be one of {', '.join(CHOICES)}, got {env!r}") from None
    return "auto"


def resolve(requested: str | None = None, device: str | torch.device | None = None) -> Precision:
    """The policy for ``device`` (default: :func:`lib.runtime.get_device`) from
    :func:`requested_choice`. fp16 on a CPU is refused (no CPU computes it fast)."""
    from lib import runtime

    device = runtime.get_device(device)
    choice = requested_choice(requested)
    kind = device.type
    if choice == "auto":
        name, reason = _auto(kind)
    else:
        name, reason = choice, "asked for"
    if name == "fp16" and kind == "cpu":
        raise ValueError("precision fp16 is for GPUs; on a CPU use bf16 (native on AVX-512 BF16 / AMX) or fp32")
    return Precision(name, kind, channels_last=name != "fp32" or kind == "cpu", reason=reason)


# --------------------------------------------------------------------------- the current policy
_current: Precision | None = None


def current() -> Precision:
    """The policy in force: the one :func:`use` set, else :func:`resolve` of the defaults."""
    return _current if _current is not None else resolve()


def use(policy: Precision | str | None, device: str | torch.device | None = None) -> Precision:
    """Make ``policy`` (a :class:`Precision`, or a choice for :func:`resolve` on ``device``) the
    current one for this process (a notebook calls it once with its profile's ``precision``);
    returns it."""
    global _current
    _current = policy if isinstance(policy, Precision) else resolve(policy, device)
    return _current


@contextlib.contextmanager
def using(policy: Precision | str):
    """Within the block, ``policy`` is the current one (tests, benchmarks)."""
    global _current
    before = _current
    use(policy)
    try:
        yield _current
    finally:
        _current = before


class Autocast(nn.Module):
    """``model`` seen through a precision policy: inputs in the policy's memory order, the
    forward under autocast, logits returned as fp32 (so losses and comparisons downstream are
    fp32). For the *gradient* passes of attacks; decisions call the model itself."""

    def __init__(self, model, policy: Precision):
        super().__init__()
        self.model, self.policy = model, policy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self.policy.autocast():
            out = self.model(self.policy.images(x))
        return out.float()


def wrap(model, policy: Precision | None = None):
    """``model`` for gradient passes under ``policy`` (default :func:`current`): itself in fp32,
    else an :class:`Autocast` around it (weights moved to ``channels_last`` once)."""
    policy = policy or current()
    if isinstance(model, Autocast) or (not policy.low and not policy.channels_last):
        return model
    if isinstance(model, nn.Module):
        policy.prepare(model)
    return Autocast(model, policy) if policy.low else model


__all__ = ["CHOICES", "Autocast", "Precision", "check_choice", "cpu_has_native_bf16", "current",
           "requested_choice", "resolve", "use", "using", "wrap"]
