# bayesmix: `make demo` runs the main job on bundled data, `make test` runs the test suite.
# Both create .venv (with a Python >= 3.12 found by .ci/find_python.sh) and install the package.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bayesmix-installed
OUT ?= out/demo
PYTEST_ARGS ?=

.PHONY: demo test install bench clean

$(PY):
	@PYTHON=$$(bash .ci/find_python.sh) && echo "using $$PYTHON" && "$$PYTHON" -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bayesmix demo --out $(OUT) --overwrite

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) out .pytest_cache
