# The two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# Locks (docs/proof.md, "Reproducible installs"): requirements.txt is what `pulumi up`
# installs for the program; locks/dev.txt is everything tests, demo and bench run on.
PROGRAM_LOCK := requirements.txt
DEV_LOCK     := locks/dev.txt
UV_COMPILE   := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.10 \
                --generate-hashes --custom-compile-command "make lock" \
                -c locks/constraints.txt

.PHONY: install demo test lint typecheck unit bench clean lock lock-upgrade test-latest snapshots

install: $(STAMP) $(NODE_STAMP)

# Exact versions with hashes, nothing resolved at install time; the project itself is
# installed last without dependencies, so only the lock decides what is present.
$(STAMP): $(DEV_LOCK) locks/build.in pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

# Regenerate both locks from pyproject.toml, keeping every pin that still fits;
# `make lock-upgrade` moves every pin to the newest release the ranges allow.
lock: $(STAMP)
	$(UV_COMPILE) $(UV_FLAGS) pyproject.toml --extra program -o $(PROGRAM_LOCK)
	$(UV_COMPILE) $(UV_FLAGS) pyproject.toml locks/build.in --extra dev \
	    -c $(PROGRAM_LOCK) -o $(DEV_LOCK)

lock-upgrade:
	$(MAKE) lock UV_FLAGS=--upgrade

# The newest versions pyproject.toml's ranges allow, in a separate environment: a
# breaking upstream release shows up here (and in the scheduled workflow) first.
LATEST := .venv-latest
test-latest: $(NODE_STAMP)
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]"
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	# Every test but the one that checks .venv against the lock (this is not .venv).
	PYTHONPATH=. $(LATEST)/bin/python -m pytest -n 2 \
	    --deselect tests/test_locks.py::test_the_installed_environment_is_the_dev_lock

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

demo: $(STAMP)
	PYTHONPATH=. $(PY) scripts/demo.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/actionlint .github/workflows/*.yml

typecheck: install
	$(VENV)/bin/mypy components/table_exporter program emulator

unit: install
	PYTHONPATH=. $(PY) -m pytest -n 2  # two workers: the machines here have two cores

test: lint typecheck unit

# What the package deploys, rendered for fixed configurations (tests/test_snapshots.py).
snapshots: $(STAMP)
	PYTHONPATH=. $(PY) scripts/snapshot.py

bench: $(STAMP)
	PYTHONPATH=. $(PY) scripts/bench.py

clean:
	rm -rf $(VENV) .venv-latest node_modules .pytest_cache .mypy_cache .ruff_cache
