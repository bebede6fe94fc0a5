# One command to set up and run the service, one to set up and run every test (see README).
# The virtual environment is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
MODEL_DIR ?= models/latest

.PHONY: run test lint typecheck pytest train bench bench-training bench-footprint bench-decision soak clean attack

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[train,service,plots]'
	@touch $@

$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.run-deps

## run: set up, train a model if none exists yet, and serve it on $(HOST):$(PORT)
run: $(VENV)/.run-deps
	@test -f $(MODEL_DIR)/manifest.json || $(BIN)/python -m training
	MODEL_DIR=$(MODEL_DIR) $(BIN)/python -m service --host $(HOST) --port $(PORT)

## train: train a new model into models/ and point models/latest at it
train: $(VENV)/.run-deps
	$(BIN)/python -m training

## test: set up, then lint, type-check and run the whole test suite
test: lint typecheck pytest

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

pytest: $(VENV)/.dev-deps
	$(BIN)/python -m pytest

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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
