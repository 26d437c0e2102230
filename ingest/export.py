"""Publish the warehouse's core marts and insight reports as files in the lake.

`<lake>/batch_output` is a symbolic link to the latest complete export. Each export is written
into a new folder beside it and published by swapping the link in one atomic rename, so a reader
always sees one whole export, never a mix of two or half a file.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from ingest.settings import Settings
from ingest.warehouse import connect

EXPORTED_SCHEMAS = ("core", "reports")
FORMATS = ("csv", "parquet")
OUTPUT_NAME = "batch_output"
VERSIONS_NAME = ".batch_output_versions"
# Exports kept besides the published one, for readers still holding an older one open.
KEPT_PREVIOUS_EXPORTS = 1


class ExportError(Exception):
    """Nothing to export, or a table could not be written."""


@dataclasses.dataclass(frozen=True)
class ExportedTable:
    relation: str
    path: str
    rows: int


def export_marts(settings: Settings, file_format: str = "csv") -> list[ExportedTable]:
    """Write one file per mart into a new export folder, then publish it as `batch_output`."""
    lake = Path(settings.lake)
    versions = lake / VERSIONS_NAME
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    staging = versions / f".{stamp}.partial"
    staging.mkdir(parents=True)
    try:
        written = _write_tables(settings, staging, file_format)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    published = versions / stamp
    staging.rename(published)
    _publish(lake / OUTPUT_NAME, published)
    _remove_old_exports(versions, keep=published)
    output = lake / OUTPUT_NAME
    return [
        ExportedTable(table.relation, str(output / Path(table.path).name), table.rows)
        for table in written
    ]


def _write_tables(settings: Settings, folder: Path, file_format: str) -> list[ExportedTable]:
    written = []
    with connect(settings) as warehouse:
        relations = [
            f"{schema}.{table}"
            for schema in EXPORTED_SCHEMAS
            for table in warehouse.tables_in(schema)
        ]
        if not relations:
            raise ExportError(
                "the warehouse has no core or report tables yet: run `dbt build` first"
            )
        for relation in relations:
            path = folder / f"{relation.split('.')[1]}.{file_format}"
            rows = warehouse.export(relation, path, file_format)
            written.append(ExportedTable(relation, str(path), rows))
    return written


def _publish(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (a real folder left by an older version moves aside)."""
    if link.exists() and not link.is_symlink():
        link.rename(link.parent / VERSIONS_NAME / f"legacy-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    swap = link.with_name(f".{link.name}.swap")
    if swap.is_symlink():
        swap.unlink()
    swap.symlink_to(target.relative_to(link.parent))
    os.replace(swap, link)


def _remove_old_exports(versions: Path, keep: Path) -> None:
    finished = sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in [p for p in finished if p != keep][: -KEPT_PREVIOUS_EXPORTS or None]:
        shutil.rmtree(old, ignore_errors=True)
