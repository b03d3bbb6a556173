# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python (adversarial-study)
#     language: python
#     name: adversarial-study
# ---

# %%

# %% [markdown]
# # The study in one place: every defense, every claim
#
# This notebook trains and attacks nothing. Each report notebook ends by writing two small files
# into `figures/<profile>/<report>/` (`lib.summary`): its defenses with their clean accuracy, the
# report's robust number, ours under the report's own attack and ours in the worst case over the
# adaptive attack set, each with a 95 % Clopper-Pearson interval; and each claim of the report
# with our verdict. Here they are gathered for one profile. Run the report notebooks first:
#
# ```
# make reproduce PROFILE=quick      # every notebook, this one last
# ```

# %% tags=["parameters"]
profile = None  # "smoke" | "quick" | "paper"; None: paper on a GPU, quick otherwise
overrides = {}  # e.g. {"reports": ["puvae_detector"]}

# %%
# `lib` comes first: importing it sets OpenMP's passive waiting before torch loads.
from lib import plots, profiles  # isort: skip
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from lib import cache
from lib import tables as lib_tables
from lib.reports.study_summary import summary

cfg = profiles.resolve("study_summary", profile, overrides)
out = cfg.out_dir
defenses, claims, problems = summary.gather(cfg.profile, cfg.reports)
print(f"profile {cfg.profile!r}: {len(defenses)} defense rows and {len(claims)} claims "
      f"from {len(cfg.reports) - len(problems)} of {len(cfg.reports)} reports")
if problems:
    display(Markdown("**Missing reports.**\n\n" + "\n".join(f"- `{r}`: {why}" for r, why in problems.items())))

# %% [markdown]
# ## 1 Every defense beside its baseline
#
# Clean accuracy, the report's robust number, ours under the report's own (usually non-adaptive)
# attack, and ours in the worst case per image over the adaptive set of the report's notebook.
# Intervals are 95 % Clopper-Pearson over the images each notebook evaluated (`n`). A report's
# number is what it published, on its own data and model; "-" where it gives none. Where the
# report's robust number counts only the images its model classified correctly, the column
# "report's attack" says so.

# %%
table = summary.defense_table(defenses)
cap = f"Every defense of the study beside its baseline ({cfg.profile} profile; accuracies in %, 95 % intervals)."
lib_tables.save_and_show(table, out / "defenses", caption=cap)
with pd.option_context("display.max_colwidth", None, "display.max_rows", None):
    display(table)

# %% [markdown]
# ## 2 Clean against worst-case accuracy
#
# One panel per dataset and threat model. Filled markers are ours, with 95 % intervals on both
# axes; a hollow marker joined by a dotted line is the report's own (clean, robust) claim for the
# same defense, where the report gives both. A defense helps only if it sits above its baseline
# beyond the intervals; the diagonal is "robust = clean".

# %%
fig = summary.figure(defenses, title=f"Clean vs worst-case robust accuracy ({cfg.profile} profile)")
plots.save(fig, out / "summary_figure.png")
plt.show()

# %% [markdown]
# ## 3 Every claim of the four reports, and our verdict
#
# Each claim is the report's own words (its quote and section), judged by one rule (`lib.verdicts`):
# exact McNemar on the same images for "A is more robust than B", equivalence tests (two one-sided
# tests against a margin, 5 points unless the report implies another) for "about the same" and
# "does not help", and the report's own numbers against our exact interval with the margin. Each
# report's claims are one family under Holm's correction. "holds" and "does not hold" are said only
# where the adjusted test supports them; otherwise "cannot be judged at this profile", with why (a
# gate: the models behind the claim do not reach the report's baseline) or with the number of
# images that would decide it. The evidence column names the table in `figures/<profile>/<report>/`,
# the numbers and the test. Reports whose package still writes its claims the old way show the
# claim's paraphrase in parentheses and no test.

# %%
claim_table = summary.claims_table(claims)
counts = summary.verdict_counts(claims)
lib_tables.save_table(claim_table, out / "claims", caption=f"Every claim and our verdict ({cfg.profile} profile).")
lib_tables.save_table(counts, out / "verdict_counts", caption=f"Verdicts per report ({cfg.profile} profile).")
display(counts)
with pd.option_context("display.max_colwidth", None, "display.max_rows", None):
    display(claim_table)

# %% [markdown]
# **One correction for the whole study.** Holm's correction within each report answers "which of
# this report's claims hold"; a reader who takes the study's verdicts together makes more
# judgements at once. The claims whose verdict would change under one Holm correction over every
# tested claim of the study:

# %%
changes = summary.study_wide_changes(claims)
lib_tables.save_table(changes, out / "study_wide_changes",
                      caption=f"Verdicts that change under a study-wide Holm correction ({cfg.profile} profile).")
display(Markdown(f"{len(changes)} of {int(claims['p_raw'].notna().sum())} tested claims change."))
changes

# %% [markdown]
# ## 4 Our observations about the reports
#
# Contradictions within a report, missing controls, and what our runs add beyond a report's claims.
# These are ours, not the reports' claims, and no verdict counts them.

# %%
observed = summary.observations(cfg.profile, cfg.reports)
lib_tables.save_table(observed, out / "observations", caption=f"Our observations ({cfg.profile} profile).")
with pd.option_context("display.max_colwidth", None, "display.max_rows", None):
    display(observed)

# %%
lines = [f"# Study summary ({cfg.profile} profile)", ""]
for row in counts.itertuples(index=False):
    lines.append(f"- **{row[0]}**: " + ", ".join(f"{n} {v}" for v, n in zip(counts.columns[1:], row[1:])))
lines += ["", f"{len(changes)} verdict(s) change under a study-wide Holm correction; {len(observed)} observations."]
if problems:
    lines += ["", "Missing: " + ", ".join(problems)]
cache.atomic_write_text("\n".join(lines) + "\n", out / "summary.md")
display(Markdown("\n".join(lines)))
