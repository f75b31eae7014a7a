# tickwire: every target creates what it needs (virtual environment, build) by itself.
#   make demo   run the main job (every venue from the local simulator; needs no network)
#   make test   run every test: cargo test and pytest (what CI runs)
#   make lint   clippy, mypy --strict on the example, stubtest on the built module
#   make bench  compare tickwire with picows, websockets and aiohttp; cargo bench

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test test-rust test-python lint bench build deps browser

$(VENV)/.deps: requirements-dev.txt requirements-bench.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -r requirements-bench.txt
	touch $@

deps: $(VENV)/.deps

build: deps
	$(VENV)/bin/maturin develop --release --quiet

demo: build
	$(PY) -m tickwire demo

test-rust:
	cargo test --quiet

# The dashboard's tests drive a headless Chromium from Debian.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }

test-python: build browser
	$(PY) -m pytest -q

test: test-rust test-python

lint: build
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy --features python --quiet -- -D warnings
	$(PY) -m mypy --strict examples/usage.py examples/venues.py examples/books.py examples/quickstart.py examples/python_venue.py python/tickwire
	$(PY) -m mypy.stubtest tickwire._core

bench: build
	cargo bench
	$(PY) benches/compare.py
