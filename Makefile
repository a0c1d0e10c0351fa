# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest proto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/photond

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests compile numba's kernels into the checkout (photond.kernel_cache), not a warm cache in
# the home directory: a run from a fresh clone pays the cold compile a fresh machine would.
pytest: $(STAMP)
	NUMBA_CACHE_DIR=$(CURDIR)/.cache/numba $(BIN)/pytest -q

proto: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

bench: $(STAMP)
	$(BIN)/python benchmarks/rpc_latency.py

clean:
	rm -rf $(VENV) run .cache .pytest_cache .mypy_cache .ruff_cache
