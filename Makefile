# tap-atlassian: the two commands of the README are `make demo` and `make test`.
# Everything either needs is installed by these targets into .venv (the tap and its tests)
# and .venv-meltano (Meltano itself, kept apart so its pins never meet the tap's; Meltano
# then builds one venv per plugin under .meltano/). Nothing is assumed on the machine but
# Python 3.10+ with its venv module (Debian/Ubuntu: the python3-venv package) and make.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
MELTANO_VENV := .venv-meltano
MELTANO_VERSION ?= 4.4.1
ORCH_VENV := .venv-orchestrate

.PHONY: install meltano orchestrate-install orchestrate lint test demo bench readme plugins clean

CHECK_VENV = @$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "make: $(PYTHON) cannot create virtual environments; install its venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }

$(BIN)/.installed: pyproject.toml
	$(CHECK_VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(MELTANO_VENV)/.installed:
	$(CHECK_VENV)
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/pip install --quiet --upgrade pip
	$(MELTANO_VENV)/bin/pip install --quiet 'meltano==$(MELTANO_VERSION)'
	touch $@

meltano: $(MELTANO_VENV)/.installed

# The scale-out example's orchestrator (Dagster + dagster-meltano), kept out of `make demo`.
$(ORCH_VENV)/.installed: orchestrate/requirements.txt
	$(CHECK_VENV)
	$(PYTHON) -m venv $(ORCH_VENV)
	$(ORCH_VENV)/bin/pip install --quiet --upgrade pip
	$(ORCH_VENV)/bin/pip install --quiet -r orchestrate/requirements.txt
	touch $@

orchestrate-install: $(ORCH_VENV)/.installed

# Every shard job of meltano.yml at once under Dagster, each retried on failure
# (docs/SCALE_OUT.md); the site and warehouse come from TAP_ATLASSIAN_* / TARGET_POSTGRES_*.
orchestrate: orchestrate-install meltano
	mkdir -p "$${DAGSTER_HOME:-$(CURDIR)/.dagster}"
	PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" DAGSTER_HOME="$${DAGSTER_HOME:-$(CURDIR)/.dagster}" \
		$(ORCH_VENV)/bin/dagster job execute -f orchestrate/definitions.py -j atlassian_shards

# The README's first command: a fake Atlassian site -> meltano run -> output/atlassian.duckdb.
demo: install meltano
	$(BIN)/python -m demo

# Style and types of the package (pyproject.toml: [tool.ruff], [tool.mypy]); `make test` runs it first.
lint: install
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

# The whole test suite (what .ci/run calls), after the lint.
test: lint meltano orchestrate-install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Throughput and memory of the jira_issues sync against a bare requests+orjson loop.
bench: install
	$(BIN)/python -m benchmarks.throughput --memory-check $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(MELTANO_VENV) $(ORCH_VENV) .dagster .meltano output .pytest_cache build *.egg-info

# Rewrite what follows from the settings' one declaration (tap_atlassian/config.py): the
# README's settings table (`tap-atlassian --about --format=markdown`) and meltano.yml's
# settings; then the Meltano Hub plugin definitions in plugins/ from meltano.yml.
readme: install
	$(BIN)/python -m tests.test_docs_readme
	$(BIN)/python -m tests.test_docs_meltano
	$(BIN)/python -m tests.test_docs_plugins

plugins: install
	$(BIN)/python -m tests.test_docs_plugins
