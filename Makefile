# One command each: `make local` runs everything on this machine, `make test` tests it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
STORE  ?= file
# `make local ARTIFACTS=1 [PLATFORM=aws|fc]`: run the packaged zips instead of this checkout
ARTIFACTS ?=
PLATFORM  ?= aws
# `make local SANDBOX_BACKEND=fc|agentrun`: sandboxes through that cloud's emulated API
SANDBOX_BACKEND ?=
# agentscope 1.x (the seed's example) cannot share .venv with agentscope 2.x: its own venv
VENV1  := .venv-agentscope1
STAMP1 := $(VENV1)/.installed-agentscope1
HOST_PY    = $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
HOST_ARCH  = $(shell $(BIN)/python -c 'from local_emulator.artifacts import host_arch; print(host_arch())')

.PHONY: install agentscope1 local test lint format bench images package clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# every function (the emulator runs here too) and the test runner with agentscope 1.x;
# tests/agentscope run the 1.x suite (tests/agentscope1) and the seed's example in it
$(STAMP1): pyproject.toml
	test -x $(VENV1)/bin/python || $(PYTHON) -m venv $(VENV1)
	$(VENV1)/bin/python -m pip install -q --upgrade pip
	$(VENV1)/bin/python -m pip install -q -e '.[query,state,sandbox,docker,serve,agentscope1,test]'
	touch $(STAMP1)

agentscope1: $(STAMP1)

local: install
	@$(BIN)/python sandbox_images/build.py -q || echo "warning: no sandbox images (Docker unavailable): agents run, code tools answer with an error"
ifeq ($(ARTIFACTS),)
	$(BIN)/python -m local_emulator --store $(STORE) $(if $(SANDBOX_BACKEND),--sandbox-backend $(SANDBOX_BACKEND))
else
	$(BIN)/python packaging/build.py --targets $(PLATFORM) --python $(HOST_PY) --arch $(HOST_ARCH) --out .data/dist -q
	$(BIN)/python -m local_emulator --store $(STORE) --artifacts .data/dist/manifest.json --platform $(PLATFORM)
endif

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install agentscope1 lint
	$(BIN)/python -m pytest -q

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# one zip per function and platform + dist/manifest.json, for Terraform (and ARTIFACTS=1)
package: install
	$(BIN)/python packaging/build.py

# sandbox images (starts/installs Docker and makes the local base image when needed)
images: install
	$(BIN)/python sandbox_images/build.py

bench: install
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/process_load.py
	$(BIN)/python benchmarks/store_bench.py
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/package_report.py

clean:
	rm -rf $(VENV) $(VENV1) .data .pytest_cache .ruff_cache
