# The two commands of the README: `make demo` runs the batch job end to end on DuckDB,
# `make test` runs every test. Both set up what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE_DIR ?= sample_data
LAKE ?= $(or $(BITSO_LAKE),bucket)

.PHONY: setup demo test test-python test-spark lint lint-sql format docs docs-serve benchmark clean

setup: $(VENV)/.installed profiles.yml

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Copied once; a profiles.yml you edited is never overwritten.
profiles.yml:
	cp profiles.yml.example profiles.yml

demo: setup
	$(BIN)/ingest generate-sample $(SAMPLE_DIR)
	$(BIN)/ingest snapshots $(SAMPLE_DIR)
	$(BIN)/dbt build
	$(BIN)/ingest export --lake $(LAKE)
	@echo
	@echo "Warehouse: $${BITSO_DUCKDB_PATH:-warehouse/bitso.duckdb} (schemas core, reports, data_quality)"
	@echo "Exports:   $(LAKE)/batch_output/"
	@echo "Docs:      make docs-serve, then open http://localhost:8080"

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
	rm -rf target logs warehouse $(SAMPLE_DIR) bucket
