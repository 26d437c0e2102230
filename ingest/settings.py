"""Runtime configuration, read from the environment once and overridden by command-line flags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

TARGETS = ("duckdb", "postgres")


class SettingsError(ValueError):
    """A setting has a value the product cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    target: str = "duckdb"
    duckdb_path: Path = Path("warehouse/bitso.duckdb")
    lake: str = "bucket"
    api_url: str = "https://api.bitso.com"
    ws_url: str = "wss://ws.bitso.com"
    webhooks: tuple[str, ...] = ()
    snapshot_root: Path = Path("snapshots")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; unset or empty variables keep the default."""
        values: dict[str, object] = {}
        if env.get("BITSO_TARGET"):
            values["target"] = env["BITSO_TARGET"]
        if env.get("BITSO_DUCKDB_PATH"):
            values["duckdb_path"] = Path(env["BITSO_DUCKDB_PATH"])
        if env.get("BITSO_LAKE"):
            values["lake"] = env["BITSO_LAKE"]
        if env.get("BITSO_API_URL"):
            values["api_url"] = env["BITSO_API_URL"]
        if env.get("BITSO_WS_URL"):
            values["ws_url"] = env["BITSO_WS_URL"]
        if env.get("BITSO_SNAPSHOT_ROOT"):
            values["snapshot_root"] = Path(env["BITSO_SNAPSHOT_ROOT"])
        if env.get("BITSO_WEBHOOKS"):
            values["webhooks"] = tuple(env["BITSO_WEBHOOKS"].split())
        return cls(**values).validated()

    def replace(self, **changes: object) -> Settings:
        """A copy with the given fields changed; `None` values (flags not given) are ignored."""
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given).validated()

    def validated(self) -> Settings:
        if self.target not in TARGETS:
            raise SettingsError(
                f"BITSO_TARGET must be one of {', '.join(TARGETS)}, not {self.target!r}"
            )
        return self
