"""The data-quality summary of one day's loads: per table, the rows read and loaded, the values
of each typed column that staging rejected, and the ids new, changed and missing against the
loads before.

It reads what the load and the build left: `raw.snapshot_loads`, the raw tables and the
staging versions models, so it runs after a successful build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ingest.batch.snapshots import RAW, TABLES_BY_NAME, FileLoad
from ingest.io.warehouse import Warehouse, connect
from ingest.settings import Settings

# Each snapshot table with typed columns: its staging versions model and those columns
# (macros/parsing/parse_text.sql, snapshot_typed_columns, is the dbt side of this list).
TYPED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "deposits": ("stg_bitso_db__deposit_versions", ("id", "event_timestamp", "amount")),
    "withdrawals": ("stg_bitso_db__withdrawal_versions", ("id", "event_timestamp", "amount")),
    "events": ("stg_bitso_db__event_versions", ("id", "event_timestamp")),
}


@dataclasses.dataclass(frozen=True)
class TableQuality:
    table: str
    load_id: int | None
    status: str
    rows_read: int
    rows_loaded: int
    # Values of each typed column that could not be typed (empty or unreadable) in the load.
    rejected: dict[str, int]
    ids_new: int
    ids_changed: int
    # Ids of earlier loads the load lacks; None for a delta, which holds only changes.
    ids_missing: int | None


def summarize(settings: Settings, loads: Sequence[FileLoad]) -> list[TableQuality]:
    with connect(settings) as warehouse:
        return [_table_quality(warehouse, load) for load in loads]


def _table_quality(warehouse: Warehouse, load: FileLoad) -> TableQuality:
    rejected: dict[str, int] = {}
    if load.table in TYPED_COLUMNS and load.load_id is not None:
        model, columns = TYPED_COLUMNS[load.table]
        counts = ", ".join(
            f"sum(case when {column} is null then 1 else 0 end)" for column in columns
        )
        (row,) = warehouse.execute(
            f"select {counts} from {warehouse.relation('staging', model)} where load_id = ?",
            (load.load_id,),
        )
        rejected = {column: int(count or 0) for column, count in zip(columns, row, strict=True)}
    new, changed, missing = _id_changes(warehouse, load)
    return TableQuality(
        load.table, load.load_id, load.status, load.rows_read, load.rows_loaded, rejected,
        new, changed, missing if load.kind == "full" else None,
    )  # fmt: skip


def _id_changes(warehouse: Warehouse, load: FileLoad) -> tuple[int, int, int]:
    """Ids of the load that no earlier load had, whose row differs from their latest earlier
    row, and ids of earlier loads the load lacks (ids compared as trimmed text)."""
    columns = TABLES_BY_NAME[load.table].columns
    key = columns[0]  # each snapshot table's id
    raw = warehouse.relation(RAW, load.table)
    row_text = " || '|' || ".join(f"coalesce({column}, '')" for column in columns)
    ((new, changed, missing),) = warehouse.execute(
        f"with current_rows as ("
        f" select distinct trim({key}) as id, {row_text} as row_text from {raw}"
        f" where _load_id = ? and {key} is not null),"
        f" earlier as (select id, row_text from ("
        f" select trim({key}) as id, {row_text} as row_text, row_number() over"
        f" (partition by trim({key}) order by _load_id desc) as version_rank from {raw}"
        f" where _load_id < ? and {key} is not null) as ranked where version_rank = 1)"
        " select"
        " (select count(distinct current_rows.id) from current_rows"
        "  left join earlier on current_rows.id = earlier.id where earlier.id is null),"
        " (select count(distinct current_rows.id) from current_rows"
        "  inner join earlier on current_rows.id = earlier.id"
        "  where current_rows.row_text <> earlier.row_text),"
        " (select count(*) from earlier"
        "  left join current_rows on earlier.id = current_rows.id where current_rows.id is null)",
        (load.load_id, load.load_id),
    )
    return int(new), int(changed), int(missing)


def describe(quality: TableQuality) -> str:
    """One line of the summary."""
    rejected = ", ".join(f"{column} {count:,}" for column, count in quality.rejected.items())
    missing = "" if quality.ids_missing is None else f", {quality.ids_missing:,} missing"
    return (
        f"  {quality.table:<12} read {quality.rows_read:>10,}  loaded {quality.rows_loaded:>10,}"
        f"  rejected: {rejected or 'n/a'}"
        f"  ids: {quality.ids_new:,} new, {quality.ids_changed:,} changed{missing}"
    )
