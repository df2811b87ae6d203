# Two commands on a fresh machine:
#   make setup tour        install, then run the main job (prints the run folder; open its report.html)
#   make test-setup test   install with the test tools (Chromium included), then run the test suite
PYTHON ?= python
PIP ?= $(PYTHON) -m pip
# A CPU-only machine whose package index would hand out a CUDA build of torch can point this at
# https://download.pytorch.org/whl/cpu; a GPU machine keeps the torch it has (setup never replaces it).
TORCH_INDEX ?=
TORCH_VERSION ?= 2.13.0
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_ENV = HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False

.PHONY: setup test-setup test test-slow test-gpu tour smoke demo lint format bench toy-train toy-eval

setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || \
		$(PIP) install "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -e ".[dev]"
	$(PIP) install --no-deps lpips

test-setup: setup
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test:
	$(TEST_ENV) $(PYTHON) -m pytest -m "not slow and not gpu"

test-slow:
	$(TEST_ENV) $(PYTHON) -m pytest -m "slow"

test-gpu:
	$(TEST_ENV) $(PYTHON) -m pytest -m "gpu"

tour:
	workbench run examples/tour.yaml

smoke:
	workbench run examples/smoke.yaml

demo:
	workbench demo

lint:
	ruff check .
	ruff format --check .

format:
	ruff check --fix .
	ruff format .

bench:
	@set -e; for script in benchmarks/bench_*.py; do echo "== $$script"; $(PYTHON) $$script; done

# The toy models: resumable training (checkpoints in ~/.cache/workbench/toy-train), then evaluation.
TOY_MINUTES ?= 60
toy-train:
	workbench toy train all --minutes $(TOY_MINUTES)

toy-eval:
	workbench toy eval --json
