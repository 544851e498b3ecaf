# Two entry points: `make run` (the bot, or the terminal chat without a token) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmark data sets, read-only and never copied into the project: make eval BENCHMARKS=/path/to/benchmarks
BENCHMARKS ?= ../shared/benchmarks

.PHONY: run test lint typecheck lock eval bench clean

# The exact versions of requirements.lock, each checked against its hash; citebot itself from this tree.
# The lock is its own constraints file too: the pip a new venv brings (23.x) reads jusText's `lxml[html_clean]`
# as a requirement apart from the pinned lxml, takes the newest lxml for it, and fails the hash check.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock -c requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	# A lock that misses a dependency pyproject.toml names fails here, not at the first import (run make lock).
	$(BIN)/pip check
	touch $(STAMP)

# After a change of pyproject.toml's dependencies: pin them all again, keeping the pins that still fit.
# `make lock LOCK_OPTIONS=--upgrade` moves every pin to the newest release the ranges allow.
LOCK_OPTIONS ?=
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras $(LOCK_OPTIONS) \
		--no-emit-find-links --no-emit-index-url --extra dev --extra cluster --extra semantic \
		--output-file requirements.lock pyproject.toml

run: $(STAMP)
	$(BIN)/citebot start

test: $(STAMP)
	$(BIN)/pytest -q

# Style, formatting, the import layers and the types (pyproject.toml configures each); CI runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The type checker on bot/ alone (configured in pyproject.toml).
typecheck: $(STAMP)
	$(BIN)/mypy

# Each benchmark's QA file and corpus under $(BENCHMARKS); a missing folder is named, with no traceback.
eval: $(STAMP)
	@test -d $(BENCHMARKS) || { echo "make eval: benchmarks folder not found: $(BENCHMARKS) (make eval BENCHMARKS=DIR)" >&2; exit 2; }
	$(BIN)/citebot eval tests/seed_qa.jsonl
	$(BIN)/citebot eval $(BENCHMARKS)/wikiqa/questions.jsonl --corpus $(BENCHMARKS)/wikiqa/corpus
	$(BIN)/citebot eval $(BENCHMARKS)/squad2/questions.jsonl --corpus $(BENCHMARKS)/squad2/corpus --split test
	$(BIN)/citebot eval $(BENCHMARKS)/xquad/questions_en.jsonl --corpus $(BENCHMARKS)/xquad/corpus --split test
	$(BIN)/citebot eval $(BENCHMARKS)/xquad/questions_ru.jsonl --corpus $(BENCHMARKS)/xquad/corpus --split test
	$(BIN)/citebot eval $(BENCHMARKS)/kazqad/questions.jsonl --corpus $(BENCHMARKS)/kazqad/corpus --split test

bench: $(STAMP)
	$(BIN)/citebot bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
