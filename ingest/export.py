"""Publish the warehouse's core marts and insight reports as files in the lake."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ingest.settings import Settings
from ingest.warehouse import connect

EXPORTED_SCHEMAS = ("core", "reports")
FORMATS = ("csv", "parquet")


class ExportError(Exception):
    """Nothing to export, or a table could not be written."""


@dataclasses.dataclass(frozen=True)
class ExportedTable:
    relation: str
    path: str
    rows: int


def export_marts(settings: Settings, file_format: str = "csv") -> list[ExportedTable]:
    """Write one file per mart to `<lake>/batch_output/`, each replacing its previous version
    atomically, so a reader sees the old file or the new one, never half of one."""
    output = Path(settings.lake) / "batch_output"
    output.mkdir(parents=True, exist_ok=True)
    exported = []
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
            target = output / f"{relation.split('.')[1]}.{file_format}"
            partial = target.with_name(f".{target.name}.partial")
            rows = warehouse.export(relation, partial, file_format)
            os.replace(partial, target)
            exported.append(ExportedTable(relation, str(target), rows))
    return exported
