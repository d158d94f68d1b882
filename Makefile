# hitprep: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo-output

.PHONY: demo test install install-test lint typecheck clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e '.[data,ml]'

install-test: $(PY)
	$(PY) -m pip install -q -e '.[test]'

demo: install
	$(PY) -m hitprep.demo $(DEMO_DIR)

lint: install-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: install-test
	$(VENV)/bin/mypy

test: install-test lint typecheck
	$(PY) -m pytest

clean:
	rm -rf $(DEMO_DIR) build dist src/*.egg-info
