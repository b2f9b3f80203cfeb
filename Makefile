# floorledger — the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: the main job on the embedded SQLite store
run: $(STAMP)
	$(BIN)/floorledger run

## test: ruff, mypy (strict on domain/), then the whole suite
test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy domain projections adapters api

unit: $(STAMP)
	$(BIN)/pytest tests/unit

## screenshots: regenerate docs/images/*.png from the browser tests (Debian's chromium)
screenshots: $(STAMP)
	FLOORLEDGER_SCREENSHOTS=docs/images $(BIN)/pytest tests/browser -k sqlite -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/ledger_write.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
