# The two set-up commands of the README: `make demo` and `make test`.
# Each works on a fresh machine: it installs the Debian packages it needs (when missing),
# creates .venv and installs the project with its dev extra.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKG_STAMP := /var/tmp/b24-crest-syspkgs.ok
# Browser tests drive Debian's Chromium; checkserver tests put a real nginx in front of the app;
# the form-encoding tests compare against real PHP; the PostgreSQL tests start their own cluster.
SYSPKGS := chromium chromium-driver php-cli nginx-light postgresql

.PHONY: demo test lint typecheck unit bench sysdeps venv clean

demo: venv
	$(VENV)/bin/crest demo

test: sysdeps venv lint typecheck unit

unit: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check crest webapp portal tests bench examples checkserver.py settings.example.py

typecheck: venv
	$(VENV)/bin/mypy

bench: sysdeps venv
	$(PY) -m bench.run
	$(PY) -m bench.hosts --write

sysdeps:
	@missing=""; \
	for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info tests/artifacts
