# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest proto bench bench-cpsat clean

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
	$(BIN)/python scripts/check_layers.py

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests compile numba's kernels into the checkout (photond.kernel_cache), not a warm cache in
# the home directory: a run from a fresh clone pays the cold compile a fresh machine would.
# Two workers (pytest-xdist), a test module each at a time (its daemon fixture is per module);
# TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2
pytest: $(STAMP)
	NUMBA_CACHE_DIR=$(CURDIR)/.cache/numba $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

proto: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

bench: $(STAMP)
	$(BIN)/python benchmarks/rpc_latency.py

# The optimiser side by side with OR-Tools CP-SAT on the shared PSPLIB and STG sets. OR-Tools
# pins protobuf < 6.34 while photond's generated wire code needs >= 7.35, so one environment
# cannot hold both: CP-SAT runs from its own venv, with photond installed without its
# dependencies (the optimiser and its benchmark never import the wire code).
CPSAT_VENV := .venv-cpsat
SHARED := ../shared/benchmarks
$(CPSAT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(CPSAT_VENV)
	$(CPSAT_VENV)/bin/pip install --quiet ortools 'numba>=0.60' scipy pyserial grpcio \
		grpcio-status 'protobuf<6.34'
	$(CPSAT_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

bench-cpsat: $(CPSAT_VENV)/.installed
	$(CPSAT_VENV)/bin/python benchmarks/scheduling_quality.py --vs-cpsat --time-limit 1 \
		--psplib '$(SHARED)/psplib/j30/*.sm' --opt $(SHARED)/psplib/j30opt.sm \
		--json benchmarks/results/scheduling_quality_j30.json
	$(CPSAT_VENV)/bin/python benchmarks/scheduling_quality.py --vs-cpsat --time-limit 1 \
		--psplib '$(SHARED)/psplib/j60/*.sm' --opt $(SHARED)/psplib/j60hrs.sm \
		--json benchmarks/results/scheduling_quality_j60.json
	$(CPSAT_VENV)/bin/python benchmarks/scheduling_quality.py --vs-cpsat --time-limit 1 \
		--stg '$(SHARED)/stg/50/*.stg' --opt-dir $(SHARED)/stg/opt --procs 2 4 8 16 \
		--json benchmarks/results/scheduling_quality_stg50.json

clean:
	rm -rf $(VENV) $(CPSAT_VENV) run .cache .pytest_cache .mypy_cache .ruff_cache
