"""Per report, the dominant work of its notebook at a configuration (:mod:`lib.estimate`).

Each ``plan_<report>(cfg)`` reads the notebook's parameters the way its steps do and lists
:class:`lib.estimate.Work`: training image-passes per model (epochs x images, adversarial
training's inner attack steps), attack gradient passes (images x eps x steps of every attack
of every sweep and check, as if no image broke early: an upper bound), inference forwards
(ABS's inner optimisation, PuVAE's ten reconstructions, Square's queries), and the bytes of
images the notebook keeps. The units are the notebook's own models at its widths, built
by the same library calls, so that measuring a unit measures what the notebook runs.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

from lib import data, models
from lib.estimate import Plan, Unit, Work

FLOAT = 4   # bytes per stored pixel (float32)


def _size(name: str, split: str, n: int | None) -> int:
    """Images a notebook takes from a split: ``n``, or the whole split (generated data: ``n``)."""
    whole = data.split_size(name, split)
    return int(n if n is not None else (whole or 0))


def _pixels(name: str) -> int:
    return math.prod(data.info(name).shape)


def _attack_grads(pgd_steps: int, restarts: int, apgd_steps: int, fgsm: bool = True) -> int:
    """Gradient passes per image and eps of the registry's strong set (FGSM, PGD-CE and
    PGD-margin with restarts, APGD-CE, APGD-DLR)."""
    return int(fgsm) + 2 * pgd_steps * restarts + 2 * apgd_steps


def _check_grads(steps: Sequence[int], restarts: Sequence[int], restart_steps: int, single_step: bool = True) -> int:
    """Gradient passes per image of :func:`lib.robustness.checks`: convergence in steps and in
    restarts, the unbounded attack, and the single-step check."""
    return sum(steps) + sum(r * restart_steps for r in restarts) + restart_steps + (1 + restart_steps) * single_step


def _classifier(key: str, build: Callable, name: str, batch: int, optimizer: str = "sgd", cpu_batch: int = 32) -> Unit:
    shape = tuple(data.info(name).shape)
    return Unit(f"{key} on {shape}", build, shape, int(batch), optimizer, cpu_batch=cpu_batch)


# --------------------------------------------------------------------------- report 000
def plan_abs_cifar(cfg: Mapping) -> Plan:
    from lib.defenses.abs import ABS
    from lib.models.generative.abs_vae import ClassVAEs

    ds, shape = cfg["dataset"], tuple(data.info(cfg["dataset"]).shape)
    n_train, n_test, n_ad = cfg["n_train"], cfg["n_test"], cfg["n_adaptive"]
    vae_kw = dict(latent=cfg["vae_latent"], width=cfg["vae_width"])
    dla = _classifier(f"SimpleDLA width {cfg['dla_width']:g}",
                      functools.partial(models.build, "simple_dla", dataset=ds, width=cfg["dla_width"]), ds, 128,
                      cpu_batch=16)
    vaes = Unit(f"ABS class VAEs latent {vae_kw['latent']} width {vae_kw['width']}",
                functools.partial(ClassVAEs, 10, **vae_kw), shape, 128, "adam", "class_vaes")

    def abs_unit(prototypes: int, steps: int, mode: str = "danskin") -> Unit:
        kw = dict(n_prototypes=prototypes, steps=steps, lr=cfg["abs_lr"], clip=cfg["abs_clip"], beta=cfg["beta"],
                  logit_scale=cfg["logit_scale"], mode=mode, chunk=64 if mode == "unrolled" else 256)
        return Unit(f"ABS {mode}, {prototypes} prototypes, {steps} steps, latent {vae_kw['latent']} width "
                    f"{vae_kw['width']}", lambda: ABS(ClassVAEs(10, **vae_kw), **kw), shape,
                    64 if mode == "unrolled" else 250, cpu_batch=4 if steps > 10 or mode == "unrolled" else 16)

    main, unrolled = abs_unit(cfg["abs_prototypes"], cfg["abs_steps"]), abs_unit(cfg["abs_prototypes"],
                                                                                   cfg["abs_steps"], "unrolled")
    k, n_curve, q, ku = cfg["attack_steps"], len(cfg["curve_eps"]), cfg["square_queries"], cfg["unrolled_steps"]
    n_worst = len({float(e) for e in cfg["eps"]} | {float(max(cfg["curve_eps"]))})
    work = [Work(dla, "train", n_train * cfg["dla_epochs"], "train SimpleDLA"),
            Work(vaes, "train", n_train / 10 * cfg["vae_epochs"], "train the class VAEs"),
            Work(main, "forward", n_test * 2 + n_ad, "ABS clean"),
            Work(dla, "forward", n_test, "SimpleDLA clean")]
    for unit, name in ((main, "ABS"), (dla, "SimpleDLA")):   # the report's three attacks over curve_eps
        work += [Work(unit, "grad", n_test * n_curve * (1 + 2 * k), f"{name}: FGM, I-FGSM, PGD"),
                 Work(unit, "forward", n_test * n_curve * 3, f"{name}: FGM, I-FGSM, PGD")]
    work += [Work(main, "grad", n_ad * (1 + ku), "gradient check"),
             Work(unrolled, "grad", n_ad * (1 + ku), "gradient check")]
    for p in cfg["convergence_prototypes"]:
        for s in cfg["convergence_steps"]:
            work.append(Work(abs_unit(p, s), "forward", n_test, "ABS convergence study"))
    strong = n_test * n_worst
    work += [Work(main, "grad", strong * _attack_grads(k, 1, k, fgsm=False), "ABS: strong L2 set"),
             Work(main, "forward", strong * (q + 7), "ABS: Square and checks"),
             Work(dla, "grad", strong * k, "ABS: transfer from DLA"),
             Work(unrolled, "grad", strong * ku, "ABS: PGD unrolled"),
             Work(dla, "grad", strong * _attack_grads(k, 1, k, fgsm=False), "SimpleDLA: strong L2 set"),
             Work(dla, "forward", strong * (q + 5), "SimpleDLA: Square and checks")]
    px = _pixels(ds) * FLOAT
    return Plan(work, device_data=n_test * px, host_data=(n_train + n_test) * px)


# --------------------------------------------------------------------------- report 002
def plan_attacks_adversarial_training(cfg: Mapping) -> Plan:
    ds = cfg["dataset"]
    cnn = _classifier(f"report 002 CNN width {cfg['width']} hidden {cfg['hidden']}", functools.partial(
        models.build, "dropout_cnn", dataset=ds, width=cfg["width"], hidden=cfg["hidden"],
        dropout=tuple(cfg["dropout"])), ds, cfg["batch_size"])
    n_tr = _size(ds, "train", cfg["n_train"]) - cfg["n_val"]
    n_tune = cfg["n_finetune"] or n_tr
    n_test, n_val, k = cfg["n_test"], cfg["n_val"], cfg["pgd_steps"]
    epochs = dict(base=cfg["epochs"], at=2 * cfg["at_epochs"], noise=2 * cfg["noise_epochs"],
                  contrastive=cfg["contrastive_epochs"])
    work = [Work(cnn, "train", n_tr * cfg["epochs"], "train the base model"),
            Work(cnn, "train", n_tune * (epochs["at"] + epochs["noise"] + epochs["contrastive"]),
                 "train the defended models"),
            Work(cnn, "grad", n_tune * cfg["at_epochs"] * (1 + cfg["at_steps"]), "adversarial training's attacks"),
            Work(cnn, "forward", n_val * sum(epochs.values()), "validation")]
    base_eps = {float(e) for e in (*cfg["eps"], *cfg["table2_eps"], *cfg["latent_eps"])}
    noise_eps = {float(e) for e in (*cfg["eps"], *cfg["table2_eps"])}
    n_eot, eot, n_lat = cfg["n_eot"], cfg["eot_draws"], len(cfg["latent_eps"])
    report = (n_test * len(base_eps) * (1 + k) + 2 * n_test * len(cfg["table2_eps"]) * (1 + k)
              + 2 * n_test * len(noise_eps) + n_eot * len(cfg["eot_eps"]) * ((1 + k) * 3 + 2 * (1 + k + k * eot))
              + 2 * n_test * n_lat * (2 + k) + n_test * n_lat * (1 + k))
    work.append(Work(cnn, "grad", report, "the report's sweeps (FGSM, PGD, EOT, 1-NN)"))
    n_s, n_eps_s, draws = cfg["n_strong"], len(cfg["strong_eps"]), cfg["attack_draws"]
    per = _attack_grads(cfg["strong_pgd_steps"], cfg["strong_restarts"], cfg["apgd_steps"])
    nearest = per + 1 + cfg["strong_pgd_steps"] * cfg["strong_restarts"]
    work += [Work(cnn, "grad", n_s * n_eps_s * (3 * per + 2 * per * draws + 2 * nearest), "strong set, 7 models"),
             Work(cnn, "forward", n_s * n_eps_s * cfg["square_queries"] * (5 + 2 * draws), "Square, 7 models"),
             Work(cnn, "forward", 2 * n_s * n_eps_s * cfg["eval_draws"], "noisy models over draws")]
    checks = _check_grads(cfg["convergence_steps"], cfg["convergence_restarts"], cfg["strong_pgd_steps"])
    n_c = cfg["n_convergence"]
    work += [Work(cnn, "grad", n_c * checks * (5 + 2 * draws), "sanity checks, 7 models"),
             Work(cnn, "grad", 2 * n_c * k * sum(cfg["eot_sweep_draws"]), "EOT sweep"),
             Work(cnn, "forward", 2 * n_c * len(cfg["eot_sweep_draws"]) * cfg["eval_draws"], "EOT sweep")]
    px = _pixels(ds) * FLOAT
    return Plan(work, device_data=n_test * px, host_data=(n_tr + n_val + n_test) * px)


# --------------------------------------------------------------------------- report 001
def plan_puvae_detector(cfg: Mapping) -> Plan:
    from lib.defenses.puvae import PuVAEPipeline
    from lib.reports.puvae_detector import experiment as ex

    work, device_data, host_data = [], 0, 0
    for name in cfg["datasets"]:
        s = ex.settings(cfg, name)
        clf = _classifier(f"PuVAE classifier {ex.architecture_names(name)[0]} {s.clf_filters}/{s.clf_hidden}",
                          functools.partial(ex.build_classifier, s), name, s.clf_batch_size, "adam")
        tag = f"{ex.architecture_names(name)[1]} z {s.z_dim} {s.vae_filters}/{s.vae_dec_filters}/{s.vae_hidden}"
        cvae = Unit(f"PuVAE CVAE {tag} with {clf.key}", lambda s=s: (ex.build_cvae(s), ex.build_classifier(s)),
                    clf.shape, s.vae_batch_size, "adam", "cvae", cpu_batch=16)
        pipe = Unit(f"PuVAE pipeline {tag}, {clf.key}",
                    lambda s=s: PuVAEPipeline(ex.build_cvae(s), ex.build_classifier(s), 0.1), clf.shape, 100,
                    cpu_batch=16)
        n_tr = s.n_train if s.n_train is not None else _size(name, "train", None) - s.n_val
        n_te = _size(name, "test", s.n_test)
        grid, n_ad, n_aeps = len(ex.eps_grid(s)), min(s.n_adaptive, n_te), len(s.adaptive_eps)
        steps, eot, restarts = s.adaptive_steps, s.adaptive_eot, s.adaptive_restarts
        pipe_grads = (steps * restarts + 2 * steps + steps * restarts * eot + s.argmin_targets * steps * eot)
        label = data.info(name).title
        work += [Work(clf, "train", n_tr * s.clf_epochs, f"{label}: train the classifier"),
                 Work(cvae, "train", n_tr * s.vae_epochs, f"{label}: train the CVAE"),
                 Work(pipe, "forward", s.n_val + n_te * (3 * grid + 1), f"{label}: detector, transfer scores"),
                 Work(clf, "grad", n_te * grid * (1 + s.bim_steps + s.pgd_steps), f"{label}: transfer attacks"),
                 Work(clf, "grad", 2 * n_ad * n_aeps * s.pgd_steps, f"{label}: white-box set"),
                 Work(pipe, "grad", 2 * n_ad * n_aeps * pipe_grads, f"{label}: white-box set"),
                 Work(pipe, "forward", 2 * n_ad * n_aeps * (s.square_queries + 7), f"{label}: Square"),
                 Work(pipe, "grad", (1 + len(s.st_temperatures)) * s.n_checks * steps * restarts * eot
                      + 2 * s.n_checks * _check_grads(s.convergence_steps, s.convergence_restarts, steps, False),
                      f"{label}: temperatures, sanity checks")]
        px = _pixels(name) * FLOAT
        device_data += n_te * px
        host_data += (n_tr + s.n_val + n_te) * px
    return Plan(work, device_data=device_data, host_data=host_data)


# --------------------------------------------------------------------------- report 003
def plan_generative_lipschitz(cfg: Mapping) -> Plan:
    from lib.defenses import lipschitz as lip
    from lib.models.classifiers.report003 import Report003CNN
    from lib.models.generative import gan, vae
    from lib.reports.generative_lipschitz import experiment as ex

    work, host = [], 0
    gan_b, z = cfg["gan_batch_size"], cfg["gan_z_dim"]

    def n_gen(name: str) -> int:
        return _size(name, "train", cfg["n_gen_train"])

    for role in ("fashion_data", "cifar_data"):
        name = cfg[role]
        unit = Unit(f"report 003 VAE z {cfg['z_dim']} hidden {cfg['vae_hidden']} on {name}", functools.partial(
            vae.VAE, name, z_dim=cfg["z_dim"], hidden=cfg["vae_hidden"]), tuple(data.info(name).shape), 128, "adam",
            "vae")
        work.append(Work(unit, "train", n_gen(name) * cfg["vae_epochs"], "train the VAEs"))
    w = cfg["dcgan_width"]
    gans = [(cfg["mnist_data"], "DCGAN depth 2", lambda n: (gan.DCGenerator(n, z_dim=z, width=w, depth=2),
                                                             gan.DCDiscriminator(n, width=w, depth=2)),
             cfg["dcgan_epochs"]),
            (cfg["mnist_data"], "FC GAN", lambda n: (gan.FCGenerator(n, z_dim=z), gan.FCDiscriminator(n)),
             cfg["fc_gan_epochs"]),
            (cfg["fashion_data"], "FC GAN", lambda n: (gan.FCGenerator(n, z_dim=z), gan.FCDiscriminator(n)),
             max(cfg["fashion_gan_epochs"])),
            (cfg["cifar_data"], "DCGAN depth 3", lambda n: (gan.DCGenerator(n, z_dim=z, width=w, depth=3),
                                                             gan.DCDiscriminator(n, width=w, depth=3)),
             cfg["cifar_gan_epochs"])]
    for name, title, build, epochs in gans:
        unit = Unit(f"{title} z {z} width {w} on {name}", functools.partial(build, name),
                    tuple(data.info(name).shape), gan_b, "adam", "gan")
        work += [Work(unit, "d", n_gen(name) * epochs, "train the GANs"),
                 Work(unit, "g", n_gen(name) * epochs / cfg["gan_k"], "train the GANs")]
    n_att, q = cfg["n_attack"], cfg["square_queries"]
    # CW runs once per budget of the convergence ladder (binary steps x iterations each)
    cw = sum(b * s for b, s in zip(cfg["cw_binary_steps"], cfg["cw_steps"]))
    strong = _attack_grads(cfg["pgd_steps"], 1, cfg["apgd_steps"])
    for role in ("fashion_data", "cifar_data"):
        name = cfg[role]
        n_tr = _size(name, "train", cfg["n_train"]) - cfg["n_val"]
        for lipschitz in (False, True):
            build = (functools.partial(lip.lipschitz_cnn, name, logit_scale=cfg["lip_scale"], dropout=cfg["dropout"])
                     if lipschitz else functools.partial(Report003CNN, name, dropout=cfg["dropout"]))
            unit = _classifier(f"report 003 {'Lipschitz ' if lipschitz else ''}CNN", build, name,
                               cfg["clf_batch_size"], "adam")
            epochs = ex.classifier_epochs(cfg, name, lipschitz)
            work += [Work(unit, "train", n_tr * epochs, "train the classifiers"),
                     Work(unit, "forward", cfg["n_val"] * epochs + cfg["n_test"], "validation and clean accuracy"),
                     Work(unit, "grad", n_att * (len(cfg["fgsm_eps"]) + cw), "FGSM and CW"),
                     Work(unit, "grad", n_att * len(cfg["l2_eps"]) * strong, "strong L2 set"),
                     Work(unit, "forward", n_att * len(cfg["l2_eps"]) * (q + 6), "Square")]
            if role == "fashion_data" and not lipschitz:
                work.append(Work(unit, "grad", 2 * n_att * (cfg["control_steps"] + cw), "logit-scaling control"))
        host += (n_tr + cfg["n_val"] + cfg["n_test"] + n_gen(name)) * _pixels(name) * FLOAT
    host += n_gen(cfg["mnist_data"]) * _pixels(cfg["mnist_data"]) * FLOAT
    device = cfg["n_test"] * max(_pixels(cfg[r]) for r in ("fashion_data", "cifar_data")) * FLOAT * 2
    return Plan(work, device_data=device, host_data=host)


# --------------------------------------------------------------------------- the library tour
def plan_library_tour(cfg: Mapping) -> Plan:
    ds, k = cfg["dataset"], cfg["pgd_steps"]
    cnn = _classifier(f"SmallCNN width {cfg['width']}", functools.partial(models.SmallCNN, ds, width=cfg["width"]),
                      ds, cfg["batch_size"])
    n_test = cfg["n_test"]
    per_eps = 1 + k + k * cfg["pgd_restarts"]
    work = [Work(cnn, "train", cfg["n_train"] * cfg["epochs"], "train the CNN"),
            Work(cnn, "forward", n_test * cfg["epochs"], "validation"),
            Work(cnn, "grad", n_test * (len(cfg["eps"]) + 1) * per_eps, "FGSM, BIM, PGD sweep"),
            Work(cnn, "grad", cfg["n_cw"] * cfg["cw_binary_search_steps"] * cfg["cw_steps"], "CW")]
    px = _pixels(ds) * FLOAT
    return Plan(work, device_data=n_test * px, host_data=(cfg["n_train"] + n_test) * px)


def plan_study_summary(cfg: Mapping) -> Plan:
    return Plan([])


PLANS = {"abs_cifar": plan_abs_cifar, "attacks_adversarial_training": plan_attacks_adversarial_training,
         "puvae_detector": plan_puvae_detector, "generative_lipschitz": plan_generative_lipschitz,
         "library_tour": plan_library_tour, "study_summary": plan_study_summary}


def plan(report: str, cfg: Mapping) -> Plan:
    """The cost model of ``report`` at ``cfg`` (a resolved configuration)."""
    if report not in PLANS:
        raise KeyError(f"no cost model for {report!r} in lib.cost_models")
    return PLANS[report](cfg)
