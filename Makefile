# tap-atlassian: the two commands of the README are `make demo` and `make test`.
# Everything either needs is installed by these targets into .venv (and, for the
# Meltano runs, into Meltano's own plugin environments); nothing is assumed on the machine
# but Python 3.10+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install test demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The whole test suite (what .ci/run calls).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
