# motcua: `make run` serves the demo, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
DB_FILE := instance/motcua.db

.PHONY: install run demo-db test test-sqlite test-postgres lint bench clean

install: $(VENV)/.installed

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

test: install lint test-sqlite
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
