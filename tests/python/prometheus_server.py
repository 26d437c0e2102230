"""A real Prometheus for the tests: Debian's `prometheus` package (the server and promtool),
started on a free loopback port with a configuration the test writes. Without the package the
tests skip with the reason, except under CI=true, where they fail."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.python.receivers import free_port


def require_prometheus_binary(name: str) -> str:
    """The path of `prometheus` or `promtool`."""
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if path is None:
        reason = f"`{name}` is not installed (Debian package `prometheus`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true it must be")
        pytest.skip(reason)
    return path


@contextlib.contextmanager
def running_prometheus(config: dict, folder: Path, timeout: float = 60) -> Iterator[str]:
    """Prometheus with `config`, its data and log in `folder`, until the block ends: its base
    URL, once it answers ready."""
    binary = require_prometheus_binary("prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    log_path = folder / "prometheus.log"
    url = f"http://127.0.0.1:{free_port()}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _ready(url):
            if process.poll() is not None:
                pytest.fail(
                    f"prometheus exited with {process.returncode}:\n{log_path.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"prometheus not ready after {timeout:g} s:\n{log_path.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
