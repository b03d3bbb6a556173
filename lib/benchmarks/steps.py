"""One step of each kind of pass through a model, for measuring throughput (:mod:`lib.estimate`).

``STEPS[unit.step](model, policy, x, y, optimiser)`` returns ``{kind: step}``: a closure that
runs one pass of that kind over the batch ``x`` (labels ``y``) in the precision ``policy``:
``train`` (forward, backward, optimiser step), ``grad`` (an attack's input gradient),
``forward`` (inference), and a GAN's ``d`` / ``g`` steps. The model is a module, or a pair
(CVAE, frozen classifier) / (generator, discriminator).
"""
from __future__ import annotations

import torch
from torch import nn


def _loss_ce(model, x, y):
    return nn.functional.cross_entropy(model(x).float()[:, :10], y)


def _step(opt, policy, loss_of, module=None):
    """One optimiser step on ``loss_of()`` computed under ``policy``'s autocast (``module`` put
    in training mode first, where given)."""
    def step():
        if module is not None:
            module.train()
        with policy.autocast():
            loss = loss_of()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _classifier(model, policy, x, y, opt):
    def grad():
        model.eval()
        xg = policy.images(x).clone().requires_grad_(True)
        with policy.autocast():
            loss = _loss_ce(model, xg, y)
        torch.autograd.grad(loss, xg)

    def forward():
        model.eval()
        with torch.no_grad(), policy.autocast():
            model(policy.images(x))

    train = _step(opt, policy, lambda: _loss_ce(model, policy.images(x), y), model)
    return dict(train=train, grad=grad, forward=forward)


def _class_vaes(model, policy, x, y, opt):
    xk = x[:, None].expand(-1, model.num_classes, *x.shape[1:]).contiguous()
    return dict(train=_step(opt, policy, lambda: model.loss(xk), model))


def _cvae(pair, policy, x, y, opt):
    from lib.defenses.puvae import puvae_loss

    vae, clf = pair
    return dict(train=_step(opt, policy, lambda: puvae_loss(vae, x, y, classifier=clf)[0], vae))


def _vae(model, policy, x, y, opt):
    from lib.models.generative.vae import vae_terms

    return dict(train=_step(opt, policy, lambda: sum(t.mean() for t in vae_terms(model, x)), model))


def _gan(pair, policy, x, y, opt):
    from lib.models.generative.gan import discriminator_loss, generator_loss

    g, d = pair
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4)
    z = torch.randn(len(x), g.z_dim, device=x.device)
    return dict(d=_step(opt_d, policy, lambda: discriminator_loss(g, d, policy.images(x), z)[0]),
                g=_step(opt, policy, lambda: generator_loss(g, d, z)))


#: Per ``Unit.step``: ``make(model, policy, x, y, optimiser) -> {kind: step}``; the model
#: a unit builds is a module, or (CVAE, classifier) / (generator, discriminator).
STEPS = {"classifier": _classifier, "class_vaes": _class_vaes, "cvae": _cvae, "vae": _vae, "gan": _gan}
