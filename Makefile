# Two commands do all set-up: `make demo` and `make test`. Both create .venv when it is missing
# and (re)install the package whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= demo-report
# pytest-xdist workers for `make test` (the machine has 2 cores); JOBS=0 runs in one process.
JOBS ?= 2
# Seconds per module of `make mutation`; 0 = no limit: every mutant is run (see benchmarks/MUTATION.md for the time).
MUTATION_BUDGET ?= 0
SPHINX := $(BIN)/python -m sphinx -W --keep-going -E -q -j $(or $(filter-out 0,$(JOBS)),1) -b html docs docs/_build/html

.PHONY: demo test lint docs clean mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

.stamp-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@ .stamp-base

demo: .stamp-base
	$(BIN)/salesplan demo --out $(OUT)

# The whole suite (notebooks, wheel install test and docs examples included), then the documentation site
# from the notebooks the suite just executed (tests/test_notebooks.py writes them to docs/examples/).
test: .stamp-dev
	$(BIN)/python -m pytest $(if $(filter-out 0,$(JOBS)),-n $(JOBS) --dist loadgroup)
	$(SPHINX)

# The documentation site in docs/_build/html, warnings as errors, offline. Notebooks are executed (by their tests;
# the control-report notebook on the installed wheel) only when docs/examples/ lacks a copy of the current one.
docs: .stamp-dev
	$(BIN)/python docs/_ext/salesplan_docs.py --check-notebooks || \
	  $(BIN)/python -m pytest -q -p no:cacheprovider $(if $(filter-out 0,$(JOBS)),-n $(JOBS)) tests/test_notebooks.py \
	    tests/test_packaging.py::test_control_report_notebook_runs_on_the_installed_wheel
	$(SPHINX)
	@echo "docs: file://$(CURDIR)/docs/_build/html/index.html"

lint: .stamp-dev
	$(BIN)/ruff check src tests benchmarks scripts docs
	$(BIN)/mypy

# Mutation testing of the numeric core, one module at a time against its own tests (about 1,400 CPU seconds:
# 12-24 minutes on 2 idle cores; not part of `make test` or CI). Scores: build/mutation/scores.md; recorded ones: benchmarks/MUTATION.md.
mutation: .stamp-dev
	$(BIN)/python -m pip install --quiet -e ".[dev,mutation]"
	$(BIN)/python benchmarks/mutation.py --budget $(MUTATION_BUDGET) $(MODULES)

clean:
	rm -rf $(VENV) .stamp-base .stamp-dev docs/_build docs/examples docs/reference/generated
