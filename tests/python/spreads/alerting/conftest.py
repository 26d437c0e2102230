"""Fixtures of the alerting tests: a local HTTP receiver, and a real Alertmanager routing to one.

The Alertmanager is Debian's `prometheus-alertmanager`, started on a free loopback port with
clustering off and its storage in a temporary folder, and always stopped afterwards. Without the
binary its tests skip with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.python.receivers import JsonReceiver, free_port

ALERTMANAGER = "prometheus-alertmanager"
# Short enough for tests to watch Alertmanager resolve an alert nobody refreshes.
RESOLVE_TIMEOUT_SECONDS = 3


@pytest.fixture
def http_receiver() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver()
    yield receiver
    receiver.close()


class Alertmanager:
    def __init__(self, url: str, notifications: JsonReceiver) -> None:
        self.url = url
        # What Alertmanager sent to its one receiver (webhook notifications).
        self.notifications = notifications

    def alerts(self, **label_filters: str) -> list[dict]:
        """The alerts its API lists now (active, silenced or inhibited), filtered by label."""
        params = [("filter", f'{name}="{value}"') for name, value in label_filters.items()]
        response = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def wait_for_alerts(
        self, condition: Callable[[list[dict]], bool], timeout: float = 15.0, **labels: str
    ) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            alerts = self.alerts(**labels)
            if condition(alerts) or time.monotonic() > deadline:
                return alerts
            time.sleep(0.1)


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory) -> Iterator[Alertmanager]:
    binary = shutil.which(ALERTMANAGER) or (
        f"/usr/bin/{ALERTMANAGER}" if Path(f"/usr/bin/{ALERTMANAGER}").exists() else None
    )
    if binary is None:
        reason = f"{ALERTMANAGER} is not installed (Debian package prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; Alertmanager tests must run under CI=true")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("alertmanager")
    notifications = JsonReceiver()
    (folder / "alertmanager.yml").write_text(
        f"""
global:
  resolve_timeout: {RESOLVE_TIMEOUT_SECONDS}s
route:
  receiver: local
  group_by: [alertname, book, threshold]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: local
    webhook_configs:
      - url: {notifications.url}/notify
        send_resolved: true
"""
    )
    port = free_port()
    log_file = (folder / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"Alertmanager exited with {process.returncode}: "
                    f"{(folder / 'alertmanager.log').read_text()[-2000:]}"
                )
            try:
                if requests.get(f"{url}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("Alertmanager did not become ready within 30 s")
            time.sleep(0.1)
        yield Alertmanager(url, notifications)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
        notifications.close()
