# The two set-up commands: `make run` serves on the embedded default, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
JS_STAMP := tests/js/node_modules/.installed-stamp
TEST_POSTGRES_URL ?= postgresql+asyncpg://root@127.0.0.1:5432/test

.PHONY: run test lint typecheck test-sqlite test-postgres suite-sqlite suite-postgres bench-contacts bench-campaign bench-subscriptions bench-webhooks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The pinned npm packages the suite runs (graphql-http audit, graphql-ws client), again when the lock changes.
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	bash tools/ensure-system-deps.sh
	npm ci --prefix tests/js --no-audit --no-fund
	touch $(JS_STAMP)

run: $(STAMP)
	$(BIN)/weconn serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy gateway schema resolvers rest_compat workers

SQLITE_SUITE := mkdir -p .test-tmp && WECONN_TEST_DATABASE=sqlite $(BIN)/pytest --basetemp=.test-tmp/sqlite
POSTGRES_SUITE := mkdir -p .test-tmp && WECONN_TEST_DATABASE=postgresql WECONN_TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) \
	$(BIN)/pytest --basetemp=.test-tmp/postgresql

test-sqlite: $(STAMP) $(JS_STAMP)
	bash tools/ensure-system-deps.sh
	$(SQLITE_SUITE)

test-postgres: $(STAMP) $(JS_STAMP)
	bash tools/ensure-system-deps.sh
	$(POSTGRES_SUITE)

# The two suites run at once: each is serial and keeps about one of the two cores busy, so together
# they take little more than the longer one. Each suite's output is printed when it finishes.
test: lint typecheck $(STAMP) $(JS_STAMP)
	bash tools/ensure-system-deps.sh
	@echo "running the SQLite and the PostgreSQL suites side by side; each prints its results when done"
	$(MAKE) --no-print-directory -j2 --output-sync=target suite-sqlite suite-postgres

suite-sqlite:
	$(SQLITE_SUITE)

suite-postgres:
	$(POSTGRES_SUITE)

bench-contacts: $(STAMP)
	$(BIN)/python bench/contacts.py

bench-campaign: $(STAMP)
	flock /tmp/weconn-bench.lock $(BIN)/python bench/campaign.py --database-url $(TEST_POSTGRES_URL)

bench-subscriptions: $(STAMP)
	flock /tmp/weconn-bench.lock $(BIN)/python bench/subscriptions.py --database-url $(TEST_POSTGRES_URL)

bench-webhooks: $(STAMP)
	flock /tmp/weconn-bench.lock $(BIN)/python bench/webhooks.py --database-url $(TEST_POSTGRES_URL)

clean:
	rm -rf $(VENV) .weconn .mypy_cache .ruff_cache
