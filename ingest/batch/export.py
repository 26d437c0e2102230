"""Publish the warehouse's core marts and insight reports as files in the lake.

A reader always sees one whole export, never a mix of two or half a file:

- In a lake on disk, `<lake>/batch_output` is a symbolic link to the latest complete export.
  Each export is written into a new folder of `<lake>/.batch_output_versions/` and published by
  swapping the link in one atomic rename.
- On object storage, which has neither links nor renames, each export is uploaded under
  `<lake>/batch_output/<stamp>/`, and then `<lake>/batch_output/LATEST`, one object holding that
  stamp, is replaced. Readers read `LATEST` first, then the files of that export.

The previous export is kept for readers still holding it; older ones are deleted. On object
storage the previous export is the one `LATEST` named before, so the leftover prefix of an
export that crashed is deleted, never taken for it.
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
    previous = _swap_link(lake / OUTPUT_NAME, published)
    _remove_old_exports(versions, keep=(published.name, previous))
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
    latest = f"{OUTPUT_NAME}/{LATEST_NAME}"
    # The export readers may still hold is the one LATEST named until now, not the newest other
    # prefix: a crashed export's leftover is newer than it, and is never published.
    previous = lake.read_bytes(latest).decode().strip() if lake.exists(latest) else None
    lake.publish(latest, f"{stamp}\n".encode())
    for name in lake.children(OUTPUT_NAME):
        if name not in (LATEST_NAME, stamp, previous):
            lake.delete_tree(f"{OUTPUT_NAME}/{name}")
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


def _swap_link(link: Path, target: Path) -> str | None:
    """Point `link` at `target` atomically (a real folder left by an older version moves aside);
    return the name of the export folder it pointed at before, if any."""
    previous = Path(os.readlink(link)).name if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        previous = f"legacy-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        link.rename(link.parent / VERSIONS_NAME / previous)
    swap = link.with_name(f".{link.name}.swap")
    if swap.is_symlink():
        swap.unlink()
    swap.symlink_to(target.relative_to(link.parent))
    os.replace(swap, link)
    return previous


def _remove_old_exports(versions: Path, keep: tuple[str | None, ...]) -> None:
    """Delete every finished export but the published one and the one it replaced (a folder
    left by a crash between its rename and the link swap was never published)."""
    for path in versions.iterdir():
        if path.is_dir() and not path.name.startswith(".") and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
