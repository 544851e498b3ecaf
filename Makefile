# Two entry points: `make run` (the bot, or the terminal chat without a token) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test eval bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cluster]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/citebot start

test: $(STAMP)
	$(BIN)/pytest -q

eval: $(STAMP)
	$(BIN)/citebot eval tests/seed_qa.jsonl
	$(BIN)/citebot eval ../shared/benchmarks/wikiqa/questions.jsonl --corpus ../shared/benchmarks/wikiqa/corpus

bench: $(STAMP)
	$(BIN)/citebot bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
