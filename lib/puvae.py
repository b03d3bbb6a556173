"""PuVAE purification with a reconstruction-error detector (report 001).

The defense of "Augmenting robustness using adversarial detection" (Wester and
Thisted, 2020), built on PuVAE (Hwang et al. 2019) and MagNet's detector
(Meng and Chen 2017):

1. a conditional VAE is trained with the PuVAE loss (:func:`puvae_loss`):
   reconstruction + KL + cross-entropy of a frozen classifier on the
   reconstruction (report section 3.1);
2. at inference the input is reconstructed under each of the 10 labels in one
   batched pass (:func:`reconstruct_all`) and the reconstruction of least RMSE
   goes to the classifier (report section 3.1, the arg-min equation; Figure 4);
3. the detector rejects the input when that least RMSE exceeds a threshold ``t``
   chosen on held-out clean data at a false-positive rate (report sections 4
   and 5.1; :func:`threshold_at_fpr`);
4. scoring as the report (MagNet's rule, report section 3.2): an adversarial
   input is handled correctly when rejected or classified correctly, a rejected
   clean input is an error (:func:`report_correct`).

:class:`PuVAEPipeline` is the whole defended model as one ``nn.Module`` that
returns ``K + 1`` logits, the last one for "rejected", so that
:mod:`lib.attacks` attacks it like any classifier; :func:`reject_aware_margin`
is the loss of our adaptive attack (beyond the report).

The rest (settings per dataset, sweeps over eps, tables and figures) is what the
notebook ``notebooks/puvae_detector.ipynb`` calls, one function per step.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import nn

from lib import attacks, data as data_mod, models, runtime, train as train_mod
from lib.evaluate import attack_in_batches, predict
from lib.plots import PALETTE, show_image

# --------------------------------------------------------------------------- the report's numbers
#: Tables 3-5 (accuracy %): attack -> (no defense, PuVAE, ours, ours worst over eps).
REPORT_TABLES: dict[str, dict[str, tuple]] = {
    "mnist": {"none": (99.2, 97.2, 97.2, None), "FGSM": (23.2, 82.9, 99.8, 96.2),
              "BIM": (0.2, 93.9, 93.9, 93.9), "PGD": (0.0, 86.4, 96.9, 93.0)},
    "fashion_mnist": {"none": (92.2, 82.5, 82.1, None), "FGSM": (25.4, 55.6, 87.9, 74.2),
                      "BIM": (20.9, 77.8, 77.5, 77.5), "PGD": (1.6, 67.3, 77.1, 73.2)},
    "cifar10": {"none": (80.2, 42.3, 41.7, None), "FGSM": (11.4, 25.3, 30.4, 30.4),
                "BIM": (4.7, 31.7, 34.9, 34.9), "PGD": (0.2, 35.1, 37.1, 37.1)},
}
#: Table number of each dataset in the report.
TABLE_NUMBER = {"mnist": 3, "fashion_mnist": 4, "cifar10": 5}
#: Section 4: mean best-reconstruction RMSE on MNIST, clean and PGD eps 0.3.
REPORT_RMSE = {"mnist": (0.04, 0.13)}
#: Section 5.4 / Figure 8: on MNIST at the worst eps, 1.8 % to 18.3 % of predictions
#: equal the adversarial label, depending on the attack.
REPORT_FIG8_MNIST = (1.8, 18.3)
#: Table 1: classifier (batch size, epochs, test accuracy %); Table 2: CVAE (batch, epochs, z).
REPORT_TABLE1 = {"mnist": (128, 64, 99.2), "fashion_mnist": (128, 256, 92.2), "cifar10": (64, 350, 80.2)}
REPORT_TABLE2 = {"mnist": (512, 350, 32), "fashion_mnist": (512, 350, 128), "cifar10": (256, 1024, 1024)}
REPORT_CLEAN = {k: v[2] for k, v in REPORT_TABLE1.items()}
#: Which report dataset a synthetic stand-in is compared with (smoke profile only).
REFERENCE_OF = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10",
                "synthetic28": "fashion_mnist", "synthetic32": "cifar10"}
ATTACK_NAMES = ("FGSM", "BIM", "PGD")


def table_name(dataset: str) -> str:
    """``table3_mnist`` / ``table4_fashion_mnist`` / ``table5_cifar10``; ``table_<name>`` otherwise."""
    n = TABLE_NUMBER.get(dataset)
    return f"table{n}_{dataset}" if n else f"table_{dataset}"


# --------------------------------------------------------------------------- settings
_PER_DATASET_HINT = "a value, or a dict {dataset: value} with an entry for every dataset"


def settings(cfg: Mapping, dataset: str) -> SimpleNamespace:
    """The parameters for one dataset: a dict-valued parameter ``{dataset: value}`` is
    resolved to its entry, any other value is shared. Checked before any compute."""
    out = {}
    for key, value in cfg.items():
        if isinstance(value, Mapping) and key not in ("overrides",):
            if dataset not in value:
                raise ValueError(f"parameter {key!r} has no entry for {dataset!r}; "
                                 f"give {_PER_DATASET_HINT}")
            value = value[dataset]
        out[key] = value
    out["dataset"] = dataset
    s = SimpleNamespace(**out)
    _check_settings(s)
    return s


def check_config(cfg: Mapping) -> list[SimpleNamespace]:
    """Resolve and check the settings of every dataset in ``cfg['datasets']`` up front."""
    datasets = cfg["datasets"]
    if isinstance(datasets, str) or not datasets:
        raise ValueError(f"datasets must be a non-empty list of dataset names, got {datasets!r}")
    return [settings(cfg, d) for d in datasets]


def _check_settings(s: SimpleNamespace) -> None:
    check_fpr(s.fpr)
    if not (isinstance(s.eps_range, (list, tuple)) and len(s.eps_range) == 2
            and 0 < s.eps_range[0] <= s.eps_range[1]):
        raise ValueError(f"eps_range must be [low, high] with 0 < low <= high, got {s.eps_range!r}")
    if s.n_eps < 1:
        raise ValueError(f"n_eps must be >= 1, got {s.n_eps}")
    if not s.eps > 0:
        raise ValueError(f"eps must be > 0, got {s.eps}")
    for key in ("w_rec", "w_kl", "w_ce"):
        if not getattr(s, key) >= 0:
            raise ValueError(f"{key} must be >= 0, got {getattr(s, key)}")
    for key in ("bim_rel_step", "pgd_rel_step", "adaptive_rel_step"):
        if not getattr(s, key) > 0:
            raise ValueError(f"{key} must be > 0, got {getattr(s, key)}")
    for key in ("bim_steps", "pgd_steps", "adaptive_steps", "adaptive_eot", "adaptive_restarts",
                "clf_epochs", "vae_epochs", "z_dim", "n_val"):
        value = getattr(s, key)
        if not isinstance(value, int) or value < (0 if key.endswith("epochs") else 1):
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if any(not e > 0 for e in s.adaptive_eps):
        raise ValueError(f"adaptive_eps must be positive, got {s.adaptive_eps}")
    data_mod.info(s.dataset)


def check_fpr(fpr: float) -> float:
    """A false-positive rate must lie strictly between 0 and 1."""
    if not (isinstance(fpr, (int, float)) and 0 < fpr < 1):
        raise ValueError(f"false-positive rate must be in (0, 1), got {fpr!r}")
    return float(fpr)


def eps_grid(s: SimpleNamespace) -> list[float]:
    """``n_eps`` evenly spaced eps in ``eps_range`` (report Figure 7: 30 values in
    [0.01, 0.3] for MNIST / Fashion-MNIST, [0.002, 0.06] for CIFAR-10), plus the table's eps."""
    lo, hi = s.eps_range
    grid = np.linspace(lo, hi, s.n_eps) if s.n_eps > 1 else np.array([hi])
    return sorted({round(float(e), 6) for e in grid} | {round(float(s.eps), 6)})


# --------------------------------------------------------------------------- data and models
def load_splits(s: SimpleNamespace):
    """(train, val, test) :class:`~lib.data.ImageData`. ``val`` (``n_val`` images, held out
    from both networks' training) only sets the detector's threshold (report section 5.1)."""
    n = None if s.n_train is None else s.n_train + s.n_val
    full = data_mod.load(s.dataset, "train", n=n, seed=s.seed)
    train, val = data_mod.train_val_split(full, s.n_val, seed=s.seed)
    test = data_mod.load(s.dataset, "test", n=s.n_test, seed=s.seed)
    return train, val, test


def architecture_names(dataset: str) -> tuple[str, str]:
    """(classifier, CVAE) registry names: A and C for 1 x 28 x 28 images, B and D for 3 x 32 x 32."""
    shape = data_mod.info(dataset).shape
    if shape == (1, 28, 28):
        return "puvae_a", "puvae_c"
    if shape == (3, 32, 32):
        return "puvae_b", "puvae_d"
    raise ValueError(f"no Table 6 architecture for images of shape {shape}")


def _width(**kw) -> dict:
    """Keep only the width arguments a profile sets (``None`` means Table 6's size)."""
    return {k: v for k, v in kw.items() if v is not None}


def build_classifier(s: SimpleNamespace) -> nn.Module:
    name, _ = architecture_names(s.dataset)
    runtime.seed_everything(s.seed)
    return models.build(name, dataset=s.dataset, **_width(filters=s.clf_filters, hidden=s.clf_hidden))


def build_cvae(s: SimpleNamespace) -> nn.Module:
    _, name = architecture_names(s.dataset)
    runtime.seed_everything(s.seed + 1)
    return models.build(name, dataset=s.dataset, z_dim=s.z_dim,
                        sample_at_inference=s.sample_at_inference,
                        **_width(filters=s.vae_filters, hidden=s.vae_hidden,
                                 dec_filters=s.vae_dec_filters))


def train_classifier(s: SimpleNamespace, train: data_mod.ImageData, val=None, device=None):
    """Classifier A or B with Table 1's batch size and epochs (Adam; the report names no
    optimiser). Returns :class:`lib.train.FitResult`."""
    cfg = train_mod.TrainConfig(epochs=s.clf_epochs, batch_size=s.clf_batch_size, optimizer="adam",
                                lr=s.clf_lr, weight_decay=0.0, scheduler=s.scheduler, seed=s.seed)
    return train_mod.fit(build_classifier(s), train, cfg, name=f"puvae-clf-{s.dataset}", val=val,
                         device=device)


def classifier_summary(results: Mapping[str, Mapping]) -> pd.DataFrame:
    """Report Tables 1 and 2 beside our settings: per dataset, classifier and CVAE batch
    size, epochs, z size, training images and the classifier's clean test accuracy (%).
    ``results[dataset]`` holds ``s`` (settings), ``train`` and ``clf_acc``."""
    rows = []
    for dataset, r in results.items():
        s, ref = r["s"], REFERENCE_OF[dataset]
        t1, t2 = REPORT_TABLE1[ref], REPORT_TABLE2[ref]
        clf, vae = architecture_names(dataset)
        rows.append({"dataset": dataset, "networks": f"{clf[-1].upper()} + {vae[-1].upper()}",
                     "train images": len(r["train"]),
                     "clf batch": s.clf_batch_size, "clf batch (report)": t1[0],
                     "clf epochs": s.clf_epochs, "clf epochs (report)": t1[1],
                     "CVAE batch": s.vae_batch_size, "CVAE batch (report)": t2[0],
                     "CVAE epochs": s.vae_epochs, "CVAE epochs (report)": t2[1],
                     "z dim": s.z_dim, "z dim (report)": t2[2],
                     "clean accuracy %": 100 * r["clf_acc"], "clean accuracy % (report)": t1[2]})
    return pd.DataFrame(rows)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode (no dropout) and no parameter gradients: the classifier inside PuVAE's
    loss and pipeline is fixed (report section 3.1)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --------------------------------------------------------------------------- PuVAE loss
def puvae_loss(vae: nn.Module, x: torch.Tensor, y: torch.Tensor, *, classifier: nn.Module,
               w_rec: float = 0.01, w_kl: float = 0.1, w_ce: float = 10.0,
               kl_reduction: str = "mean"):
    """PuVAE's training objective, a ``loss_fn`` for :func:`lib.train.fit`.

    ``w_rec * RC + w_kl * KL + w_ce * CE`` (report section 3.1; weights of the PuVAE
    paper as two reimplementations use them), each averaged over the batch:

    - RC: Bernoulli negative log-likelihood of ``x`` under the reconstruction, summed
      over pixels (the first term of report eq. (1), per image);
    - KL: ``KL(N(mu, std^2) || N(0, I))`` summed over ``z`` (second term of eq. (1));
    - CE: cross-entropy of the frozen ``classifier`` on the reconstruction, with the
      true label, which pushes each class-conditional reconstruction to look like its class.

    ``x``: N x C x H x W in [0, 1]; ``y``: (N,). Returns ``(loss, classifier logits on
    the reconstruction)``: fit's train_acc is then the classifier's accuracy on them.
    Pass the classifier with ``functools.partial`` (frozen; :func:`freeze`), so the
    checkpoint key includes its weights.
    """
    x_hat, mu, std = vae(x, y)
    rec = F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(1).mean()
    kl = 0.5 * (mu.pow(2) + std.pow(2) - 1 - 2 * torch.log(std))
    kl = (kl.mean(1) if kl_reduction == "mean" else kl.sum(1)).mean()
    logits = classifier(x_hat)
    ce = F.cross_entropy(logits, y)
    return w_rec * rec + w_kl * kl + w_ce * ce, logits


def train_puvae(s: SimpleNamespace, classifier: nn.Module, train: data_mod.ImageData, device=None):
    """Conditional VAE C or D trained with :func:`puvae_loss` (Table 2's batch size, epochs
    and z size in the paper profile). The classifier is frozen first. Returns a FitResult."""
    freeze(classifier)
    loss_fn = functools.partial(puvae_loss, classifier=classifier, w_rec=float(s.w_rec),
                                w_kl=float(s.w_kl), w_ce=float(s.w_ce), kl_reduction=s.kl_reduction)
    cfg = train_mod.TrainConfig(epochs=s.vae_epochs, batch_size=s.vae_batch_size, optimizer="adam",
                                lr=s.vae_lr, weight_decay=0.0, scheduler=s.scheduler, seed=s.seed)
    # val=None: fit's val_acc is model(x).argmax, which means nothing for a CVAE.
    return train_mod.fit(build_cvae(s), train, cfg, name=f"puvae-cvae-{s.dataset}",
                         loss_fn=loss_fn, device=device)


# --------------------------------------------------------------------------- purification
def reconstruct_all(vae: nn.Module, x: torch.Tensor, *, sample: bool | None = None) -> torch.Tensor:
    """Reconstructions of every input under every label, in one batched pass.

    ``x``: N x C x H x W in [0, 1] -> N x K x C x H x W in [0, 1], entry ``[i, k]`` being
    ``decode(z ~ q(z | x_i, k), k)`` (report section 3.1, Figure 4). The N * K pairs go
    through the CVAE as one batch; differentiable in ``x``.
    """
    n, k = x.shape[0], vae.num_classes
    labels = torch.arange(k, device=x.device).repeat(n)           # 0..K-1, 0..K-1, ...
    x_hat, _, _ = vae(x.repeat_interleave(k, 0), labels, sample=sample)
    return x_hat.view(n, k, *x.shape[1:])


def rmse(x: torch.Tensor, recons: torch.Tensor) -> torch.Tensor:
    """Root mean squared error per input and label: x (N x C x H x W), recons
    (N x K x C x H x W) -> (N, K). A floor inside the root keeps its gradient finite."""
    return ((recons - x.unsqueeze(1)).pow(2).flatten(2).mean(2) + 1e-12).sqrt()


@dataclass
class Purified:
    """Everything PuVAE computes for a batch: ``recons`` N x K x C x H x W, ``rmse`` (N, K),
    ``chosen`` (N,) the label of least RMSE, ``best`` N x C x H x W that reconstruction,
    ``best_rmse`` (N,) its RMSE (the detector's score)."""

    recons: torch.Tensor
    rmse: torch.Tensor
    chosen: torch.Tensor
    best: torch.Tensor
    best_rmse: torch.Tensor


def purify(vae: nn.Module, x: torch.Tensor, *, sample: bool | None = None) -> Purified:
    """PuVAE's purification: reconstruct under every label, keep the one of least RMSE
    (report section 3.1, ``x* = argmin_j RMSE(x, x_j)``)."""
    recons = reconstruct_all(vae, x, sample=sample)
    err = rmse(x, recons)
    chosen = err.argmin(1)
    idx = torch.arange(len(x), device=x.device)
    return Purified(recons, err, chosen, recons[idx, chosen], err[idx, chosen])


# --------------------------------------------------------------------------- detector
def threshold_at_fpr(scores: torch.Tensor, fpr: float) -> float:
    """The smallest threshold ``t`` whose rejection rate ``mean(scores > t)`` on these clean
    validation scores is at most ``fpr`` (report section 5.1, after MagNet).

    ``scores``: (N,) best-reconstruction RMSEs of clean held-out images. With N
    scores, up to ``floor(fpr * N)`` may lie above ``t``; ``t`` is a score itself.
    """
    check_fpr(fpr)
    scores = torch.as_tensor(scores).detach().flatten().double().cpu()
    if scores.numel() == 0 or not torch.isfinite(scores).all():
        raise ValueError("need a non-empty set of finite validation scores")
    ranked = scores.sort(descending=True).values
    allowed = int(math.floor(fpr * len(ranked) + 1e-9))
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(ranked[allowed])


def rejection_rate(scores: torch.Tensor, t: float) -> float:
    """Share of scores above ``t`` (rejected); counted exactly, not as a float32 mean."""
    scores = torch.as_tensor(scores)
    return int((scores > t).sum()) / max(scores.numel(), 1)


# --------------------------------------------------------------------------- the defended model
class PuVAEPipeline(nn.Module):
    """PuVAE + classifier + detector as one model ``x -> K + 1 logits`` (report Figure 5).

    ``x``: N x C x H x W in [0, 1]. Output N x (K + 1): the classifier's logits on the
    reconstruction of least RMSE, then a *reject* logit
    ``max_k logits_k + reject_scale * (best RMSE - threshold)``. The argmax is thus the
    defense's decision: label ``K`` (rejected) exactly when the best RMSE exceeds the
    threshold, else the classifier's label. ``threshold=None`` is PuVAE without detector
    (the reject logit stays far below the others and carries no gradient).

    For attacks: the arg-min choice of reconstruction is a hard selection in the
    forward pass; with ``temperature`` set, its backward pass is the gradient of
    ``softmax(-RMSE / temperature)`` (straight-through), so the attacker also sees
    how to change *which* reconstruction wins. Without it, gradients flow only
    through the chosen reconstruction. The CVAE's sampling makes the model random;
    attacks average gradients over it with ``eot``.
    """

    def __init__(self, vae: nn.Module, classifier: nn.Module, threshold: float | None = None, *,
                 temperature: float | None = 0.01, reject_scale: float = 100.0):
        super().__init__()
        if threshold is not None and not math.isfinite(threshold):
            raise ValueError(f"threshold must be finite or None, got {threshold}")
        if temperature is not None and not temperature > 0:
            raise ValueError(f"temperature must be > 0 or None, got {temperature}")
        if not reject_scale > 0:
            raise ValueError(f"reject_scale must be > 0, got {reject_scale}")
        self.vae, self.classifier = vae, classifier
        self.threshold, self.temperature, self.reject_scale = threshold, temperature, reject_scale
        self.num_classes = vae.num_classes

    @property
    def reject_label(self) -> int:
        return self.num_classes

    def select(self, x: torch.Tensor):
        """(chosen reconstruction N x C x H x W, its RMSE (N,), chosen label (N,)), with the
        straight-through gradient described in the class docstring."""
        p = purify(self.vae, x)
        if self.temperature is None or not torch.is_grad_enabled():
            return p.best, p.best_rmse, p.chosen
        # Forward: the hard choice; backward: the softmax over -RMSE (straight-through).
        soft = torch.softmax(-p.rmse / self.temperature, 1)
        weights = F.one_hot(p.chosen, self.num_classes).to(soft.dtype) + soft - soft.detach()
        best = (weights[:, :, None, None, None] * p.recons).sum(1)
        return best, (weights * p.rmse).sum(1), p.chosen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        best, best_rmse, _ = self.select(x)
        logits = self.classifier(best)
        if self.threshold is None:
            reject = logits.detach().amin(1) - 1e3
        else:
            reject = logits.amax(1) + self.reject_scale * (best_rmse - self.threshold)
        return torch.cat([logits, reject[:, None]], 1)

    @torch.no_grad()
    def decide(self, x: torch.Tensor, batch_size: int = 250) -> "Decision":
        """The defense's decisions on ``x``, batched, without gradients."""
        parts = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            best, best_rmse, chosen = self.select(xb)
            puvae = self.classifier(best).argmax(1)
            label = puvae.clone()
            if self.threshold is not None:
                label[best_rmse > self.threshold] = self.reject_label
            parts.append((label, puvae, best_rmse, chosen))
        cat = [torch.cat(p) for p in zip(*parts)]
        return Decision(*cat, reject_label=self.reject_label)


@dataclass
class Decision:
    """Per input: ``label`` of PuVAE + detector (``reject_label`` = rejected), ``puvae``
    label of PuVAE alone, ``rmse`` of the best reconstruction, ``chosen`` its label."""

    label: torch.Tensor
    puvae: torch.Tensor
    rmse: torch.Tensor
    chosen: torch.Tensor
    reject_label: int

    @property
    def rejected(self) -> torch.Tensor:
        return self.label == self.reject_label


def report_correct(pred: torch.Tensor, y: torch.Tensor, *, adversarial: bool,
                   reject_label: int = 10) -> torch.Tensor:
    """The report's scoring (section 3.2, MagNet's rule), per input (N,) bool: a clean input
    is correct only when classified correctly (a rejection is an error); an adversarial
    input is correct when classified correctly *or* rejected."""
    ok = pred == y
    return ok | (pred == reject_label) if adversarial else ok


# --------------------------------------------------------------------------- adaptive attack
def reject_aware_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss of the adaptive attack, per sample (N,), to maximise: with ``K + 1`` logits
    (last = rejected, :class:`PuVAEPipeline`),

        max_{j not in {y, reject}} z_j  -  max(z_y, z_reject).

    Positive exactly when the defense outputs a wrong label *and* does not reject, the
    only outcome the report's scoring counts as a success of the attacker. While the
    input is rejected, ``z_reject - max_k z_k = reject_scale * (RMSE - t)`` is the active
    term, so the gradient lowers the reconstruction error below ``t``; once it is
    accepted, the gradient is the usual margin of the classifier on the chosen reconstruction.
    (Cross-entropy over the K + 1 logits would be wrong here: raising any other logit
    includes raising the reject logit, i.e. asking to be detected.)
    """
    z = logits[:, :-1]
    z_y = z.gather(1, y[:, None]).squeeze(1)
    others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
    return others - torch.maximum(z_y, logits[:, -1])


def adaptive_attack(pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor, eps: float, *,
                    steps: int = 50, rel_step: float = 0.05, eot: int = 4, restarts: int = 1,
                    seed: int = 0, batch_size: int = 100) -> torch.Tensor:
    """White-box L-inf PGD on the whole defended pipeline (beyond the report).

    Gradients go through the chosen reconstruction and (straight-through) the arg-min
    choice, are averaged over ``eot`` draws of the CVAE's sampling (EOT, Athalye et al.
    2018) via :func:`lib.attacks.pgd`'s ``eot``, and the loss is
    :func:`reject_aware_margin`, whose detector term keeps the RMSE under ``t``.
    The first restart starts at ``x`` (BIM-like), later ones at random points of the
    ball; per image we keep the first restart that fools the defense under the report's
    scoring (our own loop: ``lib.attacks.pgd``'s restart selection would count a
    rejection as a success). ``x``: N x C x H x W in [0, 1]; returns the same shape,
    within ``eps`` of ``x`` in L-inf and in [0, 1].
    """
    if not eps > 0 or steps < 1 or eot < 1 or restarts < 1:
        raise ValueError("adaptive_attack needs eps > 0 and steps, eot, restarts >= 1")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the CVAE's sampling draws from the global generator
    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        best = xb.clone()
        fooled = torch.zeros(len(xb), dtype=torch.bool, device=xb.device)
        for r in range(restarts):
            todo = ~fooled
            if not todo.any():
                break
            adv = attacks.pgd(pipeline, xb[todo], yb[todo], eps, "inf", steps=steps,
                              step_size=rel_step * eps, random_start=r > 0,
                              loss=reject_aware_margin, eot=eot, generator=gen)
            dec = pipeline.decide(adv)
            hit = ~report_correct(dec.label, yb[todo], adversarial=True,
                                  reject_label=pipeline.reject_label)
            idx = todo.nonzero().squeeze(1)
            # Fooled images are not attacked again, so this keeps their fooling example.
            best[idx] = adv
            fooled[idx[hit]] = True
        out.append(best)
    return torch.cat(out)


def adaptive_evaluation(s: SimpleNamespace, classifier: nn.Module,
                        pipelines: Mapping[str, PuVAEPipeline], x: torch.Tensor, y: torch.Tensor,
                        *, progress_bar: bool = True) -> pd.DataFrame:
    """Transfer PGD (made on the classifier, as the report) against adaptive PGD (made on
    the defense itself, :func:`adaptive_attack`) for each defense and each eps of
    ``s.adaptive_eps``, scored as the report. Rows per (defense, eps): ``PGD transfer``,
    ``adaptive PGD`` and ``worst of both`` (an input counts only if it survives both).
    Columns: defense, attack, eps, n, accuracy, rejected, rmse_mean, linf_max, in_box.
    """
    from lib.progress import progress

    transfer = transfer_attacks(s, seed=s.seed + 7)["PGD"]
    rows = []
    jobs = [(eps, name) for eps in s.adaptive_eps for name in pipelines]
    x_tr = {}
    for eps, name in progress(jobs, desc="adaptive attacks", disable=not progress_bar):
        pipe = pipelines[name]
        if eps not in x_tr:
            x_tr[eps] = attack_in_batches(transfer, classifier, x, y, eps, 250)
        x_ad = adaptive_attack(pipe, x, y, eps, steps=s.adaptive_steps, rel_step=s.adaptive_rel_step,
                               eot=s.adaptive_eot, restarts=s.adaptive_restarts, seed=s.seed)
        torch.manual_seed(s.seed + 1)  # fresh sampling draws for the final decisions
        ok_all = None
        for attack, xa in (("PGD transfer", x_tr[eps]), ("adaptive PGD", x_ad)):
            dec = pipe.decide(xa)
            ok = report_correct(dec.label, y, adversarial=True, reject_label=pipe.reject_label)
            ok_all = ok if ok_all is None else ok_all & ok
            rows.append({"defense": name, "attack": attack, "eps": float(eps), "n": len(y),
                         "accuracy": ok.float().mean().item(),
                         "rejected": dec.rejected.float().mean().item(),
                         "rmse_mean": dec.rmse.mean().item(),
                         "linf_max": (xa - x).abs().amax().item(),
                         "in_box": bool(xa.min() >= 0 and xa.max() <= 1)})
        rows.append({"defense": name, "attack": "worst of both", "eps": float(eps), "n": len(y),
                     "accuracy": ok_all.float().mean().item()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- transfer attacks
def transfer_attacks(s: SimpleNamespace, seed: int | None = None) -> dict[str, Callable]:
    """FGSM, BIM and PGD (L-inf) as ``attack(model, x, y, eps) -> x_adv``, to be made against
    the undefended classifier as in the report (section 5; Foolbox there). Step sizes are
    relative to eps (``bim_rel_step``, ``pgd_rel_step``); PGD's random starts come from a
    generator seeded here, so a run is repeatable."""
    gen = torch.Generator().manual_seed(s.seed if seed is None else seed)

    def fgsm(model, x, y, eps):
        return attacks.fgsm(model, x, y, eps, "inf")

    def bim(model, x, y, eps):
        return attacks.bim(model, x, y, eps, "inf", steps=s.bim_steps, step_size=s.bim_rel_step * eps)

    def pgd(model, x, y, eps):
        return attacks.pgd(model, x, y, eps, "inf", steps=s.pgd_steps,
                           step_size=s.pgd_rel_step * eps, generator=gen)

    return {"FGSM": fgsm, "BIM": bim, "PGD": pgd}


def sweep(classifier: nn.Module, pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor,
          attack_fns: Mapping[str, Callable], eps_list: Sequence[float], *, seed: int = 0,
          batch_size: int = 250, keep: Sequence[tuple[str, float]] = (), progress_bar: bool = True):
    """Transfer attacks on the classifier, scored for the three defenses, over eps.

    For each attack and eps: ``x_adv = attack(classifier, x, y, eps)``, then the accuracy
    of the undefended classifier (``no_defense``), of PuVAE (``puvae``) and of PuVAE +
    detector under the report's scoring (``ours``), the share of inputs rejected, i.e.
    predictions equal to the "adversarial" label (report Figure 8), and the mean RMSE of
    the best reconstruction. A first row ``attack="none", eps=0`` scores clean inputs
    (a rejection is then an error). Returns ``(table, {(attack, eps): (x_adv, Decision)})``
    for the pairs in ``keep``.
    """
    from lib.progress import progress

    torch.manual_seed(seed)  # the CVAE's sampling
    rows, kept = [], {}

    def score(name, eps, xa, adversarial):
        plain = predict(classifier, xa, batch_size)
        dec = pipeline.decide(xa, batch_size)
        rows.append({
            "attack": name, "eps": float(eps), "n": len(y),
            "no_defense": (plain == y).float().mean().item(),
            "puvae": (dec.puvae == y).float().mean().item(),
            "ours": report_correct(dec.label, y, adversarial=adversarial,
                                   reject_label=pipeline.reject_label).float().mean().item(),
            "rejected": dec.rejected.float().mean().item(),
            "rmse_mean": dec.rmse.mean().item(),
        })
        if (name, float(eps)) in {(a, float(e)) for a, e in keep}:
            kept[(name, float(eps))] = (xa, dec)

    score("none", 0.0, x, adversarial=False)
    jobs = [(a, e) for a in attack_fns for e in eps_list]
    for name, eps in progress(jobs, desc="transfer attacks", disable=not progress_bar):
        xa = attack_in_batches(attack_fns[name], classifier, x, y, eps, batch_size)
        score(name, eps, xa, adversarial=True)
    return pd.DataFrame(rows), kept


def worst_case(grid: pd.DataFrame) -> pd.DataFrame:
    """Per attack, the eps of the grid at which PuVAE + detector does worst (report's
    "Ours (worst)" and the diamond of Figures 7-8). Columns: attack, eps, ours, rejected."""
    adv = grid[grid["attack"] != "none"]
    idx = adv.groupby("attack", sort=False)["ours"].idxmin()
    return adv.loc[idx, ["attack", "eps", "ours", "puvae", "rejected"]].reset_index(drop=True)


def robustness_table(grid: pd.DataFrame, eps: float, reference: str | None) -> pd.DataFrame:
    """Report Tables 3-5: per attack at ``eps`` (and clean), accuracy % of no defense,
    PuVAE, ours, ours at its worst eps of the grid, with the report's numbers beside."""
    worst = worst_case(grid).set_index("attack")
    ref = REPORT_TABLES.get(reference or "", {})
    rows = []
    for name in ["none", *[a for a in ATTACK_NAMES if a in set(grid["attack"])]]:
        at = grid[(grid["attack"] == name) & np.isclose(grid["eps"], 0.0 if name == "none" else eps)]
        if at.empty:
            continue
        r = at.iloc[0]
        report = ref.get(name, (None,) * 4)
        rows.append({
            "attack": "No attack" if name == "none" else name,
            "no defense": 100 * r["no_defense"], "no defense (report)": report[0],
            "PuVAE": 100 * r["puvae"], "PuVAE (report)": report[1],
            "ours": 100 * r["ours"], "ours (report)": report[2],
            "ours worst": None if name == "none" else 100 * worst.loc[name, "ours"],
            "ours worst (report)": report[3],
            "worst eps": None if name == "none" else float(worst.loc[name, "eps"]),
        })
    table = pd.DataFrame(rows)
    for col in table.columns[1:]:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table


# --------------------------------------------------------------------------- figures
def plot_reconstructions(x: torch.Tensor, recons: torch.Tensor, err: torch.Tensor,
                         chosen: torch.Tensor, classes: Sequence[str], *,
                         row_labels: Sequence[str], title: str = "") -> plt.Figure:
    """Report Figure 6 / appendix B-D: per row an input and its K class-conditional
    reconstructions with their RMSE; the chosen one (least RMSE) framed in red.
    ``x``: R x C x H x W, ``recons``: R x K x C x H x W, ``err``: (R, K), ``chosen``: (R,)."""
    r, k = recons.shape[:2]
    fig, axes = plt.subplots(r, k + 1, figsize=(1.2 * (k + 1), 1.75 * r + 0.6), squeeze=False)
    for i in range(r):
        show_image(axes[i, 0], x[i], row_labels[i])
        for j in range(k):
            ax = axes[i, j + 1]
            pick = j == int(chosen[i])
            show_image(ax, recons[i, j], f"{classes[j][:9]}\n{err[i, j]:.3f}",
                       color="crimson" if pick else "black")
            if pick:
                ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False,
                                       edgecolor="crimson", linewidth=3))
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def _reference_points(reference: str | None, eps: float, column: int) -> dict[str, float]:
    ref = REPORT_TABLES.get(reference or "", {})
    return {a: ref[a][column] for a in ATTACK_NAMES if a in ref}


def plot_accuracy_vs_eps(grid: pd.DataFrame, *, eps: float, reference: str | None,
                         title: str = "") -> plt.Figure:
    """Report Figure 7: accuracy % over eps, one panel per attack, for PuVAE and PuVAE +
    detector (and the undefended classifier, dashed); the detector's worst eps is the
    diamond; the report's values at the table's eps are hollow markers."""
    adv = grid[grid["attack"] != "none"]
    names = list(dict.fromkeys(adv["attack"]))
    worst = worst_case(grid).set_index("attack")
    colors = dict(zip(["puvae", "ours", "no_defense"], sns.color_palette(PALETTE, 3)))
    labels = {"puvae": "PuVAE", "ours": "PuVAE + detector", "no_defense": "no defense"}
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        g = adv[adv["attack"] == name].sort_values("eps")
        for col in ("no_defense", "puvae", "ours"):
            ax.plot(g["eps"], 100 * g[col], marker="o", markersize=3, color=colors[col],
                    linestyle="--" if col == "no_defense" else "-", label=labels[col])
        w = worst.loc[name]
        ax.plot([w["eps"]], [100 * w["ours"]], marker="D", markersize=10, color="crimson",
                linestyle="none", label="worst eps for PuVAE + detector")
        for col, idx in (("puvae", 1), ("ours", 2), ("no_defense", 0)):
            ref = _reference_points(reference, eps, idx).get(name)
            if ref is not None:
                ax.plot([eps], [ref], marker="s", markersize=9, markerfacecolor="none",
                        markeredgewidth=2, color=colors[col], linestyle="none",
                        label=f"{labels[col]} (report)")
        ax.set(title=f"{name} (worst eps {w['eps']:.3g})", xlabel="eps (L-inf, pixel units)",
               ylim=(-2, 102))
        ax.set_ylabel("accuracy (%)")
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels_, loc="lower center", ncol=4, fontsize=8, frameon=False)
    return fig


def plot_rejected_share(grid: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """Report Figure 8: share (%) of predictions equal to the "adversarial" label (rejected)
    over eps, one line per attack; diamonds at the detector's worst eps per attack."""
    adv = grid[grid["attack"] != "none"]
    worst = worst_case(grid).set_index("attack")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    palette = sns.color_palette(PALETTE, 4)
    for color, (name, g) in zip(palette, adv.groupby("attack", sort=False)):
        g = g.sort_values("eps")
        ax.plot(g["eps"], 100 * g["rejected"], marker="o", markersize=3, color=color, label=name)
        w = worst.loc[name]
        ax.plot([w["eps"]], [100 * w["rejected"]], marker="D", markersize=9, color=color,
                markeredgecolor="black", linestyle="none")
    clean = grid[grid["attack"] == "none"]
    if len(clean):
        ax.axhline(100 * clean["rejected"].iloc[0], color="grey", linestyle=":",
                   label="clean test inputs")
    ax.set(xlabel="eps (L-inf, pixel units)", ylabel="predicted 'adversarial' (%)", ylim=(-2, 102))
    ax.legend(fontsize=8, title="diamond: worst eps", title_fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_rmse_histogram(scores: Mapping[str, torch.Tensor], threshold: float, *,
                        title: str = "") -> plt.Figure:
    """Best-reconstruction RMSE of clean vs adversarial inputs (report section 4), with
    the detector's threshold."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    values = {k: torch.as_tensor(v).detach().cpu().numpy() for k, v in scores.items()}
    hi = max(float(np.quantile(v, 0.995)) for v in values.values())
    bins = np.linspace(0, max(hi, threshold) * 1.05, 50)
    for color, (name, v) in zip(sns.color_palette(PALETTE, len(values)), values.items()):
        ax.hist(np.clip(v, None, bins[-1]), bins=bins, alpha=0.55, color=color,
                label=f"{name} (mean {v.mean():.3f})", density=True)
    ax.axvline(threshold, color="crimson", linestyle="--", label=f"threshold t = {threshold:.3f}")
    ax.set(xlabel="RMSE between input and its best reconstruction", ylabel="density")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- checks and summaries
def gradient_check(pipeline: PuVAEPipeline, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of inputs whose adaptive-attack loss has a non-zero input gradient through the
    whole pipeline (a zero share would mean masked gradients, not robustness)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = reject_aware_margin(pipeline(x), y).sum()
        grad, = torch.autograd.grad(value, x)
    return float((grad.flatten(1).abs().amax(1) > 0).float().mean())


def sanity_table(s: SimpleNamespace, grid: pd.DataFrame, adaptive: pd.DataFrame, *,
                 val_rejected: float, grad_share: float) -> pd.DataFrame:
    """Checks of the evaluation itself, one row each: check, scope, passed, detail.

    - the threshold keeps the validation false-positive rate at or below ``fpr``;
    - the clean test rejection rate is near ``fpr`` (two binomial standard errors);
    - on the undefended classifier, Carlini et al. (2019)'s checks (lib.evaluate);
    - the adaptive attack leaves no more accuracy than the transfer attack it extends;
    - adversarial examples stay in the eps-ball and in [0, 1];
    - the pipeline's input gradients are non-zero (no gradient masking by the arg-min).
    """
    from lib.evaluate import sanity_checks

    rows = []
    n_test = int(grid["n"].iloc[0])
    clean_rej = float(grid.loc[grid["attack"] == "none", "rejected"].iloc[0])
    tol = 2 * math.sqrt(max(s.fpr * (1 - s.fpr), 1e-12) / n_test) + 1 / n_test
    rows.append({"check": "validation false-positive rate <= fpr", "scope": "detector",
                 "passed": val_rejected <= s.fpr + 1e-12,
                 "detail": f"{100 * val_rejected:.2f} % of {s.n_val} validation images rejected "
                           f"(fpr {100 * s.fpr:g} %)"})
    rows.append({"check": "clean test rejection near fpr", "scope": "detector",
                 "passed": clean_rej <= s.fpr + tol,
                 "detail": f"{100 * clean_rej:.2f} % of {n_test} clean test images rejected"})
    plain = grid[grid["attack"] != "none"].rename(columns={"no_defense": "accuracy"})
    for _, r in sanity_checks(plain, chance=0.1, single_step="FGSM",
                              iterative=[a for a in ("BIM", "PGD") if a in set(plain["attack"])]
                              ).iterrows():
        rows.append({"check": r["check"], "scope": f"no defense, {r['attack']}",
                     "passed": bool(r["passed"]), "detail": r["detail"]})
    adv = adaptive[adaptive["attack"] != "worst of both"]
    for (defense, eps), g in adv.groupby(["defense", "eps"], sort=False):
        acc = g.set_index("attack")["accuracy"]
        n = int(g["n"].iloc[0])
        slack = 2 * math.sqrt(0.25 / n)
        rows.append({"check": "adaptive attack at least as strong as transfer",
                     "scope": f"{defense}, eps {eps:g}",
                     "passed": bool(acc["adaptive PGD"] <= acc["PGD transfer"] + slack),
                     "detail": f"adaptive {100 * acc['adaptive PGD']:.1f} % vs transfer "
                               f"{100 * acc['PGD transfer']:.1f} % (n = {n})"})
        ok = bool((g["linf_max"] <= eps + 1e-6).all() and g["in_box"].all())
        rows.append({"check": "adversarial examples in the eps-ball and [0, 1]",
                     "scope": f"{defense}, eps {eps:g}", "passed": ok,
                     "detail": f"max L-inf {g['linf_max'].max():.4f}"})
    rows.append({"check": "non-zero input gradients through the pipeline", "scope": "adaptive attack",
                 "passed": grad_share == 1.0,
                 "detail": f"{100 * grad_share:.0f} % of inputs have a non-zero gradient"})
    return pd.DataFrame(rows, columns=["check", "scope", "passed", "detail"])


def report_vs_ours(dataset: str, table: pd.DataFrame, *, clf_acc: float, rmse_clean: float,
                   rmse_adv: float, worst: pd.DataFrame, adaptive: pd.DataFrame, eps: float
                   ) -> pd.DataFrame:
    """The closing table: the report's number beside ours for one dataset (lib.report.compare),
    in %, except RMSE rows. ``dataset`` is the report's dataset we compare with."""
    from lib.report import compare

    label = {"mnist": "MNIST", "fashion_mnist": "F-MNIST", "cifar10": "CIFAR-10"}.get(dataset, dataset)
    rows = {f"{label}: classifier clean accuracy (Table 1)": (REPORT_CLEAN.get(dataset), 100 * clf_acc)}
    cols = [("no defense", 0), ("PuVAE", 1), ("ours", 2), ("ours worst", 3)]
    ref = REPORT_TABLES.get(dataset, {})
    for _, r in table.iterrows():
        key = "none" if r["attack"] == "No attack" else r["attack"]
        for col, i in cols:
            if pd.isna(r[col]):
                continue
            rep = ref.get(key, (None,) * 4)[i]
            rows[f"{label}: {r['attack']}, {col} (Tables 3-5)"] = (rep, float(r[col]))
    rep_rmse = REPORT_RMSE.get(dataset, (None, None))
    rmse_rows = {f"{label}: mean best RMSE, clean (section 4)": (rep_rmse[0], rmse_clean),
                 f"{label}: mean best RMSE, PGD eps {eps:g} (section 4)": (rep_rmse[1], rmse_adv)}
    lo, hi = (REPORT_FIG8_MNIST if dataset == "mnist" else (None, None))
    rows[f"{label}: predicted 'adversarial' at worst eps, lowest attack (Fig. 8)"] = (
        lo, 100 * float(worst["rejected"].min()))
    rows[f"{label}: predicted 'adversarial' at worst eps, highest attack (Fig. 8)"] = (
        hi, 100 * float(worst["rejected"].max()))
    for defense, col in (("PuVAE", 1), ("PuVAE + detector", 2)):
        a = adaptive[(adaptive["defense"] == defense) & (adaptive["attack"] == "worst of both")
                     & np.isclose(adaptive["eps"], eps)]
        if len(a):
            rows[f"{label}: {defense} vs adaptive PGD eps {eps:g} (report: transfer PGD)"] = (
                ref.get("PGD", (None,) * 4)[col], 100 * float(a["accuracy"].iloc[0]))
    return pd.concat([compare(rows, unit="%"), compare(rmse_rows, unit="RMSE")], ignore_index=True)
