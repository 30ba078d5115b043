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
# `make test TEST_WORKERS=N`: pytest's worker processes (pytest-xdist); much of the suite
# waits on servers, containers and leases rather than computing. A test file runs whole on
# one worker (its module fixtures are shared). On 2 cores, 3 workers were a few minutes
# quicker but loaded the machine enough to push browser and emulator waits past their limits
TEST_WORKERS ?= 2
# `make local TRACES=1`: every function sends its traces to the viewer `make traces` runs
TRACES ?=
TRACES_URL ?= http://127.0.0.1:6006
OTEL_ENV = $(if $(TRACES),OTEL_EXPORTER_OTLP_ENDPOINT=$(TRACES_URL) )
# agentscope 1.x (the seed's example) cannot share .venv with agentscope 2.x: its own venv
VENV1  := .venv-agentscope1
STAMP1 := $(VENV1)/.installed-agentscope1

.PHONY: install agentscope1 local test lint format bench images package clean checkov traces traces-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# every function (the emulator runs here too) and the test runner with agentscope 1.x;
# tests/agentscope run the 1.x suite (tests/agentscope1) and the seed's example in it. Not
# the sandbox extra: its mcp 2.x (the sandbox function's MCP routes) cannot share an
# environment with 1.x's mcp<2; the function's other dependencies come with query
# after .venv's (an order, not a reason to rebuild): both install this checkout editable,
# and two setuptools runs at once would write its .egg-info side by side
$(STAMP1): pyproject.toml | $(STAMP)
	test -x $(VENV1)/bin/python || $(PYTHON) -m venv $(VENV1)
	$(VENV1)/bin/python -m pip install -q --upgrade pip
	$(VENV1)/bin/python -m pip install -q -e '.[query,state,docker,serve,agentscope1,test]'
	touch $(STAMP1)

agentscope1: $(STAMP1)

# the command line's `local`: images (step lines), [the zips,] then python -m local_emulator
local: install
	$(OTEL_ENV)$(BIN)/agentscope-faas local --store $(STORE) $(if $(SANDBOX_BACKEND),--sandbox-backend $(SANDBOX_BACKEND)) $(if $(ARTIFACTS),--artifacts --platform $(PLATFORM))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# checkov's virtualenv installs beside the other two, then lint and checkov run side by side
test:
	$(MAKE) --jobs=3 --output-sync=target install agentscope1 $(CHECKOV)
	$(MAKE) --jobs=2 --output-sync=target lint checkov
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30

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

# the local trace viewer: Arize Phoenix from PyPI, in a venv of its own (its pins must not move
# .venv's), on 127.0.0.1:6006 (web UI and OTLP/HTTP), offline; see local_emulator/trace_viewer.py
VIEWER := .venv-traces/bin/phoenix
$(VIEWER):
	$(PYTHON) -m venv .venv-traces
	.venv-traces/bin/python -m pip install -q 'arize-phoenix==20.26.1'

traces: $(VIEWER)
	.venv-traces/bin/python local_emulator/trace_viewer.py

# the documented check: a turn's trace (query, sandbox function, tool server) reaches the viewer
traces-check: install $(VIEWER)
	$(BIN)/python sandbox_images/build.py -q
	$(BIN)/python -m local_emulator.trace_check $(if $(SCREENSHOT),--screenshot $(SCREENSHOT))

# one zip per function and platform + dist/manifest.json, for Terraform (and ARTIFACTS=1)
package: install
	$(BIN)/python packaging/build.py

# sandbox images (starts/installs Docker and makes the local base image when needed)
images: install
	$(BIN)/python sandbox_images/build.py

bench: install
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/process_load.py
	$(BIN)/python benchmarks/stop_latency.py
	$(BIN)/python benchmarks/store_bench.py
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/message_build.py
	$(BIN)/python benchmarks/package_report.py
	$(BIN)/python benchmarks/relay_latency.py

clean:
	rm -rf $(VENV) $(VENV1) .venv-checkov .venv-traces .data .pytest_cache .ruff_cache
