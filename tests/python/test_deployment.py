"""The deployment files: the compose file is valid Compose, and every command that it and the
crontabs run exists in the CLI with those options (no Docker engine is needed)."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from ingest.cli import cli
from tests.python.conftest import BIN_DIR, REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
CRONTABS = (REPO_ROOT / "deploy" / "crontab", REPO_ROOT / "deploy" / "crontab.docker")
INGEST_CALL = re.compile(r"(?:^|[\s/])ingest ([^>&|;]*)")


def compose_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def ingest_invocations() -> list[list[str]]:
    """Every `ingest ...` argument list run by the compose file and the crontabs."""
    calls = []
    for service in compose_services().values():
        entrypoint = service.get("entrypoint") or []
        command = service.get("command") or []
        words = [*entrypoint, *command] if isinstance(command, list) else shlex.split(command)
        if words[:1] == ["ingest"]:
            calls.append(words[1:])
        for word in words:
            calls.extend(shlex.split(match) for match in INGEST_CALL.findall(word))
    for crontab in CRONTABS:
        for line in crontab.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                calls.extend(shlex.split(match) for match in INGEST_CALL.findall(line))
    return calls


def test_compose_file_follows_the_compose_specification():
    result = subprocess.run(
        [
            str(BIN_DIR / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_postgres_monitor_scheduler_and_docs():
    services = compose_services()

    assert {"postgres", "monitor", "scheduler", "docs"} <= services.keys()
    assert "healthcheck" in services["postgres"]
    assert services["monitor"]["restart"] == "unless-stopped"


@pytest.mark.parametrize("arguments", ingest_invocations(), ids=" ".join)
def test_every_ingest_command_run_by_deployment_exists_with_its_options(arguments):
    name, *options = arguments
    assert name in cli.commands, f"`ingest {name}` does not exist"
    # Parsing checks every option and argument without running the command.
    cli.commands[name].make_context(name, list(options))


def test_deployment_runs_the_monitor_the_lake_load_and_the_daily_batch():
    commands = {arguments[0] for arguments in ingest_invocations()}

    assert {"spreads", "lake-load", "daily"} <= commands
