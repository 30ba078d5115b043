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
HOST_PY    = $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
HOST_ARCH  = $(shell $(BIN)/python -c 'from local_emulator.artifacts import host_arch; print(host_arch())')

.PHONY: install local test lint format bench images package clean checkov

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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
	$(BIN)/mypy

test: install lint checkov
	$(BIN)/python -m pytest -q

# checkov over infra/terraform, in a venv of its own (its pins must not move .venv's),
# offline: no API key, no update check, nothing downloaded (infra/terraform/.checkov.yaml
# holds the options and every skipped check with its reason)
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q 'checkov==3.3.30'

checkov: $(CHECKOV)
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=true $(CHECKOV) --config-file infra/terraform/.checkov.yaml

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
	rm -rf $(VENV) .venv-checkov .data .pytest_cache .ruff_cache
