# The README's two commands: `make run` (set up + start on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-packages run test lint typecheck unit integration bench clean aegra-venv aegra

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,openai,anthropic,postgres]'
	@touch $(STAMP)

setup: $(STAMP) system-packages

# The local sandbox runs commands under bubblewrap (a Debian package). Installed when missing and
# we can (root with apt-get); otherwise the server refuses to start and says how to install it,
# unless SANDBOX_ISOLATION=none is set explicitly.
system-packages:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq bubblewrap)) \
	      || echo "warning: could not install bubblewrap; sandboxes need it (or SANDBOX_ISOLATION=none)"; \
	  else echo "note: bubblewrap is not installed: 'sudo apt-get install bubblewrap' (sandboxes need it)"; fi; }

run: setup
	$(BIN)/python -m deep_agent_service.devserver $(if $(PORT),--port $(PORT))

# Self-hosted: Aegra (Python >= 3.12, its own venv) on the machine's PostgreSQL and Redis.
# Creates the database AEGRA_DATABASE (default deep_agent_aegra) if absent; AEGRA_PORT (default 2026).
aegra-venv:
	deploy/aegra/install.sh

aegra: setup aegra-venv
	$(BIN)/python -m deep_agent_service.selfhost $(if $(AEGRA_PORT),--port $(AEGRA_PORT)) $(if $(AEGRA_DATABASE),--database $(AEGRA_DATABASE))

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: setup
	$(BIN)/mypy src

unit: setup
	$(BIN)/pytest tests/unit

test: lint typecheck
	$(BIN)/pytest

bench: setup
	PYTHONPATH=src:. $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-aegra .pytest_cache .mypy_cache .ruff_cache
