# Everything a fresh machine needs beyond python3 and make is bootstrapped here:
# a virtual environment in .venv, uv (installed into .uv when it is not on PATH),
# and the dependencies pinned, with their hashes, in requirements.lock.

PYTHON ?= python3
VENV := .venv
BOOTSTRAP := .uv
UV := $(or $(shell command -v uv 2>/dev/null),$(BOOTSTRAP)/bin/uv)
STAMP := $(VENV)/.synced-lock
LOCK := requirements.lock

export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint bench docs fmt lock clean

run: $(STAMP)
	$(VENV)/bin/hub serve --mocks

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench docs/conf.py examples/flask-portal
	$(VENV)/bin/ruff format --check src tests bench docs/conf.py examples/flask-portal
	cd examples/connector-template && ../../$(VENV)/bin/ruff check . && ../../$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests/typing
	cd examples/connector-template && ../../$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format src tests bench docs/conf.py examples/flask-portal
	$(VENV)/bin/ruff check --fix src tests bench docs/conf.py examples/flask-portal

bench: $(STAMP)
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

# The HTML documentation; any warning fails the build (tests/unit/test_docs.py runs the
# same). docs/configuration.md is checked in: regenerate it with
# `$(VENV)/bin/python -m hub._config_docs docs/configuration.md`.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

$(BOOTSTRAP)/bin/uv:
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install --quiet --disable-pip-version-check uv

# The lock names versions and hashes, never where packages come from: uv takes them
# from the index this machine is set up for.
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(UV) venv --allow-existing --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(VENV)/bin/python --require-hashes $(LOCK)
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps --editable .
	@touch $@

# Re-pin after a change to pyproject.toml; pins already in the lock are kept.
lock: | $(UV)
	$(UV) pip compile --quiet pyproject.toml --all-extras --group dev --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command "make lock" -o $(LOCK)

clean:
	rm -rf $(VENV) $(BOOTSTRAP) .mypy_cache .pytest_cache .ruff_cache .hypothesis docs/_build
