"""Models by name: ``build("dropout_cnn", dataset=..., ...)``.

Architectures register themselves with ``@register(name)``; ``build`` imports the
classifier and generative packages on demand, so a name in a profile is enough.
"""
from __future__ import annotations

import importlib
import pkgutil

from torch import nn

REGISTRY: dict[str, type[nn.Module]] = {}
_PACKAGES = ("lib.models.classifiers", "lib.models.generative")


def register(name: str):
    """Class decorator: make a model buildable by name."""
    def deco(cls):
        REGISTRY[name] = cls
        return cls
    return deco


def _import_all() -> None:
    for package in _PACKAGES:
        pkg = importlib.import_module(package)
        for module in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{package}.{module.name}")


def build(name: str, **kwargs) -> nn.Module:
    """A fresh model of the registered architecture ``name`` (images in [0, 1] -> logits)."""
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, got {type(name).__name__}")
    if name not in REGISTRY:
        _import_all()
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name](**kwargs)
