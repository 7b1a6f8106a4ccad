# The two commands of the README: `make course` and `make test`. Each installs what is missing.
PYTHON ?= python3
VENV := .venv
LAB := $(VENV)/bin/lab
TEST_LAB_HOME := $(CURDIR)/.lab-test

.PHONY: course cluster test unit down bench host-deps clean

course: cluster  ## set up, boot the cluster, open JupyterLab on notebooks/
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

cluster: host-deps $(VENV)/.installed  ## set up and boot the cluster, no JupyterLab
	$(LAB) up

test: host-deps $(VENV)/.installed  ## unit tests, then integration tests on a freshly booted test cluster
	LAB_HOME=$(TEST_LAB_HOME) LAB_FRESH=1 LAB_TEARDOWN=1 LABS_SOLVE=1 $(VENV)/bin/python -m pytest -q \
	  tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=600

unit: $(VENV)/.installed  ## only the tests that need no cluster
	$(VENV)/bin/python -m pytest -q tests/unit

down: $(VENV)/.installed  ## remove the cluster: containers, network, volumes, discovery service
	$(LAB) down

BENCH_LAB_HOME := $(CURDIR)/.lab-bench

bench: host-deps $(VENV)/.installed  ## benchmarks (numbers, not pass/fail), on labs of their own
	$(VENV)/bin/python bench/cluster_up.py
	LAB_HOME=$(BENCH_LAB_HOME) $(LAB) up >/dev/null
	LAB_HOME=$(BENCH_LAB_HOME) $(VENV)/bin/python bench/latency.py
	LAB_HOME=$(BENCH_LAB_HOME) $(LAB) down >/dev/null
	$(VENV)/bin/python bench/fleet.py

host-deps:
	@scripts/install-host-deps

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

clean: down
	rm -rf $(VENV) .lab .lab-test
