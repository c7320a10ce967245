# bayesmix: `make demo` runs the main job on bundled data, `make test` runs the test suite.
# Both create .venv (with a Python >= 3.12 found by .ci/find_python.sh) and install the package.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bayesmix-installed
OUT ?= out/demo
PYTEST_ARGS ?=

DOCS_STAMP := $(VENV)/.bayesmix-docs-installed

.PHONY: demo test install bench lint clean docs docs-check

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

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[docs]"
	@touch $(DOCS_STAMP)

# the documentation site with warnings as errors, notebooks not executed (about a minute)
docs-check: $(DOCS_STAMP)
	$(PY) -m sphinx -E -W --keep-going -n -q -b html -D nb_execution_mode=off -d docs/_build/doctrees-check docs docs/_build/html-check

# the documentation site, notebooks executed and cached (docs/_build/html)
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -n -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	for f in bench/bench_*.py; do echo "== $$f"; env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache
