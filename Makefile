# One command to set up and run the service, one to set up and run every test (see README).
# The virtual environment is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
MODEL_DIR ?= models/latest
TRAIN_ARGS ?=
PYTEST_ARGS ?=
# setuptools warns, on every editable install, that folders named like the package could shadow it: here those
# folders are the packages themselves, so the notice is noise.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/python -m pip install --quiet
# `make run` trains where it serves from: a `latest` link under its models root, or exactly MODEL_DIR otherwise.
TRAIN_INTO = $(if $(filter latest,$(notdir $(MODEL_DIR))),--models-root $(patsubst %/,%,$(dir $(MODEL_DIR))),--output-dir $(MODEL_DIR))

.DEFAULT_GOAL := help
.PHONY: help run test lint typecheck pytest train bench bench-training bench-footprint bench-decision soak clean attack

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[train,service,plots]'
	@touch $@

$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	@touch $@ $(VENV)/.run-deps

## help: list the targets and what they do (what plain `make` does)
help:
	@awk '/^## [a-z-]+: / { sub(/^## /, ""); name = $$0; sub(/:.*/, "", name); sub(/^[^:]*: /, ""); \
	  printf "  make %-16s %s\n", name, $$0; next } \
	  /^## / && name { sub(/^## /, ""); printf "  %-21s %s\n", "", $$0; next } { name = "" }' $(MAKEFILE_LIST)

## run: set up, train a model if none exists at MODEL_DIR (options: TRAIN_ARGS), serve it on HOST:PORT
## (defaults: models/latest, 127.0.0.1:8000)
run: $(VENV)/.run-deps
	@test -f $(MODEL_DIR)/manifest.json || $(BIN)/python -m training $(TRAIN_INTO) $(TRAIN_ARGS)
	MODEL_DIR=$(MODEL_DIR) $(BIN)/python -m service --host $(HOST) --port $(PORT)

## train: train a new model into models/ and point models/latest at it (options: TRAIN_ARGS)
train: $(VENV)/.run-deps
	$(BIN)/python -m training $(TRAIN_ARGS)

## test: set up, then lint, type-check and run the whole test suite
test: lint typecheck pytest

## lint: ruff's checks and its formatting check
lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## typecheck: mypy, strict
typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

## pytest: the whole test suite (options: PYTEST_ARGS, e.g. PYTEST_ARGS='-k predict')
pytest: $(VENV)/.dev-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## attack: hostile clients against a real server (header floods, slow clients, saturation, tampering,
## SIGTERM under load, SIGHUP), each outcome beside its goal; CI runs the --quick version
attack: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/attack.py

## bench: every protocol against a bare FastAPI endpoint and against the model's own compute (needs wrk)
bench: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/serving.py

## soak: 10 minutes at saturation with 1,000-row batches mixed in; fails on any error or RSS growth > 5 % (needs wrk)
soak: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/soak.py

## bench-training: networks trained as stacks against one at a time, and one whole training run
bench-training: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/stacked_training.py

## bench-footprint: CPU and memory of one API process under load, to size Kubernetes pods (needs wrk)
bench-footprint: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/footprint.py

## bench-decision: what an explanation and the out-of-distribution score cost per record, in-process
bench-decision: $(VENV)/.dev-deps
	$(BIN)/python benchmarks/decision_support.py

## clean: remove the virtual environment and the tools' caches (models/ is kept)
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
