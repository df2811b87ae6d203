# Two commands on a fresh machine with only python3:
#   make setup tour        create .venv, install, then run the main job (prints the run folder; open its report.html)
#   make test-setup test   the same with the test tools (Chromium included), then run the test suite
# Every target uses the project's virtual environment: an active one ($VIRTUAL_ENV) if there is one,
# else .venv in this folder, created on first use. Activate it for the README's other commands with
#   . .venv/bin/activate
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
PIP := $(PYTHON) -m pip
# A CPU-only machine whose package index would hand out a CUDA build of torch can point this at
# https://download.pytorch.org/whl/cpu; a GPU machine keeps the torch it has (setup never replaces it).
TORCH_INDEX ?=
TORCH_VERSION ?= 2.13.0
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_ENV = HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False

.PHONY: setup test-setup test test-slow test-gpu test-real-size tour smoke demo lint format bench toy-train toy-eval

$(PYTHON):
	python3 -m venv $(VENV)

setup: $(PYTHON)
	@$(PYTHON) -c "import torch" 2>/dev/null || \
		$(PIP) install "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -e ".[dev]"
	$(PIP) install --no-deps lpips

test-setup: setup
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test:
	$(TEST_ENV) $(PYTHON) -m pytest -m "not slow and not gpu and not real_size"

test-slow:
	$(TEST_ENV) $(PYTHON) -m pytest -m "slow"

test-gpu:
	$(TEST_ENV) $(PYTHON) -m pytest -m "gpu"

# Every module at real size on the CPU (random weights; about 12 GB of model folders, kept in
# REAL_SIZE_MODELS when set); -s prints each module's seconds per step and peak memory.
test-real-size:
	$(TEST_ENV) $(PYTHON) -m pytest -m real_size -s tests/real_size

tour:
	$(BIN)/workbench run examples/tour.yaml

smoke:
	$(BIN)/workbench run examples/smoke.yaml

demo:
	$(BIN)/workbench demo

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench:
	@set -e; for script in benchmarks/bench_*.py; do echo "== $$script"; $(PYTHON) $$script; done

# The toy models: resumable training (checkpoints in ~/.cache/workbench/toy-train), then evaluation.
TOY_MINUTES ?= 60
toy-train:
	$(BIN)/workbench toy train all --minutes $(TOY_MINUTES)

toy-eval:
	$(BIN)/workbench toy eval --json
