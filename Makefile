# Two commands do all the set-up on a fresh clone:
#   make repro   create .venv, install, run the whole benchmark (dvc repro)
#   make test    create .venv, install, run the test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: repro test robustness

# The project itself is installed editable (the `advent` package and its console tools).
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -qq --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# dvc runs each stage's `python ...` through the shell: put the venv first on PATH.
repro: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

# The whole benchmark over 5 seeds x 2 float settings: queued `dvc exp run`s, then
# reports/robustness.md (see README).
robustness: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/robustness.py
