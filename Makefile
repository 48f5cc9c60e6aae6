# Everyday targets. `make test` is the README's test command and what `.ci/run` runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Strict editable mode installs a tree of links under build/, which mypy and every other tool
# can follow (the default mode uses an import hook they cannot see); new modules need `make dev`.
EDITABLE := --config-settings editable_mode=strict

.PHONY: help venv dev system-deps test test-fast lint fmt typecheck generate bench venv-demo demo demo-exporter clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

# The build leaves agentwatch.egg-info in the checkout, where it would shadow the installed
# metadata (entry points included) for anything run from here; it is not needed: removed.
venv: $(PY)  ## create the virtual environment and install agentwatch with its dev tools
	$(PY) -m pip install -q $(EDITABLE) -e '.[dev]'
	rm -rf agentwatch.egg-info

dev: $(PY)  ## reinstall the editable package (after adding a module)
	$(PY) -m pip install -q --no-deps --no-build-isolation $(EDITABLE) -e .
	rm -rf agentwatch.egg-info

system-deps:  ## install Prometheus, promtool and Alertmanager from Debian's packages (needs root)
	@bash scripts/system-deps.sh

test: system-deps venv  ## install everything the tests need, then run them all
	$(PY) -m pytest

test-fast: dev  ## the unit tests only
	$(PY) -m pytest -m 'not prometheus and not slow'

lint: dev  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy -p agentwatch

typecheck: dev
	$(VENV)/bin/mypy -p agentwatch

fmt: $(PY)  ## format and fix what ruff can
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

generate: dev  ## regenerate the committed artefacts: rule files, dashboards, Kubernetes manifests
	$(PY) -m agentwatch.alerts.rules
	$(PY) -m agentwatch.dashboards
	$(PY) -m agentwatch.deploy

bench: venv  ## run the benchmarks and print their ratios
	$(PY) benchmarks/exporter_bench.py
	$(PY) benchmarks/instrumentation_bench.py
	$(PY) benchmarks/clients_bench.py
	$(PY) benchmarks/codecheck_bench.py

venv-demo: $(PY)  ## the virtual environment with agentwatch and the demo agent's libraries only
	$(PY) -m pip install -q $(EDITABLE) -e '.[demo]'
	rm -rf agentwatch.egg-info

demo: venv-demo  ## the whole stack on loopback, no Docker: simulated GPUs and LLM, an instrumented agent, Prometheus, Alertmanager, the receiver (dry run)
	$(VENV)/bin/agentwatch demo

demo-exporter: venv-demo  ## only the exporter (simulated GPUs when no NVIDIA driver is present)
	$(VENV)/bin/agentwatch exporter --gpu-backend auto --sim-scenario mixed --sim-speed 10

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
