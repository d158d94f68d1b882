# hitprep: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo-output
# pins for this machine and CI (the CPU torch wheel); users of `pip install hitprep` get none
PIP_INSTALL := $(PY) -m pip install -q -c constraints.txt

.PHONY: demo test test-plain install install-test install-docs docs dist-check lint typecheck clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PIP_INSTALL) -e '.[data,ml]'

install-test: $(PY)
	$(PIP_INSTALL) -e '.[test]'

install-docs: $(PY)
	$(PIP_INSTALL) -e '.[docs]'

# the documentation site: its build hooks type-checked here, where mkdocs is installed, then
# built strict (a broken link or a reference that moved fails the build)
docs: install-docs
	$(VENV)/bin/mypy docs/hooks
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

# the sdist and wheel build, pass twine's checks, and the wheel alone installs into a fresh
# venv and runs (what `pip install hitprep` gives a user)
dist-check: $(PY)
	$(PIP_INSTALL) -e '.[release]'
	rm -rf dist build/wheel-venv
	mkdir -p build
	$(PY) -m build --sdist --wheel --outdir dist . > build/dist.log || (cat build/dist.log; exit 1)
	$(VENV)/bin/twine check --strict dist/*
	$(PYTHON) -m venv build/wheel-venv
	build/wheel-venv/bin/python -m pip install -q -c constraints.txt dist/*.whl
	cd build && wheel-venv/bin/hitprep --help > /dev/null && wheel-venv/bin/hitprep presets
	cd build && wheel-venv/bin/hitprep toy ldmx -n 5 -o wheel-venv/toy.root --overwrite

demo: install
	$(PY) -m hitprep.demo $(DEMO_DIR)

lint: install-test
	$(VENV)/bin/ruff check src tests benchmarks docs/hooks
	$(VENV)/bin/ruff format --check src tests benchmarks docs/hooks

typecheck: install-test
	$(VENV)/bin/mypy

test: install-test lint typecheck
	$(PY) -m pytest

# the readers, writers, tools and runners again with every fast path off (hitprep.fastpaths):
# plain h5py / uproot, the reference the fast paths must equal
test-plain: install-test
	HITPREP_FAST_PATHS=0 $(PY) -m pytest -q tests/sources tests/sinks tests/tools tests/runners tests/test_fastpaths.py

clean:
	rm -rf $(DEMO_DIR) build dist src/*.egg-info
