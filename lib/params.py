"""Typed notebook parameters: every parameter of every report has a declared type and range.

A report's ``profile.py`` declares ``PARAMS = {"epochs": Int(min=1, doc=...), ...}``
beside its smoke / quick / paper values. :func:`lib.profiles.resolve` checks every
value against its spec before any kernel starts, in one path for all reports, and
the runner turns command-line text into values with :meth:`Param.parse`, per type:

- ``Int``: ``epochs=3`` (``3.0`` or ``abc`` is an error, not a string);
- ``Float``: ``lr=0.05``, ``lr=1e-3`` (NaN and infinities are refused);
- ``Bool``: ``finetune=true`` / ``false`` (also ``1`` / ``0``, ``yes`` / ``no``);
- ``Choice``, ``DatasetName``, ``Device``: the bare word, ``dataset=mnist``;
- ``ListOf``: ``eps=0.1,0.2`` or ``eps=[0.1, 0.2]``;
- ``PerDataset``: one value for every dataset, or ``{'mnist': 0.3, 'cifar10': 0.06}``;
- ``optional=True`` admits ``None`` (written ``none``).

Text is never evaluated as code: lists and dicts go through ``ast.literal_eval``,
which only reads Python literals (a dict's keys may be bare names, ``{mnist: 0.3}``, since
``make``'s ``PARAMS`` loses quotes; a key given twice is refused).

Magnitudes are bounded before anything runs: every integer has an upper bound (by default
:data:`INT_CEILING`; seeds :data:`SEED_MAX`, epochs :data:`EPOCHS_MAX`), every list at most
:data:`LIST_CEILING` values, every number must be finite in float32 (the precision the models
compute in) and, when it must be positive, not round to 0 there. :func:`cost_note` gives a
one-line estimate of time for a request far beyond its profile.
"""
from __future__ import annotations

import ast
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A bad report, profile or parameter; raised before anything runs."""


_NONE_WORDS = ("none", "null")

#: Default upper bound of an integer parameter (sizes, steps, widths): beyond it no run ends.
INT_CEILING = 1_000_000
#: Seeds: numpy's generator takes 32 bits, and derived seeds (``seed * 100_003 + epoch``) must
#: still fit torch's 64.
SEED_MAX = 2**32 - 1
EPOCHS_MAX = 10_000
#: Default upper bound of a list's length (an eps grid, a set of budgets).
LIST_CEILING = 100
#: The largest float32; larger numbers become infinite in the models' arithmetic.
FLOAT32_MAX = 3.4028234663852886e38
#: More digits than any bound here has; longer text is refused before Python's int() sees it.
_MAX_DIGITS = 30


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_]\w*)(\s*:)")


def _literal(name: str, text: str, kind, what: str):
    """``text`` read as a Python literal (``ast.literal_eval``: never code) of type ``kind``.
    Dict keys may be bare names (``{mnist: 0.3}``: ``make`` strips the quotes of
    ``PARAMS="fpr={'mnist': 0.3}"``); a key given twice is refused rather than overwritten."""
    if len(text) > 100_000:
        raise ConfigError(f"{name}: {len(text)} characters is too long for a parameter")
    tree = None
    for candidate in (text, _BARE_KEY.sub(r"\1'\2'\3", text)):
        try:
            tree = ast.parse(candidate, mode="eval")
            value = ast.literal_eval(tree)
            break
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            tree, value = None, None
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: cannot read {text!r} as {what}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [ast.literal_eval(k) for k in node.keys if k is not None]
            twice = sorted({repr(k) for k in keys if keys.count(k) > 1})
            if twice:
                raise ConfigError(f"{name}: key {', '.join(twice)} given twice in {text!r}")
    return value


@dataclass(frozen=True)
class Param:
    """Base of all specs. ``doc`` says what the parameter means (shown by ``--describe``)."""

    doc: str = ""
    optional: bool = False

    def describe(self) -> str:
        return self._describe() + (" or None" if self.optional else "")

    def check(self, name: str, value: Any) -> Any:
        """``value`` if it fits the spec (ints are accepted for floats), else ConfigError."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{name} must be {self.describe()}, got None")
        return self._check(name, value)

    def parse(self, name: str, text: str) -> Any:
        """The value that command-line ``text`` stands for, checked."""
        if not isinstance(text, str):
            return self.check(name, text)
        if self.optional and text.strip().lower() in _NONE_WORDS:
            return None
        return self.check(name, self._parse(name, text.strip()))

    # to be provided by subclasses
    def _describe(self) -> str:
        raise NotImplementedError

    def _check(self, name: str, value: Any) -> Any:
        raise NotImplementedError

    def _parse(self, name: str, text: str) -> Any:
        raise NotImplementedError

    def _fail(self, name: str, value: Any):
        if _is_int(value) and value.bit_length() > 100:   # a number too long to echo
            shown = f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
        elif isinstance(value, str) and len(value) > 100:
            shown = f"{value[:40]!r}... ({len(value)} characters)"
        else:
            shown = repr(value)
        raise ConfigError(f"{name} must be {self.describe()}, got {shown}")


@dataclass(frozen=True)
class Int(Param):
    """An integer in [min, max]; ``max`` defaults to :data:`INT_CEILING`."""

    min: int | None = None
    max: int | None = None

    @property
    def upper(self) -> int:
        return INT_CEILING if self.max is None else self.max

    def _describe(self) -> str:
        if self.min is not None:
            return f"an integer in [{self.min}, {self.upper}]"
        return f"an integer <= {self.upper}"

    def _check(self, name, value):
        if not _is_int(value) or (self.min is not None and value < self.min) or value > self.upper:
            self._fail(name, value)
        return value

    def _parse(self, name, text):
        if not re.fullmatch(r"[+-]?\d+", text):
            self._fail(name, text)
        if len(text.lstrip("+-")) > _MAX_DIGITS:   # int() of thousands of digits is slow, then refused
            raise ConfigError(f"{name} must be {self.describe()}, got a number of {len(text.lstrip('+-'))} digits")
        return int(text)


@dataclass(frozen=True)
class Float(Param):
    """A finite number. ``gt`` / ``ge`` / ``lt`` / ``le`` bound it (open or closed)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def _describe(self) -> str:
        parts = [f"> {self.gt:g}" if self.gt is not None else "",
                 f">= {self.ge:g}" if self.ge is not None else "",
                 f"< {self.lt:g}" if self.lt is not None else "",
                 f"<= {self.le:g}" if self.le is not None else ""]
        bounds = " and ".join(p for p in parts if p)
        return "a finite number" + (f" {bounds}" if bounds else "")

    def _within(self, value: float) -> bool:
        return (self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge) and \
            (self.lt is None or value < self.lt) and (self.le is None or value <= self.le)

    def _check(self, name, value):
        if _is_int(value) and abs(value) > FLOAT32_MAX:
            self._fail(name, value)
        if not (_is_number(value) and math.isfinite(value) and self._within(value)):
            self._fail(name, value)
        if abs(value) > FLOAT32_MAX:
            raise ConfigError(f"{name}={value!r} is infinite in float32, the precision the models compute in "
                              f"(at most {FLOAT32_MAX:.3g})")
        rounded = struct.unpack("f", struct.pack("f", value))[0]
        if not self._within(rounded):
            raise ConfigError(f"{name}={value!r} is {rounded!r} in float32, the precision the models compute in; "
                              f"{name} must be {self.describe()}")
        return float(value)

    def _parse(self, name, text):
        if len(text) > 400:
            self._fail(name, text)
        try:
            return float(text)
        except ValueError:
            self._fail(name, text)


@dataclass(frozen=True)
class Bool(Param):
    def _describe(self) -> str:
        return "true or false"

    def _check(self, name, value):
        if not isinstance(value, bool):
            self._fail(name, value)
        return value

    def _parse(self, name, text):
        word = text.lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
        self._fail(name, text)


@dataclass(frozen=True)
class Choice(Param):
    options: tuple = ()

    def choices(self) -> Sequence[str]:
        return self.options

    def _describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.choices())

    def _check(self, name, value):
        if not isinstance(value, str) or value not in self.choices():
            self._fail(name, value)
        return value

    def _parse(self, name, text):
        return _unquote(text)


@dataclass(frozen=True)
class DatasetName(Choice):
    """A dataset :mod:`lib.data` knows (``synthetic*`` included)."""

    def choices(self) -> Sequence[str]:
        from lib.data import DATASETS

        return sorted(DATASETS)


@dataclass(frozen=True)
class Device(Param):
    """``auto`` (cuda when present), ``cpu``, ``cuda`` or ``cuda:N``, one that this machine has."""

    def _describe(self) -> str:
        return "'auto', 'cpu', 'cuda' or 'cuda:N'"

    def _check(self, name, value):
        if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d{1,6})?", value):
            self._fail(name, value)
        from lib import runtime  # runtime imports this module: imported when first needed

        return runtime.check_device(value, name)

    def _parse(self, name, text):
        return _unquote(text)


@dataclass(frozen=True)
class ListOf(Param):
    """A non-empty list (``min_len``) of values of one spec, e.g. an eps grid."""

    item: Param = Float()
    min_len: int = 1
    max_len: int | None = None
    distinct: bool = False

    @property
    def longest(self) -> int:
        return LIST_CEILING if self.max_len is None else self.max_len

    def _describe(self) -> str:
        size = f"exactly {self.min_len}" if self.min_len == self.longest else f"{self.min_len} to {self.longest}"
        return f"a list of {size} values, each {self.item.describe()}"

    def _check(self, name, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            self._fail(name, value)
        if len(value) < self.min_len or len(value) > self.longest:
            raise ConfigError(f"{name} must be {self.describe()}, got {len(value)} values")
        out = [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]
        if self.distinct and len(set(map(repr, out))) != len(out):
            raise ConfigError(f"{name} must not repeat a value, got {value!r}")
        return out

    def _parse(self, name, text):
        if text[:1] in "[(":
            value = _literal(name, text, (list, tuple), f"a list; write it as {name}=a,b,c or {name}=[a,b,c]")
            return [self.item.parse(f"{name}[{i}]", v) for i, v in enumerate(value)]
        return [self.item.parse(f"{name}[{i}]", part) for i, part in enumerate(text.split(","))]


@dataclass(frozen=True)
class PerDataset(Param):
    """One value for every dataset, or a dict ``{dataset: value}`` (report 001's tables
    set eps, fpr and epochs per dataset). Which datasets need an entry is the report's check."""

    item: Param = Float()

    def _describe(self) -> str:
        return f"{self.item.describe()}, or a dict {{dataset: value}}"

    def _check(self, name, value):
        if isinstance(value, dict):
            names = DatasetName().choices()
            out = {}
            for key, v in value.items():
                if key not in names:
                    raise ConfigError(f"{name}: unknown dataset {key!r}; choose from {list(names)}")
                out[key] = self.item.check(f"{name}[{key!r}]", v)
            if not out:
                self._fail(name, value)
            return out
        return self.item.check(name, value)

    def _parse(self, name, text):
        if text.startswith("{"):
            value = _literal(name, text, dict, f"a dict; write it as {name}={{mnist:0.3,cifar10:0.06}} "
                                               "(no spaces; keys need no quotes)")
            return {k: self.item.parse(f"{name}[{k!r}]", v) for k, v in value.items()}
        return self.item.parse(name, text)


# Shorthands for what every report declares the same way.
def seed() -> Int:
    return Int(min=0, max=SEED_MAX, doc="seed of every random choice (subsets, initialisation, random starts)")


def device() -> Device:
    return Device(doc="'auto': cuda when present, else cpu")


def epochs(doc: str = "training epochs") -> Int:
    return Int(min=1, max=EPOCHS_MAX, doc=doc)


def count(doc: str, min: int = 1) -> Int:  # noqa: A002 - the natural name here
    return Int(min=min, doc=doc)


def budgets(doc: str) -> ListOf:
    """At least two distinct integers >= 1: attack budgets (steps, restarts, draws) compared
    with each other, as in a convergence check."""
    return ListOf(item=Int(min=1), min_len=2, distinct=True, doc=doc)


def positive(doc: str) -> Float:
    return Float(gt=0, doc=doc)


def fraction(doc: str) -> Float:
    """A number strictly between 0 and 1 (a rate, a false-positive rate)."""
    return Float(gt=0, lt=1, doc=doc)


def eps(doc: str, max: float = 1.0) -> Float:  # noqa: A002
    """An eps in pixel units: images live in [0, 1], so L-inf eps above 1 means nothing."""
    return Float(gt=0, le=max, doc=doc)


def eps_list(doc: str, max: float = 1.0, zero: bool = False) -> ListOf:  # noqa: A002
    """Distinct eps values in (0, max], or [0, max] with ``zero=True`` (eps 0 = clean)."""
    item = Float(ge=0, le=max) if zero else Float(gt=0, le=max)
    return ListOf(item=item, doc=doc, distinct=True)


# --------------------------------------------------------------------------- cost of a request
#: Wall time of one notebook per profile on a 2-core CPU, at most (README: smoke 10-35 s,
#: quick within 5 minutes); None: not measured (paper is meant for a GPU).
PROFILE_SECONDS = {"smoke": 35, "quick": 300, "paper": None}
#: A size or budget this many times its profile's value gets a note with a time estimate.
FAR_BEYOND = 10
_NOT_COST = re.compile(r"seed|batch")   # a larger batch or another seed does not mean more work


def _ratio(value: Any, base: Any) -> float:
    """How many times more work ``value`` asks for than ``base``: for integers their ratio, for
    lists the larger of the length ratio and the ratio of their largest integers, for dicts the
    largest ratio over the keys both have; 1 where it cannot be told."""
    if _is_int(value) and _is_int(base):
        return value / max(base, 1)
    if isinstance(value, (list, tuple)) and isinstance(base, (list, tuple)) and base:
        ints = [v for v in value if _is_int(v)], [b for b in base if _is_int(b)]
        return max(len(value) / len(base), max(ints[0]) / max(max(ints[1]), 1) if all(ints) else 1.0)
    if isinstance(value, dict):
        keys = set(value) & set(base) if isinstance(base, dict) else set(value)
        return max((_ratio(value[k], base[k] if isinstance(base, dict) else base) for k in keys), default=1.0)
    if isinstance(base, dict) and base:
        return max(_ratio(value, b) for b in base.values())
    return 1.0


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} s"


def cost_note(report: str, profile: str, base: dict[str, Any], values: dict[str, Any]) -> str | None:
    """A one-line estimate of time when a size or budget in ``values`` is :data:`FAR_BEYOND`
    times or more its value in the ``profile`` (``base``), else None: the largest such ratio
    times the profile's time per notebook (work grows at least that much)."""
    ratios = {k: _ratio(v, base.get(k)) for k, v in values.items() if k in base and not _NOT_COST.search(k)}
    if not ratios:
        return None
    name, ratio = max(ratios.items(), key=lambda kv: kv[1])
    if ratio < FAR_BEYOND:
        return None
    seconds = PROFILE_SECONDS.get(profile)
    scale = (f"a {profile} notebook takes up to about {_duration(seconds)}, so expect {report} to take "
             f"{_duration(seconds * ratio)} or more") if seconds else "no CPU timing of this profile to scale"
    return f"note: {name}={values[name]!r} asks for {ratio:,.0f}x the {profile} profile's {base[name]!r}: {scale}"
