# The two commands people need: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.possim-installed

.PHONY: demo test lint typecheck check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# The PC/SC stack is optional: without swig/libpcsclite-dev the PC/SC tests skip.
	$(BIN)/python -m pip install --quiet -e '.[dev,pcsc]' \
		|| echo "possim: pyscard not built (needs swig, libpcsclite-dev); PC/SC tests will be skipped"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/possim demo

# The suite on every core (pytest-xdist); tests sharing a session set-up stay on one
# worker (xdist_group). `make test WORKERS=0` runs it in one process.
WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/possim bench purchase

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache possim-runs
