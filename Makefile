# pywebsocket-rs: one Makefile for humans, CI (.ci/run) and pre-commit alike.
# `make help` lists the targets. PYTHON is the interpreter whose environment has the package.

.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= $(shell if [ -x .venv/bin/python ]; then echo .venv/bin/python; else echo python3; fi)
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: install
install: ## Build (release) and install the package into $(PYTHON)'s environment
	$(PYTHON) -m pip install .

# The published wheel: abi3 (one file for CPython >= 3.9), zlib compiled in, linked by zig
# against glibc 2.17 so that it is manylinux2014; maturin finds zig through ziglang in $(PYTHON)'s
# environment (hence its bin/ on PATH).
WHEEL_FLAGS ?= --release --features abi3,static-zlib --zig --compatibility manylinux2014

.PHONY: wheel
wheel: sdist ## Build the portable wheel (abi3, manylinux2014, static zlib) and the sdist into dist/
	PATH="$(abspath $(dir $(PYTHON))):$$PATH" $(PYTHON) -m maturin build $(WHEEL_FLAGS) --out dist

.PHONY: sdist
sdist: ## Build the source distribution into dist/
	$(PYTHON) -m maturin sdist --out dist

.PHONY: dev
dev: ## Build the extension in debug mode into the active virtualenv (maturin develop)
	$(PYTHON) -m maturin develop

.PHONY: format
format: ## Format Rust and Python sources in place
	cargo fmt
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

.PHONY: lint
lint: ## cargo fmt --check, clippy (warnings are errors), ruff check, ruff format --check
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

.PHONY: test-rust
test-rust: ## Rust unit and property tests (cargo test)
	cargo test

.PHONY: test-python
test-python: ## pytest against the installed package (real server processes); exit 5 (no tests) fails
	$(PYTHON) -m pytest -ra $(PYTEST_ARGS)

.PHONY: deps
deps: ## Install what the suite needs (.ci/install: Chromium, .venv, Autobahn, this package)
	bash .ci/install

.PHONY: test
test: deps ## Install what is needed, then everything CI checks: lints, cargo test, pytest
	$(MAKE) test-only PYTHON=.venv/bin/python

.PHONY: test-only
test-only: lint test-rust test-python ## lints, cargo test, pytest, with what is installed now

.PHONY: bench
bench: ## Benchmark (bench/; not part of the test run)
	$(PYTHON) bench/run.py

.PHONY: bench-smoke
bench-smoke: ## A few seconds of the benchmark, to prove it still runs (called by .ci/run)
	$(PYTHON) bench/run.py --smoke

# Fuzzing (fuzz/README.md): libFuzzer targets built on the stable toolchain, atheris for the
# Python-side parsers; new inputs land in fuzz/artifacts/ (not committed), crashes too.
FUZZ_SECONDS ?= 60

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZ_SECONDS (60) each from its seed corpus in fuzz/corpus/
	FUZZ_SECONDS=$(FUZZ_SECONDS) PYTHON=$(PYTHON) bash fuzz/run.sh

.PHONY: fuzz-smoke
fuzz-smoke: ## Build every fuzz target and run each for 5 s, so they cannot rot (called by .ci/run)
	FUZZ_SECONDS=5 PYTHON=$(PYTHON) bash fuzz/run.sh
