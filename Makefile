# Two commands are the contract with users: `make audit` and `make test` (both set up on first use).
# Bytecode is compiled at install time: environments with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile
# great-expectations (~10 s) on every run.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
UV_VERSION := 0.13.9
RAW ?= data/raw
OUT ?= data/processed
STAMP := $(VENV)/.setup-done

.PHONY: setup system-deps audit test lock sample clean help

help:
	@echo "make audit [RAW=data/raw] [OUT=data/processed]  set up (first time) and audit RAW into OUT"
	@echo "make test                                       set up (first time) and run the test suite"
	@echo "make setup                                      create .venv, install the locked dependencies (+ LibreOffice as root)"
	@echo "make sample                                     regenerate the embedded sample inbox in data/raw"
	@echo "make lock                                       re-resolve requirements.lock from pyproject.toml"

setup: $(STAMP) system-deps

# Optional system package: LibreOffice converts legacy .doc reports. Installed on Debian/Ubuntu when running as root
# with apt-get (skip with NO_SYSTEM_DEPS=1); otherwise a hint is printed and setup carries on (.doc files are then
# reported as failed with a bilingual message).
system-deps:
	@if [ -n "$(NO_SYSTEM_DEPS)" ] || command -v soffice >/dev/null 2>&1 || command -v libreoffice >/dev/null 2>&1; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing LibreOffice to read legacy .doc reports (about 260 MB) ..."; \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui; } \
	    || echo "warning: could not install LibreOffice; legacy .doc reports will not be readable" >&2; \
	else \
	  echo "note: LibreOffice not found; to read legacy .doc reports: apt-get install libreoffice-writer-nogui" >&2; \
	fi

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found); on Debian/Ubuntu: apt-get install python3.11 python3.11-venv" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

audit: $(STAMP)
	GX_ANALYTICS_ENABLED=false $(PY) -m pipeline audit $(RAW) --out $(OUT)

test: $(STAMP)
	GX_ANALYTICS_ENABLED=false $(PY) -m pytest

sample: $(STAMP)
	$(PY) -m pipeline synth --sample --out $(RAW)

lock:
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) $(OUT)
