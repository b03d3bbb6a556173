"""Generative models: images in [0, 1] in, images in [0, 1] out."""
from lib.models.generative.cvae import CVAE_C, CVAE_D, ConditionalVAE

__all__ = ["CVAE_C", "CVAE_D", "ConditionalVAE"]
