"""Publish the warehouse's core marts and insight reports as files in the lake.

A reader always sees one whole export, never a mix of two or half a file:

- In a lake on disk, `<lake>/batch_output` is a symbolic link to the latest complete export.
  Each export is written into a new folder of `<lake>/.batch_output_versions/` and published by
  swapping the link in one atomic rename.
- On object storage, which has neither links nor renames, each export is uploaded under
  `<lake>/batch_output/<stamp>/`, and then `<lake>/batch_output/LATEST`, one object holding that
  stamp, is replaced. Readers read `LATEST` first, then the files of that export.

The previous export is kept for readers still holding it; older ones are deleted.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ingest.io.lake_storage import LakeStorage, LocalLake, open_lake
from ingest.io.warehouse import connect
from ingest.settings import Settings

EXPORTED_LAYERS = ("core", "reports")
OUTPUT_NAME = "batch_output"
VERSIONS_NAME = ".batch_output_versions"
LATEST_NAME = "LATEST"
# Exports kept besides the published one, for readers still holding an older one open.
KEPT_PREVIOUS_EXPORTS = 1


class ExportError(Exception):
    """Nothing to export, or a table could not be written."""


@dataclasses.dataclass(frozen=True)
class ExportedTable:
    relation: str
    path: str
    rows: int


def output_location(lake: str) -> str:
    """Where readers find the latest export, for messages."""
    storage = open_lake(lake)
    name = OUTPUT_NAME if isinstance(storage, LocalLake) else f"{OUTPUT_NAME}/{LATEST_NAME}"
    return storage.location(name)


def export_marts(settings: Settings, file_format: str = "csv") -> list[ExportedTable]:
    """Write one file per mart into a new export, then publish it as the latest."""
    storage = open_lake(settings.lake)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    if isinstance(storage, LocalLake):
        return _export_to_folder(settings, storage.path, stamp, file_format)
    return _export_to_object_store(settings, storage, stamp, file_format)


def _export_to_folder(
    settings: Settings, lake: Path, stamp: str, file_format: str
) -> list[ExportedTable]:
    versions = lake / VERSIONS_NAME
    staging = versions / f".{stamp}.partial"
    staging.mkdir(parents=True)
    try:
        written = _write_tables(settings, staging, file_format)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    published = versions / stamp
    staging.rename(published)
    _swap_link(lake / OUTPUT_NAME, published)
    _remove_old_exports(versions, keep=published)
    output = lake / OUTPUT_NAME
    return [
        ExportedTable(table.relation, str(output / Path(table.path).name), table.rows)
        for table in written
    ]


def _export_to_object_store(
    settings: Settings, lake: LakeStorage, stamp: str, file_format: str
) -> list[ExportedTable]:
    prefix = f"{OUTPUT_NAME}/{stamp}"
    exported = []
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        try:
            for table in _write_tables(settings, Path(scratch), file_format):
                key = f"{prefix}/{Path(table.path).name}"
                lake.publish_file(key, Path(table.path))
                exported.append(ExportedTable(table.relation, lake.location(key), table.rows))
        except BaseException:
            lake.delete_tree(prefix)
            raise
    lake.publish(f"{OUTPUT_NAME}/{LATEST_NAME}", f"{stamp}\n".encode())
    finished = [name for name in lake.children(OUTPUT_NAME) if name != LATEST_NAME]
    for old in _older_than_kept(finished, keep=stamp):
        lake.delete_tree(f"{OUTPUT_NAME}/{old}")
    return exported


def _write_tables(settings: Settings, folder: Path, file_format: str) -> list[ExportedTable]:
    written = []
    with connect(settings) as warehouse:
        relations = [
            warehouse.relation(layer, table)
            for layer in EXPORTED_LAYERS
            for table in warehouse.tables_in(layer)
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


def _swap_link(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (a real folder left by an older version moves aside)."""
    if link.exists() and not link.is_symlink():
        link.rename(link.parent / VERSIONS_NAME / f"legacy-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    swap = link.with_name(f".{link.name}.swap")
    if swap.is_symlink():
        swap.unlink()
    swap.symlink_to(target.relative_to(link.parent))
    os.replace(swap, link)


def _remove_old_exports(versions: Path, keep: Path) -> None:
    finished = [p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for old in _older_than_kept(finished, keep=keep.name):
        shutil.rmtree(versions / old, ignore_errors=True)


def _older_than_kept(exports: list[str], keep: str) -> list[str]:
    """The exports to delete: all but `keep` and the newest KEPT_PREVIOUS_EXPORTS others."""
    others = sorted(name for name in exports if name != keep)
    return others[: -KEPT_PREVIOUS_EXPORTS or None]
