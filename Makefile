# Two entry points a new machine needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint setup setup-test system-deps clean

# The runtime only: what `make demo` needs.
$(VENV)/.runtime: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# The runtime plus the test toolchain (pytest, ruff, Jupyter kernel, dask).
$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.runtime
setup-test: $(VENV)/.test

# Debian packages the tests drive for real (proxies, load generator, browser); root only.
system-deps:
	bash scripts/install-system-deps.sh

demo: setup
	$(BIN)/meshsim report scenarios/quickstart.yaml --out out/quickstart

lint: setup-test
	$(BIN)/ruff check meshsim real_bench tests benchmarks

test: setup-test system-deps lint
	$(BIN)/python -m pytest -q

# The inner loop: everything but the slow tests.
test-fast: setup-test lint
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) out
