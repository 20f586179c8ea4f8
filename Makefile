# The two commands of the README: `make run` (the app with demo data) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test lint test-postgres bench install

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## The app on http://127.0.0.1:$(PORT) with demo data (offline Stripe stand-in unless STRIPE_SECRET_KEY is set).
PORT ?= 8000
run: install
	PORT=$(PORT) bash scripts/run

## Lint, type-check and the whole test suite.
test: lint
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

## The benchmark (not a test): prints a table of figures.
bench: install
	$(PY) -m bench
