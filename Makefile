# The two commands of the README: `make demo` runs both halves end to end on DuckDB (the batch
# job, then a short monitor run against the local Bitso and the spread report), `make test` runs
# every test. Both set up what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE_DIR ?= sample_data
LAKE ?= $(or $(BITSO_LAKE),bucket)
REPORT_DIR ?= spread_report
# The Markets half of the demo: the local Bitso plays bitso_sandbox/scripts/demo_markets.json
# (every book above at least one threshold, btc_mxn through all three, a six-second WebSocket
# outage at 48 s) while the monitor records it for DEMO_SECONDS.
DEMO_SECONDS ?= 70
DEMO_BOOKS ?= btc_mxn,eth_mxn,usd_mxn,xrp_mxn
DEMO_PORT ?= 8765
DEMO_WS_PORT ?= 8766

.PHONY: setup demo demo-batch demo-markets test test-python test-spark lint lint-sql format docs docs-serve benchmark clean

setup: $(VENV)/.installed profiles.yml

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Copied once; a profiles.yml you edited is never overwritten.
profiles.yml:
	cp profiles.yml.example profiles.yml

# The halves one after the other (never in parallel: both builds write the one DuckDB file).
demo: setup
	@$(MAKE) --no-print-directory demo-batch
	@$(MAKE) --no-print-directory demo-markets
	@echo
	@echo "Warehouse: $${BITSO_DUCKDB_PATH:-warehouse/bitso.duckdb} (schemas core, reports, data_quality, spreads)"
	@echo "Exports:   $(LAKE)/batch_output/"
	@echo "Lake:      $(LAKE)/spreads/book=*/date=*/ (one file per book and window)"
	@echo "Alert log: $(LAKE)/alerts/date=*/alerts.jsonl"
	@echo "Report:    $(REPORT_DIR)/index.html (open it in a browser; spread_<book>.png beside it)"
	@echo "Docs:      make docs-serve, then open http://localhost:8080"

demo-batch: setup
	$(BIN)/ingest generate-sample $(SAMPLE_DIR)
	$(BIN)/ingest snapshots $(SAMPLE_DIR)
	$(BIN)/dbt build
	$(BIN)/ingest export --lake $(LAKE)

# One shell for the server and the monitor, so that the trap stops the local Bitso however
# the run ends (its --duration is a second guard); dbt on DuckDB then reads the lake in place.
demo-markets: setup
	@mkdir -p logs
	$(BIN)/ingest serve-bitso --port $(DEMO_PORT) --ws-port $(DEMO_WS_PORT) \
	  --script bitso_sandbox/scripts/demo_markets.json --duration $$(($(DEMO_SECONDS) + 60)) \
	  > logs/local_bitso.log 2>&1 & server=$$!; \
	trap 'kill $$server 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	until grep -q '^Local Bitso API' logs/local_bitso.log; do \
	  kill -0 $$server 2>/dev/null || { cat logs/local_bitso.log; exit 1; }; sleep 0.2; \
	done; \
	BITSO_API_URL=http://127.0.0.1:$(DEMO_PORT) BITSO_WS_URL=ws://127.0.0.1:$(DEMO_WS_PORT) \
	  $(BIN)/ingest spreads --books $(DEMO_BOOKS) --lake $(LAKE) --window 30 \
	  --duration $(DEMO_SECONDS)
	BITSO_LAKE=$(LAKE) $(BIN)/dbt build --select +tag:spreads+ +tag:bitso_api
	BITSO_LAKE=$(LAKE) $(BIN)/ingest report --output $(REPORT_DIR)

# Every test: lint, the Python and dbt suites on DuckDB and PostgreSQL, then Spark.
test: test-python test-spark

test-python: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory lint-sql
	$(BIN)/pytest -m "not spark"

# The models on a local Spark session (the `spark` extra and Java 17), checked against the
# Python oracle; here a missing extra or Java fails instead of skipping.
test-spark: setup
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	BITSO_REQUIRE_SPARK=true $(BIN)/pytest -m spark tests/python/test_spark.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory lint-sql

# The SQL of the models, analyses and dbt tests under sqlfluff (.sqlfluff): its dbt templater
# compiles them for DuckDB, against an in-memory database, so no warehouse is needed.
lint-sql: setup
	BITSO_TARGET=duckdb BITSO_DUCKDB_PATH=:memory: $(BIN)/sqlfluff lint models analyses tests/dbt --processes 2

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: setup
	$(BIN)/dbt docs generate

docs-serve: docs
	$(BIN)/dbt docs serve --port 8080

benchmark: setup
	$(BIN)/python benchmarks/batch_bench.py

clean:
	rm -rf target logs warehouse $(SAMPLE_DIR) bucket $(REPORT_DIR)
