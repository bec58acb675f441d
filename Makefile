# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench clean messages

# The message catalogue: after adding or changing a text, `make messages` extracts every text (babel.cfg)
# into lane/locale/lajur.pot, adds the new ones to each lajur.po (translate them there) and compiles
# (a .po newer than its .mo is also compiled in memory at first use, see lane/i18n.py).
KEYWORDS := -k N_ -k NN_:1,2 -k both -k gettext:2 -k ngettext:2,3 -k t -k _
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output --project lajur -F babel.cfg $(KEYWORDS) -o lane/locale/lajur.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --domain lajur -i lane/locale/lajur.pot -d lane/locale
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

# The suite runs in TEST_WORKERS processes (pytest-xdist): most tests wait on real brokers, ports, browsers
# and child processes, so three workers finish a two-core machine's run in about half the time of one.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

bench: $(STAMP)
	$(BIN)/lajur bench lane

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .

clean:
	rm -rf $(VENV) var .pytest_cache
