"""The product as a user installs it: `pip install .` (not editable) into a fresh virtual
environment, every command run from a folder outside the checkout; and the start-up cost of
each production command (nothing it does not use is imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from tests.python.conftest import REPO_ROOT

# Modules no production command may import when it starts: plotting and charts (only `report`
# draws), the local Bitso and sample generator (tooling), Spark, and the S3 client (only s3://
# lakes).
NOT_AT_START_UP = ("matplotlib", "plotly", "bitso_sandbox", "pyspark", "s3fs")
PRODUCTION_COMMANDS = ("snapshots", "daily", "export", "spreads", "lake-load", "report", "alerts")


def imported_by(python: str, *args: str, cwd: Path, env: dict | None = None) -> set[str]:
    """The top-level packages loaded once the CLI has run `args` (it may exit non-zero)."""
    script = (
        "import json, sys\n"
        "from ingest.cli import cli\n"
        "try:\n"
        f"    cli({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [python, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("command", PRODUCTION_COMMANDS)
def test_no_production_command_imports_what_it_does_not_use_at_start_up(command, tmp_path):
    loaded = imported_by(sys.executable, command, "--help", cwd=tmp_path)
    assert "ingest" in loaded
    assert not loaded & set(NOT_AT_START_UP), f"{command} imports {loaded & set(NOT_AT_START_UP)}"


def test_ingest_help_imports_no_service(tmp_path):
    loaded = imported_by(sys.executable, "--help", cwd=tmp_path)
    assert not loaded & {"duckdb", "psycopg2", "requests", "websockets", "fsspec", "dbt"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the checkout installed as a plain (non-editable) package;
    returns its bin folder."""
    root = tmp_path_factory.mktemp("installed")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    # A copy of the checkout, so nothing the build leaves behind lands in the work tree.
    source = root / "source"
    files = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        path = REPO_ROOT / name.decode()
        if path.is_file():
            target = source / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    subprocess.run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return bin_dir


def outside_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BITSO_", "DBT_", "PG", "VIRTUAL_ENV", "PYTHON"))
    }
    return {**env, "BITSO_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb")}


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    result = subprocess.run(
        [str(installed / "python"), "-c", "import ingest, bitso_sandbox; print(ingest.__file__)"],
        cwd=tmp_path,
        env=outside_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "site-packages" in result.stdout and str(REPO_ROOT) not in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["spreads", "--help"], ["snapshots", "--help"]])
def test_the_installed_cli_helps_from_any_folder(installed, tmp_path, args):
    result = subprocess.run(
        [str(installed / "ingest"), *args],
        cwd=tmp_path,
        env=outside_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: ingest" in result.stdout


def test_the_installed_cli_loads_snapshots_from_any_folder(installed, tmp_path):
    env = outside_env(tmp_path)
    ingest = str(installed / "ingest")
    sample = tmp_path / "sample"
    subprocess.run(
        [ingest, "generate-sample", str(sample), "--deposits", "1000"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [ingest, "snapshots", str(sample), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "deposits     loaded          read      1,000  loaded      1,000" in result.stdout
    assert (tmp_path / "warehouse.duckdb").is_file()


def test_the_installed_monitor_records_with_the_default_thresholds(installed, tmp_path):
    env = outside_env(tmp_path)
    ingest = str(installed / "ingest")
    server = subprocess.Popen(
        [ingest, "serve-bitso", "--port", "0", "--duration", "60"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = server.stdout.readline()
        api_url = banner.split(" on ")[1].split(" ")[0]
        ws_url = banner.rsplit(" on ", 1)[1].strip()
        started = time.monotonic()
        monitor = subprocess.run(
            [ingest, "spreads", "--duration", "3", "--lake", str(tmp_path / "lake")],
            cwd=tmp_path,
            env={**env, "BITSO_API_URL": api_url, "BITSO_WS_URL": ws_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert monitor.returncode == 0, monitor.stderr
    assert "thresholds 1.0, 0.5, 0.1 %" in monitor.stderr
    assert "records (0 gaps) over 3 seconds" in monitor.stdout
    assert time.monotonic() - started < 60
    assert list((tmp_path / "lake" / "spreads").glob("book=btc_mxn/date=*/*.csv"))
