# The two README commands: `make demo` (install + main job) and `make test`
# (install + test suite). Both create .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first: on these machines this pin resolves to the CPU wheel; the
# project itself only asks for torch>=2.2, which it then satisfies.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
# pytest-xdist workers: CI and these machines have 2 cores.
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"

demo: install
	$(BIN)/python -m skalign

test: install
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

lint: install
	$(BIN)/ruff check skalign tests benchmarks examples
	$(BIN)/ruff format --check skalign tests benchmarks examples

bench: install
	$(BIN)/python benchmarks/bench_ot_core.py

docs: install
	$(BIN)/python -m pip install -e ".[docs]"
	$(BIN)/python -m sphinx -W -b html doc doc/_build/html

clean:
	rm -rf $(VENV) build dist *.egg-info doc/_build
