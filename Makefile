# Everything a fresh machine needs beyond python3 and make is bootstrapped here:
# a virtual environment in .venv, uv (installed into .uv when it is not on PATH),
# and the locked dependencies of uv.lock.

PYTHON ?= python3
VENV := .venv
BOOTSTRAP := .uv
UV := $(or $(shell command -v uv 2>/dev/null),$(BOOTSTRAP)/bin/uv)
STAMP := $(VENV)/.synced-lock

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint bench fmt clean

run: $(STAMP)
	$(VENV)/bin/hub serve --mocks

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src mocks tests bench
	$(VENV)/bin/ruff format --check src mocks tests bench
	cd examples/connector-template && ../../$(VENV)/bin/ruff check . && ../../$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format src mocks tests bench
	$(VENV)/bin/ruff check --fix src mocks tests bench

bench: $(STAMP)
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

$(BOOTSTRAP)/bin/uv:
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON)
	@touch $@

clean:
	rm -rf $(VENV) $(BOOTSTRAP) .mypy_cache .pytest_cache .ruff_cache .hypothesis
