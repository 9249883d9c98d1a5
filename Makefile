# Set-up and everyday commands. `make run` serves; `make test` runs lint, types and the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
# `make bench BACKEND=scaled` times the PUTs on PostgreSQL and the S3 test server.
BACKEND ?= folder

.PHONY: run token test lint types unit bench clean

# What set-up is doing goes to stderr, so that `make -s token` prints the token alone.
$(BIN)/python:
	@echo "make: creating the virtual environment $(VENV) with $(PYTHON)" >&2
	$(PYTHON) -m venv $(VENV)
	@echo "make: upgrading pip in $(VENV)" >&2
	$(BIN)/python -m pip install --quiet --upgrade pip >&2

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "make: installing product-media and its dependencies into $(VENV) (a minute or two)" >&2
	$(BIN)/python -m pip install --quiet -e . >&2
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "make: installing product-media with the test tools into $(VENV) (a few minutes)" >&2
	$(BIN)/python -m pip install --quiet -e '.[dev]' >&2
	@touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/product-media serve --demo --data $(DATA)

# A fresh token for the demo store, alone on stdout: export TOKEN=$$(make -s token)
token: $(VENV)/.installed
	@$(BIN)/product-media tokens create --demo --data $(DATA)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q -n auto --dist worksteal

test: lint types unit

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/media_update.py --backend $(BACKEND) --growth 1,10,20,50,100
	$(BIN)/python bench/ingest_memory.py
	$(BIN)/python bench/hostile_memory.py
	$(BIN)/python bench/decode_estimates.py
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/event_loop.py
	$(BIN)/python bench/video_ingest.py
	$(BIN)/python bench/reads.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
