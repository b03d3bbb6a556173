"""A Lipschitz-constrained classifier with a certificate (report 003, section VI).

The report imposes "a Lipschitz constraint" (after Usama and Chang 2018, *Towards Robust
Neural Networks with Lipschitz Continuity*, Theorem 1) but does not say how. We choose
**spectral normalisation with the true operator norm of each convolution**, because it
gives a guarantee that survives training:

- each convolution's effective weight is ``W / max(1, sigma)``, where ``sigma`` is the
  operator norm of the convolution *as a linear map on images of its input size*,
  estimated by power iteration on the convolution and its transpose (one step per
  training batch, the vector kept in a buffer; Miyato et al. 2018 use the reshaped kernel
  instead, which neither bounds nor equals the operator norm, Gouk et al. 2021);
- dense layers the same with the matrix norm;
- ReLU, non-overlapping max-pooling and flattening are 1-Lipschitz in L2; the
  normalisation ``(x - mean) / std`` is ``1 / min(std)``-Lipschitz; the fixed
  ``logit_scale`` multiplies the bound;
- **dropout** is the identity in eval mode (inverted dropout rescales at training time),
  so the certificate is a statement about the eval-mode network; :func:`network_bound`
  refuses a model in training mode;
- **batch norm** at eval time is the per-channel affine map ``gamma (x - mu) / sqrt(var +
  eps) + beta``, Lipschitz ``max |gamma| / sqrt(var + eps)``; :func:`layer_bound` bounds it
  that way, but the constrained network has none: its training-time batch statistics would
  let the eval-time gain grow unconstrained.

The certificate does not trust the power iteration (which approaches sigma from below): the
bound of each convolution is computed afresh by :func:`conv_norm_upper_bound`, the exact
norm of the *circular* convolution on the padded grid (Sedghi et al. 2019), of which the
zero-padded convolution is a compression, so it is a true upper bound. Their product is
an upper bound ``L`` on the network's Lipschitz constant (logits in L2 over images in L2),
and an image whose logit margin is ``m`` keeps its label within the L2 radius
``m / (sqrt(2) L)`` (:func:`certified_radius`): a margin ``z_y - z_j`` is
``sqrt(2) L``-Lipschitz.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lib import validate
from lib.data import map_batches
from lib.models.classifiers.report003 import Report003CNN
from lib.models.layers import Normalize

#: Relative slack added to every computed norm for float32 rounding in the SVDs.
ROUNDING_SLACK = 1e-4


def _unit(t: torch.Tensor) -> torch.Tensor:
    return t / t.norm().clamp_min(1e-12)


# --------------------------------------------------------------------------- operator norms
def _conv_transpose(v: torch.Tensor, weight: torch.Tensor, in_hw: tuple[int, int], stride, padding):
    """The adjoint of ``conv2d(., weight, stride, padding)`` applied to ``v``, with the input size
    restored (``output_padding`` makes up what a stride dropped)."""
    s, p, k = stride, padding, weight.shape[-1]
    extra = [in_hw[i] - ((v.shape[2 + i] - 1) * s - 2 * p + k) for i in range(2)]
    return F.conv_transpose2d(v, weight, stride=s, padding=p, output_padding=tuple(extra))


def conv_operator_norm(weight: torch.Tensor, input_shape: Sequence[int], *, stride: int = 1,
                       padding: int = 0, iters: int = 200, seed: int = 0) -> float:
    """Largest singular value of ``x -> conv2d(x, weight, stride, padding)`` on inputs of
    ``input_shape`` (C x H x W), by power iteration on the convolution and its transpose.
    Converges from below: a lower bound, tight after enough ``iters`` (not a certificate;
    see :func:`conv_norm_upper_bound`)."""
    gen = torch.Generator().manual_seed(seed)
    w = weight.detach()
    u = _unit(torch.randn(1, *input_shape, generator=gen).to(w))
    with torch.no_grad():
        for _ in range(iters):
            v = _unit(F.conv2d(u, w, stride=stride, padding=padding))
            u = _unit(_conv_transpose(v, w, tuple(input_shape[1:]), stride, padding))
        return float(F.conv2d(u, w, stride=stride, padding=padding).norm())


def conv_norm_upper_bound(weight: torch.Tensor, input_size: Sequence[int], padding: int = 0) -> float:
    """An upper bound on the operator norm of ``conv2d(., weight, padding=padding)`` (any stride)
    on H x W inputs: the exact norm of the circular convolution on the padded M1 x M2 grid
    (M = H + 2 padding), i.e. the largest singular value over the M1 M2 frequencies of the
    C_out x C_in matrix of the kernel's 2-D DFT (Sedghi et al. 2019, Theorem 6). The
    zero-padded, stride-1 convolution is a block of rows of that circular one (its outputs
    never wrap around), and a stride keeps only some rows, so neither can have a larger norm."""
    m1, m2 = (int(s) + 2 * padding for s in input_size)
    k1, k2 = weight.shape[-2:]
    if k1 > m1 or k2 > m2:
        raise ValueError(f"kernel {k1} x {k2} larger than the padded input {m1} x {m2}")
    spectrum = torch.fft.fft2(weight.detach().double(), s=(m1, m2))   # C_out x C_in x M1 x M2
    sv = torch.linalg.matrix_norm(spectrum.permute(2, 3, 0, 1), ord=2)  # M1 x M2
    return float(sv.max()) * (1 + ROUNDING_SLACK)


def matrix_norm(weight: torch.Tensor) -> float:
    """Largest singular value of a dense weight (out x in), exact by SVD, with rounding slack."""
    return float(torch.linalg.matrix_norm(weight.detach().double(), ord=2)) * (1 + ROUNDING_SLACK)


# --------------------------------------------------------------------------- constrained layers
class SpectralConv2d(nn.Conv2d):
    """A convolution whose operator norm on ``input_size`` images is kept at most about 1.

    Effective weight ``W / max(1, sigma)``; ``sigma = ||conv(u)||`` for the buffer ``u`` (an
    input-shaped unit vector) that one power-iteration step per training forward moves
    towards the top right-singular vector of the convolution (Gouk et al. 2021, Farnia et
    al. 2019). In eval mode ``u`` is left alone, so the eval-mode network is a fixed
    function of parameters and buffers, the one :func:`network_bound` certifies.
    """

    #: An average of such layers (raw weights and power-iteration vectors) is not normalised:
    #: :class:`lib.train.WeightAverage` refuses it.
    weight_average = False

    def __init__(self, cin: int, cout: int, kernel: int, input_size: Sequence[int], *, stride: int = 1,
                 padding: int = 0, n_power_iterations: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=padding)
        self.input_size = tuple(int(s) for s in input_size)
        self.n_power_iterations = int(n_power_iterations)
        self.register_buffer("u", _unit(torch.randn(1, cin, *self.input_size)))

    def _sigma(self) -> torch.Tensor:
        s, p = self.stride[0], self.padding[0]
        if self.training:
            with torch.no_grad():
                u = self.u
                for _ in range(self.n_power_iterations):
                    v = _unit(F.conv2d(u, self.weight, stride=s, padding=p))
                    u = _unit(_conv_transpose(v, self.weight, self.input_size, s, p))
                self.u.copy_(u)
        # Gradient through W (u fixed), as Miyato et al. do with v^T W u.
        return F.conv2d(self.u, self.weight, stride=s, padding=p).norm()

    def effective_weight(self) -> torch.Tensor:
        return self.weight / self._sigma().clamp_min(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", input_size={self.input_size}, spectral"


class SpectralLinear(nn.Linear):
    """A dense layer with effective weight ``W / max(1, sigma)``, ``sigma`` by power iteration
    (buffer ``u``, one step per training forward), as :class:`SpectralConv2d`."""

    weight_average = False   # as SpectralConv2d

    def __init__(self, fin: int, fout: int, *, n_power_iterations: int = 1):
        super().__init__(fin, fout)
        self.n_power_iterations = int(n_power_iterations)
        self.register_buffer("u", _unit(torch.randn(fin)))

    def _sigma(self) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                u = self.u
                for _ in range(self.n_power_iterations):
                    u = _unit(self.weight.t() @ _unit(self.weight @ u))
                self.u.copy_(u)
        return (self.weight @ self.u).norm()

    def effective_weight(self) -> torch.Tensor:
        return self.weight / self._sigma().clamp_min(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", spectral"


def spectral_conv(cin: int, cout: int, kernel: int, input_size: tuple[int, int]) -> SpectralConv2d:
    return SpectralConv2d(cin, cout, kernel, input_size)


def spectral_linear(fin: int, fout: int) -> SpectralLinear:
    return SpectralLinear(fin, fout)


def lipschitz_cnn(dataset: str, *, logit_scale: float, filters: Sequence[int] | None = None,
                  hidden: int = 256, dropout: Sequence[float] = (0.25, 0.5)) -> Report003CNN:
    """The report's classifier for ``dataset`` (:class:`Report003CNN`) with every convolution and
    dense layer spectrally normalised, logits times the constant ``logit_scale`` (so that
    cross-entropy can be trained at all: without it the logits of a 1-Lipschitz network
    differ by at most sqrt(2) ||x - x'|| / min(std), and softmax stays near uniform)."""
    return Report003CNN(dataset, filters, hidden, dropout, conv=spectral_conv, linear=spectral_linear,
                        logit_scale=logit_scale)


# --------------------------------------------------------------------------- the bound
def layer_bound(module: nn.Module, input_shape: Sequence[int]) -> tuple[float, str]:
    """(Upper bound on the L2 Lipschitz constant of ``module`` in eval mode on inputs of
    ``input_shape`` (C x H x W or features), how it was obtained)."""
    if isinstance(module, (SpectralConv2d, SpectralLinear)):
        w = module.effective_weight().detach()
    else:
        w = getattr(module, "weight", None)
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or module.dilation != (1, 1) or module.padding_mode != "zeros":
            raise ValueError(f"no bound for {module}: only plain zero-padded convolutions")
        return conv_norm_upper_bound(w, input_shape[1:], module.padding[0]), "circular-convolution DFT norm"
    if isinstance(module, nn.Linear):
        return matrix_norm(w), "matrix norm (SVD)"
    if isinstance(module, Normalize):
        return float(1 / module.std.min()), "1 / min(std)"
    if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
        scale = 1 / torch.sqrt(module.running_var + module.eps)
        if module.affine:
            scale = scale * module.weight.detach()
        return float(scale.abs().max()) * (1 + ROUNDING_SLACK), "max |gamma| / sqrt(var + eps) (eval)"
    if isinstance(module, nn.MaxPool2d):
        k, s = (module.kernel_size if isinstance(module.kernel_size, int) else max(module.kernel_size),
                module.stride if isinstance(module.stride, int) else min(module.stride))
        # An input pixel lies in at most ceil(k / s)^2 windows.
        return float(math.ceil(k / s)), "max-pool: sqrt(windows per pixel)"
    if isinstance(module, nn.Dropout):
        return 1.0, "dropout: identity in eval mode"
    if isinstance(module, nn.ReLU | nn.Flatten | nn.Identity | nn.ZeroPad2d):
        return 1.0, "1-Lipschitz"
    raise ValueError(f"no Lipschitz bound for layer {type(module).__name__}")


def network_bound(model: Report003CNN, input_shape: Sequence[int]) -> tuple[float, pd.DataFrame]:
    """Upper bound ``L`` on the Lipschitz constant of ``model`` (eval mode) from images in L2
    (``input_shape`` C x H x W, pixel units) to logits in L2: the product of the bounds of
    :meth:`~Report003CNN.layers` and ``logit_scale``. Returns ``(L, table)``, one row per
    layer (layer, bound, how, cumulative)."""
    if model.training:
        raise ValueError("the certificate is for the eval-mode network (dropout off): call model.eval()")
    rows, shape, total = [], tuple(input_shape), 1.0
    device = next(model.parameters()).device
    probe = torch.zeros(1, *shape, device=device)
    with torch.no_grad():
        for layer in model.layers():
            bound, how = layer_bound(layer, tuple(probe.shape[1:]))
            total *= bound
            rows.append({"layer": type(layer).__name__, "input": "x".join(map(str, probe.shape[1:])),
                         "bound": bound, "how": how, "cumulative": total})
            probe = layer(probe)
    total *= abs(model.logit_scale)
    rows.append({"layer": "logit scale", "input": "", "bound": abs(model.logit_scale), "how": "constant",
                 "cumulative": total})
    return total, pd.DataFrame(rows)


# --------------------------------------------------------------------------- the certificate
def logit_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``z_y - max_{j != y} z_j`` per image (N,): positive iff classified correctly."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    return z_y - others


@torch.no_grad()
def certified_radius(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lipschitz: float,
                     batch_size: int = 500) -> torch.Tensor:
    """Certified L2 radius per image (N,): ``margin / (sqrt(2) L)`` where correct, 0 where the
    image is misclassified. No input within it (pixel units) changes the label."""
    lipschitz = validate.lipschitz(lipschitz)
    margin = map_batches(lambda xb, yb: logit_margin(validate.logits(model(xb), yb), yb), x, y, batch_size=batch_size)
    return (margin / (math.sqrt(2) * lipschitz)).clamp_min(0).cpu()


def certified_accuracy(radius: torch.Tensor, radii: Sequence[float]) -> pd.DataFrame:
    """Share of images with certified radius >= r (strictly > 0 at r = 0), per r, with counts:
    columns radius, certified, n, accuracy."""
    radius = radius.cpu()
    n = len(radius)
    rows = []
    for r in radii:
        k = int(((radius > 0) & (radius >= r)).sum())
        rows.append({"radius": float(r), "certified": k, "n": n, "accuracy": k / n})
    return pd.DataFrame(rows)


class ScaledLogits(nn.Module):
    """``model(x) / temperature``: the same decisions, smaller logits (the control of report 003's
    "noise needed": a fixed-c Carlini-Wagner attack reacts to it, the binary search on c
    should not)."""

    def __init__(self, model: nn.Module, temperature: float):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.model, self.temperature = model, float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) / self.temperature

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def outside_radius(x: torch.Tensor, x_adv: torch.Tensor, radius: torch.Tensor, fooled: torch.Tensor) -> np.ndarray:
    """For each image an attack fooled: is its distance at least the certified radius? (N,) bool,
    True where not fooled. A False anywhere means the certificate is wrong."""
    dist = (x_adv - x).flatten(1).norm(dim=1).cpu()
    return (~fooled.cpu() | (dist >= radius.cpu() * (1 - 1e-5))).numpy()
