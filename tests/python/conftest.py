"""Fixtures shared by the test suite: one warehouse per engine, and a dbt runner.

PostgreSQL tests run against the server the PG* variables point to (default 127.0.0.1:5432,
user postgres), each in a database of its own that is dropped afterwards. Without a server they
are skipped with the reason, except under CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from bitso_sandbox.local_bitso.catalog import default_listings
from bitso_sandbox.local_bitso.exchange import Script, SimulatedExchange
from bitso_sandbox.local_bitso.http_api import LocalBitso
from ingest.settings import Settings
from tests.python.receivers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_CHALLENGE_DIR = REPO_ROOT.parent / "shared" / "bitso_challenge"
BIN_DIR = Path(sys.executable).parent
ENGINES = ("duckdb", "postgres")


def postgres_server_env() -> dict[str, str]:
    return {
        "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
        **({"PGPASSWORD": os.environ["PGPASSWORD"]} if "PGPASSWORD" in os.environ else {}),
    }


def postgres_connection(database: str = "postgres"):
    """A new connection to `database` on the test server; the caller closes it."""
    env = postgres_server_env()
    return psycopg2.connect(
        host=env["PGHOST"],
        port=env["PGPORT"],
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
        dbname=database,
        connect_timeout=5,
    )


def _admin_connection():
    connection = postgres_connection()
    connection.autocommit = True
    return connection


def require_postgres() -> None:
    try:
        _admin_connection().close()
    except psycopg2.OperationalError as error:
        reason = f"no PostgreSQL server reachable: {str(error).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (PostgreSQL tests must run under CI=true)")
        pytest.skip(reason)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty database, dropped after the test."""
    require_postgres()
    name = f"bitso_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f"create database {name}")
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"drop database if exists {name} with (force)")
        admin.close()


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def warehouse_env(engine: str, tmp_path: Path, request, monkeypatch) -> dict[str, str]:
    """Environment variables pointing the CLI and dbt at a fresh warehouse of `engine`.

    They are also set in this process, for code that reads them through libpq.
    """
    env = {"BITSO_TARGET": engine, "BITSO_LAKE": str(tmp_path / "lake")}
    if engine == "duckdb":
        env["BITSO_DUCKDB_PATH"] = str(tmp_path / "warehouse" / "bitso.duckdb")
    else:
        env.update(postgres_server_env())
        env["PGDATABASE"] = request.getfixturevalue("postgres_database")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def settings(warehouse_env: dict[str, str]) -> Settings:
    return Settings.from_env(warehouse_env)


@pytest.fixture(scope="session")
def dbt_profiles_dir(tmp_path_factory) -> Path:
    """The shipped example profile, used as is."""
    directory = tmp_path_factory.mktemp("profiles")
    shutil.copy(REPO_ROOT / "profiles.yml.example", directory / "profiles.yml")
    return directory


@pytest.fixture
def run_dbt(dbt_profiles_dir: Path, warehouse_env: dict[str, str], engine: str, tmp_path_factory):
    """Run a dbt command from the repository root against the test's warehouse."""
    target_path = tmp_path_factory.getbasetemp() / f"dbt-target-{engine}"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [
            str(BIN_DIR / "dbt"),
            *args,
            "--profiles-dir",
            str(dbt_profiles_dir),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path / "logs"),
        ]
        result = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **warehouse_env, "DBT_USE_COLORS": "false"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr}")
        return result

    return run


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """A local S3-compatible server (moto's server mode) for the whole session."""
    port = free_port()
    log = (tmp_path_factory.getbasetemp() / "s3-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the local S3 server did not start; see {log.name}")
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture
def s3_lake(s3_endpoint: str, monkeypatch) -> str:
    """`s3://<new bucket>/lake` on the local server, with the standard AWS variables set for
    this process and the commands it starts."""
    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "local-test-key",
        "AWS_SECRET_ACCESS_KEY": "local-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    import s3fs

    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/lake"


@pytest.fixture
def local_bitso() -> Iterator[Callable[..., LocalBitso]]:
    """Start local Bitso servers (REST and WebSocket) on free ports:
    `local_bitso(script=None, activity=0.0, **LocalBitso kwargs)`."""
    servers: list[LocalBitso] = []

    def start(script: Script | None = None, activity: float = 0.0, **options: object) -> LocalBitso:
        exchange = SimulatedExchange(default_listings(), script, activity=activity)
        server = LocalBitso(exchange, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
