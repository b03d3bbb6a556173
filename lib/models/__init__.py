"""Classifiers and generative models. Each takes images in [0, 1] and normalises inside.

- :mod:`lib.models.layers`       Normalize, GaussianNoise, a fast atrous convolution
- :mod:`lib.models.classifiers`  SmallCNN, report 002's DropoutCNN, report 001's A and B
- :mod:`lib.models.generative`   report 001's conditional VAEs C and D
- :mod:`lib.models.registry`     ``build(name, **kwargs)``: a model from its registry name,
  so profiles name architectures as strings and checkpoints are keyed by them
"""
from __future__ import annotations

from lib.models.classifiers import DropoutCNN, SmallCNN
from lib.models.layers import GaussianNoise, Normalize, normalizer
from lib.models.registry import REGISTRY, build, register

__all__ = ["DropoutCNN", "GaussianNoise", "Normalize", "REGISTRY", "SmallCNN", "build",
           "normalizer", "register"]
