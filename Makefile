# The README's two commands: `make run` (set up + start on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup bubblewrap run test lint typecheck unit integration bench clean aegra-venv aegra

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,openai,anthropic,postgres]'
	@touch $(STAMP)

setup: $(STAMP) bubblewrap

# The local sandbox provider runs commands under bubblewrap (a Debian package). Installed when we
# can (root + apt-get); otherwise say how. SANDBOX_ISOLATION=none is the explicit opt-out.
bubblewrap:
	@command -v bwrap >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -qq bubblewrap >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1) \
		|| echo "WARNING: could not install bubblewrap; sandboxes will refuse to run (see README: Sandboxes)"; \
	else \
		echo "WARNING: bubblewrap (bwrap) is missing: run 'sudo apt-get install bubblewrap' for sandboxes (see README: Sandboxes)"; \
	fi

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
