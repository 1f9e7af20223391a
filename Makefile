# The two set-up commands of the README: `make demo` and `make test`.
# Each works on a fresh machine: it installs the Debian packages it needs (when missing),
# creates .venv and installs the project with its dev extra.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKG_STAMP := /var/tmp/b24-crest-syspkgs.ok
# Browser tests drive Debian's Chromium; checkserver tests put a real nginx in front of the app;
# the form-encoding tests compare against real PHP; the b24jssdk interop tests run Node;
# the PostgreSQL tests start their own cluster.
SYSPKGS := chromium chromium-driver php-cli nginx-light nodejs npm postgresql
# The official JavaScript SDK, pinned in tests/js/package-lock.json.
JS_STAMP := tests/js/node_modules/.package-lock.json

.PHONY: demo test lint typecheck unit bench sysdeps venv jsdeps clean

# DEMO_ARGS: e.g. --port 0 --info demo.json (tests use a free port).
demo: venv
	@echo "crest and this project's python are in $(VENV)/bin: '. $(VENV)/bin/activate' puts them on your PATH"
	$(VENV)/bin/crest demo $(DEMO_ARGS)

test: sysdeps venv jsdeps lint typecheck unit

# The suite in random order (pytest-randomly; the seed is printed, rerun one with
# PYTEST_ARGS=-p randomly --randomly-seed=N) on JOBS workers (pytest-xdist), then the
# timing-sensitive multi-process tests (marked slow) alone, so the rest cannot starve them.
# pytest's exit code 5 (no test selected) fails the full suite; with PYTEST_ARGS narrowing
# the run, one pass selecting nothing is expected and passes.
JOBS ?= 2
unit: venv jsdeps
	@$(PY) -m pytest -n $(JOBS) --dist loadgroup -m "not slow" $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ] && [ -n "$(strip $(PYTEST_ARGS))" ]; then rc=0; fi; [ $$rc -eq 0 ] || exit $$rc
	@$(PY) -m pytest -m slow $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ] && [ -n "$(strip $(PYTEST_ARGS))" ]; then rc=0; fi; [ $$rc -eq 0 ] || exit $$rc

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check crest webapp portal tests bench examples checkserver.py settings.example.py
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

bench: sysdeps venv
	$(PY) -m bench.run
	$(PY) -m bench.hosts --write

sysdeps:
	@missing=""; \
	for p in $(SYSPKGS); do \
		dpkg -s $$p >/dev/null 2>&1 || command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(STAMP)

# npm ci installs exactly the lock file; a package that a Node build already bundles (npm in
# some nodejs packages) counts as present above by its command.
jsdeps: $(JS_STAMP)

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund
	touch $(JS_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info tests/artifacts tests/js/node_modules
