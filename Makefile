# The README's two commands: `make run` (set up + start on the embedded default) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup bubblewrap warm-helper pii-scan browser web run test lint typecheck unit integration bench soak clean aegra-venv aegra

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,openai,anthropic,postgres]'
	@touch $(STAMP)

setup: $(STAMP) bubblewrap warm-helper pii-scan

# Debian packages installed when we can (root + apt-get; waits for another apt to finish); otherwise
# say how. $(call apt_install,COMMAND,PACKAGE,WHAT FAILS WITHOUT IT)
APT := apt-get -o DPkg::Lock::Timeout=600 -y -qq
define apt_install
	@command -v $(1) >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		$(APT) install $(2) >/dev/null 2>&1 || ($(APT) update >/dev/null 2>&1 && $(APT) install $(2) >/dev/null 2>&1) \
		|| echo "WARNING: could not install $(2): $(3)"; \
	else \
		echo "WARNING: $(1) is missing: run 'sudo apt-get install $(2)'; $(3)"; \
	fi
endef

# The local sandbox provider runs commands under bubblewrap. SANDBOX_ISOLATION=none is the explicit opt-out.
# Networked boxes (sandbox_network: true) get their own network through slirp4netns.
bubblewrap:
	$(call apt_install,bwrap,bubblewrap,sandboxes will refuse to run (see README: Sandboxes))
	$(call apt_install,slirp4netns,slirp4netns,networked sandboxes (sandbox_network: true) will be refused)
	@# slirp4netns runs unprivileged and opens the tun device: some container images ship it root-only (0600)
	@if [ -c /dev/net/tun ] && [ "$$(stat -c %a /dev/net/tun)" != 666 ]; then \
		if [ "$$(id -u)" = 0 ]; then chmod 0666 /dev/net/tun && echo "made /dev/net/tun 0666 (the distributions' default) for networked sandboxes"; \
		else echo "WARNING: /dev/net/tun is not 0666: networked sandboxes will be refused (run 'sudo chmod 0666 /dev/net/tun')"; fi; \
	fi

# The warm sandboxes' pid 1 in C (README: Warm boxes), built with the system's C compiler into build/
# (git-ignored). Without a compiler, or if the build fails, warm boxes run the same helper in Python.
WARM_HELPER_SRC := src/deep_agent_service/sandboxes/warm_helper.c
WARM_HELPER := build/warm-helper
warm-helper:
	@if command -v cc >/dev/null 2>&1; then $(MAKE) --no-print-directory -s $(WARM_HELPER); \
	else echo "WARNING: no C compiler (cc): warm sandboxes run the Python helper, slower per command (apt-get install gcc)"; fi
$(WARM_HELPER): $(WARM_HELPER_SRC)
	@mkdir -p $(@D)
	@cc -O2 -Wall -Wextra -o $@.tmp $< && mv $@.tmp $@ \
		|| (rm -f $@.tmp; echo "WARNING: $< did not build: warm sandboxes run the Python helper")

# The PII detectors' hot loops in C (README: PII), a CPython extension built next to its source
# (git-ignored) for the venv's Python. It carries its source's SHA-256 and is used only when that
# matches (`guardrails/pii_native.py`); without a compiler the Python detectors run (same matches, slower).
PII_SCAN_SRC := src/deep_agent_service/guardrails/pii_scan.c
PII_SCAN_STAMP := build/pii-scan.stamp
pii-scan: $(STAMP)
	@ls $(dir $(PII_SCAN_SRC))_pii_scan*.so >/dev/null 2>&1 || rm -f $(PII_SCAN_STAMP)  # the build was deleted
	@if command -v cc >/dev/null 2>&1; then $(MAKE) --no-print-directory -s $(PII_SCAN_STAMP); \
	else echo "WARNING: no C compiler (cc): the PII filter runs its Python detectors, slower on long texts (apt-get install gcc)"; fi
$(PII_SCAN_STAMP): $(PII_SCAN_SRC) $(STAMP)
	@mkdir -p $(@D)
	@target=$$(dirname $<)/_pii_scan$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))'); \
	include=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])'); \
	cc -O2 -Wall -Wextra -shared -fPIC -I"$$include" -DSOURCE_SHA256="\"$$(sha256sum $< | cut -c1-64)\"" \
		-o "$$target.tmp" $< && mv "$$target.tmp" "$$target" && touch $@ \
		|| (rm -f "$$target.tmp"; echo "WARNING: $< did not build: the PII filter runs its Python detectors")

# The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright; no browser download.
browser:
	$(call apt_install,chromium,chromium,the browser tests cannot run)

# The web UI (web/, React + Vite) built into web/dist, which the server serves at /ui.
# Rebuilt only when a source changed; without npm the service still runs, without /ui.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run --silent build -- --logLevel warn
web:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web/dist/index.html; \
	else echo "WARNING: npm is missing, so the web UI (/ui) is not built: install Node.js 20+ and npm (apt-get install nodejs npm)"; fi

run: setup web
	$(BIN)/python -m deep_agent_service.server.devserver $(if $(PORT),--port $(PORT))

# Self-hosted: Aegra (Python >= 3.12, its own venv) on the machine's PostgreSQL and Redis.
# Creates the database AEGRA_DATABASE (default deep_agent_aegra) if absent; AEGRA_PORT (default 2026).
aegra-venv:
	deploy/aegra/install.sh

aegra: setup aegra-venv
	$(BIN)/python -m deep_agent_service.server.selfhost $(if $(AEGRA_PORT),--port $(AEGRA_PORT)) $(if $(AEGRA_DATABASE),--database $(AEGRA_DATABASE))

lint: setup
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: setup
	$(BIN)/mypy src

unit: setup
	$(BIN)/pytest tests/unit

test: lint typecheck web browser
	$(BIN)/pytest

bench: setup
	PYTHONPATH=src:. $(BIN)/python -m bench

# Mixed multi-tenant traffic against two Aegra instances (own PostgreSQL + Redis), one restarted halfway.
# SOAK_MINUTES (default 30); not part of `make test`.
soak: setup aegra-venv
	PYTHONPATH=src:. SOAK_MINUTES=$(or $(SOAK_MINUTES),30) $(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .venv-aegra .pytest_cache .mypy_cache .ruff_cache build src/deep_agent_service/guardrails/_pii_scan*.so
