# Reproducible study of adversarial robustness: `make help` lists the targets.
#
# The environment: the active conda env if there is one (see environment.yml),
# else a .venv made here. Every target installs what it needs first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
KERNEL := adversarial-study

# `make 'PROFILE:=$(shell ...)'` (or ::=, !=) has make itself expand, or run, the value while it
# reads its command line, before this file is read: no line here can prevent that, but the run
# stops here, before anything else. := and ::= leave a simple variable ($(flavor)); != leaves
# no trace in make, so make's own command line is read back from /proc (Linux; elsewhere only
# the flavor check applies).
USER_VARIABLES := PROFILE REPORTS PARAMS LAB_ARGS
$(foreach v,$(USER_VARIABLES),$(if $(and $(filter command line,$(origin $(v))),$(filter simple,$(flavor $(v)))),\
  $(error $(v) was given with := or ::=, which has make expand it (running any $$(shell ...) in it) before this Makefile can check it; write $(v)=... instead)))
SHELL_ASSIGNED := $(shell tr '\0' '\n' < /proc/$$PPID/cmdline 2>/dev/null | grep -oE '^(PROFILE|REPORTS|PARAMS|LAB_ARGS) *!=' | head -1 | tr -d ' !=')
ifneq ($(SHELL_ASSIGNED),)
$(error $(SHELL_ASSIGNED) was given with !=, which has make run it as a shell command before this Makefile can check it; write $(SHELL_ASSIGNED)=... instead)
endif

# What a user types after `make` (PROFILE, REPORTS, PARAMS, LAB_ARGS) never reaches a shell:
# `$(value ...)` takes it unexpanded and it travels to Python in the environment, where
# lib.runner reads it as plain text. Backticks, $(...) and ; in it are just characters.
# make exports command-line variables by expanding them (which would run a $(shell ...)
# inside): `unexport` stops that; only the ADV_* copies travel.
# (`unexport` defines a variable, so REPORTS is tested for being set first.)
ifneq ($(origin REPORTS),undefined)
export ADV_REPORTS := $(value REPORTS)
endif
export ADV_PROFILE := $(value PROFILE)
export ADV_PARAMS := $(value PARAMS)
export ADV_LAB_ARGS := $(value LAB_ARGS)
unexport PROFILE REPORTS PARAMS LAB_ARGS

ifneq ($(strip $(CONDA_PREFIX)),)
ifneq ($(CONDA_DEFAULT_ENV),base)
ENV_DIR := $(CONDA_PREFIX)
endif
endif
ENV_DIR ?= .venv
PY := $(ENV_DIR)/bin/python
STAMP := $(ENV_DIR)/.adversarial-study-installed
DEBIAN_FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: help install data data-quick data-debian data-test notebooks lint test reproduce paper-check handin lab benchmark clean clean-results

help: ## list the targets
	@echo "Usage: make <target> [PROFILE=smoke|quick|paper] [REPORTS=\"id ...\"] [PARAMS=\"name=value ...\"]"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'
	@echo
	@echo "Reports: $$(ls notebooks/*.py 2>/dev/null | xargs -n1 basename 2>/dev/null | sed 's/.py$$//' | tr '\n' ' ')"
	@echo "PARAMS: space-separated name=value; quote a value with spaces: PARAMS=\"epochs=2 'eps=[0.1, 0.2]'\""
	@echo "A report's parameters, types and ranges: $(PY) -m lib.runner --describe <report>"

install: $(STAMP) ## make the environment: packages, test extras, the Jupyter kernel

$(STAMP): pyproject.toml
	@if [ "$(ENV_DIR)" = ".venv" ] && [ ! -x .venv/bin/python ]; then \
		echo ">> creating .venv"; $(PYTHON) -m venv .venv; fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps 'torchattacks>=3.5,<4'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" >/dev/null
	@touch $@

# Debian's Fashion-MNIST, when the data folder ($ADV_DATA_DIR, default data/) lacks it and
# apt can install it (offline machines); lib.data verifies what it copies.
define debian_fashion_mnist
	@if ! $(PY) -m lib.data fetch --offline --quiet fashion_mnist 2>/dev/null && [ ! -d $(DEBIAN_FMNIST) ] \
		&& command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo ">> installing Debian's dataset-fashion-mnist"; \
		(apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) || true; fi
endef

# Debian's LaTeX (pdflatex with booktabs, longtable, array, graphicx) for the hand-in's tables and
# the test that compiles them: installed when missing and apt can (root); never fails a target.
define debian_texlive
	@if ! command -v pdflatex >/dev/null && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo ">> installing Debian's texlive-latex-base and texlive-latex-recommended (for the LaTeX tables)"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends texlive-latex-base \
		  texlive-latex-recommended >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends texlive-latex-base \
		  texlive-latex-recommended >/dev/null 2>&1)) || echo ">> no LaTeX: the hand-in's .tex tables are not test-compiled"; fi
endef

data: $(STAMP) ## get every dataset: MNIST, Fashion-MNIST, CIFAR-10 JPEG copy (mirror/Debian/online), CIFAR-10 (online)
	$(debian_fashion_mnist)
	$(PY) -m lib.data fetch mnist fashion_mnist cifar10_jpeg
	@$(PY) -m lib.data fetch cifar10 2>/dev/null || echo ">> the original CIFAR-10 needs network access; offline, the notebooks use dataset=cifar10_jpeg"

data-quick: $(STAMP) ## get the quick profiles' data (MNIST, Fashion-MNIST, the CIFAR-10 JPEG copy)
	$(debian_fashion_mnist)
	$(PY) -m lib.data fetch mnist fashion_mnist cifar10_jpeg

data-debian: $(STAMP)
	$(debian_fashion_mnist)

data-test: $(STAMP) data-debian
	$(debian_texlive)
	@$(PY) -m lib.data fetch mnist fashion_mnist cifar10_jpeg || \
		echo ">> some real data are missing: the tests that need them are skipped (the smoke profile needs none)"

notebooks: $(STAMP) ## sync each notebooks/<id>.py with its .ipynb (jupytext; the newer one wins), outputs stripped
	$(ENV_DIR)/bin/jupytext --sync notebooks/*.py
	$(PY) -m lib.lab strip

lint: $(STAMP) ## ruff on lib/, notebooks/ and tests/
	$(ENV_DIR)/bin/ruff check lib notebooks tests

test: $(STAMP) lint data-test ## lint, unit tests, every notebook under the smoke profile
	ADV_PROGRESS=0 $(PY) -m pytest tests

reproduce: $(STAMP) data-debian ## run the notebooks with papermill -> figures/<profile>/<report>/
	$(PY) -m lib.runner --from-env

paper-check: $(STAMP) data-quick ## every notebook in the paper profile's structure, sizes shrunk (CPU, ~10 min) -> figures/paper-check/
	$(PY) -m lib.runner --paper-check --from-env

handin: $(STAMP) ## pack the executed notebooks (HTML), tables (LaTeX, CSV) and figures -> figures/<profile>/handin.zip
	$(PY) -m lib.handin --from-env

lab: $(STAMP) ## JupyterLab 4 at the repository, opening notebooks/ (LAB_ARGS="--port 9999 --no-browser")
	$(PY) -m lib.lab

benchmark: $(STAMP) ## time the attacks and the training loop on this machine
	ADV_PROGRESS=0 $(PY) -m lib.benchmark

clean-results: ## delete generated figures and tables (keeps data and checkpoints)
	rm -rf figures/smoke figures/quick figures/paper figures/paper-check

clean: clean-results ## also delete cached checkpoints and the .venv
	rm -rf data/checkpoints .venv
