# Everything sets itself up: a fresh clone needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml changes (new dependency, new entry point).
INSTALLED := $(VENV)/.installed
# Lint what exists: benchmarks/ and api/ may be added after this Makefile.
PACKAGES := $(foreach d,domain store activities workflows api worker benchmarks,$(if $(wildcard $(d)/*.py),$(d)))

.PHONY: run test lint bench clean

run: $(INSTALLED)
	$(BIN)/reisplan dev

# Two test processes by default (every test has its own database, servers and ports);
# TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES) tests

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.history
	$(BIN)/python -m benchmarks.throughput

clean:
	rm -rf .reisplan

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "reisplan needs Python >= 3.11: run make with PYTHON=python3.11 (or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@
