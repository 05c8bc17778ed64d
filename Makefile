# Two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create ./.venv on first use and install what they need into it.
# To use a CUDA build of torch, install it into the environment first, e.g.
#   python3 -m venv .venv && .venv/bin/pip install torch   (the CUDA wheel)
# and `make` keeps it; or point VENV at an existing environment: make demo VENV=~/envs/gpu

VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH_CPU_VERSION ?= 2.13.0
STAMP := $(VENV)/.skaudio-installed

.PHONY: demo test docs lint format clean

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
