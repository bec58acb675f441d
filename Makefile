# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench clean messages

# The message catalogue: after adding a text, `make messages` compiles lane/locale/*/LC_MESSAGES/lajur.po
# (a .po newer than its .mo is also compiled in memory at first use, see lane/i18n.py).
messages: $(STAMP)
	$(BIN)/pybabel compile --domain lajur --directory lane/locale --statistics

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pybabel compile --domain lajur --directory lane/locale --statistics
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lajur demo

test: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/lajur bench lane

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .

clean:
	rm -rf $(VENV) var .pytest_cache
