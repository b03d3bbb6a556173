"""The conditional VAEs C and D of report 001 (appendix A, Table 6), PuVAE's networks.

Table 6 writes layers as ``Conv(filters, kernel, stride, dilation)``. Our reading,
where the table leaves room for one:

- Padding: the classifiers use none ("valid", Keras' default); the CVAE encoders
  use "same" so that the dilated 7 x 7 (C) and 2 x 2 (D) kernels keep the image
  size, which is the only way three dilated 7 x 7 convolutions fit a 28 x 28 image.
- Label: the one-hot label (10) is concatenated to the flattened convolution
  features before the encoder's first FC layer, and to ``z`` before the decoder's
  first FC layer (a conditional VAE, report section 3.1: q(z|x,y) and p(x|z,y)).
- Latent: the table's "FC(32) ReLU / FC(32) Softplus" (C) and "FC(1024) ReLU /
  FC(1024) Softplus" (D) are the two heads of q(z|x,y): a *linear* mean (a ReLU
  would keep the posterior mean out of half of the prior's support) and a
  softplus standard deviation. The size of ``z`` comes from Table 2 (``z_dim``).
- C's decoder: FC(512) is read as 32 channels of 4 x 4, and the three stride-2
  7 x 7 deconvolutions as 4 -> 7 -> 14 -> 28.
- Output: C's last layer is "Deconv(1, 3x3) ReLU" in the table; we end it with a
  sigmoid as D does, so a reconstruction is always an image in [0, 1] (what the
  classifier and the RMSE detector expect) and the Bernoulli likelihood applies.
- D's stride-1 deconvolutions are written as "same" convolutions (a stride-1
  transposed convolution is a convolution with a flipped kernel; same function class).

``filters`` (encoder; ``dec_filters`` for the decoder, default the same) and
``hidden`` default to Table 6's sizes; the CPU profiles shrink them (profile
parameters), which changes capacity, not structure.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib.models.layers import AtrousConv2d, check_shape, same2x2
from lib.models.registry import register


class ConditionalVAE(nn.Module):
    """Shared interface of the PuVAE networks C and D (report section 3.1).

    ``encode(x, y) -> (mu, std)``, each N x ``z_dim``; ``decode(z, y) -> x_hat``
    (N x C x H x W in [0, 1]); ``forward(x, y, sample=None) -> (x_hat, mu, std)``.
    ``y`` holds class indices (N,), one-hot encoded inside. ``z = mu + std * noise``
    (the reparameterisation trick, report section 2.5) when ``sample`` is true,
    ``z = mu`` otherwise; ``sample=None`` means "sample while training, and at
    inference as ``self.sample_at_inference`` says" (the report's network has its
    Sampling layer in the inference graph, so the default samples).
    """

    def __init__(self, dataset: str, channels: int, size: int, what: str, *, z_dim: int,
                 num_classes: int, sample_at_inference: bool):
        super().__init__()
        check_shape(dataset, channels, size, what)
        self.num_classes, self.z_dim = num_classes, z_dim
        self.sample_at_inference = sample_at_inference

    def _onehot(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 1:
            raise ValueError(f"labels must be a vector of class indices, got shape {tuple(y.shape)}")
        return F.one_hot(y.long(), self.num_classes).to(torch.float32)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x).flatten(1)
        h = self.enc_fc(torch.cat([h, self._onehot(y).to(h.dtype)], 1))
        return self.mu(h), F.softplus(self.std(h)) + 1e-6

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.dec_fc(torch.cat([z, self._onehot(y).to(z.dtype)], 1))
        return self.decoder(h.view(-1, *self.dec_shape))

    def forward(self, x: torch.Tensor, y: torch.Tensor, sample: bool | None = None):
        mu, std = self.encode(x, y)
        if sample is None:
            sample = self.training or self.sample_at_inference
        z = mu + std * torch.randn_like(std) if sample else mu
        return self.decode(z, y), mu, std


@register("puvae_c")
class CVAE_C(ConditionalVAE):
    """PuVAE network C (MNIST, Fashion-MNIST; Table 6, column C; z size from Table 2).

    Encoder: 3 x Conv(32, 7x7, stride 1, dilation 2, same) -> [flatten, one-hot]
    -> FC(1024) -> FC(1024) -> mean FC(z), std Softplus(FC(z)).
    Decoder: [z, one-hot] -> FC(512) = 32 x 4 x 4 -> 3 x Deconv(32, 7x7, stride 2)
    (4 -> 7 -> 14 -> 28) -> Deconv(1, 3x3) -> sigmoid. Images 1 x 28 x 28 in [0, 1].
    """

    def __init__(self, dataset: str = "mnist", z_dim: int = 32, filters: int = 32,
                 hidden: int = 1024, num_classes: int = 10, sample_at_inference: bool = True,
                 dec_filters: int | None = None):
        super().__init__(dataset, 1, 28, "PuVAE network C", z_dim=z_dim, num_classes=num_classes,
                         sample_at_inference=sample_at_inference)
        f, g = filters, dec_filters or filters
        self.encoder = nn.Sequential(
            AtrousConv2d(1, f, 7, dilation=2), nn.ReLU(),
            AtrousConv2d(f, f, 7, dilation=2), nn.ReLU(),
            AtrousConv2d(f, f, 7, dilation=2), nn.ReLU(),
        )
        self.enc_fc = nn.Sequential(
            nn.Linear(f * 28 * 28 + num_classes, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.mu, self.std = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)
        self.dec_shape = (g, 4, 4)
        self.dec_fc = nn.Sequential(nn.Linear(z_dim + num_classes, g * 16), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(g, g, 7, stride=2, padding=3), nn.ReLU(),                    # 4 -> 7
            nn.ConvTranspose2d(g, g, 7, stride=2, padding=3, output_padding=1), nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(g, g, 7, stride=2, padding=3, output_padding=1), nn.ReLU(),  # 14 -> 28
            nn.ConvTranspose2d(g, 1, 3, padding=1), nn.Sigmoid(),
        )


@register("puvae_d")
class CVAE_D(ConditionalVAE):
    """PuVAE network D (CIFAR-10; Table 6, column D; z size from Table 2).

    Encoder: Conv(3, 2x2, same) -> 3 x Conv(32, 2x2, stride 1, dilation 2, same)
    -> [flatten, one-hot] -> FC(1024) -> mean FC(z), std Softplus(FC(z)).
    Decoder: [z, one-hot] -> FC(1024) -> FC(8192) = 32 x 16 x 16 -> 2 x Conv(32, 2x2, same)
    -> Deconv(32, 3x3, stride 2) (16 -> 32) -> Conv(3, 2x2, same) -> sigmoid.
    Images 3 x 32 x 32 in [0, 1].
    """

    def __init__(self, dataset: str = "cifar10", z_dim: int = 1024, filters: int = 32,
                 hidden: int = 1024, num_classes: int = 10, sample_at_inference: bool = True,
                 dec_filters: int | None = None):
        super().__init__(dataset, 3, 32, "PuVAE network D", z_dim=z_dim, num_classes=num_classes,
                         sample_at_inference=sample_at_inference)
        f, g = filters, dec_filters or filters
        self.encoder = nn.Sequential(
            same2x2(3, 3), nn.ReLU(),
            nn.Conv2d(3, f, 2, dilation=2, padding=1), nn.ReLU(),
            nn.Conv2d(f, f, 2, dilation=2, padding=1), nn.ReLU(),
            nn.Conv2d(f, f, 2, dilation=2, padding=1), nn.ReLU(),
        )
        self.enc_fc = nn.Sequential(nn.Linear(f * 32 * 32 + num_classes, hidden), nn.ReLU())
        self.mu, self.std = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)
        self.dec_shape = (g, 16, 16)
        self.dec_fc = nn.Sequential(
            nn.Linear(z_dim + num_classes, hidden), nn.ReLU(),
            nn.Linear(hidden, g * 16 * 16), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            same2x2(g, g), nn.ReLU(),
            same2x2(g, g), nn.ReLU(),
            nn.ConvTranspose2d(g, g, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 16 -> 32
            same2x2(g, 3), nn.Sigmoid(),
        )
