"""The gates of report 001's claims (:mod:`lib.reports.puvae_detector.verdicts`): does a run's
model reach the report's, dataset by dataset? See that module's docstring for the rule; every gate
is a :class:`lib.verdicts.Requirement` whose ``detail`` says what was compared with what."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from lib import verdicts as lv
from lib.reports.puvae_detector import reference as ref
from lib.reports.puvae_detector.experiment import Reconstruction, Settings
from lib.reports.puvae_detector.run import Run
from lib.reports.puvae_detector.transfer import Transfer
from lib.verdicts import Requirement

#: The CVAE gates: its mean clean best-reconstruction RMSE at most this much (relative) above the
#: report's, and an image at least this much (relative) closer to its own reconstruction than to another's.
RMSE_MARGIN, MIN_INPUT_GAP = 0.5, 0.10


# --------------------------------------------------------------------------- gates
@dataclass(frozen=True)
class Gates:
    """The gates of one dataset's claims: ``real`` data; the networks ``trained`` as the report
    (Tables 1-2, 6); the ``classifier``'s and ``puvae``'s clean accuracy within their margins of
    the report's; the CVAE reconstructs its input (``input``) as well as the report's (``rmse``)."""

    real: Requirement
    trained: tuple[Requirement, ...]
    classifier: Requirement
    puvae: Requirement
    input: Requirement
    rmse: Requirement

    def models(self) -> tuple[Requirement, ...]:
        """For a claim about the defense."""
        return (self.real, self.classifier, self.puvae, self.input, self.rmse) if self.real.passed else (self.real,)

    def undefended(self) -> tuple[Requirement, ...]:
        """For a number of the undefended classifier under attack: a property of that very network,
        so it needs the report's training as well as its clean accuracy."""
        return (self.real, self.trained[0], self.classifier) if self.real.passed else (self.real,)

    def as_trained(self) -> tuple[Requirement, ...]:
        """For the report's clean numbers."""
        return (self.real, *self.trained) if self.real.passed else (self.real,)

    def all(self) -> tuple[Requirement, ...]:
        return tuple(dict.fromkeys((self.real, *self.trained, self.classifier, self.puvae, self.input, self.rmse)))


def rmse_gate(dataset: str, ours: float, mnist: float | None) -> Requirement:
    """The CVAE's RMSE gate on ``dataset`` (a report dataset): ``ours`` its mean clean
    best-reconstruction RMSE, ``mnist`` that of the run's MNIST CVAE (None: not in the run)."""
    base, limit = ref.REPORT_RMSE["mnist"][0], 1 + RMSE_MARGIN
    what = "CVAE: mean best-reconstruction RMSE"
    if dataset == "mnist":
        return Requirement(what, ours <= base * limit,
                           f"CVAE's mean best-reconstruction RMSE on clean test images {ours:.3f} vs the report's "
                           f"{base:g} (section 4; needs <= {base * limit:.3f}, {100 * RMSE_MARGIN:g} % above)")
    label = ref.LABEL[dataset]
    if mnist is None:
        return Requirement(what, False, f"the report gives no {label} RMSE, and this run has no MNIST CVAE to carry "
                                        f"its MNIST {base:g} over by the MNIST ratio")
    return Requirement(what, mnist <= base * limit,
                       f"the report gives no {label} RMSE; the MNIST ratio stands for it: our MNIST CVAE (the same "
                       f"recipe) has {mnist:.3f} vs the report's {base:g}, {mnist / base:.2f} times (needs <= "
                       f"{limit:g}); this {label} CVAE has {ours:.3f}")


def gates(s: Settings, t: Transfer, r: Reconstruction, mnist_rmse: float | None) -> Gates:
    """The gates of the module docstring for one dataset of a run; ``mnist_rmse``: the mean clean
    best-reconstruction RMSE of the run's MNIST CVAE (None: no MNIST in the run)."""
    d, n = ref.REFERENCE_OF[s.dataset], t.n
    real = lv.condition("real data", s.real, f"{s.dataset}: the report's data" if s.real
                        else f"{s.dataset} is a synthetic stand-in, not {ref.LABEL[d]}")
    if not s.real:
        return Gates(real, (), real, real, real, real)
    batch, epochs, acc = ref.REPORT_TABLE1[d]
    vae_batch, vae_epochs, z = ref.REPORT_TABLE2[d]
    full = s.n_train is None
    data = "the whole training split" if full else f"{s.n_train:,} training images"
    clf_ok = full and s.clf_epochs >= epochs and s.clf_batch_size == batch and s.clf_filters is None \
        and s.clf_hidden is None
    vae_ok = full and s.vae_epochs >= vae_epochs and s.vae_batch_size == vae_batch and s.z_dim == z \
        and s.vae_filters is None and s.vae_dec_filters is None and s.vae_hidden is None
    widths = lambda *w: "Table 6's widths" if all(v is None for v in w) else "narrowed layers"  # noqa: E731
    trained = (
        lv.budget("classifier trained as the report", clf_ok,
                  f"classifier trained {s.clf_epochs} epochs at batch {s.clf_batch_size} on {data}, "
                  f"{widths(s.clf_filters, s.clf_hidden)} (report, Table 1: {epochs} epochs, batch {batch})"),
        lv.budget("CVAE trained as the report", vae_ok,
                  f"CVAE trained {s.vae_epochs} epochs at batch {s.vae_batch_size}, z {s.z_dim}, on {data}, "
                  f"{widths(s.vae_filters, s.vae_dec_filters, s.vae_hidden)} (report, Table 2: {vae_epochs} "
                  f"epochs, batch {vae_batch}, z {z})"))
    name = f"classifier {'B' if d == 'cifar10' else 'A'}"
    clf = lv.clean_baseline(name, int(t.clean["no_defense"].sum()), n, acc / 100)
    puvae = lv.clean_baseline("PuVAE", int(t.clean["puvae"].sum()), n, ref.REPORT_TABLES[d]["none"][1] / 100)
    reconstructs = lv.condition("CVAE reconstructs its input", r.gap >= MIN_INPUT_GAP,
                                f"RMSE of an image to its own reconstruction {r.own:.3f} vs to another image's of its "
                                f"class under the same label {r.other:.3f} ({100 * r.gap:.0f} % less; needs "
                                f"{100 * MIN_INPUT_GAP:.0f} %)")
    return Gates(real, trained, clf, puvae, reconstructs, rmse_gate(d, float(t.rmse_clean.mean()), mnist_rmse))


def gates_of(settings: Sequence[Settings], transfers: Mapping[str, Transfer],
             reconstructions: Mapping[str, Reconstruction]) -> dict[str, Gates]:
    """:func:`gates` of every dataset of a run, the MNIST ratio from its MNIST CVAE (real data)."""
    mnist = [float(transfers[s.dataset].rmse_clean.mean()) for s in settings if s.dataset == "mnist"]
    return {s.dataset: gates(s, transfers[s.dataset], reconstructions[s.dataset], mnist[0] if mnist else None)
            for s in settings}


def gates_table(found: dict[str, Gates]) -> pd.DataFrame:
    """One row per dataset and gate: dataset, gate, passed, detail."""
    return pd.DataFrame([dict(dataset=d, gate=g.what, passed=g.passed, detail=g.detail)
                         for d, gs in found.items() for g in gs.all()],
                        columns=["dataset", "gate", "passed", "detail"])


def run_gates(run: Run) -> dict[str, Gates]:
    """:func:`gates_of` on a :class:`Run`."""
    parts = run.datasets.values()
    return gates_of([r.settings for r in parts], {r.settings.dataset: r.transfer for r in parts},
                    {r.settings.dataset: r.reconstruction for r in parts})
