# yuebao — two commands for a newcomer: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-any-date install lint typecheck imports pytest system-deps bench bench-full \
	messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)
	$(BIN)/python -m webapp.i18n

## make run: migrate, create the first admin, load the sample content, start web + worker.
run: install
	$(BIN)/yuebao db upgrade
	$(BIN)/yuebao users ensure-admin
	$(BIN)/yuebao demo load
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

## make test: install what the tests need (Python packages, Chromium, CJK fonts,
## PostgreSQL), check style, types and layering, run the whole suite on SQLite and PostgreSQL.
test: install system-deps lint typecheck imports pytest

system-deps:
	@bash .ci/system-deps

# bandit: every finding in the product is fixed or reviewed and marked on its line
# `# nosec BXXX: reason`; bandit warns about each word of a reason, so those warnings are dropped.
lint: install
	$(BIN)/ruff check webapp emails tests
	$(BIN)/bandit --quiet --recursive webapp emails 2> >(grep -v 'is not a test name or id' >&2)

typecheck: install
	$(BIN)/mypy

# The layering of DESIGN.md (contracts in pyproject.toml).
imports: install
	$(BIN)/lint-imports --no-cache

# Two workers (pytest-xdist), each with its own PostgreSQL server, SQLite template and Chromium:
# while one test waits on a paced send, a worker process or a browser, the other runs. Work
# goes to whichever worker is free (worksteal), so the long tests do not end up queued behind
# each other. --durations still names the slowest tests of both.
pytest: install
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

## make test-any-date: the SQLite suite without browsers or servers, with the clock a year ahead,
## so no test depends on today's date (libfaketime; monotonic time left alone for threads).
test-any-date: install system-deps
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '+400d' \
		$(BIN)/python -m pytest -p no:cacheprovider -m "not browser and not servers" -k "not postgresql"

## make bench: the benchmark on 20,000 readers (about a minute); make bench-full: 1,000,000 readers
## on a throwaway PostgreSQL (~10 minutes on two quiet cores). Options pass through: make bench ARGS="--json".
bench: install
	@$(BIN)/python -m tests.tools.bench --quick $(ARGS)

bench-full: install system-deps
	@$(BIN)/python -m tests.tools.bench --full --postgres $(ARGS)

## make messages: refresh the zh-CN catalogue after adding or changing UI text, and compile it
## (messages.mo is committed, so a plain `pip install .` serves Chinese).
messages: install
	$(BIN)/pybabel extract -F webapp/translations/babel.cfg -k _l -k lazy_gettext \
		--no-location --sort-output --project yuebao -o /tmp/yuebao-messages.pot .
	$(BIN)/pybabel update -i /tmp/yuebao-messages.pot -d webapp/translations -l zh \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date --width 100
	$(BIN)/python -m webapp.i18n

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
