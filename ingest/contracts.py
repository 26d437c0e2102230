"""The data contracts of the files the product writes and reads, each defined once.

- the spread monitor's lake window files (`spreads/book=*/date=*/*.csv|parquet`);
- the monitor's alert log (`alerts/date=*/alerts.jsonl`, also the body posted to webhooks);
- the four daily snapshot files the batch loader reads.

Python code imports these. The dbt project repeats them in its own languages (the sources'
YAML, the staging models, the Spark source DDL); tests/python/test_contracts.py checks those
copies against this module.
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


@dataclasses.dataclass(frozen=True)
class SnapshotTable:
    """One snapshot file: the `raw` table it loads into, its usual file name, its header."""

    name: str
    default_file: str
    columns: tuple[str, ...]

    @property
    def header(self) -> str:
        """The file's first line, without its line break."""
        return ",".join(self.columns)


DEPOSITS_SNAPSHOT = SnapshotTable(
    "deposits",
    "deposit_sample_data.csv",
    ("id", "event_timestamp", "user_id", "amount", "currency", "tx_status"),
)
WITHDRAWALS_SNAPSHOT = SnapshotTable(
    "withdrawals",
    "withdrawals_sample_data.csv",
    ("id", "event_timestamp", "user_id", "amount", "interface", "currency", "tx_status"),
)
EVENTS_SNAPSHOT = SnapshotTable(
    "events",
    "event_sample_data.csv",
    ("id", "event_timestamp", "user_id", "event_name"),
)
USERS_SNAPSHOT = SnapshotTable("users", "user_id_sample_data.csv", ("user_id",))
# In the order `ingest snapshots` loads them.
SNAPSHOT_TABLES: tuple[SnapshotTable, ...] = (
    DEPOSITS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
)
