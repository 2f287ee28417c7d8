# Two commands do all set-up: `make demo` and `make test`. Both create .venv when it is missing
# and (re)install the package whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= demo-report

.PHONY: demo test lint clean

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

test: .stamp-dev
	$(BIN)/python -m pytest

lint: .stamp-dev
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) .stamp-base .stamp-dev
