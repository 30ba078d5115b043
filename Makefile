# One command each: `make local` runs everything on this machine, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
STORE  ?= file

.PHONY: install local test lint format bench images clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

local: install
	@$(BIN)/python sandbox_images/build.py -q || echo "warning: no sandbox images (Docker unavailable): agents run, code tools answer with an error"
	$(BIN)/python -m local_emulator --store $(STORE)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/python -m pytest -q

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# sandbox images (starts/installs Docker and makes the local base image when needed)
images: install
	$(BIN)/python sandbox_images/build.py

bench: install
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/process_load.py
	$(BIN)/python benchmarks/store_bench.py
	$(BIN)/python benchmarks/sandbox_bench.py

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
