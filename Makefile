# Two entry points on a fresh machine: `make demo` and `make test`. Each builds .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo demo-serve screenshots lint bench clean browser mutation mutation-if-changed fonts

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The graph page is tested in a real browser: Debian's chromium, installed here when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; }

# Graph figures draw emoji in community titles with Symbola (an outline font matplotlib can render;
# colour emoji fonts it cannot). Installed here when missing; without it figures show boxes, with a note.
fonts:
	@[ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ] || { \
	  command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && apt-get install -y -qq fonts-symbola >/dev/null) ; } \
	  || echo "note: fonts-symbola not installed; emoji in graph figures will show as boxes"

test: $(STAMP) browser fonts
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/pytest

demo: $(STAMP) fonts
	$(BIN)/resurface demo --dir demo-output

# The demo, then the workspace on its store (a demo login is printed; Ctrl-C stops it).
demo-serve: $(STAMP) fonts
	$(BIN)/resurface demo --dir demo-output --serve

# Screenshots of the workspace's pages for the docs (docs/screenshots/*.png), in headless Chromium.
screenshots: $(STAMP) browser
	$(BIN)/python docs/screenshots/take.py

# Mutation testing of the victim-safety modules (pseudonyms, NGO redaction, retention, the address
# guard, media handling), each against the tests that exercise it; report in docs/privacy.md.
# Survivors must be killed by a test or listed in mutation/equivalent.toml. CPU heavy: ~10 min a module.
mutation: $(STAMP)
	$(BIN)/python mutation/run.py $(MODULES)

# CI: the same, only when those files changed since the last recorded clean run (mutation/checked.sha256).
mutation-if-changed: $(STAMP)
	$(BIN)/python mutation/run.py --check-hash

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
