# xaikit — the two quick-start commands are `make reproduce` and `make test`.
# Every target first creates .venv with the pinned dependencies of requirements.lock when .venv
# is missing or the lock file changed (the stamp file records the last install).

PYTHON3 ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.xaikit-installed
OUT     ?= xaikit-out
LESSONS ?=
JOBS    ?= 1
TEST_TIMEOUT ?= 1200
SELF_STUDY ?= 0

export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0

.PHONY: help venv reproduce test test-all lint site serve bench clean

help:
	@echo "make reproduce   run every lesson headless into $(OUT)/ (LESSONS='01 05' for some;"
	@echo "                 XAIKIT_FAST=1 for the quick pass the tests use; JOBS=2 runs two"
	@echo "                 lessons at a time)"
	@echo "make test        fast test suite (XAIKIT_FAST=1, without slow tests; the browser test"
	@echo "                 skips unless chromium is installed: bash scripts/install_browser.sh)"
	@echo "make test-all    every test, including slow and browser ones"
	@echo "make lint        ruff and the import-layer contracts"
	@echo "make site        build the course site into site/ (needs make reproduce first);"
	@echo "                 SELF_STUDY=1 adds the reference solutions and model answers"
	@echo "make serve       build the site and serve it on http://127.0.0.1:8000"
	@echo "make bench       run the benchmarks in benchmarks/"
	@echo "make clean       remove outputs (keeps .venv and the trained models in ~/.cache/xaikit and .pytest_cache)"

venv: $(STAMP)

$(STAMP): requirements.lock
	$(PYTHON3) -m venv $(VENV) && $(BIN)/pip install -q uv && \
	$(BIN)/uv pip install --python $(BIN)/python -r requirements.lock && \
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

reproduce: $(STAMP)
	$(BIN)/xaikit reproduce --out $(OUT) --jobs $(JOBS) $(if $(strip $(LESSONS)),--lesson $(LESSONS))

test: $(STAMP)
	XAIKIT_FAST=1 $(BIN)/pytest -m "not slow" -q --timeout=$(TEST_TIMEOUT)

test-all: $(STAMP)
	$(BIN)/pytest -q --timeout=3600

lint: $(STAMP)
	$(BIN)/ruff check xaikit tests lessons solutions benchmarks
	$(BIN)/lint-imports

site: $(STAMP)
	SELF_STUDY=$(SELF_STUDY) bash scripts/build_site.sh

serve: $(STAMP)
	SELF_STUDY=$(SELF_STUDY) bash scripts/build_site.sh serve

bench: $(STAMP)
	$(BIN)/xaikit bench

clean:
	rm -rf $(OUT) site build .ruff_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -f lessons/*.ipynb solutions/*.ipynb
