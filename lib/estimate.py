"""How long a notebook will take, and how much memory it needs, on the device at hand.

Before ``make reproduce PROFILE=paper`` starts (and around ``make paper-check``) every notebook
gets an estimate built like ``make benchmark`` builds its table: from throughput *measured on
this device*, not from a guess about it.

- A **cost model** per report (:mod:`lib.cost_models`) lists the dominant work of its notebook
  at a given configuration: :class:`Work` items, each so many image-passes of one kind
  (``train``: forward, backward and optimiser step; ``grad``: an attack's input gradient;
  ``forward``: inference; ``d`` / ``g``: a GAN's discriminator / generator step) through one
  :class:`Unit` (a model at its batch size: SimpleDLA at width 1, ABS with 8000 prototypes and
  50 steps, PuVAE's pipeline, ...). Attack work is counted as an upper bound: every image
  attacked at every eps by every attack of a set for its whole budget (the sweeps stop on
  broken images, so a real run does less; ``make paper-check`` measures by how much).
- Each unit's **rate** (image-passes per second) is measured here on one random batch, a few
  steps after a warm-up (:func:`lib.benchmarks.engine.rate`), in the notebook's precision
  policy, and cached per device, precision and unit in ``<checkpoints>/estimates/rates.json``.
  On a CPU the batch is capped (``Unit.cpu_batch``) to keep the measurement short.
- **Peak memory** per unit: on CUDA, ``torch.cuda.max_memory_allocated`` over one step at
  the notebook's batch; on a CPU, weights, gradients and optimiser state from their sizes plus
  the rise of the process's peak resident memory over one step (Linux; elsewhere the sizes of
  every module output), scaled to the notebook's batch. A notebook's peak is its largest unit
  plus the images it keeps on the device; its host memory adds the datasets it loads and the
  resident memory of a Python process that has imported the study's libraries.

Time = a measured start-up (a Python process importing the study's libraries, once per
device) + sum over work items of images / rate. Not modelled: figures, tables, data loading
and the sweeps' bookkeeping, which is what the calibration of ``make paper-check`` shows.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lib import cache, precision, runtime
from lib.benchmarks.steps import STEPS

KINDS = ("train", "grad", "forward", "d", "g")
#: Seconds each rate is measured for (after one warm-up step), by device type.
MEASURE_SECONDS = {"cpu": 0.3, "cuda": 1.0}
GIB = 2 ** 30


@dataclass(frozen=True)
class Unit:
    """A model whose throughput is measured. ``key`` names it uniquely (architecture and every
    setting that changes its cost: the rate cache's key); ``build()`` makes it afresh (a module,
    or a tuple for the kinds that need two); ``shape`` is one input's C x H x W (or the latent
    size of a generator, as ``(z,)``); ``batch`` the notebook's batch size; ``optimizer``
    ``"sgd"`` or ``"adam"``; ``step`` how a kind of pass is made (:data:`STEPS`); ``cpu_batch``
    the largest batch measured on a CPU (a step of a heavy unit takes seconds there)."""

    key: str
    build: Callable[[], Any] = field(compare=False, repr=False)
    shape: tuple[int, ...]
    batch: int
    optimizer: str = "sgd"
    step: str = "classifier"
    cpu_batch: int = 32


@dataclass(frozen=True)
class Work:
    """``images`` image-passes of ``kind`` through ``unit``, described by ``what``."""

    unit: Unit
    kind: str
    images: float
    what: str


@dataclass
class Plan:
    """A notebook's cost model at one configuration: its ``work``, the bytes of images it keeps on
    the device (``device_data``) and of datasets in host memory (``host_data``)."""

    work: list[Work]
    device_data: int = 0
    host_data: int = 0


def _parameters(model) -> list[torch.nn.Parameter]:
    mods = model if isinstance(model, tuple) else (model,)
    return [p for m in mods for p in m.parameters() if p.requires_grad]


def _prepare(unit: Unit, policy, device):
    model = unit.build()
    parts = model if isinstance(model, tuple) else (model,)
    for m in parts:
        policy.prepare(m.to(device))
    return model


# --------------------------------------------------------------------------- measuring
def device_tag(device: torch.device) -> str:
    """The device a rate belongs to: the GPU's name, or the CPU's model and thread count."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {name}, {torch.get_num_threads()} threads"


def _activation_bytes(model, step: Callable[[], None]) -> int:
    """Bytes of every leaf module's output during one call of ``step`` (what backward keeps)."""
    total = [0]

    def hook(_mod, _inp, out):
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    mods = model if isinstance(model, tuple) else (model,)
    handles = [m.register_forward_hook(hook) for root in mods for m in root.modules() if not list(m.children())]
    try:
        step()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def _state_bytes(model, kind: str, optimizer: str) -> int:
    """Weights, and for a training step their gradients and the optimiser's state."""
    params = sum(p.numel() * p.element_size() for p in _parameters(model))
    frozen = sum(p.numel() * p.element_size() for m in (model if isinstance(model, tuple) else (model,))
                 for p in m.parameters() if not p.requires_grad)
    if kind in ("train", "d", "g"):
        return frozen + params * (2 + (2 if optimizer == "adam" else 1))
    return frozen + params


def _reset_peak_rss() -> bool:
    """Return freed heap memory to the system and reset this process's peak resident memory
    (Linux's ``clear_refs``); False where that cannot be done."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except (OSError, AttributeError):
        return False
    return runtime.process_memory() is not None


def _cpu_peak(unit: Unit, model, kind: str, step: Callable[[], None], scale: float) -> float:
    """Peak memory of one step on a CPU at the unit's batch: weights, gradients and optimiser
    state (from their sizes), plus what one step allocates beyond them, scaled from the measured
    batch to the unit's (``scale``): on Linux the rise of this process's peak resident memory
    over a second call (the first allocated the gradients and the optimiser's state), elsewhere
    the sizes of every module output of one call."""
    state = _state_bytes(model, kind, unit.optimizer)
    step()
    if _reset_peak_rss():
        before = runtime.process_memory()[0]
        step()
        return state + max(runtime.process_memory()[1] - before, 0) * scale
    return state + _activation_bytes(model, step) * scale


def measure(unit: Unit, kinds: Sequence[str], policy: precision.Precision, device: torch.device,
            seconds: float | None = None) -> dict[str, dict[str, float]]:
    """``{kind: {"rate": image-passes/s, "peak": bytes}}`` of ``unit`` on ``device``: a fresh
    model, one step of each kind for its memory, then :func:`lib.benchmarks.engine.rate`."""
    from lib.benchmarks.engine import rate

    seconds = MEASURE_SECONDS.get(device.type, 1.0) if seconds is None else seconds
    batch = unit.batch if device.type == "cuda" else min(unit.batch, unit.cpu_batch)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((batch, *unit.shape), generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    out = {}
    torch.manual_seed(0)
    with precision.using(policy):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            base = torch.cuda.memory_allocated(device)
        model = _prepare(unit, policy, device)
        params = _parameters(model)
        opt = (torch.optim.Adam(params, lr=1e-4) if unit.optimizer == "adam"
               else torch.optim.SGD(params, lr=1e-4, momentum=0.9)) if params else None
        steps = STEPS[unit.step](model, policy, x, y, opt)
        for kind in kinds:
            step = steps[kind]
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                step()
                torch.cuda.synchronize(device)
                peak = float(torch.cuda.max_memory_allocated(device) - base)   # at the unit's own batch
            else:
                peak = _cpu_peak(unit, model, kind, step, unit.batch / batch)
            out[kind] = {"rate": rate(step, batch, min_seconds=seconds, min_reps=1), "peak": float(peak)}
    return out


def startup() -> dict[str, float]:
    """A kernel's start-up: seconds for a fresh Python to import what every notebook imports,
    and its resident memory then (bytes)."""
    code = ("import lib.plots, lib.tables, lib.reports.base, lib.sweep, lib.robustness, pandas, matplotlib.pyplot\n"
            "from lib import runtime; print((runtime.process_memory() or (0,))[0])")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=runtime.REPO_ROOT, check=True, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(runtime.REPO_ROOT), MPLBACKEND="Agg"))
    return {"seconds": time.perf_counter() - t0, "rss": float(done.stdout.split()[-1])}


class Rates:
    """Measured rates and peaks, cached in ``<folder>/rates.json`` per device and precision."""

    def __init__(self, device: torch.device, policy: precision.Precision, folder: Path | None = None):
        self.device, self.policy = device, policy
        self.path = (folder or runtime.checkpoint_dir() / "estimates") / "rates.json"
        self.scope = f"{device_tag(device)} | {policy.name}{' channels_last' if policy.channels_last else ''}"
        self.measured = 0
        self._wanted: dict[str, set[str]] = {}
        try:
            self.table = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.table = {}
        self.mine = self.table.setdefault(self.scope, {})

    def get(self, unit: Unit, kind: str) -> dict[str, float]:
        key = f"{unit.key} @ batch {unit.batch}"
        have = self.mine.get(key, {})
        if kind not in have:
            kinds = sorted({w for w in self._wanted.get(key, ()) if w not in have} | {kind})
            t0 = time.perf_counter()
            have.update(measure(unit, kinds, self.policy, self.device))
            have["measured in s"] = round(time.perf_counter() - t0, 2)
            self.mine[key] = have
            self.measured += 1
            self.save()
        return have[kind]

    def startup(self) -> dict[str, float]:
        """``{"seconds", "rss"}`` of :func:`startup`, measured once per device."""
        if "rss" not in self.mine.get("startup", {}):
            self.mine["startup"] = startup()
            self.save()
        return self.mine["startup"]

    def want(self, plans: Sequence[Plan]) -> bool:
        """Say which kinds each unit will be asked for (one build then measures them all);
        True when some are not in the cache yet."""
        missing = "startup" not in self.mine
        for p in plans:
            for w in p.work:
                key = f"{w.unit.key} @ batch {w.unit.batch}"
                self._wanted.setdefault(key, set()).add(w.kind)
                missing = missing or w.kind not in self.mine.get(key, {})
        return missing

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with cache.atomic_path(self.path) as tmp:
                Path(tmp).write_text(json.dumps(self.table, indent=1, sort_keys=True))
        except OSError:
            pass   # an unwritable checkpoint folder costs a re-measurement next time, nothing else


# --------------------------------------------------------------------------- one notebook
@dataclass
class Estimate:
    """A notebook's estimate: ``seconds`` in all and its ``parts`` (what, seconds; largest
    first); ``gpu``: the peak GPU memory (None on a CPU); ``ram``: the peak host memory (on a
    CPU everything: a started kernel, the datasets, the largest step)."""

    report: str
    seconds: float
    parts: list[tuple[str, float]]
    gpu: float | None
    ram: float

    def top(self, k: int = 3) -> str:
        return "; ".join(f"{what} {human_seconds(s)}" for what, s in self.parts[:k] if s >= 0.5)

    def memory(self) -> str:
        return (f"GPU {human_bytes(self.gpu)}, RAM {human_bytes(self.ram)}" if self.gpu is not None
                else f"RAM {human_bytes(self.ram)}")


def evaluate(report: str, plan: Plan, rates: Rates) -> Estimate:
    """``plan`` in seconds and bytes at ``rates``: start-up plus images / rate per work item;
    memory: the largest step plus the notebook's data, plus a started kernel's own."""
    seconds: dict[str, float] = {}
    peak = 0.0
    for w in plan.work:
        if w.images <= 0:
            continue
        r = rates.get(w.unit, w.kind)
        seconds[w.what] = seconds.get(w.what, 0.0) + w.images / r["rate"]
        peak = max(peak, r["peak"])
    start = rates.startup()
    parts = sorted(seconds.items(), key=lambda kv: -kv[1]) + [("start-up", start["seconds"])]
    total = start["seconds"] + sum(seconds.values())
    if rates.device.type == "cuda":
        return Estimate(report, total, parts, peak + plan.device_data, start["rss"] + plan.host_data)
    return Estimate(report, total, parts, None, start["rss"] + plan.host_data + peak)


def human_seconds(s: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= 2 * size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.0f} s"


def human_bytes(b: float) -> str:
    return f"{b / GIB:.1f} GiB" if b >= GIB / 10 else f"{b / 2 ** 20:.0f} MiB"


# --------------------------------------------------------------------------- many notebooks
@dataclass
class Estimates:
    """Estimates of a run's notebooks (``rows``) and, for paper-check, of the full paper
    profile (``full``), on ``device`` in ``policy``."""

    device: str
    policy: str
    rows: dict[str, Estimate]
    full: dict[str, Estimate] | None = None
    measured_units: int = 0

    def text(self) -> str:
        now = f" ({self.measured_units} measured now, the rest cached)" if self.measured_units else ""
        lines = [f"estimated time and peak memory on {self.device} ({self.policy}), from throughput measured "
                 f"on it{now}:"]
        for title, rows in (("this run", self.rows), ("the full paper profile", self.full)):
            if not rows:
                continue
            if self.full:
                lines.append(f" {title}:")
            width = max(len(r) for r in rows)
            for r, e in rows.items():
                lines.append(f"  {r:<{width}}  {human_seconds(e.seconds):>8}  {e.memory():<24}  mostly {e.top()}")
            lines.append(f"  {'total':<{width}}  {human_seconds(sum(e.seconds for e in rows.values())):>8}")
        lines.append("  (attacks counted as if no image broke early, an upper bound; figures and tables not counted; "
                     "make paper-check measures the error)")
        return "\n".join(lines)


def for_jobs(jobs, full: Mapping[str, Mapping] | None = None, cache: Path | None = None) -> Estimates:
    """Estimates of the runner's planned ``jobs`` ``[(report, overrides, cfg)]`` and, when
    given, of ``full`` (``{report: cfg}``), each with its report's cost model, on the device
    and in the precision of the first job's configuration."""
    from lib import cost_models

    cfgs = {r: cfg for r, _, cfg in jobs}
    first = next(iter(cfgs.values()))
    device = runtime.get_device(first.get("device", "auto"))
    policy = precision.resolve(first.get("precision", "auto"), device)
    rates = Rates(device, policy, cache)
    plans = {r: cost_models.plan(r, c) for r, c in cfgs.items()}
    full_plans = {r: cost_models.plan(r, c) for r, c in (full or {}).items()}
    if rates.want([*plans.values(), *full_plans.values()]):
        print(f"measuring throughput on {device_tag(device)} for the time estimates (cached for next time) ...",
              flush=True)
    rows = {r: evaluate(r, p, rates) for r, p in plans.items()}
    fulls = {r: evaluate(r, p, rates) for r, p in full_plans.items()} or None
    return Estimates(device_tag(device), str(policy), rows, fulls, rates.measured)


def announce(profile: str, jobs, checked=None) -> Estimates | None:
    """Print the estimates before a paper run (and a paper-check: with the full paper profile's
    beside); None when skipped (``ADV_ESTIMATE=0``, another profile) or impossible. An estimate
    never stops the run it describes: its failure is one line."""
    if profile != "paper" or os.environ.get("ADV_ESTIMATE", "").strip() == "0":
        return None
    try:
        result = for_jobs(jobs, full=None if checked is None else checked.full_configs(),
                          cache=None if checked is None else checked.cache)
    except Exception as err:  # noqa: BLE001
        print(f"(no time estimate: {type(err).__name__}: {err})", flush=True)
        return None
    print(result.text(), flush=True)
    return result
