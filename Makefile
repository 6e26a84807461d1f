# The two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install demo test lint typecheck unit bench clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

demo: $(STAMP)
	PYTHONPATH=. $(PY) scripts/demo.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/actionlint .github/workflows/*.yml

typecheck: install
	$(VENV)/bin/mypy components/table_exporter program

unit: install
	PYTHONPATH=. $(PY) -m pytest -n 2  # two workers: the machines here have two cores

test: lint typecheck unit

bench: $(STAMP)
	PYTHONPATH=. $(PY) scripts/bench.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
