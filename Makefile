# The two commands people need: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.possim-installed

.PHONY: demo test lint typecheck imports check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# The PC/SC stack is optional: without swig/libpcsclite-dev the PC/SC tests skip.
	$(BIN)/python -m pip install --quiet -e '.[dev,pcsc]' \
		|| echo "possim: pyscard not built (needs swig, libpcsclite-dev); PC/SC tests will be skipped"
	touch $(STAMP)

# python-emv's emvtool (PyPI: emv), an outside EMV client that tests/test_pcsc_clients.py
# runs against possim's cards through pcscd. In a venv of its own: emv 1.0.14 pins
# pyscard==2.0.0 and click==7.1.2, which the dev tools (schemathesis: click 8) cannot share.
EMVTOOL := $(VENV)/emvtool/bin/emvtool
$(EMVTOOL):
	$(PYTHON) -m venv $(VENV)/emvtool
	$(VENV)/emvtool/bin/python -m pip install --quiet 'emv==1.0.14' \
		|| echo "possim: emvtool not built (needs swig, libpcsclite-dev); its tests will be skipped"

demo: $(STAMP)
	$(BIN)/possim demo

test: $(STAMP) $(EMVTOOL)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The layers declared in pyproject.toml's [tool.importlinter] (drivers never import the simulator ...).
imports: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck imports test

bench: $(STAMP)
	$(BIN)/possim bench purchase

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache possim-runs
