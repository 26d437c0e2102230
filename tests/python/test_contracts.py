"""Every copy of a data contract outside Python matches its one definition in ingest.contracts:
dbt's source YAML, the staging models' raw column lists, the Spark source DDL in macros/, the
typed-column list of the dbt macros, the raw tables the loader creates, the files the sample
generator writes and, where they are at hand, the original challenge files.

Each copy is parsed (YAML with yaml.safe_load, Jinja list literals with ast.literal_eval, SQL
with one small regular expression per shape); a copy that cannot be found fails the test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from bitso_sandbox.sample import MIN_DEPOSITS, generate_sample
from ingest.batch.snapshots import ensure_raw_schema
from ingest.contracts import (
    ALERT_LOG_FIELDS,
    LAKE_WINDOW_COLUMNS,
    LAKE_WINDOW_SCHEMA,
    SNAPSHOT_FILE_ROW,
    SNAPSHOT_TABLES,
    SnapshotTable,
)
from ingest.io.warehouse import connect
from ingest.settings import Settings
from tests.python.conftest import REPO_ROOT, SHARED_CHALLENGE_DIR

SNAPSHOT_SOURCE = "bitso_db"
LAKE_SOURCE = "bitso_api"
# The lake sources' own lineage column, after the contract's columns.
SOURCE_FILE = "_source_file"

# `{% macro name(args) %} body {% endmacro %}`, with or without whitespace control.
MACRO = re.compile(
    r"\{%-?\s*macro\s+(?P<name>\w+)\s*\(.*?\)\s*-?%\}(?P<body>.*?)\{%-?\s*endmacro\s*-?%\}",
    re.DOTALL,
)
# Spark DDL over files: `create table ... using csv|parquet|json options (...)`.
SPARK_FILE_TABLE = re.compile(r"\busing (csv|parquet|json) options\b")
# `{%- set name = [ ... ] -%}`: a Jinja list literal, which is also a Python literal here.
JINJA_LIST = re.compile(r"\{%-?\s*set\s+(?P<name>\w+)\s*=\s*(?P<value>\[.*?\])\s*-?%\}", re.DOTALL)
# The empty stand-in of a DuckDB lake source: `cast(null as varchar) as <column>`.
NULL_COLUMN = re.compile(r"cast\(null as \w+\) as (\w+)")
# DuckDB's read_json column list in a lake source: `columns = { book: 'varchar', ... }`.
JSON_COLUMNS = re.compile(r"columns = \{(?P<columns>[^}]*)\}")
JSON_COLUMN = re.compile(r"(\w+): '\w+'")
# A staging model's raw list for a lake source: `lake_source_or_empty(source(...), ['a', ...])`.
LAKE_SOURCE_LIST = re.compile(
    r"lake_source_or_empty\(\s*source\('bitso_api', '(?P<table>\w+)'\),\s*\[(?P<columns>.*?)\]",
    re.DOTALL,
)
QUOTED_NAME = re.compile(r"'(\w+)'")
# A snapshot staging model: `source('bitso_db', '<table>')`, then the one select list that reads
# the `source` CTE, one item a line.
SNAPSHOT_SOURCE_CALL = re.compile(r"source\('bitso_db', '(\w+)'\)")
SELECT_FROM_SOURCE = re.compile(r"^\s*select\n(?P<items>.*?)\n\s*from source\b", re.M | re.DOTALL)
# What one select item reads from the raw table, by shape: `{{ macro('col') }}`, `fn(col)`, `col`.
ITEM_SHAPES = (
    re.compile(r"\{\{ \w+\('(?P<column>\w+)'\) \}\}"),
    re.compile(r"\w+\((?P<column>\w+)\)"),
    re.compile(r"(?P<column>\w+)"),
)
ALIAS = re.compile(r"\s+as\s+\w+$")
# Spark spells `varchar` as `string`; the other types are spelled alike.
SPARK_TYPE_NAMES = {"string": "varchar"}


def source_tables() -> dict[tuple[str, str], dict]:
    """Every table of every `_<source>__sources.yml` under models/staging, by (source, table)."""
    paths = sorted((REPO_ROOT / "models" / "staging").glob("*/_*__sources.yml"))
    assert paths, "no _<source>__sources.yml under models/staging"
    tables = {}
    for path in paths:
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source.get("tables", []):
                tables[(source["name"], table["name"])] = table
    return tables


def data_columns(table: dict) -> list[str]:
    """A source table's declared columns without the lineage ones (`_load_id`, ...)."""
    return [column["name"] for column in table.get("columns", []) if column["name"][0] != "_"]


def source_table(source: str, table: str) -> dict:
    tables = source_tables()
    assert (source, table) in tables, f"source {source}.{table} is not declared"
    return tables[(source, table)]


def staging_models() -> dict[Path, str]:
    paths = sorted((REPO_ROOT / "models" / "staging").glob("**/*.sql"))
    assert paths, "no staging models"
    return {path: path.read_text() for path in paths}


def spark_ddl_lists() -> dict[str, list[list]]:
    """The Jinja list literals (`{% set name = [...] %}`) of every macro under macros/ that
    declares Spark tables over files, by variable name; wherever the macros live."""
    paths = sorted((REPO_ROOT / "macros").glob("**/*.sql"))
    lists: dict[str, list[list]] = {}
    for path in paths:
        for macro in MACRO.finditer(path.read_text()):
            if not SPARK_FILE_TABLE.search(macro["body"]):
                continue
            for match in JINJA_LIST.finditer(macro["body"]):
                try:
                    value = ast.literal_eval(match["value"])
                except (ValueError, SyntaxError):
                    continue  # built from Jinja expressions, not a literal
                lists.setdefault(match["name"], []).append(value)
    return lists


def spark_ddl_list(name: str) -> list:
    """The one list `name` that a Spark DDL macro sets."""
    values = spark_ddl_lists().get(name, [])
    assert len(values) == 1, (
        f"`set {name} = [...]` appears {len(values)} times in the Spark DDL macros under macros/"
    )
    return values[0]


def raw_columns_read(model_sql: str) -> set[str]:
    """The raw columns a snapshot staging model reads: one per item of its select list."""
    selects = SELECT_FROM_SOURCE.findall(model_sql)
    assert len(selects) == 1, "expected one `select ... from source` list"
    columns = set()
    for line in selects[0].splitlines():
        item = line.strip().removesuffix(",")
        if not item or item.startswith("--"):
            continue
        expression = ALIAS.sub("", item)
        match = next((m for shape in ITEM_SHAPES if (m := shape.fullmatch(expression))), None)
        assert match is not None, f"unrecognised select item {item!r}"
        columns.add(match["column"])
    return columns


# dbt source YAML


@pytest.mark.parametrize("table", SNAPSHOT_TABLES, ids=lambda table: table.name)
def test_snapshot_source_declares_the_file_columns_in_order(table: SnapshotTable):
    source = source_table(SNAPSHOT_SOURCE, table.name)
    assert data_columns(source) == list(table.columns)
    # A description that names a file names this table's.
    named_files = re.findall(r"\b\w+\.csv\b", source.get("description", ""))
    assert set(named_files) <= {table.default_file}


@pytest.mark.parametrize(
    ("table", "columns"),
    [("spread_observations", LAKE_WINDOW_COLUMNS), ("spread_alerts", ALERT_LOG_FIELDS)],
)
def test_lake_source_declares_the_contract_columns_in_order(table: str, columns: tuple):
    source = source_table(LAKE_SOURCE, table)
    assert data_columns(source) == list(columns)
    # DuckDB's empty stand-in for a lake with no files yet.
    location = source["meta"]["external_location"]
    assert NULL_COLUMN.findall(location) == [*columns, SOURCE_FILE]


def test_alert_source_reads_the_alert_log_fields_from_json():
    location = source_table(LAKE_SOURCE, "spread_alerts")["meta"]["external_location"]
    lists = JSON_COLUMNS.findall(location)
    assert len(lists) == 1, "expected one read_json column list"
    assert JSON_COLUMN.findall(lists[0]) == list(ALERT_LOG_FIELDS)


# Staging models


@pytest.mark.parametrize(
    ("table", "columns"),
    [("spread_observations", LAKE_WINDOW_COLUMNS), ("spread_alerts", ALERT_LOG_FIELDS)],
)
def test_lake_staging_model_lists_the_contract_columns(table: str, columns: tuple):
    lists = [
        QUOTED_NAME.findall(match["columns"])
        for sql in staging_models().values()
        for match in LAKE_SOURCE_LIST.finditer(sql)
        if match["table"] == table
    ]
    assert lists, f"no staging model reads {LAKE_SOURCE}.{table} through lake_source_or_empty"
    for names in lists:
        assert names == [*columns, SOURCE_FILE]


@pytest.mark.parametrize("table", SNAPSHOT_TABLES, ids=lambda table: table.name)
def test_snapshot_staging_model_reads_every_file_column_and_no_other(table: SnapshotTable):
    models = [
        (path, sql)
        for path, sql in staging_models().items()
        if table.name in SNAPSHOT_SOURCE_CALL.findall(sql)
    ]
    assert models, f"no staging model reads {SNAPSHOT_SOURCE}.{table.name}"
    for path, sql in models:
        read = {column for column in raw_columns_read(sql) if column[0] != "_"}
        assert read == set(table.columns), path.name


# Spark source DDL


def test_spark_snapshot_sources_are_the_snapshot_files():
    assert spark_ddl_list("tables") == [
        (table.name, table.default_file, list(table.columns)) for table in SNAPSHOT_TABLES
    ]


def test_spark_lake_sources_have_the_window_types_and_alert_fields():
    window = [
        (name, SPARK_TYPE_NAMES.get(data_type, data_type))
        for name, data_type in spark_ddl_list("window_columns")
    ]
    assert window == list(LAKE_WINDOW_SCHEMA)
    assert spark_ddl_list("alert_columns") == list(ALERT_LOG_FIELDS)


# Files


def test_sample_generator_writes_the_snapshot_files_with_their_headers(tmp_path: Path):
    counts = generate_sample(tmp_path, deposits=MIN_DEPOSITS)
    assert list(counts) == [table.default_file for table in SNAPSHOT_TABLES]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(counts)
    for table in SNAPSHOT_TABLES:
        with (tmp_path / table.default_file).open() as handle:
            assert handle.readline().rstrip("\n").split(",") == list(table.columns), table.name


def test_original_challenge_files_have_the_contract_headers():
    originals = [
        (table, SHARED_CHALLENGE_DIR / table.default_file)
        for table in SNAPSHOT_TABLES
        if (SHARED_CHALLENGE_DIR / table.default_file).is_file()
    ]
    if not originals:
        pytest.skip(f"no original challenge file at {SHARED_CHALLENGE_DIR}")
    for table, path in originals:
        with path.open(encoding="utf-8-sig") as handle:
            assert handle.readline().rstrip("\r\n").split(",") == list(table.columns), path.name


# Raw snapshot tables


def lineage_columns(table: dict) -> list[str]:
    """A source table's declared lineage columns (`_load_id`, ...), in order."""
    return [column["name"] for column in table.get("columns", []) if column["name"][0] == "_"]


def test_raw_snapshot_tables_have_the_columns_their_sources_declare(tmp_path: Path):
    """The loader's DDL, file row included, against the sources YAML, column for column."""
    settings = Settings.from_env(
        {"BITSO_TARGET": "duckdb", "BITSO_DUCKDB_PATH": str(tmp_path / "bitso.duckdb")}
    )
    with connect(settings) as warehouse:
        ensure_raw_schema(warehouse)
        for table in SNAPSHOT_TABLES:
            created = [
                name
                for (name,) in warehouse.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'raw' and table_name = ? order by ordinal_position",
                    (table.name,),
                )
            ]
            declared = source_table(SNAPSHOT_SOURCE, table.name)
            assert created == [*data_columns(declared), *lineage_columns(declared)], table.name
            assert SNAPSHOT_FILE_ROW in created


# The Spark lineage view's final select, and the name of each of its items: `... as _name,` or
# `dated._name,` ending a line (the last item ends the select without a comma).
SPARK_LINEAGE_SELECT = re.compile(r"final as \(\s*select\n(?P<items>.*?)\n\s*from dated\b", re.S)
ITEM_NAME = re.compile(r"(?:\bas |^\s*dated\.)(\w+)(?:,$|\Z)", re.M)


def test_spark_snapshot_views_have_the_lineage_columns_the_sources_declare():
    macro = (REPO_ROOT / "macros" / "spark" / "snapshot_sources.sql").read_text()
    selects = SPARK_LINEAGE_SELECT.findall(macro)
    assert len(selects) == 1, "expected one `final as (select ... from dated` in the Spark view"
    names = [name for name in ITEM_NAME.findall(selects[0]) if name.startswith("_")]
    for table in SNAPSHOT_TABLES:
        assert names == lineage_columns(source_table(SNAPSHOT_SOURCE, table.name)), table.name


# `{{ return([...]) }}` of the snapshot_typed_columns macro: a Jinja list, also a Python literal.
TYPED_COLUMNS_MACRO = re.compile(
    r"\{%-?\s*macro snapshot_typed_columns\(\)\s*-?%\}"
    r"\s*\{\{\s*return\((?P<value>\[.*?\])\)\s*\}\}",
    re.S,
)


def test_typed_columns_macro_lists_the_contract_typed_columns():
    found = TYPED_COLUMNS_MACRO.findall(
        (REPO_ROOT / "macros" / "parsing" / "parse_text.sql").read_text()
    )
    assert len(found) == 1, "snapshot_typed_columns() not found in macros/parsing/parse_text.sql"
    assert ast.literal_eval(found[0]) == [
        (table.name, table.versions_model, table.latest_model, list(table.typed_columns))
        for table in SNAPSHOT_TABLES
        if table.typed_columns
    ]
