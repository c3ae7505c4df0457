# Entry points named in the README. Each sets up what it needs the first time.
VENV ?= $(or $(MMCONVNEXT_VENV),.venv)
PY := $(VENV)/bin/python

.PHONY: install peers test demo demo-det bench lint format

install:  ## create .venv with the pinned stack (idempotent; ~10 min the very first time)
	@MMCONVNEXT_VENV=$(abspath $(VENV)) bash tools/setup_env.sh

peers: install  ## timm + mmpretrain (requirements-peers.txt) into .peers, for the parity tests and benchmarks
	@bash tools/peers/install.sh .peers $(PY) \
	  || { rm -rf .peers; echo "[peers] could not be installed (see above): the parity tests will skip"; }

LINTED := mmconvnext tools tests configs setup.py

test: install peers  ## lint (ruff check + format check), then the whole test suite
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) -m pytest -n auto --dist worksteal tests

demo: install  ## classification pretraining -> UperNet from those weights vs from scratch, on generated shapes
	$(PY) tools/demo.py

demo-det: install  ## the same for Mask R-CNN (reuses the cached pretraining)
	$(PY) tools/demo.py --task det

bench: install peers  ## speed vs timm/mmpretrain and the matmul bound, training steps and memory (docs/benchmarks.md)
	PYTHONPATH=.peers:tools/peers/stub $(PY) tools/analysis/benchmark.py --whole-model

lint: install  ## ruff (version pinned in requirements-dev.txt): lint rules and formatting
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

format: install  ## apply ruff's formatting and safe lint fixes
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/ruff check --fix $(LINTED)
