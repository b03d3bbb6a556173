"""Classifiers: images N x C x H x W in [0, 1] -> logits N x K, normalisation inside."""
from lib.models.classifiers.dropout_cnn import NOISE_PLACES, DropoutCNN
from lib.models.classifiers.puvae_ab import ClassifierA, ClassifierB
from lib.models.classifiers.small_cnn import SmallCNN

__all__ = ["NOISE_PLACES", "ClassifierA", "ClassifierB", "DropoutCNN", "SmallCNN"]
