# Two entry points: `make run` (the bot, or the terminal chat without a token) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test eval bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cluster,semantic]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/citebot start

test: $(STAMP)
	$(BIN)/pytest -q

B := ../shared/benchmarks

eval: $(STAMP)
	$(BIN)/citebot eval tests/seed_qa.jsonl
	$(BIN)/citebot eval $(B)/wikiqa/questions.jsonl --corpus $(B)/wikiqa/corpus
	$(BIN)/citebot eval $(B)/squad2/questions.jsonl --corpus $(B)/squad2/corpus --split test
	$(BIN)/citebot eval $(B)/xquad/questions_en.jsonl --corpus $(B)/xquad/corpus --split test
	$(BIN)/citebot eval $(B)/xquad/questions_ru.jsonl --corpus $(B)/xquad/corpus --split test
	$(BIN)/citebot eval $(B)/kazqad/questions.jsonl --corpus $(B)/kazqad/corpus --split test

bench: $(STAMP)
	$(BIN)/citebot bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
