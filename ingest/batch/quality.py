"""The data-quality summary of one day's loads: per table, the rows read and loaded, the values
of each typed column that staging rejected, and the ids new, changed and missing against the
table's previous full snapshot and the deltas since (as the volume guard counts them).

It reads what the load and the build left: `raw.snapshot_loads`, the raw tables and the
staging versions models, so it runs after a successful build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ingest.batch.snapshots import LOADS_TABLE, RAW, TABLES_BY_NAME, FileLoad, id_key
from ingest.contracts import SNAPSHOT_FILE_ROW
from ingest.io.warehouse import Warehouse, connect
from ingest.settings import Settings


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
    table = TABLES_BY_NAME[load.table]
    if table.typed_columns and load.load_id is not None:
        columns = [column for column, _ in table.typed_columns]
        counts = ", ".join(
            f"sum(case when {column} is null then 1 else 0 end)" for column in columns
        )
        (row,) = warehouse.execute(
            f"select {counts} from {warehouse.relation('staging', table.versions_model)}"
            " where load_id = ?",
            (load.load_id,),
        )
        rejected = {column: int(count or 0) for column, count in zip(columns, row, strict=True)}
    new, changed, missing = _id_changes(warehouse, load)
    return TableQuality(
        load.table, load.load_id, load.status, load.rows_read, load.rows_loaded, rejected,
        new, changed, missing if load.kind == "full" else None,
    )  # fmt: skip


def _id_changes(warehouse: Warehouse, load: FileLoad) -> tuple[int, int, int]:
    """Ids of the load that the earlier loads compared against lacked, whose row differs from
    their latest earlier row, and ids of those loads the load lacks. Ids compare as staging
    reads them (`01000` is `1000`); an id's row is its later row in a load."""
    id_column, *value_columns = TABLES_BY_NAME[load.table].columns
    key = id_key(id_column)
    raw = warehouse.relation(RAW, load.table)
    row_text = " || '|' || ".join(f"coalesce({column}, '')" for column in value_columns) or "''"

    def latest_row(loads: str) -> str:
        return (
            f"select id, row_text from (select {key} as id, {row_text} as row_text,"
            f" row_number() over (partition by {key} order by _load_id desc,"
            f" {SNAPSHOT_FILE_ROW} desc) as version_rank from {raw}"
            f" where {loads} and {id_column} is not null) as ranked where version_rank = 1"
        )

    ((new, changed, missing),) = warehouse.execute(
        f"with current_rows as ({latest_row('_load_id = ?')}),"
        f" earlier as ({latest_row('_load_id >= ? and _load_id < ?')})"
        " select"
        " (select count(*) from current_rows"
        "  left join earlier on current_rows.id = earlier.id where earlier.id is null),"
        " (select count(*) from current_rows"
        "  inner join earlier on current_rows.id = earlier.id"
        "  where current_rows.row_text <> earlier.row_text),"
        " (select count(*) from earlier"
        "  left join current_rows on earlier.id = current_rows.id where current_rows.id is null)",
        (load.load_id, _compared_since(warehouse, load), load.load_id),
    )
    return int(new), int(changed), int(missing)


def _compared_since(warehouse: Warehouse, load: FileLoad) -> int:
    """The table's last full snapshot before the load: it holds the whole history, so the
    loads before it need not be read."""
    ((since,),) = warehouse.execute(
        f"select coalesce(max(load_id), 0) from {warehouse.relation(RAW, LOADS_TABLE)}"
        " where table_name = ? and kind = 'full' and load_id < ?",
        (load.table, load.load_id),
    )
    return int(since)


def describe(quality: TableQuality) -> str:
    """One line of the summary."""
    rejected = ", ".join(f"{column} {count:,}" for column, count in quality.rejected.items())
    missing = "" if quality.ids_missing is None else f", {quality.ids_missing:,} missing"
    return (
        f"  {quality.table:<12} read {quality.rows_read:>10,}  loaded {quality.rows_loaded:>10,}"
        f"  rejected: {rejected or 'n/a'}"
        f"  ids: {quality.ids_new:,} new, {quality.ids_changed:,} changed{missing}"
    )
