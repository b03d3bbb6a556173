"""Classifiers and generative models. Each takes images in [0, 1] and normalises inside.

``build(name, **kwargs)`` makes a model from its registry name, so notebooks and
profiles can name architectures as strings and checkpoints can be keyed by them.
Report-specific architectures live in their own modules of this package and
register themselves with ``@register(name)``; ``build`` imports them on demand.
"""
from __future__ import annotations

from torch import nn

from lib.models.common import Normalize, SmallCNN, normalizer

REGISTRY: dict[str, type[nn.Module]] = {"small_cnn": SmallCNN}


def register(name: str):
    """Class decorator: make a model buildable by name."""
    def deco(cls):
        REGISTRY[name] = cls
        return cls
    return deco


def _import_all() -> None:
    """Import every module of this package, so their ``@register`` decorators run."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def build(name: str, **kwargs) -> nn.Module:
    if name not in REGISTRY:
        _import_all()
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name](**kwargs)


__all__ = ["Normalize", "SmallCNN", "normalizer", "build", "register", "REGISTRY"]
