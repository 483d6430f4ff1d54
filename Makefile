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

# The npm ESC/POS encoders the printer is tested against (tests/clients/npm), where npm is;
# without it their tests skip (and fail under POSSIM_REQUIRE_SYSTEM=1).
NPM_CLIENTS := tests/clients/npm/node_modules/.package-lock.json
$(NPM_CLIENTS): tests/clients/npm/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/clients/npm --no-audit --no-fund --silent \
		|| echo "possim: npm clients not installed; their tests will be skipped"; \
	else echo "possim: no npm here; the npm-client tests will be skipped"; fi

# The npm WeChat Pay SDK possim's WeChat Pay simulator is tested against (tests/clients/npm-wechat).
NPM_WECHAT := tests/clients/npm-wechat/node_modules/.package-lock.json
$(NPM_WECHAT): tests/clients/npm-wechat/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/clients/npm-wechat --no-audit --no-fund --silent \
		|| echo "possim: the npm WeChat Pay client not installed; its test will be skipped"; \
	else echo "possim: no npm here; the npm-client tests will be skipped"; fi

# The suite on every core (pytest-xdist); tests sharing a session set-up stay on one
# worker (xdist_group). `make test WORKERS=0` runs it in one process.
WORKERS ?= auto
test: $(STAMP) $(EMVTOOL) $(NPM_CLIENTS) $(NPM_WECHAT)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

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
