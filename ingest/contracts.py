"""The data contracts of the files the product writes and reads, each defined once.

- the spread monitor's lake window files (`spreads/book=*/date=*/*.csv|parquet`);
- the monitor's alert log (`alerts/date=*/alerts.jsonl`, also the body posted to webhooks);
- the four daily snapshot files the batch loader reads, and the columns staging types.

Python code imports these. The dbt project repeats them in its own languages (the sources'
YAML, the staging models, the Spark source DDL, the `snapshot_typed_columns` macro);
tests/python/test_contracts.py checks those copies against this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

# The lake's file formats: the monitor's windows and the batch exports alike.
LAKE_FILE_FORMATS: tuple[str, ...] = ("csv", "parquet")

# The window files' columns in file order, each with the type the monitor gives it in Parquet
# (DuckDB type names; the CSV files hold the same columns as text). The first five are the
# columns the Markets team asked for, in their order. Exact decimals: prices keep 18 decimal
# places, spreads the ten they are computed to; the timestamps stay ISO-8601 text.
LAKE_WINDOW_SCHEMA: tuple[tuple[str, str], ...] = (
    ("orderbook_timestamp", "varchar"),
    ("book", "varchar"),
    ("bid", "decimal(38, 18)"),
    ("ask", "decimal(38, 18)"),
    ("spread", "decimal(38, 10)"),
    ("observed_at", "varchar"),
    ("quote_age_ms", "bigint"),
    ("sequence", "bigint"),
    ("source", "varchar"),
    ("is_gap", "boolean"),
    ("gap_reason", "varchar"),
)
LAKE_WINDOW_COLUMNS: tuple[str, ...] = tuple(name for name, _ in LAKE_WINDOW_SCHEMA)
LAKE_WINDOW_PARQUET_TYPES: Mapping[str, str] = MappingProxyType(dict(LAKE_WINDOW_SCHEMA))

# The fields of one alert, in the order of its JSON object; every value is a string.
ALERT_LOG_FIELDS: tuple[str, ...] = (
    "book",
    "threshold",
    "state",
    "spread",
    "bid",
    "ask",
    "orderbook_timestamp",
    "text",
)
# Written after the alert-log fields to each alert line and webhook body, not loaded into the
# warehouse: the idempotency key (book, threshold, episode start) and whether the alert was held
# back (a silence or inhibition) rather than sent.
ALERT_DELIVERY_FIELDS: tuple[str, ...] = ("alert_key", "silenced")


@dataclasses.dataclass(frozen=True)
class SnapshotTable:
    """One snapshot file: the `raw` table it loads into, its usual file name, its header, and
    the columns staging types, each with what its text must be (the first column is the id)."""

    name: str
    default_file: str
    columns: tuple[str, ...]
    typed_columns: tuple[tuple[str, str], ...] = ()
    # The staging models of a table with typed columns: every delivered version, and the
    # latest version of each record.
    versions_model: str | None = None
    latest_model: str | None = None

    @property
    def header(self) -> str:
        """The file's first line, without its line break."""
        return ",".join(self.columns)


# Each raw snapshot row's ordinal among the data rows of its file (1 for the first row after the
# header, blank lines not counted): within one load, the later row of an id wins.
SNAPSHOT_FILE_ROW = "_file_row"

_ID = ("id", "an integer")
_TIMESTAMP = ("event_timestamp", "an ISO-8601 timestamp")
_AMOUNT = ("amount", "a decimal(38, 18)")

DEPOSITS_SNAPSHOT = SnapshotTable(
    "deposits",
    "deposit_sample_data.csv",
    ("id", "event_timestamp", "user_id", "amount", "currency", "tx_status"),
    (_ID, _TIMESTAMP, _AMOUNT),
    "stg_bitso_db__deposit_versions",
    "stg_bitso_db__deposits",
)
WITHDRAWALS_SNAPSHOT = SnapshotTable(
    "withdrawals",
    "withdrawals_sample_data.csv",
    ("id", "event_timestamp", "user_id", "amount", "interface", "currency", "tx_status"),
    (_ID, _TIMESTAMP, _AMOUNT),
    "stg_bitso_db__withdrawal_versions",
    "stg_bitso_db__withdrawals",
)
EVENTS_SNAPSHOT = SnapshotTable(
    "events",
    "event_sample_data.csv",
    ("id", "event_timestamp", "user_id", "event_name"),
    (_ID, _TIMESTAMP),
    "stg_bitso_db__event_versions",
    "stg_bitso_db__events",
)
USERS_SNAPSHOT = SnapshotTable("users", "user_id_sample_data.csv", ("user_id",))
# In the order `ingest snapshots` loads them.
SNAPSHOT_TABLES: tuple[SnapshotTable, ...] = (
    DEPOSITS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
)
