# motcua: `make run` serves the demo, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
DB_FILE := instance/motcua.db

.PHONY: install assets translations browser run demo-db test test-sqlite test-postgres lint bench clean

install: $(VENV)/.installed assets translations

# Front-end libraries come from npm (committed package-lock.json) and are served by us: no CDN.
assets: web/static/vendor/.built

web/static/vendor/.built: package.json package-lock.json scripts/build-assets.mjs $(wildcard web/assets/*.js web/assets/*/*.js web/assets/*/*.json web/assets/*/*/*.js web/assets/*/*/*.jsx web/assets/*/*.css web/assets/*/*.jsx)
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build
	touch $@

# Message catalogs are compiled at install time.
translations: $(VENV)/.installed
	@if [ -d web/translations ]; then $(VENV)/bin/pybabel compile -d web/translations -D messages; fi

# Browser tests drive Debian's chromium; never a downloaded browser.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(DB_FILE): | install
	$(VENV)/bin/motcua demo

demo-db: $(DB_FILE)

run: install demo-db
	$(VENV)/bin/motcua db upgrade
	$(VENV)/bin/motcua serve --host 127.0.0.1 --port 5000

lint: install
	$(VENV)/bin/ruff check .

test: install browser lint test-sqlite
	@if [ -n "$$MOTCUA_TEST_DATABASE_URL" ] || $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-postgres; \
	else \
		echo "PostgreSQL not reachable on 127.0.0.1:5432: skipping the PostgreSQL run"; \
	fi

test-sqlite: install
	env -u MOTCUA_TEST_DATABASE_URL $(VENV)/bin/pytest -n 2

test-postgres: install
	MOTCUA_TEST_DATABASE_URL=$${MOTCUA_TEST_DATABASE_URL:-$(PG_TEST_URL)} $(VENV)/bin/pytest -n 2

bench: install
	$(PY) -m benchmarks.steps

clean:
	rm -rf $(VENV) instance build *.egg-info
