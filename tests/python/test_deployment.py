"""The deployment files: the compose file is valid Compose, every command that it and the
crontabs run exists in the CLI with those options, and the operations kit's files are mounted
where Prometheus and Grafana look for them (no Docker engine is needed)."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pytest
import yaml

from ingest.cli import cli
from ingest.settings import Settings
from tests.python.conftest import BIN_DIR, REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DEPLOY_DIR = REPO_ROOT / "deploy"
CRONTABS = (DEPLOY_DIR / "crontab", DEPLOY_DIR / "crontab.docker")
INGEST_CALL = re.compile(r"(?:^|[\s/])ingest ([^>&|;]*)")
DEFAULTED_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def compose_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def with_defaults(value: str) -> str:
    """A compose value with each `${NAME:-default}` replaced by its default (an empty .env)."""
    return DEFAULTED_VARIABLE.sub(lambda match: match.group(2) or "", value)


def bind_mounts(service: dict) -> dict[PurePosixPath, tuple[Path, bool]]:
    """A service's host-folder volumes: {container path: (host path, read-only)}."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *mode = with_defaults(volume).split(":")
        if source.startswith((".", "/")):
            mounts[PurePosixPath(target)] = ((REPO_ROOT / source).resolve(), mode == ["ro"])
    return mounts


def container_file(mounts: dict[PurePosixPath, tuple[Path, bool]], path: PurePosixPath) -> Path:
    """The host file a container sees at `path`, through the mount that holds it."""
    for target, (source, _read_only) in mounts.items():
        if path == target or target in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{path} is not mounted in the container")


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


def test_prometheus_and_grafana_run_official_images_at_pinned_versions():
    services = compose_services()
    for name, repository in (("prometheus", "prom/prometheus"), ("grafana", "grafana/grafana-oss")):
        image, _, tag = services[name]["image"].partition(":")
        assert image == repository
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}'s image tag {tag!r} is not pinned"


def test_every_deploy_file_a_service_mounts_exists_and_is_read_only():
    mounted = 0
    for name, service in compose_services().items():
        for target, (source, read_only) in bind_mounts(service).items():
            if DEPLOY_DIR in source.parents:
                mounted += 1
                assert source.exists(), f"{name} mounts {source}, which does not exist"
                assert read_only, f"{name} mounts {source} at {target} writable"
    assert mounted >= 5


def test_prometheus_scrapes_the_monitor_on_its_metrics_port_with_the_mounted_rules():
    services = compose_services()
    monitor = Settings.from_env(
        {
            key: with_defaults(str(value))
            for key, value in services["monitor"]["environment"].items()
        }
    )
    prometheus = services["prometheus"]
    mounts = bind_mounts(prometheus)
    (config_flag,) = [flag for flag in prometheus["command"] if flag.startswith("--config.file=")]
    config_path = PurePosixPath(config_flag.split("=", 1)[1])
    config = yaml.safe_load(container_file(mounts, config_path).read_text())

    assert monitor.metrics_host == "0.0.0.0" and monitor.metrics_port
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert targets == [f"monitor:{monitor.metrics_port}"]
    for rule_file in config["rule_files"]:
        assert container_file(mounts, config_path.parent / rule_file).is_file()


def test_grafana_provisions_the_compose_prometheus_and_the_dashboards_it_names():
    services = compose_services()
    grafana = services["grafana"]
    mounts = bind_mounts(grafana)
    provisioning = PurePosixPath("/etc/grafana/provisioning")
    (datasource,) = yaml.safe_load(
        container_file(mounts, provisioning / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    (provider,) = yaml.safe_load(
        container_file(mounts, provisioning / "dashboards" / "spread_monitor.yml").read_text()
    )["providers"]
    dashboards = container_file(mounts, PurePosixPath(provider["options"]["path"]))

    assert datasource["url"] == "http://prometheus:9090"
    assert any(port.endswith(":9090") for port in services["prometheus"]["ports"])
    home = PurePosixPath(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert container_file(mounts, home).parent == dashboards
    files = sorted(dashboards.glob("*.json"))
    assert files
    for file in files:
        dashboard = json.loads(file.read_text())
        panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
        sources = {panel["datasource"]["uid"] for panel in panels} | {
            target["datasource"]["uid"] for panel in panels for target in panel["targets"]
        }
        assert sources == {datasource["uid"]}, file.name


class _Health(BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_monitor_healthcheck_asks_healthz_on_the_metrics_port_and_fails_on_503(status, healthy):
    test = compose_services()["monitor"]["healthcheck"]["test"]
    handler = type("Health", (_Health,), {"status": status, "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = str(server.server_address[1])
        result = subprocess.run(
            [sys.executable, "-c", test[3]],
            env={"BITSO_METRICS_PORT": port},
            capture_output=True,
            timeout=30,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert test[:3] == ["CMD", "python", "-c"]
    assert handler.paths == ["/healthz"]
    assert (result.returncode == 0) is healthy


def test_the_monitor_healthcheck_fails_when_nothing_answers():
    test = compose_services()["monitor"]["healthcheck"]["test"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        # Bound but not listening: connections are refused.
        port = str(probe.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-c", test[3]],
            env={"BITSO_METRICS_PORT": port},
            capture_output=True,
            timeout=30,
        )
    assert result.returncode != 0
