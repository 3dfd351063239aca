# Two commands for a new user: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
FLASK := BULKBUY_ENV=development $(BIN)/flask --app bulkbuy

.PHONY: run test lint bench screenshots translations clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(INSTALLED)

## make run: install, migrate the SQLite database in instance/, load the demo once, start
## localstripe (fake Stripe) on :8420, serve on :5000 (see scripts/run_dev.sh)
run: $(INSTALLED)
	BIN=$(BIN) bash scripts/run_dev.sh

## make test: start what the tests need (PostgreSQL), then run every test on SQLite and PostgreSQL
test: $(INSTALLED)
	PYTHON=$(BIN)/python bash scripts/test.sh $(PYTEST_ARGS)

## make lint: ruff, and the import rules in pyproject.toml (import-linter)
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## make screenshots: the README's pictures, taken by the browser tests into docs/screenshots/
screenshots: $(INSTALLED)
	bash scripts/ensure_chromium.sh >/dev/null
	bash scripts/ensure_fonts.sh
	SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/e2e/test_tablet_journeys.py tests/e2e/test_delivery_journey.py \
		tests/e2e/test_tablet_languages.py

## make translations: gather every word to translate from the code and templates (babel.cfg)
## into bulkbuy/translations/messages.pot, bring each language's catalogue up to date with it
## (new words to translate, gone ones dropped), and compile the catalogues the app reads
translations: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg --project=bulkbuy --add-location=file -w 100 \
		-o bulkbuy/translations/messages.pot .
	$(BIN)/pybabel update -i bulkbuy/translations/messages.pot -d bulkbuy/translations \
		--ignore-obsolete --no-fuzzy-matching -w 100
	$(BIN)/pybabel compile -d bulkbuy/translations --statistics

bench: $(INSTALLED)
	PYTHON=$(BIN)/python bash scripts/bench.sh

clean:
	rm -rf $(VENV)
