"""Parameters of notebooks/study_summary.py, the cross-report summary.

It computes nothing new: it reads ``summary_defenses.csv`` and ``summary_claims.csv`` that
each report notebook wrote into ``figures/<profile>/<report>/`` (:mod:`lib.summary`) for the
*same* profile, so its only parameter says which reports to gather. It runs after them
(``RUN_LAST``).
"""
from __future__ import annotations

from lib.params import Choice, ListOf

#: The runner puts this notebook after every report notebook of a run.
RUN_LAST = True

#: The four report notebooks, in the order of the reports (000 to 003).
REPORTS = ("abs_cifar", "puvae_detector", "attacks_adversarial_training", "generative_lipschitz")

PARAMS = {
    "reports": ListOf(item=Choice(options=REPORTS), distinct=True,
                      doc="report notebooks whose tables are gathered"),
}

PROFILES = {name: dict(reports=list(REPORTS)) for name in ("smoke", "quick", "paper")}
