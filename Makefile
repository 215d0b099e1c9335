# Two commands set up a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install catalogs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Applies the migrations, then serves Telegram by long polling (SQLite by default);
# without BOT_TOKEN, the sandbox: Toile in a browser on 127.0.0.1:8080, its own database.
run: $(STAMP)
	$(BIN)/toile run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Benchmarks print their figures; see README's Performance table.
bench: $(STAMP)
	$(BIN)/python bench/import.py
	$(BIN)/python bench/bad_csv.py
	$(BIN)/python bench/assign.py
	$(BIN)/python bench/updates.py
	$(BIN)/python bench/updates_floor.py
	$(BIN)/python bench/wall.py
	$(BIN)/python bench/dispatch_cpu.py
	$(BIN)/python bench/proxies.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/broadcast.py

# Refresh locales/*.po after changing user-facing text.
catalogs: $(STAMP)
	$(BIN)/python locales/update_catalogs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
