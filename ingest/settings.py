"""Runtime configuration: the one reader of the environment.

`Settings.from_env` reads every variable the product uses, once; command-line flags then override
single fields with `replace`. No other module looks at `os.environ`: child processes (dbt) get
their environment from `Settings.child_environment`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

TARGETS = ("duckdb", "postgres")


class SettingsError(ValueError):
    """A setting has a value the product cannot use."""


@dataclasses.dataclass(frozen=True)
class PostgresSettings:
    """Where PostgreSQL is, from the standard PG* variables (defaults as in the dbt profile)."""

    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    password: str = dataclasses.field(default="", repr=False)
    database: str = "bitso"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PostgresSettings:
        values: dict[str, object] = {}
        for field, variable in (
            ("host", "PGHOST"),
            ("user", "PGUSER"),
            ("password", "PGPASSWORD"),
            ("database", "PGDATABASE"),
        ):
            if env.get(variable):
                values[field] = env[variable]
        if env.get("PGPORT"):
            try:
                values["port"] = int(env["PGPORT"])
            except ValueError as error:
                raise SettingsError(
                    f"PGPORT must be a port number, not {env['PGPORT']!r}"
                ) from error
        return cls(**values)

    @property
    def location(self) -> str:
        """Where the server is, without credentials, for messages."""
        return f"postgres://{self.host}:{self.port}/{self.database}"


@dataclasses.dataclass(frozen=True)
class Settings:
    target: str = "duckdb"
    duckdb_path: Path = Path("warehouse/bitso.duckdb")
    postgres: PostgresSettings = PostgresSettings()
    # Set for a development build: every schema gets this prefix (`alice_core`, `alice_raw`),
    # so several people can build side by side in one database. Unset in production.
    dev_schema: str | None = None
    lake: str = "bucket"
    # The monitor's local journal; by default beside a local lake, or under monitor_journal/.
    journal_dir: Path | None = None
    api_url: str = "https://api.bitso.com"
    ws_url: str = "wss://ws.bitso.com"
    webhooks: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    # The monitor's alert rules file (monitor.alert_rules); None: the thresholds seed.
    alert_rules: Path | None = None
    # Alertmanager base URLs the monitor posts alerts to.
    alertmanagers: tuple[str, ...] = ()
    snapshot_root: Path = Path("snapshots")
    # The monitor's /metrics and /healthz: off unless a port is given (0 picks a free one).
    metrics_port: str | None = None
    metrics_host: str = "127.0.0.1"
    # The monitor's stale-feed alerts: seconds without a usable quote before a book is stale.
    stale_after: int = 30
    # The dbt project: its models for `ingest daily`, its thresholds seed for the monitor.
    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    # Where dbt writes run_results.json; by default the project's target/ folder.
    dbt_target_path: Path | None = None
    # The environment the settings were read from, passed on to child processes.
    environment: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; unset or empty variables keep the default."""
        values: dict[str, object] = {
            "postgres": PostgresSettings.from_env(env),
            "environment": MappingProxyType(dict(env)),
        }
        for field, variable, convert in (
            ("target", "BITSO_TARGET", str),
            ("duckdb_path", "BITSO_DUCKDB_PATH", Path),
            ("dev_schema", "BITSO_DEV_SCHEMA", str),
            ("lake", "BITSO_LAKE", str),
            ("journal_dir", "BITSO_JOURNAL_DIR", Path),
            ("api_url", "BITSO_API_URL", str),
            ("ws_url", "BITSO_WS_URL", str),
            ("alert_rules", "BITSO_ALERT_RULES", Path),
            ("snapshot_root", "BITSO_SNAPSHOT_ROOT", Path),
            ("metrics_port", "BITSO_METRICS_PORT", str),
            ("metrics_host", "BITSO_METRICS_HOST", str),
            ("project_dir", "DBT_PROJECT_DIR", Path),
            ("profiles_dir", "DBT_PROFILES_DIR", Path),
            ("dbt_target_path", "DBT_TARGET_PATH", Path),
        ):
            if env.get(variable):
                values[field] = convert(env[variable])
        if env.get("BITSO_STALE_AFTER"):
            value = env["BITSO_STALE_AFTER"]
            if not value.isdigit():
                raise SettingsError(
                    f"BITSO_STALE_AFTER must be a whole number of seconds, not {value!r}"
                )
            values["stale_after"] = int(value)
        if env.get("BITSO_WEBHOOKS"):
            values["webhooks"] = tuple(env["BITSO_WEBHOOKS"].split())
        if env.get("BITSO_ALERTMANAGERS"):
            values["alertmanagers"] = tuple(env["BITSO_ALERTMANAGERS"].split())
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
        if self.dev_schema is not None and not self.dev_schema.isidentifier():
            raise SettingsError(
                f"BITSO_DEV_SCHEMA must be a plain name (letters, digits, _), "
                f"not {self.dev_schema!r}"
            )
        if self.metrics_port is not None and not (
            str(self.metrics_port).isdigit() and int(self.metrics_port) <= 65535
        ):
            raise SettingsError(
                f"BITSO_METRICS_PORT must be a port number (0 to 65535), not {self.metrics_port!r}"
            )
        if self.stale_after < 1:
            raise SettingsError(
                f"BITSO_STALE_AFTER must be at least 1 second, not {self.stale_after!r}"
            )
        return self

    def child_environment(self) -> dict[str, str]:
        """The environment for a child process (dbt) that must see these settings, flags
        included: dbt's profile reads the same variables."""
        env = dict(self.environment)
        env.update(
            {
                "BITSO_TARGET": self.target,
                "BITSO_DUCKDB_PATH": str(self.duckdb_path),
                "BITSO_LAKE": self.lake,
                "BITSO_SNAPSHOT_ROOT": str(self.snapshot_root),
                "PGHOST": self.postgres.host,
                "PGPORT": str(self.postgres.port),
                "PGUSER": self.postgres.user,
                "PGDATABASE": self.postgres.database,
            }
        )
        if self.postgres.password:
            env["PGPASSWORD"] = self.postgres.password
        if self.dev_schema:
            env["BITSO_DEV_SCHEMA"] = self.dev_schema
        else:
            env.pop("BITSO_DEV_SCHEMA", None)
        return env

    def schema(self, name: str) -> str:
        """The warehouse schema a layer lives in: `core`, or `<dev>_core` in a development
        build (the dbt macro generate_schema_name applies the same rule)."""
        return f"{self.dev_schema}_{name}" if self.dev_schema else name
