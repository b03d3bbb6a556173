# Reproducible study of adversarial robustness: `make help` lists the targets.
#
# The environment: the active conda env if there is one (see environment.yml),
# else a .venv made here. Everything below installs what it needs first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PROFILE ?=
REPORTS ?=
PARAMS ?=
PYTHON ?= python3
KERNEL := adversarial-study
export OMP_WAIT_POLICY ?= PASSIVE

ifneq ($(strip $(CONDA_PREFIX)),)
ifneq ($(CONDA_DEFAULT_ENV),base)
ENV_DIR := $(CONDA_PREFIX)
endif
endif
ENV_DIR ?= .venv
PY := $(ENV_DIR)/bin/python
STAMP := $(ENV_DIR)/.adversarial-study-installed
FMNIST := data/FashionMNIST/raw/t10k-labels-idx1-ubyte

.PHONY: help install data data-quick test reproduce lab benchmark clean clean-results

help: ## list the targets
	@echo "Usage: make <target> [PROFILE=smoke|quick|paper] [REPORTS=\"id ...\"] [PARAMS=\"k=v ...\"]"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'
	@echo
	@echo "Reports: $$(ls notebooks/*.ipynb 2>/dev/null | xargs -n1 basename 2>/dev/null | sed 's/.ipynb//' | tr '\n' ' ')"

install: $(STAMP) ## make the environment: packages, test extras, the Jupyter kernel

$(STAMP): pyproject.toml
	@if [ "$(ENV_DIR)" = ".venv" ] && [ ! -x .venv/bin/python ]; then \
		echo ">> creating .venv"; $(PYTHON) -m venv .venv; fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" >/dev/null
	@touch $@

data-quick: $(FMNIST) ## get Fashion-MNIST (the quick profile's data)

$(FMNIST): | $(STAMP)
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo ">> installing Debian's dataset-fashion-mnist"; \
		(apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null)) || true; fi
	$(PY) -m lib.data fetch fashion_mnist

data: $(STAMP) data-quick ## get every dataset the paper profile needs (MNIST, Fashion-MNIST, CIFAR-10)
	$(PY) -m lib.data fetch mnist fashion_mnist cifar10

test: $(STAMP) $(FMNIST) ## run the test-suite: lib unit tests + every notebook under the smoke profile
	ADV_PROGRESS=0 $(PY) -m pytest tests

reproduce: $(STAMP) $(FMNIST) ## run every notebook with papermill -> figures/<profile>/<report>/
	$(PY) -m lib.runner $(if $(PROFILE),--profile $(PROFILE)) \
		$(if $(REPORTS),--reports $(REPORTS)) $(foreach p,$(PARAMS),--param $(p))

lab: $(STAMP) ## open JupyterLab on the notebooks with the project's kernel
	$(ENV_DIR)/bin/jupyter lab notebooks/

benchmark: $(STAMP) ## time the attacks and the training loop on this machine
	ADV_PROGRESS=0 $(PY) -m lib.benchmark

clean-results: ## delete generated figures and tables (keeps data and checkpoints)
	rm -rf figures/smoke figures/quick figures/paper

clean: clean-results ## also delete cached checkpoints and the .venv
	rm -rf data/checkpoints .venv
