# The two commands of the README: `make course` and `make test`. Each installs what is missing.
PYTHON ?= python3
VENV := .venv
LAB := $(VENV)/bin/lab
TEST_LAB_HOME := $(CURDIR)/.lab-test

.PHONY: course cluster test unit course-check down bench host-deps clean

course: cluster  ## set up, boot the cluster, open JupyterLab on notebooks/
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

cluster: host-deps $(VENV)/.installed  ## set up and boot the cluster, no JupyterLab
	$(LAB) up

PHASES := $(TEST_LAB_HOME)/phases.txt

test:  ## fresh test clusters boot, then integration tests and notebooks run on them; unit tests beside both
	@mkdir -p $(TEST_LAB_HOME) && rm -f $(PHASES)
	@scripts/timed $(PHASES) host-deps scripts/install-host-deps
	@scripts/timed $(PHASES) venv $(MAKE) --no-print-directory $(VENV)/.installed
	LAB_HOME=$(TEST_LAB_HOME) LAB_FRESH=1 LAB_TEARDOWN=1 LABS_SOLVE=1 $(VENV)/bin/python -m tests.run

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]-*.ipynb))
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=600

course-check: host-deps $(VENV)/.installed  ## every notebook twice in a row (exercises solved), then all once unsolved
	LAB_HOME=$(TEST_LAB_HOME) LABS_SOLVE=1 $(VENV)/bin/python -m pytest -q --keep-duplicates \
	  $(foreach nb,$(NOTEBOOKS),$(nb) $(nb)) $(NBVAL)
	LAB_HOME=$(TEST_LAB_HOME) $(VENV)/bin/python -m pytest -q tests/course/unsolved_notebooks.py

unit: $(VENV)/.installed  ## only the tests that need no cluster
	$(VENV)/bin/python -m pytest -q tests/unit

down: $(VENV)/.installed  ## remove the cluster: containers, network, volumes, discovery service
	$(LAB) down

BENCH_LAB_HOME := $(CURDIR)/.lab-bench

bench: host-deps $(VENV)/.installed  ## benchmarks (numbers, not pass/fail), on labs of their own
	$(VENV)/bin/python bench/cluster_up.py
	LAB_HOME=$(BENCH_LAB_HOME) $(LAB) up >/dev/null
	LAB_HOME=$(BENCH_LAB_HOME) $(VENV)/bin/python bench/latency.py
	LAB_HOME=$(BENCH_LAB_HOME) LABS_SOLVE=1 $(VENV)/bin/python bench/run_all.py
	LAB_HOME=$(BENCH_LAB_HOME) $(LAB) down >/dev/null
	$(VENV)/bin/python bench/fleet.py
	$(VENV)/bin/python bench/ci.py

host-deps:
	@scripts/install-host-deps

# pip installs only uv, and uv the rest: 4-7 s where pip took 21-26 s on the reference host
# (docs/speed.md). uv reads PyPI, or UV_INDEX_URL and UV_FIND_LINKS, not pip.conf.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(VENV)/bin/python -e .
	touch $@

clean: down
	rm -rf $(VENV) .lab .lab-test

# --- a workshop classroom (README: "Running a workshop"); as root on a Debian/Ubuntu server ---
CLASSROOM_VENV := .venv-classroom
ROSTER ?= classroom/roster.txt
TEACHER ?= teacher
HUB_PORT ?= 8000

.PHONY: classroom classroom-down test-classroom

classroom: host-deps $(CLASSROOM_VENV)/.installed  ## accounts, labs, broker and JupyterHub for ROSTER
	@scripts/install-classroom-deps
	$(CLASSROOM_VENV)/bin/python -m labs.classroom.setup up --roster $(ROSTER) --teacher $(TEACHER) --port $(HUB_PORT)

classroom-down: $(CLASSROOM_VENV)/.installed  ## every student cluster removed, hub and broker stopped
	$(CLASSROOM_VENV)/bin/python -m labs.classroom.setup down $(if $(REMOVE_STUDENTS),--remove-students)

test-classroom: host-deps $(CLASSROOM_VENV)/.installed  ## the classroom's isolation and browser tests
	@scripts/install-classroom-deps --tests
	$(CLASSROOM_VENV)/bin/python -m pytest -q tests/classroom

# Students run the course from this venv, so it is made with the system's python3 (readable by all).
$(CLASSROOM_VENV)/.installed: pyproject.toml
	test -x $(CLASSROOM_VENV)/bin/python || /usr/bin/python3 -m venv $(CLASSROOM_VENV)
	$(CLASSROOM_VENV)/bin/pip install -q uv
	$(CLASSROOM_VENV)/bin/uv pip install -q --compile-bytecode --python $(CLASSROOM_VENV)/bin/python -e '.[classroom]'
	touch $@
