# Two entry points a new machine needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup system-deps clean

$(BIN)/meshsim: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/meshsim

# Debian packages the tests drive for real (proxies, load generator, browser); root only.
system-deps:
	bash scripts/install-system-deps.sh

demo: setup
	$(BIN)/meshsim report scenarios/quickstart.yaml --out out/quickstart

lint: setup
	$(BIN)/ruff check meshsim real_bench tests benchmarks

test: setup system-deps lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out
