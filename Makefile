# Two commands set everything up: `make demo` then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_A := samples/cpio-mtime/a.eif
DEMO_B := samples/cpio-mtime/b.eif

.PHONY: demo test lint lab screenshot bench samples notebooks tools clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[notebook,test]'
	touch $@

tools:
	./scripts/install-debian-tools

demo: $(STAMP) tools
	$(BIN)/eifdiff describe $(DEMO_A)
	$(BIN)/eifdiff describe $(DEMO_B)
	$(BIN)/eifdiff $(DEMO_A) $(DEMO_B) || test $$? -eq 1

test: $(STAMP) tools
	$(BIN)/ruff check eifdiff tests bench scripts fuzz
	$(BIN)/mypy eifdiff
	tmp=$$(mktemp -d /tmp/eifdiff-tests.XXXXXX); \
	$(BIN)/python -m pytest -q -p no:cacheprovider --basetemp=$$tmp; rc=$$?; rm -rf $$tmp; exit $$rc

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

screenshot: $(STAMP)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver)
	$(BIN)/python scripts/lab_screenshot.py

notebooks: $(STAMP)
	$(BIN)/python scripts/make_notebooks.py

samples: $(STAMP) tools
	$(BIN)/python scripts/make_samples.py

bench: $(STAMP) tools
	$(BIN)/python bench/diff_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
