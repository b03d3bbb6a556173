"""The base classifier of report 002 ("Data Science Project - Adversarial Networks").

The report's architecture figure (its Figure 9, appendix) is missing from the text
we have. What the text does say: a CNN on CIFAR-10 "with two Dropout layers", and
"two dense layers placed in the last part" of the model, between which the second
Gaussian-noise defense goes (section 3.2). :class:`DropoutCNN` is *our reading* of
that description, a VGG-style net of two conv blocks followed by
dense - dropout - dense:

    normalise -> conv(w) BN [noise "conv1"] ReLU -> conv(w) BN ReLU -> maxpool
              -> conv(2w) BN ReLU -> conv(2w) BN ReLU -> maxpool -> dropout(p_conv)
              -> dense(hidden) ReLU [noise "dense"] -> dropout(p_dense) -> dense(K)

Batch norm (which the report does not mention) is our addition: it lets SGD train the
net in the few epochs a CPU profile affords; ``batchnorm=False`` removes it.

The optional :class:`GaussianNoise` layer implements the defense of section 3.2
(sigma 0.05 in the report, after Lecuyer et al. 2019). After the first convolution it
acts on batch-normalised activations, so sigma is relative to unit variance. It stays
active in eval mode, because it is meant as a defense at inference time, not as a
regulariser.
"""
from __future__ import annotations

import torch
from torch import nn

from lib import data as data_mod
from lib.models.layers import GaussianNoise, normalizer
from lib.models.registry import register

NOISE_PLACES = (None, "conv1", "dense")


@register("dropout_cnn")
class DropoutCNN(nn.Module):
    """Report 002's base CNN (our reading, see the module doc), optionally with a noise layer.

    Input ``x``: N x C x H x W in [0, 1] with (C, H, W) the dataset's shape
    (H and W divisible by 4); output logits N x ``num_classes``.

    - ``width``: filters of the first conv block (the second has ``2 * width``);
    - ``hidden``: size of the first dense layer, i.e. of the penultimate
      representation :meth:`embed` returns (the latent space of section 3.3);
    - ``dropout``: the two dropout rates (after the conv blocks, between the dense layers);
    - ``noise``: ``None``, ``"conv1"`` (after the first convolution, report Figure 6) or
      ``"dense"`` (between the two dense layers, report Figure 7), with std ``sigma``.
    """

    def __init__(self, dataset: str = "cifar10", width: int = 32, hidden: int = 256,
                 num_classes: int = 10, dropout: tuple[float, float] = (0.25, 0.5),
                 noise: str | None = None, sigma: float = 0.05, batchnorm: bool = True):
        super().__init__()
        c, h, w = data_mod.info(dataset).shape
        if noise not in NOISE_PLACES:
            raise ValueError(f"noise must be one of {NOISE_PLACES}, got {noise!r}")
        if h % 4 or w % 4:
            raise ValueError(f"image sides must be divisible by 4 (two 2x2 poolings), got {h}x{w}")
        if width < 1 or hidden < 1 or num_classes < 2:
            raise ValueError("need width >= 1, hidden >= 1 and num_classes >= 2")
        if len(dropout) != 2 or not all(0 <= p < 1 for p in dropout):
            raise ValueError(f"dropout must be two rates in [0, 1), got {dropout}")
        self.noise_place = noise
        self.normalize = normalizer(dataset)
        noise_conv = GaussianNoise(sigma) if noise == "conv1" else nn.Identity()
        noise_dense = GaussianNoise(sigma) if noise == "dense" else nn.Identity()

        def conv(c_in, c_out, *after):
            # Batch norm lets plain SGD train this net in a few epochs (a CPU profile has no more).
            bn = [nn.BatchNorm2d(c_out)] if batchnorm else []
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm), *bn, *after, nn.ReLU()]

        self.features = nn.Sequential(
            *conv(c, width, noise_conv), *conv(width, width), nn.MaxPool2d(2),
            *conv(width, 2 * width), *conv(2 * width, 2 * width), nn.MaxPool2d(2),
            nn.Dropout(dropout[0]),
        )
        self.dense1 = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), hidden),
                                    nn.ReLU(), noise_dense)
        self.classifier = nn.Sequential(nn.Dropout(dropout[1]), nn.Linear(hidden, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation, N x ``hidden`` (non-negative, plus noise if ``noise="dense"``):
        the latent space where report 002, section 3.3, applies the contrastive loss."""
        return self.dense1(self.features(self.normalize(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))

    @property
    def stochastic(self) -> bool:
        """True when the model draws noise at inference (attack it with EOT)."""
        return self.noise_place is not None
