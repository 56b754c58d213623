# One entry point for students, instructors and CI. Every target creates the
# virtual environment in .venv on first use, so each works on a fresh machine.
#   make lab       install, then launch JupyterLab on the course
#   make test      install, then lint and run every test
#   make release   regenerate release/ from source/ (byte-stable)
#   make bench     time and measure every module
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch; on Linux elsewhere, set TORCH_INDEX to PyTorch's CPU wheel index.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install lab test release bench lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -e ".[lab,dev]"
	touch $@

install: $(BIN)/.installed

lab: install
	$(BIN)/jupyter lab --notebook-dir=. release/01-judging-vs-creating/01-judging-vs-creating.ipynb

lint: install
	$(BIN)/ruff check genlab tests bench nbgrader_config.py
	$(BIN)/ruff format --check genlab tests bench nbgrader_config.py

test: lint
	$(BIN)/python -m pytest

release: install
	$(BIN)/nbgrader generate_assignment "*" --force --log-level=WARN

bench: install
	$(BIN)/python bench/run.py
