# Two entry points: `make demo` (the main job) and `make test` (the test suite; `make
# test-fast` is its development tier, without the tests marked slow).
# Both create ./.venv on first use and install what they need into it.
# To use a CUDA build of torch, install it into the environment first, e.g.
#   python3 -m venv .venv && .venv/bin/pip install torch   (the CUDA wheel)
# and `make` keeps it; or point VENV at an existing environment: make demo VENV=~/envs/gpu

VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH_CPU_VERSION ?= 2.13.0
STAMP := $(VENV)/.skaudio-installed

.PHONY: demo test test-fast test-slow test-durations docs lint format clean

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==$(TORCH_CPU_VERSION)"
	$(PYTHON) -m pip install -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PYTHON) examples/demo.py

test: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest

# the development tier: every test not marked slow (multi-process, SIGKILL, dask, gallery,
# quality checks, fits that take seconds); `make test` (CI) runs both tiers
test-fast: $(STAMP)
	$(PYTHON) -m pytest -m "not slow"

test-slow: $(STAMP)
	$(PYTHON) -m pytest -m slow

# the fast tier, failing any test not marked slow whose setup or call takes over 5 s
test-durations: $(STAMP)
	SKAUDIO_CHECK_DURATIONS=1 $(PYTHON) -m pytest -m "not slow" --durations=30

# the API reference, user guide and example gallery (every example is executed), warnings as errors
docs: $(STAMP)
	$(PYTHON) -m pip install -e ".[docs]"
	MPLBACKEND=Agg $(PYTHON) -m sphinx -W --keep-going -b html doc doc/_build/html

lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format: $(STAMP)
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info doc/_build doc/generated doc/auto_examples
