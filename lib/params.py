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
which only reads Python literals.
"""
from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A bad report, profile or parameter; raised before anything runs."""


_NONE_WORDS = ("none", "null")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _literal(name: str, text: str, kind, what: str):
    """``text`` read as a Python literal (``ast.literal_eval``: never code) of type ``kind``."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: cannot read {text!r} as {what}")
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
        raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")


@dataclass(frozen=True)
class Int(Param):
    min: int | None = None
    max: int | None = None

    def _describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"an integer in [{self.min}, {self.max}]"
        if self.min is not None:
            return f"an integer >= {self.min}"
        return "an integer" + (f" <= {self.max}" if self.max is not None else "")

    def _check(self, name, value):
        if not _is_int(value) or (self.min is not None and value < self.min) or \
                (self.max is not None and value > self.max):
            self._fail(name, value)
        return value

    def _parse(self, name, text):
        if not re.fullmatch(r"[+-]?\d+", text):
            self._fail(name, text)
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

    def _check(self, name, value):
        ok = _is_number(value) and math.isfinite(value) and \
            (self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge) and \
            (self.lt is None or value < self.lt) and (self.le is None or value <= self.le)
        if not ok:
            self._fail(name, value)
        return float(value)

    def _parse(self, name, text):
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
    """``auto`` (cuda when present), ``cpu``, ``cuda`` or ``cuda:N``."""

    def _describe(self) -> str:
        return "'auto', 'cpu', 'cuda' or 'cuda:N'"

    def _check(self, name, value):
        if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
            self._fail(name, value)
        return value

    def _parse(self, name, text):
        return _unquote(text)


@dataclass(frozen=True)
class ListOf(Param):
    """A non-empty list (``min_len``) of values of one spec, e.g. an eps grid."""

    item: Param = Float()
    min_len: int = 1
    max_len: int | None = None
    distinct: bool = False

    def _describe(self) -> str:
        size = f"at least {self.min_len}" if self.max_len is None else (
            f"exactly {self.min_len}" if self.min_len == self.max_len else
            f"{self.min_len} to {self.max_len}")
        return f"a list of {size} values, each {self.item.describe()}"

    def _check(self, name, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            self._fail(name, value)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            self._fail(name, value)
        out = [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]
        if self.distinct and len(set(map(repr, out))) != len(out):
            raise ConfigError(f"{name} must not repeat a value, got {value!r}")
        return out

    def _parse(self, name, text):
        if text[:1] in "[(":
            value = _literal(name, text, (list, tuple), f"a list; write it as {name}=a,b,c or {name}=[a, b, c]")
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
            value = _literal(name, text, dict, f"a dict; write it as {name}={{'mnist': 0.3, 'cifar10': 0.06}}")
            return {k: self.item.parse(f"{name}[{k!r}]", v) for k, v in value.items()}
        return self.item.parse(name, text)


# Shorthands for what every report declares the same way.
def seed() -> Int:
    return Int(min=0, doc="seed of every random choice (subsets, initialisation, random starts)")


def device() -> Device:
    return Device(doc="'auto': cuda when present, else cpu")


def epochs(doc: str = "training epochs") -> Int:
    return Int(min=1, doc=doc)


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
