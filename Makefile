# bayesmix: `make demo` runs the main job on bundled data, `make test` runs the test suite.
# Both create .venv (with a Python >= 3.12 found by .ci/find_python.sh) and install the package.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bayesmix-installed
OUT ?= out/demo
PYTEST_ARGS ?=

.PHONY: demo test install bench lint clean

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

lint: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(VENV)/bin/ruff check bayesmix tests bench
	$(VENV)/bin/ruff format --check bayesmix tests bench

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	for f in bench/bench_*.py; do echo "== $$f"; env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache
